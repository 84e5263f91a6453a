"""vidlab checkpoints: safetensors weights + a JSON sidecar.

``save(model, "run/model.safetensors", labels=[...])`` writes
``run/model.safetensors`` and ``run/model.json``. The sidecar carries what is
needed to rebuild and use the model (``arch``, ``num_classes``, builder
overrides, label names, preprocessing) and where it came from. Both files are
written to temporary names and renamed, weights first, so a crash leaves
either the previous checkpoint or a complete new one.

Pickled files (``.pt``, ``.pth``, ``.pyth``) are read with
``torch.load(weights_only=True)`` only; anything that needs arbitrary
unpickling is refused.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidlab.errors import VidlabError

FORMAT = "vidlab-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = {".pt", ".pth", ".pyth", ".pkl", ".ckpt", ".bin"}


class CheckpointError(VidlabError, RuntimeError):
    """A checkpoint is missing, incomplete, unsafe or does not fit its model."""


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights, sidecar)`` for a path given as stem, ``.safetensors`` or ``.json``."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save(model: nn.Module, path: str | os.PathLike, **meta: Any) -> Path:
    """Write ``model``'s weights and a sidecar; returns the weights path.

    ``meta`` keys of note: ``arch`` (defaults to ``model.arch``), ``labels``,
    ``model_kwargs`` (builder overrides used), ``preprocessing``,
    ``provenance``. Anything JSON-serialisable may be added.
    """
    from safetensors.torch import save as st_save

    weights, sidecar = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = st_save(state, metadata={"format": FORMAT})
    old_meta = dict(getattr(model, "meta", {}) or {})
    arch = meta.pop("arch", None) or getattr(model, "arch", None) or old_meta.get("arch")
    if not arch:
        raise CheckpointError("cannot save a checkpoint without an architecture name (pass arch=...)")
    num_classes = meta.pop("num_classes", None) or _num_classes(model) or old_meta.get("num_classes")
    doc = {
        **{k: v for k, v in old_meta.items() if k not in ("format", "version", "sha256", "weights", "created")},
        **meta,
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": arch,
        "num_classes": num_classes,
        "weights": weights.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    doc.setdefault("model_kwargs", {})
    from vidlab import __version__

    doc.setdefault("vidlab_version", __version__)
    _atomic_write_bytes(weights, blob)
    _atomic_write_bytes(sidecar, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return weights


def _num_classes(model: nn.Module) -> int | None:
    head = getattr(model, "head", None)
    proj = getattr(head, "projection", None)
    return getattr(proj, "out_features", None) or getattr(model, "num_classes", None)


def read_meta(path: str | os.PathLike) -> dict:
    weights, sidecar = checkpoint_paths(path)
    if not sidecar.exists():
        if weights.exists():
            raise CheckpointError(f"{weights}: no sidecar {sidecar.name} beside it (incomplete or foreign checkpoint)")
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        doc = json.loads(sidecar.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{sidecar}: unreadable sidecar ({e})") from None
    if doc.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar}: not a vidlab checkpoint sidecar")
    return doc


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint: safetensors, or a pickle read with ``weights_only=True``.

    A pickle holding ``{"model_state": ...}`` (PySlowFast), ``{"state_dict": ...}``
    or ``{"model": ...}`` yields the inner dict.
    """
    p = Path(path)
    if p.suffix in PICKLE_SUFFIXES:
        if not p.exists():
            raise CheckpointError(f"{p}: checkpoint not found")
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle refuses non-allowlisted globals
            raise CheckpointError(
                f"{p}: refused to load: it is not a plain tensor pickle and vidlab never unpickles arbitrary "
                f"objects ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
            ) from None
        for key in ("model_state", "state_dict", "model"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointError(f"{p}: no state dict of tensors inside")
        return obj
    weights, _ = checkpoint_paths(p)
    if not weights.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: corrupt safetensors file ({e})") from None


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``load_state_dict(strict=True)`` with an error that names the bad keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch {_few(shapes)}")
        raise CheckpointError(f"{source}: does not fit the model: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def _few(items: list[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return f"[{shown}{', ... +%d more' % (len(items) - n) if len(items) > n else ''}]"


def load(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model from a vidlab checkpoint, in eval mode, with ``.meta`` set."""
    from vidlab.models.registry import build

    meta = read_meta(path)
    if (meta.get("compression") or {}).get("method") not in (None, "fp16", "bf16"):
        from vidlab.compress.ckpt import load_compressed  # int8 / pruned; lazy: models/ does not need compress/

        return load_compressed(path)
    try:
        model = build(meta["arch"], num_classes=meta.get("num_classes"), **meta.get("model_kwargs", {}))
    except KeyError as e:
        raise CheckpointError(f"{path}: {e.args[0]}") from None
    state = load_state_dict(path)
    weights, _ = checkpoint_paths(path)
    load_into(model, state, str(weights))
    model.meta = meta
    return model.to(map_location).eval()
