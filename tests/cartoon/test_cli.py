"""`vidlab cartoonize`: outputs, sizes, per-item errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vidlab.apps.cli import main


def run(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_images_and_bad_inputs(tmp_path, photo, capsys):
    good = tmp_path / "a.png"
    Image.fromarray(photo(61, 83)).save(good)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, out, err = run(["cartoonize", str(good), str(tmp_path / "broken.jpg"), str(tmp_path / "missing.webp"),
                          "--out", str(tmp_path / "o"), "--json"], capsys)
    assert code == 1  # some inputs failed, the others were done
    lines = err.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("vidlab: error:")]
    assert len(errors) == 2 and "broken.jpg" in errors[0] and "missing.webp" in errors[1]
    assert "Traceback" not in err
    recs = json.loads(out)
    assert [("error" in r) for r in recs] == [False, True, True]
    res = np.asarray(Image.open(recs[0]["output"]))
    assert recs[0]["output"].endswith("a_classic.png")
    assert res.shape == (61, 83, 3)


def test_exif_orientation_is_honoured(tmp_path, photo, capsys):
    img = Image.fromarray(photo(40, 64))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    code, out, _ = run(["cartoonize", str(tmp_path / "phone.jpg"), "--out", str(tmp_path), "--ext", "jpg",
                        "--load-size", "0", "--json"], capsys)
    assert code == 0
    rec = json.loads(out)[0]
    assert (rec["width"], rec["height"]) == (40, 64)
    assert Image.open(rec["output"]).size == (40, 64)


def test_neural_style_with_weights_and_tiles(tmp_path, weights_dir, photo, capsys):
    Image.fromarray(photo(70, 90)).save(tmp_path / "x.png")
    code, out, _ = run(["cartoonize", str(tmp_path / "x.png"), "--style", "hayao", "--weights", str(weights_dir),
                        "--load-size", "0", "--tile", "64", "--out", str(tmp_path / "o"), "--json"], capsys)
    assert code == 0
    rec = json.loads(out)[0]
    assert rec["output"].endswith("x_Hayao.png")
    assert Image.open(rec["output"]).size == (90, 70)


@pytest.mark.parametrize("args,message", [
    (["--style", "Shinkai"], "Shinkai_net_G_float.pth"),
    (["--style", "picasso"], "unknown style 'picasso'"),
    (["--ext", "gif"], "--ext must be"),
])
def test_style_errors_are_one_line(tmp_path, photo, capsys, args, message, monkeypatch):
    monkeypatch.setenv("VIDLAB_CARTOON_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    Image.fromarray(photo(20, 20)).save(tmp_path / "x.png")
    code, _, err = run(["cartoonize", str(tmp_path / "x.png"), *args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert err.count("vidlab: error:") == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_wrong_architecture_weights_subprocess(tmp_path, fixture_sd, photo):
    """The real entry point: one error line, exit 2, no traceback."""
    import torch

    torch.save({k: v for k, v in fixture_sd.items() if not k.startswith("deconv")}, tmp_path / "w.pth")
    Image.fromarray(photo(20, 20)).save(tmp_path / "x.png")
    cmd = "from vidlab.apps.cli import main; main()"
    p = subprocess.run([sys.executable, "-c", cmd, "cartoonize", str(tmp_path / "x.png"),
                        "--style", "Hayao", "--weights", str(tmp_path / "w.pth")],
                       check=False, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0
    assert p.stderr.startswith("vidlab: error:") and "missing keys (deconv01_1.weight" in p.stderr


def test_video_and_folder_inputs(tmp_path, photo, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("cartoon_test_video", Path(__file__).with_name("test_video.py"))
    tv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tv)
    _moving_frames, write_clip = tv._moving_frames, tv.write_clip

    d = tmp_path / "in"
    d.mkdir()
    write_clip(d / "v.mp4", _moving_frames(4, 32, 40, photo), audio=False)
    Image.fromarray(photo(30, 30)).save(d / "p.png")
    (d / "notes.txt").write_text("ignored")
    (d / "bad.mp4").write_bytes(b"\x00" * 100)
    code, out, err = run(["cartoonize", str(d), "--out", str(tmp_path / "o"), "--json", "--temporal"], capsys)
    assert code == 1  # bad.mp4 failed, the others were done
    recs = {r["input"].rsplit("/", 1)[-1]: r for r in json.loads(out)}
    assert set(recs) == {"v.mp4", "p.png", "bad.mp4"}
    assert recs["v.mp4"]["frames"] == 4 and recs["v.mp4"]["output"].endswith("v_classic.mp4")
    assert "error" in recs["bad.mp4"] and err.count("vidlab: error:") == 1


@pytest.mark.slow
def test_cartoon_export_onnx(tmp_path, capsys):
    code, out, _ = run(["cartoon-export", str(tmp_path / "g.onnx"), "--fixture-weights", "--size", "40x48",
                        "--json"], capsys)
    assert code == 0
    rec = json.loads(out)
    assert rec["max_abs_diff"] < 1e-4 and rec["input_shape"] == [1, 3, 40, 48]
    assert abs((tmp_path / "g.onnx").stat().st_size / 2**20 - rec["size_mb"]) < 1e-9


def test_cartoon_export_bad_output(tmp_path, capsys):
    code, _, err = run(["cartoon-export", str(tmp_path / "g.tflite"), "--fixture-weights"], capsys)
    assert code == 2 and err.count("vidlab: error:") == 1
