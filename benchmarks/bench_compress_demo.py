"""Acceptance on the demo's synthetic task: fp32 vs int8-static vs 50%-pruned (+ short fine-tune).

Usage: python benchmarks/bench_compress_demo.py DEMO_DIR OUT_DIR [--arch temporal|baseline]
          [--finetune-epochs 2] [--calib-clips 16]

DEMO_DIR is a `vidlab demo --out DEMO_DIR` folder (data/ and runs/). Runs the
same `vidlab compress` / `vidlab bench --eval` commands a user would, and
prints one JSON object (top-1 on the test split, sizes, latencies).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def sh(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "vidlab", *args], capture_output=True, text=True, check=False)
    if r.returncode:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"failed: vidlab {' '.join(args)}")
    sys.stderr.write("".join(line + "\n" for line in r.stderr.splitlines() if "kept in fp32" in line or "pruned" in line))
    return r.stdout


def absolute_list(src: Path, dst: Path, n: int | None = None) -> Path:
    lines = [ln for ln in src.read_text().splitlines() if ln.strip()]
    lines = lines[:: max(1, len(lines) // n)][:n] if n else lines
    dst.write_text("".join(f"{src.parent / ln.split()[0]} {ln.split()[1]}\n" for ln in lines))
    return dst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("demo", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--arch", default="temporal", choices=["temporal", "baseline"])
    ap.add_argument("--finetune-epochs", type=int, default=2)
    ap.add_argument("--calib-clips", type=int, default=16)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    data = a.demo / "data"
    fp32 = a.demo / "runs" / a.arch / "checkpoints" / "best"
    calib = absolute_list(data / "val.csv", a.out / "calib.csv", a.calib_clips)
    train = absolute_list(data / "train.csv", a.out / "train.csv")
    test = absolute_list(data / "test.csv", a.out / "test.csv")
    t0 = time.time()
    sh("compress", str(fp32), "--method", "int8-static", "--calib", str(calib), "--calib-clips", str(a.calib_clips),
       "--out", str(a.out / "int8"), "--quiet")
    sh("compress", str(fp32), "--method", "prune", "--sparsity", "0.5", "--finetune-epochs", str(a.finetune_epochs),
       "--train", str(train), "--out", str(a.out / "pruned"), "--quiet")
    rows = json.loads(sh("bench", str(fp32), "--compare", str(a.out / "int8"), "--compare", str(a.out / "pruned"),
                         "--eval", str(test), "--threads", "2", "--iters", "20", "--json", "--quiet"))
    base = rows[0]
    print(json.dumps({
        "arch": base["arch"], "test_videos": base["eval_videos"], "seconds": round(time.time() - t0, 1),
        "rows": [{k: r[k] for k in ("path", "method", "top1", "size_mb", "p50_ms", "p90_ms", "throughput_clips_s",
                                    "peak_mb")} | {"top1_drop_points": round(100 * (base["top1"] - r["top1"]), 2),
                                                   "size_ratio": round(r["size_mb"] / base["size_mb"], 3)}
                 for r in rows],
    }, indent=2))


if __name__ == "__main__":
    main()
