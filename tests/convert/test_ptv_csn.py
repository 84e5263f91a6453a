"""pytorchvideo csn_r101 / r2plus1d_r50 -> vidlab: key mapping, strict load, equal outputs.

Fast tests compare on small clips: the body (stem + res2..res5) exactly, and the head separately at
pytorchvideo's own head window (4x7x7). pytorchvideo's heads pool with a fixed AvgPool3d((4, 7, 7)),
which fails on small clips, so for the whole-network comparison on a small clip its head pool is swapped
for the global average it equals at the native size. The `slow` tests run the untouched hub models at
their native clips (16x224x224 and 32x224x224).
"""


import pytest
import pytorchvideo.models.hub as hub  # dev extra: the reference models
import torch
from torch import nn

from helpers import randomise_
from vidlab import models
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.convert.ptv_csn import map_key
from vidlab.models.checkpoint import load_into

NATIVE = {"r2plus1d_r50": 16, "csn_r101": 32}  # frames at 224x224 that give the 4x7x7 head window


_randomise = randomise_  # the shared helper (tests/helpers.py)


@pytest.fixture(scope="module", params=["r2plus1d_r50", "csn_r101"])
def pair(request):
    """(name, pytorchvideo hub model, converted vidlab model), both random-initialised and in eval mode."""
    name = request.param
    ptv = _randomise(getattr(hub, name)(pretrained=False), seed=len(name)).eval()
    state = get_mapper("pytorchvideo", name)(ptv.state_dict(), name)
    ours = models.build(name).eval()
    load_into(ours, state, f"pytorchvideo {name}")
    return name, ptv, ours


def test_registered():
    assert {"r2plus1d_r50", "csn_r101"} <= set(supported()["pytorchvideo"])


def test_every_key_maps_one_to_one(pair):
    name, ptv, ours = pair
    src = ptv.state_dict()
    state = get_mapper("pytorchvideo", name)(src, name)
    assert len(state) == len(src) == len(ours.state_dict())
    assert set(state) == set(ours.state_dict())
    assert map_key("blocks.3.res_blocks.22.branch2.norm_c.running_var", name) == "res4.block22.bn_c.running_var"
    assert map_key("blocks.1.res_blocks.0.branch1_norm.weight", name) == "res2.block0.proj_bn.weight"


def test_body_matches_exactly(pair):
    _, ptv, ours = pair
    x = torch.randn(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = x
        for block in ptv.blocks[:5]:
            ref = block(ref)
        got = ours.forward_maps(x)
    assert got.shape == ref.shape and got.shape[-2:] == (2, 2)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_head_matches_at_the_native_window(pair):
    """pytorchvideo's head at its 4x7x7 window; r2plus1d_r50's head ends in a softmax, vidlab returns logits."""
    name, ptv, ours = pair
    feats = torch.randn(2, 2048, 4, 7, 7, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = ptv.blocks[5](feats)
        logits = ours.head(feats)
    if name == "r2plus1d_r50":
        torch.testing.assert_close(ref.sum(1), torch.ones(2))  # probabilities
        torch.testing.assert_close(logits.softmax(1), ref, rtol=1e-5, atol=1e-7)
    else:
        torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-5)


def test_whole_network_logits_match_on_a_small_clip(pair):
    _, ptv, ours = pair
    head = ptv.blocks[5]
    saved = head.pool, head.activation
    head.pool, head.activation = nn.AdaptiveAvgPool3d(1), None  # the same as (4,7,7) at the native size
    try:
        x = torch.randn(1, 3, 8, 64, 64, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            ref, got = ptv(x), ours(x)
    finally:
        head.pool, head.activation = saved
    assert got.shape == (1, 400)
    err = (got - ref).abs().max().item()
    assert err < 1e-5, f"max |logit difference| {err:.2e} (max |logit| {ref.abs().max().item():.2f})"


@pytest.mark.slow
def test_untouched_hub_model_at_its_native_clip(pair):
    name, ptv, ours = pair
    x = torch.randn(1, 3, NATIVE[name], 224, 224, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref, logits = ptv(x), ours(x)
    got = logits.softmax(1) if name == "r2plus1d_r50" else logits
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_errors_name_the_problem():
    with torch.device("meta"):
        state = hub.csn_r101(pretrained=False).state_dict()
    # a CSN state dict is not an R(2+1)D one: the depthwise conv_b keys have no place
    with pytest.raises(ConversionError, match=r"r2plus1d_r50: \d+ source keys .*conv_b\.weight"):
        get_mapper("pytorchvideo", "r2plus1d_r50")(state, "r2plus1d_r50")
    with pytest.raises(ConversionError, match="strip the DataParallel prefix"):
        get_mapper("pytorchvideo", "csn_r101")({f"module.{k}": v for k, v in state.items()}, "csn_r101")
    with pytest.raises(ConversionError, match="not a pytorchvideo state dict"):
        get_mapper("pytorchvideo", "csn_r101")({"stem.0.weight": torch.zeros(1)}, "csn_r101")
    extra = dict(state)
    extra["blocks.6.proj.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"1 source keys .*blocks\.6\.proj\.weight"):
        get_mapper("pytorchvideo", "csn_r101")(extra, "csn_r101")
