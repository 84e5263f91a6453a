#!/usr/bin/env python
"""The diagnostic suite: each SlowFast component on a synthetic task built to need it.

Every task is trained twice (or three times) in the same run with the same recipe,
the model with the component and the same model without it, and tested on the
task's test split. One table; every row is reproducible with ``--task NAME``.

======== ========================================= ===============================
task     what only the component can see            models (without -> with)
======== ========================================= ===============================
blink    a brightness pattern of period 5 frames,     Slow-only (every 5th frame),
         invisible at the Slow stride                Fast-only, SlowFast
detail   which of 6 glyphs (5 x 5 cells of ~4 px)   Fast-only, SlowFast (and
         a still square shows                        Slow-only, 4 frames)
relation whether two squares 41+ px apart have the    3D ResNet (receptive field
         same colour (6 hues)                        33 px), + a non-local block
lfb      what the actor did seconds before the       detector, head alone, + a
         keyframe, outside the clip                  feature bank (avg, max, NL FBO)
order    the order of frames (time-reversed pairs)   C2D (order-blind), I3D
flow     motion between frames (same pairs)          spatial stream, temporal stream
======== ========================================= ===============================

The datasets come from ``vidlab data synth --task blink|detail|relation`` (the demo set for
``order`` and ``flow``; the history detection set for ``lfb``); see
:mod:`vidlab.data.synthetic_tasks` for why each baseline cannot solve its task.
Training uses vidlab's own trainer (the configs are printed with ``--show-configs``:
``vidlab train --config`` reproduces a row), fixed epochs (no time budget: the
figures do not depend on the machine's load, only the wall time does).

Usage::

    python benchmarks/bench_mechanisms.py [--task blink,detail,relation,lfb,order,flow] [--out DIR] [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

ALL_TASKS = ("blink", "detail", "relation", "lfb", "order", "flow")

SOLVER = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "schedule": "cosine",
          "warmup_epochs": 1, "warmup_start_lr": 0.01, "clip_grad": 5.0}

# blink: the Slow pathway's view is every 5th frame (Fast: 16 consecutive frames, alpha 4);
# one bottleneck block per stage at width 16 (Slow) and 2 (Fast: beta 1/8), PySlowFast's kernels.
_SLOW = {"transform": "bottleneck", "width": 16, "temporal_kernels": [[1], [1], [3], [3]], "stem_kernel": [1, 7, 7]}
_FAST = {"transform": "bottleneck", "width": 2, "temporal_kernels": [[3], [3], [3], [3]], "stem_kernel": [5, 7, 7]}
_BLINK_DATA = {"crop_size": 56, "train_scale": [64, 64], "test_scale": 64}
# relation: one stage of two basic blocks at stride 4 (5x5 stem at stride 2 without max-pool, stride 2 in
# the stage), width 48: receptive field 5 + 4 + 8 + 8 + 8 = 33 px, less than the gap between the two
# squares on each axis (41 px or more: tests/data/test_synthetic_tasks.py). The non-local block sits
# after the first block, so the second can compare a position's own colour with what it gathered; its
# 8 temporal groups make it attend within each of the 8 frames (the colours are static).
# The blocks' final BN scales start at 1 (zero_init_final_bn False) in both rows: zeroed, the non-local
# block and the second block both start as the identity, and on an exclusive or each one's gradient helps
# only once the other has moved (measured 2026-12-07: 0.740 zeroed against 0.980, 20 epochs; RESULTS.md).
_REL = {"stage_blocks": [2], "transform": "basic", "width": 48, "temporal_kernels": [[3, 3]],
        "stem_kernel": [3, 5, 5], "stem_pool": False, "spatial_strides": [2], "spatial_dilations": [1],
        "zero_init_final_bn": False}
# AdamW: with SGD at lr 0.05 (and 0.1) the loss of the non-local row rose above log 2 in the prototypes;
# at SGD lr 0.01 it learnt, but more slowly than AdamW at 1e-3 (0.75 vs 0.77 after 10 epochs)
_ADAMW_SOLVER = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "schedule": "cosine", "warmup_epochs": 1,
               "warmup_start_lr": 1e-5, "clip_grad": 5.0}
_REL_DATA = {"num_frames": 8, "sampling_rate": 3, "crop_size": 96, "train_scale": [96, 96], "test_scale": 96}

VARIANTS = {
    "blink": [
        # PySlowFast sampling, linspace(start, start + T * tau - 1, T): T 4, tau 4 is every 5th frame exactly,
        # the frames SlowFast's Slow pathway takes from 16 consecutive ones (linspace(0, 15, 4))
        ("slow_only", False, "i3d_r10_tiny", _SLOW, {"num_frames": 4, "sampling_rate": 4}),
        ("fast_only", True, "i3d_r10_tiny", _FAST, {"num_frames": 16, "sampling_rate": 1}),
        ("slowfast", True, "slowfast_tiny", {}, {"num_frames": 16, "sampling_rate": 1}),
    ],
    # detail: the blink row's three models (same pathways, frames and strides) on a task of spatial detail
    # that needs no motion: the component is the Slow pathway (with it: Slow-only, SlowFast; without: the Fast
    # pathway alone, beta 1/8: 2 stem channels); SlowFast's Slow pathway
    # sees 4 frames; final BN scales at 1 and AdamW as the relation row (with the blink row's SGD lr 0.1 all
    # three stayed at chance in 20 epochs, 2026-12-07 prototypes)
    "detail": [
        ("slow_only", True, "i3d_r10_tiny", {**_SLOW, "zero_init_final_bn": False},
         {"num_frames": 4, "sampling_rate": 4}),
        ("fast_only", False, "i3d_r10_tiny", {**_FAST, "zero_init_final_bn": False},
         {"num_frames": 16, "sampling_rate": 1}),
        ("slowfast", True, "slowfast_tiny", {"zero_init_final_bn": False}, {"num_frames": 16, "sampling_rate": 1}),
    ],
    "relation": [
        ("3d_resnet", False, "i3d_r10_tiny", _REL, {}),
        ("3d_resnet_nonlocal", True, "i3d_r10_tiny",
         {**_REL, "nonlocal_location": [[0]], "nonlocal_pool": [1, 2, 2], "nonlocal_group": 8}, {}),
    ],
}
SIZES = {  # clips per class: train / val / test, and epochs
    "blink": {"full": (150, 4, 40, 20), "quick": (16, 2, 8, 2)},
    "detail": {"full": (100, 2, 40, 20), "quick": (8, 1, 4, 2)},
    "relation": {"full": (300, 4, 50, 20), "quick": (16, 2, 8, 2)},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def task_config(task: str, variant: tuple, data: Path, out: Path, epochs: int, seed: int, progress: bool):
    """The vidlab training config of one row (a plain dict for ``engine.config.from_dict``)."""
    name, _, arch, kwargs, clip = variant
    extra = {**(_REL_DATA if task == "relation" else _BLINK_DATA), **clip}
    return {
        "model": {"arch": arch, "kwargs": kwargs},
        "data": {"train": str(data / "train.csv"), "val": str(data / "val.csv"), "test": str(data / "test.csv"),
                 "labels": str(data / "classes.txt"), "flip": 0.0, "test_views": 1, "test_crops": 1,
                 "batch_size": 16, "cache": "memory", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], **extra},
        "solver": {**(_ADAMW_SOLVER if task in ("relation", "detail") else SOLVER), "epochs": epochs},
        "train": {"out_dir": str(out / "runs" / task / name), "seed": seed, "deterministic": True,
                  "progress": progress, "eval_every": epochs, "tensorboard": False},
    }


def run_clip_task(task: str, out: Path, *, quick: bool, seed: int, progress: bool, only: set | None = None) -> dict:
    from vidlab.data.synthetic_tasks import TASKS, write_task_dataset
    from vidlab.engine.config import from_dict
    from vidlab.engine.trainer import Trainer

    tr, va, te, epochs = SIZES[task]["quick" if quick else "full"]
    data = out / "data" / (task + ("_quick" if quick else ""))
    if not (data / "test.csv").exists():
        log(f"writing the {task} set in {data}")
        write_task_dataset(data, task, train_per_class=tr, val_per_class=va, test_per_class=te, seed=seed,
                           progress=progress)
    rows = []
    for variant in VARIANTS[task]:
        if only and variant[0] not in only:
            continue
        cfg = from_dict(task_config(task, variant, data, out, epochs, seed, progress))
        log(f"{task}: training {variant[0]} ({variant[2]}, {epochs} epochs)")
        t0 = time.perf_counter()
        trainer = Trainer(cfg, log=lambda m: None)
        trainer.fit()
        seconds = time.perf_counter() - t0
        test = trainer.evaluate("test")
        rows.append({"model": variant[0], "component": variant[1], "metric": "top1", "value": test["top1"],
                     "per_class_accuracy": test["per_class_accuracy"], "epochs": epochs,
                     "params": sum(p.numel() for p in trainer.model.parameters()), "train_seconds": round(seconds, 1)})
        log(f"  {variant[0]}: test top-1 {test['top1']:.3f} ({seconds:.0f} s)")
    n = len(TASKS[task]["classes"])
    return {"task": task, "rows": rows, "chance": 1.0 / n, "test_clips": te * n, "train_clips": tr * n}


def run_order(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    """The demo's two models on the demo set, at the demo's full recipe (18 epochs), without a budget."""
    from vidlab.apps.demo import CLIP, DATA_SETTINGS, MODELS, _dataset, demo_config
    from vidlab.engine.trainer import Trainer

    settings = dict(DATA_SETTINGS)
    epochs = 18
    if quick:
        settings.update(train_per_class=4, val_per_class=1, test_per_class=2)
        epochs = 1
    data = out / "data" / ("demo_quick" if quick else "demo")
    _dataset(data, settings, seed, progress, log)
    rows = []
    for role, component in (("baseline", False), ("temporal", True)):
        cfg = demo_config(MODELS[role], data, out / "runs" / "order" / role, epochs=epochs, time_budget=None,
                          progress=progress, seed=seed, clip=CLIP)
        log(f"order: training {MODELS[role]} ({epochs} epochs)")
        t0 = time.perf_counter()
        trainer = Trainer(cfg, log=lambda m: None)
        trainer.fit()
        test = trainer.evaluate("test")
        rows.append({"model": MODELS[role], "component": component, "metric": "top1", "value": test["top1"],
                     "epochs": epochs, "train_seconds": round(time.perf_counter() - t0, 1)})
        log(f"  {MODELS[role]}: test top-1 {test['top1']:.3f}")
    return {"task": "order", "rows": rows, "chance": 0.1}


def run_flow(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    """bench_two_stream's spatial and temporal streams (RGB frame vs 5 stacked Farneback fields)."""
    import bench_two_stream as bts

    s = dict(bts.REDUCED if quick else bts.FULL)
    if quick:
        s.update(train_per_class=3, test_per_class=2, epochs=1)
    res = bts.run(out / ("flow_quick" if quick else "flow"), s, conv_fusion=False, i3d=False, seed=seed,
                  only={"spatial", "temporal"})
    table = res["table"]
    rows = [{"model": "spatial_stream", "component": False, "metric": "top1", "value": table["spatial"]["top1"],
             "epochs": s["epochs"]},
            {"model": "temporal_stream", "component": True, "metric": "top1", "value": table["temporal"]["top1"],
             "epochs": s["epochs"]}]
    return {"task": "flow", "rows": rows, "chance": 0.1}


def run_task(task: str, out: Path, *, quick: bool = False, seed: int = 0, progress: bool = True,
             only: set | None = None) -> dict:
    t0 = time.perf_counter()
    if task in VARIANTS:
        res = run_clip_task(task, out, quick=quick, seed=seed, progress=progress, only=only)
    elif task == "lfb":
        import mech_lfb

        res = mech_lfb.run_lfb(out / ("lfb_quick" if quick else "lfb"), quick=quick, seed=seed, progress=progress)
    elif task == "order":
        res = run_order(out, quick=quick, seed=seed, progress=progress)
    elif task == "flow":
        res = run_flow(out, quick=quick, seed=seed, progress=progress)
    else:
        raise SystemExit(f"unknown task {task!r}; choose from {', '.join(ALL_TASKS)}")
    res["seconds"] = round(time.perf_counter() - t0, 1)
    with_c = [r["value"] for r in res["rows"] if r["component"]]
    without = [r["value"] for r in res["rows"] if not r["component"]]
    if with_c and without:
        res["margin"] = max(with_c) - max(without)
    return res


def table(results: list[dict]) -> str:
    lines = ["| task | model | component | metric | value | chance | epochs |", "|---|---|---|---|---|---|---|"]
    for res in results:
        for r in res["rows"]:
            value = f"{r['value']:.3f}"
            if "all_classes" in r:  # lfb: also the mAP over all four classes
                value += f" (all classes {r['all_classes']:.3f})"
            lines.append(f"| {res['task']} | {r['model']} | {'yes' if r['component'] else 'no'} | {r['metric']} | "
                         f"{value} | {res.get('chance', float('nan')):.3f} | {r.get('epochs', '')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default=",".join(ALL_TASKS), help=f"comma-separated, of {', '.join(ALL_TASKS)}")
    ap.add_argument("--only", default=None, help="comma-separated model names of a task's rows")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_mechanisms"))
    ap.add_argument("--quick", action="store_true", help="tiny sets and 1-2 epochs (a smoke test, not figures)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--show-configs", action="store_true", help="print the training configs of the rows and exit")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    if args.show_configs:
        for task in tasks:
            for v in VARIANTS.get(task, []):
                tr, va, te, epochs = SIZES[task]["full"]
                print(json.dumps({"task": task, "row": v[0],
                                  "config": task_config(task, v, args.out / "data" / task, args.out, epochs,
                                                        args.seed, True)}, indent=1))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    from bench_two_stream import machine

    info = machine()
    only = set(args.only.split(",")) if args.only else None
    results = []
    for task in tasks:
        results.append(run_task(task, args.out, quick=args.quick, seed=args.seed, progress=not args.json,
                                only=only))
        log(table(results[-1:]))
    report = {"machine": info, "results": results}
    if args.json:
        print(json.dumps(report, indent=1, default=float))
    else:
        print(table(results))
        for res in results:
            if "margin" in res:
                print(f"{res['task']}: margin {res['margin']:+.3f} ({res['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
