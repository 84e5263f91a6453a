"""MMAction2's test protocol (``vidlab eval --protocol source`` on a checkpoint converted from MMAction2):
per-family views and crops, global pooling, SampleFrames test-mode clips, Resize + ThreeCrop, the
softmax averaged over all views (``average_clips='prob'``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from helpers import randomise_
from vidlab import models
from vidlab.convert.registry import supported
from vidlab.engine.protocol import (
    MMACTION2_ARCHS,
    PROTOCOLS,
    FullyConvTest,
    MMAction2SlowFastInput,
    MMAction2TestTransform,
    ProtocolError,
    mmaction2_crop_offsets,
    mmaction2_resize_shape,
    protocol_for,
)

MMA = {"provenance": {"converted_from": {"source": "mmaction2"}}}


def test_protocol_for_an_mmaction2_sidecar_gives_its_family():
    p = protocol_for({**MMA, "arch": "slowfast_r50_4x16_mmaction2"})
    assert p is MMACTION2_ARCHS["slowfast_r50_4x16_mmaction2"]
    assert (p.name, p.views, p.crops, p.test_crop, p.target_fps) == ("mmaction2", 10, 3, 256, None)
    assert (p.head, p.head_for("slowfast_r50_4x16_mmaction2"), p.view_rule, p.crop_rule) == (
        "global", "global", "mmaction2", "mmaction2")
    assert p.source.endswith("configs/recognition/slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py")
    x3d = protocol_for({**MMA, "arch": "x3d_s"})
    assert (x3d.views, x3d.test_crop, x3d.target_fps, x3d.head_for("x3d_s")) == (10, 182, 30.0, "global")
    assert protocol_for({**MMA, "arch": "x3d_m"}).test_crop == 256
    assert (protocol_for({**MMA, "arch": "videomae_vit_b_16x4"}).views,
            protocol_for({**MMA, "arch": "swin3d_t"}).views) == (5, 4)
    c3d = protocol_for({**MMA, "arch": "c3d"})
    assert (c3d.views, c3d.crops, c3d.test_crop, c3d.test_scale) == (10, 1, 112, 128)
    # an architecture without a config of its own: the 3D-CNN Kinetics pipeline, said so
    other = protocol_for({**MMA, "arch": "i3d_r10_tiny"})
    assert other is PROTOCOLS["mmaction2"] and (other.views, other.crops, other.test_crop) == (10, 3, 256)
    assert "no MMAction2 config of this architecture" in other.describe(arch="i3d_r10_tiny")
    # every architecture the mmaction2 converter writes has its family's protocol
    assert set(supported()["mmaction2"]) <= set(MMACTION2_ARCHS)
    # the other sources are unchanged
    assert protocol_for({"arch": "x3d_s", "provenance": {"converted_from": {"source": "pyslowfast"}}}) is \
        PROTOCOLS["pyslowfast"]


def test_describe_is_honest():
    d = MMACTION2_ARCHS["slowfast_r50_4x16_mmaction2"].describe(10, 3, 256, "slowfast_r50_4x16_mmaction2", 256)
    assert d.startswith("mmaction2: 10 views x 3 crops at 256 px (short side 256, cv2 bilinear, ThreeCrop)")
    for part in ("SampleFrames test-mode clips at the video's frame rate", "Slow pathway every alpha-th frame",
                 "global average pool", "softmax averaged over the views"):
        assert part in d
    assert "30 fps" in MMACTION2_ARCHS["x3d_s"].describe(arch="x3d_s")
    assert "short side 128" in MMACTION2_ARCHS["c3d"].describe(arch="c3d") and "CenterCrop" in \
        MMACTION2_ARCHS["c3d"].describe(arch="c3d")
    # the PyTorchVideo / PySlowFast descriptions keep their form
    assert PROTOCOLS["pytorchvideo"].describe(2, 3, 40, "i3d_r10_tiny").startswith(
        "pytorchvideo: 2 views x 3 crops at 40 px (short side = crop), fully convolutional head")


def test_resize_and_crop_offsets_are_mmaction2s():
    # Resize(scale=(-1, 256)) of 240 x 320: factor 256 / 240, long side int(341.33 + 0.5) = 341
    assert mmaction2_resize_shape(240, 320, 256) == (256, 341)
    # 224 x 398: 398 * 256 / 224 = 454.86 -> 455 (vidlab's short_side_scale floors: 454)
    assert mmaction2_resize_shape(224, 398, 256) == (256, 455)
    assert mmaction2_resize_shape(398, 224, 256) == (455, 256)
    # ThreeCrop(256) of 256 x 341: step (341 - 256) // 2 = 42 -> x = 0, 42, 84 (vidlab's 3-crop: 0, 43, 85)
    assert mmaction2_crop_offsets(256, 341, 256, 3) == [(0, 0), (0, 42), (0, 84)]
    assert mmaction2_crop_offsets(455, 256, 256, 3) == [(0, 0), (99, 0), (198, 0)]
    # CenterCrop(112) of 128 x 171: ((128 - 112) // 2, (171 - 112) // 2) = (8, 29) (vidlab: ceil -> 30)
    assert mmaction2_crop_offsets(128, 171, 112, 1) == [(8, 29)]
    with pytest.raises(ValueError, match="span a side"):
        mmaction2_crop_offsets(128, 171, 112, 3)
    with pytest.raises(ProtocolError, match="--crops 1"):
        MMACTION2_ARCHS["c3d"].transform(crop_size=112, test_scale=128, mean=(0.5,) * 3, std=(0.5,) * 3,
                                          spatial_crops=3)


def test_test_model_global_head_and_slowfast_input():
    torch.manual_seed(0)
    net = models.build("i3d_r10_tiny", num_classes=3).eval()
    assert PROTOCOLS["mmaction2"].test_model(net, 32) is net  # vidlab's own global pooling, no wrapper
    assert isinstance(PROTOCOLS["pyslowfast"].test_model(net, 32), FullyConvTest)
    sf = models.build("slowfast_tiny", num_classes=3).eval()
    wrapped = PROTOCOLS["mmaction2"].test_model(sf, 32)
    assert isinstance(wrapped, MMAction2SlowFastInput)
    x = torch.randn(2, 3, 16, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = wrapped(x)
        # MMAction2: the Slow pathway takes frames 0, alpha, 2 alpha, ... (alpha 4: 0, 4, 8, 12)
        want = sf([x[:, :, ::4], x])
        pyslowfast = sf(x)  # linspace(0, 15, 4) -> 0, 5, 10, 15
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert (got - pyslowfast).abs().max() > 1e-4


def test_run_eval_source_equals_the_manual_mmaction2_computation(tmp_path, monkeypatch):
    """run_eval --protocol source on an MMAction2 checkpoint: the softmax of vidlab's global-pool model
    averaged over exactly MMAction2's 10 SampleFrames clips x 3 ThreeCrops of the short-side-256 frames."""
    import vidlab.apps.evaluate as ev
    from vidlab.io import VideoReader
    from vidlab.io.writer import write_video

    rng = np.random.default_rng(0)
    lengths = {"a.mp4": 40, "b.mp4": 7}  # b is shorter than one clip (4 frames x 3: 10)
    for name, n in lengths.items():
        write_video(tmp_path / name, rng.integers(0, 256, (n, 24, 34, 3), dtype=np.uint8), fps=25)
    (tmp_path / "list.txt").write_text("a.mp4 0\nb.mp4 2\n")
    torch.manual_seed(0)
    net = randomise_(models.build("i3d_r10_tiny", num_classes=3)).eval()
    with torch.no_grad():
        net.head.projection.weight.mul_(5)  # spread scores (not saturated): a wrong frame or pixel shows
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
    ck = models.save(net, tmp_path / "ck", arch="i3d_r10_tiny",
                     preprocessing={"num_frames": 4, "sampling_rate": 3, "crop_size": 32, "test_scale": 40,
                                    "mean": list(mean), "std": list(std)},
                     provenance={"converted_from": {"source": "mmaction2"}})

    seen = {}
    real_predict, real_aggregate = ev.predict, ev.aggregate_views

    def predict(model, loader, *a, **kw):
        seen["model"], seen["transform"] = model, loader.dataset.transform
        return real_predict(model, loader, *a, **kw)

    def aggregate(view_logits, *a, **kw):
        seen["scores"] = real_aggregate(view_logits, *a, **kw)
        return seen["scores"]

    monkeypatch.setattr(ev, "predict", predict)
    monkeypatch.setattr(ev, "aggregate_views", aggregate)
    res = ev.run_eval(ck, tmp_path / "list.txt", progress=False, protocol="source")
    assert (res["views"], res["crops"], res["crop_size"], res["num_views"]) == (10, 3, 256, 30)
    assert res["protocol"].startswith("mmaction2: 10 views x 3 crops at 256 px (short side 256")
    assert not isinstance(seen["model"], FullyConvTest) and isinstance(seen["transform"], MMAction2TestTransform)

    # by hand. a.mp4, 40 frames: ori_clip_len (4 - 1) * 3 + 1 = 10, max_offset 30, step 30 / 9 = 3.33;
    # round(k * 3.33) = 0, 3, 7, 10, 13, 17, 20, 23, 27, 30; clip = offset + 0, 3, 6, 9.
    # b.mp4, 7 frames < 10: max_offset 0, every clip 0, 3, 6, 9 -> 9 mod 7 = 2.
    clips = {"a.mp4": [[o + 3 * j for j in range(4)] for o in (0, 3, 7, 10, 13, 17, 20, 23, 27, 30)],
             "b.mp4": [[0, 3, 6, 2]] * 10}
    # Resize(scale=(-1, 256)) of 24 x 34: factor 256 / 24, long side int(362.67 + 0.5) = 363 (cv2 bilinear on
    # the uint8 frames); ThreeCrop(256): step (363 - 256) // 2 = 53 -> x = 0, 53, 106.
    m = torch.tensor(mean).view(3, 1, 1, 1)
    s = torch.tensor(std).view(3, 1, 1, 1)
    expected = []
    for name in lengths:
        with VideoReader(tmp_path / name) as r:
            assert r.info.num_frames == lengths[name]
            frames = r.get_frames(np.arange(lengths[name]))
        views = []
        for idx in clips[name]:
            big = np.stack([cv2.resize(f, (363, 256), interpolation=cv2.INTER_LINEAR) for f in frames[idx]])
            for x0 in (0, 53, 106):
                clip = torch.from_numpy(big[:, :, x0:x0 + 256].copy()).permute(3, 0, 1, 2).float() / 255
                views.append((clip - m) / s)
        with torch.no_grad():
            expected.append(net(torch.stack(views)).softmax(-1).mean(0))  # average_clips='prob'
    torch.testing.assert_close(seen["scores"], torch.stack(expected), rtol=1e-5, atol=1e-6)
