"""Tiled inference: the grid, the blending weights, and the error against whole-image inference."""

from __future__ import annotations

import itertools

import pytest
import torch

from vidlab.cartoon.generator import preprocess
from vidlab.cartoon.tiling import (
    _ramp,
    collect_stats,
    downscaled_stats,
    tile_grid,
    tiled_forward,
)


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 64), (257, 128, 32), (128, 128, 32), (4000, 512, 96)])
def test_grid_covers_with_exact_overlap(length, tile, overlap):
    grid = tile_grid(length, tile, overlap)
    assert grid[0][0] == 0 and grid[-1][1] == length
    for (a0, a1), (b0, b1) in itertools.pairwise(grid):
        assert b0 % 4 == 0
        assert a1 - b0 == overlap or (b1 == length and a1 - b0 >= overlap)
    assert all(b - a <= tile for a, b in grid)


def test_grid_rejects_bad_sizes():
    with pytest.raises(ValueError):
        tile_grid(100, 130, 32)  # not a multiple of 4
    with pytest.raises(ValueError):
        tile_grid(100, 64, 64)  # overlap >= tile


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 64), (300, 128, 32), (513, 256, 96)])
def test_blend_weights_sum_to_one(length, tile, overlap):
    grid = tile_grid(length, tile, overlap)
    total = torch.zeros(length)
    for i, (a, b) in enumerate(grid):
        w = _ramp(b - a, overlap, i == 0, i == len(grid) - 1)
        total[a:b] += w
        if i > 0:  # the outer quarter of an inner edge never shows
            assert torch.all(w[: overlap // 4] == 0)
    assert torch.allclose(total, torch.ones(length), atol=1e-6)


def test_single_tile_is_whole_image_inference(gen, photo):
    x = preprocess(photo(60, 72))
    with torch.inference_mode():
        ref = gen(x)
        out = tiled_forward(gen, x, tile=96, overlap=32)
    assert torch.allclose(out, ref, atol=1e-5)


def test_collect_stats_reproduces_the_forward(gen, photo):
    x = preprocess(photo(64, 80))
    with torch.inference_mode():
        y, stats = collect_stats(gen, x)
        ref = gen(x)
    assert len(stats) == 21  # 3 + 2 * 8 residual + 2
    assert stats[0][0].shape == (1, 64) and stats[3][0].shape == (1, 256)
    assert torch.allclose(y, ref, atol=1e-5)
    assert all(n.override is None for n in gen.norms())


def test_tiles_with_exact_stats_stay_close_to_whole(gen, photo):
    """With the whole image's own statistics only the tile-border effect remains; blending hides
    it better the wider the overlap."""
    x = preprocess(photo(64, 232, seed=1))
    with torch.inference_mode():
        ref, stats = collect_stats(gen, x)
        errs = [(tiled_forward(gen, x, tile=tile, overlap=ov, stats=stats) - ref).abs()
                for tile, ov in ((128, 32), (160, 96))]
    assert errs[1].mean() < errs[0].mean()
    assert errs[1].mean() < 2e-3
    assert errs[1].max() < 0.1


def test_downscaled_stats_are_shared_and_bounded(gen, photo):
    """Statistics from a half-size pass: all tiles use the same ones (no seams); the error against
    whole-image inference is reported, and bounded here on the fixture weights."""
    x = preprocess(photo(120, 136, seed=2))
    with torch.inference_mode():
        ref = gen(x)
        stats = downscaled_stats(gen, x, stats_size=68)
        out = tiled_forward(gen, x, tile=96, overlap=32, stats=stats)
        own = tiled_forward(gen, x, tile=96, overlap=32, stats_size=68)
    assert torch.equal(out, own)
    assert (out - ref).abs().mean() < 0.3
    assert out.abs().max() <= 1.0
