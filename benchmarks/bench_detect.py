"""Detection on the synthetic AVA-format set: train the CPU detector, frame mAP@0.5, then the LFB stage.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_detect.py --out /tmp/bench_detect [--epochs 24]

Steps (each timed, wall and process CPU seconds, with the load average):
1. write the synthetic detection set (160 / 10 / 40 videos, 96x96, 6 s at 8 fps, 2-4 actors);
2. train ``i3d_r10_tiny_detection`` on ground-truth boxes (``--epochs``, or ``--minutes``);
3. test frame mAP@0.5 with ground-truth boxes and with the simulated proposals;
4. build the long-term feature bank (train + test keyframes) and train heads on it:
   ``none`` (the same head without a bank), ``avg``, ``max``, ``nl`` (window +-2 s).
Prints a Markdown table and writes ``results.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def timed(fn, *a, **kw):
    t, c = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_detect"))
    ap.add_argument("--data", type=Path, default=None, help="reuse an existing synthetic set")
    ap.add_argument("--checkpoint", type=Path, default=None, help="reuse a trained detector (skip training)")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--window", type=int, default=2)
    args = ap.parse_args()

    from vidlab.data.synthetic_detection import write_synthetic_detection
    from vidlab.detect.lfb import build_bank, train_lfb_head
    from vidlab.detect.train import evaluate_detector, train_detector

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"load_start": os.getloadavg()}
    data = args.data or out / "data"
    if args.data is None:
        d, w, c = timed(write_synthetic_detection, data, progress=False)
        res["data"] = {"videos": d["videos"], "boxes": d["boxes"], "wall_s": w, "cpu_s": c}
    if args.checkpoint is None:
        r, w, c = timed(train_detector, data, out / "run", epochs=args.epochs, minutes=args.minutes, progress=False)
        res["train"] = {"epochs": r["epochs"], "wall_s": w, "cpu_s": c, "loss": [h["loss"] for h in r["history"]]}
        ckpt = r["checkpoint"]
    else:
        ckpt = str(args.checkpoint)
    ev, w, c = timed(evaluate_detector, ckpt, data, out / "run", progress=False)
    res["test_gt"] = {"mAP": ev["mAP"], "per_class": ev["per_class"], "wall_s": w, "cpu_s": c}
    evp = evaluate_detector(ckpt, data, out / "run_proposals", proposals=True, progress=False)
    res["test_proposals"] = {"mAP": evp["mAP"]}
    b, w, c = timed(build_bank, ckpt, data, out / "bank", splits=("train", "test"), progress=False)
    res["bank"] = {"rows": b["rows"], "dim": b["dim"], "wall_s": w, "cpu_s": c}
    res["lfb"] = {}
    for fbo in ("none", "avg", "max", "nl"):
        r, w, c = timed(train_lfb_head, out / "bank", data, out / "lfb", fbo=fbo, half_width=args.window,
                        progress=False)
        res["lfb"][fbo] = {"mAP": r["mAP"], "wall_s": w, "cpu_s": c}
    res["load_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n")

    print("| step | frame mAP@0.5 | wall s | CPU s |")
    print("|---|---|---|---|")
    if "train" in res:
        print(f"| train `i3d_r10_tiny_detection`, {res['train']['epochs']} epochs, GT boxes | | "
              f"{res['train']['wall_s']:.0f} | {res['train']['cpu_s']:.0f} |")
    print(f"| test, ground-truth boxes | **{res['test_gt']['mAP']:.3f}** | {res['test_gt']['wall_s']:.0f} | "
          f"{res['test_gt']['cpu_s']:.0f} |")
    print(f"| test, simulated proposals (score >= 0.8) | {res['test_proposals']['mAP']:.3f} | | |")
    print(f"| build bank ({res['bank']['rows']} rows x {res['bank']['dim']}) | | {res['bank']['wall_s']:.0f} | "
          f"{res['bank']['cpu_s']:.0f} |")
    for fbo, r in res["lfb"].items():
        print(f"| head on frozen features, FBO `{fbo}` (window +-{args.window} s) | {r['mAP']:.3f} | "
              f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} |")
    print(f"load average {res['load_start']} -> {res['load_end']}")


if __name__ == "__main__":
    main()
