"""The one model contract, over every registered architecture (a new family is covered the day it registers).

For each name in ``list_models()``: the contract's methods exist; ``forward`` equals
``forward_head(forward_features(x))``; features are ``(B, feature_dim)``;
``reset_classifier`` changes the head and nothing else; ``save`` -> ``load`` gives
identical outputs (and ``num_classes`` is recorded, which TSN/CNN+LSTM/two-stream lost).
"""

from __future__ import annotations

import pytest
import torch

from vidlab import models
from vidlab.models.registry import example_inputs

NUM_CLASSES = 5  # not any model's default, so a default cannot pass by accident


BATCH = 2


@pytest.fixture(scope="module", params=models.list_models())
def built(request):
    """The model in eval mode, a small valid input, and its features and logits (computed once)."""
    name = request.param
    spec = models.get_spec(name)
    torch.manual_seed(0)
    model = models.build(name, num_classes=NUM_CLASSES).eval()
    args = example_inputs(spec, model, batch=BATCH, size=32)
    with torch.no_grad():
        feats = model.forward_features(*args)
        logits = model(*args)
    return name, spec, model, args, feats, logits


def test_methods_and_shapes(built):
    name, spec, model, args, feats, logits = built
    for method in ("forward_features", "forward_head", "get_classifier", "reset_classifier"):
        assert callable(getattr(model, method)), f"{name} lacks {method}"
    assert model.num_classes == NUM_CLASSES
    n = args[1].shape[0] if spec.inputs == "clip+boxes" else BATCH
    assert feats.shape == (n, model.feature_dim), name
    assert logits.shape == (n, NUM_CLASSES), name
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(feats), logits, rtol=1e-5, atol=1e-5)


def test_reset_classifier_changes_only_the_head(built):
    name, spec, model, args, feats, logits = built
    before = {k: v.clone() for k, v in model.state_dict().items()}
    classifier = model.get_classifier()
    head_params = {id(p) for p in classifier.parameters()}
    head_keys = {k for k, p in model.named_parameters() if id(p) in head_params}
    assert head_keys, f"{name}: get_classifier() holds no parameters of the model"
    model.reset_classifier(3)
    try:
        assert model.num_classes == 3
        after = model.state_dict()
        assert set(after) == set(before), f"{name}: reset_classifier changed the key set"
        changed = {k for k in after if after[k].shape != before[k].shape or not torch.equal(after[k], before[k])}
        # only the head's tensors change (the body's are equal, so its features are too)
        assert changed and changed <= head_keys, f"{name}: reset_classifier changed {sorted(changed - head_keys)}"
        with torch.no_grad():
            assert model.forward_head(feats).shape == (feats.shape[0], 3)
    finally:
        model.reset_classifier(NUM_CLASSES)
        model.load_state_dict(before)


def test_save_load_gives_identical_outputs(built, tmp_path):
    name, spec, model, args, feats, logits = built
    path = models.save(model, tmp_path / name)
    meta = models.read_meta(path)
    assert meta["num_classes"] == NUM_CLASSES and meta["arch"] == spec.name
    loaded = models.load(path)
    assert type(loaded) is type(model)
    with torch.no_grad():
        assert torch.equal(loaded(*args), logits), name


def test_every_registered_name_builds_with_its_default_classes():
    """``num_classes`` from the spec when not given (C3D's 487 Sports-1M classes, AVA's 80...)."""
    for name in ("c3d", "slowfast_r50_8x8_detection", "i3d_r10_tiny"):
        with torch.device("meta"):
            assert models.build(name).num_classes == models.get_spec(name).num_classes


def test_registration_does_not_depend_on_import_order():
    """Whatever family module a fresh process imports first, the registry holds every architecture."""
    import subprocess
    import sys

    full = models.list_models()
    code = ("import importlib, sys; importlib.import_module('vidlab.models.' + sys.argv[1]); "
            "from vidlab.models import list_models; print(','.join(list_models()))")
    for module in ("lfb", "two_stream", "registry"):
        out = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().split(",") == full, module


def test_stages_are_looped_or_refused_at_build_time():
    """A 3-stage network runs; per-stage options of the wrong length are refused when building."""
    from vidlab.models.csn import BottleneckResNet
    from vidlab.models.resnet3d import ResNet3D
    from vidlab.models.slowfast import SlowFast

    x = torch.randn(1, 3, 4, 32, 32)
    three = [
        ResNet3D(4, stage_blocks=(1, 1, 1), transform="basic", width=8, temporal_kernels=[[1]] * 3,
                 spatial_strides=(1, 2, 2), spatial_dilations=(1, 1, 1)),
        BottleneckResNet(4, stage_blocks=(1, 1, 1), width=8, spatial_strides=(1, 2, 2), temporal_strides=(1, 1, 1)),
        SlowFast(4, stage_blocks=(1, 1, 1), width=8, spatial_strides=(1, 2, 2), spatial_dilations=(1, 1, 1),
                 nonlocal_location=[[[], []]] * 3),
    ]
    for model in three:
        with torch.no_grad():
            assert model.eval()(x if not isinstance(model, SlowFast) else torch.randn(1, 3, 8, 32, 32)).shape == (1, 4)
        assert model.feature_dim == model.get_classifier().in_features
    with pytest.raises(ValueError, match="3 stages, but spatial_strides has 4"):
        ResNet3D(4, stage_blocks=(1, 1, 1), temporal_kernels=[[1]] * 3)
    with pytest.raises(ValueError, match="3 stages"):
        BottleneckResNet(4, stage_blocks=(1, 1, 1))
    from vidlab.models.x3d import X3D

    with pytest.raises(ValueError, match="4 stages, but spatial_strides has 3"):
        X3D(4, spatial_strides=(2, 2, 2))


def test_family_modules_listed_in_the_zoo():
    """Every module that registers an architecture is one zoo.py imports (so none depends on a test importing it)."""
    import ast
    import pathlib

    import vidlab.models as pkg

    root = pathlib.Path(pkg.__file__).parent
    registering = {p.stem for p in root.glob("*.py") if "@register_model(" in p.read_text()}
    tree = ast.parse((root / "zoo.py").read_text())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
    assert len(registering) >= 13 and registering <= imported, sorted(registering - imported)
