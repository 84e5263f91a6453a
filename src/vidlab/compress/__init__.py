"""Compression, export and benchmarking for any ``nn.Module`` (vidlab's or not).

Generic functions (they take a plain module and example inputs):

- :func:`fold_bn` - merge eval-mode BatchNorm into the preceding convolutions.
- :func:`optimize_for_inference` - CPU fast path (BN folded, channels-last,
  inference mode, oneDNN; optional bf16 compute); :func:`freeze_for_cpu`
  (frozen TorchScript) and :func:`compile_for_cpu` (TorchInductor, frozen
  weights: the fastest fp32 path, after a compilation on the first call).
- :func:`quantize_int8_static`, :func:`quantize_int8_dynamic`, :func:`to_dtype`.
- :func:`prune_channels` - structured channel pruning (torch-pruning).
- :func:`export_onnx` (ONNX Runtime-verified), :func:`quantize_onnx_int8`,
  :func:`export_torchscript`, :func:`export_executorch`.
- :func:`benchmark`, :func:`count_flops`, :func:`matmul_peak`.
- :func:`load_compressed` - load any vidlab checkpoint, compressed or not.
"""

from vidlab.compress.bench import benchmark, count_flops, matmul_peak
from vidlab.compress.ckpt import load_compressed
from vidlab.compress.export import (
    ExportError,
    export,
    export_executorch,
    export_onnx,
    export_torchscript,
    quantize_onnx_int8,
    run_onnx,
)
from vidlab.compress.fastpath import (
    FastInference,
    compile_for_cpu,
    freeze_for_cpu,
    optimize_for_inference,
)
from vidlab.compress.fold import fold_bn
from vidlab.compress.quantize import (
    QuantReport,
    quantize_int8_dynamic,
    quantize_int8_static,
    to_dtype,
)


def prune_channels(model, example_inputs, sparsity: float = 0.5, **kw):
    """See :func:`vidlab.compress.prune.prune_channels` (imports torch-pruning lazily)."""
    from vidlab.compress.prune import prune_channels as _prune

    return _prune(model, example_inputs, sparsity, **kw)


__all__ = [
    "ExportError",
    "FastInference",
    "QuantReport",
    "benchmark",
    "compile_for_cpu",
    "count_flops",
    "export",
    "export_executorch",
    "export_onnx",
    "export_torchscript",
    "fold_bn",
    "freeze_for_cpu",
    "load_compressed",
    "matmul_peak",
    "optimize_for_inference",
    "prune_channels",
    "quantize_int8_dynamic",
    "quantize_int8_static",
    "quantize_onnx_int8",
    "run_onnx",
    "to_dtype",
]
