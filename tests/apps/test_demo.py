"""`vidlab demo`: the pipeline on a tiny set (fast) and the real thing (slow)."""

import json
import subprocess
import sys

import pytest

from vidlab.apps.demo import run_demo


def test_demo_pipeline_outputs_on_a_tiny_set(tmp_path):
    res = run_demo(
        tmp_path / "demo", minutes=2, epochs=1, progress=False, log=lambda m: None,
        data_settings=dict(train_per_class=2, val_per_class=1, test_per_class=1, size=32, num_frames=16),
        clip=dict(num_frames=4, sampling_rate=4, crop_size=28, train_scale=[32, 36], test_scale=32),
    )
    assert set(res) >= {"baseline", "temporal", "seconds", "report", "checkpoint"}
    for role in ("baseline", "temporal"):
        r = res[role]
        assert r["epochs"] == 1
        # 10 test videos, one per class: top-1 is a multiple of 1/10 and equals the mean-class accuracy;
        # naming the class also names its pair, and top-1 hits are top-5 hits
        assert r["top1"] * 10 == pytest.approx(round(r["top1"] * 10), abs=1e-9)
        assert r["mean_class_accuracy"] == pytest.approx(r["top1"], abs=1e-9)
        assert r["top1"] <= r["pair_top1"] + 1e-9 and r["top1"] <= r["top5"] + 1e-9
    assert json.loads((tmp_path / "demo" / "results.json").read_text())["temporal"]["top1"] == res["temporal"]["top1"]
    out = tmp_path / "demo"
    for name in ("report.html", "report.md", "model.safetensors", "model.json", "annotated_test_clips.mp4",
                 "results.json", "figures/curves.png", "figures/confusion_baseline.png", "figures/per_class.png"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert "time reversal" in md and "figures/confusion_temporal.png" in md
    from vidlab import models
    from vidlab.io import probe_video

    model = models.load(res["checkpoint"])
    assert model.meta["labels"][0] == "move_left" and model.meta["arch"] == "i3d_r10_tiny"
    info = probe_video(out / "annotated_test_clips.mp4")
    assert info.num_frames == 10 * 16 and info.width == 256  # one 16-frame clip per class, upscaled 8x
    # a second run reuses the generated data
    logs = []
    run_demo(out, minutes=2, epochs=1, progress=False, log=logs.append,
             data_settings=dict(train_per_class=2, val_per_class=1, test_per_class=1, size=32, num_frames=16),
             clip=dict(num_frames=4, sampling_rate=4, crop_size=28, train_scale=[32, 36], test_scale=32))
    assert any("reusing the synthetic set" in m for m in logs)
    # the model the demo is about trains first, so a tight budget cuts the baseline's share
    order = [m for m in logs if m.startswith("training the ")]
    assert order == ["training the temporal model (i3d_r10_tiny)", "training the baseline model (c2d_r10_tiny)"]


@pytest.mark.slow
def test_full_demo_meets_its_targets(tmp_path, real_dir):
    """The acceptance run: `vidlab demo --json`, then classify real files with its checkpoint."""
    exe = [sys.executable, "-m", "vidlab"]
    run = subprocess.run(exe + ["demo", "--out", str(tmp_path / "d"), "--json", "--quiet"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout)
    assert res["baseline"]["top1"] <= 0.65
    assert res["temporal"]["top1"] >= 0.95
    assert res["seconds"] <= 300
    files = [real_dir / "kth/walking/person09_walking_d1_uncomp.avi",
             real_dir / "people_demo/basketball_gym__mmaction2_test_video_structuralize.mp4",
             real_dir / "asl_gestures/yes.mkv", real_dir / "people_demo/classroom.gif"]
    cls = subprocess.run(exe + ["classify", *map(str, files), "--checkpoint", res["checkpoint"], "--json"],
                         capture_output=True, text=True, timeout=600)
    assert cls.returncode == 0, cls.stderr[-2000:]
    out = json.loads(cls.stdout)
    assert len(out) == 4 and all(len(r["top"]) == 5 for r in out)


@pytest.mark.parametrize("seconds, now, one, recipe, threads", [
    (1000.0, 0.10, 0.12, "full", None),  # 50 steps x 0.10 s x 1.8 = 9 s an epoch: 111 fit
    (60.0, 0.10, 0.12, "fast (4 frames)", None),  # 6.7 epochs fit: fewer than 17
    (130.0, 0.094, 0.11, "fast (4 frames)", None),  # 15.4 fit: a 3-minute demo's share, 13 epochs ran: 0.80
    (300.0, 1.00, 0.10, "full", 1),  # one thread is 10x faster (a loaded machine): it is taken, 33 fit
    (300.0, 0.10, 0.09, "full", None),  # 10% is noise, not a reason to drop a thread
])
def test_budget_plan_trades_frames_for_epochs_and_picks_threads(monkeypatch, seconds, now, one, recipe, threads):
    import torch

    from vidlab.apps import demo
    from vidlab.engine import budget

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(budget, "training_step_seconds",
                        lambda model, x, n, threads=None, steps=3: one if threads == 1 else now)
    plan = demo.plan_for_budget(seconds, epochs=18, train_clips=800, num_classes=10)
    assert plan["recipe"] == recipe and plan["threads"] == threads
    assert plan["clip"] == (demo.CLIP if recipe == "full" else demo.FAST_CLIP)
    # the fallback keeps the clip's span (8 x 4 = 4 x 8 frames) and everything else
    assert demo.FAST_CLIP["num_frames"] * demo.FAST_CLIP["sampling_rate"] == demo.CLIP["num_frames"] * demo.CLIP["sampling_rate"]


def test_training_step_probe_leaves_the_model_and_threads_alone():
    import torch

    from vidlab import models
    from vidlab.engine.budget import training_step_seconds

    model = models.build("i3d_r10_tiny", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    threads = torch.get_num_threads()
    t = training_step_seconds(model, torch.randn(2, 3, 4, 32, 32), 3, steps=2, threads=1)
    assert t > 0 and torch.get_num_threads() == threads
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
