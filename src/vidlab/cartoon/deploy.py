"""The CartoonGAN generator in ``vidlab compress``, ``vidlab export`` and ``vidlab bench``.

Those commands take vidlab action-model checkpoints; they also take a CartoonGAN
generator weights file (``<Style>_net_G_float.pth``, ``.pt`` or ``.safetensors``, the
files :func:`vidlab.cartoon.load_generator` reads) and the int8 programs written here.
This module holds what is specific to the generator:

- :func:`is_generator_file` / :func:`is_int8_program`: how the commands tell the files apart.
- :func:`quantize_int8_x86`: PT2E static int8 with PyTorch's ``X86InductorQuantizer``
  (per-channel int8 weights, calibrated per-tensor uint8 activations) of the mobile form,
  ``conv02_2`` left fp32 (:data:`vidlab.cartoon.export.KEEP_FP32`), to be run by
  ``torch.compile`` (Inductor lowers the quantized convolutions to oneDNN int8 kernels, AMX
  where the CPU has it). On this machine's Xeon at 256x256: about 0.27x the fp32 eager
  latency and 31-33 dB PSNR against fp32 on real photos (benchmarks/RESULTS.md).
- :func:`save_int8` / :func:`load_int8`: the int8 program as a ``torch.export`` archive
  (``.pt2``, int8 weights only), loaded back and compiled for the CPU. The program is
  specialised to the input size it was calibrated at (like an ExecuTorch ``.pte``); run
  larger images through tiles of that size.
- :func:`calibration_images`: a folder or list of photos, checked before any work.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vidlab.cartoon.export import KEEP_FP32, mobile_form
from vidlab.errors import VidlabError

__all__ = [
    "INT8_SUFFIX",
    "calibration_images",
    "is_generator_file",
    "is_int8_program",
    "load_any",
    "load_int8",
    "quantize_int8_x86",
    "save_int8",
]

INT8_SUFFIX = ".pt2"
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
_MARK = "vidlab_cartoongan.json"


def is_int8_program(path: os.PathLike | str) -> bool:
    return Path(path).suffix == INT8_SUFFIX


def is_generator_file(path: os.PathLike | str) -> bool:
    """True for a CartoonGAN weights file or int8 program: not a vidlab checkpoint, which has a ``STEM.json``
    sidecar or, without one (a kill before it was written), describes itself inside the weights file."""
    p = Path(path)
    if is_int8_program(p):
        return True
    if not (p.suffix in WEIGHT_SUFFIXES and p.is_file()) or p.with_suffix(".json").is_file():
        return False
    if p.suffix == ".safetensors":
        from vidlab.models import read_meta
        from vidlab.models.checkpoint import CheckpointError

        try:
            read_meta(p)
            return False
        except CheckpointError:
            return True
    return True


def calibration_images(source: os.PathLike | str, hw: tuple[int, int], limit: int = 16) -> list[Tensor]:
    """Up to ``limit`` photos from a folder (recursively) or a text list, resized to ``hw``, as the
    generator's inputs. Every listed file is read first: any unreadable one is an error before work."""
    from PIL import Image

    from vidlab.cartoon.generator import preprocess
    from vidlab.cartoon.imageio import IMAGE_EXTENSIONS, read_image

    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    elif src.is_file():
        lines = [ln.strip().split(",")[0].split()[0] for ln in src.read_text().splitlines() if ln.strip()]
        files = [Path(f) if Path(f).is_absolute() else src.parent / f for f in lines]
    else:
        raise VidlabError(f"{src}: no such calibration folder or list")
    if not files:
        raise VidlabError(f"{src}: no images to calibrate on (jpg, png, webp, ...)")
    out = []
    for f in files[:limit]:
        rgb = read_image(f)  # ImageReadError names the file
        im = Image.fromarray(rgb).resize((hw[1], hw[0]), Image.BICUBIC)
        out.append(preprocess(np.asarray(im)))
    return out


def _weight_only_spec(axis: int):
    from torchao.quantization.pt2e.observer import PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationSpec

    return QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_channel_symmetric,
                            ch_axis=axis, is_dynamic=False,
                            observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args(eps=2**-12))


def _x86_quantizer_class():
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation

    class X86WithInt8Storage(xiq.X86InductorQuantizer):
        """``X86InductorQuantizer``, plus per-channel int8 *storage* for the convolution weights it
        leaves alone (the transposed convolutions it has no int8 kernel pattern for, and the layers
        kept fp32): their activations stay fp32 and Inductor's freezing pass folds the weight's
        dequantization back into an fp32 constant, so they compute in fp32 from int8-stored weights."""

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            aten = torch.ops.aten
            for node in model.graph.nodes:
                if node.op != "call_function" or node.target not in (aten.conv2d.default, aten.conv_transpose2d.input):
                    continue
                ann = node.meta.get("quantization_annotation")
                if ann is not None and ann._annotated:
                    continue
                weight = node.args[1]
                axis = 1 if node.target == aten.conv_transpose2d.input else 0  # the output channels
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={weight: _weight_only_spec(axis)}, _annotated=True)
            return model

    return X86WithInt8Storage


def quantize_int8_x86(model: nn.Module, calibration: Iterable[Tensor],
                      keep_fp32: Iterable[str] = KEEP_FP32) -> torch.fx.GraphModule:
    """Static PT2E int8 of the generator's mobile form with ``X86InductorQuantizer``.

    ``calibration``: inputs of one size (BGR ``[-1, 1]``, ``(1, 3, H, W)``); the program is
    specialised to it. ``keep_fp32``: generator layer names computed in fp32 (their weights
    are still stored as per-channel int8, as are the transposed convolutions', which the
    x86 quantizer does not quantize). The fp32 copies of the weights are dropped, so the
    saved program holds int8 convolution weights only.
    """
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    calibration = list(calibration)
    if not calibration:
        raise VidlabError("int8 calibration needs at least one image")
    m = mobile_form(model)
    gm = torch.export.export(m, (calibration[0],)).module()
    q = _x86_quantizer_class()().set_global(xiq.get_default_x86_inductor_quantization_config())
    for name in keep_fp32:
        q.set_module_name_qconfig(name, None)
    prepared = prepare_pt2e(gm, q)
    with torch.no_grad():
        for x in calibration:
            prepared(x)
    converted = convert_pt2e(prepared)
    used = {n.target for n in converted.graph.nodes if n.op == "get_attr"}
    for name, _ in list(converted.named_parameters()) + list(converted.named_buffers()):
        if name not in used:
            owner, _, leaf = name.rpartition(".")
            delattr(converted.get_submodule(owner) if owner else converted, leaf)
    return converted


def save_int8(program: torch.fx.GraphModule, example: Tensor, path: os.PathLike | str, info: dict) -> Path:
    """Write ``program`` as a ``torch.export`` archive (``.pt2``) with ``info`` stored inside."""
    path = Path(path)
    if path.suffix != INT8_SUFFIX:
        path = path.with_name(path.name + INT8_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    ep = torch.export.export(program, (example,))
    # torch.export.save stores the example input: keep its shape, not a 3xHxW image of floats
    ep.example_inputs = ((torch.zeros((), dtype=example.dtype).expand(example.shape),), {})
    doc = {"format": "vidlab-cartoongan-int8", "input_shape": list(example.shape), **info}
    tmp = path.with_name(f".tmp{os.getpid()}.{path.name}")
    torch.export.save(ep, str(tmp), extra_files={_MARK: json.dumps(doc)})
    os.replace(tmp, path)
    return path


def read_int8_info(path: os.PathLike | str) -> dict:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith(_MARK)), None)
            if name is None:
                raise VidlabError(f"{path}: not a vidlab CartoonGAN int8 program (no {_MARK} inside)")
            return json.loads(z.read(name))
    except (zipfile.BadZipFile, OSError) as e:
        raise VidlabError(f"{path}: not a readable .pt2 program ({e})") from None


def load_int8(path: os.PathLike | str, compile: bool = True) -> tuple[nn.Module, dict]:
    """The int8 program and its info; compiled by Inductor for the CPU unless ``compile=False``
    (uncompiled, the quantize/dequantize steps run as reference fp32 arithmetic: same output, slow)."""
    import torchao.quantization.pt2e.quantize_pt2e

    # Importing the x86 quantizer registers torchao's Inductor passes that turn dequantize ->
    # conv -> quantize into oneDNN int8 convolutions; without them the program ran 4x slower.
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401

    info = read_int8_info(path)
    module = torch.export.load(str(path)).module()
    if compile:
        from vidlab.compress.fastpath import compile_frozen

        module = compile_frozen(module)
    return module, info


def load_any(path: os.PathLike | str) -> tuple[nn.Module, dict]:
    """A generator weights file (fp32 eager model) or an int8 program (compiled), with its info."""
    from vidlab.cartoon.weights import load_generator

    if is_int8_program(path):
        return load_int8(path)
    return load_generator(weights=path), {"format": "cartoongan-weights"}


def export_generator(model: nn.Module, out: os.PathLike | str, fmt: str, hw: tuple[int, int] = (256, 256),
                     int8: bool = False, calibration: list[Tensor] | None = None) -> dict:
    """Export the generator's mobile form and check the file against eager PyTorch.

    ``fmt``: ``onnx`` (dynamic height/width; ``int8`` adds ONNX Runtime's QDQ model next to
    it), ``executorch`` (XNNPACK ``.pte`` at ``hw``; ``int8``: per-channel weights, dynamic
    activations, :data:`KEEP_FP32` left fp32) or ``torchscript`` (traced at ``hw``).
    Returns the record ``vidlab export --json`` prints.
    """
    from vidlab.cartoon.export import (
        executorch_method,
        export_executorch,
        export_onnx,
        onnx_session,
        psnr,
        quantize_int8,
    )
    from vidlab.compress.export import export_torchscript, quantize_onnx_int8

    out = Path(out)
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        ref = model(x)
    rec: dict = {"format": fmt, "path": str(out), "input_shape": list(x.shape), "int8": int8}
    if fmt == "onnx":
        export_onnx(model, out)
        y = torch.from_numpy(onnx_session(out).run(None, {"input": x.numpy()})[0])
        if int8:
            dst = out.with_suffix(".int8.onnx")
            quantize_onnx_int8(out, dst, [(c,) for c in (calibration or [x])])
            yq = torch.from_numpy(onnx_session(dst).run(None, {"input": x.numpy()})[0])
            rec.update(int8_path=str(dst), int8_size_mb=dst.stat().st_size / 2**20, int8_psnr_vs_eager=psnr(yq, ref))
    elif fmt == "executorch":
        m = quantize_int8(model, calibration or [x]) if int8 else model
        export_executorch(m, out, x)
        y = executorch_method(out).execute([x])[0]
    elif fmt == "torchscript":
        export_torchscript(mobile_form(model), (x,), out, verify=False)
        with torch.no_grad():
            y = torch.jit.load(str(out))(x)
    else:
        raise VidlabError(f"unknown export format {fmt!r}; choose onnx, torchscript or executorch")
    rec.update(size_mb=out.stat().st_size / 2**20, max_abs_diff=float((y - ref).abs().max()),
               psnr_vs_eager=psnr(y, ref))
    if not int8 and rec["max_abs_diff"] > 1e-3:
        raise VidlabError(f"{out}: the exported generator differs from PyTorch by {rec['max_abs_diff']:.3g} (> 1e-3)")
    return rec
