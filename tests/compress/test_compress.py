"""vidlab.compress: BN folding, int8, pruning, export (ONNX/TorchScript/ExecuTorch), bench, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import randomise_
from vidlab import models
from vidlab.compress import (
    benchmark,
    export_onnx,
    fold_bn,
    load_compressed,
    quantize_int8_dynamic,
    quantize_int8_static,
    quantize_onnx_int8,
    run_onnx,
)
from vidlab.compress.bench import _quantile

PY = sys.executable


def _cos(a, b) -> float:
    a, b = torch.as_tensor(a).flatten().double(), torch.as_tensor(b).flatten().double()
    return float(a @ b / (a.norm() * b.norm()))


def _run_cli(*args, cwd=None):
    return subprocess.run([PY, "-m", "vidlab", *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False)


# -- BN folding --------------------------------------------------------------
@pytest.mark.parametrize("arch,shape,expect_left", [("x3d_s", (1, 3, 4, 32, 32), 0),
                                                    ("slowfast_r50_8x8", (1, 3, 8, 32, 32), 4)])
def test_fold_bn_matches_eval_model(arch, shape, expect_left):
    m = randomise_(models.build(arch, num_classes=5)).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    f = fold_bn(m)
    left = sum(isinstance(mod, torch.nn.BatchNorm3d) for mod in f.modules())
    # SlowFast: the 4 lateral-connection BNs sit in a module whose forward does not trace; they stay
    assert left == expect_left
    assert len(f.folded_bn) > 50
    with torch.no_grad():
        torch.testing.assert_close(f(x), m(x), atol=1e-5, rtol=1e-4)
    assert any(isinstance(mod, torch.nn.BatchNorm3d) for mod in m.modules())  # the input model is untouched


def test_fold_bn_hand_computed():
    conv = torch.nn.Conv3d(1, 1, 1, bias=False)
    bn = torch.nn.BatchNorm3d(1, eps=0.0)
    with torch.no_grad():
        conv.weight.fill_(2.0)
        bn.running_mean.fill_(1.0)
        bn.running_var.fill_(4.0)
        bn.weight.fill_(3.0)
        bn.bias.fill_(0.5)
    f = fold_bn(torch.nn.Sequential(conv, bn))
    # y = 3 * (2x - 1) / 2 + 0.5 = 3x - 1
    assert float(f[0].weight) == pytest.approx(3.0) and float(f[0].bias) == pytest.approx(-1.0)
    assert isinstance(f[1], torch.nn.Identity)


# -- ONNX --------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["x3d_s", "r2plus1d_18"])
def test_onnx_export_matches_pytorch_and_int8_runs(arch, tmp_path):
    m = randomise_(models.build(arch, num_classes=10)).eval()
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    res = export_onnx(m, (x,), tmp_path / "m.onnx", atol=1e-4)
    assert res["max_abs_diff"] <= 1e-4 and res["max_abs_ref"] > 0.1
    # dynamic batch axis
    x2 = torch.randn(2, 3, 4, 32, 32)
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", (x2,)), m(x2).detach().numpy(), atol=1e-4)
    calib = [(torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(i)),) for i in range(4)]
    q = quantize_onnx_int8(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", calib)
    out = run_onnx(q, (x,))
    assert out.shape == (1, 10) and np.isfinite(out).all()
    assert _cos(out, m(x).detach()) > 0.95
    assert q.stat().st_size < 0.35 * (tmp_path / "m.onnx").stat().st_size


# -- int8 in PyTorch -----------------------------------------------------------
def test_int8_static_close_to_fp32_and_reports_fallback():
    m = randomise_(models.build("i3d_r10_tiny", num_classes=10)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 4, 32, 32, generator=g)
    q, rep = quantize_int8_static(m, (x,), [(torch.randn(2, 3, 4, 32, 32, generator=g),) for _ in range(4)],
                                  observer="minmax")
    assert len(rep.quantized) >= 8 and not rep.fallback
    with torch.no_grad():
        assert _cos(q(x), m(x)) > 0.99
    assert any("quantized" in type(mod).__module__ for mod in q.modules())

    lstm = randomise_(models.build("cnn_lstm_r10_tiny", num_classes=10)).eval()
    x = torch.randn(1, 3, 4, 32, 32, generator=g)
    q, rep = quantize_int8_static(lstm, (x,), [(x,)], observer="minmax")
    assert any(t == "LSTM" for _, t, _ in rep.fallback)  # no static int8 LSTM: kept in fp32 and said so
    assert any("kept in fp32: " in msg and "LSTM" in msg for msg in rep.messages())
    with torch.no_grad():
        assert _cos(q(x), lstm(x)) > 0.98
    _, rep = quantize_int8_dynamic(lstm)
    assert any("lstm" in n for n in rep.quantized)
    assert any(t == "Conv3d" or t == "Conv2d" for _, t, _ in rep.fallback)


# -- pruning -------------------------------------------------------------------
def test_prune_slowfast_keeps_laterals_consistent_and_reloads(tmp_path):
    from vidlab.compress.ckpt import save_state
    from vidlab.compress.prune import prune_channels

    m = randomise_(models.build("slowfast_r50_8x8", num_classes=7)).eval()
    x = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))
    p = prune_channels(m, (x,), 0.5)
    assert p.pruning["params_after"] < 0.5 * p.pruning["params_before"]
    # Fast stem 8 -> 4 channels; the lateral conv reads those 4 and its output (2x) is concatenated into Slow
    assert p.s1.pathway1_stem.conv.out_channels == 4
    assert p.s1_fuse.conv_f2s.in_channels == 4
    assert p.s2.pathway0_res0.branch2.a.in_channels == p.s1.pathway0_stem.conv.out_channels + p.s1_fuse.conv_f2s.out_channels
    assert p.head.projection.out_features == 7
    with torch.no_grad():
        y = p(torch.randn(2, 3, 16, 40, 40))
    assert y.shape == (2, 7)
    save_state(p, tmp_path / "pruned", {"arch": "slowfast_r50_8x8", "num_classes": 7},
               {"method": "prune", "sparsity": 0.5})
    back = load_compressed(tmp_path / "pruned")
    with torch.no_grad():
        torch.testing.assert_close(back(x), p(x))


# -- bench ---------------------------------------------------------------------
def test_quantile_and_benchmark_fields():
    assert _quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    assert _quantile([7.0], 0.9) == 7.0
    res = benchmark(torch.nn.Linear(4, 2), (torch.randn(1, 4),), threads=1, warmup=1, iters=5,
                    batch_inputs=(torch.randn(8, 4),))
    assert res["runs"] >= 5 and res["p50_ms"] <= res["p90_ms"] and res["batch"] == 8 and res["peak_mb"] > 0


# -- exported files run in a fresh process with only their runtime ------------------
RUNNERS = {
    "onnx": """
        import sys, numpy as np, onnxruntime as ort
        s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        x = np.load(sys.argv[2])
        np.save(sys.argv[3], s.run(None, {s.get_inputs()[0].name: x})[0])
    """,
    "torchscript": """
        import sys, numpy as np, torch
        m = torch.jit.load(sys.argv[1])
        np.save(sys.argv[3], m(torch.from_numpy(np.load(sys.argv[2]))).detach().numpy())
    """,
    "executorch": """
        import sys, numpy as np, torch
        from executorch.runtime import Runtime
        p = Runtime.get().load_program(sys.argv[1])
        np.save(sys.argv[3], p.load_method("forward").execute([torch.from_numpy(np.load(sys.argv[2]))])[0].numpy())
    """,
}
CHECK = """
        bad = [m for m in sys.modules if m.split(".")[0] in ("vidlab",)]
        assert not bad, bad
"""


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", pytest.param("executorch", marks=pytest.mark.slow)])
def test_exported_file_runs_in_fresh_process(fmt, tmp_path):
    from vidlab.compress import export

    m = randomise_(models.build("i3d_r10_tiny", num_classes=10)).eval()
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    f = tmp_path / f"m.{fmt}"
    export(m, (x,), f, fmt)
    np.save(tmp_path / "x.npy", x.numpy())
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(RUNNERS[fmt]) + textwrap.dedent(CHECK))
    r = subprocess.run([PY, "-I", str(script), str(f), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                       capture_output=True, text=True, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    with torch.no_grad():
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), m(x).numpy(), atol=1e-4)
    if fmt == "onnx":
        assert "torch" not in r.stdout


# -- CLI -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    m = randomise_(models.build("i3d_r10_tiny", num_classes=10)).eval()
    models.save(m, d / "fp32", labels=[f"c{i}" for i in range(10)],
                preprocessing={"num_frames": 4, "sampling_rate": 2, "crop_size": 32, "test_scale": 32,
                               "mean": [0.5] * 3, "std": [0.25] * 3, "target_fps": None})
    return d / "fp32"


def test_cli_compress_int8_bench_json_and_reload(tiny_ckpt, tiny_synth, tmp_path):
    out = tmp_path / "int8"
    r = _run_cli("compress", tiny_ckpt, "--method", "int8-static", "--calib", tiny_synth / "val.csv",
                 "--calib-clips", "4", "--observer", "minmax", "--out", out, "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["size_ratio"] <= 0.3
    r = _run_cli("compress", tiny_ckpt, "--method", "bf16", "--out", tmp_path / "bf16", "--quiet")
    assert r.returncode == 0, r.stderr
    r = _run_cli("bench", tiny_ckpt, "--compare", out, "--compare", tmp_path / "bf16", "--iters", "2",
                 "--batch", "2", "--threads", "1", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["path"] for row in rows] == [str(tiny_ckpt), str(out), str(tmp_path / "bf16")]
    assert [row["method"] for row in rows] == ["fp32", "int8-static", "bf16"]
    for row in rows:
        assert {"path", "p50_ms", "p90_ms", "size_mb", "peak_mb"} <= set(row)
    # real clips of the same kind as the calibration set (test split: not among the calibration clips);
    # an unseeded randn input fell outside the calibrated activation ranges and made this test order-dependent
    from vidlab.compress.data import calibration_batches, resolve_videos
    from vidlab.models import read_meta

    (x,) = next(calibration_batches(resolve_videos(tiny_synth / "test.csv"), read_meta(tiny_ckpt), max_clips=4,
                                    batch_size=4))
    fp32, q, b = load_compressed(tiny_ckpt), load_compressed(out), load_compressed(tmp_path / "bf16")
    assert q.meta["compression"]["method"] == "int8-static" and b.meta["compression"]["method"] == "bf16"
    with torch.no_grad():
        assert _cos(q(x), fp32(x)) > 0.98
        assert _cos(b(x.bfloat16()).float(), fp32(x)) > 0.99
    # an fp16/bf16 checkpoint is an ordinary one for vidlab.models.load (weights read into fp32)
    assert models.load(tmp_path / "bf16").s1.pathway0_stem.conv.weight.dtype == torch.float32


def test_cli_classify_and_bench_compiled_path(tiny_ckpt, tiny_synth, capsys):
    from helpers import run_cli

    video = sorted((tiny_synth / "videos" / "test").rglob("*.mp4"))[0]
    runs = {}
    for flag in ("--no-fast", "--compile"):
        code, out, err = run_cli(["classify", str(video), "--checkpoint", str(tiny_ckpt), "--topk", "3", flag, "--json"],
                                 capsys)
        assert code == 0, err
        runs[flag] = json.loads(out)[0]
    eager, compiled = runs["--no-fast"], runs["--compile"]
    assert len(compiled["windows"]) == len(eager["windows"]) >= 2
    for win_c, win_e in zip([compiled, *compiled["windows"]], [eager, *eager["windows"]]):
        assert [p["label"] for p in win_c["top"]] == [p["label"] for p in win_e["top"]]
        for a, b in zip(win_c["top"], win_e["top"]):
            assert abs(a["score"] - b["score"]) < 1e-4
    code, out, err = run_cli(["bench", str(tiny_ckpt), "--compile", "--iters", "2", "--batch", "2", "--threads", "1",
                              "--json", "--quiet"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["path_kind"] == "compile" and row["p50_ms"] > 0 and row["throughput_clips_s"] > 0


def test_cli_bad_calibration_set_fails_before_work(tiny_ckpt, tmp_path):
    bad = tmp_path / "calib"
    bad.mkdir()
    (bad / "broken.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "never"
    r = _run_cli("compress", tiny_ckpt, "--method", "int8-static", "--calib", bad, "--out", out)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidlab: error: ") and "broken.mp4" in lines[0]
    assert not list(tmp_path.glob("never*"))
    from vidlab.compress.data import CalibrationError, resolve_videos

    with pytest.raises(CalibrationError, match="not found"):
        resolve_videos(tmp_path / "missing.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="no videos"):
        resolve_videos(tmp_path / "empty")


@pytest.mark.slow
def test_cli_export_onnx_with_int8(tiny_ckpt, tmp_path):
    r = _run_cli("export", tiny_ckpt, "--format", "onnx", "--out", tmp_path / "m.onnx", "--int8", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["max_abs_diff"] <= 1e-4
    out = run_onnx(res["int8_path"], (torch.randn(1, 3, 4, 32, 32),))
    assert out.shape == (1, 10) and np.isfinite(out).all()
    assert Path(res["int8_path"]).exists()


def test_fast_paths_compute_the_same_function():
    from vidlab.compress import freeze_for_cpu, optimize_for_inference

    m = randomise_(models.build("i3d_r10_tiny", num_classes=10)).eval()
    m.meta = {"arch": "i3d_r10_tiny"}
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = m(x)
    for fast in (optimize_for_inference(m), optimize_for_inference(m, channels_last=True), freeze_for_cpu(m, (x,))):
        assert fast.meta["arch"] == "i3d_r10_tiny"
        torch.testing.assert_close(fast(x), ref, atol=1e-4, rtol=1e-4)
    bf = optimize_for_inference(m, dtype=torch.bfloat16)
    assert bf(x).dtype == torch.float32 and _cos(bf(x), ref) > 0.99


def test_compiled_fast_path_matches_eager_and_recompiles_for_new_shapes():
    from vidlab.compress import compile_for_cpu

    m = randomise_(models.build("i3d_r10_tiny", num_classes=10)).eval()
    m.meta = {"arch": "i3d_r10_tiny"}
    g = torch.Generator().manual_seed(1)
    fast = compile_for_cpu(m)
    assert fast.meta["arch"] == "i3d_r10_tiny"
    for shape in ((1, 3, 4, 32, 32), (2, 3, 8, 24, 24)):  # a second shape: specialised, recompiled, still right
        x = torch.randn(*shape, generator=g)
        with torch.no_grad():
            ref = m(x)
        torch.testing.assert_close(fast(x), ref, atol=1e-4, rtol=1e-4)
    # the source model is left untouched: still has its BatchNorm layers
    assert m.training is False and any(isinstance(k, torch.nn.BatchNorm3d) for k in m.modules())


_MANY_MODELS = """
import torch
from torch._dynamo.utils import counters

from vidlab.compress import compile_for_cpu
from vidlab.models.contract import VideoClassifier


class Probe(VideoClassifier, torch.nn.Module):
    classifier_path = "head"

    def __init__(self, width):
        super().__init__()
        self.head = torch.nn.Linear(3, width)

    def forward_features(self, x):
        return x.mean((2, 3, 4))

    def forward_head(self, features):
        return self.head(features)


x = torch.randn(1, 3, 2, 4, 4)
for width in range(2, 12):
    m = Probe(width).eval()
    graphs = counters["stats"]["unique_graphs"]
    out = compile_for_cpu(m)(x)
    assert counters["stats"]["unique_graphs"] > graphs, f"model {width - 1} was not compiled"
    with torch.no_grad():
        torch.testing.assert_close(out, m(x))
print("compiled", width - 1)
"""


def test_compiled_fast_path_compiles_every_model_of_a_process():
    # Every vidlab classifier shares the contract's forward, i.e. one code object and one dynamo
    # cache of 8 entries by default: the ninth model compiled in a process used to run eagerly.
    # Ten models, in a fresh process: dynamo's cache holds nothing from other tests, and the widened
    # limit does not carry over into them.
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _MANY_MODELS], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "compiled 10" in run.stdout
