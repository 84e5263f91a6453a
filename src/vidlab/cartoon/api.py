"""The simple Python API: :func:`cartoonize_image` and :func:`available_styles`.

Size rule (the port's output is up to 3 pixels larger than its input when a side is not a
multiple of 4; upstream neither pads nor crops back): vidlab

1. resizes the image so its longer side is ``load_size`` (the port's ``--load_size`` rule,
   bicubic; ``0`` keeps the size),
2. runs the generator on that, cropping the port's bottom/right excess (the rest of the
   output is pixel-aligned with the input, see :mod:`vidlab.cartoon.generator`),
3. resizes the result back to the input's size (bicubic) when step 1 changed it.

So the output always has the input's size.

Tiling: ``tile=None`` tiles automatically when the (resized) image has more than
:data:`AUTO_TILE_PIXELS` pixels (tiles of :data:`~vidlab.cartoon.tiling.DEFAULT_TILE`);
``tile=0`` never tiles; ``tile=N`` (at least 32, rounded down to a multiple of 4) uses ``N x N``
tiles whenever the image is larger, overlapping by ``min(96, N/4)`` pixels (multiple of 8).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vidlab.cartoon.generator import CartoonGenerator, postprocess, preprocess
from vidlab.cartoon.weights import (
    STYLES,
    WeightsError,
    canonical_style,
    default_weights_dirs,
    find_weights,
    load_generator,
)
from vidlab.errors import VidlabError

__all__ = ["AUTO_TILE_PIXELS", "DEFAULT_LOAD_SIZE", "available_styles", "cartoonize_image", "get_generator",
           "resize_rgb", "run_generator"]

DEFAULT_LOAD_SIZE = 450
#: Above this many pixels, ``tile=None`` switches to tiled inference (about 1 GB of activations).
AUTO_TILE_PIXELS = 1024 * 1024

_CACHE: dict[tuple[str, str, float], tuple[CartoonGenerator, threading.Lock]] = {}
_CACHE_LOCK = threading.Lock()


def available_styles(weights_dir: os.PathLike | str | None = None) -> list[str]:
    """``["classic", ...]`` plus each published style whose weights file is found in
    ``weights_dir`` (or, when ``None``, in ``$VIDLAB_CARTOON_WEIGHTS`` / ``~/.cache/vidlab/cartoongan``)."""
    out = ["classic"]
    dirs = [Path(weights_dir).expanduser()] if weights_dir is not None else default_weights_dirs()
    for style in STYLES:
        for d in dirs:
            if not d.is_dir():
                continue
            try:
                find_weights(style, d)
            except WeightsError:
                continue
            out.append(style)
            break
    return out


def get_generator(style: str, weights: os.PathLike | str | None = None) -> tuple[CartoonGenerator, threading.Lock]:
    """The (cached) generator for ``style`` and a lock to hold while running it (the tiled path
    sets per-module state, so one generator runs one image at a time)."""
    style = canonical_style(style)
    path = find_weights(style, weights).resolve()
    key = (style, str(path), path.stat().st_mtime)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            hit = (load_generator(style, path), threading.Lock())
            _CACHE.clear()  # keep one style in memory (44 MB each)
            _CACHE[key] = hit
    return hit


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise VidlabError(f"expected a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise VidlabError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    if min(rgb.shape[:2]) < 2:
        raise VidlabError(f"image too small: {rgb.shape[1]}x{rgb.shape[0]}")
    return rgb


@torch.inference_mode()
def run_generator(model: CartoonGenerator, rgb: np.ndarray, tile: int | None = None,
                  progress: Callable[[int, int], None] | None = None, **tile_kwargs) -> np.ndarray:
    """Run ``model`` on one RGB ``uint8`` image at its own size (no resizing); RGB ``uint8`` out."""
    from vidlab.cartoon.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, tiled_forward

    h, w = rgb.shape[:2]
    x = preprocess(rgb)
    if tile is None:
        tile = DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
    if tile and max(h, w) > tile:
        if tile < 32:
            raise VidlabError(f"tile size must be at least 32 (or 0 for no tiling), got {tile}")
        tile -= tile % 4  # tile origins stay on the network's stride-4 grid
        tile_kwargs.setdefault("overlap", min(DEFAULT_OVERLAP, tile // 4 // 8 * 8))
        y = tiled_forward(model, x, tile=tile, progress=progress, **tile_kwargs)
    else:
        y = model(x)
    return postprocess(y)[0]


def resize_rgb(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB resized (bicubic, PIL) to ``hw = (height, width)``."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((hw[1], hw[0]), Image.BICUBIC))


def cartoonize_image(rgb: np.ndarray, style: str = "classic", weights: os.PathLike | str | None = None,
                     load_size: int = DEFAULT_LOAD_SIZE, tile: int | None = None) -> np.ndarray:
    """Cartoonize an RGB ``uint8`` ``(H, W, 3)`` image; returns RGB ``uint8`` of the same size.

    ``style``: ``"classic"`` (no weights) or one of Hayao, Hosoda, Paprika, Shinkai (any case), whose
    ``<Style>_net_G_float.pth`` is found from ``weights`` (a file or folder) or the default folders.
    ``load_size``: the longer side the style runs at (``0``: the input's size). ``tile``: see the
    module doc. Errors are :class:`vidlab.errors.VidlabError` (unknown style, missing or wrong
    weights, bad array).
    """
    from vidlab.cartoon.imageio import resize_to_load_size

    rgb = _check_rgb(rgb)
    if load_size is None or load_size < 0:
        raise VidlabError(f"load_size must be >= 0, got {load_size}")
    h, w = rgb.shape[:2]
    if style.lower() == "classic":
        from vidlab.cartoon.classic import classic_cartoon

        work = resize_to_load_size(rgb, load_size)
        out = classic_cartoon(work)
    else:
        model, lock = get_generator(style, weights)
        work = resize_to_load_size(rgb, load_size)
        with lock:
            out = run_generator(model, work, tile=tile)
    if out.shape[:2] != (h, w):
        out = resize_rgb(out, (h, w))
    return np.ascontiguousarray(out)
