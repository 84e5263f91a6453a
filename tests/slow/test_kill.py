"""kill -9 at random instants of a training run (issue 20): ``last`` always loads, is never a mix of two
checkpoints, and ``--resume`` ends bit-equal to an uninterrupted run.

Resume points are written every step (``train.checkpoint_every=1``) and ``last``/``best`` at the end of each
5-step epoch, so checkpoint files are being written most of the time; some kills are timed to the instant a
temporary checkpoint file appears.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from vidlab import models

pytestmark = pytest.mark.slow

STEPS = 20  # 20 clips / batch 4 = 5 steps x 4 epochs
KILLS = 6


def _config(data: Path, out: Path) -> Path:
    cfg = {
        "model": {"arch": "c2d_r10_tiny", "kwargs": {"width": 8, "dropout": 0.0}},
        "data": {"train": str(data / "train.csv"), "labels": str(data / "classes.txt"), "num_frames": 4,
                 "sampling_rate": 2, "crop_size": 28, "train_scale": [32, 36], "test_scale": 32, "flip": 0.0,
                 "batch_size": 4},
        "solver": {"lr": 0.05, "epochs": 4, "warmup_epochs": 0.5, "clip_grad": 1.0, "weight_decay": 1e-4},
        "train": {"out_dir": str(out), "seed": 5, "progress": False, "tensorboard": False, "log_steps": True,
                  "deterministic": True, "threads": 1, "checkpoint_every": 1, "keep_resume": 100},
    }
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    return env


def _train(cfg: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidlab", "train", "--config", str(cfg), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())


def _steps(out: Path) -> list[dict]:
    path = out / "steps.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def _temporaries(ckpt: Path) -> set[str]:
    """Temporary files and folders of checkpoint and resume-point writes in progress (or killed)."""
    names = set()
    for d in (ckpt, ckpt / "resume"):
        try:
            names |= {f"{d.name}/{e.name}" for e in os.scandir(d) if e.name.startswith(".") and ".tmp" in e.name}
        except FileNotFoundError:
            pass
    return names


def _writing(ckpt: Path) -> bool:
    return bool(_temporaries(ckpt))


def _kill_at(proc: subprocess.Popen, out: Path, after_steps: int, mode: str, rng: random.Random) -> bool:
    """SIGKILL ``proc`` once ``after_steps`` steps are logged: after a random delay, or the moment a
    checkpoint write is seen. False if it finished first."""
    t0 = time.time()
    while len(_steps(out)) < after_steps:
        if proc.poll() is not None:
            return False
        if time.time() - t0 > 300:
            proc.kill()
            pytest.fail("training made no progress")
        time.sleep(0.02)
    if mode == "delay":
        time.sleep(rng.uniform(0.0, 0.4))
    else:  # poll for a write in progress, for up to 3 s
        t1 = time.time()
        while not _writing(out / "checkpoints") and time.time() - t1 < 3 and proc.poll() is None:
            time.sleep(0.001)  # a checkpoint write (fsync'ed) lasts longer than this
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_kill_9_at_random_instants_then_resume(tiny_synth, tmp_path):
    ref = tmp_path / "ref"
    r = subprocess.run([sys.executable, "-m", "vidlab", "train", "--config", str(_config(tiny_synth, ref))],
                       capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(_steps(ref)) == STEPS
    # the reference weights after each epoch: its epoch-end resume points (keep_resume keeps them all)
    ref_epoch = {e: load_file(str(ref / "checkpoints" / "resume" / f"e{e:04d}-b000000" / "model.safetensors"))
                 for e in range(1, 5)}
    assert _equal(ref_epoch[4], load_file(str(ref / "checkpoints" / "last.safetensors")))

    run = tmp_path / "killed"
    cfg = _config(tiny_synth, run)
    rng = random.Random(20)
    ckpt = run / "checkpoints"
    kills, resumed, hits = 0, False, []
    for i in range(KILLS):
        done = len(_steps(run))
        if done >= STEPS - 1:
            break
        before = _temporaries(ckpt)
        proc = _train(cfg, *(["--resume"] if resumed else []))
        target = min(STEPS - 1, done + rng.randint(1, 5))
        mode = "delay" if i % 2 == 0 else "write"
        if not _kill_at(proc, run, target, mode, rng):
            assert proc.wait() == 0, proc.stderr.read()[-3000:]
            break
        kills += 1
        hits += sorted(_temporaries(ckpt) - before)  # what the kill interrupted
        resumed = True
        for tag in ("last", "best"):
            if (ckpt / f"{tag}.safetensors").exists():
                if "sha256" not in models.read_meta(ckpt / tag):
                    hits.append(f"{tag}: stale or missing sidecar")
                m = models.load(ckpt / tag)  # never an error, whatever instant the kill hit
                epoch = m.meta["provenance"]["epoch"]
                # never a mix: the weights are exactly those of the epoch the document says
                assert _equal(m.state_dict(), ref_epoch[epoch]), (tag, epoch, i)
                assert _equal(models.load_state_dict(ckpt / f"{tag}.safetensors"), ref_epoch[epoch])
    assert kills >= 2, "the runs finished before they could be killed"
    proc = _train(cfg, "--resume")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "resumed from" in err
    final = load_file(str(ckpt / "last.safetensors"))
    assert _equal(final, ref_epoch[4])  # bit-identical to the uninterrupted run
    assert _equal(models.load(ckpt / "last").state_dict(), ref_epoch[4])
    assert [s["loss"] for s in _steps(ref)] == [s["loss"] for s in _steps(run)]
    print(f"{kills} kills; interrupted: {hits}")
