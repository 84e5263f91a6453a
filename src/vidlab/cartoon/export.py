"""Export and int8 quantization of the CartoonGAN generator (ONNX, ExecuTorch XNNPACK, PT2E int8).

Everything here goes through :class:`~vidlab.cartoon.mobile.MobileCartoonGenerator` (same weights,
no reflection-pad or instance-norm ops), so each format takes the network in one piece:

- :func:`export_onnx`: ONNX (opset 18, dynamo exporter) with dynamic height/width;
  :func:`onnx_session` runs it with ONNX Runtime.
- :func:`quantize_int8`: PT2E int8 with ExecuTorch's ``XNNPACKQuantizer``: per-channel int8
  weights, activations quantized *dynamically* (per tensor, at run time), for 25 of the 26
  convolutions; ``conv02_2`` (the second half-resolution convolution, the most sensitive one)
  stays fp32 (:data:`KEEP_FP32`). Measured on the fixture weights at 256x256 (PSNR against
  fp32): all 26 int8 about 28.8 dB; ``conv02_2`` kept about 30.3 dB; first, last and both
  half-resolution convolutions kept about 31.5 dB (slower: XNNPACK's fp32 kernels are slow on
  x86); whole down path kept about 34 dB. Static activation quantization (calibrated scales for
  every op, including the instance-norm arithmetic) loses too much (about 21 dB). Figures in
  ``benchmarks/RESULTS.md``.
- :func:`export_executorch`: a ``.pte`` program for the XNNPACK delegate (fp32 or the int8
  module from :func:`quantize_int8`), fixed input size; :func:`executorch_method` loads it.

Note for integration: the generic ``vidlab.compress`` / ``vidlab export`` (issue 7) can replace
these helpers once it exists; they take any ``nn.Module`` plus an example input, which is what is
passed here (``MobileCartoonGenerator(model)``, ``(1, 3, H, W)``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from vidlab.cartoon.generator import CartoonGenerator
from vidlab.cartoon.mobile import MobileCartoonGenerator

__all__ = ["KEEP_FP32", "executorch_method", "export_executorch", "export_onnx", "mobile_form", "onnx_session", "psnr",
           "quantize_int8"]


#: Convolutions :func:`quantize_int8` leaves in fp32 by default (the most sensitive ones).
KEEP_FP32 = ("conv02_2",)


def mobile_form(model: nn.Module) -> nn.Module:
    """The export form of ``model`` in eval mode: a :class:`CartoonGenerator` becomes a :class:`MobileCartoonGenerator`."""
    return MobileCartoonGenerator(model).eval() if isinstance(model, CartoonGenerator) else model.eval()


def psnr(a: Tensor, b: Tensor, peak_to_peak: float = 2.0) -> float:
    """PSNR in dB between two generator outputs in ``[-1, 1]`` (peak-to-peak 2)."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(peak_to_peak**2 / mse)).item()


def export_onnx(model: nn.Module, path: os.PathLike | str, example_hw: tuple[int, int] = (64, 64),
                dynamic: bool = True) -> Path:
    """Write ``model`` (a :class:`CartoonGenerator` is converted to the mobile form) as ONNX; input
    ``input`` BGR ``[-1, 1]`` ``(1, 3, H, W)``, output ``output``; ``H, W`` dynamic by default."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = mobile_form(model)
    x = torch.zeros(1, 3, *example_hw)
    dyn = None
    if dynamic:
        h, w = torch.export.Dim("height", min=8, max=8192), torch.export.Dim("width", min=8, max=8192)
        dyn = {"x": {2: h, 3: w}}
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):  # the exporter prints its progress on stdout
        torch.onnx.export(m, (x,), str(path), input_names=["input"], output_names=["output"], dynamic_shapes=dyn,
                          dynamo=True, external_data=False, verbose=False)
    return path


def onnx_session(path: os.PathLike | str, threads: int = 2):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (:func:`vidlab.compress.export.onnx_session`)."""
    from vidlab.compress.export import onnx_session as _session

    return _session(path, threads)


def quantize_int8(model: nn.Module, calibration: Iterable[Tensor], dynamic: bool = True,
                  keep_fp32: Iterable[str] = KEEP_FP32) -> torch.fx.GraphModule:
    """PT2E int8 (XNNPACK quantizer, per-channel weights) of the mobile form of ``model``.

    ``calibration``: example inputs (BGR ``[-1, 1]``, ``(1, 3, H, W)``, all of one size: the
    exported graph is specialised to it). ``dynamic=True`` quantizes activations at run time
    (the accurate choice here); ``dynamic=False`` calibrates static scales on ``calibration``.
    ``keep_fp32``: names of the generator's layers left unquantized (``()``: quantize all).
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    calibration = list(calibration)
    if not calibration:
        raise ValueError("quantize_int8 needs at least one example input")
    m = mobile_form(model)
    gm = torch.export.export(m, (calibration[0],)).module()
    q = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic))
    keep = set(keep_fp32)
    if keep:
        def outside_kept_layers(node: torch.fx.Node) -> bool:
            stack = node.meta.get("nn_module_stack") or {}
            return not any(v[0].split(".")[-1] in keep for v in stack.values())

        q.set_filter_function(outside_kept_layers)
    prepared = prepare_pt2e(gm, q)
    with torch.no_grad():
        for x in calibration:
            prepared(x)
    return convert_pt2e(prepared)


def export_executorch(model: nn.Module, path: os.PathLike | str, example: Tensor) -> Path:
    """Lower ``model`` (fp32 generator, its mobile form, or a :func:`quantize_int8` module) for the
    XNNPACK delegate and write the ExecuTorch program (``.pte``); the input size is ``example``'s."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = model if isinstance(model, torch.fx.GraphModule) else mobile_form(model)
    ep = torch.export.export(m, (example,))
    prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(prog.buffer)
    os.replace(tmp, path)
    return path


def executorch_method(path: os.PathLike | str):
    """The ``forward`` method of a ``.pte`` program; call ``method.execute([x])[0]``."""
    from executorch.runtime import Runtime

    return Runtime.get().load_program(str(path)).load_method("forward")
