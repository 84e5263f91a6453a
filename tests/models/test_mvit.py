"""MViTv2 in PySlowFast's layout: parameter counts, key layout, the fixtures, any input size.

Literal counts below were also checked against PySlowFast's own ``MViT(cfg)`` at
commit 287ec00 (same configs, ``DATA.TRAIN_CROP_SIZE`` as given); the published
figures are 34.5M (S 16x4) and 51.2M (B 32x3).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from vidlab import models
from vidlab.models.mvit import (
    MVITV2_B_32X3,
    MVITV2_S_16X4,
    TABLE_CROP,
    MViT,
    block_plan,
    input_size_for_state,
    resize_rel_pos,
)

# A 4-block network with the v2 rules (q pooled at blocks 1 and 3), for fast runs.
TINY = replace(MVITV2_S_16X4, depth=4, embed_dim=16, dim_mul=((1, 2.0), (3, 2.0)), head_mul=((1, 2.0), (3, 2.0)),
               pool_q_stride=tuple((i, 1, 2, 2) if i in (1, 3) else (i, 1, 1, 1) for i in range(4)), num_frames=8)


def _meta(name: str, **kw) -> torch.nn.Module:
    with torch.device("meta"):
        return models.build(name, num_classes=400, **kw)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _count_from_rules(frames: int, crop: int, pooled: tuple[int, ...], depth: int, classes: int = 400) -> int:
    """The v2 configs' parameter count, from the config rules alone (not from the model): width and
    heads double at each q-pooled block, k/v stride 8 divided by the q strides so far, rel-pos tables
    of 2*max(q, kv)-1 (spatial) and 2*T-1 (temporal) rows at the build grid, conv pools of q/k/v."""
    dim, heads, size, kv, t = 96, 1, crop // 4, 8, frames // 2
    total = 96 + (96 * 3 * 3 * 7 * 7 + 96)  # cls token, patch embedding
    for i in range(depth):
        out, stride = dim, 1
        if i in pooled:
            out, heads, stride, kv = dim * 2, heads * 2, 2, max(kv // 2, 1)
        hd = out // heads
        rows = 2 * max(size // stride, size // kv) - 1
        total += 2 * dim  # norm1
        total += 2 * rows * hd + (2 * t - 1) * hd  # rel_pos_h, rel_pos_w, rel_pos_t
        total += dim * 3 * out + 3 * out + out * out + out  # qkv, attn.proj
        total += 3 * (hd * 27 + 2 * hd)  # pool_q/k/v (depthwise 3x3x3) and their norms
        total += 2 * out + (out * 4 * out + 4 * out) + (4 * out * out + out)  # norm2, mlp
        total += dim * out + out if dim != out else 0  # block proj
        dim, size = out, size // stride
    return total + 2 * dim + dim * classes + classes  # final norm, head


@pytest.mark.parametrize("name, frames, crop, pooled, depth, count", [
    ("mvitv2_s_16x4", 16, 224, (1, 3, 14), 16, 34_537_744),
    ("mvitv2_b_32x3", 32, 224, (2, 5, 21), 24, 51_230_128),
    ("mvitv2_s_16x4", 16, 64, (1, 3, 14), 16, 34_459_024),  # the fixture's meta.json num_parameters
    ("mvitv2_b_32x3", 32, 64, (2, 5, 21), 24, 51_107_248),
])
def test_parameter_counts(name, frames, crop, pooled, depth, count):
    model = _meta(name, crop_size=crop)
    assert _params(model) == count == _count_from_rules(frames, crop, pooled, depth)
    assert model.feature_dim == 768


def test_default_build_sizes_tables_for_the_table_crop():
    """The registered builders: tables for the configs' 224 crop, PySlowFast's published sizes (34.5M / 51.2M)."""
    assert TABLE_CROP == 224
    assert _params(_meta("mvitv2_s_16x4")) == 34_537_744
    assert round(_params(_meta("mvitv2_s_16x4")) / 1e6, 1) == 34.5
    assert round(_params(_meta("mvitv2_b_32x3")) / 1e6, 1) == 51.2
    state = _meta("mvitv2_s_16x4", crop_size=64).state_dict()
    assert _meta("mvitv2_s_16x4").kwargs_for_state(state) == {"crop_size": 64, "num_frames": 16}


def test_b_32x3_key_layout():
    state = _meta("mvitv2_b_32x3", crop_size=224).state_dict()
    keys = list(state)
    assert len(keys) == 589  # PySlowFast's MViT(MVITv2_B_32x3) state_dict
    assert keys[:3] == ["cls_token", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    assert keys[-4:] == ["norm.weight", "norm.bias", "head.projection.weight", "head.projection.bias"]
    assert keys[3:27] == [f"blocks.0.{k}" for k in (
        "norm1.weight", "norm1.bias", "attn.rel_pos_h", "attn.rel_pos_w", "attn.rel_pos_t", "attn.qkv.weight",
        "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "attn.pool_q.weight", "attn.norm_q.weight",
        "attn.norm_q.bias", "attn.pool_k.weight", "attn.norm_k.weight", "attn.norm_k.bias", "attn.pool_v.weight",
        "attn.norm_v.weight", "attn.norm_v.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
        "mlp.fc2.weight", "mlp.fc2.bias")]
    shape = {k: list(v.shape) for k, v in state.items()}
    # width and heads double at blocks 2, 5, 21 (inside attention: DIM_MUL_IN_ATT), head_dim stays 96
    assert [k for k in keys if k.startswith("blocks.") and k.endswith(".proj.weight") and ".attn." not in k] == [
        "blocks.2.proj.weight", "blocks.5.proj.weight", "blocks.21.proj.weight"]
    assert shape["blocks.2.proj.weight"] == [192, 96] and shape["blocks.2.attn.qkv.weight"] == [576, 96]
    assert shape["blocks.21.attn.qkv.weight"] == [2304, 384] and shape["blocks.23.mlp.fc1.weight"] == [3072, 768]
    # tables at 224: grid 56 -> 28 -> 14 -> 7; k/v stride 8, 4, 2, 1; 16 temporal tokens
    assert shape["blocks.0.attn.rel_pos_h"] == [111, 96] and shape["blocks.0.attn.rel_pos_t"] == [31, 96]
    assert shape["blocks.2.attn.rel_pos_w"] == [55, 96] and shape["blocks.5.attn.rel_pos_h"] == [27, 96]
    assert shape["blocks.21.attn.rel_pos_h"] == [27, 96] and shape["blocks.23.attn.rel_pos_h"] == [13, 96]
    assert all(f"blocks.{i}.attn.pool_q.weight" in state for i in range(24))  # every v2 block pools q
    assert shape["blocks.0.attn.pool_k.weight"] == [96, 1, 3, 3, 3]
    assert not any("pos_embed" in k or "gamma" in k for k in keys)
    assert all(v.dtype == torch.float32 for v in state.values())


def test_s_16x4_tables_at_224_match_the_readme():
    shape = {k: list(v.shape) for k, v in _meta("mvitv2_s_16x4", crop_size=224).state_dict().items()}
    assert shape["blocks.0.attn.rel_pos_h"] == [111, 96] and shape["blocks.0.attn.rel_pos_t"] == [15, 96]


def _mvit_fixtures(root):
    return sorted(p for p in (root / "pyslowfast").glob("*")
                  if (p / "meta.json").exists() and json.loads((p / "meta.json").read_text()).get("arch") == "mvit")


def test_block_plan_is_pyslowfasts(fixtures_dir):
    folders = _mvit_fixtures(fixtures_dir)
    assert folders, "no MViT fixture"
    for path in folders:
        meta = json.loads((path / "meta.json").read_text())
        crop = meta["input_shapes"][0][-1]
        model = _meta(meta["model"], crop_size=crop)
        want = [(b["dim_in"], b["dim_out"], b["num_heads"], b["stride_q"], b["stride_kv"], b["kernel_q"],
                 b["kernel_kv"]) for b in meta["mvit"]["blocks"]]
        got = [(p.dim, p.dim_out, p.num_heads, list(p.stride_q), list(p.stride_kv), list(p.kernel_q),
                list(p.kernel_kv)) for p in block_plan(model.config)]
        assert got == want, path.name


def test_fixture_logits_loaded_directly(fixtures_dir, weight_rule):
    """Every MViT fixture: build by name, load the weight rule's tensors strictly, compare the
    projection (the pre-softmax logits). Also checked through `vidlab convert` in tests/convert."""
    for path in _mvit_fixtures(fixtures_dir):
        meta = json.loads((path / "meta.json").read_text())
        keys = [line.split("\t") for line in (path / "keys.tsv").read_text().splitlines()[1:]]
        crop = meta["config_overrides"].get("DATA.TRAIN_CROP_SIZE", 224)
        model = models.build(meta["model"], num_classes=meta["num_classes"], crop_size=crop).eval()
        model.load_state_dict({k: weight_rule(k, tuple(json.loads(s))) for k, s, _ in keys}, strict=True)
        x = torch.randn(tuple(meta["input_shapes"][0]), generator=torch.Generator().manual_seed(0))
        ref = torch.load(path / "logits.pt", weights_only=True)["projection"].reshape(1, -1)
        with torch.no_grad():
            got = model([x])
            features = model.forward_features(x)
        assert features.shape == (1, model.feature_dim)
        assert (got - ref).abs().max().item() <= 1e-4 * max(1.0, ref.abs().max().item()), path.name


@pytest.mark.parametrize("shape", [(2, 3, 8, 32, 32), (1, 3, 8, 64, 64), (1, 3, 4, 48, 40), (1, 3, 12, 100, 68),
                                   (1, 3, 2, 8, 8), (1, 3, 16, 20, 36)])
def test_any_input_size_runs(shape):
    torch.manual_seed(0)
    model = MViT(7, TINY, crop_size=64).eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == (shape[0], 7) and torch.isfinite(out).all()


def test_other_sizes_resize_the_tables_linearly():
    """The rule: a model whose tables were made for 64 px / 8 frames, run at 32 px / 4 frames, computes
    what a model built for 32 px / 4 frames computes with the tables linearly resized to its rows."""
    torch.manual_seed(0)
    big = MViT(5, TINY, crop_size=64).eval()
    small = MViT(5, TINY, crop_size=32, num_frames=4).eval()
    state = {}
    for k, v in big.state_dict().items():
        rows = small.state_dict()[k].shape[0] if "rel_pos" in k else None
        state[k] = resize_rel_pos(v, rows) if rows is not None else v
    small.load_state_dict(state)
    assert small.state_dict()["blocks.0.attn.rel_pos_h"].shape[0] < big.state_dict()["blocks.0.attn.rel_pos_h"].shape[0]
    x = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(big(x), small(x), rtol=1e-6, atol=1e-6)
    table = big.blocks[0].attn.rel_pos_h
    assert resize_rel_pos(table, table.shape[0]) is table  # at the build size nothing is resized


def test_input_size_for_state_rebuilds_the_layout():
    for name, crop, frames in [("mvitv2_s_16x4", 224, 16), ("mvitv2_b_32x3", 64, 32), ("mvitv2_s_16x4", 32, 16)]:
        model = _meta(name, crop_size=crop)
        state = model.state_dict()
        kw = input_size_for_state(state, model.config)
        assert kw == {"crop_size": crop, "num_frames": frames}
        again = _meta(name, **kw).state_dict()
        assert [(k, v.shape) for k, v in again.items()] == [(k, v.shape) for k, v in state.items()]


def test_determinism_and_training_mode():
    torch.manual_seed(3)
    a = MViT(5, TINY)
    torch.manual_seed(3)
    b = MViT(5, TINY)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    x = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))
    a.eval()
    with torch.no_grad():
        assert torch.equal(a(x), a(x)) and torch.equal(a(x), b.eval()(x))
    a.train()  # drop path (linear to 0.2) and head dropout are active
    torch.manual_seed(0)
    y1 = a(x)
    torch.manual_seed(0)
    y2 = a(x)
    assert torch.equal(y1, y2)
    y1.sum().backward()
    for name in ("cls_token", "blocks.0.attn.rel_pos_h", "blocks.0.attn.rel_pos_t", "blocks.1.attn.pool_q.weight"):
        assert a.get_parameter(name).grad is not None and a.get_parameter(name).grad.abs().sum() > 0, name


def test_registry_entries_and_the_torchvision_alias():
    for name, frames, rate in [("mvitv2_s_16x4", 16, 4), ("mvitv2_b_32x3", 32, 3)]:
        spec = models.get_spec(name)
        assert (spec.family, spec.num_frames, spec.sampling_rate, spec.crop_size, spec.test_crop_size) == (
            "mvit", frames, rate, 224, 224)
        assert spec.mean == (0.45,) * 3 and spec.std == (0.225,) * 3
    # torchvision's builder name is an alias (its key layout is the torchvision converter's business)
    assert models.get_spec("mvit_v2_s").name == "mvitv2_s_16x4"


def test_overrides_from_json_sidecars():
    """``model_kwargs`` come back from JSON as lists; they give the same model."""
    kw = json.loads(json.dumps({"crop_size": 224, "pool_kv_stride_adaptive": [1, 8, 8],
                                "dim_mul": [[1, 2.0], [3, 2.0], [14, 2.0]]}))
    a, b = _meta("mvitv2_s_16x4", **kw), _meta("mvitv2_s_16x4", crop_size=224)
    assert a.config == b.config
    assert MVITV2_B_32X3.depth == 24 and a.config.depth == 16


def test_a_depth_the_per_block_settings_do_not_fit_is_refused_at_build_time():
    with pytest.raises(ValueError, match=r"MViT depth 1: dim_mul names block\(s\) \[3, 14\] past the last one"):
        models.build("mvitv2_s_16x4", num_classes=4, depth=1)
