"""Export to deployment runtimes: ONNX (checked with ONNX Runtime), TorchScript, ExecuTorch.

- :func:`export_onnx` writes an ONNX graph (TorchScript-based exporter,
  opset 17, dynamic batch axis) and, with ``verify=True``, runs it in ONNX
  Runtime on the example inputs and compares with PyTorch (max absolute
  difference, must be within ``atol``).
- :func:`quantize_onnx_int8` applies ONNX Runtime's own post-training static
  quantization (QDQ format, int8 per-channel weights, int8 activations
  calibrated on the given inputs).
- :func:`export_torchscript` traces and freezes the model (runs with
  ``torch.jit.load`` alone).
- :func:`export_executorch` lowers through ``torch.export`` and ExecuTorch's
  XNNPACK partitioner to a ``.pte``. Neither XNNPACK nor ExecuTorch's
  portable kernels have 3-D convolutions or pools, so the exported copy has
  BN folded, ``Conv3d`` rewritten as a temporal sum of ``Conv2d``
  (:class:`Conv3dAs2d`), ``MaxPool3d`` as two 2-D max-pools and global 3-D
  average pooling as a mean: the same function, built from operators XNNPACK
  runs.

Multi-pathway models (SlowFast) are exported with one fast-rate clip as their
single input (the Slow pathway is taken inside the graph).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidlab.errors import VidlabError

FORMATS = ("onnx", "torchscript", "executorch")
SUFFIX = {"onnx": ".onnx", "torchscript": ".ts", "executorch": ".pte"}


class ExportError(VidlabError, RuntimeError):
    """Export failed or the exported program does not match PyTorch."""


def _as_tuple(example_inputs) -> tuple:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def _reference(model: nn.Module, inputs: tuple) -> np.ndarray:
    with torch.no_grad():
        out = model(*inputs)
    return out.detach().float().cpu().numpy()


def export_onnx(model: nn.Module, example_inputs, path: str | os.PathLike, *, verify: bool = True,
                atol: float = 1e-4, opset: int = 17, dynamic_batch: bool = True) -> dict:
    """Write ``model`` as ONNX; with ``verify``, check ONNX Runtime against PyTorch.

    Returns ``{"path", "max_abs_diff", "max_abs_ref"}`` (diffs ``None`` without
    ``verify``). Raises :class:`ExportError` when the outputs differ by more
    than ``atol``.
    """
    import warnings

    model = model.eval()
    inputs = _as_tuple(example_inputs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ["clip"] if len(inputs) == 1 else [f"input{i}" for i in range(len(inputs))]
    axes = {n: {0: "batch"} for n in names} | {"logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, str(path), dynamo=False, opset_version=opset, input_names=names,
                          output_names=["logits"], dynamic_axes=axes, do_constant_folding=True)
    result = {"path": str(path), "max_abs_diff": None, "max_abs_ref": None}
    if verify:
        got = run_onnx(path, inputs)
        ref = _reference(model, inputs)
        diff = float(np.abs(got - ref).max())
        result.update(max_abs_diff=diff, max_abs_ref=float(np.abs(ref).max()))
        if not diff <= atol:
            raise ExportError(f"{path}: ONNX Runtime output differs from PyTorch by {diff:.3g} (> {atol:g})")
    return result


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: graph-optimisation notices are not for users
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(path_or_session, inputs, threads: int | None = None) -> np.ndarray:
    sess = onnx_session(path_or_session, threads) if isinstance(path_or_session, (str, os.PathLike)) \
        else path_or_session
    feed = {i.name: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            for i, t in zip(sess.get_inputs(), _as_tuple(inputs))}
    return sess.run(None, feed)[0]


def quantize_onnx_int8(src: str | os.PathLike, dst: str | os.PathLike, calib_inputs: Iterable,
                       *, per_channel: bool = True) -> Path:
    """ONNX Runtime static int8 quantization (QDQ) of ``src`` into ``dst``.

    ``calib_inputs``: an iterable of input tuples (or single tensors) like the
    model's example inputs; a few clips are enough.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sess = onnx_session(src)
    names = [i.name for i in sess.get_inputs()]
    del sess

    class _Reader(CalibrationDataReader):
        def __init__(self, batches):
            self._it = iter(batches)

        def get_next(self):
            item = next(self._it, None)
            if item is None:
                return None
            return {n: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
                    for n, t in zip(names, _as_tuple(item))}

    dst = Path(dst)
    pre = dst.with_name(dst.stem + ".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        model_in = pre
    except Exception:  # noqa: BLE001  (pre-processing is an optimisation only)
        model_in = Path(src)
    try:
        quantize_static(str(model_in), str(dst), _Reader(calib_inputs), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        if pre.exists():
            pre.unlink()
    return dst


def trace_program(model: nn.Module, example_inputs) -> torch.jit.ScriptModule:
    """Trace ``model`` (eval mode) and freeze it when it can be frozen.

    Dynamic-quantized and already-frozen programs cannot be frozen; they are
    returned traced only, which ``torch.jit.load`` runs just the same."""
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.eval(), _as_tuple(example_inputs), check_trace=False)
        try:
            return torch.jit.freeze(traced)
        except Exception:  # noqa: BLE001  (see the docstring)
            return traced


def export_torchscript(model: nn.Module, example_inputs, path: str | os.PathLike, *, verify: bool = True,
                       atol: float = 1e-4) -> dict:
    """Trace + freeze into a TorchScript file that ``torch.jit.load`` runs without vidlab."""

    inputs = _as_tuple(example_inputs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(trace_program(model, inputs), str(path))
    result = {"path": str(path), "max_abs_diff": None}
    if verify:
        with torch.no_grad():
            got = torch.jit.load(str(path))(*inputs).float().numpy()
        diff = float(np.abs(got - _reference(model, inputs)).max())
        result["max_abs_diff"] = diff
        if not diff <= atol:
            raise ExportError(f"{path}: TorchScript output differs from PyTorch by {diff:.3g} (> {atol:g})")
    return result


class SeparableMaxPool3d(nn.Module):
    """``MaxPool3d`` as two 2-D max-pools (spatial, then temporal): the same
    function (a max is separable, padding counts as -inf in both) built from
    operators ExecuTorch's portable kernels and XNNPACK have."""

    def __init__(self, pool: nn.MaxPool3d):
        super().__init__()
        def t3(v):
            return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)

        self.kernel, self.stride, self.padding = t3(pool.kernel_size), t3(pool.stride or pool.kernel_size), t3(pool.padding)
        self.ceil_mode = pool.ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = torch.nn.functional.max_pool2d(x.reshape(b, c * t, h, w), self.kernel[1:], self.stride[1:],
                                           self.padding[1:], ceil_mode=self.ceil_mode)
        h2, w2 = y.shape[-2:]
        if self.kernel[0] == 1 and self.stride[0] == 1 and self.padding[0] == 0:
            return y.reshape(b, c, t, h2, w2)
        y = torch.nn.functional.max_pool2d(y.reshape(b, c, t, h2 * w2), (self.kernel[0], 1), (self.stride[0], 1),
                                           (self.padding[0], 0), ceil_mode=self.ceil_mode)
        return y.reshape(b, c, y.shape[2], h2, w2)


class Conv3dAs2d(nn.Module):
    """``Conv3d`` as a temporal sum of ``Conv2d``s over the frames (same function).

    Output frame ``t`` is ``sum_k conv2d(frame[t * st + k * dt], W[:, :, k])``;
    each temporal tap is one 2-D convolution of all frames batched together,
    so mobile backends without 3-D convolutions (XNNPACK) run the whole net.
    """

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ExportError("Conv3dAs2d: only numeric zero padding is supported")
        self.weight = nn.Parameter(conv.weight.detach().clone(), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (st, sh, sw), (pt, ph, pw), (dt, dh, dw) = self.stride, self.padding, self.dilation
        kt = self.weight.shape[2]
        if pt:
            x = torch.nn.functional.pad(x, (0, 0, 0, 0, pt, pt))
        b, c, t, h, w = x.shape
        t_out = (t - dt * (kt - 1) - 1) // st + 1
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        out = None
        for k in range(kt):
            y = torch.nn.functional.conv2d(frames, self.weight[:, :, k], None, (sh, sw), (ph, pw), (dh, dw), self.groups)
            y = y.reshape(b, t, y.shape[1], y.shape[2], y.shape[3])
            y = y[:, k * dt: k * dt + st * (t_out - 1) + 1: st]
            out = y if out is None else out + y
        if self.bias is not None:
            out = out + self.bias.reshape(1, 1, -1, 1, 1)
        return out.transpose(1, 2)


class GlobalAvgPool3d(nn.Module):
    """``AdaptiveAvgPool3d(1)`` as a mean (an operator every runtime has)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3, 4), keepdim=True)


def _portable_copy(model: nn.Module) -> nn.Module:
    """A BN-folded copy of ``model`` with 3-D layers mobile runtimes lack replaced by equivalents."""
    from vidlab.compress.fold import fold_bn

    model = fold_bn(model)
    for name, mod in list(model.named_modules()):
        new = None
        if isinstance(mod, nn.MaxPool3d) and (mod.dilation in (1, (1, 1, 1))) and not mod.return_indices:
            new = SeparableMaxPool3d(mod)
        elif isinstance(mod, nn.Conv3d) and mod.padding_mode == "zeros" and not isinstance(mod.padding, str):
            new = Conv3dAs2d(mod)
        elif isinstance(mod, nn.AdaptiveAvgPool3d) and mod.output_size in (1, (1, 1, 1)):
            new = GlobalAvgPool3d()
        if new is not None:
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, new)
    return model


def export_executorch(model: nn.Module, example_inputs, path: str | os.PathLike, *, verify: bool = True,
                      atol: float = 1e-3) -> dict:
    """``torch.export`` + XNNPACK partitioner -> ExecuTorch ``.pte``; verified with ExecuTorch's runtime."""
    import warnings

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    inputs = _as_tuple(example_inputs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(_portable_copy(model.eval()), inputs)
        prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(prog.buffer)
    result = {"path": str(path), "max_abs_diff": None}
    if verify:
        got = run_executorch(path, inputs)
        diff = float(np.abs(got - _reference(model, inputs)).max())
        result["max_abs_diff"] = diff
        if not diff <= atol:
            raise ExportError(f"{path}: ExecuTorch output differs from PyTorch by {diff:.3g} (> {atol:g})")
    return result


def run_executorch(path: str | os.PathLike, inputs: Sequence) -> np.ndarray:
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(Path(path))
    out = program.load_method("forward").execute(list(_as_tuple(inputs)))
    return out[0].float().numpy()


def export(model: nn.Module, example_inputs, path: str | os.PathLike, fmt: str, **kw) -> dict:
    """Dispatch on ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return {"onnx": export_onnx, "torchscript": export_torchscript, "executorch": export_executorch}[fmt](
        model, example_inputs, path, **kw)
