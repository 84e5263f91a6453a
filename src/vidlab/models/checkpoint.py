"""vidlab checkpoints: safetensors weights + a JSON sidecar.

``save(model, "run/model.safetensors", labels=[...])`` writes
``run/model.safetensors`` and ``run/model.json``. The sidecar carries what is
needed to rebuild and use the model (``arch``, ``num_classes``, builder
overrides, label names, preprocessing), where it came from, and the sha256 of
the weights file, which every load checks (a changed byte is one error naming
the file). Both files are written to temporary names and renamed, weights
first. :func:`write_sidecar` is the one place a sidecar is written.

Compressed checkpoints (``compression.method`` other than fp16/bf16) are read
by loaders that other packages register with :func:`register_loader`
(``vidlab.compress`` registers int8 and pruned ones, also through the
``vidlab.checkpoint_loaders`` entry point, so this module never imports it).

Pickled files (``.pt``, ``.pth``, ``.pyth``) are read with
``torch.load(weights_only=True)`` only; anything that needs arbitrary
unpickling is refused.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, fsync, rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# keys write_sidecar owns: whatever a caller passes for them is replaced
_OWN_KEYS = ("format", "version", "sha256", "weights", "created")


def write_sidecar(stem: str | os.PathLike, doc: dict[str, Any], weights_name: str, blob: bytes) -> Path:
    """Write ``STEM.json`` for a weights file ``weights_name`` whose bytes are ``blob``.

    ``doc`` carries the checkpoint's metadata (``arch``, ``num_classes``, ``labels``...);
    the format tag, version, weights file name, its sha256 and the creation time are
    set here. Returns the sidecar path."""
    from vidlab import __version__

    stem = Path(stem)
    out = {k: v for k, v in doc.items() if k not in _OWN_KEYS}
    out.update(format=FORMAT, version=FORMAT_VERSION, weights=weights_name, sha256=hashlib.sha256(blob).hexdigest(),
               created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    out.setdefault("model_kwargs", {})
    out.setdefault("vidlab_version", __version__)
    sidecar = stem.with_name(stem.name + ".json")
    atomic_write_bytes(sidecar, (json.dumps(out, indent=2, sort_keys=True) + "\n").encode())
    return sidecar


def verify_sha256(file: Path, meta: dict, blob: bytes | None = None) -> None:
    """Refuse ``file`` when its sha256 differs from the one the sidecar ``meta`` records
    (``blob``: its bytes when the caller has read them already; else the file is hashed in chunks)."""
    want = meta.get("sha256")
    if not want:
        return
    if blob is not None:
        got = hashlib.sha256(blob).hexdigest()
    else:
        h = hashlib.sha256()
        try:
            with open(file, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    h.update(chunk)
        except OSError as e:
            raise CheckpointError(f"{file}: unreadable ({e.strerror})") from None
        got = h.hexdigest()
    if got != want:
        raise CheckpointError(f"{file}: sha256 differs from the one its sidecar records (the file was changed or "
                              "only partly written); re-create or re-download the checkpoint")


def save(model: nn.Module, path: str | os.PathLike, **meta: Any) -> Path:
    """Write ``model``'s weights and a sidecar; returns the weights path.

    ``meta`` keys of note: ``arch`` (defaults to ``model.arch``), ``labels``,
    ``model_kwargs`` (builder overrides used), ``preprocessing``,
    ``provenance``. Anything JSON-serialisable may be added.
    """
    from safetensors.torch import save as st_save

    weights, _ = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = st_save(state, metadata={"format": FORMAT})
    old_meta = dict(getattr(model, "meta", {}) or {})
    arch = meta.pop("arch", None) or getattr(model, "arch", None) or old_meta.get("arch")
    if not arch:
        raise CheckpointError("cannot save a checkpoint without an architecture name (pass arch=...)")
    num_classes = meta.pop("num_classes", None) or _num_classes(model) or old_meta.get("num_classes")
    doc = {**old_meta, **meta, "arch": arch, "num_classes": num_classes}
    atomic_write_bytes(weights, blob)
    write_sidecar(weights.with_suffix(""), doc, weights.name, blob)
    return weights


def _num_classes(model: nn.Module) -> int | None:
    """The contract's ``num_classes`` (read off the classifier), for any vidlab model."""
    n = getattr(model, "num_classes", None)
    return int(n) if n is not None else None


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
    weights, sidecar = checkpoint_paths(p)
    if not weights.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if sidecar.exists():  # a vidlab checkpoint: the pair must belong together
        try:
            meta = read_meta(p)
        except CheckpointError:
            meta = {}  # a foreign json beside plain safetensors weights: nothing to check against
        verify_sha256(weights, meta)  # hashed in chunks, then memory-mapped: no second copy in RAM
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
    method = (meta.get("compression") or {}).get("method")
    if method not in (None, "fp16", "bf16"):
        return _loader_for(method, path)(path)
    try:
        model = build(meta["arch"], num_classes=meta.get("num_classes"), **meta.get("model_kwargs", {}))
    except KeyError as e:
        raise CheckpointError(f"{path}: {e.args[0]}") from None
    state = load_state_dict(path)
    weights, _ = checkpoint_paths(path)
    load_into(model, state, str(weights))
    setattr(model, "meta", meta)  # a plain attribute (the stubs type Module attributes as Tensor | Module)
    return model.to(map_location).eval()


# ----------------------------------------------------------------------------
# Loaders of compressed checkpoints, registered by the packages that write them.

Loader = Callable[[str | os.PathLike], nn.Module]
_LOADERS: dict[str, Loader] = {}
ENTRY_POINT_GROUP = "vidlab.checkpoint_loaders"


def register_loader(method: str, loader: Loader) -> None:
    """``loader(path) -> nn.Module`` reads checkpoints whose ``compression.method`` is
    ``method``, or starts with ``method + "-"`` (``"int8"`` covers ``int8-static``...)."""
    _LOADERS[method] = loader


def _find(method: str) -> Loader | None:
    return _LOADERS.get(method) or _LOADERS.get(method.split("-", 1)[0])


def _loader_for(method: str, path: str | os.PathLike) -> Loader:
    loader = _find(method)
    if loader is None:  # installed packages declare their loaders as entry points
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in (method, method.split("-", 1)[0]):
                register_loader(ep.name, ep.load())
        loader = _find(method)
    if loader is None:
        raise CheckpointError(f"{path}: compressed with {method!r}, and no installed package registers a loader "
                              f"for it (vidlab.compress does for int8 and prune)")
    return loader
