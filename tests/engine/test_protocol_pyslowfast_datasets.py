"""`--protocol source` for PySlowFast's and PyTorchVideo's Something-Something v2 and Charades checkpoints.

References: PySlowFast at commit 287ec00 (``slowfast/datasets/ssv2.py``, ``charades.py``,
``ptv_datasets.py``, ``utils/meters.py``, the ``configs/{SSv2,Charades}`` files), re-stated as loops in
``tests/data/sampling_ref.py``; PyTorchVideo 0.1.5 itself (installed: the dev extra) for its SSv2 and
Charades datasets, driven as ``Ptvcharades`` builds them; scikit-learn's ``average_precision_score``,
which PySlowFast's ``get_map`` calls.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import randomise_
from vidlab import models
from vidlab.data import sampling as S
from vidlab.data.transforms import ClipTransform
from vidlab.engine.protocol import (
    DATASET_PROTOCOLS,
    FirstCropTransform,
    FullyConvTest,
    ProtocolError,
    dataset_of,
    protocol_for,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
import sampling_ref as R  # noqa: E402


def _sidecar(source, n=None, **kw) -> dict:
    meta = {"provenance": {"converted_from": {"source": source}}, **kw}
    if n is not None:
        meta["labels"] = [f"c{i}" for i in range(n)]
    return meta


# ------------------------------------------------------------------ SSv2: one frame per segment


def test_ssv2_segment_frames_by_hand():
    # s = (n - 1) / 8; b_i = round(s * i) (half to even); frame i = (b_i + b_{i+1}) // 2
    # n = 10: s = 1.125, b = 0 1 2 3 4(4.5) 6 7 8 9
    assert S.ssv2_segment_indices(10, 8).tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    # n = 30: s = 3.625, b = 0 4 7 11 14(14.5) 18 22 25 29
    assert S.ssv2_segment_indices(30, 8).tolist() == [2, 5, 9, 12, 16, 20, 23, 27]
    # n = 5 (shorter than the clip): s = 0.5, b = 0 0(0.5) 1 2(1.5) 2 2(2.5) 3 4(3.5) 4: frames repeat
    assert S.ssv2_segment_indices(5, 8).tolist() == [0, 0, 1, 2, 2, 2, 3, 4]
    assert S.ssv2_segment_indices(1, 8).tolist() == [0] * 8


def test_ssv2_segments_equal_pyslowfast_and_pytorchvideo():
    from pytorchvideo.data.ssv2 import SSv2

    for t in (8, 32, 64):
        for n in range(1, 160):
            got = S.ssv2_segment_indices(n, t).tolist()
            assert got == R.slowfast_ssv2_test(n, t), (n, t)
            assert got == SSv2._sample_clip_frames(list(range(n)), t, rand_sample=False), (n, t)


# ------------------------------------------------------------------ Charades: view spreading


def test_pyslowfast_charades_views_by_hand():
    # 8 x 8: L = 57. n = 100: gap = 43 / 9 = 4.78, starts round(4.78 k)
    views = S.pyslowfast_charades_view_indices(100, 8, 8, 10)
    assert [int(v[0]) for v in views] == [0, 5, 10, 14, 19, 24, 29, 33, 38, 43]
    assert views[9].tolist() == [43 + 8 * i for i in range(8)]  # the last view ends on frame 99
    # n = 40 < L: every view starts at 0 and repeats the last frame
    assert all(v.tolist() == [0, 8, 16, 24, 32, 39, 39, 39] for v in S.pyslowfast_charades_view_indices(40, 8, 8, 10))
    # SlowFast 32 x 2: L = 63, n = 81: gap 2
    assert [int(v[0]) for v in S.pyslowfast_charades_view_indices(81, 32, 2, 10)] == list(range(0, 20, 2))
    with pytest.raises(ValueError, match="NUM_ENSEMBLE_VIEWS - 1"):
        S.pyslowfast_charades_view_indices(100, 8, 8, 1)


def test_pyslowfast_charades_views_equal_the_reference_rule():
    for t, tau in ((8, 8), (32, 2), (64, 2)):
        for n in (1, 7, 56, 57, 58, 63, 64, 100, 127, 300, 1001):
            for views in (2, 3, 10):
                got = S.pyslowfast_charades_view_indices(n, t, tau, views)
                assert [v.tolist() for v in got] == [R.slowfast_charades_test(n, t, tau, k, views)
                                                     for k in range(views)], (n, t, tau, views)


def _ptv_charades_clips(tmp_path, lengths, t, tau, views, monkeypatch) -> list[list[list[int]]]:
    """PyTorchVideo's Charades dataset under Ptvcharades' test clip sampler, on frame lists of
    ``lengths`` frames: each frame's 'image' holds its index, so the clips show which frames were read."""
    import pytorchvideo.data.frame_video as fv
    from pytorchvideo.data import Charades, make_clip_sampler

    def fake_load(paths, multithreaded=True):
        return torch.tensor([float(Path(p).stem) for p in paths]).view(-1, 1, 1, 1).expand(-1, 1, 1, 3)

    monkeypatch.setattr(fv, "_load_images_with_retries", fake_load)
    rows = ["original_vido_id video_id frame_id path labels"]
    for v, n in enumerate(lengths):
        rows += [f"v{v} {v} {i} v{v}/{i}.jpg \"\"" for i in range(n)]
    (tmp_path / "val.csv").write_text("\n".join(rows) + "\n")
    clip_duration = ((t - 1) * tau + 1) / 30  # Ptvcharades: / DATA.TARGET_FPS (default 30)
    ds = Charades(data_path=str(tmp_path / "val.csv"), frames_per_clip=t,
                  clip_sampler=make_clip_sampler("constant_clips_per_video", clip_duration, views, 1),
                  video_sampler=torch.utils.data.SequentialSampler)
    out: list[list[list[int]]] = [[] for _ in lengths]
    for _ in range(len(lengths) * views):
        item = next(ds)
        out[item["video_index"]].append(item["video"][0, :, 0, 0].long().tolist())
    return out


def test_pytorchvideo_charades_views_equal_pytorchvideo(tmp_path, monkeypatch):
    lengths = [1, 5, 40, 56, 57, 58, 100, 157, 300, 1001]
    for t, tau in ((8, 8), (32, 2)):
        ref = _ptv_charades_clips(tmp_path, lengths, t, tau, 10, monkeypatch)
        for n, want in zip(lengths, ref):
            assert [v.tolist() for v in S.pytorchvideo_charades_view_indices(n, t, tau, 10)] == want, (n, t, tau)


def test_pytorchvideo_charades_views_by_hand():
    # n = 100, L = 57, FrameVideo at 30 fps: starts t_k = k * (100 - 57) / 30 / 10 s, first frame ceil(4.3 k);
    # unlike charades.py the last view starts at 39, not 43
    views = S.pytorchvideo_charades_view_indices(100, 8, 8, 10)
    assert [int(v[0]) for v in views] == [0, 5, 9, 13, 18, 22, 26, 31, 35, 39]
    assert views[0].tolist() == list(range(0, 57, 8))
    # n = 40 < L: the clip is the whole video, int(linspace(0, 39, 8))
    assert S.pytorchvideo_charades_view_indices(40, 8, 8, 10)[3].tolist() == [0, 5, 11, 16, 22, 27, 33, 39]


def test_frame_list_counted_at_its_rate():
    # a 12 fps video of 48 frames, SSv2's frame list at 30 fps: 120 list frames; list frame j = video frame
    # floor(0.4 j)
    assert S.frame_list_length(48, 12, 30) == 120 and S.frame_list_length(48) == 48
    assert S.frame_list_to_video(np.arange(6), 48, 12, 30).tolist() == [0, 0, 0, 1, 1, 2]
    # segments of 120: s = 14.875, b = 0 15 30 45 60(59.5) 74 89 104 119 -> 7 22 37 52 67 81 96 111 -> x 0.4
    (clip,) = S.frame_list_view_indices("pyslowfast_ssv2", 48, 8, 1, 1, video_fps=12, list_fps=30)
    assert clip.tolist() == [2, 8, 14, 20, 26, 32, 38, 44]
    # a video at the list's own rate is the list
    got = S.frame_list_view_indices("pyslowfast_charades", 100, 8, 8, 10, video_fps=24, list_fps=24)
    assert [v.tolist() for v in got] == [v.tolist() for v in S.pyslowfast_charades_view_indices(100, 8, 8, 10)]
    with pytest.raises(ValueError, match="unknown frame-list rule"):
        S.frame_list_view_indices("ssv1", 10, 8, 1, 1)


def test_video_list_dataset_decodes_the_ssv2_frames(monkeypatch):
    """VideoListDataset(view_rule="pyslowfast_ssv2", target_fps=30) on a 20-frame 12 fps video: 50 list
    frames; s = 49 / 8 = 6.125, b = 0 6 12 18 24(24.5) 31 37 43 49 -> 3 9 15 21 27 34 40 46 -> x 0.4."""
    from types import SimpleNamespace

    from vidlab.data.datasets import VideoListDataset, VideoRecord

    read = []

    class Reader:
        info = SimpleNamespace(num_frames=20, fps=12.0)

        def get_frames(self, idx):
            read.append(np.asarray(idx).tolist())
            return np.repeat(np.asarray(idx, dtype=np.uint8)[:, None, None, None], 8, 1).repeat(8, 2).repeat(3, 3)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    ds = VideoListDataset([VideoRecord("x.mp4", 0)], mode="test", num_frames=8, sampling_rate=1, target_fps=30,
                          transform=ClipTransform(train=False, crop_size=8, mean=(0.0,) * 3, std=(1 / 255,) * 3),
                          view_rule="pyslowfast_ssv2")
    monkeypatch.setattr(ds, "_open", lambda path: Reader())
    views, _, _ = ds[0]
    assert read == [[1, 3, 6, 8, 10, 13, 16, 18]]
    assert views[0, 0, :, 0, 0].round().tolist() == [1, 3, 6, 8, 10, 13, 16, 18]


# ------------------------------------------------------------------ heads, crops, ensemble


def test_sigmoid_head_equals_pyslowfast_ptv_wrapper():
    """PTVResNet in eval mode (ptv_model_builder.py): the head without output_pool, ``post_act`` (sigmoid)
    at every position, then the mean over positions."""
    import pytorchvideo.models.hub as hub
    from torch import nn

    from vidlab.convert import get_mapper

    ref = hub.slow_r50(pretrained=False).eval()
    randomise_(ref, seed=3)
    model = models.build("slow_r50_8x8").eval()
    model.load_state_dict(get_mapper("pytorchvideo", "slow_r50_8x8")(ref.state_dict(), "slow_r50_8x8"), strict=True)
    head = ref.blocks[-1]
    head.pool = nn.AvgPool3d((8, 2, 2), stride=1)  # TRAIN_CROP_SIZE 64 // 32
    head.output_pool = None
    x = torch.randn(1, 3, 8, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = ref(x).sigmoid().mean(dim=(2, 3, 4))
        got = FullyConvTest(model, 64, "sigmoid")(x).sigmoid()
    assert want.std() > 0.05
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_first_crop_is_pyslowfast_ssv2_single_crop():
    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 60, 3), dtype=np.uint8)
    kw = {"train": False, "crop_size": 32, "mean": (0.5,) * 3, "std": (0.25,) * 3}
    (one,) = FirstCropTransform(**kw).views(frames)
    torch.testing.assert_close(one, ClipTransform(**kw)(frames, spatial_idx=0), rtol=0, atol=0)  # left crop
    assert not torch.equal(one, ClipTransform(**kw).views(frames)[0])  # not the centre
    three = FirstCropTransform(**kw, spatial_crops=3).views(frames)
    for a, b in zip(three, ClipTransform(**kw, spatial_crops=3).views(frames)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_max_sigmoid_ensemble_and_map_on_a_constructed_example():
    from sklearn.metrics import average_precision_score

    from vidlab.evaluation.multilabel import aggregate_views_multilabel, mean_average_precision

    p = torch.tensor([[[0.9, 0.2, 0.1], [0.3, 0.6, 0.2]],    # video 0: max 0.9 0.6 0.2
                      [[0.1, 0.7, 0.4], [0.2, 0.1, 0.8]],    # video 1: max 0.2 0.7 0.8
                      [[0.5, 0.3, 0.3], [0.4, 0.35, 0.1]]])  # video 2: max 0.5 0.35 0.3
    scores = aggregate_views_multilabel(torch.logit(p.double()), "max_sigmoid")
    want = torch.tensor([[0.9, 0.6, 0.2], [0.2, 0.7, 0.8], [0.5, 0.35, 0.3]], dtype=torch.float64)
    torch.testing.assert_close(scores.double(), want, rtol=0, atol=1e-6)
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=float)  # class 2 has no positive: left out
    # class 0: scores 0.9 (+), 0.5 (+), 0.2 (-): AP 1; class 1: 0.7 (+), 0.6 (-), 0.35 (-): AP 1
    assert mean_average_precision(scores, y) == pytest.approx(1.0)
    y = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=float)
    # class 0: its positive (0.2) ranks below 0.9 and 0.5: AP 1/3; class 1: 0.7 (+), 0.6 (+), 0.35 (-): AP 1
    keep = y.any(0)
    ref = float(np.mean(average_precision_score(y[:, keep], scores.numpy()[:, keep], average=None)))
    assert mean_average_precision(scores, y) == pytest.approx(ref) == pytest.approx((1 / 3 + 1) / 2)


# ------------------------------------------------------------------ choosing the protocol


def test_protocol_for_picks_each_dataset_protocol():
    p = protocol_for(_sidecar("pytorchvideo", 174, arch="slowfast_r50_8x8"))
    assert (p.name, p.views, p.crops, p.test_crop, p.target_fps, p.head_for("slowfast_r50_8x8")) == \
        ("pytorchvideo_ssv2", 1, 3, 256, 30.0, "softmax")
    assert (p.view_rule, p.multi_label, p.num_frames) == ("pyslowfast_ssv2", False, None)
    p = protocol_for(_sidecar("pytorchvideo", 157, arch="slow_r50_8x8"))
    assert (p.name, p.views, p.crops, p.test_crop, p.target_fps, p.head, p.ensemble, p.multi_label) == \
        ("pytorchvideo_charades", 10, 3, 256, 24.0, "sigmoid", "max", True)
    assert p.view_rule == "pytorchvideo_charades"
    # what the hub records wins over the label count; multi_label alone means Charades
    assert protocol_for(_sidecar("pytorchvideo", 400, hub_entry="slow_r50_8x8.ssv2")).name == "pytorchvideo_ssv2"
    assert protocol_for(_sidecar("pytorchvideo", hub_entry={"name": "slowfast_r50_8x8.charades"},
                                 num_classes=157)).name == "pytorchvideo_charades"
    assert protocol_for(_sidecar("pytorchvideo", 157, preprocessing={"multi_label": True})).name == \
        "pytorchvideo_charades"
    assert protocol_for(_sidecar("pytorchvideo", 174, hub_entry="slow_r50_8x8.kinetics400")).name == "pytorchvideo"
    assert protocol_for(_sidecar("pytorchvideo", 400, arch="slow_r50_8x8")).name == "pytorchvideo"
    # PySlowFast's own: its zoo's SlowFast 16x8 configs (64 frames, rate 2), one left crop for SSv2
    p = protocol_for(_sidecar("pyslowfast", 174, arch="slowfast_r50_8x8"))
    assert (p.name, p.views, p.crops, p.test_crop, p.crop_rule, p.num_frames, p.sampling_rate) == \
        ("pyslowfast_ssv2", 1, 1, 256, "pyslowfast_ssv2", 64, 2)
    p = protocol_for(_sidecar("pyslowfast", 174, arch="slowfast_r50_8x8",
                              hub_entry="slowfast_r50_16x8.ssv2_multigrid"))
    assert p.test_crop == 224 and "SLOWFAST_16x8_R50_multigrid.yaml" in p.source
    p = protocol_for(_sidecar("pyslowfast", 157, arch="slow_r50_8x8"))
    assert (p.name, p.view_rule, p.ensemble, p.num_frames, p.crops, p.views) == \
        ("pyslowfast_charades", "pyslowfast_charades", "max", None, 3, 10)
    # MMAction2 keeps its per-architecture protocols; no source: refused
    assert protocol_for(_sidecar("mmaction2", 174, arch="slow_r50_8x8")).name == "mmaction2"
    with pytest.raises(ProtocolError, match="not recorded"):
        protocol_for({"labels": ["a"] * 174})
    assert dataset_of({"num_classes": 400}) is None and dataset_of({}) is None
    assert dataset_of({"preprocessing": {"frame_sampling": "segments"}}) == "ssv2"


def test_describe_and_refusals():
    ssv2 = DATASET_PROTOCOLS[("pyslowfast", "ssv2")]
    text = ssv2.describe(arch="slowfast_r50_8x8")
    assert text.startswith("pyslowfast_ssv2: 1 views x 1 crops at 256 px (short side = crop, the left (top) crop)")
    assert "middle frame of each of num_frames equal segments" in text and "30 fps" in text and "softmax per position" in text
    charades = DATASET_PROTOCOLS[("pytorchvideo", "charades")]
    text = charades.describe(arch="slow_r50_8x8")
    assert "10 views x 3 crops at 256 px" in text and "24 fps" in text and "ConstantClipsPerVideoSampler" in text
    assert "sigmoid per position" in text and "max over the views" in text and "mAP" in text
    with pytest.raises(ProtocolError, match="one temporal view"):
        ssv2.check(10, 1)
    with pytest.raises(ProtocolError, match="at least 2 views"):
        DATASET_PROTOCOLS[("pyslowfast", "charades")].check(1, 3)
    charades.check(1, 3)  # PyTorchVideo's sampler takes one clip from the start


# ------------------------------------------------------------------ end to end


def _tiny_checkpoint(tmp_path, classes: int, source: str, **meta):
    torch.manual_seed(0)
    net = randomise_(models.build("i3d_r10_tiny", num_classes=classes)).eval()
    with torch.no_grad():
        net.head.projection.weight.mul_(5)
    return net, models.save(net, tmp_path / "ck", arch="i3d_r10_tiny",
                            preprocessing={"num_frames": 4, "sampling_rate": 3, "crop_size": 32, "test_scale": 40,
                                           "mean": [0.5] * 3, "std": [0.25] * 3, **meta.pop("pre", {})},
                            provenance={"converted_from": {"source": source}}, **meta)


def test_run_eval_charades_is_the_max_over_views_of_the_sigmoid_head(tmp_path, monkeypatch):
    """pytorchvideo_charades end to end (test crop lowered to 48 to keep it small): each video's score is
    the max over its 10 x 3 views of the per-position sigmoid mean, on PyTorchVideo's frames; mAP is
    PySlowFast's get_map (scikit-learn) of those scores."""
    from sklearn.metrics import average_precision_score

    import vidlab.apps.evaluate as ev
    import vidlab.engine.protocol as P
    from vidlab.io import VideoReader
    from vidlab.io.writer import write_video

    rng = np.random.default_rng(0)
    lengths = {"a.mp4": 70, "b.mp4": 7, "c.mp4": 31}  # b is shorter than one clip (L = 10)
    for name, n in lengths.items():
        write_video(tmp_path / name, rng.integers(0, 256, (n, 24, 34, 3), dtype=np.uint8), fps=24)
    (tmp_path / "list.txt").write_text("a.mp4 0 2\nb.mp4 1\nc.mp4 -1\n")
    net, ck = _tiny_checkpoint(tmp_path, 157, "pytorchvideo", pre={"multi_label": True})
    key = ("pytorchvideo", "charades")
    monkeypatch.setitem(P.DATASET_PROTOCOLS, key, replace(P.DATASET_PROTOCOLS[key], test_crop=48))
    seen = {}
    real = ev.aggregate_views_multilabel

    def aggregate(view_logits, method):
        seen["scores"] = real(view_logits, method)
        return seen["scores"]

    monkeypatch.setattr(ev, "aggregate_views_multilabel", aggregate)
    res = ev.run_eval(ck, tmp_path / "list.txt", progress=False, protocol="source", out=tmp_path / "report")
    assert res["protocol"].startswith("pytorchvideo_charades: 10 views x 3 crops at 48 px")
    assert "max of the sigmoids over the views" in (tmp_path / "report" / "report.md").read_text()
    assert (res["multi_label"], res["aggregation"], res["num_views"], res["num_videos"]) == (True, "max_sigmoid", 30, 3)

    head = FullyConvTest(net, 32, "sigmoid").eval()
    tf = ClipTransform(train=False, crop_size=48, test_scale=48, mean=(0.5,) * 3, std=(0.25,) * 3, spatial_crops=3)
    want = []
    clips = _ptv_charades_clips(tmp_path, list(lengths.values()), 4, 3, 10, monkeypatch)
    for (name, n), ref in zip(lengths.items(), clips):  # the videos are at 24 fps: the frame list is the video
        with VideoReader(tmp_path / name) as r:
            frames = r.get_frames(np.arange(n))
        views = torch.stack([c for idx in ref for c in tf.views(frames[idx])])
        with torch.no_grad():
            want.append(head(views).sigmoid().amax(0))
    want_t = torch.stack(want)
    torch.testing.assert_close(seen["scores"], want_t, rtol=1e-5, atol=1e-6)
    y = np.zeros((3, 157))
    y[0, [0, 2]] = 1
    y[1, 1] = 1
    keep = y.any(0)
    get_map = float(np.mean(average_precision_score(y[:, keep], want_t.numpy()[:, keep], average=None)))
    assert res["mAP"] == pytest.approx(get_map, abs=1e-9)
    assert res["classes_with_positives"] == 3


def test_cli_eval_source_on_ssv2_and_refusals(tmp_path, capsys):
    from helpers import run_cli
    from vidlab.io.writer import write_video

    rng = np.random.default_rng(1)
    write_video(tmp_path / "a.mp4", rng.integers(0, 256, (20, 24, 34, 3), dtype=np.uint8), fps=12)
    (tmp_path / "list.txt").write_text("a.mp4 3\n")
    _, ck = _tiny_checkpoint(tmp_path, 174, "pyslowfast")
    code, out, err = run_cli(["eval", "-c", str(ck), "--list", str(tmp_path / "list.txt"), "--protocol", "source",
                              "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert (res["views"], res["crops"], res["crop_size"], res["num_views"]) == (1, 1, 256, 1)
    assert res["protocol"].startswith("pyslowfast_ssv2: 1 views x 1 crops at 256 px")
    code, out, err = run_cli(["eval", "-c", str(ck), "--list", str(tmp_path / "list.txt"), "--protocol", "source",
                              "--views", "3"], capsys)
    assert code != 0 and err.count("\n") == 1 and "one temporal view" in err
    (tmp_path / "multi.txt").write_text("a.mp4 3 4\n")
    code, out, err = run_cli(["eval", "-c", str(ck), "--list", str(tmp_path / "multi.txt")], capsys)
    assert code != 0 and err.count("\n") == 1 and "single-label" in err


def test_cli_eval_text_output_of_a_multi_label_checkpoint(tmp_path, capsys):
    """vidlab eval without --json on a multi-label checkpoint prints mAP (not top-1), equal to --json's."""
    from helpers import run_cli
    from vidlab.io.writer import write_video

    rng = np.random.default_rng(2)
    for name in ("a.mp4", "b.mp4"):
        write_video(tmp_path / name, rng.integers(0, 256, (16, 24, 34, 3), dtype=np.uint8), fps=24)
    (tmp_path / "list.txt").write_text("a.mp4 0 2\nb.mp4 1\n")
    _, ck = _tiny_checkpoint(tmp_path, 5, "vidlab", pre={"multi_label": True})
    args = ["eval", "-c", str(ck), "--list", str(tmp_path / "list.txt")]
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert out.startswith(f"videos 2  mAP {res['mAP']:.4f}  clip mAP {res['clip_mAP']:.4f}")
    assert "top-1" not in out
