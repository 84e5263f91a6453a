"""MMAction2 checkpoints through `vidlab convert --from mmaction2`: same logits as MMAction2, refusals.

The goldens are MMAction2 1.2.0's own logits (``cls_head(backbone(x))``, eval
mode) for its recognizers built from its configs, every tensor set by the
fixture weight rule applied to the MMAction2 key, on ``reference_input``.
``tests/mmaction_ref.py`` regenerates them (and checks that
``mmaction2_keys`` lists exactly MMAction2's state_dict keys and shapes).
"""

import json
import re

import pytest
import torch
import torch.nn.functional as F

import vidlab.convert  # noqa: F401  (registers the converters)
from mmaction_ref import MMA_REFERENCES, NUM_CLASSES, REFERENCES, mmaction2_keys, reference_input
from vidlab import models
from vidlab.apps.cli import main
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.convert.core import convert, infer_num_classes
from vidlab.convert.mmaction2 import BARE_LATERAL_ARCHS, NOT_CONVERTED, PREPROCESSING

# python tests/mmaction_ref.py (MMAction2 1.2.0, mmcv-lite 2.1.0, mmengine 0.10.7, torch 2.14.1, CPU, 2 threads);
# fp32 vs fp64 in MMAction2: <= 1.3e-6 for every model.
GOLDEN = {
    "slowonly_r50": [-2.6424472, 1.3523023, 0.051724255, 2.9163117, -1.4275309, -1.799665, 0.16024415],
    "slowfast_r50_8x8_lateral_norm": [-2.2733188, 1.4114751, 0.10813779, 1.878436, 2.2426429, -3.3398335, 0.44586766],
    "slowfast_r50_4x16_lateral_norm": [-0.69352746, 0.5476898, -0.25329858, 1.5106429, 2.0183117, -1.8507289,
                                       -0.53090096],
    "x3d_s": [0.30400181, -0.38317952, 0.66718298, 0.50378692, 0.17554529, 0.58535963, 0.29243174],
    "x3d_l": [0.1590438, -0.43302318, 0.91482699, 0.53894806, 1.3457919, 0.461247, 0.77500218],
    "c3d": [0.1040258, -0.15839951, 0.067429423, -0.036271304, -0.04806786, -0.063226327, -0.2254931],
}

CASES = [(name, arch) for name, ref in REFERENCES.items() for arch in ref.archs]

# MMAction2 recognizers that convert onto the `_mmaction2` architectures (MMAction2's I3D and its default
# SlowFast with bare laterals: mmaction_ref.MMA_REFERENCES), with their goldens: MMAction2 1.2.0's logits, as
# tests/mmaction_ref.py prints them (MMA_GOLDEN; same versions, CPU, 2 threads; fp32 vs fp64 <= 2.0e-6).
MMA_ARCHS = {name: ref.archs[0] for name, ref in MMA_REFERENCES.items()}
MMA_GOLDEN = {
    "i3d_r50": [-2.3530743, 1.7711557, 0.74496472, 3.2612364, -1.8989596, -2.8141091, -0.088632852],
    "slowfast_r50_8x8": [-2.1659973, 0.98292184, 0.3481099, 1.5683588, 1.8273946, -3.007653, 0.1850508],
    "slowfast_r50_4x16": [-0.83626521, 0.80398369, 0.48521501, 1.6781002, 1.9871747, -1.5259197, -1.3440161],
}

# What MMAction2's runner writes under "meta" (mmengine Runner.save_checkpoint; publish_model.py keeps it).
META = {"epoch": 256, "iter": 240000, "cfg": "model = dict(type='Recognizer3D', ...)", "seed": 0,
        "experiment_name": "slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb", "time": "20220901_000000",
        "mmengine_version": "0.10.7", "dataset_meta": {"classes": ("a", "b", "c")}}


def _mmaction2_state(name, weight_rule):
    return {k: weight_rule(k, shape) for k, shape in mmaction2_keys(name)}


def _save(tmp_path, state, name="ckpt"):
    path = tmp_path / f"{name}.pth"
    torch.save({"meta": META, "state_dict": state}, path)
    return path


def _vidlab_input(model, x):
    # MMAction2's SlowFast takes Slow frames x[:, :, ::alpha] (nearest interpolation); vidlab's one-tensor
    # rule is PySlowFast's linspace, so feed both pathways explicitly.
    alpha = getattr(model, "alpha", None)
    return [x[:, :, ::alpha], x] if alpha else x


def _assert_golden(model, name, references=REFERENCES, golden=GOLDEN):
    x = reference_input(references[name].input_shape)
    with torch.no_grad():
        got = model(_vidlab_input(model, x))
    ref = torch.tensor([golden[name]])
    assert got.shape == ref.shape == (1, NUM_CLASSES)
    err = (got - ref).abs().max().item()
    assert err <= 1e-5 * max(1.0, ref.abs().max().item()), err


@pytest.mark.parametrize("name,arch", CASES)
def test_converted_checkpoint_computes_mmaction2_logits(name, arch, weight_rule, tmp_path):
    state = _mmaction2_state(name, weight_rule)
    model, info = convert("mmaction2", arch, _save(tmp_path, state))
    assert info["unwrapped"] == "state_dict" and info["num_classes"] == NUM_CLASSES
    assert "filled_num_batches_tracked" not in info  # MMAction2 saves them: every vidlab key came from the file
    _assert_golden(model, name)


def test_vidlab_convert_command(weight_rule, tmp_path, capsys):
    state = _mmaction2_state("slowfast_r50_8x8_lateral_norm", weight_rule)
    src = _save(tmp_path, state, "slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb_20220818-1cb6dfc8")
    try:
        main(["convert", "--from", "mmaction2", "--arch", "slowfast_r50_8x8", str(src), str(tmp_path / "ck"), "--json"])
    except SystemExit as e:
        assert e.code in (0, None), capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "mmaction2" and out["num_classes"] == NUM_CLASSES
    model = models.load(tmp_path / "ck")
    _assert_golden(model, "slowfast_r50_8x8_lateral_norm")


@pytest.mark.parametrize("name,arch", [("slowonly_r50", "slow_r50_8x8"), ("slowfast_r50_4x16_lateral_norm",
                                                                          "slowfast_r50_4x16"),
                                       ("x3d_s", "x3d_s"), ("c3d", "c3d")])
def test_classifier_sets_num_classes(name, arch):
    state = {k: torch.zeros(shape) for k, shape in mmaction2_keys(name)}
    mapped = get_mapper("mmaction2", arch)(state, arch)
    assert infer_num_classes(arch, mapped) == NUM_CLASSES
    assert len(mapped) == len(state)  # nothing dropped, nothing invented


def test_slowfast_r101_loads_strictly():
    # No golden (MMAction2's own R101 config has fusion kernel 7, vidlab's slowfast_r101_8x8 PySlowFast's 5):
    # the R101 mapping is the R50 code path; here its keys and shapes are checked against the vidlab model.
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("slowfast_r101_8x8_lateral_norm_k5")}
    mapped = get_mapper("mmaction2", "slowfast_r101_8x8")(state, "slowfast_r101_8x8")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in models.build("slowfast_r101_8x8", num_classes=NUM_CLASSES)
                    .state_dict().items()}
    assert {k: tuple(v.shape) for k, v in mapped.items()} == expected


def test_slowfast_classifier_columns_are_reordered():
    state = {k: torch.zeros(shape) for k, shape in mmaction2_keys("slowfast_r50_8x8_lateral_norm")}
    w = torch.arange(NUM_CLASSES * 2304, dtype=torch.float32).reshape(NUM_CLASSES, 2304)
    state["cls_head.fc_cls.weight"] = w
    mapped = get_mapper("mmaction2", "slowfast_r50_8x8")(state, "slowfast_r50_8x8")
    # SlowFastHead: [fast 256 | slow 2048]; vidlab: [slow 2048 | fast 256]
    torch.testing.assert_close(mapped["head.projection.weight"], torch.cat([w[:, 256:], w[:, :256]], 1))


def test_registered_architectures():
    assert supported()["mmaction2"] == sorted([
        "c3d", "slow_r50_4x16", "slow_r50_8x8", "slowfast_r101_8x8", "slowfast_r50_4x16", "slowfast_r50_8x8",
        "x3d_l", "x3d_m", "x3d_s", "x3d_xs", "videomae_vit_s_16x4", "videomae_vit_b_16x4", "videomae_vit_l_16x4",
        "swin3d_t", "swin3d_s", "swin3d_b", "i3d_r50_mmaction2", "slowfast_r50_4x16_mmaction2",
        "slowfast_r50_8x8_mmaction2"])
    assert set(PREPROCESSING) == set(supported()["mmaction2"])
    for arch in set(NOT_CONVERTED) & set(models.list_models()):  # those whose modules are registered
        with pytest.raises(ConversionError, match="no mmaction2 converter"):
            get_mapper("mmaction2", arch)


def test_mmaction2_i3d_is_refused_as_slow_naming_the_key(weight_rule, tmp_path, capsys):
    # Same key names as SlowOnly, but a 5x7x7 stem and other temporal kernels: the strict load names them.
    path = _save(tmp_path, {k: torch.zeros(s) for k, s in mmaction2_keys("i3d_r50")}, "i3d")
    code = 0
    try:
        main(["convert", "--from", "mmaction2", "--arch", "slow_r50_8x8", str(path), str(tmp_path / "x")])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("vidlab: error:")
    assert "s1.pathway0_stem.conv.weight (64, 3, 5, 7, 7) vs (64, 3, 1, 7, 7)" in err[0]
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("name,arch,key", [
    ("x3d_s", "slow_r50_8x8", "backbone.conv1_s.conv.weight"),  # another family
    ("slowonly_r50", "slowfast_r50_8x8", "backbone.conv1.conv.weight"),  # single pathway as SlowFast
    ("slowfast_r50_8x8_lateral_norm", "slow_r50_8x8", "backbone.slow_path.conv1.conv.weight"),
    ("c3d", "x3d_s", "backbone.conv1a.conv.weight"),
])
def test_wrong_family_names_source_keys(name, arch, key):
    state = {k: torch.zeros(s) for k, s in mmaction2_keys(name)}
    with pytest.raises(ConversionError, match="source keys have no place") as e:
        get_mapper("mmaction2", arch)(state, arch)
    assert key in str(e.value)


def test_slowfast_without_lateral_bn_is_refused_by_the_bn_lateral_archs():
    # MMAction2's zoo SlowFast 4x16 / 8x8 / R101: lateral_norm=False, bare lateral convs; they convert onto the
    # _mmaction2 archs only.
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("slowfast_r50_8x8")}
    for arch in ("slowfast_r50_8x8", "slowfast_r50_4x16"):
        with pytest.raises(ConversionError, match=r"lateral_norm=False.*backbone\.slow_path\.conv1_lateral.*"
                                                  rf"--arch {arch}_mmaction2"):
            get_mapper("mmaction2", arch)(state, arch)
    with pytest.raises(ConversionError, match="lateral_norm=False.*no vidlab architecture has bare laterals"):
        get_mapper("mmaction2", "slowfast_r101_8x8")(state, "slowfast_r101_8x8")
    # and a lateral_norm=True checkpoint aimed at a bare-lateral arch names the BN-lateral one
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("slowfast_r50_8x8_lateral_norm")}
    with pytest.raises(ConversionError, match=r"lateral_norm=True.*--arch slowfast_r50_8x8$"):
        get_mapper("mmaction2", "slowfast_r50_8x8_mmaction2")(state, "slowfast_r50_8x8_mmaction2")


def test_nonlocal_blocks_are_refused():
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("slowonly_r50")}
    state["backbone.layer3.1.non_local_block.g.conv.weight"] = torch.zeros(512, 1024, 1, 1, 1)
    with pytest.raises(ConversionError, match="non-local.*max-pool phi and g after"):
        get_mapper("mmaction2", "slow_r50_8x8")(state, "slow_r50_8x8")


def test_every_unknown_key_is_reported():
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("x3d_s")}
    state["cls_head.fc1.bias"] = torch.zeros(2048)  # X3DHead(fc1_bias=True)
    with pytest.raises(ConversionError, match="fc1.bias.*no bias"):
        get_mapper("mmaction2", "x3d_s")(state, "x3d_s")
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("c3d")}
    state["neck.fc.weight"] = torch.zeros(3, 3)
    with pytest.raises(ConversionError, match=r"1 source keys have no place in the model: \[neck.fc.weight\]"):
        get_mapper("mmaction2", "c3d")(state, "c3d")


def test_data_preprocessor_constants_are_not_weights():
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("slowonly_r50")}
    n = len(state)
    state["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)
    state["data_preprocessor.std"] = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1)
    assert len(get_mapper("mmaction2", "slow_r50_8x8")(state, "slow_r50_8x8")) == n
    state["data_preprocessor.std"] = torch.zeros(5)
    with pytest.raises(ConversionError, match="data_preprocessor.std"):
        get_mapper("mmaction2", "slow_r50_8x8")(state, "slow_r50_8x8")


def test_goldens_against_live_mmaction2(weight_rule):
    """Only where MMAction2 imports (see tests/mmaction_ref.py): the goldens are its output."""
    from mmaction_ref import _import_mmaction, run_reference

    try:
        _import_mmaction()
    except Exception as e:  # noqa: BLE001  (not installed, or an mmcv it refuses: it asserts mmcv < 2.2.0)
        pytest.skip(f"MMAction2 not importable ({type(e).__name__}); the goldens are stored inline")

    for name, ref in REFERENCES.items():
        _, _, logits, _ = run_reference(name, ref, weight_rule)
        torch.testing.assert_close(logits, torch.tensor([GOLDEN[name]]), rtol=0, atol=1e-5)
    for name, ref in MMA_REFERENCES.items():
        _, _, logits, _ = run_reference(name, ref, weight_rule)
        torch.testing.assert_close(logits, torch.tensor([MMA_GOLDEN[name]]), rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------
# MMAction2's I3D (stem temporal strides) and default SlowFast (bare laterals): the `_mmaction2` archs.

def _to_mmaction2_key(key: str, prefix: str) -> str:
    """vidlab (PySlowFast-layout) key -> MMAction2 ResNet3d key, from MMAction2's module names (written apart
    from the converter: the inverse mapping). ``prefix``: ``backbone.`` or ``backbone.{slow,fast}_path.``."""
    if m := re.fullmatch(r"s1\.pathway\d_stem\.(conv|bn)\.(\w+)", key):
        return f"{prefix}conv1.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"s(\d)\.pathway\d_res(\d+)\.branch2\.([abc])(_bn)?\.(\w+)", key):
        return f"{prefix}layer{int(m[1]) - 1}.{m[2]}.conv{'abc'.index(m[3]) + 1}.{'bn' if m[4] else 'conv'}.{m[5]}"
    if m := re.fullmatch(r"s(\d)\.pathway\d_res(\d+)\.branch1(_bn)?\.(\w+)", key):
        return f"{prefix}layer{int(m[1]) - 1}.{m[2]}.downsample.{'bn' if m[3] else 'conv'}.{m[4]}"
    if m := re.fullmatch(r"s(\d)_fuse\.(conv_f2s|bn)\.(\w+)", key):
        lateral = "conv1_lateral" if m[1] == "1" else f"layer{int(m[1]) - 1}_lateral"
        return f"backbone.slow_path.{lateral}.{'conv' if m[2] == 'conv_f2s' else 'bn'}.{m[3]}"
    if m := re.fullmatch(r"head\.projection\.(weight|bias)", key):
        return f"cls_head.fc_cls.{m[1]}"
    raise AssertionError(f"no MMAction2 name for {key}")


def _mmaction2_state_of(model) -> dict:
    """``model``'s tensors under MMAction2's names (SlowFast: classifier columns in SlowFastHead's fast | slow)."""
    out = {}
    for key, value in model.state_dict().items():
        pathway = re.match(r"s\d\.pathway(\d)", key)
        prefix = "backbone." if not hasattr(model, "alpha") else (
            f"backbone.{'fast' if pathway and pathway[1] == '1' else 'slow'}_path.")
        out[_to_mmaction2_key(key, prefix)] = value
    if hasattr(model, "alpha"):
        slow, _ = model.feature_dims
        w = out["cls_head.fc_cls.weight"]
        out["cls_head.fc_cls.weight"] = torch.cat([w[:, slow:], w[:, :slow]], 1)
    return out


def _documented_keys(name: str) -> dict:
    """The MMAction2 recognizer's keys and shapes (tests/mmaction_ref.py, checked there against MMAction2)."""
    return dict(mmaction2_keys(name))


def test_bare_lateral_4x16_keys_are_the_lateral_norm_reference_without_its_lateral_bns():
    bare = mmaction2_keys("slowfast_r50_4x16")
    assert bare == [(k, s) for k, s in mmaction2_keys("slowfast_r50_4x16_lateral_norm") if "_lateral.bn." not in k]


@pytest.mark.parametrize("name", sorted(MMA_ARCHS))
def test_mmaction2_layout_of_a_vidlab_model_converts_back_strictly(name):
    arch = MMA_ARCHS[name]
    torch.manual_seed(0)
    model = models.build(arch, num_classes=NUM_CLASSES)
    state = _mmaction2_state_of(model)
    assert {k: tuple(v.shape) for k, v in state.items()} == _documented_keys(name)
    mapped = get_mapper("mmaction2", arch)(state, arch)
    fresh = models.build(arch, num_classes=NUM_CLASSES)
    fresh.load_state_dict(mapped, strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


@pytest.mark.parametrize("name", sorted(MMA_ARCHS))
def test_mmaction2_i3d_and_bare_lateral_slowfast_compute_mmaction2_logits(name, weight_rule, tmp_path):
    state = {k: weight_rule(k, shape) for k, shape in _documented_keys(name).items()}
    model, info = convert("mmaction2", MMA_ARCHS[name], _save(tmp_path, state))
    assert info["num_classes"] == NUM_CLASSES and "filled_num_batches_tracked" not in info
    _assert_golden(model, name, MMA_REFERENCES, MMA_GOLDEN)


def test_i3d_mmaction2_spec_and_size():
    spec = models.get_spec("i3d_r50_mmaction2")
    assert (spec.family, spec.num_frames, spec.sampling_rate, spec.crop_size) == ("i3d", 32, 2, 224)
    assert spec.mean == PREPROCESSING["i3d_r50_mmaction2"]["mean"] and spec.std == PREPROCESSING["i3d_r50_mmaction2"][
        "std"]
    with torch.device("meta"):
        mma, plain = models.build("i3d_r50_mmaction2"), models.build("i3d_r50")
    assert {k: v.shape for k, v in mma.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    assert sum(p.numel() for p in mma.parameters()) == sum(p.numel() for p in plain.parameters())
    stem = mma.s1.pathway0_stem
    assert (stem.conv.stride, stem.conv.padding) == ((2, 2, 2), (2, 3, 3))  # MMAction2: (k - 1) // 2
    assert (stem.pool_layer.stride, stem.pool_layer.padding) == ((2, 2, 2), (0, 1, 1))
    assert mma.pathway0_pool.kernel_size == mma.pathway0_pool.stride == (2, 1, 1)  # with_pool2


def test_i3d_mmaction2_strides_time_in_the_stem():
    # 32 frames: conv (32 + 2*2 - 5) // 2 + 1 = 16, stem pool (16 - 1) // 2 + 1 = 8, pool after res2: 4 frames
    # at res5; i3d_r50 (strides 1): 32, 32, 16.
    torch.manual_seed(0)
    mma = models.build("i3d_r50_mmaction2", num_classes=3, width=8).eval()
    plain = models.build("i3d_r50", num_classes=3, width=8).eval()
    plain.load_state_dict(mma.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 64, 64)
    with torch.no_grad():
        assert mma.forward_maps(x).shape[2] == 4 and plain.forward_maps(x).shape[2] == 16
        # a strided conv is the stride-1 conv's output subsampled, a 1x3x3 pool with temporal stride 2 too
        torch.testing.assert_close(mma.s1(x), plain.s1(x)[:, :, ::4], rtol=1e-5, atol=1e-5)


def test_bare_lateral_slowfast_specs_and_sizes():
    # 2 BN parameters (weight, bias) per lateral output channel are gone: fast channels 8, 32, 64, 128, x2.
    fuse_bn = 2 * 2 * (8 + 32 + 64 + 128)
    for base, bare in BARE_LATERAL_ARCHS.items():
        with torch.device("meta"):
            b, m = models.build(base), models.build(bare)
        assert not [k for k in m.state_dict() if "_fuse.bn" in k]
        assert {k: v.shape for k, v in m.state_dict().items()} == {
            k: v.shape for k, v in b.state_dict().items() if "_fuse.bn" not in k}
        assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in b.parameters()) - fuse_bn
        assert (m.alpha, m.s1_fuse.conv_f2s.kernel_size, m.s1_fuse.conv_f2s.stride) == (
            b.alpha, b.s1_fuse.conv_f2s.kernel_size, b.s1_fuse.conv_f2s.stride)
        spec = models.get_spec(bare)
        assert (spec.family, spec.num_frames, spec.sampling_rate, spec.crop_size) == ("slowfast", 32, 2, 224)
        assert spec.mean == PREPROCESSING[bare]["mean"] and spec.std == PREPROCESSING[bare]["std"]
    with torch.device("meta"):
        k = {a: models.build(a).s2_fuse.conv_f2s for a in BARE_LATERAL_ARCHS.values()}
    # MMAction2: resample_rate = speed_ratio = 8, fusion_kernel 5 (4x16); 4 and fusion_kernel=7 (8x8)
    assert (k["slowfast_r50_4x16_mmaction2"].kernel_size, k["slowfast_r50_4x16_mmaction2"].stride) == ((5, 1, 1),
                                                                                                      (8, 1, 1))
    assert (k["slowfast_r50_8x8_mmaction2"].kernel_size, k["slowfast_r50_8x8_mmaction2"].stride) == ((7, 1, 1),
                                                                                                    (4, 1, 1))


def test_bare_lateral_is_conv_of_fast_concatenated_after_slow():
    torch.manual_seed(0)
    model = models.build("slowfast_r50_4x16_mmaction2", num_classes=3).eval()
    fuse = model.s1_fuse
    slow, fast = torch.randn(1, 64, 2, 8, 8), torch.randn(1, 8, 16, 8, 8)
    with torch.no_grad():
        out_slow, out_fast = fuse([slow, fast])
        conv = F.conv3d(fast, fuse.conv_f2s.weight, stride=(8, 1, 1), padding=(2, 0, 0))  # no bias, BN, ReLU
    assert fuse.conv_f2s.bias is None and (conv < 0).any()
    assert torch.equal(out_fast, fast)
    torch.testing.assert_close(out_slow, torch.cat([slow, conv], 1), rtol=0, atol=1e-6)


def test_mmaction2_i3d_onto_pyslowfast_i3d_names_the_mmaction2_arch():
    with pytest.raises(ConversionError, match="no mmaction2 converter for i3d_r50: .*--arch i3d_r50_mmaction2"):
        get_mapper("mmaction2", "i3d_r50")


@pytest.mark.parametrize("name", ["i3d_r50_mmaction2", "slowfast_r50_4x16_mmaction2"])
def test_pyslowfast_checkpoints_are_refused_by_the_mmaction2_variants(name):
    """Same parameter names as PySlowFast's I3D / SlowFast, another function: PySlowFast weights
    (PySlowFast never published these networks) must not load into them silently."""
    from vidlab.convert.core import has_pyslowfast_layout, map_state

    assert not has_pyslowfast_layout(name) and has_pyslowfast_layout(name.removesuffix("_mmaction2"))
    with torch.device("meta"):
        state = models.build(name.removesuffix("_mmaction2")).state_dict()
    with pytest.raises(ConversionError, match=f"pyslowfast.*{name}"):
        map_state("pyslowfast", name, state)
