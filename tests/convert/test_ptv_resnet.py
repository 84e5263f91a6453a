"""pytorchvideo -> vidlab: the hub ResNet/SlowFast models compute the same function after conversion.

pytorchvideo 0.1.5 imports cleanly with torchvision 0.29 (its hub modules need
nothing from the removed torchvision APIs), so no workaround is applied.
"""

import pytest
import pytorchvideo.models.hub as hub  # dev extra: the reference models
import torch
from torch import nn

from vidlab import models
from vidlab.apps.model_table import count_flops
from vidlab.convert import ConversionError, get_mapper
from vidlab.models.checkpoint import CheckpointError, load_into

# pytorchvideo hub name -> (vidlab arch, frames fed to the model: Fast frames for SlowFast;
# 32 rather than 64 for the 16x8 net to halve the test's time, the heads pool globally)
HUB = {
    "slow_r50": ("slow_r50_8x8", 8),
    "c2d_r50": ("c2d_r50", 8),
    "i3d_r50": ("i3d_r50", 8),
    "slowfast_r50": ("slowfast_r50_8x8", 32),
    "slowfast_r101": ("slowfast_r101_8x8", 32),
    "slowfast_16x8_r101_50_50": ("slowfast_r101_16x8_50_50", 32),
}


def _hub_model(name: str) -> nn.Module:
    # The hub heads average-pool with a fixed kernel sized for 224 px crops
    # ((8, 7, 7) etc.), which cannot run on the 2x2 res5 map of a 64 px clip.
    # At 224 px that kernel covers the whole map, i.e. it is a global average:
    # swap in the adaptive pool, which is what vidlab's head does at any size.
    return getattr(hub, name)(pretrained=False, head_pool=nn.AdaptiveAvgPool3d)


@pytest.mark.parametrize("hub_name", sorted(HUB))
def test_converted_hub_model_computes_the_same_logits(hub_name, weight_rule):
    arch, frames = HUB[hub_name]
    ref = _hub_model(hub_name).eval()
    # Every tensor random, BN statistics and scales included (a fresh model has
    # mean 0 / var 1 / zero final-BN scales, which would hide mapping mistakes).
    ref.load_state_dict({k: weight_rule(k, tuple(v.shape)) for k, v in ref.state_dict().items()}, strict=True)
    state = get_mapper("pytorchvideo", arch)(ref.state_dict(), arch)
    assert len(state) == len(ref.state_dict())
    model = models.build(arch).eval()
    load_into(model, state, hub_name)

    clip = torch.randn(1, 3, frames, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ref(model.pathways(clip)) if "slowfast" in arch else ref(clip)
        logits = model(clip)
    assert expected.shape == logits.shape == (1, 400)  # hub heads: no softmax in eval, pre-activation scores
    assert expected.std() > 0.5  # not a degenerate comparison
    err = (logits - expected).abs().max().item()
    assert err <= 1e-5 * max(1.0, expected.abs().max().item()), err


@pytest.mark.parametrize("hub_name", sorted(HUB))
def test_parameter_counts_equal_pytorchvideos(hub_name):
    arch, _ = HUB[hub_name]
    with torch.device("meta"):
        ref = getattr(hub, hub_name)(pretrained=False)
        model = models.build(arch)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())


# PyTorchVideo model zoo, docs/source/model_zoo.md (Kinetics-400 table): params (M),
# GFLOPs of one T x 256 x 256 view. The SlowFast rows are tested in tests/models/test_slowfast.py.
ZOO = {
    "c2d_r50": (8, 24.33, 25.89),
    "i3d_r50": (8, 28.04, 37.53),
    "slow_r50_4x16": (4, 32.45, 27.55),
    "slow_r50_8x8": (8, 32.45, 54.52),
    "i3d_nl_r50": (8, 35.40, None),  # not in the pytorchvideo zoo; params from the PySlowFast fixture table
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_single_pathway_params_and_gflops(name):
    frames, params_m, gflops = ZOO[name]
    with torch.device("meta"):
        model = models.build(name)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == params_m
    if gflops is not None:
        measured = count_flops(name, frames, 256)
        assert abs(measured - gflops) / gflops < 0.05, measured


def _ptv_state(hub_name):
    with torch.device("meta"):
        return getattr(hub, hub_name)(pretrained=False).state_dict()


def test_every_key_is_mapped_or_reported():
    state = _ptv_state("slowfast_r50")
    mapper = get_mapper("pytorchvideo", "slowfast_r50")  # aliases resolve to slowfast_r50_8x8
    out = mapper(state, "slowfast_r50_8x8")
    assert out["s1_fuse.conv_f2s.weight"] is state["blocks.0.multipathway_fusion.conv_fast_to_slow.weight"]
    assert out["s5.pathway1_res2.branch2.c_bn.running_var"] is state[
        "blocks.4.multipathway_blocks.1.res_blocks.2.branch2.norm_c.running_var"]
    assert out["head.projection.weight"] is state["blocks.6.proj.weight"]
    with pytest.raises(ConversionError, match=r"1 source keys have no place in the model: \[blocks\.6\.extra\.weight\]"):
        mapper({**state, "blocks.6.extra.weight": torch.zeros(1)}, "slowfast_r50_8x8")
    # checkpoints saved from a wrapper (PySlowFast's PTV models keep the net under `model.`)
    wrapped = {f"model.{k}": v for k, v in state.items()}
    assert mapper(wrapped, "slowfast_r50_8x8").keys() == out.keys()


def test_stage_numbers_skip_the_temporal_pool_block():
    state = _ptv_state("i3d_r50")  # blocks: 0 stem, 1 res2, 2 max-pool, 3 res3, 4 res4, 5 res5, 6 head
    out = get_mapper("pytorchvideo", "i3d_r50")(state, "i3d_r50")
    assert out["s3.pathway0_res0.branch1.weight"] is state["blocks.3.res_blocks.0.branch1_conv.weight"]
    assert out["s1.pathway0_stem.bn.weight"] is state["blocks.0.norm.weight"]
    assert out["head.projection.bias"] is state["blocks.6.proj.bias"]


def test_wrong_architecture_fails_strict_load_naming_keys():
    state = get_mapper("pytorchvideo", "slowfast_r50_8x8")(_ptv_state("slowfast_r50"), "slowfast_r50_8x8")
    with torch.device("meta"):
        r101 = models.build("slowfast_r101_8x8")
    with pytest.raises(CheckpointError, match=r"missing keys \[s4\.pathway0_res6\..*shape mismatch \[s1_fuse"):
        load_into(r101, state, "slowfast_r50.pyth")
    with pytest.raises(ConversionError, match="no pytorchvideo converter for slowfast_r50_8x8_nl"):
        get_mapper("pytorchvideo", "slowfast_r50_8x8_nl")  # pytorchvideo has no non-local SlowFast


def test_the_ava_detector_converts_to_vidlabs_with_its_roialign_convention(weight_rule, tmp_path):
    """pytorchvideo's slowfast_r50_detection (create_slowfast_with_roi_head, the AVA zoo file's network) through
    `vidlab convert`: every key mapped, aligned=False recorded, the same per-box sigmoid scores; with
    PySlowFast's aligned=True RoIAlign the scores would differ (the flag is not cosmetic)."""
    from vidlab.convert.core import convert_checkpoint

    ref = hub.slowfast_r50_detection(pretrained=False).eval()
    ref.load_state_dict({k: weight_rule(k, tuple(v.shape)) for k, v in ref.state_dict().items()}, strict=True)
    src = tmp_path / "SLOWFAST_8x8_R50_DETECTION.pyth"
    torch.save({"model_state": ref.state_dict()}, src)
    path, info = convert_checkpoint("pytorchvideo", "slowfast_r50_8x8_detection", src, tmp_path / "det")
    assert info["model_kwargs"] == {"aligned": False} and info["num_classes"] == 80
    model = models.load(path)
    assert model.meta["model_kwargs"] == {"aligned": False} and model.head.aligned is False
    clip = torch.randn(1, 3, 32, 96, 128, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[0, 10.3, 20.7, 90.2, 95.5], [0, 50.0, 5.0, 127.0, 80.0]])
    with torch.no_grad():
        expected = ref(model.pathways(clip), boxes)  # the hub head ends with a sigmoid
        got = torch.sigmoid(model(clip, boxes))
        model.head.aligned = True
        other = torch.sigmoid(model(clip, boxes))
    assert expected.shape == got.shape == (2, 80) and expected.std() > 0.05
    assert (got - expected).abs().max().item() <= 1e-5
    assert (other - expected).abs().max().item() > 1e-3
