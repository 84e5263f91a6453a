"""SlowFast family: PySlowFast golden fixtures, sizes, FLOPs, input forms, errors."""

import json

import pytest
import torch

from tests_paths import FIXTURES as FIXTURE_ROOT
from tests_paths import need_shared
from vidlab import models
from vidlab.apps.model_table import count_flops
from vidlab.models.checkpoint import CheckpointError, load_into
from vidlab.models.slowfast import SlowFast, pack_pathways

# Fixture folders (shared/fixtures/README.md) -> vidlab names, restricted to the
# folders shipped (tests/convert/test_pyslowfast.py runs every shipped folder too).
FIXTURE_ARCHS = {
    name: arch
    for name, arch in {
        "slowfast_r50_8x8": "slowfast_r50_8x8",
        "slowfast_r50_4x16": "slowfast_r50_4x16",
        "slowfast_r101_8x8": "slowfast_r101_8x8",
    }.items()
    if (FIXTURE_ROOT / "pyslowfast" / name).exists()
} or {"slowfast_r50_8x8": "slowfast_r50_8x8"}  # without ../shared: one case, skipped with the reason

# Parameters (M) and GFLOPs (multiply-adds, one view) from the PyTorchVideo model
# zoo table, docs/source/model_zoo.md (Kinetics-400), whose views are
# T_fast x 256 x 256 (Slow 8x8 = 54.52 at 8x256x256 fixes the crop).
ZOO = {
    "slowfast_r50_4x16": (34.48, 36.69),
    "slowfast_r50_8x8": (34.57, 65.71),
    "slowfast_r101_8x8": (62.83, 127.20),
    "slowfast_r101_16x8_50_50": (53.77, 215.61),
}


def _folder(fixtures_dir, name):
    return need_shared(fixtures_dir / "pyslowfast" / name)  # fails instead of skipping in CI


def _read_keys(folder):
    rows = (folder / "keys.tsv").read_text().splitlines()[1:]
    return [(k, json.loads(s), d) for k, s, d in (r.split("\t") for r in rows)]


@pytest.mark.parametrize("fixture", sorted(FIXTURE_ARCHS))
def test_state_dict_keys_shapes_and_order_match_pyslowfast(fixtures_dir, fixture):
    keys = _read_keys(_folder(fixtures_dir, fixture))
    with torch.device("meta"):
        model = models.build(FIXTURE_ARCHS[fixture], num_classes=400)
    sd = model.state_dict()
    assert list(sd) == [k for k, _, _ in keys]
    for k, shape, dtype in keys:
        assert list(sd[k].shape) == shape, k
        assert str(sd[k].dtype) == dtype, k


@pytest.mark.parametrize("fixture", sorted(FIXTURE_ARCHS))
def test_logits_match_pyslowfast(fixtures_dir, weight_rule, fixture):
    folder = _folder(fixtures_dir, fixture)
    model = models.build(FIXTURE_ARCHS[fixture], num_classes=400).eval()
    model.load_state_dict({k: weight_rule(k, tuple(v.shape)) for k, v in model.state_dict().items()}, strict=True)
    meta = json.loads((folder / "meta.json").read_text())
    slow_shape, fast_shape = (tuple(s) for s in meta["input_shapes"])
    fast = torch.randn(fast_shape, generator=torch.Generator().manual_seed(0))
    slow = fast.index_select(2, torch.linspace(0, fast_shape[2] - 1, slow_shape[2]).long())
    expected = torch.load(folder / "logits.pt", weights_only=True)["projection"].reshape(1, -1)
    with torch.no_grad():
        logits = model([slow, fast])
        from_one_tensor = model(fast)  # the model packs the pathways itself, with the same rule
    tol = 1e-4 * max(1.0, expected.abs().max().item())
    assert logits.shape == (1, 400)
    assert (logits - expected).abs().max().item() <= tol
    assert torch.equal(from_one_tensor, logits)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_params_and_gflops_match_the_pytorchvideo_zoo(name):
    params_m, gflops = ZOO[name]
    spec = models.get_spec(name)
    with torch.device("meta"):
        model = models.build(name)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == params_m
    measured = count_flops(name, spec.num_frames, 256)
    assert measured is not None and abs(measured - gflops) / gflops < 0.05, measured


def test_registry_names_aliases_and_inputs():
    for alias, name in [("slowfast_r50", "slowfast_r50_8x8"), ("slowfast_r101", "slowfast_r101_8x8"),
                        ("slowfast_16x8_r101_50_50", "slowfast_r101_16x8_50_50"), ("i3d_nln_r50", "i3d_nl_r50")]:
        assert models.get_spec(alias).name == name
    assert {"slowfast_r50_4x16", "slowfast_r101_8x8_50_50", "slowfast_r101_8x8_50_101", "slowfast_r50_8x8_nl"} <= set(
        models.list_models())
    spec = models.get_spec("slowfast_r50_8x8")
    assert (spec.num_frames, spec.sampling_rate, spec.crop_size, spec.test_crop_size) == (32, 2, 224, 256)
    assert spec.mean == (0.45,) * 3 and spec.std == (0.225,) * 3
    assert models.get_spec("slowfast_r101_16x8_50_50").num_frames == 64


def test_variant_structure():
    with torch.device("meta"):
        r50_4x16 = models.build("slowfast_r50_4x16")
        r101_50_101 = models.build("slowfast_r101_8x8_50_101")
        nl = models.build("slowfast_r50_8x8_nl")
    assert r50_4x16.alpha == 8 and r50_4x16.s1_fuse.conv_f2s.stride == (8, 1, 1)
    assert r50_4x16.s1_fuse.conv_f2s.kernel_size == (5, 1, 1)
    # R101 50_101: Slow res4 has temporal kernels in its first 6 blocks, Fast in all 23
    slow_kt = [getattr(r101_50_101.s4, f"pathway0_res{i}").branch2.a.kernel_size[0] for i in range(23)]
    fast_kt = [getattr(r101_50_101.s4, f"pathway1_res{i}").branch2.a.kernel_size[0] for i in range(23)]
    assert slow_kt == [3] * 6 + [1] * 17 and fast_kt == [3] * 23
    keys = list(nl.state_dict())
    assert "s3.pathway0_nonlocal1.conv_theta.weight" in keys and "s4.pathway0_nonlocal5.bn.running_var" in keys
    assert not any("pathway1_nonlocal" in k for k in keys)
    assert nl.s4.pathway0_nonlocal1.instantiation == "dot_product"


def test_pack_pathways_is_pyslowfasts_rule():
    fast = torch.arange(32.0).reshape(1, 1, 32, 1, 1)
    assert pack_pathways(fast, 4)[0].flatten().tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert pack_pathways(fast, 8)[0].flatten().tolist() == [0, 10, 20, 31]
    assert pack_pathways(fast, 4)[1] is fast


def _small(**kw):
    torch.manual_seed(0)
    return SlowFast(7, stage_blocks=(1, 1, 1, 1), width=16, zero_init_final_bn=False, **kw)


@pytest.mark.parametrize("size", [(64, 64), (64, 48)])
def test_one_tensor_or_two_and_any_spatial_size(size):
    model = _small().eval()
    fast = torch.randn(2, 3, 8, *size)
    with torch.no_grad():
        a = model(fast)
        b = model([fast[:, :, [0, 7]], fast])  # alpha 4: linspace(0, 7, 2).long() = [0, 7]
        c = model([fast[:, :, [1, 5]], fast])  # other Slow frames
    assert a.shape == (2, 7)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4  # the Slow input matters


def test_full_size_r50_runs_on_a_small_clip():
    model = models.build("slowfast_r50_8x8", num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 8, 64, 48))
        feats = model.forward_maps(torch.randn(1, 3, 8, 64, 64))
    assert out.shape == (1, 10)
    assert [tuple(f.shape) for f in feats] == [(1, 2048, 2, 2, 2), (1, 256, 8, 2, 2)]


def test_gradients_reach_both_pathways_and_the_fusions():
    model = _small(nonlocal_location=[[[], []], [[0], [0]], [[], []], [[], []]]).train()
    model(torch.randn(2, 3, 8, 32, 32)).logsumexp(-1).sum().backward()
    for name in ("s1.pathway0_stem.conv.weight", "s1.pathway1_stem.conv.weight", "s1_fuse.conv_f2s.weight",
                 "s3_fuse.conv_f2s.weight", "s3.pathway1_nonlocal0.conv_g.weight", "head.projection.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_bad_inputs_give_clear_errors():
    model = _small().eval()
    with torch.no_grad():
        with pytest.raises(ValueError, match="list of 3"):
            model([torch.randn(1, 3, 2, 32, 32)] * 3)
        with pytest.raises(ValueError, match="at least alpha"):
            model(torch.randn(1, 3, 2, 32, 32))
        with pytest.raises(ValueError, match="multiple of"):
            model(torch.randn(1, 3, 30, 32, 32))  # 7 Slow frames, fusion gives 8


def test_wrong_architecture_state_dict_fails_naming_keys():
    with torch.device("meta"):
        r50 = models.build("slowfast_r50_8x8")
        r50_4x16 = models.build("slowfast_r50_4x16")
        r101 = models.build("slowfast_r101_8x8")
        nl = models.build("slowfast_r50_8x8_nl")
    with pytest.raises(CheckpointError, match=r"missing keys \[s4\.pathway0_res6\."):
        load_into(r101, r50.state_dict(), "r50.safetensors")
    with pytest.raises(CheckpointError, match=r"shape mismatch \[s1_fuse\.conv_f2s\.weight \(16, 8, 7, 1, 1\)"):
        load_into(r50_4x16, r50.state_dict(), "r50.safetensors")
    with pytest.raises(CheckpointError, match=r"unexpected keys \[s3\.pathway0_nonlocal1\."):
        load_into(r50, nl.state_dict(), "nl.safetensors")
