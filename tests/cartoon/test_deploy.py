"""The CartoonGAN generator through `vidlab compress`, `vidlab export` and `vidlab bench`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import run_cli
from vidlab.cartoon import deploy
from vidlab.cartoon.export import psnr
from vidlab.cartoon.generator import preprocess


@pytest.fixture(scope="module")
def weights_file(weights_dir):
    return weights_dir / "Hayao_net_G_float.pth"


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory, photo):
    d = tmp_path_factory.mktemp("calib")
    for i in range(3):
        Image.fromarray(photo(96, 128, seed=10 + i)).save(d / f"p{i}.png")
    return d


@pytest.fixture(scope="module")
def int8_program(tmp_path_factory, weights_file, calib_dir):
    out = tmp_path_factory.mktemp("int8") / "hayao_int8"
    r = subprocess.run([sys.executable, "-m", "vidlab", "compress", str(weights_file), "--method", "int8-static",
                        "--calib", str(calib_dir), "--input", "64,64", "--out", str(out), "--json"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_is_generator_file_tells_the_files_apart(weights_file, tmp_path):
    assert deploy.is_generator_file(weights_file)
    assert deploy.is_generator_file(tmp_path / "x.pt2")  # int8 programs by suffix
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"x")
    (tmp_path / "model.json").write_text("{}")
    assert not deploy.is_generator_file(ckpt)  # a vidlab checkpoint has its STEM.json sidecar


def test_compress_int8_static_program(int8_program, weights_file, gen, photo):
    summary = int8_program
    assert summary["out"].endswith(".pt2")
    # all convolution weights are stored as int8: about a quarter of the fp32 file (target <= 0.3x)
    assert summary["size_ratio"] <= 0.3
    program, info = deploy.load_int8(summary["out"])
    assert info["input_shape"] == [1, 3, 64, 64] and info["keep_fp32"] == ["conv02_2"]
    x = preprocess(photo(64, 64, seed=99))  # not a calibration photo
    with torch.inference_mode():
        ref, got = gen(x), program(x)
    assert got.shape == ref.shape
    # static int8 of a 26-convolution net: measured 31-33 dB at 256x256 on real photos; small
    # synthetic inputs give less headroom, so the test asserts a looser bound.
    assert psnr(got, ref) > 25.0
    # the uncompiled program computes the same function (reference quantize/dequantize arithmetic)
    plain, _ = deploy.load_int8(summary["out"], compile=False)
    with torch.no_grad():
        assert psnr(plain(x), got) > 35.0


def test_bench_fp32_and_int8_rows(int8_program, weights_file, capsys):
    code, out, err = run_cli(["bench", str(weights_file), "--compare", int8_program["out"], "--input", "64,64",
                              "--iters", "2", "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["path"] for r in rows] == [str(weights_file), int8_program["out"]]
    assert [r["method"] for r in rows] == ["fp32", "int8-static"]
    assert all(r["p50_ms"] > 0 and r["peak_mb"] > 0 and r["arch"] == "cartoongan" for r in rows)
    assert rows[1]["size_mb"] < 0.3 * rows[0]["size_mb"]
    # an int8 program is specialised to its calibration size
    code, out, err = run_cli(["bench", int8_program["out"], "--input", "96,96", "--iters", "1"], capsys)
    assert code == 2 and "--input 64,64" in err and len(err.strip().splitlines()) == 1


def test_export_torchscript_matches(weights_file, gen, tmp_path, capsys):
    out = tmp_path / "g.pt"
    code, stdout, err = run_cli(["export", str(weights_file), "--format", "torchscript", "--input", "40,52",
                                 "--out", str(out), "--json"], capsys)
    assert code == 0, err
    rec = json.loads(stdout)
    assert rec["max_abs_diff"] <= 1e-4 and rec["input_shape"] == [1, 3, 40, 52]
    x = torch.rand(1, 3, 40, 52) * 2 - 1
    with torch.no_grad():
        assert (torch.jit.load(str(out))(x) - gen(x)).abs().max() <= 1e-4


@pytest.mark.slow
def test_export_onnx_and_executorch_int8(weights_file, tmp_path, capsys):
    code, stdout, err = run_cli(["export", str(weights_file), "--format", "onnx", "--out", str(tmp_path / "g.onnx"),
                                 "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["max_abs_diff"] <= 1e-4
    code, stdout, err = run_cli(["export", str(weights_file), "--format", "executorch", "--int8", "--input", "64,64",
                                 "--out", str(tmp_path / "g.pte"), "--json"], capsys)
    assert code == 0, err
    rec = json.loads(stdout)
    assert rec["int8"] and rec["psnr_vs_eager"] > 25.0 and rec["size_mb"] < 15


@pytest.mark.parametrize("args,message", [
    (["--method", "prune"], "not available for the CartoonGAN generator"),
    (["--method", "int8-dynamic"], "no Linear/LSTM layers"),
    (["--method", "int8-static"], "needs --calib"),
    (["--method", "int8-static", "--input", "64"], "must be H,W"),
])
def test_compress_errors_are_one_line(weights_file, tmp_path, capsys, args, message):
    code, _out, err = run_cli(["compress", str(weights_file), *args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_unreadable_calibration_photo_fails_before_work(weights_file, calib_dir, tmp_path, capsys):
    bad = tmp_path / "calib"
    bad.mkdir()
    for p in calib_dir.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / "p1.png").write_bytes(b"not a png")
    code, _out, err = run_cli(["compress", str(weights_file), "--method", "int8-static", "--calib", str(bad),
                              "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "p1.png" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.pt2").exists()


def test_bf16_weights_reload(weights_file, gen, tmp_path, capsys):
    code, out, err = run_cli(["compress", str(weights_file), "--method", "bf16", "--out", str(tmp_path / "g16"),
                              "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert 0.45 < summary["size_ratio"] < 0.55
    from vidlab.cartoon.weights import load_generator

    m = load_generator(weights=summary["out"])
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert psnr(m(x), gen(x)) > 35.0
    np.testing.assert_equal(sorted(m.state_dict()), sorted(gen.state_dict()))
