#!/usr/bin/env python
"""The README's `vidlab explain` picture: a tiny SlowFast trained on move_left vs move_right.

Trains ``slowfast_tiny`` on the two classes of the synthetic set (40 clips each, 20 epochs,
lr 0.05: the recipe of tests/explain/test_gradcam_trained.py, longer), then runs
``vidlab explain`` on a fresh move_left clip at the res3 blocks of both pathways and
writes the contact sheets and the ablation table; with ``--docs docs/img`` also the
README's pictures (docs/img/explain_slowfast_{slow,fast}.png: the contact sheets
quantised to 256 colours). About 3-4 minutes on 2 cores.

Usage::

    python benchmarks/explain_example.py [--out /tmp/explain_example] [--docs docs/img]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/explain_example"))
    ap.add_argument("--docs", type=Path, default=None, help="also write the README's quantised pictures here")
    args = ap.parse_args()
    from vidlab.apps.demo import demo_config
    from vidlab.data import synthetic as syn
    from vidlab.engine.trainer import Trainer
    from vidlab.io import write_video

    data = args.out / "data"
    if not (data / "two_test.csv").exists():
        syn.write_synthetic_dataset(data, train_per_class=40, val_per_class=4, test_per_class=1, progress=True)
        for split in ("train", "val", "test"):
            rows = [r for r in (data / f"{split}.csv").read_text().splitlines() if r.split()[1] in ("0", "1")]
            (data / f"two_{split}.csv").write_text("\n".join(rows) + "\n")
        (data / "two_classes.txt").write_text("move_left\nmove_right\n")
    cfg = demo_config("slowfast_tiny", data, args.out / "run", epochs=20, time_budget=None, progress=True,
                      clip={"num_frames": 16, "sampling_rate": 2, "crop_size": 56, "train_scale": [64, 72],
                            "test_scale": 64})
    cfg.data.train, cfg.data.val, cfg.data.test = (str(data / f"two_{s}.csv") for s in ("train", "val", "test"))
    cfg.data.labels = str(data / "two_classes.txt")
    cfg.solver.lr = 0.05
    Trainer(cfg).fit()
    clip = write_video(args.out / "move_left.mp4", syn.generate_clip(0, 2024), fps=16, crf=15)
    res = subprocess.run([sys.executable, "-m", "vidlab", "explain", str(clip), "-c",
                          str(args.out / "run" / "checkpoints" / "best.safetensors"), "--layer",
                          "s3.pathway0_res0,s3.pathway1_res0", "--out", str(args.out / "explain"), "--json"],
                         check=True, capture_output=True, text=True)
    doc = json.loads(res.stdout)
    for row in doc["ablation"]["rows"]:
        print(f"{row['variant']:<11} p(move_left) {row['class_prob']:.3f}  top-1 {row['top1']['label']}")
    print(f"contact sheets in {args.out / 'explain'}")
    if args.docs is not None:
        from PIL import Image

        args.docs.mkdir(parents=True, exist_ok=True)
        for pathway in ("slow", "fast"):
            sheet = Image.open(args.out / "explain" / f"move_left_gradcam_{pathway}.png").convert("RGB")
            small = sheet.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG)
            small.save(args.docs / f"explain_slowfast_{pathway}.png", optimize=True)
        print(f"README pictures in {args.docs}")


if __name__ == "__main__":
    main()
