"""Tiled inference with bounded memory for images of any size.

The generator's activations at full resolution are 64 channels of float32 (256 bytes a pixel,
several alive at once), so a 12-megapixel photo in one piece needs well over 10 GB. Tiled
inference runs overlapping tiles and blends them, so memory depends on the tile size only.

Two things differ between a tile and the whole image:

1. **Borders.** At a tile edge inside the image, the network's reflection/zero padding sees
   mirrored tile content instead of the real neighbours. Tiles therefore overlap by
   ``overlap`` pixels (default 64) and are blended with weights that are zero over the first
   quarter of the overlap at each inner tile edge and ramp linearly to one across the middle
   half (the weights of two neighbours sum to one), so the error-prone edge pixels never show.
   Tile origins are multiples of 4, the network's total stride, so every tile sees the same
   sampling grid as the whole image; tiles that touch an image border are padded exactly as
   the whole image is there.
2. **Instance-norm statistics** are global per image (mean and variance of each channel over
   all pixels), so a tile must not use its own. The strategy here: the statistics of all 19
   norms come from one pass over a *downscaled copy* of the image (longer side
   ``stats_size``, default 1024, antialiased bilinear), and every tile is normalised with them.
   Optionally (``refine=k``), each tiled pass also accumulates the exact full-resolution sums
   of every norm's input over the tiles' non-overlapping cores, and the next pass uses those:
   one refinement pass costs one more full tiled forward and removes most of the remaining
   error (the first norm's statistics become exact after one pass, the second's after two...).

The measured error against whole-image inference is in the README / ``benchmarks``; tests
assert that tiles with the whole image's own statistics reproduce whole-image inference, and
that the downscaled-statistics error stays small.
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
    "tile_grid",
    "tiled_forward",
]

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64
DEFAULT_STATS_SIZE = 1024

#: Per norm (in execution order): ``(mean, var)``, each ``(N, C)`` float32.
NormStats = list[tuple[Tensor, Tensor]]

# Resolution of each norm's input relative to the image (1 = full, 2 = half, 4 = quarter).
_NORM_STRIDE = {"in01_1": 1, "in02_1": 2, "in03_1": 4, "in12_1": 2, "in13_1": 1}


def _norm_strides(model: CartoonGenerator) -> list[int]:
    return [_NORM_STRIDE.get(name, 4) for name, m in model.named_modules() if isinstance(m, InstanceNorm)]


def _set_overrides(model: CartoonGenerator, fn: Callable[[int, InstanceNorm, Tensor], Tensor] | None) -> None:
    for i, norm in enumerate(model.norms()):
        norm.override = None if fn is None else (lambda mod, x, i=i: fn(i, mod, x))


@torch.inference_mode()
def collect_stats(model: CartoonGenerator, x: Tensor) -> tuple[Tensor, NormStats]:
    """Run ``model`` on ``x`` normally and return ``(output, stats)``: the mean and biased
    variance each of its 19 instance norms computed."""
    stats: NormStats = []

    def record(i: int, mod: InstanceNorm, h: Tensor) -> Tensor:
        var, mean = torch.var_mean(h.float(), dim=(2, 3), unbiased=False)
        stats.append((mean, var))
        return mod.normalize_with(h, mean, var)

    _set_overrides(model, record)
    try:
        y = model(x)
    finally:
        _set_overrides(model, None)
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
    refine: int = 0,
    progress: Callable[[int, int], None] | None = None,
    run: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """The generator's output for ``x`` (``(N, 3, H, W)`` BGR in [-1, 1]) computed tile by tile.

    ``stats``: instance-norm statistics to use (e.g. from :func:`collect_stats`); default: from a
    ``stats_size`` downscaled pass, then ``refine`` refinement passes (see the module doc).
    ``progress(done, total)`` is called after each tile. ``run`` replaces ``model(tile)`` (for a
    compiled or bf16 variant of the same model; its norms must be ``model``'s modules).
    Memory: the input and output images plus one tile's activations.
    """
    if x.shape[0] != 1:
        return torch.cat([tiled_forward(model, x[i:i + 1], tile, overlap, None if stats is None else
                                        [(m[i:i + 1], v[i:i + 1]) for m, v in stats], stats_size, refine,
                                        progress, run) for i in range(x.shape[0])])
    run = run or model
    h, w = x.shape[-2:]
    rows, cols = tile_grid(h, tile, overlap), tile_grid(w, tile, overlap)
    if stats is None:
        stats = downscaled_stats(model, x, stats_size)
    strides = _norm_strides(model)
    passes = refine + 1
    total = passes * len(rows) * len(cols)
    done = 0
    out = None
    for p in range(passes):
        collect = p < passes - 1
        sums = [torch.zeros(2, m.shape[1], dtype=torch.float64) for m, _ in stats] if collect else None
        counts = [0] * len(stats)
        out = torch.zeros(1, 3, h, w)
        core: dict[str, tuple[int, int, int, int]] = {}

        def apply(i: int, mod: InstanceNorm, a: Tensor, stats=stats, sums=sums, counts=counts, core=core) -> Tensor:
            mean, var = stats[i]
            if sums is not None:
                s = strides[i]
                y0, y1, x0, x1 = core["box"]
                ly0, lx0 = y0 // s, x0 // s
                ly1 = a.shape[2] if core["bottom"] else y1 // s
                lx1 = a.shape[3] if core["right"] else x1 // s
                part = a[0, :, ly0:ly1, lx0:lx1].double()
                sums[i][0] += part.sum(dim=(1, 2))
                sums[i][1] += (part * part).sum(dim=(1, 2))
                counts[i] += part.shape[1] * part.shape[2]
            return mod.normalize_with(a, mean, var)

        _set_overrides(model, apply)
        try:
            for ri, (r0, r1) in enumerate(rows):
                wr = _ramp(r1 - r0, overlap, ri == 0, ri == len(rows) - 1)
                for ci, (c0, c1) in enumerate(cols):
                    wc = _ramp(c1 - c0, overlap, ci == 0, ci == len(cols) - 1)
                    # this tile's share of the image (its core), in tile coordinates
                    cy0 = 0 if ri == 0 else overlap // 2
                    cy1 = (r1 - r0) if ri == len(rows) - 1 else (r1 - r0) - overlap // 2
                    cx0 = 0 if ci == 0 else overlap // 2
                    cx1 = (c1 - c0) if ci == len(cols) - 1 else (c1 - c0) - overlap // 2
                    core["box"] = (cy0, cy1, cx0, cx1)
                    core["bottom"], core["right"] = ri == len(rows) - 1, ci == len(cols) - 1
                    y = run(x[:, :, r0:r1, c0:c1]).float()
                    wt = wr[:, None] * wc[None, :]
                    out[:, :, r0:r1, c0:c1] += y[:, :, : r1 - r0, : c1 - c0] * wt
                    done += 1
                    if progress is not None:
                        progress(done, total)
        finally:
            _set_overrides(model, None)
        if collect:
            new = []
            for (mean, _), s, n in zip(stats, sums, counts):
                m = s[0] / n
                v = (s[1] / n - m * m).clamp_min(0.0)
                new.append((m.float()[None].to(mean.dtype), v.float()[None].to(mean.dtype)))
            stats = new
    return out
