"""Training at scale on CPU: DDP equivalence, two "nodes", kill -9 and resume."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(data, out, **train):
    cfg = {
        "model": {"arch": "c2d_r10_tiny", "kwargs": {"width": 8, "dropout": 0.0}},
        "data": {"train": str(data / "train.csv"), "labels": str(data / "classes.txt"), "num_frames": 4,
                 "sampling_rate": 2, "crop_size": 28, "train_scale": [32, 36], "test_scale": 32, "flip": 0.0,
                 "batch_size": 4},
        "solver": {"lr": 0.05, "epochs": 4, "warmup_epochs": 0.5, "clip_grad": 1.0, "weight_decay": 1e-4},
        "train": {"out_dir": str(out), "seed": 3, "progress": False, "tensorboard": False, "log_steps": True,
                  "bn_batch": 2, "deterministic": True, "threads": 1, **train},
    }
    path = out.parent / f"{out.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _steps(out):
    return [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def _vidlab(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "vidlab", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env())


def test_two_gloo_processes_match_one_process(tiny_synth, tmp_path):
    one = tmp_path / "one"
    r1 = _vidlab("train", "--config", str(_config(tiny_synth, one)))
    assert r1.returncode == 0, r1.stderr[-3000:]
    two = tmp_path / "two"
    cfg2 = _config(tiny_synth, two)
    r2 = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                         "-m", "vidlab", "train", "--config", str(cfg2)], capture_output=True, text=True,
                        timeout=600, env=_env())
    assert r2.returncode == 0, r2.stderr[-3000:]
    a, b = _steps(one), _steps(two)
    assert len(a) == len(b) == 20  # 20 clips / global batch 4 = 5 steps x 4 epochs
    assert [s["batch_size"] for s in b] == [4] * 20
    for x, y in zip(a, b):
        assert abs(x["loss"] - y["loss"]) < 1e-4, (x, y)
    wa = load_file(str(one / "checkpoints" / "last.safetensors"))
    wb = load_file(str(two / "checkpoints" / "last.safetensors"))
    for k in wa:  # float sums in another order over 20 steps: agree to ~1e-5, BN variances to ~1e-4
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-3, atol=2e-4, msg=k)


def test_nproc_flag_launches_torchrun(tiny_synth, tmp_path):
    out = tmp_path / "n2"
    r = _vidlab("train", "--config", str(_config(tiny_synth, out, bn_batch=None)), "--nproc", "2",
                "solver.epochs=1", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["history"][0]["epoch"] == 1  # one JSON document: only rank 0 prints
    assert (out / "checkpoints" / "last.safetensors").exists()


@pytest.mark.slow
def test_two_nodes_over_localhost(tiny_synth, tmp_path):
    """`torchrun --nnodes 2 --nproc_per_node 1` with a static rendezvous on 127.0.0.1."""
    out = tmp_path / "nodes"
    cfg = _config(tiny_synth, out, bn_batch=None)
    port = _free_port()
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
               f"--node_rank={node}", "--master_addr=127.0.0.1", f"--master_port={port}",
               "-m", "vidlab", "train", "--config", str(cfg), "solver.epochs=2"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()))
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert len(_steps(out)) == 10


def _wait_for(pred, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_kill_9_then_resume_gives_identical_weights(tiny_synth, tmp_path):
    ref = tmp_path / "ref"
    r = _vidlab("train", "--config", str(_config(tiny_synth, ref, checkpoint_every=1)))
    assert r.returncode == 0, r.stderr[-3000:]

    run = tmp_path / "killed"
    cfg = _config(tiny_synth, run, checkpoint_every=1)
    proc = subprocess.Popen([sys.executable, "-m", "vidlab", "train", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    steps = run / "steps.jsonl"
    assert _wait_for(lambda: steps.exists() and len(steps.read_text().splitlines()) >= 7)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(steps.read_text().splitlines()) < 20  # really interrupted
    r = _vidlab("train", "--config", str(cfg), "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stderr
    a = load_file(str(ref / "checkpoints" / "last.safetensors"))
    b = load_file(str(run / "checkpoints" / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit-identical
    assert [s["loss"] for s in _steps(ref)] == [s["loss"] for s in _steps(run)]


def test_sigterm_writes_a_resume_point_and_exits(tiny_synth, tmp_path):
    run = tmp_path / "term"
    cfg = _config(tiny_synth, run)
    proc = subprocess.Popen([sys.executable, "-m", "vidlab", "train", "--config", str(cfg), "solver.epochs=40"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    steps = run / "steps.jsonl"
    assert _wait_for(lambda: steps.exists() and len(steps.read_text().splitlines()) >= 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "resume with --resume" in err
    latest = (run / "checkpoints" / "resume" / "LATEST").read_text().strip()
    done = len(steps.read_text().splitlines())
    epoch, batch = int(latest[1:5]), int(latest.split("-b")[1])
    assert epoch * 5 + batch == done  # the point is exactly where it stopped


def test_half_written_resume_points_are_never_used(tmp_path):
    from vidlab.engine.resume import ResumeStore
    from vidlab.models.checkpoint import CheckpointError

    store = ResumeStore(tmp_path / "resume")
    w = {"w": torch.ones(3)}
    store.save("e0001-b000000", w, {"epoch": 1})
    # a crash while writing the next point leaves a temporary folder: ignored
    (tmp_path / "resume" / ".e0001-b000004.tmp123").mkdir()
    (tmp_path / "resume" / ".e0001-b000004.tmp123" / "model.safetensors").write_bytes(b"partial")
    point = store.latest()
    assert point.name == "e0001-b000000"
    weights, state = store.load(point)
    assert state["epoch"] == 1 and torch.equal(weights["w"], w["w"])
    # weights replaced behind the state's back: refused
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(point / "model.safetensors"))
    with pytest.raises(CheckpointError, match="do not belong together"):
        store.load(point)
    (point / "state.pt").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        store.latest()
