"""MMAction2 reference data for tests/convert/test_mmaction2.py.

Two parts:

* Pure Python, imported by the tests (no MMAction2 needed): :data:`REFERENCES`
  and :data:`MMA_REFERENCES` (which MMAction2 recognizer each golden comes
  from, the input and the vidlab architectures it converts to: PySlowFast's
  networks, and MMAction2's I3D and bare-lateral SlowFast onto the
  ``_mmaction2`` architectures), :func:`mmaction2_keys` (the recognizer's
  ``state_dict`` keys and shapes, written from MMAction2's module names) and
  :func:`reference_input`.
* A script that regenerates the golden logits stored in the test
  (``GOLDEN`` and ``MMA_GOLDEN`` of tests/convert/test_mmaction2.py) from
  MMAction2's real code. It builds each recognizer from MMAction2's own config
  file, checks that :func:`mmaction2_keys` lists exactly its ``state_dict``
  keys and shapes, sets every tensor with the shared fixture weight rule
  (``tests/conftest.py::fixture_tensor``, see shared/fixtures/README.md),
  applied to the MMAction2 key, runs ``cls_head(backbone(x))`` in eval mode and
  prints the logits (and their float64 counterparts, to judge tolerances).

Regenerate (about 2 minutes for the install, 1 minute for the run)::

    python3 -m venv /tmp/mmenv
    /tmp/mmenv/bin/pip install torch==2.14.1 torchvision==0.29.1 mmengine==0.10.7 \
        mmcv-lite==2.1.0 mmaction2==1.2.0 pytest
    /tmp/mmenv/bin/python tests/mmaction_ref.py            # prints GOLDEN = {...}, MMA_GOLDEN = {...}
    /tmp/mmenv/bin/python tests/mmaction_ref.py --save DIR # also writes state dicts/inputs/logits

mmcv-lite 2.1.0, not 2.2.0: ``mmaction/__init__.py`` asserts mmcv < 2.2.0.
The mmaction2 1.2.0 wheel lacks ``mmaction/models/localizers/drn`` and imports
``importlib_metadata``; :func:`_import_mmaction` stubs the first (a
localizer, unrelated to recognition) and aliases the second to the standard
library, which is all it takes for the backbones and heads to import on CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

NUM_CLASSES = 7  # small classifier; odd so a default of 400 cannot pass by accident
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Reference:
    config: str  # MMAction2 config (relative to mmaction/.mim/configs)
    input_shape: tuple  # (B, C, T, H, W): the one clip MMAction2 gets (SlowFast: Fast-rate)
    archs: tuple  # vidlab architectures this recognizer converts to
    overrides: dict = field(default_factory=dict)  # model.backbone.* changes besides pretrained=None


REFERENCES = {
    # SlowOnly R50: the 4x16 and 8x8 zoo models share this config's network.
    "slowonly_r50": Reference("recognition/slowonly/slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb.py",
                              (1, 3, 8, 64, 64), ("slow_r50_8x8", "slow_r50_4x16")),
    # SlowFast R50 8x8 "steplr": the zoo SlowFast with BN + ReLU in its lateral connections.
    "slowfast_r50_8x8_lateral_norm": Reference(
        "recognition/slowfast/slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb.py",
        (1, 3, 16, 64, 64), ("slowfast_r50_8x8",)),
    # SlowFast R50 4x16 with lateral_norm=True (the zoo 4x16 has lateral_norm=False).
    "slowfast_r50_4x16_lateral_norm": Reference(
        "recognition/slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py",
        (1, 3, 16, 64, 64), ("slowfast_r50_4x16",), {"slow_pathway.lateral_norm": True}),
    "x3d_s": Reference("recognition/x3d/x3d_s_13x6x1_facebook-kinetics400-rgb.py",
                       (1, 3, 13, 64, 64), ("x3d_xs", "x3d_s", "x3d_m")),
    # No MMAction2 config for X3D-L; its X3D backbone with gamma_d=5.0 is that network.
    "x3d_l": Reference("recognition/x3d/x3d_s_13x6x1_facebook-kinetics400-rgb.py",
                       (1, 3, 4, 64, 64), ("x3d_l",), {"gamma_d": 5.0}),
    "c3d": Reference("recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py",
                     (1, 3, 16, 112, 112), ("c3d",)),
}

# MMAction2's I3D (its stem strides time: conv1_stride_t = pool1_stride_t = 2) and its default SlowFast (bare
# laterals, lateral_norm=False): not PySlowFast's networks (vidlab.convert.mmaction2 NOT_CONVERTED["i3d_r50"],
# BARE_LATERAL_ARCHS); they convert onto the `_mmaction2` architectures. Goldens: MMA_GOLDEN.
MMA_REFERENCES = {
    # configs/_base_/models/i3d_r50.py
    "i3d_r50": Reference("recognition/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
                         (1, 3, 32, 64, 64), ("i3d_r50_mmaction2",)),
    # the zoo SlowFast R50 8x8 (fusion kernel 7) and 4x16 (fusion kernel 5), both lateral_norm=False
    "slowfast_r50_8x8": Reference("recognition/slowfast/slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb.py",
                                  (1, 3, 16, 64, 64), ("slowfast_r50_8x8_mmaction2",)),
    "slowfast_r50_4x16": Reference("recognition/slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py",
                                   (1, 3, 16, 64, 64), ("slowfast_r50_4x16_mmaction2",)),
}

# Recognizers no vidlab architecture computes (vidlab.convert.mmaction2 NOT_CONVERTED), and one variant that
# shows the I3D difference; `--save` writes them too (no golden in the tests).
DIAGNOSTIC = {
    # MMAction2's I3D with the stem's two temporal strides set to 1: then it is PySlowFast's I3D (vidlab i3d_r50).
    "i3d_r50_stem_stride1": Reference(
        "recognition/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
        (1, 3, 8, 64, 64), ("i3d_r50",), {"conv1_stride_t": 1, "pool1_stride_t": 1}),
    "c2d_r50": Reference("recognition/c2d/c2d_r50-in1k-pre_8xb32-8x8x1-100e_kinetics400-rgb.py",
                         (1, 3, 8, 64, 64), ("c2d_r50",)),
    "i3d_nl_dot_product_r50": Reference(
        "recognition/i3d/i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py",
        (1, 3, 32, 64, 64), ("i3d_nl_r50",)),
    "r2plus1d_r34": Reference("recognition/r2plus1d/r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py",
                              (1, 3, 8, 64, 64), ("r2plus1d_34",), {"norm_cfg": {"type": "BN3d", "eps": 1e-3}}),
    "ircsn_r50": Reference(
        "recognition/csn/ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py",
        (1, 3, 8, 64, 64), ("csn_r101",)),
}


# Recognizers whose keys the tests use without a golden (refusals, key-level loads): the script
# only checks mmaction2_keys against them.
KEYS_ONLY = {
    # SlowFast R101 8x8 with BN+ReLU laterals and PySlowFast's fusion kernel 5 (MMAction2's R101 config uses 7).
    "slowfast_r101_8x8_lateral_norm_k5": Reference(
        "recognition/slowfast/slowfast_r101_8xb8-8x8x1-256e_kinetics400-rgb.py", (1, 3, 16, 64, 64),
        ("slowfast_r101_8x8",), {"slow_pathway.lateral_norm": True, "slow_pathway.fusion_kernel": 5}),
}


def reference_input(shape):
    """The clip every golden was computed on (the fixtures' input rule, seed 0)."""
    import torch

    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------
# MMAction2 state_dict keys, from its module names (mmaction/models/backbones).

def _bn(prefix: str, channels: int) -> list:
    return [(f"{prefix}.{p}", () if p == "num_batches_tracked" else (channels,)) for p in BN]


def _conv_module(prefix: str, shape: tuple, norm: bool = True, bias: bool = False) -> list:
    """mmcv ``ConvModule``: ``{prefix}.conv`` (+ ``{prefix}.bn``)."""
    keys = [(f"{prefix}.conv.weight", shape)]
    if bias:
        keys.append((f"{prefix}.conv.bias", (shape[0],)))
    return keys + (_bn(f"{prefix}.bn", shape[0]) if norm else [])


def _resnet3d_pathway(prefix: str, *, base: int, conv1_kernel: tuple, inflate: list, lateral: dict | None = None,
                      blocks=(3, 4, 6, 3)) -> list:
    """``ResNet3d`` / ``ResNet3dPathway`` (bottleneck, 'pytorch' style, inflate_style 3x1x1)."""
    keys = _conv_module(f"{prefix}conv1", (base, 3, *conv1_kernel))
    lat_in = [0, 0, 0, 0]
    if lateral:
        cr = lateral["channel_ratio"]
        lat_in = [base * 2 // cr] + [base * 4 * 2**i * 2 // cr for i in range(3)]
    inplanes = base
    for i, n in enumerate(blocks):
        planes = base * 2**i
        for j in range(n):
            cin = inplanes + lat_in[i] if j == 0 else planes * 4
            kt = 3 if inflate[i][j] else 1
            p = f"{prefix}layer{i + 1}.{j}"
            keys += _conv_module(f"{p}.conv1", (planes, cin, kt, 1, 1))
            keys += _conv_module(f"{p}.conv2", (planes, planes, 1, 3, 3))
            keys += _conv_module(f"{p}.conv3", (planes * 4, planes, 1, 1, 1))
            if j == 0 and (i > 0 or cin != planes * 4):
                keys += _conv_module(f"{p}.downsample", (planes * 4, cin, 1, 1, 1))
        inplanes = planes * 4
    if lateral:
        cr, k, norm = lateral["channel_ratio"], lateral["fusion_kernel"], lateral["lateral_norm"]
        keys += _conv_module(f"{prefix}conv1_lateral", (base * 2 // cr, base // cr, k, 1, 1), norm)
        for i in range(3):
            c = base * 4 * 2**i // cr
            keys += _conv_module(f"{prefix}layer{i + 1}_lateral", (2 * c, c, k, 1, 1), norm)
    return keys


def _head(prefix: str, dim: int) -> list:
    return [(f"{prefix}.weight", (NUM_CLASSES, dim)), (f"{prefix}.bias", (NUM_CLASSES,))]


def _slowfast(fusion_kernel: int, lateral_norm: bool, blocks=(3, 4, 6, 3)) -> list:
    slow_inflate = [[int(i >= 2)] * n for i, n in enumerate(blocks)]
    fast_inflate = [[1] * n for n in blocks]
    lateral = {"channel_ratio": 8, "fusion_kernel": fusion_kernel, "lateral_norm": lateral_norm}
    return (_resnet3d_pathway("backbone.slow_path.", base=64, conv1_kernel=(1, 7, 7), inflate=slow_inflate,
                              lateral=lateral, blocks=blocks)
            + _resnet3d_pathway("backbone.fast_path.", base=8, conv1_kernel=(5, 7, 7), inflate=fast_inflate,
                                blocks=blocks)
            + _head("cls_head.fc_cls", 2048 + 256))


def _round_width(width: float, multiplier: float, divisor: int = 8) -> int:
    width *= multiplier
    out = max(divisor, int(width + divisor / 2) // divisor * divisor)
    return int(out + divisor if out < 0.9 * width else out)


def _x3d(gamma_d: float, fc1_bias: bool = False) -> list:
    keys = [("backbone.conv1_s.conv.weight", (24, 3, 1, 3, 3))] + _conv_module("backbone.conv1_t", (24, 1, 5, 1, 1))
    layer_in = 24
    for i, n in enumerate((1, 2, 5, 3)):
        inplanes = 24 * 2**i
        planes = int(inplanes * 2.25)
        for j in range(math.ceil(gamma_d * n)):
            p = f"backbone.layer{i + 1}.{j}"
            cin = layer_in if j == 0 else inplanes
            if j == 0:  # BlockX3D sets self.downsample first
                keys += _conv_module(f"{p}.downsample", (inplanes, cin, 1, 1, 1))
            keys += _conv_module(f"{p}.conv1", (planes, cin, 1, 1, 1))
            keys += _conv_module(f"{p}.conv2", (planes, 1, 3, 3, 3))
            keys += _conv_module(f"{p}.conv3", (inplanes, planes, 1, 1, 1))
            if j % 2 == 0:
                se = _round_width(planes, 1 / 16)
                keys += [(f"{p}.se_module.fc1.weight", (se, planes, 1, 1, 1)), (f"{p}.se_module.fc1.bias", (se,)),
                         (f"{p}.se_module.fc2.weight", (planes, se, 1, 1, 1)), (f"{p}.se_module.fc2.bias", (planes,))]
        layer_in = inplanes
    keys += _conv_module("backbone.conv5", (432, 192, 1, 1, 1))
    keys += [("cls_head.fc1.weight", (2048, 432))] + ([("cls_head.fc1.bias", (2048,))] if fc1_bias else [])
    return keys + _head("cls_head.fc2", 2048)


def _c3d() -> list:
    keys = []
    for name, cin, cout in (("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
                            ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512)):
        keys += _conv_module(f"backbone.{name}", (cout, cin, 3, 3, 3), norm=False, bias=True)
    keys += [("backbone.fc6.weight", (4096, 8192)), ("backbone.fc6.bias", (4096,)),
             ("backbone.fc7.weight", (4096, 4096)), ("backbone.fc7.bias", (4096,))]
    return keys + _head("cls_head.fc_cls", 4096)


def mmaction2_keys(name: str) -> list[tuple[str, tuple]]:
    """``(key, shape)`` of every entry of the MMAction2 recognizer ``name``'s
    ``state_dict`` (the names of :data:`REFERENCES`, :data:`MMA_REFERENCES` and :data:`KEYS_ONLY`)."""
    if name == "slowonly_r50":
        inflate = [[0] * 3, [0] * 4, [1] * 6, [1] * 3]
        return (_resnet3d_pathway("backbone.", base=64, conv1_kernel=(1, 7, 7), inflate=inflate)
                + _head("cls_head.fc_cls", 2048))
    if name == "i3d_r50":
        inflate = [[1, 1, 1], [1, 0, 1, 0], [1, 0, 1, 0, 1, 0], [0, 1, 0]]
        return (_resnet3d_pathway("backbone.", base=64, conv1_kernel=(5, 7, 7), inflate=inflate)
                + _head("cls_head.fc_cls", 2048))
    if name == "slowfast_r50_8x8_lateral_norm":
        return _slowfast(7, True)
    if name == "slowfast_r50_8x8":
        return _slowfast(7, False)
    if name == "slowfast_r50_4x16_lateral_norm":
        return _slowfast(5, True)
    if name == "slowfast_r50_4x16":
        return _slowfast(5, False)
    if name == "slowfast_r101_8x8_lateral_norm_k5":
        return _slowfast(5, True, blocks=(3, 4, 23, 3))
    if name == "x3d_s":
        return _x3d(2.2)
    if name == "x3d_l":
        return _x3d(5.0)
    if name == "c3d":
        return _c3d()
    raise KeyError(name)


# ----------------------------------------------------------------------------
# Script: regenerate the goldens from MMAction2 itself.

def _import_mmaction():
    import importlib.metadata
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("mmaction") is None:
        raise ImportError("mmaction2 is not installed")
    sys.modules.setdefault("importlib_metadata", importlib.metadata)
    for name in ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn"):
        stub = types.ModuleType(name)
        stub.__path__ = []
        stub.DRN = None
        sys.modules.setdefault(name, stub)
    import mmaction
    import mmaction.models  # noqa: F401  (registers backbones and heads)
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    return mmaction


def build_mmaction2(ref: Reference):
    """The MMAction2 recognizer of ``ref`` (random init, no pretrained download)."""
    from pathlib import Path

    from mmaction.registry import MODELS
    from mmengine.config import Config

    mmaction = _import_mmaction()
    cfg = Config.fromfile(str(Path(mmaction.__file__).parent / ".mim" / "configs" / ref.config))
    backbone = cfg.model.backbone
    backbone.pretrained = None
    for path, value in ref.overrides.items():
        *parents, last = path.split(".")
        node = backbone
        for p in parents:
            node = node[p]
        node[last] = value
    cfg.model.cls_head.num_classes = NUM_CLASSES
    return MODELS.build(cfg.model).eval()


def check_keys(name: str, model) -> None:
    """Raise unless :func:`mmaction2_keys` ``(name)`` is exactly ``model``'s state_dict keys and shapes."""
    real = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mine = dict(mmaction2_keys(name))
    if real != mine:
        raise AssertionError(f"{name}: mmaction2_keys differs from MMAction2: only in MMAction2 "
                             f"{sorted(set(real.items()) - set(mine.items()))[:5]}, only in mmaction2_keys "
                             f"{sorted(set(mine.items()) - set(real.items()))[:5]}")


def run_reference(name: str, ref: Reference, weight_rule, keys: bool = True):
    import torch

    model = build_mmaction2(ref)
    if keys:
        check_keys(name, model)
    real = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = {k: weight_rule(k, shape) for k, shape in real.items()}
    model.load_state_dict(state, strict=True)
    x = reference_input(ref.input_shape)
    with torch.no_grad():
        logits = model.cls_head(model.backbone(x))
        model64 = model.double()
        logits64 = model64.cls_head(model64.backbone(x.double()))
    return state, x, logits, logits64


def main(argv=None) -> None:
    import argparse
    import sys
    from pathlib import Path

    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="also write {state_dict, input, logits} per model here "
                                                    "(diagnostic recognizers included)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import fixture_tensor

    torch.set_num_threads(2)
    tables = [("GOLDEN", REFERENCES, True), ("MMA_GOLDEN", MMA_REFERENCES, True)]
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        tables.append(("DIAGNOSTIC", DIAGNOSTIC, False))  # printed and saved, no golden of the tests
    for table, refs, keys in tables:
        print(f"{table} = {{")
        for name, ref in refs.items():
            state, x, logits, logits64 = run_reference(name, ref, fixture_tensor, keys=keys)
            values = ", ".join(f"{v:.8g}" for v in logits[0].tolist())
            diff = (logits.double() - logits64).abs().max().item()
            print(f"    {name!r}: [{values}],  # fp32 vs fp64 {diff:.1e}")
            if args.save:
                torch.save({"state_dict": state, "input": x, "logits": logits, "logits64": logits64,
                            "config": ref.config, "overrides": ref.overrides}, args.save / f"{name}.pth")
        print("}")
    for name, ref in KEYS_ONLY.items():
        check_keys(name, build_mmaction2(ref))
        print(f"# mmaction2_keys({name!r}) == MMAction2's state_dict keys and shapes")


if __name__ == "__main__":
    main()
