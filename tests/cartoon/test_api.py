"""The Python API: cartoonize_image / available_styles, the size rule, weight loading and errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import vidlab.cartoon as vc
from vidlab.cartoon.generator import postprocess, preprocess
from vidlab.cartoon.imageio import load_size_hw
from vidlab.cartoon.weights import WeightsError, find_weights, load_state_dict
from vidlab.errors import VidlabError


def test_classic_keeps_size_and_is_deterministic(photo):
    rgb = photo(77, 101)
    a = vc.cartoonize_image(rgb, load_size=0)
    b = vc.cartoonize_image(rgb, load_size=0)
    assert a.shape == rgb.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # flat colours: far fewer distinct colours than the input
    assert len(np.unique(a.reshape(-1, 3), axis=0)) <= 13
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 100


def test_classic_with_load_size_returns_input_size(photo):
    rgb = photo(300, 1000)
    out = vc.cartoonize_image(rgb, load_size=200)
    assert out.shape == rgb.shape


def test_style_with_weights_equals_the_generator(gen, weights_dir, photo):
    rgb = photo(45, 62)  # sides not multiples of 4
    out = vc.cartoonize_image(rgb, style="hayao", weights=weights_dir, load_size=0)
    with torch.inference_mode():
        ref = postprocess(gen(preprocess(rgb)))[0]
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - ref).max() <= 1
    # a weights file works the same as its folder
    out2 = vc.cartoonize_image(rgb, style="Hayao", weights=weights_dir / "Hayao_net_G_float.pth", load_size=0)
    assert np.array_equal(out, out2)


def test_load_size_rule_matches_the_port():
    # test.py: longer side to load_size, the other int(load_size / ratio)
    assert load_size_hw(768, 1147, 450) == (301, 450)
    assert load_size_hw(968, 648, 450) == (450, 301)
    assert load_size_hw(257, 256, 450) == (450, 448)
    assert load_size_hw(600, 800, 0) == (600, 800)


def test_load_size_output_has_input_size(weights_dir, photo):
    rgb = photo(50, 90)
    out = vc.cartoonize_image(rgb, style="Hayao", weights=weights_dir, load_size=36)
    assert out.shape == rgb.shape


def test_available_styles(weights_dir, tmp_path):
    assert vc.available_styles(weights_dir) == ["classic", "Hayao"]
    assert vc.available_styles(tmp_path) == ["classic"]


def test_missing_weights_say_where_they_are_published(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDLAB_CARTOON_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="Shinkai_net_G_float.pth.*download_pth.sh.*--weights"):
        vc.cartoonize_image(np.zeros((8, 8, 3), np.uint8), style="Shinkai")


def test_unknown_style():
    with pytest.raises(VidlabError, match="unknown style 'Ghibli'"):
        vc.cartoonize_image(np.zeros((8, 8, 3), np.uint8), style="Ghibli")


def test_wrong_architecture_weights(tmp_path, fixture_sd):
    bad = dict(fixture_sd)
    bad["conv01_1.weight"] = torch.zeros(32, 3, 7, 7)
    del bad["in13_1.shift"]
    torch.save(bad, tmp_path / "Hosoda_net_G_float.pth")
    with pytest.raises(WeightsError, match=r"1 missing keys \(in13_1.shift\).*mis-shaped \(conv01_1.weight"):
        vc.cartoonize_image(np.zeros((8, 8, 3), np.uint8), style="Hosoda", weights=tmp_path)


def test_pickles_with_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    with open(p, "wb") as f:
        pickle.dump({"x": Evil()}, f)
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_state_dict(p)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(WeightsError):
        load_state_dict(tmp_path / "empty.pth")


def test_find_weights_accepts_the_fork_names(tmp_path, fixture_sd):
    torch.save(fixture_sd, tmp_path / "cartoongan-paprika.pth")
    assert find_weights("paprika", tmp_path).name == "cartoongan-paprika.pth"


def test_bad_arrays_are_refused():
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((1, 8, 3), np.uint8)):
        with pytest.raises(VidlabError):
            vc.cartoonize_image(bad)
