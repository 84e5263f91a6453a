"""Post-training quantization and reduced-precision copies of any ``nn.Module``.

int8 static (:func:`quantize_int8_static`)
    PyTorch's ``torch.ao`` FX graph-mode flow with the ``x86`` backend
    (oneDNN/FBGEMM kernels with VNNI): per-channel symmetric int8 weights,
    per-tensor affine uint8 activations calibrated with histogram observers on
    a few clips, conv+BN(+ReLU) fused. This flow is used instead of PT2E
    because the PT2E quantizers shipped with torchao 0.18 (``X86InductorQuantizer``)
    and ExecuTorch 1.5 (``XNNPACKQuantizer``) annotate 1-D/2-D convolutions and
    linears only: a 3-D video net came out with every ``conv3d`` left in fp32,
    whereas the FX flow has real int8 ``Conv3d`` kernels. BN is folded first
    (:func:`~vidlab.compress.fold.fold_bn`). Modules whose forward cannot be
    traced symbolically are quantized child by child (each traced child gets
    its own quantize/dequantize at its borders). Layers left in fp32 (no int8
    kernel, or inside an untraceable leaf) are listed in the returned report.

int8 dynamic (:func:`quantize_int8_dynamic`)
    ``Linear``/``LSTM``/``GRU`` weights in int8, activations quantized on the
    fly; convolutions stay fp32 (the report says how many).

fp16 / bf16 (:func:`to_dtype`)
    weights and compute in the reduced type (bf16 uses AVX-512 BF16 / AMX
    through oneDNN where the CPU has them).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from vidlab.compress.fold import fold_bn, traced_regions

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.LSTM, nn.GRU, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass
class QuantReport:
    """What a quantization pass did: quantized layers and fp32 fallbacks with reasons."""

    method: str
    quantized: list[str] = field(default_factory=list)
    fallback: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, reason)

    def messages(self) -> list[str]:
        return [f"kept in fp32: {n} ({t}): {r}" for n, t, r in self.fallback]

    def to_dict(self) -> dict:
        return {"method": self.method, "quantized": len(self.quantized),
                "fallback": [{"layer": n, "type": t, "reason": r} for n, t, r in self.fallback]}


def _is_float_weighted(mod: nn.Module) -> bool:
    return type(mod) in WEIGHTED or (isinstance(mod, WEIGHTED) and not type(mod).__module__.startswith("torch.ao"))


def _drop_identities(gm: fx.GraphModule) -> fx.GraphModule:
    """Remove ``nn.Identity`` calls (left by BN folding) so conv->relu fusion patterns match."""
    mods = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and isinstance(mods.get(node.target), nn.Identity):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


def _set(root: nn.Module, name: str, new: nn.Module) -> nn.Module:
    if not name:
        return new
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)
    return root


def _capture_inputs(model: nn.Module, names: list[str], example_inputs: tuple) -> dict[str, tuple]:
    got: dict[str, tuple] = {}
    hooks = []
    for n in names:
        mod = model.get_submodule(n) if n else model
        hooks.append(mod.register_forward_pre_hook(lambda m, a, n=n: got.setdefault(n, a)))
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for h in hooks:
            h.remove()
    return got


def _keep_attrs(new: nn.Module, old: nn.Module) -> nn.Module:
    for a in ("meta", "arch"):
        if hasattr(old, a) and not hasattr(new, a):
            setattr(new, a, getattr(old, a))
    return new


def quantize_int8_static(model: nn.Module, example_inputs, calib_iter: Iterable, *, backend: str = "x86",
                         observer: str = "histogram", on_batch: Callable[[int], None] | None = None
                         ) -> tuple[nn.Module, QuantReport]:
    """int8 post-training static quantization; returns ``(quantized copy, report)``.

    ``example_inputs``: a tuple of model inputs (or one tensor); ``calib_iter``
    yields the same (a few clips of real data). ``observer``: ``histogram``
    (PyTorch's default, better ranges) or ``minmax`` (faster calibration).
    """
    from torch.ao.quantization import (
        QConfig,
        QConfigMapping,
        get_default_qconfig_mapping,
    )
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if backend not in torch.backends.quantized.supported_engines:
        raise ValueError(f"quantized backend {backend!r} not available here "
                         f"({', '.join(torch.backends.quantized.supported_engines)})")
    torch.backends.quantized.engine = backend
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    model = fold_bn(model)  # a copy, eval mode
    report = QuantReport("int8-static")
    if observer == "minmax":
        qmap = QConfigMapping().set_global(QConfig(
            activation=MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=backend in ("x86", "fbgemm")),
            weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)))
    else:
        qmap = get_default_qconfig_mapping(backend)
    regions = [(n, m, g) for n, m, g in traced_regions(model) if any(_is_float_weighted(x) for x in m.modules())]
    region_inputs = _capture_inputs(model, [n for n, _, _ in regions], inputs)
    prepared = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, mod, gm in regions:
            if name not in region_inputs:
                continue  # never called on the example inputs
            gm = _drop_identities(gm)
            try:
                p = prepare_fx(gm, qmap, example_inputs=region_inputs[name])
            except Exception as e:  # noqa: BLE001  (a region FX cannot prepare stays fp32)
                report.fallback.append((name or "<model>", type(mod).__name__, f"FX prepare failed: {e}"[:200]))
                continue
            model = _set(model, name, p)
            prepared.append(name)
        with torch.no_grad():
            for i, batch in enumerate(calib_iter):
                model(*(batch if isinstance(batch, (tuple, list)) and not isinstance(inputs[0], list) else (batch,)))
                if on_batch:
                    on_batch(i + 1)
        for name in prepared:
            p = model.get_submodule(name) if name else model
            q = convert_fx(p)
            model = _keep_attrs(_set(model, name, q), p) if not name else _set(model, name, q)
    for n, m in model.named_modules():
        if _is_float_weighted(m):
            reason = "no int8 kernel for this layer in the x86 backend" if not isinstance(m, nn.Linear) \
                else "outside a traceable region"
            if not any(n == r or n.startswith(r + ".") for r in prepared if r):
                reason = "its parent module's forward cannot be traced symbolically (data-dependent control flow)"
            report.fallback.append((n, type(m).__name__, reason))
        elif type(m).__module__.startswith("torch.ao.nn.") and ".quantized" in type(m).__module__ and hasattr(m, "weight"):
            report.quantized.append(n)
    return model.eval(), report


def quantize_int8_dynamic(model: nn.Module) -> tuple[nn.Module, QuantReport]:
    """Dynamic int8 for ``Linear``/``LSTM``/``GRU``; convolutions stay fp32 (reported)."""
    from torch.ao.quantization import quantize_dynamic

    report = QuantReport("int8-dynamic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear, nn.LSTM, nn.GRU}, dtype=torch.qint8)
    for n, m in q.named_modules():
        if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic"):
            report.quantized.append(n)
        elif _is_float_weighted(m):
            report.fallback.append((n, type(m).__name__, "dynamic quantization covers Linear/LSTM/GRU only"))
    return q, report


def to_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A BN-folded copy in ``dtype`` (``torch.float16`` or ``torch.bfloat16``)."""
    out = fold_bn(model).to(dtype)
    return _keep_attrs(out, model)
