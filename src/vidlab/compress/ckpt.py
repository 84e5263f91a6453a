"""Compressed vidlab checkpoints: what ``vidlab compress`` writes and how it reloads.

Every compressed checkpoint keeps vidlab's JSON sidecar (``format``,
``arch``, ``labels``, ``preprocessing``...) with one more key,
``compression`` (``method`` and its settings, fallbacks, source checkpoint).
The weights file depends on the method:

``fp16`` / ``bf16``
    ``STEM.safetensors`` holding the (unfolded) weights in that dtype: an
    ordinary checkpoint, so :func:`vidlab.models.load` reads it unchanged
    (into fp32); :func:`load_compressed` returns the model in the dtype.
``prune``
    ``STEM.safetensors`` holding the pruned weights under the architecture's
    own key names with smaller shapes; :func:`load_compressed` builds the
    architecture, shrinks each layer to the stored shapes (conv/linear
    channels, BN features, depthwise groups) and loads them strictly.
``int8-static`` / ``int8-dynamic``
    ``STEM.ts``: the quantized model as a TorchScript program (int8 weights
    packed for the ``x86`` backend; loads with ``torch.jit.load``, no pickle of
    Python objects). :func:`load_compressed` wraps it in a module carrying
    ``.meta``.

Each is one atomic unit, as :mod:`vidlab.models.checkpoint` describes: the
weights file embeds the sidecar document and the digests to verify itself,
is renamed into place first (the commit), and the sidecar follows. A
safetensors one goes through :func:`vidlab.models.save`; a program embeds the
document as the extra file ``vidlab.json`` (with ``program_sha256``, the
digest of its records) and that file's sha256 as ``vidlab.sha256``. When the
sidecar is missing or stale (a process killed between the two renames),
:func:`~vidlab.models.read_meta` returns the embedded document and the loaders
here check the file against its own digests.

:func:`load_compressed` also loads ordinary checkpoints, so callers can use it
for any vidlab checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch
from torch import nn

from vidlab.models.checkpoint import (
    PROGRAM_DOC,
    PROGRAM_SHA,
    PROGRAM_SUFFIX,
    CheckpointError,
    atomic_write_bytes,
    checkpoint_paths,
    program_sha256,
    read_meta,
    register_loader,
    sidecar_document,
    verify_sha256,
    write_sidecar,
)

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def stem_of(path: str | os.PathLike) -> Path:
    """The checkpoint stem for a path given as stem, sidecar or weights file (any suffix)."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json", PROGRAM_SUFFIX):
        p = p.with_suffix("")
    return p


def weights_file(path: str | os.PathLike, meta: dict | None = None) -> Path:
    """The file holding a checkpoint's weights (``.safetensors`` or the int8 ``.ts`` program)."""
    stem = stem_of(path)
    meta = meta if meta is not None else read_meta(stem)
    method = (meta.get("compression") or {}).get("method", "")
    if method.startswith("int8"):
        return stem.with_name(stem.name + PROGRAM_SUFFIX)
    return checkpoint_paths(stem)[0]


def save_program(program: torch.jit.ScriptModule, path: str | os.PathLike, meta: dict, compression: dict) -> Path:
    """Write an int8 TorchScript program (embedding its document) and then its sidecar; returns the program path."""
    stem = stem_of(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    target = stem.with_name(stem.name + PROGRAM_SUFFIX)
    doc = sidecar_document({**meta, "compression": compression}, target.name)
    # the records' digest goes into the document, the document into the archive: serialise twice
    # (the records do not depend on the extra files; checked below)
    doc["program_sha256"] = program_sha256(_serialise(program, {}))
    text = json.dumps(doc, sort_keys=True)
    self_sha = hashlib.sha256(text.encode()).hexdigest()
    blob = _serialise(program, {PROGRAM_DOC: text, PROGRAM_SHA: self_sha})
    if program_sha256(blob) != doc["program_sha256"]:  # pragma: no cover - torch.jit.save is deterministic
        raise CheckpointError(f"{target}: TorchScript wrote different records twice; cannot embed its digest")
    atomic_write_bytes(target, blob)  # the commit: from here on the stem loads as the new checkpoint
    write_sidecar(stem, doc, target.name, blob, self_sha256=self_sha)
    return target


def _serialise(program: torch.jit.ScriptModule, extra: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(program, buf, _extra_files=extra)
    return buf.getvalue()


def save_state(model: nn.Module, path: str | os.PathLike, meta: dict, compression: dict) -> Path:
    """Write a safetensors checkpoint (fp16/bf16/pruned weights) with ``compression`` in its sidecar."""
    from vidlab.models import save

    model.meta = {k: v for k, v in meta.items() if k != "compression"}
    return save(model, stem_of(path), compression=compression)


class CompressedProgram(nn.Module):
    """An int8 TorchScript program with the checkpoint's ``meta`` (call it like the model)."""

    is_compressed = True

    def __init__(self, program: torch.jit.ScriptModule, meta: dict, backend: str = "x86"):
        super().__init__()
        self.program = program
        self.meta = meta
        self.arch = meta.get("arch")
        self.backend = backend

    def forward(self, *args):
        if torch.backends.quantized.engine != self.backend:
            torch.backends.quantized.engine = self.backend
        return self.program(*args)


def resize_to_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Shrink conv/linear/BN layers of ``model`` to the shapes stored in ``state`` (pruned weights)."""
    for name, mod in model.named_modules():
        key = f"{name}.weight" if name else "weight"
        if key not in state or not hasattr(mod, "weight") or mod.weight is None:
            continue
        w = state[key]
        if tuple(w.shape) == tuple(mod.weight.shape):
            continue
        if isinstance(mod, nn.modules.conv._ConvNd):
            depthwise = mod.groups > 1 and mod.groups == mod.in_channels == mod.out_channels
            mod.out_channels = w.shape[0]
            if depthwise:
                mod.groups = w.shape[0]
            mod.in_channels = w.shape[1] * mod.groups
        elif isinstance(mod, nn.Linear):
            mod.out_features, mod.in_features = w.shape
        elif isinstance(mod, nn.modules.batchnorm._NormBase):
            mod.num_features = w.shape[0]
        elif isinstance(mod, nn.LayerNorm):
            mod.normalized_shape = tuple(w.shape)
        elif isinstance(mod, nn.GroupNorm):
            mod.num_channels = w.shape[0]
        else:
            raise CheckpointError(f"pruned checkpoint: cannot resize layer {name} ({type(mod).__name__})")
        for pname, p in list(mod.named_parameters(recurse=False)):
            k = f"{name}.{pname}" if name else pname
            if k in state:
                setattr(mod, pname, nn.Parameter(torch.empty_like(state[k], dtype=p.dtype), requires_grad=p.requires_grad))
        for bname, b in list(mod.named_buffers(recurse=False)):
            k = f"{name}.{bname}" if name else bname
            if k in state and b is not None:
                setattr(mod, bname, torch.empty_like(state[k], dtype=b.dtype))
    return model


def load_compressed(path: str | os.PathLike) -> nn.Module:
    """Load any vidlab checkpoint, compressed or not, in eval mode with ``.meta``."""
    from vidlab.models import build, load
    from vidlab.models.checkpoint import load_into, load_state_dict

    stem = stem_of(path)
    meta = read_meta(stem)
    comp = meta.get("compression") or {}
    method = comp.get("method")
    if not method:
        return load(stem)
    if method in DTYPES:
        model = load(stem).to(DTYPES[method])
        return model.eval()
    if method == "prune":
        model = build(meta["arch"], num_classes=meta.get("num_classes"), **meta.get("model_kwargs", {}))
        state = load_state_dict(stem)
        resize_to_state(model, state)
        load_into(model, state, str(checkpoint_paths(stem)[0]))
        model.meta = meta
        return model.eval()
    if method.startswith("int8"):
        prog_path = weights_file(stem, meta)
        if not prog_path.exists():
            raise CheckpointError(f"{stem}: int8 program {prog_path.name} not found")
        blob = prog_path.read_bytes()
        verify_sha256(prog_path, meta, blob)
        torch.backends.quantized.engine = comp.get("backend", "x86")
        try:
            program = torch.jit.load(io.BytesIO(blob), map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{prog_path}: unreadable TorchScript program ({str(e).splitlines()[0][:160]})") from None
        return CompressedProgram(program, meta, comp.get("backend", "x86")).eval()
    raise CheckpointError(f"{stem}: unknown compression method {method!r}")


register_loader("prune", load_compressed)
register_loader("int8", load_compressed)
