#!/usr/bin/env python
"""Multigrid vs. the baseline schedule on the synthetic action set (issue: training at scale).

Both runs train the demo's temporal model (``i3d_r10_tiny``, 8 frames every
4th, 56 px crops) from scratch on the same synthetic set with the same step
schedule (LR drops at ``--steps``, ``--epochs`` epochs, warmup 1 epoch); the
multigrid run adds PySlowFast's long cycle (shapes (T/4, S/sqrt2), (T/2, S/sqrt2),
(T/2, S), (T, S), batch scaled to keep B*T*S^2, learning rate scaled with the
batch, each clip's sampling rate drawn between the default and the one that
spans the default clip's time -- ``--fixed-rate``: always the latter --, epoch
factor 1.5) and, with ``--short-cycle``, the short cycle.

``--cache`` sets ``data.cache=memory`` for BOTH runs: every training video is
decoded once and its frames kept in RAM, so neither run pays the per-clip cost of
opening and seeking the file (the same for every multigrid shape) after its first
epoch.

Each run is its own process with one intra-op thread; the script reports its
wall time and the CPU time it used (user + system, from ``getrusage``): on a
shared machine CPU time is the fairer figure, on a quiet one the two agree.
``train_s`` is the wall time of ``Trainer.fit()`` alone (without the process
start and the final test evaluation, which cost both runs the same).
Top-1 is measured on the test split (1 view x 3 crops).

``--step-times`` instead times one training step (forward, backward, SGD) of
the model at each long-cycle shape on random inputs, one thread, BN over
groups of 8 clips, with ``nn.Conv3d`` as it is and with the trainer's explicit
temporal padding (:mod:`vidlab.engine.conv_pad`), in one process.

Usage::

    python benchmarks/bench_multigrid.py [--data /tmp/vidlab_mg_synth] [--epochs 18] [--steps 12,16]
        [--epoch-factor 1.5] [--short-cycle] [--fixed-rate] [--cache] [--seed 0] [--workers 0] [--json]
    python benchmarks/bench_multigrid.py --step-times [--json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RUN = r"""
import json, sys, time, torch
from pathlib import Path
from vidlab.apps.demo import demo_config
from vidlab.engine.config import apply_override, from_dict
from vidlab.engine.trainer import Trainer
torch.set_num_threads(1)
data, out, epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
cfg = demo_config("i3d_r10_tiny", data, out, epochs=epochs, time_budget=None, progress=False)
d = cfg.to_dict()
d["train"]["tensorboard"] = False
d["train"]["eval_every"] = 1000
for o in sys.argv[4:]:
    apply_override(d, o)
tr = Trainer(from_dict(d), log=lambda m: print(m, file=sys.stderr, flush=True))
t0 = time.perf_counter()
tr.fit()
fit_s = time.perf_counter() - t0
print(json.dumps({"test_top1": tr.evaluate("test")["top1"], "train_s": fit_s,
                  "epoch_s": [round(h["seconds"], 2) for h in tr.history]}))
"""


def run(name: str, data: Path, out: Path, epochs: int, overrides: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN, str(data), str(out / name), str(epochs), *overrides],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{name} failed")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"name": name, "overrides": overrides, "top1": res["test_top1"], "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "train_s": round(res["train_s"], 1), "epoch_s": res["epoch_s"]}


def step_times(repeats: int = 10) -> dict:
    """ms per training step and per clip at each long-cycle shape (batch x8/x4/x2/x1)."""
    import torch
    import torch.nn.functional as F

    from vidlab import models
    from vidlab.engine.bn import set_bn_group
    from vidlab.engine.conv_pad import pad_time_explicitly

    torch.set_num_threads(1)
    shapes = {"x8 (2 frames, 40 px)": (64, 2, 40), "x4 (4 frames, 40 px)": (32, 4, 40),
              "x2 (4 frames, 56 px)": (16, 4, 56), "x1 (8 frames, 56 px)": (8, 8, 56)}
    rows = []
    for padded in (False, True):
        torch.manual_seed(0)
        model = models.build("i3d_r10_tiny", num_classes=10).train()
        set_bn_group(model, 8)
        if padded:
            pad_time_explicitly(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for name, (b, t, s) in shapes.items():
            x, y = torch.randn(b, 3, t, s, s), torch.randint(0, 10, (b,))

            def step():
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()

            for _ in range(3):
                step()
            t0 = time.perf_counter()
            for _ in range(repeats):
                step()
            ms = (time.perf_counter() - t0) / repeats * 1000
            rows.append({"conv": "explicit time padding" if padded else "nn.Conv3d", "shape": name,
                         "ms_per_step": round(ms, 1), "ms_per_clip": round(ms / b, 2)})
    return {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/vidlab_mg_synth"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/vidlab_mg_runs"))
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--steps", default="12,16")
    ap.add_argument("--batch", type=int, default=8, help="the default (full-shape) batch of both runs")
    ap.add_argument("--lr", type=float, default=0.05, help="learning rate at the default batch")
    ap.add_argument("--short-cycle", action="store_true")
    ap.add_argument("--fixed-rate", action="store_true",
                    help="multigrid.random_sampling_rate=false: long-cycle clips always span the default time")
    ap.add_argument("--epoch-factor", type=float, default=1.5,
                    help="multigrid's epoch factor (PySlowFast's default 1.5)")
    ap.add_argument("--cache", action="store_true",
                    help="data.cache=memory in both runs (decode each training video once, keep it in RAM)")
    ap.add_argument("--seed", type=int, default=0, help="train.seed of both runs")
    ap.add_argument("--workers", type=int, default=0,
                    help="data.num_workers of both runs (0: clips are read in the training process)")
    ap.add_argument("--only", choices=["baseline", "multigrid"], default=None)
    ap.add_argument("--step-times", action="store_true",
                    help="time one training step per long-cycle shape instead of training")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.step_times:
        res = step_times()
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            for r in res["rows"]:
                print(f"{r['conv']:<22} {r['shape']:<22} {r['ms_per_step']:7.1f} ms/step {r['ms_per_clip']:6.2f} ms/clip")
        return

    from vidlab.data import synthetic

    if not (args.data / "test.csv").exists():
        print(f"generating the synthetic set in {args.data}", file=sys.stderr)
        synthetic.write_synthetic_dataset(args.data, seed=0, progress=False, train_per_class=80,
                                          val_per_class=8, test_per_class=20)
    common = ["solver.schedule=steps", f"solver.steps=[{args.steps}]", f"data.batch_size={args.batch}",
              f"solver.lr={args.lr}", f"solver.warmup_start_lr={args.lr / 10}", "data.target_fps=null"]
    if args.cache:
        common.append("data.cache=memory")  # both runs alike
    if args.seed:
        common.append(f"train.seed={args.seed}")
    if args.workers:
        common.append(f"data.num_workers={args.workers}")
    mg = ["multigrid.long_cycle=true", f"train.bn_batch={args.batch}", f"multigrid.epoch_factor={args.epoch_factor}"]
    if args.short_cycle:
        mg.append("multigrid.short_cycle=true")
    if args.fixed_rate:
        mg.append("multigrid.random_sampling_rate=false")
    load_start = os.getloadavg()
    runs = []
    if args.only in (None, "baseline"):
        runs.append(run("baseline", args.data, args.out, args.epochs, common))
        print(json.dumps(runs[-1]), file=sys.stderr)
    if args.only in (None, "multigrid"):
        runs.append(run("multigrid", args.data, args.out, args.epochs, common + mg))
        print(json.dumps(runs[-1]), file=sys.stderr)
    result = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "load_average_start": load_start, "load_average": os.getloadavg(), "epochs": args.epochs, "steps": args.steps,
              "epoch_factor": args.epoch_factor, "fixed_rate": args.fixed_rate, "cache": args.cache, "seed": args.seed, "workers": args.workers,
              "runs": runs}
    if len(runs) == 2:
        b, m = runs
        result["wall_ratio"] = round(m["wall_s"] / b["wall_s"], 3)
        result["cpu_ratio"] = round(m["cpu_s"] / b["cpu_s"], 3)
        result["train_wall_ratio"] = round(m["train_s"] / b["train_s"], 3)
        result["top1_gap_points"] = round(100 * (b["top1"] - m["top1"]), 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for r in runs:
            print(f"{r['name']:<10} top-1 {r['top1']:.3f}  wall {r['wall_s']:.0f} s  cpu {r['cpu_s']:.0f} s  "
                  f"fit {r['train_s']:.0f} s")
        if len(runs) == 2:
            print(f"multigrid / baseline: wall x{result['wall_ratio']}, cpu x{result['cpu_ratio']}, "
                  f"fit x{result['train_wall_ratio']}, "
                  f"top-1 gap {result['top1_gap_points']} points")


if __name__ == "__main__":
    main()
