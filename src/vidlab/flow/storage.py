"""Flow on disk: quantised JPEG pairs (the rawframes layout) or one ``flow.npy``.

Layout of one video's folder (MMAction2 / TSN "rawframes", 1-based)::

    DIR/img_00001.jpg ...  img_{T}.jpg     RGB frames (optional)
    DIR/x_00001.jpg   ...  x_{T-1}.jpg     flow k: frame k -> frame k + 1, x component
    DIR/y_00001.jpg   ...  y_{T-1}.jpg     y component
    DIR/flow.npy                            (format "npy") (T-1, 2, H, W) float32 pixels, x first
    DIR/flow.json                           the sidecar (see :func:`write_sidecar`)

Quantisation (the field's standard, that of the denseflow tool behind the TSN
and MMAction2 caches): a component ``f`` in pixels is clipped to
``[-bound, bound]`` (bound 20 by default) and stored as the grey level
``v = round(255 * (f + bound) / (2 * bound))``; reading maps it back with
``f = v * 2 * bound / 255 - bound``. One grey level is ``2 * bound / 255``
(0.157 px at bound 20), so the rounding error is at most 0.078 px before JPEG
compression (quality 95 here, denseflow's OpenCV default). ``v = 127.5`` is
zero flow, so MMAction2's flow normalisation (mean 128, std 128) sees
``f / bound`` up to half a grey level.

The sidecar ``flow.json`` records the method and its parameters, the bound,
the counts and the file templates, plus ``"complete": true``, written last:
a folder without it is an interrupted extraction.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from vidlab.errors import DataError

__all__ = [
    "DEFAULT_BOUND",
    "IMG_TMPL",
    "FLOW_TMPL",
    "SIDECAR",
    "FLOW_NPY",
    "quantize_flow",
    "dequantize_flow",
    "write_flow_jpg",
    "read_flow_jpg",
    "write_frames_jpg",
    "read_image",
    "write_sidecar",
    "read_sidecar",
    "save_flow_npy",
    "load_flow_npy",
]

DEFAULT_BOUND = 20.0
IMG_TMPL = "img_{:05d}.jpg"
FLOW_TMPL = "{}_{:05d}.jpg"  # "x_00001.jpg", "y_00001.jpg"
SIDECAR = "flow.json"
FLOW_NPY = "flow.npy"
JPEG_QUALITY = 95


def quantize_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Pixels -> uint8 grey levels: ``round(255 * (clip(f) + bound) / (2 * bound))``."""
    if bound <= 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    f = np.clip(np.asarray(flow, dtype=np.float32), -bound, bound)
    return np.rint((f + bound) * (255.0 / (2.0 * bound))).astype(np.uint8)


def dequantize_flow(levels: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """uint8 grey levels -> pixels: ``v * 2 * bound / 255 - bound`` (float32)."""
    return np.asarray(levels, dtype=np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)


def _save_jpg(path: Path, array: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(array)).save(path, format="JPEG", quality=quality)


def read_image(path: str | os.PathLike, grey: bool = False) -> np.ndarray:
    """One JPEG/PNG as ``(H, W)`` (grey) or ``(H, W, 3)`` RGB uint8; a missing or
    unreadable file is a :class:`~vidlab.errors.DataError` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if grey else "RGB")
            return np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"{path}: missing file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: unreadable image ({e})") from None


def write_flow_jpg(folder: str | os.PathLike, flows: np.ndarray, *, bound: float = DEFAULT_BOUND, start: int = 1,
                   tmpl: str = FLOW_TMPL, quality: int = JPEG_QUALITY) -> int:
    """Write ``(N, 2, H, W)`` flows as ``x_{start}.jpg.. / y_...`` pairs; returns N."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    q = quantize_flow(flows, bound)
    for i, pair in enumerate(q):
        _save_jpg(folder / tmpl.format("x", start + i), pair[0], quality)
        _save_jpg(folder / tmpl.format("y", start + i), pair[1], quality)
    return len(q)


def read_flow_jpg(folder: str | os.PathLike, indices: Sequence[int], *, bound: float = DEFAULT_BOUND,
                  start_index: int = 1, tmpl: str = FLOW_TMPL) -> np.ndarray:
    """Flows ``indices`` (0-based: flow k is ``x_{k + start_index}``) as ``(N, 2, H, W)`` float32 pixels."""
    folder = Path(folder)
    out = None
    for j, k in enumerate(indices):
        pair = [read_image(folder / tmpl.format(c, int(k) + start_index), grey=True) for c in "xy"]
        if pair[0].shape != pair[1].shape:
            raise DataError(f"{folder}: x/y flow images {int(k) + start_index} differ in size")
        if out is None:
            out = np.empty((len(indices), 2) + pair[0].shape, np.uint8)
        elif pair[0].shape != out.shape[2:]:
            raise DataError(f"{folder}: flow image {int(k) + start_index} is {pair[0].shape}, others {out.shape[2:]}")
        out[j, 0], out[j, 1] = pair
    if out is None:
        raise ValueError("no flow indices requested")
    return dequantize_flow(out, bound)


def write_frames_jpg(folder: str | os.PathLike, frames, *, start: int = 1, tmpl: str = IMG_TMPL,
                     quality: int = JPEG_QUALITY) -> int:
    """Write RGB ``(H, W, 3)`` uint8 frames as ``img_{start}.jpg ...``; returns the count."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, frame in enumerate(frames, 1):
        _save_jpg(folder / tmpl.format(start + n - 1), frame, quality)
    return n


def save_flow_npy(path: str | os.PathLike, flows: np.ndarray) -> Path:
    """``(N, 2, H, W)`` float32 flows to one ``.npy`` (written to a temporary name, then renamed)."""
    path = Path(path)
    flows = np.asarray(flows, dtype=np.float32)
    if flows.ndim != 4 or flows.shape[1] != 2:
        raise ValueError(f"expected flows of shape (N, 2, H, W), got {flows.shape}")
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as fh:
        np.save(fh, flows)
    os.replace(tmp, path)
    return path


def load_flow_npy(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """A ``flow.npy`` (memory-mapped by default), checked to be ``(N, 2, H, W)``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing file")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: unreadable flow array ({e})") from None
    if arr.ndim != 4 or arr.shape[1] != 2:
        raise DataError(f"{path}: expected a (T-1, 2, H, W) flow array, got shape {arr.shape}")
    return arr


def write_sidecar(folder: str | os.PathLike, meta: dict) -> Path:
    """Write ``flow.json`` atomically with ``"complete": true`` (the last file of an extraction)."""
    path = Path(folder) / SIDECAR
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps({**meta, "complete": True}, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def read_sidecar(folder: str | os.PathLike) -> dict | None:
    """The folder's ``flow.json``, or None when there is none."""
    path = Path(folder) / SIDECAR
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise DataError(f"{path}: malformed flow sidecar ({e})") from None
