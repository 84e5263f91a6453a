"""MViT from torchvision, pytorchvideo and PySlowFast: key mapping, strict loads, equal logits, errors.

Equivalence runs the references at their full depth and their own block tables (heads,
kernels, strides, position-embedding rules) with the widths divided by 12 (96 -> 8) and a
64 px / 8-frame clip, random weights, eval mode, float32; the full-size (224 px) state
dicts are checked for keys and shapes. The slow test repeats the comparison at full width.
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from pytorchvideo.models import hub as ptv_hub  # dev extra: the reference models
from torchvision.models.video import mvit_v1_b, mvit_v2_s
from torchvision.models.video.mvit import MSBlockConfig
from torchvision.models.video.mvit import MViT as TorchvisionMViT

import vidlab.convert  # noqa: F401  (registers the converters)
from helpers import randomise_
from vidlab import models
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.convert.core import shape_kwargs
from vidlab.models.mvit import MVIT_V1_B_16X4, MViT

CROP, FRAMES = 64, 8
WIDTH = 8  # embed_dim of the reduced references (torchvision / pytorchvideo: 96)
TOL = 1e-4  # relative to max |logit|


def torchvision_reduced(builder, width: int = WIDTH, crop: int = CROP, frames: int = FRAMES) -> TorchvisionMViT:
    """torchvision's MViT with ``builder``'s block table (read off the model it builds on the meta
    device), channel widths scaled by ``width / 96``, built for a ``frames x crop x crop`` clip
    (torchvision's builders fix 16 x 224 x 224, the only input their forward accepts)."""
    with torch.device("meta"):
        full = builder()
    scale = full.blocks[0].norm1.normalized_shape[0] // width
    rows = []
    for b in full.blocks:
        a = b.attn
        q = a.pool_q.pool if a.pool_q is not None else None
        kv = a.pool_k.pool if a.pool_k is not None else None
        rows.append(MSBlockConfig(
            num_heads=a.num_heads, input_channels=b.norm1.normalized_shape[0] // scale,
            output_channels=b.mlp[3].out_features // scale,
            kernel_q=list(q.kernel_size) if q else [], kernel_kv=list(kv.kernel_size) if kv else [],
            stride_q=list(q.stride) if q else [], stride_kv=list(kv.stride) if kv else []))
    v2 = full.blocks[0].attn.rel_pos_h is not None
    return TorchvisionMViT(spatial_size=(crop, crop), temporal_size=frames, block_setting=rows, residual_pool=v2,
                           residual_with_cls_embed=False, rel_pos_embed=v2, proj_after_attn=v2)


def _clip(frames: int) -> torch.Tensor:
    return torch.randn(1, 3, frames, CROP, CROP, generator=torch.Generator().manual_seed(0))


def _logits_error(source: str, arch: str, ref: torch.nn.Module, frames: int, width: int = WIDTH,
                  want: torch.Tensor | None = None, **overrides) -> tuple[float, float]:
    """Convert ``ref``'s state dict, load it strictly into ``arch`` (same widths and clip), run one clip
    through both (``want``: ``ref``'s logits, when already computed): (max |difference|, max |reference logit|)."""
    state = get_mapper(source, arch)(ref.state_dict(), arch)
    ours = models.build(arch, num_classes=400, embed_dim=width, crop_size=CROP, num_frames=frames, **overrides)
    ours.load_state_dict(state, strict=True)
    with torch.no_grad():
        want = ref.eval()(_clip(frames)) if want is None else want
        got = ours.eval()(_clip(frames))
    return (got - want).abs().max().item(), want.abs().max().item()


@pytest.mark.parametrize("builder, arch", [(mvit_v1_b, "mvit_v1_b_16x4"), (mvit_v2_s, "mvitv2_s_16x4")])
def test_torchvision_logits(builder, arch):
    ref = randomise_(torchvision_reduced(builder), seed=1)
    err, scale = _logits_error("torchvision", arch, ref, FRAMES)
    assert scale > 0.1 and err <= TOL * scale, f"{err:.3g} of {scale:.3g}"


@pytest.mark.parametrize("builder, arch, frames", [(ptv_hub.mvit_base_16x4, "mvit_v1_b_16x4", FRAMES),
                                                    (ptv_hub.mvit_base_32x3, "mvit_v1_b_32x3", 2 * FRAMES)])
def test_pytorchvideo_logits(builder, arch, frames):
    """pytorchvideo's own hub builder (its config, widths / 12). Its pool norms use eps 1e-5 where
    vidlab (PySlowFast, torchvision) uses 1e-6: ``pool_norm_eps=1e-5`` gives its function to float
    rounding. With the default the difference is the epsilon's alone: measured 3.5e-5 / 7.9e-5 of the
    logits' scale here (head_dim 8), 1.6e-5 / 1.2e-5 at full width (the slow test, default eps)."""
    ref = randomise_(builder(pretrained=False, patch_embed_dim=WIDTH, spatial_size=CROP, temporal_size=frames), seed=1)
    assert {m.eps for n, m in ref.named_modules() if n.endswith(("norm_q", "norm_k", "norm_v"))} == {1e-5}
    with torch.no_grad():
        want = ref.eval()(_clip(frames))
    err, scale = _logits_error("pytorchvideo", arch, ref, frames, want=want, pool_norm_eps=1e-5)
    assert scale > 0.1 and err <= 1e-5 * scale, f"{err:.3g} of {scale:.3g}"
    err_default, _ = _logits_error("pytorchvideo", arch, ref, frames, want=want)
    assert 10 * err < err_default <= 1e-3 * scale, f"{err_default:.3g} of {scale:.3g}"  # eps matters, but little


@pytest.fixture(scope="module")
def full_size_states():
    """Full-size (224 px) reference state dicts; torchvision's on the meta device, pytorchvideo's on the CPU
    (its builder calls ``.item()``, which the meta device refuses)."""
    with torch.device("meta"):
        tv = {"mvit_v1_b": mvit_v1_b().state_dict(), "mvit_v2_s": mvit_v2_s().state_dict()}
    ptv = {}
    for name in ("mvit_base_16x4", "mvit_base_32x3"):  # shapes only: skip the 36M-value initialisation
        with mock.patch("pytorchvideo.models.vision_transformers.init_net_weights", lambda *a, **k: None):
            net = getattr(ptv_hub, name)(pretrained=False)
        ptv[name] = (net.state_dict(), sum(p.numel() for p in net.parameters()))
    return tv, ptv


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("source, name, arch", [
    ("torchvision", "mvit_v1_b", "mvit_v1_b_16x4"), ("torchvision", "mvit_v2_s", "mvitv2_s_16x4"),
    ("pytorchvideo", "mvit_base_16x4", "mvit_v1_b_16x4"), ("pytorchvideo", "mvit_base_32x3", "mvit_v1_b_32x3")])
def test_full_size_keys_and_shapes(full_size_states, source, name, arch):
    tv, ptv = full_size_states
    state = tv[name] if source == "torchvision" else ptv[name][0]
    mapped = get_mapper(source, arch)(state, arch)
    with torch.device("meta"):
        own = models.build(name)  # the alias: torchvision's / pytorchvideo's builder name
    assert models.get_spec(name).name == arch
    assert _shapes(mapped) == _shapes(own.state_dict())
    assert shape_kwargs(arch, mapped) == {"crop_size": 224, "num_frames": own.config.num_frames}
    if source == "pytorchvideo":  # every parameter accounted for: pytorchvideo's count is vidlab's
        assert ptv[name][1] == sum(p.numel() for p in own.parameters()) == {"mvit_base_16x4": 36_610_672,
                                                                             "mvit_base_32x3": 36_611_440}[name]
        assert len(state) - len(mapped) == 4 * 16  # q, k, v -> qkv (weights and biases) in 16 blocks


def test_tensors_are_moved_not_changed():
    ref = randomise_(torchvision_reduced(mvit_v1_b), seed=2)
    src = ref.state_dict()
    out = get_mapper("torchvision", "mvit_v1_b_16x4")(src, "mvit_v1_b_16x4")
    assert torch.equal(out["cls_token"].flatten(), src["pos_encoding.class_token"])
    assert torch.equal(out["pos_embed_spatial"][0], src["pos_encoding.spatial_pos"])
    assert torch.equal(out["blocks.1.attn.pool_q.weight"], src["blocks.1.attn.pool_q.pool.weight"])
    assert torch.equal(out["blocks.1.attn.norm_q.bias"], src["blocks.1.attn.pool_q.norm_act.0.bias"])
    assert torch.equal(out["blocks.0.mlp.fc2.weight"], src["blocks.0.mlp.3.weight"])
    assert torch.equal(out["head.projection.weight"], src["head.1.weight"])
    ptv = randomise_(ptv_hub.mvit_base_16x4(pretrained=False, patch_embed_dim=WIDTH, spatial_size=CROP,
                                            temporal_size=FRAMES), seed=2).state_dict()
    out = get_mapper("pytorchvideo", "mvit_v1_b_16x4")(ptv, "mvit_v1_b_16x4")
    assert torch.equal(out["blocks.3.attn.qkv.weight"], torch.cat([ptv[f"blocks.3.attn.{p}.weight"] for p in "qkv"]))
    assert torch.equal(out["blocks.3.attn.qkv.bias"], torch.cat([ptv[f"blocks.3.attn.{p}.bias"] for p in "qkv"]))
    assert torch.equal(out["norm.weight"], ptv["norm_embed.weight"])


def test_registered_pairs():
    got = supported()
    assert {"mvit_v1_b_16x4", "mvitv2_s_16x4"} <= set(got["torchvision"])
    assert {"mvit_v1_b_16x4", "mvit_v1_b_32x3"} <= set(got["pytorchvideo"])
    assert {"mvit_v1_b_16x4", "mvit_v1_b_32x3", "mvit_v1_b24_32x3", "mvitv2_s_16x4", "mvitv2_b_32x3"} <= \
        set(got["pyslowfast"])
    assert get_mapper("torchvision", "mvit_v2_s") is get_mapper("torchvision", "mvitv2_s_16x4")  # by alias


def test_pyslowfast_identity_and_the_24_block_yaml():
    with torch.device("meta"):
        own = models.build("mvit_v1_b_32x3").state_dict()
        # PySlowFast's configs/Kinetics/MVIT_B_32x3_CONV.yaml: DEPTH 24 (MViT-B-24), q pooled at 2, 5, 21,
        # no POOL_KVQ_KERNEL (kernels stride + 1), DROPPATH_RATE 0.3: the registered mvit_v1_b24_32x3
        b24 = MViT(400, MVIT_V1_B_16X4, depth=24, num_frames=32, pool_kvq_kernel=None, drop_path_rate=0.3,
                   dim_mul=((2, 2.0), (5, 2.0), (21, 2.0)), head_mul=((2, 2.0), (5, 2.0), (21, 2.0)),
                   pool_q_stride=((2, 1, 2, 2), (5, 1, 2, 2), (21, 1, 2, 2)))
        registered = models.build("mvit_v1_b24_32x3")
    assert registered.config == b24.config
    mapped = get_mapper("pyslowfast", "mvit_v1_b_32x3")(own, "mvit_v1_b_32x3")
    assert list(mapped) == list(own) and all(mapped[k] is own[k] for k in own)
    assert sum(v.numel() for v in b24.state_dict().values()) == 53_115_280
    assert b24.state_dict()["blocks.0.attn.pool_k.weight"].shape == (96, 1, 1, 9, 9)
    with pytest.raises(ConversionError, match=r"24 blocks, mvit_v1_b_32x3 has 16 .*--arch mvit_v1_b24_32x3"):
        get_mapper("pyslowfast", "mvit_v1_b_32x3")(b24.state_dict(), "mvit_v1_b_32x3")
    b24_state = b24.state_dict()
    mapped = get_mapper("pyslowfast", "mvit_v1_b24_32x3")(b24_state, "mvit_v1_b24_32x3")
    assert list(mapped) == list(b24_state)


def test_errors_name_the_problem():
    ref = torchvision_reduced(mvit_v1_b).state_dict()
    with pytest.raises(ConversionError, match=r"MViTv1 .*use --arch mvit_v1_b_16x4"):
        get_mapper("torchvision", "mvitv2_s_16x4")(ref, "mvitv2_s_16x4")
    v2 = torchvision_reduced(mvit_v2_s).state_dict()
    with pytest.raises(ConversionError, match=r"MViTv2 .*use --arch mvitv2_s_16x4"):
        get_mapper("torchvision", "mvit_v1_b_16x4")(v2, "mvit_v1_b_16x4")
    with pytest.raises(ConversionError, match=r"1 source keys have no place.*blocks.2.attn.extra"):
        get_mapper("torchvision", "mvit_v1_b_16x4")({**ref, "blocks.2.attn.extra": torch.zeros(1)}, "mvit_v1_b_16x4")
    with pytest.raises(ConversionError, match=r"not a torchvision MViT state dict"):
        get_mapper("torchvision", "mvit_v1_b_16x4")({"fc.weight": torch.zeros(1)}, "mvit_v1_b_16x4")
    ptv = ptv_hub.mvit_base_16x4(pretrained=False, patch_embed_dim=WIDTH, spatial_size=CROP,
                                 temporal_size=FRAMES).state_dict()
    with pytest.raises(ConversionError, match=r"blocks.4.attn has no v.bias"):
        get_mapper("pytorchvideo", "mvit_v1_b_16x4")({k: v for k, v in ptv.items() if k != "blocks.4.attn.v.bias"},
                                                      "mvit_v1_b_16x4")
    with pytest.raises(ConversionError, match=r"have no place.*head.extra"):
        get_mapper("pytorchvideo", "mvit_v1_b_16x4")({**ptv, "head.extra.weight": torch.zeros(1)}, "mvit_v1_b_16x4")
    with pytest.raises(ConversionError, match=r"not a pytorchvideo MViT state dict"):
        get_mapper("pytorchvideo", "mvit_v1_b_16x4")(ref, "mvit_v1_b_16x4")
    with pytest.raises(ConversionError, match=r"has 4 blocks, mvit_v1_b_16x4 has 16"):
        get_mapper("pytorchvideo", "mvit_v1_b_16x4")(
            {k: v for k, v in ptv.items() if not k.startswith("blocks.") or int(k.split(".")[1]) < 4},
            "mvit_v1_b_16x4")


@pytest.mark.slow
@pytest.mark.parametrize("source, builder, arch, frames", [
    ("torchvision", mvit_v1_b, "mvit_v1_b_16x4", FRAMES), ("torchvision", mvit_v2_s, "mvitv2_s_16x4", FRAMES),
    ("pytorchvideo", ptv_hub.mvit_base_16x4, "mvit_v1_b_16x4", FRAMES),
    ("pytorchvideo", ptv_hub.mvit_base_32x3, "mvit_v1_b_32x3", 2 * FRAMES)])
def test_full_width_logits(source, builder, arch, frames):
    """The references at full width (96 -> 768), 64 px clips, vidlab's default pool-norm eps: the same
    tolerance (measured: torchvision 1.1e-6 / 1.6e-6, pytorchvideo 1.6e-5 / 1.2e-5 of max |logit|)."""
    if source == "torchvision":
        ref = torchvision_reduced(builder, width=96)
    else:
        ref = builder(pretrained=False, spatial_size=CROP, temporal_size=frames)
    err, scale = _logits_error(source, arch, randomise_(ref, seed=1), frames, width=96)
    assert scale > 0.1 and err <= TOL * scale, f"{err:.3g} of {scale:.3g}"
