"""The command line: outputs, JSON, and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import run_cli
from vidlab import models

run = run_cli


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny"
    model = models.build("i3d_r10_tiny", num_classes=3)
    return models.save(model, path, labels=["alpha", "beta", "gamma"],
                       preprocessing=models.get_spec("i3d_r10_tiny").preprocessing())


def _one_error_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vidlab: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_classify_missing_file_is_one_line(checkpoint, tmp_path, capsys):
    code, out, err = run(["classify", str(tmp_path / "nope.mp4"), "--checkpoint", str(checkpoint)], capsys)
    assert code != 0
    assert "nope.mp4" in _one_error_line(err)


@pytest.mark.parametrize("content", [b"", b"this is not a video at all\n" * 50, os.urandom(4096)])
def test_classify_empty_or_corrupt_file(checkpoint, tmp_path, capsys, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    code, out, err = run(["classify", str(bad), "--checkpoint", str(checkpoint), "--json"], capsys)
    assert code != 0
    assert "bad.mp4" in _one_error_line(err)
    assert json.loads(out)[0]["error"]


def test_classify_real_files_json(checkpoint, real_dir, capsys):
    files = [real_dir / "kth/boxing/person02_boxing_d4_uncomp.avi", real_dir / "asl_gestures/again.mkv",
             real_dir / "ucf101/gif/v_CricketShot_g04_c01_rgb.gif"]
    code, out, err = run(["classify", *map(str, files), "--checkpoint", str(checkpoint), "--topk", "2", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert [r["video"] for r in res] == list(map(str, files))
    for r in res:
        assert len(r["top"]) == 2 and r["top"][0]["label"] in ("alpha", "beta", "gamma")
        assert r["top"][0]["score"] >= r["top"][1]["score"]
        assert r["windows"] and all(len(w["top"]) == 2 for w in r["windows"])
        # three classes and top-2 per window: each window's third probability is 1 - the two shown, and it is
        # the smallest; the video's scores are the mean of the windows' softmax (window-level averaging)
        mean = dict.fromkeys(("alpha", "beta", "gamma"), 0.0)
        for w in r["windows"]:
            p = {t["label"]: t["score"] for t in w["top"]}
            (rest,) = set(mean) - set(p)
            p[rest] = 1.0 - sum(p.values())
            assert -1e-5 <= p[rest] <= min(t["score"] for t in w["top"]) + 1e-5, w
            for label in mean:
                mean[label] += p[label] / len(r["windows"])
        assert [t["label"] for t in r["top"]] == sorted(mean, key=mean.get, reverse=True)[:2]
        for t in r["top"]:
            assert t["score"] == pytest.approx(mean[t["label"]], abs=1e-5)
    # KTH clip: 522 frames at 25 fps, windows of 8 x 4 = 32 frames (no target fps in this checkpoint):
    # starts 0, 32, ..., 480 and a last one at 490 aligned to the end -> 17 windows
    assert len(res[0]["windows"]) == 17 and res[0]["windows"][-1]["start_sec"] == pytest.approx(490 / 25, abs=0.01)
    assert res[0]["windows"][-1]["end_sec"] == pytest.approx(522 / 25, abs=0.05)


def test_classify_bad_checkpoint(tmp_path, capsys):
    code, out, err = run(["classify", "x.mp4", "--checkpoint", str(tmp_path / "none.safetensors")], capsys)
    assert code == 2
    assert "not found" in _one_error_line(err)


def test_classify_a_multi_label_checkpoint_prints_sigmoids(checkpoint, real_dir, tmp_path, capsys):
    # the same weights with the sidecar flag: per-class sigmoids, the video's the max over the windows
    model = models.load(checkpoint)
    multi = models.save(model, tmp_path / "multi", preprocessing={**model.meta["preprocessing"], "multi_label": True})
    video = str(real_dir / "asl_gestures/again.mkv")
    seen = []
    hook = model.register_forward_hook(lambda mod, args, out: seen.append(out.float()))
    from vidlab.engine.inference import classify_video

    classify_video(model, video, topk=3)  # the reference logits, one centre-crop view per window
    hook.remove()
    sig = torch.cat(seen).double().sigmoid()
    code, out, err = run(["classify", video, "--checkpoint", str(multi), "--topk", "3", "--json", "--no-fast"], capsys)
    assert code == 0, err
    (res,) = json.loads(out)
    assert res["activation"] == "sigmoid" and res["aggregation"] == "max" and len(res["windows"]) == len(sig)
    for w, s in zip(res["windows"], sig):
        assert [t["score"] for t in sorted(w["top"], key=lambda t: t["index"])] == pytest.approx(s.tolist(), abs=1e-6)
    assert [t["score"] for t in sorted(res["top"], key=lambda t: t["index"])] == pytest.approx(
        sig.amax(0).tolist(), abs=1e-6)
    assert abs(sum(t["score"] for t in res["top"]) - 1.0) > 0.1
    code, out, err = run(["classify", video, "--checkpoint", str(multi), "--topk", "1", "--no-fast"], capsys)
    assert code == 0 and f"(sigmoid, max over {len(sig)} windows" in out, out
    code, out, err = run(["classify", video, "--checkpoint", str(checkpoint), "--topk", "1", "--no-fast"], capsys)
    assert code == 0 and f"(softmax, mean over {len(sig)} windows" in out, out


def test_convert_multi_label_writes_the_flag(tmp_path, capsys):
    torch.manual_seed(1)
    src = models.build("i3d_r10_tiny", num_classes=6)
    torch.save({"model_state": src.state_dict()}, tmp_path / "charades.pyth")  # PySlowFast's layout
    args = ["convert", "--from", "pyslowfast", "--arch", "i3d_r10_tiny", str(tmp_path / "charades.pyth")]
    code, out, err = run([*args, str(tmp_path / "multi"), "--multi-label", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["multi_label"] is True and json.loads(out)["num_classes"] == 6
    meta = models.read_meta(tmp_path / "multi")
    assert meta["preprocessing"] == {**models.get_spec("i3d_r10_tiny").preprocessing(), "multi_label": True}
    assert models.is_multi_label(meta)
    code, out, err = run([*args, str(tmp_path / "single")], capsys)
    assert code == 0 and "6 classes, from pyslowfast" in out, err
    meta = models.read_meta(tmp_path / "single")
    assert "multi_label" not in meta["preprocessing"] and not models.is_multi_label(meta)


def test_train_bad_config_and_override(tmp_path, capsys):
    code, _, err = run(["train", "--config", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "config file not found" in _one_error_line(err)
    (tmp_path / "c.yaml").write_text("solver: {lr: 0.1}\n")
    code, _, err = run(["train", "--config", str(tmp_path / "c.yaml"), "solver.lrr=1"], capsys)
    assert code == 2 and "unknown config key 'solver.lrr'" in _one_error_line(err)


def test_models_json_lists_every_architecture(capsys):
    code, out, err = run(["models", "--json", "--no-flops"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == models.list_models()
    tiny = {r["name"]: r for r in rows}["c2d_r10_tiny"]
    assert tiny["params"] == sum(p.numel() for p in models.build("c2d_r10_tiny").parameters())


def test_models_flops_match_pyslowfast_zoo():
    from vidlab.apps.model_table import count_flops

    # PySlowFast model zoo: SlowOnly R50 8x8 is 54.52 GFLOPs (multiply-adds) at 8x256x256
    assert count_flops("slow_r50_8x8", 8, 256) == pytest.approx(54.52, abs=0.01)


def test_eval_command_on_synthetic(tiny_synth, checkpoint, capsys):
    # the checkpoint has 3 classes; restrict the list to labels 0..2
    lines = [ln for ln in (tiny_synth / "test.csv").read_text().splitlines() if int(ln.split()[1]) < 3]
    lst = tiny_synth / "test3.csv"
    lst.write_text("\n".join(lines) + "\n")
    code, out, err = run(["eval", "--checkpoint", str(checkpoint), "--list", str(lst), "--views", "2", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["num_videos"] == 3 and res["num_views"] == 2 and len(res["confusion_matrix"]) == 3


def test_console_script_help_and_error_exit():
    exe = [sys.executable, "-m", "vidlab"]
    ok = subprocess.run(exe + ["--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0
    for cmd in ("demo", "classify", "train", "eval", "models", "data"):
        assert cmd in ok.stdout
    bad = subprocess.run(exe + ["classify", "missing.mp4", "--checkpoint", "missing.safetensors"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("vidlab: error:") and "Traceback" not in bad.stderr
