#!/usr/bin/env python
"""Optical flow accuracy and speed on the synthetic action set's ground truth.

For each method (Farneback, TV-L1, and RAFT when weights are given) the
script renders clips of the synthetic set's rigid-translation classes
(move left/right/up/down, up-right/down-left: textured shapes over a textured
static background, pixel noise of std 2), estimates the flow between
consecutive frames and compares it with the generator's exact motion:

- ``EPE all``: mean end-point error over every pixel (the standard figure);
- ``EPE object`` / ``EPE background``: over the moving object / static pixels;
- ``s/frame``: wall-clock seconds per flow field (one thread pool as OpenCV
  or torch choose on this machine);
- ``EPE jpg``: the same flow after the quantised JPEG round trip
  (bound 20, ``vidlab.flow.storage``), i.e. what a cached dataset reads.

Usage::

    python benchmarks/bench_flow.py [--size 64] [--frames 16] [--seeds 4] [--raft-weights PATH] [--json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import platform
import sys
import time

import numpy as np


def machine() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import cv2

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
    }


def jpg_roundtrip(flows: np.ndarray, bound: float = 20.0) -> np.ndarray:
    from PIL import Image

    from vidlab.flow.storage import dequantize_flow, quantize_flow

    q = quantize_flow(flows, bound)
    out = np.empty_like(q)
    for idx in np.ndindex(q.shape[:2]):
        buf = io.BytesIO()
        Image.fromarray(q[idx]).save(buf, format="JPEG", quality=95)
        out[idx] = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    return dequantize_flow(out, bound)


def run(method: str, estimator, size: int, frames: int, seeds: int) -> dict:
    from vidlab.data.synthetic import generate_clip
    from vidlab.evaluation.flow import TRANSLATION_CLASSES
    from vidlab.flow.metrics import epe_map

    rows = {"all": [], "object": [], "background": [], "jpg": []}
    seconds, fields = 0.0, 0
    for label in TRANSLATION_CLASSES:
        for seed in range(seeds):
            clip, motion = generate_clip(label, 1000 + seed, size=size, num_frames=frames, return_motion=True)
            t0 = time.perf_counter()
            pred = estimator.video(clip)
            seconds += time.perf_counter() - t0
            fields += len(pred)
            e = epe_map(pred, motion)
            moving = np.abs(motion).sum(1) > 0
            rows["all"].append(e.mean())
            rows["object"].append(e[moving].mean())
            rows["background"].append(e[~moving].mean())
            rows["jpg"].append(epe_map(jpg_roundtrip(pred), motion).mean())
    return {
        "method": method,
        "params": estimator.params(),
        "epe": float(np.mean(rows["all"])),
        "epe_object": float(np.mean(rows["object"])),
        "epe_background": float(np.mean(rows["background"])),
        "epe_jpg": float(np.mean(rows["jpg"])),
        "seconds_per_frame": seconds / fields,
        "fields": fields,
        "clips": len(rows["all"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=4, help="clips per class")
    ap.add_argument("--methods", default="farneback,tvl1,raft")
    ap.add_argument("--raft-weights", default=None, help="torchvision RAFT state dict; RAFT is skipped without it")
    ap.add_argument("--raft-model", default="large")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from vidlab.flow import get_estimator

    info = machine()
    results = []
    for method in args.methods.split(","):
        if method == "raft":
            if not args.raft_weights:
                print("raft: skipped (no --raft-weights; pretrained RAFT weights cannot be downloaded here)",
                      file=sys.stderr)
                continue
            est = get_estimator("raft", weights=args.raft_weights, model=args.raft_model)
        else:
            est = get_estimator(method)
        print(f"running {method} ...", file=sys.stderr, flush=True)
        results.append(run(method, est, args.size, args.frames, args.seeds))
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = {"machine": info, "size": args.size, "frames": args.frames, "results": results}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"# bench_flow: {info['date']}, {info['cpu']} x{info['cpus']}, load {info['load_average']} -> "
          f"{info['load_average_after']}, torch {info['torch']}, OpenCV {info['opencv']}")
    print(f"# synthetic translations, {args.size}x{args.size}, {args.frames} frames, "
          f"{results[0]['clips'] if results else 0} clips\n")
    print("| method | EPE all (px) | EPE object | EPE background | EPE after jpg cache | s/frame |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['method']} | {r['epe']:.3f} | {r['epe_object']:.3f} | {r['epe_background']:.3f} | "
              f"{r['epe_jpg']:.3f} | {r['seconds_per_frame']:.4f} |")


if __name__ == "__main__":
    main()
