"""Video Swin (swin3d_t/s/b): equal to torchvision's SwinTransformer3d with the same random weights, its key
layout, parameter counts and GFLOPs, the window rules, and the torchvision / MMAction2 converters.

Published figures (torchvision 0.29.1 ``Swin3D_{T,S,B}_Weights.KINETICS400_V1.meta``): ``num_params``
28,158,070 / 49,816,678 / 88,048,984, ``_ops`` 43.882 / 82.841 / 140.667 GFLOPs (one 16 x 224 x 224 view).
"""

from __future__ import annotations

import re

import pytest
import torch
from torchvision.models import video as tv
from torchvision.models.swin_transformer import _patch_merging_pad
from torchvision.models.video.swin_transformer import SwinTransformer3d

from vidlab import models
from vidlab.convert.registry import ConversionError, get_mapper
from vidlab.convert.swin3d import mmaction2_to_vidlab
from vidlab.models.registry import ModelArgumentError
from vidlab.models.swin3d import (
    SWIN3D_T,
    VideoSwin,
    VideoSwinConfig,
    merge_patches,
    relative_position_index,
    window_and_shift,
)

WEIGHTS = {"swin3d_t": tv.Swin3D_T_Weights.KINETICS400_V1, "swin3d_s": tv.Swin3D_S_Weights.KINETICS400_V1,
           "swin3d_b": tv.Swin3D_B_Weights.KINETICS400_V1}
PARAMS = {"swin3d_t": 28_158_070, "swin3d_s": 49_816_678, "swin3d_b": 88_048_984}

# a tiny network with every rule of the real ones: 4 stages, 3 merges, shifted windows, several heads
TINY = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=(2, 3, 3))
CLASSES = 7


def _tv_tiny() -> SwinTransformer3d:
    return SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=TINY["embed_dim"], depths=list(TINY["depths"]),
                             num_heads=list(TINY["num_heads"]), window_size=list(TINY["window_size"]),
                             num_classes=CLASSES)


@pytest.fixture(scope="module")
def pair():
    """torchvision's tiny network with every parameter randomised (norms, biases and bias tables too, so that
    each of them shows in the output), and vidlab's loaded with its state dict; both in eval mode."""
    torch.manual_seed(0)
    ref = _tv_tiny().eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.normal_(1.0 if name.endswith("norm.weight") or "norm1.weight" in name or "norm2.weight" in name
                      else 0.0, 0.5 if "relative_position_bias_table" in name else 0.2)
    ours = VideoSwin(CLASSES, VideoSwinConfig(**TINY)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def _tv_features(ref: SwinTransformer3d, x: torch.Tensor) -> torch.Tensor:
    y = ref.norm(ref.features(ref.pos_drop(ref.patch_embed(x))))
    return ref.avgpool(y.permute(0, 4, 1, 2, 3)).flatten(1)


def test_state_dict_keys_shapes_dtypes_and_order_are_torchvisions(pair):
    ref, ours = pair
    a, b = ref.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape and a[k].dtype == b[k].dtype for k in a)
    assert [n for n, _ in ref.named_parameters()] == [n for n, _ in ours.named_parameters()]
    assert all(torch.equal(a[k], b[k]) for k in a if k.endswith("relative_position_index"))


@pytest.mark.parametrize("shape", [
    (2, 3, 8, 48, 48),    # patch and window multiples: shifted windows, no padding in stage 1
    (1, 3, 7, 37, 45),    # nothing divides: padding at the patch embedding, the windows and the merges
    (1, 3, 12, 72, 56),   # a larger, non-square grid (many windows; shifts in every axis)
    (2, 3, 3, 20, 28),    # odd token grids: windows shrink in time, merges pad
    (1, 3, 4, 8, 8),      # a 2 x 2 x 2 grid, smaller than the 2 x 3 x 3 window: shrunk window, no shift
    (1, 3, 1, 4, 4),      # one token
])
def test_equals_torchvision_at_any_input_size(pair, shape):
    ref, ours = pair
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want_logits, want_feats = ref(x), _tv_features(ref, x)
        feats = ours.forward_features(x)
        logits = ours(x)
    assert feats.shape == (shape[0], 128) and ours.feature_dim == 128
    torch.testing.assert_close(feats, want_feats, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits, want_logits, rtol=1e-4, atol=1e-5)
    assert want_logits.abs().max() > 0.1  # the comparison is not between two near-zero outputs


def test_training_mode_without_dropout_equals_torchvision(pair):
    """Train mode, all dropouts and drop path off: the same function and the same gradients."""
    ref, _ = pair
    ours = VideoSwin(CLASSES, VideoSwinConfig(**TINY, drop_path_rate=0.0, head_dropout=0.0)).train()
    ours.load_state_dict(ref.state_dict())
    tv_train = _tv_tiny()
    tv_train.load_state_dict(ref.state_dict())
    for m in tv_train.modules():  # torchvision's stochastic depth: rate 0.1 * k / (blocks - 1); turn it off
        if hasattr(m, "stochastic_depth"):
            m.stochastic_depth.p = 0.0
    tv_train.train()
    x = torch.randn(2, 3, 5, 30, 30, generator=torch.Generator().manual_seed(2))
    ours(x).square().sum().backward()
    tv_train(x).square().sum().backward()
    for (name, p), q in zip(ours.named_parameters(), tv_train.parameters()):
        # gradients are long float32 sums: compare at the tensor's scale (measured worst: 8e-6 of it)
        assert (p.grad - q.grad).abs().max() <= 1e-4 * q.grad.abs().max(), name


def test_drop_path_schedule_is_torchvisions():
    ref = SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                            window_size=[2, 3, 3], stochastic_depth_prob=0.3)
    ours = VideoSwin(CLASSES, VideoSwinConfig(**TINY, drop_path_rate=0.3))
    want = [m.stochastic_depth.p for m in ref.modules() if hasattr(m, "stochastic_depth")]
    got = [m.stochastic_depth.p for m in ours.modules() if hasattr(m, "stochastic_depth")]
    assert got == pytest.approx(want) and got[0] == 0 and got[-1] == pytest.approx(0.3)


# ----------------------------------------------------------------------------
# Window rules


def test_window_shrinks_to_a_shorter_grid_and_that_axis_is_not_shifted():
    assert window_and_shift((16, 56, 56), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (4, 3, 3))
    assert window_and_shift((8, 7, 7), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (0, 0, 0))  # 16 x 224, stage 4
    assert window_and_shift((16, 4, 9), (8, 7, 7), (4, 3, 3)) == ((8, 4, 7), (4, 0, 3))


def test_shrunk_window_bias_is_the_full_index_prefix():
    """The documented rule: a shrunk window takes the first N rows/columns of the full index. That is the
    exact relative position when only time shrinks, and not when H or W do (the sources' behaviour)."""
    full = relative_position_index((8, 7, 7))

    def exact_rows(window):  # rows of the (8, 7, 7) table for the true offsets inside ``window``
        grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in window), indexing="ij")).flatten(1)
        d = grid[:, :, None] - grid[:, None, :]
        return (d[0] + 7) * 13 * 13 + (d[1] + 6) * 13 + (d[2] + 6)

    assert torch.equal(full[:196, :196], exact_rows((4, 7, 7)))
    assert not torch.equal(full[:128, :128], exact_rows((8, 4, 4)))
    assert full.shape == (392, 392) and int(full.max()) == 15 * 13 * 13 - 1


def test_patch_merging_order_is_torchvisions_and_mmaction2s():
    """A hand-built grid whose channels name their (h, w) position: the 4C vector of output cell (i, j) is
    the tokens at (2i, 2j), (2i+1, 2j), (2i, 2j+1), (2i+1, 2j+1); torchvision's _patch_merging_pad and
    MMAction2's PatchMerging slices (written out below) give the same, so no weight is permuted."""
    h, w = 4, 6
    pos = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1).float()  # (h, w, 2)
    x = pos[None, None].expand(1, 3, h, w, 2)  # (B, T, H, W, C=2): channel 0 = row, 1 = column
    out = merge_patches(x)
    assert out.shape == (1, 3, 2, 3, 8)
    assert out[0, 0, 1, 2].tolist() == [2, 4, 3, 4, 2, 5, 3, 5]
    y = torch.randn(2, 3, 5, 7, 4)  # odd H and W: zero padding at the end
    mm = torch.nn.functional.pad(y, (0, 0, 0, 1, 0, 1))
    mm = torch.cat([mm[:, :, 0::2, 0::2], mm[:, :, 1::2, 0::2], mm[:, :, 0::2, 1::2], mm[:, :, 1::2, 1::2]], -1)
    assert torch.equal(merge_patches(y), _patch_merging_pad(y))
    assert torch.equal(merge_patches(y), mm)


# ----------------------------------------------------------------------------
# Registered models: spec, counts, GFLOPs


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts_equal_torchvision(name):
    with torch.device("meta"):
        ours, ref = models.build(name), getattr(tv, name)()
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in ref.parameters()) == WEIGHTS[name].meta["num_params"] == PARAMS[name]
    assert count == _count_from_rules(name)
    sd_ours, sd_ref = ours.state_dict(), ref.state_dict()
    assert list(sd_ours) == list(sd_ref) and all(sd_ours[k].shape == sd_ref[k].shape for k in sd_ref)
    assert ours.feature_dim == ref.num_features == 8 * ours.config.embed_dim


def _count_from_rules(name: str, classes: int = 400) -> int:
    """The count from the architecture's rules alone: patch conv + norm; per block two norms, the bias table
    (15 * 13 * 13 rows per head), qkv, proj, MLP 4x; per merge a 4C norm and a 4C -> 2C reduction."""
    cfg = models.swin3d.CONFIGS[name]
    c = cfg.embed_dim
    total = 3 * 2 * 4 * 4 * c + c + 2 * c
    for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
        d = c * 2**i
        total += depth * (4 * d + 15 * 13 * 13 * heads + (3 * d * d + 3 * d) + (d * d + d) + (8 * d * d + 5 * d))
        if i < 3:
            total += 8 * d + 4 * d * 2 * d
    f = 8 * c
    return total + 2 * f + f * classes + classes


def test_gflops_equal_torchvisions_ops():
    """vidlab's convention (one multiply-add = one FLOP, one view) at torchvision's 16 x 224 x 224 view equals its
    ``_ops`` to the three decimals it gives (S/B, measured: 82.841 / 140.667; 32 frames: 87.76 / 165.68 / 281.33,
    MMAction2's 88G / 166G / 282G)."""
    from vidlab.apps.model_table import count_flops

    assert count_flops("swin3d_t", 16, 224) == pytest.approx(WEIGHTS["swin3d_t"].meta["_ops"], abs=5e-4)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_spec_is_the_weights_clip(name):
    spec = models.get_spec(name)
    transforms = WEIGHTS[name].transforms()
    assert (spec.num_frames, spec.sampling_rate, spec.crop_size, spec.test_crop_size) == (32, 2, 224, 224)
    assert list(spec.mean) == pytest.approx(transforms.mean) and list(spec.std) == pytest.approx(transforms.std)
    assert transforms.crop_size == [224] * 2 and transforms.resize_size == [256]
    assert "clip_len=32" in WEIGHTS[name].meta["_docs"] and spec.family == "swin3d"


def test_builder_overrides_and_refusals():
    with torch.device("meta"):
        m = models.build("swin3d_t", num_classes=10, head_dropout=0.0, drop_path_rate=0.2)
        assert m.num_classes == 10 and isinstance(m.head_drop, torch.nn.Identity)
        assert m.config.depths == SWIN3D_T.depths
        with pytest.raises(ModelArgumentError, match="no_such_option"):
            models.build("swin3d_t", no_such_option=1)
    with pytest.raises(ValueError, match="one entry per stage"):
        VideoSwinConfig(depths=(2, 2), num_heads=(1, 2, 4))
    with pytest.raises(ValueError, match="multiple of"):
        VideoSwinConfig(embed_dim=20, depths=(1,), num_heads=(3,))


# ----------------------------------------------------------------------------
# Converters


def to_mmaction2(state: dict, style: str = "1.x", index: bool = True) -> dict:
    """torchvision keys -> MMAction2 recognizer keys, written out from mmaction/models/backbones/swin.py (the test's
    own inverse of the mapper): ``features.{2i}.{j}`` -> ``backbone.layers.{i}.blocks.{j}``, mlp.0/3 -> fc1/fc2,
    ``features.{2i+1}`` -> ``backbone.layers.{i}.downsample``, ``norm`` -> ``backbone.norm3`` (1.x) /
    ``backbone.norm`` (0.x), ``head`` -> ``cls_head.fc_cls``."""
    out = {}
    for k, v in state.items():
        if not index and k.endswith("relative_position_index"):
            continue
        if m := re.fullmatch(r"features\.(\d+)\.(\d+)\.(.+)", k):
            rest = m[3].replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")
            new = f"backbone.layers.{int(m[1]) // 2}.blocks.{m[2]}.{rest}"
        elif m := re.fullmatch(r"features\.(\d+)\.(reduction|norm)\.(.+)", k):
            new = f"backbone.layers.{(int(m[1]) - 1) // 2}.downsample.{m[2]}.{m[3]}"
        elif k.startswith("norm."):
            new = ("backbone.norm3." if style == "1.x" else "backbone.norm.") + k[5:]
        elif k.startswith("head."):
            new = "cls_head.fc_cls." + k[5:]
        else:
            new = "backbone." + k
        out[new] = v
    return out


@pytest.mark.parametrize("style, index", [("1.x", True), ("0.x", True), ("1.x", False)])
def test_mmaction2_state_gives_torchvisions_outputs(pair, style, index):
    ref, _ = pair
    mm = to_mmaction2(ref.state_dict(), style, index)
    mm["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)
    mm["data_preprocessor.std"] = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1)
    mapped = mmaction2_to_vidlab(mm, "swin3d_t", TINY["window_size"])
    assert list(mapped) == list(ref.state_dict())
    assert all(torch.equal(mapped[k], v) for k, v in ref.state_dict().items())  # no tensor changes (merges too)
    ours = VideoSwin(CLASSES, VideoSwinConfig(**TINY)).eval()
    ours.load_state_dict(mapped, strict=True)
    x = torch.randn(1, 3, 7, 37, 45, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)


# MMAction2 1.2.0's own SwinTransformer3D(dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4]),
# window_size=(2, 3, 3)) + I3DHead(7 classes, in_channels=128), eval mode, every parameter set by the fixtures'
# weight rule on its MMAction2 key (the index buffers its own), on reference_input(shape); made in a throw-away
# environment as tests/mmaction_ref.py describes (mmaction.models.multimodal stubbed: it imports transformers
# names that 5.x no longer has). float64 agrees to 1e-6. The same run found to_mmaction2() equal to MMAction2's
# state_dict() keys, in order, for arch='tiny' (8 x 7 x 7) and its swin3d_t logits within 2e-6 of vidlab's.
MMACTION2_GOLDEN = {
    (1, 3, 7, 37, 45): [1.177584, 0.446997, -0.365597, 1.598818, -1.317516, -1.096952, 1.280726],
    (1, 3, 16, 64, 64): [0.999874, 0.332351, -1.153654, 2.018078, -0.85009, -1.311835, 1.520095],
}


@pytest.mark.parametrize("shape", sorted(MMACTION2_GOLDEN))
def test_mmaction2_golden_logits(weight_rule, shape):
    from mmaction_ref import reference_input

    ours = VideoSwin(CLASSES, VideoSwinConfig(**TINY)).eval()
    mm = {k: weight_rule(k, tuple(v.shape)) for k, v in to_mmaction2(ours.state_dict(), index=False).items()}
    ours.load_state_dict(mmaction2_to_vidlab(mm, "swin3d_t", TINY["window_size"]), strict=True)
    with torch.no_grad():
        logits = ours(reference_input(shape))[0]
    torch.testing.assert_close(logits, torch.tensor(MMACTION2_GOLDEN[shape]), rtol=0, atol=1e-5)


def test_full_size_mappers_fill_every_key():
    """swin3d_t's registered mappers on a full-size state dict (meta tensors; the index buffers real)."""
    with torch.device("meta"):
        want = models.build("swin3d_t").state_dict()
    state = {k: (relative_position_index((8, 7, 7)) if k.endswith("_index") else v) for k, v in want.items()}
    tv_mapped = get_mapper("torchvision", "swin3d_t")(state, "swin3d_t")
    assert list(tv_mapped) == list(want)
    mm_mapped = get_mapper("mmaction2", "swin3d_t")(to_mmaction2(state), "swin3d_t")
    assert list(mm_mapped) == list(want) and all(mm_mapped[k].shape == want[k].shape for k in want)
    no_index = get_mapper("mmaction2", "swin3d_t")(to_mmaction2(state, index=False), "swin3d_t")
    assert list(no_index) == list(want)
    assert all(torch.equal(no_index[k], state[k]) for k in want if k.endswith("_index"))


def test_mmaction2_mapper_refusals(pair):
    ref, _ = pair
    mm = to_mmaction2(ref.state_dict())
    window = TINY["window_size"]
    with pytest.raises(ConversionError, match="1 source keys have no place.*backbone.norm1.weight"):
        mmaction2_to_vidlab({**mm, "backbone.norm1.weight": torch.ones(32)}, "swin3d_t", window)
    with pytest.raises(ConversionError, match="another window"):
        mmaction2_to_vidlab(mm, "swin3d_t", (2, 2, 2))
    with pytest.raises(ConversionError, match="two source keys map to norm.weight"):
        mmaction2_to_vidlab({**mm, "backbone.norm.weight": torch.ones(128)}, "swin3d_t", window)
    with pytest.raises(ConversionError, match="not 1 or 3 channel values"):
        mmaction2_to_vidlab({**mm, "data_preprocessor.mean": torch.ones(4)}, "swin3d_t", window)
    with pytest.raises(ConversionError, match="not an MMAction2 SwinTransformer3D"):
        mmaction2_to_vidlab(ref.state_dict(), "swin3d_t", window)


def test_torchvision_mapper_refusals(pair):
    ref, _ = pair
    mapper = get_mapper("torchvision", "swin3d_s")
    with pytest.raises(ConversionError, match="looks like an MMAction2 state dict"):
        mapper(to_mmaction2(ref.state_dict()), "swin3d_s")
    with pytest.raises(ConversionError, match="no place.*features.0.0.attn.attn_mask"):
        mapper({**ref.state_dict(), "features.0.0.attn.attn_mask": torch.zeros(1)}, "swin3d_s")


@pytest.mark.slow
def test_full_size_swin3d_t_equals_torchvision_at_the_registered_clip():
    """swin3d_t with torchvision's swin3d_t random weights at 1 x 3 x 32 x 224 x 224 (measured: max abs
    difference 1.5e-7 on logits of magnitude 0.6; ~35 s on 2 CPU cores)."""
    torch.manual_seed(0)
    ref = tv.swin3d_t().eval()
    ours = models.build("swin3d_t").eval()
    ours.load_state_dict(get_mapper("torchvision", "swin3d_t")(ref.state_dict(), "swin3d_t"))
    x = torch.randn(1, 3, 32, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)
