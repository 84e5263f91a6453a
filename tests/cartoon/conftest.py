"""Shared helpers for the cartoon tests: the fixture-weight generator and a weights file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidlab.cartoon.generator import CartoonGenerator, fixture_state_dict


@pytest.fixture(scope="session")
def fixture_sd():
    return fixture_state_dict()


@pytest.fixture(scope="session")
def gen(fixture_sd):
    m = CartoonGenerator()
    m.load_state_dict(fixture_sd, strict=True)
    return m.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory, fixture_sd):
    """A folder holding the fixture weights under the port's file name for Hayao."""
    d = tmp_path_factory.mktemp("cartoon_weights")
    torch.save(fixture_sd, d / "Hayao_net_G_float.pth")
    return d


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth synthetic RGB photo (gradients + shapes), deterministic."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin(xx / 7 + yy / 11)], -1) * 200
    for _ in range(3):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, max(5, min(h, w) // 3))
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def photo():
    """``photo(h, w, seed=0)``: a smooth synthetic RGB uint8 image with a few shapes."""
    return _photo
