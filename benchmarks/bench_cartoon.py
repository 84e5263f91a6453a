"""CartoonGAN benchmarks (fixture weights): latency/size/PSNR of the fp32, ONNX, ExecuTorch and int8
variants; tiled-inference memory and error; video flicker with and without temporal statistics.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_cartoon.py latency --sizes 256x256 720x1280
    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_cartoon.py memory --size 3000x4000
    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_cartoon.py tiling
    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_cartoon.py flicker

Everything runs with 2 threads and batch 1; inputs are real photos from
../shared/data/real/cartoongan_pairs/input (or a synthetic photo if that folder is absent).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
PAIRS = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared")) / "data" / "real" / "cartoongan_pairs"


def photos(h: int, w: int, n: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted((PAIRS / "input").glob("*")) if (PAIRS / "input").is_dir() else []
    out = []
    for f in files[:n]:
        out.append(np.asarray(Image.open(f).convert("RGB").resize((w, h), Image.BICUBIC)))
    rng = np.random.default_rng(0)
    while len(out) < n:
        yy, xx = np.mgrid[0:h, 0:w]
        out.append(np.clip(np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1) + rng.normal(0, 8, (h, w, 3)),
                           0, 255).astype(np.uint8))
    return out


def generator():
    from vidlab.cartoon.generator import CartoonGenerator, fixture_state_dict

    m = CartoonGenerator()
    m.load_state_dict(fixture_state_dict())
    return m.eval().requires_grad_(False)


def timeit(fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _bench_size(size, args, model, mobile, tmp, onnx_path, sess) -> dict:
    from vidlab.cartoon.export import (
        executorch_method,
        export_executorch,
        psnr,
        quantize_int8,
    )
    from vidlab.cartoon.generator import preprocess

    h, w = map(int, size.split("x"))
    imgs = photos(h, w, 9)  # the timed photo + 8 calibration photos
    x = preprocess(imgs[0])
    calib = [preprocess(i) for i in imgs[1:]]
    reps, warm = (args.reps, 1) if h * w <= 512 * 512 else (max(1, args.reps // 2), 1)
    with torch.inference_mode():
        ref = model(x)
    rows = {}

    def add(name, fn, size_bytes, out, note=""):
        t = timeit(fn, warm, reps)
        rows[name] = {"latency_s": t, "bytes": size_bytes, "psnr_vs_fp32": psnr(out, ref), "note": note}
        print(f"{size} {name:28s} {t * 1000:9.1f} ms  {size_bytes / 1e6:6.1f} MB  PSNR {rows[name]['psnr_vs_fp32']:.1f}",
              file=sys.stderr, flush=True)

    with torch.inference_mode():
        add("fp32 eager (port layers)", lambda: model(x), (tmp / "g.pth").stat().st_size, ref)
        if not args.skip_static:
            add("fp32 eager (mobile form)", lambda: mobile(x), (tmp / "g.pth").stat().st_size, mobile(x))
    from vidlab.cartoon.deploy import load_int8, quantize_int8_x86, save_int8
    from vidlab.compress.fastpath import compile_for_cpu

    compiled = compile_for_cpu(model)
    add("fp32 torch.compile (Inductor)", lambda: compiled(x), (tmp / "g.pth").stat().st_size, compiled(x),
        "compile_for_cpu: frozen weights, oneDNN convolutions")
    x86 = save_int8(quantize_int8_x86(model, calib), x, tmp / f"x86_{size}.pt2", {})
    x86_prog, _ = load_int8(x86)
    with torch.inference_mode():
        add("int8 x86 (Inductor, .pt2)", lambda: x86_prog(x), x86.stat().st_size, x86_prog(x),
            "vidlab compress --method int8-static: X86InductorQuantizer, static activations calibrated on "
            "8 other photos, conv02_2 computed fp32, all weights stored int8")
    xn = x.numpy()
    add("ONNX Runtime fp32", lambda: sess.run(None, {"input": xn}), onnx_path.stat().st_size,
        torch.from_numpy(sess.run(None, {"input": xn})[0]))
    pte = export_executorch(model, tmp / f"g_{size}.pte", x)
    meth = executorch_method(pte)
    add("ExecuTorch XNNPACK fp32", lambda: meth.execute([x]), pte.stat().st_size, meth.execute([x])[0])
    q = quantize_int8(model, [x] + calib, dynamic=True)
    qpte = export_executorch(q, tmp / f"q_{size}.pte", x)
    qmeth = executorch_method(qpte)
    add("ExecuTorch XNNPACK int8 (dyn)", lambda: qmeth.execute([x]), qpte.stat().st_size, qmeth.execute([x])[0],
        "PT2E XNNPACKQuantizer, per-channel int8 weights, dynamic activations, conv02_2 fp32 (KEEP_FP32)")
    if not args.skip_static:
        qa = quantize_int8(model, [x], dynamic=True, keep_fp32=())
        apte = export_executorch(qa, tmp / f"a_{size}.pte", x)
        ameth = executorch_method(apte)
        add("ExecuTorch XNNPACK int8 (dyn, all)", lambda: ameth.execute([x]), apte.stat().st_size,
            ameth.execute([x])[0], "as above, all 26 convs int8")
        qs = quantize_int8(model, calib, dynamic=False)
        spte = export_executorch(qs, tmp / f"s_{size}.pte", x)
        smeth = executorch_method(spte)
        add("ExecuTorch XNNPACK int8 (static)", lambda: smeth.execute([x]), spte.stat().st_size,
            smeth.execute([x])[0], "static activation scales (all ops), calibrated on 8 other photos")
    base = rows["fp32 eager (port layers)"]
    for r in rows.values():
        r["latency_ratio"] = r["latency_s"] / base["latency_s"]
        r["size_ratio"] = r["bytes"] / base["bytes"]
    return rows


def cmd_latency(args) -> dict:
    from vidlab.cartoon.export import export_onnx, onnx_session
    from vidlab.cartoon.mobile import MobileCartoonGenerator

    torch.set_num_threads(args.threads)
    model = generator()
    mobile = MobileCartoonGenerator(model).eval()
    tmp = Path(tempfile.mkdtemp(prefix="bench_cartoon_"))
    torch.save(model.state_dict(), tmp / "g.pth")
    onnx_path = export_onnx(model, tmp / "g.onnx")
    sess = onnx_session(onnx_path, args.threads)
    results = {"threads": args.threads, "sizes": {}}
    for size in args.sizes:
        results["sizes"][size] = _bench_size(size, args, model, mobile, tmp, onnx_path, sess)
    return results


def cmd_memory(args) -> dict:
    """Peak RSS of ``cartoonize_image(..., load_size=0)`` on a large photo with tiling.

    The statistics pass and the first ``--tiles`` tiles run for real; the remaining tiles (same
    shapes, so the same memory) are replaced by a zero output to keep the run short, unless
    ``--tiles 0`` (all tiles)."""
    from vidlab.cartoon import api
    from vidlab.cartoon.generator import CartoonGenerator

    torch.set_num_threads(args.threads)
    h, w = map(int, args.size.split("x"))
    rgb = photos(h, w, 1)[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench_cartoon_"))
    torch.save(generator().state_dict(), tmp / "Hayao_net_G_float.pth")
    api.get_generator("Hayao", tmp)
    calls = {"n": 0}
    real_forward = CartoonGenerator.forward

    def limited(self, x):
        calls["n"] += 1
        if args.tiles and calls["n"] > args.tiles + 1:  # +1: the statistics pass
            return torch.zeros(x.shape[0], 3, x.shape[2], x.shape[3])
        return real_forward(self, x)

    CartoonGenerator.forward = limited
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    out = api.cartoonize_image(rgb, "Hayao", tmp, load_size=0, tile=args.tile)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert out.shape == rgb.shape
    return {"size": args.size, "tile": args.tile or 512, "forward_calls": calls["n"], "real_tiles": args.tiles or "all",
            "peak_rss_mb": peak, "rss_before_mb": before, "seconds": dt}


def cmd_tiling(args) -> dict:
    """Tile-vs-whole error on real photos at a size where whole-image inference fits in memory."""
    from vidlab.cartoon.export import psnr
    from vidlab.cartoon.generator import preprocess
    from vidlab.cartoon.tiling import collect_stats, downscaled_stats, tiled_forward

    torch.set_num_threads(args.threads)
    model = generator()
    h, w = map(int, args.size.split("x"))
    res = []
    for img in photos(h, w, args.images):
        x = preprocess(img)
        with torch.inference_mode():
            ref, stats = collect_stats(model, x)
            row = {}
            for label, st in (("exact stats", stats),
                              *((f"stats from {s}px pass", downscaled_stats(model, x, s)) for s in args.stats_sizes)):
                y = tiled_forward(model, x, tile=args.tile, overlap=args.overlap, stats=st)
                d = (y - ref).abs()
                row[label] = {"max_abs": d.max().item(), "mean_abs": d.mean().item(), "psnr": psnr(y, ref)}
                print(f"{label:24s} max {row[label]['max_abs']:.4f} mean {row[label]['mean_abs']:.4f} "
                      f"PSNR {row[label]['psnr']:.1f}", file=sys.stderr, flush=True)
        res.append(row)
    avg = {k: {m: statistics.mean(r[k][m] for r in res) for m in res[0][k]} for k in res[0]}
    return {"size": args.size, "tile": args.tile, "overlap": args.overlap, "images": len(res), "mean_over_images": avg}


def cmd_flicker(args) -> dict:
    """Flicker (static-pixel output change) of a real clip, per-frame vs temporal statistics."""
    from vidlab.cartoon.video import FlickerMeter, cartoonize_frames
    from vidlab.io import VideoReader

    torch.set_num_threads(args.threads)
    model = generator()
    src = Path(args.video) if args.video else PAIRS / "output" / "demo_ori.gif"
    with VideoReader(src) as r:
        frames = r.read_all()[: args.frames]
    out = {"video": str(src), "frames": len(frames), "load_size": args.load_size}
    for style in ("fixture", "classic"):
        for temporal in (False, True):
            meter = FlickerMeter()
            kw = {"model": model} if style == "fixture" else {"style": "classic"}
            for f, o in zip(frames, cartoonize_frames(iter(frames), load_size=args.load_size, temporal=temporal,
                                                      momentum=args.momentum, **kw)):
                meter.update(f, o)
            out[f"{style} temporal={temporal}"] = meter.result()
            print(style, temporal, meter.result(), file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--sizes", nargs="+", default=["256x256", "720x1280"])
    p.add_argument("--reps", type=int, default=4)
    p.add_argument("--skip-static", action="store_true", help="only the main rows (for large sizes)")
    p = sub.add_parser("memory")
    p.add_argument("--size", default="3000x4000")
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--tiles", type=int, default=4, help="tiles run for real (0: all)")
    p = sub.add_parser("tiling")
    p.add_argument("--size", default="768x1024")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=96)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--stats-sizes", type=int, nargs="+", default=[512, 256])
    p = sub.add_parser("flicker")
    p.add_argument("--video", default=None)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--load-size", type=int, default=256)
    p.add_argument("--momentum", type=float, default=0.9)
    for p in sub.choices.values():
        p.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    res = {"latency": cmd_latency, "memory": cmd_memory, "tiling": cmd_tiling, "flicker": cmd_flicker}[args.cmd](args)
    res["torch"] = torch.__version__
    res["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
