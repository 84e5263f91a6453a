#!/usr/bin/env python
"""`vidlab stream` throughput and latency on files, with the demo-size model.

Runs :func:`vidlab.stream.run_stream` (what ``vidlab stream FILE`` runs) over
real clips from ``../shared/data/real`` and over a 1280x720 transcode of one of
them (a typical webcam size), as fast as the CPU allows (no pacing), with the
command's defaults: windows a quarter span apart, smoothing over 3 windows.
Reports processed frames/s (decode + RGB conversion of the sampled frames +
transform + forward passes), its ratio to the file's frame rate (>= 1: faster
than real time), and the latency from a window's last frame to its prediction.
With ``--realtime`` one file is also paced at its frame rate, as a camera
delivers it.

The model is the demo's temporal model, ``i3d_r10_tiny``, with the demo's
preprocessing (8 frames every 4th at 16 fps, short side 64, 56 centre crop):
built untrained unless ``--checkpoint`` names a trained one (the speed is the
same). Each file is run ``--repeats`` times; the median run is reported.

Usage::

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_stream.py [--checkpoint vidlab_demo/model.safetensors]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared"))
REAL = SHARED / "data" / "real"
FILES = [
    "kth/walking/person09_walking_d1_uncomp.avi",
    "ucf101/videos/HeadMassage/v_HeadMassage_g02_c05.avi",
    "kinetics/videos/arm_wrestling__mmaction2_demo.mp4",
    "people_demo/basketball_gym__mmaction2_test_video_structuralize.mp4",
]
HD_SOURCE = "people_demo/basketball_gym__mmaction2_test_video_structuralize.mp4"


def demo_model(checkpoint: str | None):
    from vidlab import models
    from vidlab.apps.demo import CLIP

    if checkpoint:
        return models.load(checkpoint)
    torch.manual_seed(0)
    model = models.build("i3d_r10_tiny", num_classes=10).eval()
    spec = models.get_spec("i3d_r10_tiny").preprocessing()
    model.meta = {
        "arch": "i3d_r10_tiny", "num_classes": 10, "labels": [f"class{i}" for i in range(10)],
        "preprocessing": {"num_frames": CLIP["num_frames"], "sampling_rate": CLIP["sampling_rate"],
                          "crop_size": CLIP["crop_size"], "test_scale": CLIP["test_scale"], "target_fps": 16.0,
                          "mean": spec["mean"], "std": spec["std"]},
    }
    return model


def make_hd(src: Path, out: Path) -> Path:
    """``src`` resized to 1280x720 (H.264, x264 defaults of vidlab's writer)."""
    from PIL import Image

    from vidlab.io import VideoReader, write_video

    with VideoReader(src) as r:
        fps = r.info.fps
        frames = (Image.fromarray(f).resize((1280, 720), Image.BILINEAR) for f in r.iter_frames())
        return write_video(out, (np.asarray(f) for f in frames), fps, crf=23, preset="veryfast")


def run(model, path: str, repeats: int, realtime: bool = False) -> dict:
    from vidlab.io import probe_video
    from vidlab.stream import run_stream

    info = probe_video(path)
    runs = [run_stream(model, path, realtime=realtime) for _ in range(repeats)]
    runs.sort(key=lambda s: s["processed_fps"])
    s = runs[len(runs) // 2]
    return {"info": info, "summary": s, "all_fps": [r["processed_fps"] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="a trained demo checkpoint (default: the same network, untrained)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-hd", action="store_true", help="skip the 1280x720 transcode")
    ap.add_argument("--realtime", action="store_true", help="also pace one file at its frame rate")
    ap.add_argument("--threads", default="1,2", help="torch thread counts to compare (vidlab stream --threads)")
    args = ap.parse_args()
    if not REAL.exists():
        sys.exit(f"needs the shared data: {REAL}")
    model = demo_model(args.checkpoint)
    pre = model.meta["preprocessing"]
    print(f"# bench_stream  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}")
    print(f"model: {model.meta['arch']}, {pre['num_frames']}x{pre['sampling_rate']} at {pre['target_fps']} fps, "
          f"crop {pre['crop_size']}; stride = span/4, smooth 3")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [(f, str(REAL / f)) for f in FILES]
        if not args.no_hd:
            hd = make_hd(REAL / HD_SOURCE, Path(tmp) / "basketball_1280x720.mp4")
            paths.append(("basketball transcoded to 1280x720 (h264)", str(hd)))
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            for name, path in paths:
                r = run(model, path, args.repeats)
                rows.append((name, threads, r))
            if args.realtime:
                r = run(model, str(REAL / HD_SOURCE), 1, realtime=True)
                rows.append((HD_SOURCE + " (--realtime: paced at its fps)", threads, r))
    print("\n| file | size, codec | fps | threads | frames | processed frames/s | x real time | windows | "
          "latency mean / p90 ms | runs (frames/s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, threads, r in rows:
        i, s = r["info"], r["summary"]
        lat = s["latency_ms"]
        print(f"| {name} | {i.width}x{i.height} {i.codec} | {i.fps:.2f} | {threads} | {s['frames']} | "
              f"{s['processed_fps']:.0f} | "
              f"**{s['realtime_factor']:.1f}x** | {s['windows']} | {lat['mean']:.1f} / {lat['p90']:.1f} | "
              f"{', '.join(f'{x:.0f}' for x in r['all_fps'])} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
