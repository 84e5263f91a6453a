"""SlowFast R50 8x8 at 224 on the CPU: vidlab vs pytorchvideo 0.1.5, fp32 and reduced precision, one run.

    flock /tmp/vidlab-bench.lock python benchmarks/bench_slowfast_cpu.py [--threads 2] [--iters 5] [--json OUT]

Both models carry the same weights: pytorchvideo's ``slowfast_r50`` hub model
(its own 224-px head pool) gets seeded random tensors (fan-in scaled
weights, non-trivial BN statistics; no pretrained weights offline) and vidlab's
``slowfast_r50_8x8`` loads them through vidlab's pytorchvideo converter.
Inputs: batch 1, 32 frames (Fast) / 8 (Slow) at 224x224. Latency is the
median of ``--iters`` timed runs after 2 warm-up runs. GFLOP/s = FLOPs
counted by ``torch.utils.flop_counter`` / median latency, against the GEMM
peak measured here with a 4096^3 fp32 matmul on the same threads. The
torch.compile rows time the compiled program after its compilation (reported
as ``compile_s``).
Cosine similarity of reduced-precision logits to fp32 uses real clips from
../shared/data/real (Kinetics and UCF101 files), preprocessed as vidlab does.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
ARCH = "slowfast_r50_8x8"


def real_clips(n: int) -> list[torch.Tensor]:
    from vidlab.compress.data import dataset
    from vidlab.data.datasets.video_list import VideoRecord

    files = sorted((REAL / "kinetics" / "videos").glob("*.mp4"))[:n]
    if not files:
        raise SystemExit(f"no real clips under {REAL}")
    ds = dataset([VideoRecord(path=str(f), label=0) for f in files], {"arch": ARCH}, train=False)
    return [ds[i][0][:1] for i in range(len(ds))]  # (1, 3, 32, 224, 224) centre crop


def time_it(fn, x, iters: int) -> dict:
    with torch.inference_mode():
        for _ in range(2):
            fn(x)
        ts = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn(x)
            ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return {"p50_ms": ts[len(ts) // 2], "min_ms": ts[0], "max_ms": ts[-1], "runs": len(ts)}


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(a @ b / (a.norm() * b.norm()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a.threads)
    from pytorchvideo.models import hub

    from vidlab import models
    from vidlab.compress import (
        count_flops,
        fold_bn,
        matmul_peak,
        optimize_for_inference,
        quantize_int8_static,
    )
    from vidlab.compress.bench import randomise_
    from vidlab.compress.fastpath import compile_for_cpu, freeze_for_cpu
    from vidlab.convert.registry import get_mapper
    from vidlab.models.checkpoint import load_into

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    ptv = hub.slowfast_r50(pretrained=False).eval()
    randomise_(ptv)
    vid = models.build(ARCH).eval()
    load_into(vid, get_mapper("pytorchvideo", ARCH)(ptv.state_dict(), ARCH), "pytorchvideo slowfast_r50")
    clips = real_clips(a.clips)
    x = clips[0]
    xs = vid.pathways(x) if hasattr(vid, "pathways") else None
    with torch.inference_mode():
        ref_ptv = ptv([t.clone() for t in xs])
        ref = [vid(c) for c in clips]
    res = {"machine": platform.processor() or platform.machine(), "threads": a.threads, "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d"), "input": list(x.shape),
           "ptv_vs_vidlab_max_abs_diff": float((ref_ptv - ref[0]).abs().max())}
    res["gflops"] = count_flops(vid, (x,)) / 1e9
    log("matmul peaks")
    res["peak_fp32_gflops"] = matmul_peak(a.threads, 4096, torch.float32)
    res["peak_bf16_gflops"] = matmul_peak(a.threads, 4096, torch.bfloat16)

    rows = {}

    def run(name, fn, inp, compare=True):
        log(f"timing {name}")
        r = time_it(fn, inp, a.iters)
        if compare:
            with torch.inference_mode():
                r["cosine_min"] = min(cosine(fn(c if inp is not xs else vid.pathways(c)).float(), rf)
                                      for c, rf in zip(clips, ref))
        r["gflop_s"] = res["gflops"] / (r["p50_ms"] / 1000)
        rows[name] = r

    run("pytorchvideo fp32 eager", lambda t: ptv([v.clone() for v in t]), xs, compare=False)
    run("vidlab fp32 eager", vid, x)
    run("vidlab fp32 fast (BN folded, channels_last_3d)", optimize_for_inference(vid, channels_last=True), x)
    run("vidlab fp32 fast (BN folded, contiguous)", optimize_for_inference(vid, channels_last=False), x)
    run("vidlab fp32 TorchScript frozen + optimize_for_inference", freeze_for_cpu(vid, (x,)), x)
    t0 = time.perf_counter()
    compiled = compile_for_cpu(vid)
    compiled(x)
    res["compile_s"] = time.perf_counter() - t0
    run("vidlab fp32 torch.compile (inductor, frozen weights)", compiled, x)
    run("vidlab bf16 torch.compile (inductor, frozen weights)", compile_for_cpu(vid, dtype=torch.bfloat16), x)
    run("vidlab bf16 fast (channels_last_3d)", optimize_for_inference(vid, dtype=torch.bfloat16, channels_last=True), x)
    run("vidlab bf16 fast (contiguous)", optimize_for_inference(vid, dtype=torch.bfloat16, channels_last=False), x)
    log("int8 calibration")
    q, rep = quantize_int8_static(fold_bn(vid), (x,), [(c,) for c in clips], observer="minmax")
    with torch.no_grad():
        prog = torch.jit.freeze(torch.jit.trace(q, (x,), check_trace=False))
    run("vidlab int8 static (x86, TorchScript)", prog, x)
    res["int8_fallback"] = rep.messages()
    res["rows"] = rows
    base = rows["pytorchvideo fp32 eager"]["p50_ms"]
    fp32 = min(rows[k]["p50_ms"] for k in rows if k.startswith("vidlab fp32"))
    for r in rows.values():
        r["ratio_vs_ptv"] = r["p50_ms"] / base
        r["ratio_vs_vidlab_fp32"] = r["p50_ms"] / fp32
        r["pct_of_fp32_peak"] = 100 * r["gflop_s"] / res["peak_fp32_gflops"]
    out = json.dumps(res, indent=2)
    if a.json:
        a.json.write_text(out + "\n")
    print(out)


if __name__ == "__main__":
    main()
