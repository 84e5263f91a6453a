"""OpenMP wait policy and thread count against machine load: why the `vidlab` CLI sets
``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy.

Each configuration runs in a fresh interpreter (the policy is read once, when libgomp starts):
the demo's temporal training step (``i3d_r10_tiny``, batch 16, 8x56x56) and one inference forward
(batch 1), median of ``--steps`` after a warm-up, for ACTIVE (libgomp's default spinning) and
PASSIVE, with 2 and 1 threads, interleaved ``--rounds`` times so load changes hit all alike.
``--load N`` starts N busy-looping processes for the run (a loaded machine on purpose).

    python benchmarks/bench_omp_wait.py --rounds 3 --load 0
    python benchmarks/bench_omp_wait.py --rounds 3 --load 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time, torch
from vidlab import models
from vidlab.engine.budget import training_step_seconds
torch.set_num_threads(int(sys.argv[1]))
steps = int(sys.argv[2])
m = models.build("i3d_r10_tiny", num_classes=10)
train = training_step_seconds(m, torch.randn(16, 3, 8, 56, 56), 10, steps=steps)
m.eval()
x = torch.randn(1, 3, 8, 56, 56)
times = []
with torch.no_grad():
    for i in range(steps * 4 + 1):
        t0 = time.perf_counter(); m(x); times.append(time.perf_counter() - t0)
print(json.dumps({"train_step_s": train, "infer_s": statistics.median(times[1:])}))
"""


def _spin() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--load", type=int, default=0, help="busy-looping processes to run alongside")
    args = ap.parse_args()
    spinners = [mp.Process(target=_spin, daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    results: dict[str, list[dict]] = {}
    try:
        for _ in range(args.rounds):
            for policy in ("ACTIVE", "PASSIVE"):
                for threads in (2, 1):
                    env = {**os.environ, "OMP_WAIT_POLICY": policy}
                    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(args.steps)], env=env,
                                         capture_output=True, text=True, check=True).stdout
                    results.setdefault(f"{policy} {threads}", []).append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in spinners:
            p.terminate()
    print(f"load processes: {args.load}, os.getloadavg at end: {os.getloadavg()[0]:.1f}")
    print("| policy, threads | train step s (median of rounds) | inference s | rounds |")
    print("|---|---|---|---|")
    for key, rows in results.items():
        tr = statistics.median(r["train_step_s"] for r in rows)
        inf = statistics.median(r["infer_s"] for r in rows)
        print(f"| {key} | {tr:.3f} | {inf:.4f} | {len(rows)} |")


if __name__ == "__main__":
    main()
