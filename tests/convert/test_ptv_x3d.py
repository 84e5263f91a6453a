"""pytorchvideo X3D -> vidlab: key mapping, strict load and equal outputs."""

import pytest
import pytorchvideo.models.hub as hub  # dev extra: the reference models
import torch
from pytorchvideo.models.x3d import create_x3d
from torch import nn

import vidlab.convert  # noqa: F401  (registers the converters)
from helpers import randomise_
from vidlab import models
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.convert.ptv_x3d import from_ptv_x3d

# hub builders fix (frames, crop): x3d_xs 4x160, x3d_s 13x160, x3d_m 16x224, x3d_l 16x312; their head
# pools with AvgPool3d((T, ceil(crop/32), ceil(crop/32)), stride=1), which covers the whole res5 map
# exactly at that clip, so the comparison runs there (a larger input would make pytorchvideo average
# per-window predictions, a smaller one fails).
HUB_CLIP = {"x3d_xs": (4, 160), "x3d_s": (13, 160), "x3d_m": (16, 224), "x3d_l": (16, 312)}


def _hub(name, device="cpu"):
    with torch.device(device):
        return getattr(hub, name)(pretrained=False).eval()


_randomise = randomise_  # the shared helper (tests/helpers.py)


def _compare(name, ptv, frames, crop, seed=0):
    """Convert ``ptv``'s weights, run both on one clip; return max errors (logits, softmax) and max|logits|."""
    state = get_mapper("pytorchvideo", name)(ptv.state_dict(), name)
    ours = models.build(name).eval()
    ours.load_state_dict(state, strict=True)
    captured = {}
    # pytorchvideo's head applies Softmax(dim=1) in train and eval mode: capture the logits at its projection
    handle = ptv.blocks[5].proj.register_forward_hook(lambda m, i, o: captured.__setitem__("logits", o))
    x = torch.randn(1, 3, frames, crop, crop, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        probs = ptv(x)
        logits = ours(x)
    handle.remove()
    ref = captured["logits"].reshape(1, -1)  # (1, 1, 1, 1, 400): one window
    assert isinstance(ptv.blocks[5].activation, nn.Softmax)
    return (logits - ref).abs().max().item(), (logits.softmax(-1) - probs).abs().max().item(), ref.abs().max().item()


@pytest.mark.parametrize("name", ["x3d_xs", "x3d_s", "x3d_m"])
def test_outputs_equal_pytorchvideo_hub_model(name):
    ptv = _hub(name)
    _randomise(ptv, seed=1)
    err, err_p, scale = _compare(name, ptv, *HUB_CLIP[name])
    assert err <= 1e-5 * max(1.0, scale), f"logits differ by {err:.3g}"
    assert err_p <= 1e-6


def test_outputs_equal_pytorchvideo_x3d_l_small_clip():
    """X3D-L's weights, run at 4x96 (the hub's 16x312 clip takes ~20 s on 2 cores: see the slow test).
    The hub model and ``create_x3d(depth_factor=5.0)`` at another crop have the same state dict;
    only the parameter-free head pool kernel differs."""
    hub_l = _hub("x3d_l")
    _randomise(hub_l, seed=2)
    small = create_x3d(input_clip_length=4, input_crop_size=96, depth_factor=5.0).eval()
    small.load_state_dict(hub_l.state_dict(), strict=True)
    err, err_p, scale = _compare("x3d_l", small, 4, 96)
    assert err <= 1e-5 * max(1.0, scale), f"logits differ by {err:.3g}"
    assert err_p <= 1e-6


@pytest.mark.slow
def test_outputs_equal_pytorchvideo_hub_x3d_l_full_clip():
    ptv = _hub("x3d_l")
    _randomise(ptv, seed=2)
    err, err_p, scale = _compare("x3d_l", ptv, *HUB_CLIP["x3d_l"])
    assert err <= 1e-5 * max(1.0, scale), f"logits differ by {err:.3g}"  # measured 1.4e-5 at max|logit| 18
    assert err_p <= 1e-5


@pytest.mark.parametrize("name", list(HUB_CLIP))
def test_parameter_counts_against_pytorchvideo(name):
    ptv = _hub(name, "meta")
    with torch.device("meta"):
        ours = models.build(name)
    n_ptv = sum(p.numel() for p in ptv.parameters())
    n_ours = sum(p.numel() for p in ours.parameters())
    # vidlab (like PySlowFast) has a norm on the res2 block-0 shortcut, pytorchvideo does not: 24 scales + 24 shifts
    assert n_ours - n_ptv == 48
    assert n_ptv == {"x3d_l": 6_153_384}.get(name, 3_794_274)
    mapped = from_ptv_x3d(ptv.state_dict(), name)
    assert set(mapped) == set(ours.state_dict())
    added = set(mapped) - {k for k in mapped if mapped[k].is_meta}
    assert added == {f"s2.pathway0_res0.branch1_bn.{s}"
                     for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}


def test_filled_shortcut_norm_is_the_identity_in_eval():
    state = from_ptv_x3d(_hub("x3d_xs", "meta").state_dict(), "x3d_xs")
    bn = nn.BatchNorm3d(24).eval()
    prefix = "s2.pathway0_res0.branch1_bn."
    bn.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    x = torch.randn(2, 24, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(bn(x), x, rtol=1e-6, atol=1e-7)


def test_mapper_is_registered_and_refuses_what_it_cannot_place():
    for name in HUB_CLIP:
        assert get_mapper("pytorchvideo", name) is from_ptv_x3d
    assert set(HUB_CLIP) <= set(supported()["pytorchvideo"])
    state = _hub("x3d_s", "meta").state_dict()
    with pytest.raises(ConversionError, match="1 source keys have no place"):
        from_ptv_x3d({**state, "blocks.6.extra.weight": torch.zeros(1)}, "x3d_s")
    with pytest.raises(ConversionError, match="no place"):  # an X3D-L checkpoint for X3D-S: its extra blocks
        from_ptv_x3d(_hub("x3d_l", "meta").state_dict(), "x3d_s")
    with pytest.raises(ConversionError, match="lacks"):  # an X3D-S checkpoint for X3D-L
        from_ptv_x3d(state, "x3d_l")
