"""benchmarks/cartoon_psnr.py: the port pipeline and the PSNR on a tiny pairs folder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cartoon_psnr.py"


def load_script():
    spec = importlib.util.spec_from_file_location("cartoon_psnr", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_psnr_script_on_its_own_output(tmp_path, gen, weights_dir, photo, monkeypatch, capsys):
    mod = load_script()
    assert mod.psnr_u8(np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8)) == 0.0
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    rgb = photo(37, 50)
    Image.fromarray(rgb).save(tmp_path / "input" / "p.png")
    g = type(gen)(crop=False)
    g.load_state_dict(gen.state_dict())
    ref = mod.port_output(g.eval(), rgb, 30)  # the port's size: 4*ceil(ceil(n/2)/2)
    assert ref.shape == (24, 32, 3)
    Image.fromarray(ref).save(tmp_path / "output" / "p_Hayao.png")
    monkeypatch.setattr(sys, "argv", ["cartoon_psnr.py", "--weights", str(weights_dir), "--styles", "Hayao",
                                      "--pairs", str(tmp_path), "--load-size", "30", "--json", "--min-psnr", "60"])
    assert mod.main() == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 1 and out["min_psnr"] > 60
