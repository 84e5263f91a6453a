"""Temporal action localization end to end on the synthetic untrimmed set, through the command line.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_tal.py \
        [--videos 40 --seconds 40] [--arch i3d_r10_tiny | --checkpoint CKPT] [--window 8 --stride 4] \
        [--epochs 40] [--minutes M] [--size small|thumos] [--out DIR] [--quick] [--json]

Stages, each a ``vidlab`` subprocess (what a user runs), timed:

1. ``vidlab data synth --untrimmed``: long 64x64 videos at 8 fps with action instances of the ten
   synthetic classes between background segments, ground truth in ActivityNet json (the last
   quarter of the videos is the validation subset);
2. ``vidlab features``: ``--window`` frames every ``--stride`` frames (default 8 and 4: two
   features per second, each a one-second window) with a small video classifier: ``--checkpoint``
   (e.g. one trained on the trimmed synthetic set by ``vidlab demo``), else ``--arch`` with random
   weights (seed 0; the features then carry appearance and motion but no learned semantics);
3. ``vidlab tal train`` on the training subset (``--epochs``, ``--minutes``, ``--size``);
4. ``vidlab tal eval`` on the validation subset: mAP@0.5, the average mAP over tIoU 0.3:0.7
   (THUMOS'14) and 0.5:0.95 (ActivityNet), with the official ActivityNet evaluator's rules.

Reported: those numbers, the wall time of every stage, the data sizes and the machine.
``--quick``: 6 videos of 20 s, 5 epochs, to check that the script runs (the numbers mean nothing).
Outputs go to a temporary folder unless ``--out`` is given (then stages whose outputs exist are
not skipped: everything is recomputed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `vidlab` CLI does (benchmarks/bench_omp_wait.py)


def vidlab(*args: str, log: bool = True) -> tuple[dict, float]:
    """Run ``vidlab ARGS --json``: (its JSON output, wall seconds); a failure stops the benchmark."""
    cmd = [sys.executable, "-m", "vidlab", *args, "--json"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    if log:
        words = " ".join(a for a in args[:2] if not a.startswith("-"))
        print(f"  vidlab {words}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return json.loads(proc.stdout), seconds


def run(args: argparse.Namespace, root: Path) -> dict:
    import torch

    from vidlab import models

    data, feats, ckpt = root / "data", root / "features", root / "tal"
    times: dict[str, float] = {}
    synth, times["synth"] = vidlab("data", "synth", "--untrimmed", "--out", str(data), "--videos", str(args.videos),
                                   "--seconds", str(args.seconds), "--seed", str(args.seed))
    if args.checkpoint is not None:
        classifier = str(args.checkpoint)
    else:
        torch.manual_seed(args.seed)
        spec = models.get_spec(args.arch)
        from vidlab.data.synthetic import CLASSES  # the baseline's segments need the class names

        classifier = str(models.save(models.build(args.arch, num_classes=len(CLASSES)), root / "classifier",
                                     preprocessing=spec.preprocessing(), labels=list(CLASSES)))
    listing = root / "all.txt"
    listing.write_text("".join(f"{data / line}\n" for name in ("training", "validation")
                               for line in (data / f"{name}.txt").read_text().split()))
    fres, times["features"] = vidlab("features", "--list", str(listing), "--checkpoint", classifier, "--window",
                                     str(args.window), "--stride", str(args.stride), "--out", str(feats),
                                     "--device", args.device, "--quiet")
    gt = data / "activity_net_synth.json"
    train = ["tal", "train", "--features", str(feats), "--groundtruth", str(gt), "--out", str(ckpt), "--epochs",
             str(args.epochs), "--size", args.size, "--seed", str(args.seed), "--device", args.device, "--quiet"]
    if args.minutes is not None:
        train += ["--minutes", str(args.minutes)]
    tres, times["train"] = vidlab(*train)
    eres, times["eval"] = vidlab("tal", "eval", "--checkpoint", str(ckpt), "--features", str(feats), "--groundtruth",
                                 str(gt), "--device", args.device, "--quiet")
    baseline = None
    if args.baseline:
        val = [str(data / line) for line in (data / "validation.txt").read_text().split()]
        seg = root / "baseline_segments.json"
        _, times["baseline_classify"] = vidlab("classify", *val, "--checkpoint", classifier, "--segments",
                                               "--smooth", str(args.smooth), "--threshold", str(args.threshold),
                                               "--segments-out", str(seg))
        bres, times["baseline_eval"] = vidlab("eval-tal", "--groundtruth", str(gt), "--predictions", str(seg),
                                              "--subset", "validation", "--ignore-unknown-labels")
        baseline = {"average_mAP_0.5:0.95": bres.get("average_mAP"), "mAP": bres.get("mAP"),
                    "smooth": args.smooth, "threshold": args.threshold}
    return {
        "baseline_classify_segments": baseline,
        "mAP@0.5": eres["mAP@0.5"], "average_mAP_0.3:0.7": eres["average_mAP_0.3:0.7"],
        "average_mAP_0.5:0.95": eres["average_mAP_0.5:0.95"],
        "mAP_0.3:0.7": eres["tiou_0.3:0.7"]["mAP"], "mAP_0.5:0.95": eres["tiou_0.5:0.95"]["mAP"],
        "seconds": {**{k: round(v, 2) for k, v in times.items()}, "total": round(sum(times.values()), 2)},
        "data": {"videos": args.videos, "seconds_per_video": args.seconds, "instances": synth["instances"],
                 "subsets": synth["counts"], "feature_dim": fres["feature_dim"], "window": args.window,
                 "stride": args.stride, "features_from": args.checkpoint and str(args.checkpoint) or
                 f"{args.arch} (random weights)"},
        "training": {k: tres[k] for k in ("epochs_planned", "epochs_done", "steps", "seconds", "final_loss",
                                          "stopped", "params")} | {"size": args.size},
        "eval": {"num_videos": eres["num_videos"], "num_predictions": eres["num_predictions"],
                 "per_class_ap@0.5": eres["per_class_ap@0.5"], "warnings": eres["warnings"]},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "load": round(os.getloadavg()[0], 1), "device": args.device},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--arch", default="i3d_r10_tiny", help="feature extractor with random weights (default)")
    ap.add_argument("--checkpoint", type=Path, help="a trained vidlab classifier checkpoint for the features")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=None, help="training time budget")
    ap.add_argument("--size", default="small", choices=("small", "thumos"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="keep the outputs here (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--baseline", action="store_true", help="also score `vidlab classify --segments` with the same "
                    "classifier on the validation videos (eval-tal, ActivityNet tIoU 0.5:0.95)")
    ap.add_argument("--smooth", type=int, default=3, help="--baseline: windows averaged")
    ap.add_argument("--threshold", type=float, default=0.3, help="--baseline: probability threshold")
    args = ap.parse_args()
    if args.quick:
        args.videos, args.seconds, args.epochs = 6, 20.0, 5
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        res = run(args, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            res = run(args, Path(tmp))
    if args.json:
        print(json.dumps(res, indent=2))
        return
    d, t, s = res["data"], res["training"], res["seconds"]
    print(f"synthetic untrimmed: {d['videos']} videos x {d['seconds_per_video']:g} s, {d['instances']} instances "
          f"({d['subsets']}); features {d['feature_dim']}-d from {d['features_from']}, window {d['window']} "
          f"stride {d['stride']}")
    print(f"ActionFormer {t['size']} ({t['params'] / 1e6:.2f} M): {t['epochs_done']}/{t['epochs_planned']} epochs, "
          f"{t['steps']} steps, final loss {t['final_loss']:.4f}")
    print(f"mAP@0.5 {res['mAP@0.5']:.4f}   avg mAP 0.3:0.7 {res['average_mAP_0.3:0.7']:.4f}   "
          f"avg mAP 0.5:0.95 {res['average_mAP_0.5:0.95']:.4f}")
    if res["baseline_classify_segments"] is not None:
        print(f"baseline classify --segments: avg mAP 0.5:0.95 "
              f"{res['baseline_classify_segments']['average_mAP_0.5:0.95']:.4f}")
    print("wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.items()))


if __name__ == "__main__":
    main()
