"""Accuracy against the wall-clock budget: the demo and the detection run.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_budget.py --out /tmp/bench_budget \
        [--minutes 1 2 3 5] [--what demo detect] [--load N]

For each budget: ``vidlab demo --minutes M`` (baseline and temporal test top-1, the epochs
each model ran) and the synthetic AVA-format detection training of the slow acceptance test
(``train_detector(..., epochs=36, minutes=M)`` then frame mAP@0.5 with ground-truth boxes).
``--load N`` keeps N busy-looping processes running meanwhile (a loaded machine). The OpenMP
wait policy is the CLI's (``OMP_WAIT_POLICY=PASSIVE`` unless set). Prints a
Markdown table and writes ``results.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path


def _spin() -> None:
    while True:
        pass


def demo_row(out: Path, data: Path, minutes: float) -> dict:
    """One ``vidlab demo --minutes M`` run on the shared synthetic set (generated once, linked in,
    so every budget pays the same small check instead of a fresh generation)."""
    from vidlab.apps.demo import run_demo

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "data").exists():
        (out / "data").symlink_to(data.resolve(), target_is_directory=True)
    t = time.perf_counter()
    res = run_demo(out, minutes=minutes, progress=False, log=lambda m: None)
    row = {"what": "demo", "minutes": minutes, "seconds": round(time.perf_counter() - t, 1),
           "load": round(os.getloadavg()[0], 1)}
    for role in ("baseline", "temporal"):
        row[f"{role}_top1"] = res[role]["top1"]
        row[f"{role}_epochs"] = res[role]["epochs"]
    return row


def detect_row(data: Path, out: Path, minutes: float) -> dict:
    from vidlab.detect.train import evaluate_detector, train_detector

    t = time.perf_counter()
    res = train_detector(data, out, epochs=36, minutes=minutes, progress=False, log=lambda m: None)
    ev = evaluate_detector(res["checkpoint"], data, out, progress=False)
    return {"what": "detect", "minutes": minutes, "seconds": round(time.perf_counter() - t, 1),
            "load": round(os.getloadavg()[0], 1), "epochs": res["epochs"], "mAP": ev["mAP"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_budget"))
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 3, 5])
    ap.add_argument("--what", nargs="+", default=["demo", "detect"], choices=["demo", "detect"])
    ap.add_argument("--load", type=int, default=0, help="busy processes running meanwhile")
    args = ap.parse_args()
    from vidlab.apps.cli import set_thread_wait_policy

    set_thread_wait_policy()  # as `vidlab demo` runs (before torch loads)
    args.out.mkdir(parents=True, exist_ok=True)
    spinners = [mp.Process(target=_spin, daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    rows = []
    try:
        if "demo" in args.what:
            from vidlab.apps.demo import DATA_SETTINGS
            from vidlab.data.synthetic import write_synthetic_dataset

            demo_data = args.out / "demo_data"
            if not (demo_data / "test.csv").exists():
                write_synthetic_dataset(demo_data, seed=0, progress=False, **DATA_SETTINGS)
        if "detect" in args.what:
            from vidlab.data.synthetic_detection import write_synthetic_detection

            data = args.out / "detect_data"
            if not (data / "meta.json").exists():
                write_synthetic_detection(data, progress=False)
        for m in args.minutes:
            if "demo" in args.what:
                rows.append(demo_row(args.out / f"demo_{m:g}", demo_data, m))
                print(json.dumps(rows[-1]), flush=True)
            if "detect" in args.what:
                rows.append(detect_row(data, args.out / f"detect_{m:g}", m))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        for p in spinners:
            p.terminate()
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| run | budget (min) | wall s | load | epochs | result |\n|---|---|---|---|---|---|")
    for r in rows:
        if r["what"] == "demo":
            print(f"| demo | {r['minutes']:g} | {r['seconds']} | {r['load']} | {r['baseline_epochs']} / "
                  f"{r['temporal_epochs']} | baseline {r['baseline_top1']:.3f}, temporal {r['temporal_top1']:.3f} |")
        else:
            print(f"| detection | {r['minutes']:g} | {r['seconds']} | {r['load']} | {r['epochs']} | "
                  f"mAP {r['mAP']:.3f} |")


if __name__ == "__main__":
    main()
