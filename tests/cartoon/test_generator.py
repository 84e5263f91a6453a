"""The generator against the golden fixture (shared/fixtures/cartoongan) and the size rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests_paths import need_shared
from vidlab.cartoon.generator import (
    NUM_PARAMS,
    CartoonGenerator,
    fixture_state_dict,
    port_output_size,
    postprocess,
    preprocess,
)


@pytest.fixture(scope="module")
def fixture_dir(fixtures_dir):
    return need_shared(fixtures_dir / "cartoongan")


@pytest.fixture(scope="module")
def model():
    m = CartoonGenerator()
    m.load_state_dict(fixture_state_dict(), strict=True)
    return m.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def image(fixture_dir):
    from PIL import Image

    return np.asarray(Image.open(fixture_dir / "input.png").convert("RGB"))


def test_keys_and_params_match_the_fixture(fixture_dir, model):
    rows = [ln.split("\t") for ln in (fixture_dir / "keys.tsv").read_text().splitlines()[1:] if ln.strip()]
    sd = model.state_dict()
    assert [r[0] for r in rows] == list(sd)
    for key, shape, dtype in rows:
        assert list(sd[key].shape) == json.loads(shape), key
        assert dtype == "float32"
    assert sum(p.numel() for p in model.parameters()) == NUM_PARAMS == 11_129_667
    assert not list(model.buffers())


def test_matches_golden_output(fixture_dir, model, image):
    ref = np.load(fixture_dir / "output_raw_bgr.npy")
    with torch.inference_mode():
        y = model(preprocess(image))
    assert y.shape == (1, 3, 96, 128)
    assert np.abs(y[0].numpy() - ref).max() <= 1e-4
    # post-processing: RGB in [0, 1] as output_rgb.npy, uint8 within one rounding step of output_rgb.png
    rgb = postprocess(y)[0]
    ref_rgb = np.load(fixture_dir / "output_rgb.npy")
    assert ref_rgb.shape[-1] == 3 or ref_rgb.shape[0] == 3
    ref_rgb = ref_rgb if ref_rgb.shape[-1] == 3 else ref_rgb.transpose(1, 2, 0)
    assert np.abs(rgb / 255.0 - ref_rgb).max() <= 1.0 / 255 + 1e-4


def test_preprocess_is_bgr_minus_one_to_one():
    rgb = np.array([[[255, 0, 51], [0, 255, 0]]], dtype=np.uint8)  # (1, 2, 3)
    x = preprocess(rgb)
    assert x.shape == (1, 3, 1, 2)
    # channel 0 is blue: 51/255*2-1 = -0.6; channel 2 is red: 1.0
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([-0.6, -1.0, 1.0]))
    assert torch.allclose(x[0, :, 0, 1], torch.tensor([-1.0, 1.0, -1.0]))
    back = postprocess(x)
    assert np.array_equal(back[0], rgb)


@pytest.mark.parametrize("hw", [(95, 127), (93, 126), (97, 130)])
def test_sides_not_multiple_of_4_crop_the_ports_excess(model, image, hw):
    """The port's output is 4*ceil(ceil(n/2)/2) per side; vidlab returns the input's size, equal to
    the port's output with the bottom/right excess removed."""
    h, w = hw
    crop = image[:h, :w] if h <= 96 and w <= 128 else np.pad(image, ((0, h - 96), (0, w - 128), (0, 0)), mode="edge")
    x = preprocess(crop)
    full = CartoonGenerator(crop=False)
    full.load_state_dict(model.state_dict())
    full.eval()
    with torch.inference_mode():
        y = model(x)
        y_port = full(x)
    assert y.shape[-2:] == (h, w)
    assert y_port.shape[-2:] == port_output_size(h, w)
    assert port_output_size(h, w) != (h, w)
    assert torch.equal(y, y_port[:, :, :h, :w])


def test_port_output_size_rule():
    assert port_output_size(96, 128) == (96, 128)
    assert port_output_size(95, 127) == (96, 128)
    assert port_output_size(93, 125) == (96, 128)
    assert port_output_size(1, 5) == (4, 8)
