"""Tiled inference with bounded memory for images of any size.

The generator's activations at full resolution are 64 channels of float32 (256 bytes a pixel,
several alive at once), so a 12-megapixel photo in one piece needs well over 10 GB. Tiled
inference runs overlapping tiles and blends them, so memory depends on the tile size only.

Two things differ between a tile and the whole image:

1. **Borders.** At a tile edge inside the image, the network's reflection/zero padding sees
   mirrored tile content instead of the real neighbours. Tiles therefore overlap by
   ``overlap`` pixels (default 96) and are blended with weights that are zero over the first
   quarter of the overlap at each inner tile edge and ramp linearly to one across the middle
   half (the weights of two neighbours sum to one), so the error-prone edge pixels never show.
   Tile origins are multiples of 4, the network's total stride, so every tile sees the same
   sampling grid as the whole image; tiles that touch an image border are padded exactly as
   the whole image is there.
2. **Instance-norm statistics** are global per image (mean and variance of each channel over
   all pixels), so a tile must not use its own. The strategy here: the statistics of all 21
   norms come from one pass over a *downscaled copy* of the image (longer side
   ``stats_size``, default 1024, antialiased bilinear), and every tile is normalised with them.
   All tiles share the same statistics, so there are no seams from normalisation; the price
   is an error against whole-image inference that grows with the downscaling factor (measured
   in ``benchmarks/RESULTS.md``). Images whose longer side is at most ``stats_size`` get their
   exact statistics, and then only the border effect of point 1 remains.

The measured error against whole-image inference is in ``benchmarks/RESULTS.md``; the tests
check the grid and blending weights, that tiles given the whole image's own statistics stay
close to whole-image inference, and that an image no larger than one tile is reproduced
exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from vidlab.cartoon.generator import CartoonGenerator, InstanceNorm

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_STATS_SIZE",
    "DEFAULT_TILE",
    "NormStats",
    "collect_stats",
    "set_norm_overrides",
    "tile_grid",
    "tiled_forward",
]

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 96
DEFAULT_STATS_SIZE = 1024

#: Per norm (in execution order): ``(mean, var)``, each ``(N, C)`` float32.
NormStats = list[tuple[Tensor, Tensor]]

def set_norm_overrides(model: CartoonGenerator, fn: Callable[[int, InstanceNorm, Tensor], Tensor] | None) -> None:
    for i, norm in enumerate(model.norms()):
        norm.override = None if fn is None else (lambda mod, x, i=i: fn(i, mod, x))


@torch.inference_mode()
def collect_stats(model: CartoonGenerator, x: Tensor) -> tuple[Tensor, NormStats]:
    """Run ``model`` on ``x`` normally and return ``(output, stats)``: the mean and biased
    variance each of its 21 instance norms computed."""
    stats: NormStats = []

    def record(i: int, mod: InstanceNorm, h: Tensor) -> Tensor:
        var, mean = torch.var_mean(h.float(), dim=(2, 3), unbiased=False)
        stats.append((mean, var))
        return mod.normalize_with(h, mean, var)

    set_norm_overrides(model, record)
    try:
        y = model(x)
    finally:
        set_norm_overrides(model, None)
    return y, stats


def downscaled_stats(model: CartoonGenerator, x: Tensor, stats_size: int) -> NormStats:
    """Norm statistics from a pass over ``x`` resized so its longer side is ``stats_size``
    (antialiased bilinear; origin-aligned sizes rounded to multiples of 4). An image already
    that small gives its own, exact, statistics."""
    h, w = x.shape[-2:]
    scale = min(1.0, stats_size / max(h, w))
    if scale < 1.0:
        sh, sw = max(4, round(h * scale / 4) * 4), max(4, round(w * scale / 4) * 4)
        x = F.interpolate(x, size=(sh, sw), mode="bilinear", antialias=True, align_corners=False)
    return collect_stats(model, x)[1]


def tile_grid(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..length``: starts are multiples of 4, neighbours
    overlap by exactly ``overlap`` pixels, every tile is at most ``tile`` long."""
    if tile % 4 or overlap % 8 or overlap < 0 or tile <= overlap:
        raise ValueError(f"tile ({tile}) and overlap ({overlap}) must be multiples of 4 and 8 with tile > overlap")
    if length <= tile:
        return [(0, length)]
    step = tile - overlap
    n = math.ceil((length - overlap) / step)
    return [(i * step, min(i * step + tile, length)) for i in range(n)]


def _ramp(n: int, overlap: int, first: bool, last: bool) -> Tensor:
    """1D blending weights of a tile of length ``n``: 0 over the outer quarter of each inner
    overlap, a linear ramp over the middle half, 1 elsewhere; neighbours sum to 1."""
    w = torch.ones(n)
    if overlap == 0:
        return w
    q = overlap // 4
    mid = overlap - 2 * q
    up = torch.cat([torch.zeros(q), (torch.arange(mid) + 0.5) / mid, torch.ones(q)])
    if not first:
        w[:overlap] = up
    if not last:
        w[n - overlap:] = torch.minimum(w[n - overlap:], up.flip(0))
    return w


@torch.inference_mode()
def tiled_forward(
    model: CartoonGenerator,
    x: Tensor,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    stats: NormStats | None = None,
    stats_size: int = DEFAULT_STATS_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """The generator's output for ``x`` (``(N, 3, H, W)`` BGR in [-1, 1]) computed tile by tile.

    ``stats``: instance-norm statistics to use (e.g. from :func:`collect_stats`); default: from a
    pass over a copy downscaled to ``stats_size`` (see the module doc). ``progress(done, total)``
    is called after each tile. Memory: the input and output images plus one tile's activations
    (and the ``stats_size`` pass).
    """
    if x.shape[0] != 1:
        return torch.cat([tiled_forward(model, x[i:i + 1], tile, overlap,
                                        None if stats is None else [(m[i:i + 1], v[i:i + 1]) for m, v in stats],
                                        stats_size, progress) for i in range(x.shape[0])])
    h, w = x.shape[-2:]
    rows, cols = tile_grid(h, tile, overlap), tile_grid(w, tile, overlap)
    if stats is None:
        stats = downscaled_stats(model, x, stats_size)
    total = len(rows) * len(cols)
    out = torch.zeros(1, 3, h, w)

    def apply(i: int, mod: InstanceNorm, a: Tensor) -> Tensor:
        mean, var = stats[i]
        return mod.normalize_with(a, mean, var)

    set_norm_overrides(model, apply)
    try:
        for ri, (r0, r1) in enumerate(rows):
            wr = _ramp(r1 - r0, overlap, ri == 0, ri == len(rows) - 1)
            for ci, (c0, c1) in enumerate(cols):
                wc = _ramp(c1 - c0, overlap, ci == 0, ci == len(cols) - 1)
                y = model(x[:, :, r0:r1, c0:c1]).float()
                out[:, :, r0:r1, c0:c1] += y * (wr[:, None] * wc[None, :])
                if progress is not None:
                    progress(ri * len(cols) + ci + 1, total)
    finally:
        set_norm_overrides(model, None)
    return out
