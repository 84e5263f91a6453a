"""vidlab checkpoints: safetensors weights that describe themselves, plus a JSON sidecar.

``save(model, "run/model.safetensors", labels=[...])`` writes
``run/model.safetensors`` and ``run/model.json``. The sidecar document carries
what is needed to rebuild and use the model (``arch``, ``num_classes``,
builder overrides, label names, preprocessing) and where it came from.

The rule that makes a checkpoint one atomic unit:

* **The weights file is the authority.** Its safetensors header embeds the
  whole sidecar document (metadata ``vidlab``: the JSON text), the sha256 of
  the tensor data (``vidlab_data_sha256``: the bytes after the 8-byte length
  and the header) and the sha256 of the length + header themselves
  (``vidlab_sha256``, computed with its own 64 hex digits written as zeros),
  so the file verifies itself although its whole-file hash cannot be inside
  it. It is written to a temporary name and renamed: that one rename commits
  the checkpoint.
* **The sidecar is a convenience copy**, written (atomically) after the
  rename: the same document plus the whole-file ``sha256`` and the file's
  ``self_sha256`` (the ``vidlab_sha256`` of the weights it belongs to).
* **Reading** (:func:`read_meta`, :func:`load`, :func:`load_state_dict`): the
  sidecar is used when it belongs to the weights (its ``self_sha256`` is the
  one the file records; the load then checks the whole-file ``sha256`` as
  always). When it is missing, unreadable or stale (a process killed between
  the two renames leaves the previous checkpoint's sidecar, or none), the
  document embedded in the weights is used, after the file has verified
  itself (header digest at :func:`read_meta`, data digest on load). A pair is
  never mixed, and a changed byte anywhere is one error naming the file.
  Weights that embed nothing (checkpoints written before this rule, foreign
  files) need their sidecar, as before.

So a process killed at any instant of :func:`save` leaves the previous
checkpoint (temporary files are ignored, and removed by a later save once
their writer is gone) or the new one. :func:`write_sidecar` is the one place
a sidecar is written, :func:`sidecar_document` the one place its format
fields are set.

Compressed checkpoints (``compression.method`` other than fp16/bf16) are read
by loaders that other packages register with :func:`register_loader`
(``vidlab.compress`` registers int8 and pruned ones, also through the
``vidlab.checkpoint_loaders`` entry point, so this module never imports it).
Their int8 TorchScript programs (``STEM.ts``) follow the same rule: the
archive holds the document (extra file ``vidlab.json``, with
``program_sha256``: :func:`program_sha256` of the archive's records) and its
sha256 (extra file ``vidlab.sha256``, the program's ``self_sha256``).

Pickled files (``.pt``, ``.pth``, ``.pyth``) are read with
``torch.load(weights_only=True)`` only; anything that needs arbitrary
unpickling is refused.
"""

from __future__ import annotations

import datetime as _dt
import glob
import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

import torch
from torch import nn

from vidlab.errors import VidlabError

FORMAT = "vidlab-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = {".pt", ".pth", ".pyth", ".pkl", ".ckpt", ".bin"}
PROGRAM_SUFFIX = ".ts"  # an int8 checkpoint's TorchScript program (vidlab.compress)
# safetensors header metadata of a vidlab checkpoint
EMBED_KEY = "vidlab"  # the sidecar document, as JSON text
DATA_SHA_KEY = "vidlab_data_sha256"  # sha256 of the tensor data section
SELF_SHA_KEY = "vidlab_sha256"  # sha256 of length + header, with this value written as 64 zeros
# extra files of a TorchScript program archive
PROGRAM_DOC = "vidlab.json"
PROGRAM_SHA = "vidlab.sha256"
_UNHASHED_RECORDS = {f"extra/{PROGRAM_DOC}", f"extra/{PROGRAM_SHA}", ".data/serialization_id"}
_ZERO = "0" * 64
_CHUNK = 1 << 22
_MAX_HEADER = 100_000_000  # the safetensors limit
_ZIP_MAGIC = b"PK\x03\x04"
_TRIES = 3  # reads of a checkpoint that another process replaces meanwhile


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
    _atomic_write(Path(path), data)


def _atomic_write(path: Path, *pieces: bytes | memoryview) -> None:
    """:func:`atomic_write_bytes` of the concatenated ``pieces`` (no joined copy in memory); then the
    directory is synced and temporary files of ``path`` whose writer is gone are removed."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            for piece in pieces:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    _remove_orphans(path)


def fsync_dir(path: Path) -> None:
    """Make a rename inside folder ``path`` durable (where the platform has directory fds)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _remove_orphans(path: Path) -> None:
    """Remove ``.NAME.tmpPID`` files left by writers of ``path`` killed before their rename."""
    prefix = f".{path.name}.tmp"
    for p in path.parent.glob(f".{glob.escape(path.name)}.tmp*"):
        pid = p.name[len(prefix):]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and p.is_file():
            p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no such call: keep its file
        return True
    return True


# keys write_sidecar/sidecar_document own: whatever a caller passes for them is replaced
_OWN_KEYS = ("format", "version", "sha256", "weights", "created", "self_sha256", "program_sha256")


def sidecar_document(doc: dict[str, Any], weights_name: str, created: str | None = None) -> dict[str, Any]:
    """The checkpoint document for a weights file ``weights_name``: ``doc``'s metadata (``arch``,
    ``num_classes``, ``labels``...) with the format tag, version, weights file name and creation time
    set (no hashes: those depend on the file the document goes into)."""
    from vidlab import __version__

    out = {k: v for k, v in doc.items() if k not in _OWN_KEYS}
    out.update(format=FORMAT, version=FORMAT_VERSION, weights=weights_name,
               created=created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    out.setdefault("model_kwargs", {})
    out.setdefault("vidlab_version", __version__)
    return out


def write_sidecar(stem: str | os.PathLike, doc: dict[str, Any], weights_name: str, blob: bytes | None = None, *,
                  sha256: str | None = None, self_sha256: str | None = None) -> Path:
    """Write ``STEM.json`` for a weights file ``weights_name`` whose bytes are ``blob``
    (or whose whole-file hash is ``sha256``). Returns the sidecar path.

    Without ``self_sha256``, ``doc`` carries the checkpoint's metadata and the document is made
    from it by :func:`sidecar_document`. With it (the weights embed their document), ``doc`` is that
    embedded document and is copied unchanged, with ``self_sha256`` added so readers can tell that
    the sidecar belongs to those weights."""
    stem = Path(stem)
    out = dict(doc) if self_sha256 else sidecar_document(doc, weights_name)
    if sha256 is None:
        if blob is None:
            raise ValueError("write_sidecar needs the weights' bytes or their sha256")
        sha256 = hashlib.sha256(blob).hexdigest()
    out["sha256"] = sha256
    if self_sha256:
        out["self_sha256"] = self_sha256
    sidecar = stem.with_name(stem.name + ".json")
    atomic_write_bytes(sidecar, (json.dumps(out, indent=2, sort_keys=True) + "\n").encode())
    return sidecar


# ----------------------------------------------------------------------------
# What a weights file records of itself.

class _Probe(NamedTuple):
    """The document a weights file embeds (None: it does not match the digest recorded beside it)
    and that digest (the file's ``self_sha256``)."""

    doc: dict | None
    self_sha256: str


def _needle(digest: str) -> bytes:
    return f'"{SELF_SHA_KEY}":"{digest}"'.encode()


def _prefix_digest(prefix: bytes, recorded: str) -> str | None:
    """sha256 of a safetensors length + header with the recorded ``vidlab_sha256`` value zeroed."""
    needle = _needle(recorded)
    if len(recorded) != 64 or prefix.count(needle) != 1:
        return None
    return hashlib.sha256(prefix.replace(needle, _needle(_ZERO))).hexdigest()


def _read_prefix(f: IO[bytes]) -> tuple[bytes, dict] | None:
    """The 8-byte length + header of a safetensors file, and the header parsed (None: not one)."""
    f.seek(0)
    head = f.read(8)
    if len(head) != 8:
        return None
    n = int.from_bytes(head, "little")
    if not 2 <= n <= _MAX_HEADER:
        return None
    text = f.read(n)
    if len(text) != n:
        return None
    try:
        header = json.loads(text)
    except ValueError:
        return None
    return (head + text, header) if isinstance(header, dict) else None


def _probe_safetensors(f: IO[bytes]) -> _Probe | None:
    got = _read_prefix(f)
    if got is None:
        return None
    prefix, header = got
    meta = header.get("__metadata__")
    if not isinstance(meta, dict):
        return None
    text, digest = meta.get(EMBED_KEY), meta.get(SELF_SHA_KEY)
    if not isinstance(text, str) or not isinstance(digest, str):
        return None
    if _prefix_digest(prefix, digest) != digest or not isinstance(meta.get(DATA_SHA_KEY), str):
        return _Probe(None, digest)
    return _Probe(_document_or_none(text), digest)


def _document_or_none(text: str | bytes) -> dict | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


# what zipfile raises on a damaged archive (a flipped compression-method field: NotImplementedError;
# a flipped "encrypted" flag: RuntimeError)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, KeyError, OSError,
               NotImplementedError, RuntimeError)


def _record_name(name: str) -> str:
    """A record's name inside a TorchScript archive (without the archive's top folder)."""
    return name.split("/", 1)[1] if "/" in name else name


def _probe_program(f: IO[bytes]) -> _Probe | None:
    try:
        with zipfile.ZipFile(f) as z:
            names = {_record_name(n): n for n in z.namelist()}
            doc_name, sha_name = names.get(f"extra/{PROGRAM_DOC}"), names.get(f"extra/{PROGRAM_SHA}")
            if doc_name is None or sha_name is None:
                return None
            text, digest = z.read(doc_name), z.read(sha_name).decode("ascii").strip()
    except _ZIP_ERRORS:  # a damaged archive (zipfile checks each record's CRC-32) embeds nothing usable
        return None
    if len(digest) != 64 or hashlib.sha256(text).hexdigest() != digest:
        return _Probe(None, digest)
    doc = _document_or_none(text)
    return _Probe(doc if doc is not None and isinstance(doc.get("program_sha256"), str) else None, digest)


def _probe(f: IO[bytes]) -> _Probe | None:
    """What the open weights file ``f`` embeds (None: nothing; a ``doc`` of None: it is damaged)."""
    f.seek(0)
    if f.read(4) == _ZIP_MAGIC:
        return _probe_program(f)
    return _probe_safetensors(f)


def program_sha256(source: bytes | str | os.PathLike | IO[bytes]) -> str:
    """sha256 over the records of a TorchScript archive (name, size, bytes, in name order), leaving out
    the vidlab extra files and torch's ``.data/serialization_id`` (a checksum of the others)."""
    src = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    h = hashlib.sha256()
    with zipfile.ZipFile(src) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            rel = _record_name(info.filename)
            if rel in _UNHASHED_RECORDS:
                continue
            h.update(f"{rel}\0{info.file_size}\0".encode())
            with z.open(info) as r:
                for chunk in iter(lambda: r.read(_CHUNK), b""):
                    h.update(chunk)
    return h.hexdigest()


def _sha256_from(f: IO[bytes], offset: int = 0) -> str:
    f.seek(offset)
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def _verifies_itself(f: IO[bytes], want: str) -> bool:
    """Does the open weights file ``f`` record ``want`` as its ``self_sha256`` and match all it records?"""
    f.seek(0)
    if f.read(4) == _ZIP_MAGIC:
        probe = _probe_program(f)
        if probe is None or probe.doc is None or probe.self_sha256 != want:
            return False
        try:
            return program_sha256(f) == probe.doc["program_sha256"]
        except _ZIP_ERRORS:
            return False
    got = _read_prefix(f)
    if got is None:
        return False
    prefix, header = got
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get(SELF_SHA_KEY) != want or _prefix_digest(prefix, want) != want:
        return False
    return _sha256_from(f, len(prefix)) == meta.get(DATA_SHA_KEY)


def _sidecar_error(file: Path) -> CheckpointError:
    return CheckpointError(f"{file}: sha256 differs from the one its sidecar records (the file was changed or "
                           "only partly written); re-create or re-download the checkpoint")


def _self_error(file: Path) -> CheckpointError:
    return CheckpointError(f"{file}: sha256 differs from the one the file records of itself (it was changed or "
                           "only partly written); re-create or re-download the checkpoint")


def _check(f: IO[bytes], file: Path, meta: dict) -> None:
    """Refuse the open weights file ``f`` unless it matches ``meta`` (one pass over the file)."""
    if meta.get("sha256"):
        if _sha256_from(f) != meta["sha256"]:
            raise _sidecar_error(file)
    elif meta.get("self_sha256"):
        if not _verifies_itself(f, meta["self_sha256"]):
            raise _self_error(file)


def verify_sha256(file: Path, meta: dict, blob: bytes | None = None) -> None:
    """Refuse ``file`` when it does not match ``meta`` (from :func:`read_meta`): the whole-file sha256 a
    sidecar records, or, for a document taken from the file itself, the digests the file records
    (``blob``: its bytes when the caller has read them already; else the file is hashed in chunks)."""
    if not meta.get("sha256") and not meta.get("self_sha256"):
        return
    if blob is not None:
        if meta.get("sha256"):
            if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
                raise _sidecar_error(file)
            return
        _check(io.BytesIO(blob), file, meta)
        return
    try:
        with open(file, "rb") as f:
            _check(f, file, meta)
    except OSError as e:
        raise CheckpointError(f"{file}: unreadable ({e.strerror})") from None


def _embed(blob: bytes, doc: dict) -> tuple[bytes, memoryview, str]:
    """Rewrite a safetensors file's header to carry ``doc`` and the digests: ``(length + header, tensor data,
    self_sha256)``; the data is ``blob``'s own (not copied)."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    meta = dict(header.pop("__metadata__", None) or {})
    meta.update({EMBED_KEY: json.dumps(doc, sort_keys=True), DATA_SHA_KEY: hashlib.sha256(data).hexdigest(),
                 SELF_SHA_KEY: _ZERO})
    text = json.dumps({"__metadata__": meta, **header}, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    prefix = len(text).to_bytes(8, "little") + text
    if prefix.count(_needle(_ZERO)) != 1:  # pragma: no cover - a tensor can't be named like that key's value
        raise CheckpointError("cannot embed the checkpoint document: the header is ambiguous")
    digest = hashlib.sha256(prefix).hexdigest()
    return prefix.replace(_needle(_ZERO), _needle(digest)), data, digest


def save(model: nn.Module, path: str | os.PathLike, **meta: Any) -> Path:
    """Write ``model``'s weights (embedding their document) and then the sidecar; returns the weights path.

    ``meta`` keys of note: ``arch`` (defaults to ``model.arch``), ``labels``,
    ``model_kwargs`` (builder overrides used), ``preprocessing``,
    ``provenance``. Anything JSON-serialisable may be added.
    """
    from safetensors.torch import save as st_save

    weights, _ = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    old_meta = dict(getattr(model, "meta", {}) or {})
    arch = meta.pop("arch", None) or getattr(model, "arch", None) or old_meta.get("arch")
    if not arch:
        raise CheckpointError("cannot save a checkpoint without an architecture name (pass arch=...)")
    num_classes = meta.pop("num_classes", None) or _num_classes(model) or old_meta.get("num_classes")
    doc = sidecar_document({**old_meta, **meta, "arch": arch, "num_classes": num_classes}, weights.name)
    blob = st_save(state, metadata={"format": FORMAT})
    prefix, data, self_sha = _embed(blob, doc)  # a document that is not JSON fails here, before any write
    whole = hashlib.sha256(prefix)
    whole.update(data)
    _atomic_write(weights, prefix, data)  # the commit: from here on the path loads as the new checkpoint
    write_sidecar(weights.with_suffix(""), doc, weights.name, sha256=whole.hexdigest(), self_sha256=self_sha)
    return weights


def is_multi_label(meta: dict[str, Any] | None) -> bool:
    """Whether a checkpoint document says its classes are independent (multi-label, sigmoid scores):
    ``meta["preprocessing"]["multi_label"] is True``, as a Charades checkpoint's sidecar records it.
    Anything else (absent, ``False``, another value) is single-label: one softmax over the classes."""
    pre = (meta or {}).get("preprocessing")
    return isinstance(pre, dict) and pre.get("multi_label") is True


def _num_classes(model: nn.Module) -> int | None:
    """The contract's ``num_classes`` (read off the classifier), for any vidlab model."""
    n = getattr(model, "num_classes", None)
    return int(n) if n is not None else None


# ----------------------------------------------------------------------------
# Reading: which document describes which file.

_Ident = tuple[int, int, int, int]


def _ident(st: os.stat_result) -> _Ident:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read_sidecar(sidecar: Path) -> tuple[dict | None, str | None]:
    """The sidecar document, or None and why not (no reason: there is no sidecar)."""
    try:
        text = sidecar.read_text()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{sidecar}: unreadable sidecar ({e})"
    try:
        doc = json.loads(text)
    except ValueError as e:
        return None, f"{sidecar}: unreadable sidecar ({e})"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None, f"{sidecar}: not a vidlab checkpoint sidecar"
    return doc, None


def _probe_file(file: Path) -> tuple[_Ident, _Probe | None] | None:
    """``(identity, what it embeds)`` of ``file``; None when there is no such file."""
    try:
        with open(file, "rb") as f:
            return _ident(os.fstat(f.fileno())), _probe(f)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as e:
        raise CheckpointError(f"{file}: unreadable ({e.strerror})") from None


def _embedded_meta(file: Path, probe: _Probe) -> dict:
    if probe.doc is None:
        raise _self_error(file)
    return {**probe.doc, "weights": file.name, "self_sha256": probe.self_sha256}


def _meta_of(file: Path, side: dict | None, probe: _Probe | None) -> dict | None:
    """The document describing ``file``: the sidecar ``side`` when it belongs to it (or the file embeds
    nothing: a checkpoint written before weights described themselves), else the embedded one."""
    if probe is None or (side is not None and side.get("self_sha256") == probe.self_sha256):
        return side
    return _embedded_meta(file, probe)


def _resolve(path: str | os.PathLike) -> tuple[dict, Path, _Ident | None]:
    """``(document, the weights file it describes, that file's identity)`` of a checkpoint."""
    weights, sidecar = checkpoint_paths(path)
    side, problem = _read_sidecar(sidecar)
    named = None
    if side is not None and isinstance(side.get("weights"), str) and side["weights"]:
        named = sidecar.with_name(Path(side["weights"]).name)
    program = weights.with_name(weights.name[: -len(".safetensors")] + PROGRAM_SUFFIX)
    found: list[tuple[Path, _Ident, _Probe | None]] = []
    for file in dict.fromkeys(f for f in (named, weights, program) if f is not None):
        got = _probe_file(file)
        if got is None:
            continue
        if file == named and side is not None and (got[1] is None or got[1].self_sha256 == side.get("self_sha256")):
            return side, file, got[0]  # the sidecar belongs to the weights it names
        found.append((file, *got))
    # no sidecar, or a foreign or stale one: the newest weights file that embeds a document, if it verifies
    embedding = [(ident[3], -i, file, ident, probe) for i, (file, ident, probe) in enumerate(found)
                 if probe is not None]
    if embedding:
        _, _, file, ident, probe = max(embedding, key=lambda t: t[:2])
        return _embedded_meta(file, probe), file, ident  # raises when it does not verify
    if side is not None:  # it names no file there, and nothing else describes itself: as before
        return side, weights, next((ident for file, ident, _ in found if file == weights), None)
    if problem:
        raise CheckpointError(problem)
    if found:
        raise CheckpointError(f"{found[0][0]}: no sidecar {sidecar.name} beside it and no vidlab document inside "
                              "(incomplete or foreign checkpoint)")
    raise CheckpointError(f"{weights}: checkpoint not found")


def read_meta(path: str | os.PathLike) -> dict:
    """A checkpoint's document: its sidecar, or the one its weights embed when the sidecar is missing or
    stale (see the module docstring). Cheap: reads the sidecar and the weights' header only."""
    return _resolve(path)[0]


def _read_tensors(weights: Path, meta: dict | None, ident: _Ident | None) -> dict[str, torch.Tensor] | None:
    """The tensors of ``weights``, checked against ``meta``; None when the file is not (or no longer) the
    one whose identity is ``ident`` (another process replaced it: resolve again)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        f = open(weights, "rb")
    except FileNotFoundError:
        raise CheckpointError(f"{weights}: checkpoint not found") from None
    except OSError as e:
        raise CheckpointError(f"{weights}: unreadable ({e.strerror})") from None
    with f:
        own = _ident(os.fstat(f.fileno()))
        if ident is not None and own != ident:
            return None
        if meta:
            _check(f, weights, meta)  # hashed in chunks, then memory-mapped: no second copy in RAM
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{weights}: corrupt safetensors file ({e})") from None
    try:
        if _ident(os.stat(weights)) != own:
            return None
    except FileNotFoundError:
        return None
    return state


def _replaced(path: str | os.PathLike) -> CheckpointError:
    return CheckpointError(f"{path}: the checkpoint was replaced while being read, {_TRIES} times; try again")


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint: safetensors, or a pickle read with ``weights_only=True``.

    A pickle holding ``{"model_state": ...}`` (PySlowFast), ``{"state_dict": ...}``
    or ``{"model": ...}`` yields the inner dict. A vidlab checkpoint is checked
    (against its sidecar, or against itself; see the module docstring).
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
    for _ in range(_TRIES):
        side, _ = _read_sidecar(sidecar)  # a foreign json beside plain safetensors weights: nothing to check
        got = _probe_file(weights)
        if got is None:
            raise CheckpointError(f"{weights}: checkpoint not found")
        ident, probe = got
        state = _read_tensors(weights, _meta_of(weights, side, probe), ident)
        if state is not None:
            return state
    raise _replaced(path)


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

    weights, _ = checkpoint_paths(path)
    for _ in range(_TRIES):
        meta, file, ident = _resolve(path)
        method = (meta.get("compression") or {}).get("method")
        if method not in (None, "fp16", "bf16"):
            return _loader_for(method, path)(path)
        try:
            model = build(meta["arch"], num_classes=meta.get("num_classes"), **meta.get("model_kwargs", {}))
        except KeyError as e:
            raise CheckpointError(f"{path}: {e.args[0]}") from None
        state = _read_tensors(weights, meta, ident if file == weights else None)
        if state is None:
            continue
        load_into(model, state, str(weights))
        setattr(model, "meta", meta)  # a plain attribute (the stubs type Module attributes as Tensor | Module)
        return model.to(map_location).eval()
    raise _replaced(path)


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
