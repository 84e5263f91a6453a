"""Source test protocols: the fully convolutional test head equals PyTorchVideo's at a crop larger
than the training crop, and PySlowFast's rule (softmax at every position, then the mean)."""

from __future__ import annotations

import json

import pytest
import pytorchvideo.models.hub as hub  # dev extra: the reference models
import torch
from torch import nn

from helpers import randomise_
from vidlab import models
from vidlab.convert import get_mapper
from vidlab.engine.protocol import FullyConvTest, ProtocolError, protocol_for

TRAIN_CROP, TEST_CROP = 64, 96  # res5 maps 2x2 at train, 3x3 at test: the 2x2 kernel slides to 2x2 positions


def _converted(ptv_name: str, arch: str):
    ref = getattr(hub, ptv_name)(pretrained=False).eval()
    randomise_(ref, seed=3)
    model = models.build(arch).eval()
    model.load_state_dict(get_mapper("pytorchvideo", arch)(ref.state_dict(), arch), strict=True)
    return ref, model


def _clip(frames: int) -> torch.Tensor:
    return torch.randn(1, 3, frames, TEST_CROP, TEST_CROP, generator=torch.Generator().manual_seed(0))


def test_slow_r50_head_at_a_larger_crop_equals_pytorchvideo():
    ref, model = _converted("slow_r50", "slow_r50_8x8")
    head = ref.blocks[-1]
    head.pool = nn.AvgPool3d((8, TRAIN_CROP // 32, TRAIN_CROP // 32), stride=1)  # the hub's (8, 7, 7) at 224
    x = _clip(8)
    with torch.no_grad():
        want = ref(x)  # mean of the per-position logits (output_pool)
        got = FullyConvTest(model, TRAIN_CROP, "logits")(x)
        head.output_pool = None
        per_position = ref(x)  # (1, 400, 1, 2, 2)
        pysf = FullyConvTest(model, TRAIN_CROP, "softmax")(x)
        global_pool = model(x)
    assert per_position.shape == (1, 400, 1, 2, 2)
    assert want.std() > 0.5
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
    # PySlowFast: softmax per position, then the mean
    torch.testing.assert_close(pysf.exp(), per_position.softmax(dim=1).mean(dim=(2, 3, 4)), rtol=1e-5, atol=1e-7)
    # and neither is vidlab's global pooling at this size
    assert (global_pool - want).abs().max() > 1e-2


def test_slowfast_r50_head_pools_each_pathway_with_its_kernel():
    ref, model = _converted("slowfast_r50", "slowfast_r50_8x8")
    k = TRAIN_CROP // 32
    ref.blocks[-2].pool = nn.ModuleList([nn.AvgPool3d((8, k, k), stride=1), nn.AvgPool3d((32, k, k), stride=1)])
    x = _clip(32)
    with torch.no_grad():
        want = ref(model.pathways(x))
        got = FullyConvTest(model, TRAIN_CROP, "logits")(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


def test_x3d_head_softmax_per_position_equals_pytorchvideo():
    ref, model = _converted("x3d_s", "x3d_s")
    pool = ref.blocks[-1].pool
    pool.pool = nn.AvgPool3d((13, 2, 2), stride=1)  # ceil(64 / 32) = 2
    x = _clip(13)
    with torch.no_grad():
        want = ref(x)  # the hub X3D head: softmax at each position, then output_pool
        got = FullyConvTest(model, TRAIN_CROP, "softmax")(x)
    torch.testing.assert_close(got.exp(), want, rtol=1e-5, atol=1e-7)


def test_protocol_from_the_sidecar_and_refusals():
    assert protocol_for({"provenance": {"converted_from": {"source": "pyslowfast"}}}).head == "softmax"
    p = protocol_for({"provenance": {"converted_from": {"source": "pytorchvideo"}}})
    assert (p.views, p.crops, p.head_for("slow_r50_8x8"), p.head_for("x3d_s")) == (10, 3, "logits", "softmax")
    with pytest.raises(ProtocolError, match="not recorded"):
        protocol_for({"provenance": {"trained_by": "vidlab demo"}})
    with pytest.raises(ProtocolError, match="ResNet, SlowFast and X3D"):
        FullyConvTest(models.build("swin3d_t", num_classes=4), 224)


def test_cli_eval_protocol_source(tmp_path, capsys):
    """`vidlab eval --protocol source` on a PyTorchVideo-converted checkpoint: 10 x 3 views at the
    test crop, the per-position head; on a checkpoint without a source: one line."""
    from helpers import run_cli
    from vidlab.data.synthetic import write_synthetic_dataset

    data = tmp_path / "d"
    write_synthetic_dataset(data, train_per_class=1, val_per_class=1, test_per_class=1, size=48, num_frames=16,
                            progress=False)
    torch.manual_seed(0)
    net = models.build("i3d_r10_tiny", num_classes=10)
    ck = models.save(net, tmp_path / "ck", arch="i3d_r10_tiny",
                     preprocessing={"num_frames": 4, "sampling_rate": 2, "crop_size": 32, "test_scale": 40,
                                    "mean": [0.5] * 3, "std": [0.25] * 3},
                     provenance={"converted_from": {"source": "pytorchvideo"}})
    code, out, err = run_cli(["eval", "-c", str(ck), "--list", str(data / "test.csv"), "--protocol", "source",
                              "--views", "2", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert (res["views"], res["crops"], res["crop_size"]) == (2, 3, 40)
    assert res["protocol"].startswith("pytorchvideo: 2 views x 3 crops at 40 px")
    assert "mean of the per-position logits" in res["protocol"]
    plain = models.save(net, tmp_path / "plain", arch="i3d_r10_tiny")
    code, out, err = run_cli(["eval", "-c", str(plain), "--list", str(data / "test.csv"), "--protocol", "source"],
                             capsys)
    assert code == 2 and err.count("\n") == 1 and "--protocol vidlab" in err
