"""MMAction2 checkpoints through `vidlab convert --from mmaction2`: same logits as MMAction2, refusals.

The goldens are MMAction2 1.2.0's own logits (``cls_head(backbone(x))``, eval
mode) for its recognizers built from its configs, every tensor set by the
fixture weight rule applied to the MMAction2 key, on ``reference_input``.
``tests/mmaction_ref.py`` regenerates them (and checks that
``mmaction2_keys`` lists exactly MMAction2's state_dict keys and shapes).
"""

import json

import pytest
import torch

import vidlab.convert  # noqa: F401  (registers the converters)
from mmaction_ref import NUM_CLASSES, REFERENCES, mmaction2_keys, reference_input
from vidlab import models
from vidlab.apps.cli import main
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.convert.core import convert, infer_num_classes
from vidlab.convert.mmaction2 import NOT_CONVERTED, PREPROCESSING

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


def _assert_golden(model, name):
    x = reference_input(REFERENCES[name].input_shape)
    with torch.no_grad():
        got = model(_vidlab_input(model, x))
    ref = torch.tensor([GOLDEN[name]])
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
        "swin3d_t", "swin3d_s", "swin3d_b"])
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


def test_slowfast_without_lateral_bn_is_refused():
    # MMAction2's zoo SlowFast 4x16 / 8x8 / R101: lateral_norm=False, bare lateral convs.
    state = {k: torch.zeros(s) for k, s in mmaction2_keys("slowfast_r50_8x8")}
    with pytest.raises(ConversionError, match=r"lateral_norm=False.*backbone\.slow_path\.conv1_lateral"):
        get_mapper("mmaction2", "slowfast_r50_8x8")(state, "slowfast_r50_8x8")


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
