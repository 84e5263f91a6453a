"""MViTv1-B (mvit_v1_b_16x4 / mvit_v1_b_32x3): parameter counts, block plan, key layout, aliases, any input.

Published sizes: torchvision's ``MViT_V1_B_Weights.KINETICS400_V1.meta["num_params"]`` is
36,610,672; pytorchvideo's model zoo lists 36.61M for both MVIT_B_16x4 and MVIT_B_32x3.
torchvision's builder is counted live here (on the meta device); pytorchvideo's, which
cannot be built on the meta device, in tests/convert/test_mvit_sources.py.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models.video import MViT_V1_B_Weights, mvit_v1_b, mvit_v2_s

from vidlab import models
from vidlab.models.mvit import MVIT_V1_B_16X4, MVIT_V1_B_32X3, MVITV2_S_16X4, MViT, block_plan, input_size_for_state


def _meta(name: str, **kw) -> torch.nn.Module:
    with torch.device("meta"):
        return models.build(name, num_classes=400, **kw)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _v1_count_from_rules(frames: int, crop: int = 224, classes: int = 400) -> int:
    """MViTv1-B's count from the config rules alone: width/heads double at blocks 1, 3, 14 (the
    width grows at the *end* of the block before: its MLP and ``proj`` output the new width), q/k/v
    depthwise 3x3x3 pools (q only where q is strided), separable absolute position embeddings."""
    t, hw = frames // 2, (crop // 4) ** 2
    total = 96 + (96 * 3 * 3 * 7 * 7 + 96) + hw * 96 + t * 96 + 96  # cls token, stem, spatial/temporal/cls pos
    dim, heads = 96, 1
    for i in range(16):
        if i in (1, 3, 14):
            heads *= 2
        out = dim * 2 if i + 1 in (1, 3, 14) else dim
        hd = dim // heads
        total += 2 * dim + (dim * 3 * dim + 3 * dim) + (dim * dim + dim)  # norm1, qkv, attn.proj
        total += (3 if i in (1, 3, 14) else 2) * (hd * 27 + 2 * hd)  # pools and their norms
        total += 2 * dim + (dim * 4 * dim + 4 * dim) + (4 * dim * out + out)  # norm2, mlp
        total += dim * out + out if dim != out else 0  # proj
        dim = out
    return total + 2 * dim + dim * classes + classes


def test_parameter_counts_equal_the_references():
    v1_16, v1_32 = _params(_meta("mvit_v1_b_16x4")), _params(_meta("mvit_v1_b_32x3"))
    with torch.device("meta"):
        tv = _params(mvit_v1_b())
    assert v1_16 == tv == MViT_V1_B_Weights.KINETICS400_V1.meta["num_params"] == 36_610_672
    assert v1_16 == _v1_count_from_rules(16)
    # pytorchvideo's mvit_base_16x4 / mvit_base_32x3 (counted live in tests/convert/test_mvit_sources.py)
    assert v1_32 == _v1_count_from_rules(32) == 36_611_440
    assert v1_32 - v1_16 == 8 * 96  # eight more temporal embedding rows
    assert round(v1_16 / 1e6, 2) == round(v1_32 / 1e6, 2) == 36.61


def _torchvision_plan(builder) -> list[tuple]:
    """(heads, in, out, kernel_q, kernel_kv, stride_q, stride_kv) per block of a torchvision MViT."""
    with torch.device("meta"):
        net = builder()
    rows = []
    for b in net.blocks:
        a = b.attn
        q = a.pool_q.pool if a.pool_q is not None else None
        kv = a.pool_k.pool if a.pool_k is not None else None
        rows.append((a.num_heads, b.norm1.normalized_shape[0], b.mlp[3].out_features,
                     tuple(q.kernel_size) if q else (), tuple(kv.kernel_size) if kv else (),
                     tuple(q.stride) if q else (), tuple(kv.stride) if kv else ()))
    return rows


@pytest.mark.parametrize("config, builder", [(MVIT_V1_B_16X4, mvit_v1_b), (MVITV2_S_16X4, mvit_v2_s)])
def test_block_plan_is_torchvisions(config, builder):
    want = _torchvision_plan(builder)

    def drop_unit(kernel, stride):  # no pooling where kernel and stride are both 1x1x1
        return ((), ()) if kernel == stride == (1, 1, 1) else (kernel, stride)

    got = []
    for p in block_plan(config):
        kq, sq = drop_unit(tuple(p.kernel_q), tuple(p.stride_q))
        kkv, skv = drop_unit(tuple(p.kernel_kv), tuple(p.stride_kv))
        got.append((p.num_heads, p.dim, p.dim_out, kq, kkv, sq, skv))
    assert got == want


def test_v1_key_layout():
    state = _meta("mvit_v1_b_16x4").state_dict()
    keys, shape = list(state), {k: list(v.shape) for k, v in state.items()}
    assert keys[:7] == ["cls_token", "pos_embed_spatial", "pos_embed_temporal", "pos_embed_class",
                        "patch_embed.proj.weight", "patch_embed.proj.bias", "blocks.0.norm1.weight"]
    assert shape["pos_embed_spatial"] == [1, 56 * 56, 96] and shape["pos_embed_temporal"] == [1, 8, 96]
    assert shape["pos_embed_class"] == [1, 1, 96] and shape["cls_token"] == [1, 1, 96]
    assert not any("rel_pos" in k for k in keys)
    assert [i for i in range(16) if f"blocks.{i}.attn.pool_q.weight" in state] == [1, 3, 14]
    assert all(f"blocks.{i}.attn.pool_k.weight" in state for i in range(16))  # k/v pooled everywhere
    assert shape["blocks.0.attn.pool_k.weight"] == [96, 1, 3, 3, 3]
    # the width grows at the end of blocks 0, 2, 13 (MLP output and proj), heads at 1, 3, 14
    assert [k for k in keys if k.endswith(".proj.weight") and ".attn." not in k and k.startswith("blocks.")] == [
        "blocks.0.proj.weight", "blocks.2.proj.weight", "blocks.13.proj.weight"]
    assert shape["blocks.0.mlp.fc2.weight"] == [192, 384] and shape["blocks.0.attn.qkv.weight"] == [288, 96]
    assert shape["blocks.15.attn.qkv.weight"] == [2304, 768] and shape["head.projection.weight"] == [400, 768]
    assert len(keys) == 313  # torchvision's mvit_v1_b has 313 keys too (renamed by the converter)
    assert _meta("mvit_v1_b_32x3").state_dict()["pos_embed_temporal"].shape == (1, 16, 96)  # 32 frames / 2
    assert model_norm_eps(_meta("mvit_v1_b_16x4")) == {1e-6}
    assert model_norm_eps(_meta("mvit_v1_b_16x4", pool_norm_eps=1e-5)) == {1e-5}


def model_norm_eps(model: MViT) -> set[float]:
    return {m.eps for name, m in model.named_modules() if name.split(".")[-1] in ("norm_q", "norm_k", "norm_v")}


def test_configs_are_the_papers_and_pyslowfasts():
    c = MVIT_V1_B_16X4
    assert (c.use_abs_pos, c.sep_pos_embed, c.cls_embed, c.pool_first, c.separate_qkv, c.mode) == (
        True, True, True, False, False, "conv")
    assert (c.rel_pos_spatial, c.rel_pos_temporal, c.residual_pooling, c.dim_mul_in_att) == (False,) * 4
    assert (c.patch_kernel, c.patch_stride, c.patch_padding, c.pool_kvq_kernel) == (
        (3, 7, 7), (2, 4, 4), (1, 3, 3), (3, 3, 3))
    assert (c.drop_path_rate, c.dropout, c.num_frames, MVIT_V1_B_32X3.num_frames) == (0.2, 0.5, 16, 32)
    assert [p.stride_kv for p in block_plan(c)][::5] == [(1, 8, 8), (1, 2, 2), (1, 2, 2), (1, 1, 1)]


def test_registry_entries_and_aliases():
    for name, frames, rate in [("mvit_v1_b_16x4", 16, 4), ("mvit_v1_b_32x3", 32, 3)]:
        spec = models.get_spec(name)
        assert (spec.family, spec.num_frames, spec.sampling_rate, spec.crop_size, spec.test_crop_size) == (
            "mvit", frames, rate, 224, 224)
        assert spec.mean == (0.45,) * 3 and spec.std == (0.225,) * 3
    aliases = models.list_aliases()
    assert {a: aliases[a] for a in ("mvit_v1_b", "mvit_base_16x4", "mvit_base_32x3", "mvit_v2_s")} == {
        "mvit_v1_b": "mvit_v1_b_16x4", "mvit_base_16x4": "mvit_v1_b_16x4", "mvit_base_32x3": "mvit_v1_b_32x3",
        "mvit_v2_s": "mvitv2_s_16x4"}
    assert models.get_spec("MViT_V1_B").name == "mvit_v1_b_16x4"


def test_input_size_for_state_reads_the_absolute_tables():
    for name, crop, frames in [("mvit_v1_b_16x4", 224, 16), ("mvit_v1_b_32x3", 224, 32), ("mvit_v1_b_16x4", 64, 8)]:
        model = _meta(name, crop_size=crop, num_frames=frames)
        state = model.state_dict()
        assert model.kwargs_for_state(state) == {"crop_size": crop, "num_frames": frames}
        assert [(k, v.shape) for k, v in _meta(name, crop_size=crop, num_frames=frames).state_dict().items()] == [
            (k, v.shape) for k, v in state.items()]
    joint = _meta("mvit_v1_b_16x4", sep_pos_embed=False, crop_size=96)
    assert joint.state_dict()["pos_embed"].shape == (1, 1 + 8 * 24 * 24, 96)
    assert input_size_for_state(joint.state_dict(), joint.config) == {"crop_size": 96}
    assert input_size_for_state({"pos_embed_spatial": torch.empty(1, 10, 96)}, MVIT_V1_B_16X4) == {}  # not square


# 16 blocks with MViTv1-B's rules at width 8 (heads 1 -> 8, head_dim 8), for fast runs
SMALL = {"embed_dim": 8, "crop_size": 64, "num_frames": 8}


@pytest.mark.parametrize("shape", [(2, 3, 8, 64, 64), (1, 3, 4, 32, 32), (1, 3, 6, 48, 40), (1, 3, 2, 8, 8)])
def test_any_input_size_runs(shape):
    torch.manual_seed(0)
    model = models.build("mvit_v1_b_16x4", num_classes=7, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == (shape[0], 7) and torch.isfinite(out).all()


def test_absolute_embeddings_resize_trilinearly():
    """At the build grid the separable embedding is ``temporal[t] + spatial[h, w]`` (cls first); at another
    grid it is that tensor resized trilinearly, the cls row unchanged (PySlowFast's ``_get_pos_embed``)."""
    torch.manual_seed(0)
    model = models.build("mvit_v1_b_16x4", num_classes=3, **SMALL)
    t, h, w = model.patch_dims
    sp, tp = model.pos_embed_spatial.detach(), model.pos_embed_temporal.detach()
    grid = (tp[0][:, None, :] + sp[0][None, :, :]).reshape(1, t * h * w, -1)
    with torch.no_grad():
        full = model._abs_pos([t, h, w])
        torch.testing.assert_close(full, torch.cat((model.pos_embed_class, grid), 1), rtol=0, atol=0)
        small = model._abs_pos([2, 5, 3])
        want = torch.nn.functional.interpolate(grid.reshape(1, t, h, w, -1).permute(0, 4, 1, 2, 3), size=(2, 5, 3),
                                               mode="trilinear").flatten(2).transpose(1, 2)
    assert small.shape == (1, 1 + 30, 8)
    torch.testing.assert_close(small[:, 1:], want)
    torch.testing.assert_close(small[:, :1], model.pos_embed_class)


def test_training_mode_gradients_reach_the_embeddings():
    torch.manual_seed(0)
    model = models.build("mvit_v1_b_16x4", num_classes=3, **SMALL).train()
    model(torch.randn(2, 3, 8, 64, 64)).sum().backward()
    for name in ("cls_token", "pos_embed_spatial", "pos_embed_temporal", "pos_embed_class",
                 "blocks.1.attn.pool_q.weight", "blocks.0.attn.pool_k.weight"):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


# PySlowFast 287ec00's own MViT (slowfast.models.video_model_builder.MViT, unmodified) built from
# configs/Kinetics/MVIT_B_32x3_CONV.yaml with DATA.TRAIN_CROP_SIZE / TEST_CROP_SIZE 64, every tensor set by the
# shared fixture weight rule (tests/conftest.py::fixture_tensor), input torch.randn((1, 3, 32, 64, 64),
# Generator().manual_seed(0)), eval mode, float64: the pre-activation head.projection output (first 8 of 400,
# their sum and norm), and the sha256 of its state-dict listing ("key<TAB>[shape]<TAB>dtype" lines, the
# fixtures' keys.tsv form). Generated on 2026-12-07 by the same procedure that rebuilds the shared
# mvitv2_s_16x4 fixture bit for bit (keys, weights' checksums, logits).
B24_KEYS_SHA256 = "156c7b48c36485ac29eba4a233bc5fef3375a921711ac5765840629a1907a51c"
B24_FIRST = [-0.14073246782345916, -0.6920118040746781, -0.02346441028801899, -1.2754088701920812,
             -0.8830574293689044, -1.1611063847411225, 0.3855853545443221, -1.970744145662847]
B24_SUM, B24_NORM, B24_ARGMAX = 10.530995815152826, 20.521897842718833, 47


def test_mvit_b24_equals_pyslowfasts_mvit_b_32x3_conv(weight_rule):
    import hashlib
    import json

    model = models.build("mvit_v1_b24_32x3", num_classes=400, crop_size=64).eval()
    listing = "\n".join(f"{k}\t{json.dumps(list(v.shape))}\t{v.dtype}" for k, v in model.state_dict().items())
    assert hashlib.sha256(listing.encode()).hexdigest() == B24_KEYS_SHA256  # PySlowFast's names, shapes, order
    assert len(model.state_dict()) == 439 and _params(model) == 52_838_800
    assert _params(_meta("mvit_v1_b24_32x3")) == 53_115_280  # at 224 px (PySlowFast's count at that crop)
    model.load_state_dict({k: weight_rule(k, tuple(v.shape)) for k, v in model.state_dict().items()}, strict=True)
    x = torch.randn((1, 3, 32, 64, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = model(x).double().reshape(-1)
    tol = 1e-4 * max(1.0, got.abs().max().item())
    assert (got[:8] - torch.tensor(B24_FIRST, dtype=torch.float64)).abs().max().item() <= tol
    assert abs(got.sum().item() - B24_SUM) <= 400 * tol and abs(got.norm().item() - B24_NORM) <= 20 * tol
    assert int(got.argmax()) == B24_ARGMAX
