"""CPU fast paths for inference: what ``vidlab bench`` and ``vidlab classify`` turn on.

:func:`optimize_for_inference` returns a :class:`FastInference` wrapper around
a model with

- BatchNorm folded into the preceding convolutions (:func:`~vidlab.compress.fold.fold_bn`),
- weights and inputs in ``channels_last_3d`` (``channels_last`` for 4-D)
  where that layout is faster (by default: with bf16/fp16 compute, see
  :func:`optimize_for_inference`),
- the forward run under ``torch.inference_mode()`` (no autograd bookkeeping),
- optionally a reduced compute dtype (``torch.bfloat16`` uses AVX-512 BF16 /
  AMX through oneDNN where the CPU has them; outputs are returned as float32).

oneDNN (``torch.backends.mkldnn``) is PyTorch's default CPU convolution
backend; it is checked to be on. The wrapper keeps the model's ``meta`` and
``arch`` so it can be passed wherever a loaded model is expected.
"""

from __future__ import annotations

import torch
from torch import nn

from vidlab.compress.fold import fold_bn


def _to_layout(x, dtype=None):
    if isinstance(x, torch.Tensor):
        if dtype is not None and x.is_floating_point():
            x = x.to(dtype)
        if x.dim() == 5:
            return x.contiguous(memory_format=torch.channels_last_3d)
        if x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_layout(v, dtype) for v in x)
    return x


class FastInference(nn.Module):
    """A model prepared for CPU inference; call it like the model itself."""

    def __init__(self, model: nn.Module, *, channels_last: bool = True, dtype: torch.dtype | None = None):
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.dtype = dtype
        self.meta = getattr(model, "meta", {})
        arch = getattr(model, "arch", None) or (self.meta or {}).get("arch")
        if arch:
            self.arch = arch

    def forward(self, *args):
        with torch.inference_mode():
            if self.channels_last:
                args = _to_layout(args, self.dtype)
            elif self.dtype is not None:
                args = tuple(a.to(self.dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                             for a in args)
            out = self.model(*args)
            if self.dtype is not None and isinstance(out, torch.Tensor) and out.is_floating_point():
                out = out.float()
            return out


def optimize_for_inference(model: nn.Module, *, fold: bool = True, channels_last: bool | None = None,
                           dtype: torch.dtype | None = None, inplace: bool = False) -> FastInference:
    """Fold BN, switch to channels-last (3d), inference mode and oneDNN; optional bf16/fp16 compute.

    ``channels_last=None`` (default) picks the layout that measured faster
    for SlowFast R50 at 224 on an AVX-512/AMX Xeon with 2 threads
    (benchmarks/RESULTS.md): channels-last-3d for bf16/fp16 compute (0.27x the
    fp32 latency; contiguous bf16 was 0.91x) and contiguous for fp32 (oneDNN's
    channels-last-3d fp32 convolutions were 12% slower there).

    Returns a :class:`FastInference`; the input model is left untouched
    unless ``inplace``. Models that are not plain ``nn.Module`` graphs (a
    TorchScript program, a quantized model) are only wrapped.
    """
    torch.backends.mkldnn.enabled = True
    if channels_last is None:
        channels_last = dtype in (torch.bfloat16, torch.float16)
    if isinstance(model, FastInference):
        return model
    meta = getattr(model, "meta", None)
    scripted = isinstance(model, torch.jit.ScriptModule) or getattr(model, "is_compressed", False)
    if not scripted:
        model = fold_bn(model, inplace=inplace) if fold else (model if inplace else _copy(model))
        model.eval()
        if dtype is not None:
            model = model.to(dtype)
        if channels_last:
            _channels_last_(model)
        if meta is not None:
            model.meta = meta
    return FastInference(model, channels_last=channels_last and not scripted, dtype=None if scripted else dtype)


def freeze_for_cpu(model: nn.Module, example_inputs) -> torch.jit.ScriptModule:
    """BN-folded, traced, frozen TorchScript with ``torch.jit.optimize_for_inference``
    (oneDNN blocked-layout convolutions with fused ReLU/add where it applies).

    Shapes other than the example's run correctly but the oneDNN layout choice
    was made for the example's. Returns a program with ``meta`` set as an attribute
    on a :class:`FastInference` wrapper.
    """
    import warnings

    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    meta = getattr(model, "meta", None)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.jit.trace(fold_bn(model), inputs, check_trace=False)
        program = torch.jit.optimize_for_inference(torch.jit.freeze(program))
    wrapped = FastInference(program, channels_last=False)
    if meta is not None:
        wrapped.meta = meta
    return wrapped


def compile_for_cpu(model: nn.Module, *, dtype: torch.dtype | None = None) -> FastInference:
    """BN-folded model compiled by ``torch.compile`` (TorchInductor) with frozen weights.

    Inductor's freezing pass constant-folds the weights, pre-packs them for
    oneDNN and fuses ReLU/add into the convolutions; the rest becomes
    generated C++ loops. For SlowFast R50 8x8 at 224 on 2 threads this
    reached 79% of the fp32 GEMM peak against 59% for :func:`freeze_for_cpu`
    (benchmarks/RESULTS.md). The first call for each input shape compiles
    (tens of seconds for a ResNet-50-sized network), so this path pays off for
    servers and long runs, not for one short clip. Shapes are specialised
    (``dynamic=False``): a new clip size triggers one more compilation.
    Models that are not plain ``nn.Module`` graphs are returned through
    :func:`optimize_for_inference` unchanged.
    """
    torch.backends.mkldnn.enabled = True
    if isinstance(model, FastInference):
        return model
    if isinstance(model, torch.jit.ScriptModule) or getattr(model, "is_compressed", False):
        return optimize_for_inference(model)
    meta = getattr(model, "meta", None)
    folded = fold_bn(model).eval()
    if dtype is not None:
        folded = folded.to(dtype)
    wrapped = FastInference(compile_frozen(folded), channels_last=False, dtype=dtype)
    wrapped.meta = meta if meta is not None else {}
    return wrapped


def compile_frozen(module: nn.Module) -> nn.Module:
    """``torch.compile(module)`` for CPU inference with Inductor's freezing pass, shapes specialised.

    What :func:`compile_for_cpu` uses after folding BN, and what runs the CartoonGAN int8
    programs (:func:`vidlab.cartoon.deploy.load_int8`). Compilation happens on the first call.
    """
    import logging

    # Inductor's C++ toolchain probe warns about a missing CUDA runtime on every CPU-only machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    _widen_recompile_limit()
    return _Frozen(torch.compile(module, dynamic=False))


_COMPILED_MODULES = 0


def _widen_recompile_limit() -> None:
    """Room for 8 more compiled graphs per module compiled in this process.

    Dynamo keeps one cache per Python code object, with at most ``recompile_limit`` (8) entries,
    and every vidlab classifier runs the same ``forward`` (the model contract's); each compiled
    model and each clip shape is an entry. With the default, the ninth model compiled in one
    process (a server, a benchmark of five models in fp32 and bf16) silently ran eagerly.
    """
    import torch._dynamo.config as dynamo_config

    global _COMPILED_MODULES
    _COMPILED_MODULES += 1
    room = 8 * (_COMPILED_MODULES + 1)
    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, room)
    dynamo_config.accumulated_recompile_limit = max(dynamo_config.accumulated_recompile_limit, 32 * room)


class _Frozen(nn.Module):
    """Runs a ``torch.compile``d module with Inductor's freezing pass on.

    The pass is switched on around each call rather than for the process
    (compilation happens lazily, on the first call for each shape). Passing
    ``options={"freezing": True}`` to ``torch.compile`` instead measured no
    faster than unfrozen code with torch 2.14 (SlowFast R50: 500 ms vs 306 ms),
    so the config is patched here.
    """

    def __init__(self, compiled: nn.Module):
        super().__init__()
        self.compiled = compiled

    def forward(self, *args):
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True):
            return self.compiled(*args)


@torch.no_grad()
def _channels_last_(model: nn.Module) -> None:
    for mod in model.modules():
        for name, p in list(mod.named_parameters(recurse=False)):
            if p.dim() in (4, 5):
                fmt = torch.channels_last_3d if p.dim() == 5 else torch.channels_last
                p.data = p.data.contiguous(memory_format=fmt)


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)
