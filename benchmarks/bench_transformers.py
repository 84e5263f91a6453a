#!/usr/bin/env python
"""vidlab's video transformers on the CPU against their reference implementations, one run.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_transformers.py [--models a,b]
        [--runs 5] [--warmup 2] [--threads 2] [--clips 3] [--quick] [--no-compile] [--no-onnx]
        [--no-int8] [--json OUT]

Each model and its reference carry the same weights: the reference is built
with seeded random parameters (every parameter redrawn: fan-in scaled matrices,
LayerNorm scales near 1, small non-zero biases, so no term is trivially zero)
and vidlab's model loads them through ``vidlab.convert``'s mapper for that
source (``map_state(source, arch, reference.state_dict())``, strict load).
Nothing is downloaded.

======================  ==============================================  ============
vidlab architecture     reference (eager, fp32)                          map source
======================  ==============================================  ============
``mvitv2_s_16x4``       torchvision ``mvit_v2_s``                        torchvision
``mvit_v1_b_16x4``      torchvision ``mvit_v1_b``                        torchvision
``swin3d_t``            torchvision ``swin3d_t``                         torchvision
``videomae_vit_b_16x4`` transformers ``VideoMAEForVideoClassification``  huggingface
``timesformer_base_8x32`` transformers ``TimesformerForVideoClassification`` huggingface
======================  ==============================================  ============

The Hugging Face models use the base configs (hidden 768, 12 layers, 12 heads,
patch 16, 224 px; 16 frames / tubelet 2 for VideoMAE, 8 frames for
TimeSformer) and transformers' default attention (``sdpa``). VideoMAE's
LayerNorm epsilons are set to the original release's 1e-6 (HF defaults:
1e-12 in the encoder, 1e-5 in ``fc_norm``), as vidlab's model and the
published checkpoints use, so both sides compute the same function.

Input: batch 1 at each model's training clip (``vidlab models``: frames x
crop, e.g. 16 x 224 x 224 for MViTv2-S, 32 x 224 x 224 for Swin3D-T); with
``--quick``, a smoke-test size (8 frames at 112 px; 4 frames for TimeSformer)
with references and vidlab models built for that clip. The clips are real
Kinetics videos from ``../shared/data/real/kinetics`` (centre crop, the
model's own normalisation and frame step; seeded noise where none decodes).
The first clip is timed; cosine figures are the lowest over ``--clips`` clips.

Paths timed (median of ``--runs`` timed runs after ``--warmup`` warm-up runs,
``torch.set_num_threads(--threads)``, under ``torch.inference_mode``; the runs
are interleaved, each round calling every path once, so that the ratios hold
on a machine whose speed drifts):

- reference fp32 eager; vidlab fp32 eager;
- vidlab ``compile_for_cpu`` (``torch.compile``/Inductor with frozen weights;
  compilation time reported separately, not in the latency);
- vidlab bf16 by ``torch.autocast("cpu", torch.bfloat16)`` on the eager
  model, and vidlab ``compile_for_cpu(dtype=torch.bfloat16)`` (bf16 weights);
- vidlab int8 dynamic quantization of the ``nn.Linear`` layers
  (``torch.ao.quantization.quantize_dynamic`` through
  ``vidlab.compress.quantize.quantize_int8_dynamic``; convolutions, i.e. the
  patch stems and MViT's pooling, stay fp32), with its cosine and top-1
  agreement to fp32 over the clips;
- for ``mvitv2_s_16x4`` and ``videomae_vit_b_16x4``: ONNX export
  (``vidlab.compress.export.export_onnx``, opset 17) run in ONNX Runtime
  (CPU provider, same thread count), max abs diff to PyTorch fp32 and latency.

Ratios are vidlab / reference fp32 eager. Goals: best vidlab fp32 path <=
0.8x the reference, best bf16 path <= 0.35x, every reduced-precision cosine
>= 0.999 against vidlab fp32. A model whose builder or mapper is not
registered (yet) is skipped with a note. Output: one Markdown table on
stdout (progress on stderr); ``--json`` also writes every figure.

``OMP_WAIT_POLICY`` is ``PASSIVE`` unless the environment sets it (as the
``vidlab`` CLI does): on a shared machine libgomp's spinning threads made 2-thread
timings several times slower and erratic (benchmarks/bench_omp_wait.py). Time on
a quiet machine; ``flock`` keeps two benchmarks from overlapping.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

# libgomp reads the policy once, when torch loads it: set it first (see below)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch import nn  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "kinetics" / "videos"
ALL = ("mvitv2_s_16x4", "mvit_v1_b_16x4", "swin3d_t", "videomae_vit_b_16x4", "timesformer_base_8x32")
SOURCE = {"mvitv2_s_16x4": "torchvision", "mvit_v1_b_16x4": "torchvision", "swin3d_t": "torchvision",
          "videomae_vit_b_16x4": "huggingface", "timesformer_base_8x32": "huggingface"}
ONNX_MODELS = ("mvitv2_s_16x4", "videomae_vit_b_16x4")
# --quick: (frames, crop) of the smoke-test clip
QUICK = {"timesformer_base_8x32": (4, 112)}
QUICK_DEFAULT = (8, 112)
GOAL_FP32, GOAL_BF16, GOAL_COS = 0.8, 0.35, 0.999


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# references


@torch.no_grad()
def randomise_parameters_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Redraw every parameter (buffers such as index tables are left alone): matrices and
    embeddings ~ N(0, 1/fan_in) with fan_in = prod(shape[1:]), 1-D ``weight``s (norm scales)
    1 + 0.1 N(0, 1), biases 0.02 N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.ndim == 1 and name.endswith("weight"):
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        elif p.ndim == 1:
            p.copy_(0.02 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(max(math.prod(p.shape[1:]), 1)))
    return model


def _hf_call(model: nn.Module):
    def call(x: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=x.transpose(1, 2)).logits  # HF takes (B, T, C, H, W)
    return call


def reference(arch: str, frames: int, crop: int) -> tuple[nn.Module, object, str, str]:
    """``(model, call(x_bcthw) -> logits, source for map_state, description)`` with random weights."""
    from torchvision.models import video as tvv

    if arch in ("mvitv2_s_16x4", "mvit_v1_b_16x4"):
        from torchvision.models.video import mvit as tv_mvit

        fn = tvv.mvit_v2_s if arch.startswith("mvitv2") else tvv.mvit_v1_b
        # the builders fix spatial_size=(224, 224), temporal_size=16 (their tables' sizes); other clips
        # (--quick) need those two overridden where the builders hand them to torchvision's _mvit
        build = tv_mvit._mvit

        def sized(**kw):
            return build(**{**kw, "spatial_size": (crop, crop), "temporal_size": frames})

        tv_mvit._mvit = sized
        try:
            ref = fn()
        finally:
            tv_mvit._mvit = build
        return randomise_parameters_(ref).eval(), ref, "torchvision", f"torchvision {fn.__name__}"
    if arch == "swin3d_t":
        ref = tvv.swin3d_t()
        return randomise_parameters_(ref).eval(), ref, "torchvision", "torchvision swin3d_t"
    from transformers.initialization import no_init_weights

    if arch == "videomae_vit_b_16x4":
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification

        cfg = VideoMAEConfig(image_size=crop, num_frames=frames, num_labels=400, layer_norm_eps=1e-6)
        with no_init_weights():  # every parameter is redrawn below
            ref = VideoMAEForVideoClassification(cfg)
        ref.fc_norm.eps = 1e-6
        return randomise_parameters_(ref).eval(), _hf_call(ref), "huggingface", \
            f"transformers VideoMAEForVideoClassification ({cfg._attn_implementation})"
    if arch == "timesformer_base_8x32":
        from transformers import TimesformerConfig, TimesformerForVideoClassification

        cfg = TimesformerConfig(image_size=crop, num_frames=frames, num_labels=400)
        with no_init_weights():
            ref = TimesformerForVideoClassification(cfg)
        return randomise_parameters_(ref).eval(), _hf_call(ref), "huggingface", \
            f"transformers TimesformerForVideoClassification ({cfg._attn_implementation})"
    raise KeyError(arch)


def unavailable(arch: str, source: str) -> str | None:
    """Why ``arch`` cannot be benchmarked now (None: it can)."""
    from vidlab import models
    from vidlab.convert.registry import ConversionError, get_mapper

    try:
        models.get_spec(arch)
    except Exception:  # noqa: BLE001  (an unknown name; the registry's own error type varies)
        return f"{arch} is not registered in vidlab.models"
    try:
        get_mapper(source, arch)
    except ConversionError:
        return f"no {source} -> {arch} mapper registered in vidlab.convert"
    return None


# ----------------------------------------------------------------------------
# inputs, timing, comparison


def clips_for(arch: str, frames: int, crop: int, n: int) -> tuple[list[torch.Tensor], str]:
    """``n`` clips ``(1, 3, frames, crop, crop)``: real Kinetics videos with the model's
    normalisation and frame step, seeded noise for what cannot be read."""
    from vidlab import models
    from vidlab.data.datasets.video_list import VideoListDataset, VideoRecord
    from vidlab.data.transforms import ClipTransform

    spec = models.get_spec(arch)
    files = sorted(REAL.glob("*.mp4"))[:n]
    out: list[torch.Tensor] = []
    if files:
        tf = ClipTransform(train=False, crop_size=crop, test_scale=crop, mean=spec.mean, std=spec.std)
        ds = VideoListDataset([VideoRecord(path=str(f), label=0) for f in files], mode="test", num_frames=frames,
                              sampling_rate=spec.sampling_rate, transform=tf)
        for i in range(len(ds)):
            try:
                out.append(ds[i][0][:1].contiguous())
            except Exception as e:  # noqa: BLE001  (a short or unreadable file: noise instead)
                log(f"  {files[i].name}: {e}")
    real = len(out)
    g = torch.Generator().manual_seed(1)
    while len(out) < n:
        out.append(torch.randn(1, 3, frames, crop, crop, generator=g))
    return out, f"{real} real Kinetics clip(s)" + (f" + {n - real} noise" if n > real else "")


def time_interleaved(fns: list, x: torch.Tensor, runs: int, warmup: int) -> list[dict]:
    """Each function's median over ``runs`` timed calls, the calls taken in rounds (every function
    once per round, in turn) so that a slow spell of a shared machine lands on all paths alike
    instead of on whichever was timed during it; the ratios are what this benchmark reports."""
    ts: list[list[float]] = [[] for _ in fns]
    with torch.inference_mode():
        for fn in fns:
            for _ in range(warmup):
                fn(x)
        for _ in range(runs):
            for fn, out in zip(fns, ts):
                t0 = time.perf_counter()
                fn(x)
                out.append((time.perf_counter() - t0) * 1000.0)
    return [{"ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t), "runs": runs} for t in ts]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().flatten().double(), b.detach().flatten().double()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30))


def outputs(fn, clips: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [fn(c).float() for c in clips]


def int8_dynamic_except_failing(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, list[str]]:
    """``quantize_dynamic`` of every ``nn.Linear`` except those whose parent module reads the
    Linear's ``weight`` tensor itself (``F.linear(x, self.qkv.weight, bias)``: a dynamic quantized
    Linear has no weight tensor). Those are found by trying: each Linear is quantized alone and the
    ones whose model then fails are kept in fp32. Returns the model and the kept names."""
    import copy

    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    kept: list[str] = []
    # one representative per name pattern (blocks.N. -> blocks.*.) to keep the probe short
    patterns: dict[str, str] = {}
    for n in linears:
        patterns.setdefault(".".join("*" if p.isdigit() else p for p in n.split(".")), n)
    for pattern, name in patterns.items():
        probe = quantize_dynamic(copy.deepcopy(model), {name: default_dynamic_qconfig}, dtype=torch.qint8)
        try:
            with torch.inference_mode():
                probe(x)
        except Exception:  # noqa: BLE001
            parts = pattern.split(".")
            kept += [n for n in linears if len(n.split(".")) == len(parts)
                     and all(p == "*" or p == q for p, q in zip(parts, n.split(".")))]
    spec = {n: default_dynamic_qconfig for n in linears if n not in kept}
    return quantize_dynamic(copy.deepcopy(model), spec, dtype=torch.qint8).eval(), kept


def autocast_bf16(model: nn.Module):
    def call(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(x).float()
    return call


# ----------------------------------------------------------------------------
# one model


def bench_model(arch: str, a: argparse.Namespace, tmp: Path) -> dict:
    from vidlab import models
    from vidlab.compress.fastpath import compile_for_cpu
    from vidlab.compress.quantize import quantize_int8_dynamic
    from vidlab.convert.core import map_state, shape_kwargs
    from vidlab.models.checkpoint import load_into

    res: dict = {"arch": arch, "rows": []}
    why = unavailable(arch, SOURCE[arch])
    if why:
        res["skipped"] = why
        return res
    spec = models.get_spec(arch)
    frames, crop = (QUICK.get(arch, QUICK_DEFAULT) if a.quick else (spec.num_frames, spec.crop_size))
    res["input"] = [1, 3, frames, crop, crop]
    log(f"{arch}: building the reference at {frames} x {crop} x {crop}")
    torch.manual_seed(0)
    ref, ref_call, source, ref_name = reference(arch, frames, crop)
    res["reference"] = ref_name
    mapped = map_state(source, arch, ref.state_dict())
    vid = models.build(arch, num_classes=400, **shape_kwargs(arch, mapped)).eval()
    load_into(vid, mapped, f"{source} {arch}")
    clips, res["clips"] = clips_for(arch, frames, crop, a.clips)
    x = clips[0]

    fp32 = outputs(vid, clips)
    ref_out = outputs(ref_call, clips)
    res["ref_vs_vidlab_max_abs_diff"] = max(float((r - v).abs().max()) for r, v in zip(ref_out, fp32))
    res["ref_vs_vidlab_cosine"] = min(cosine(r, v) for r, v in zip(ref_out, fp32))
    res["max_abs_logit"] = max(float(v.abs().max()) for v in fp32)
    res["params"] = sum(p.numel() for p in vid.parameters())

    timed: list = []  # every path's function, timed together at the end

    def row(path: str, fn, *, compare: bool = True, note: str = "", **extra) -> dict:
        log(f"  checking {path}")
        r = {"path": path, "note": note, **extra}
        timed.append(fn)
        if compare:
            got = outputs(fn, clips)
            r["cosine"] = min(cosine(g, f) for g, f in zip(got, fp32))
            r["max_abs_diff"] = max(float((g - f).abs().max()) for g, f in zip(got, fp32))
            r["top1_agree"] = sum(int(g.argmax() == f.argmax()) for g, f in zip(got, fp32)) / len(clips)
        res["rows"].append(r)
        return r

    row(f"reference fp32 eager ({ref_name})", ref_call, compare=False)
    row("vidlab fp32 eager", vid, note=f"vs reference: max abs {res['ref_vs_vidlab_max_abs_diff']:.2e}, "
                                       f"cos {res['ref_vs_vidlab_cosine']:.6f}")
    if a.compile:
        log("  compiling fp32 (compile_for_cpu)")
        t0 = time.perf_counter()
        comp = compile_for_cpu(vid)
        comp(x)
        cs = time.perf_counter() - t0
        row("vidlab fp32 compile_for_cpu", comp, note=f"compile {cs:.0f} s", compile_s=cs)
    row("vidlab bf16 autocast eager", autocast_bf16(vid))
    if a.compile:
        log("  compiling bf16 (compile_for_cpu dtype=bf16)")
        t0 = time.perf_counter()
        comp = compile_for_cpu(vid, dtype=torch.bfloat16)
        comp(x)
        cs = time.perf_counter() - t0
        row("vidlab bf16 compile_for_cpu (bf16 weights)", comp, note=f"compile {cs:.0f} s", compile_s=cs)
    if a.int8:
        q, rep = quantize_int8_dynamic(vid)
        path, note = "vidlab int8 dynamic (Linear layers)", f"{len(rep.quantized)} Linear quantized"
        try:
            with torch.inference_mode():
                q(x)
        except Exception as e:  # noqa: BLE001  (a module that reads a Linear's .weight itself)
            q, kept = int8_dynamic_except_failing(vid, x)
            path = "vidlab int8 dynamic (Linear layers but those read directly)"
            total = sum(isinstance(m, nn.Linear) for m in vid.modules())
            note = (f"all-Linear quantization fails ({type(e).__name__}: {str(e)[:60]}); "
                    f"{total - len(kept)} Linear quantized, {len(kept)} kept fp32 (e.g. {kept[0] if kept else '-'})")
        row(path, q, note=note)
    if a.onnx and arch in ONNX_MODELS:
        from vidlab.compress.export import export_onnx, onnx_session, run_onnx

        log("  exporting ONNX")
        path = tmp / f"{arch}.onnx"
        t0 = time.perf_counter()
        exp = export_onnx(vid, (x,), path, verify=True, atol=float("inf"))
        es = time.perf_counter() - t0
        sess = onnx_session(path, a.threads)
        diff = max(float(abs(run_onnx(sess, (c,)) - f.numpy()).max()) for c, f in zip(clips, fp32))
        r = row("ONNX Runtime fp32 (export_onnx, opset 17)", lambda t: torch.from_numpy(run_onnx(sess, (t,))),
                note=f"export+verify {es:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", export_s=es)
        r["max_abs_diff"] = diff
        res["onnx_max_abs_diff"] = diff
        res["onnx_verify_max_abs_diff"] = exp["max_abs_diff"]

    log(f"  timing {len(timed)} paths in {a.runs} interleaved rounds")
    for r, t in zip(res["rows"], time_interleaved(timed, x, a.runs, a.warmup)):
        r.update(t)
    base = res["rows"][0]["ms"]
    for r in res["rows"]:
        r["vs_ref"] = r["ms"] / base
    fp32_rows = [r for r in res["rows"][1:] if "fp32" in r["path"] and not r["path"].startswith("ONNX")]
    bf16_rows = [r for r in res["rows"] if "bf16" in r["path"]]
    res["best_fp32_vs_ref"] = min(r["vs_ref"] for r in fp32_rows)
    res["best_bf16_vs_ref"] = min(r["vs_ref"] for r in bf16_rows)
    res["bf16_min_cosine"] = min(r["cosine"] for r in bf16_rows)
    return res


# ----------------------------------------------------------------------------
# report


def markdown(results: list[dict], a: argparse.Namespace) -> str:
    lines = ["| model | input | path | median ms | vs reference | cosine to vidlab fp32 | top-1 agree | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        name = res["arch"]
        if "skipped" in res:
            lines.append(f"| {name} | - | skipped | - | - | - | - | {res['skipped']} |")
            continue
        shape = "x".join(str(v) for v in res["input"][2:])
        for r in res["rows"]:
            cos = f"{r['cosine']:.6f}" if "cosine" in r else "-"
            agree = f"{r['top1_agree']:.2f}" if "top1_agree" in r else "-"
            note = r["note"]
            if r["path"].startswith("ONNX"):
                note = f"max abs diff {r['max_abs_diff']:.2e}; " + note
            elif "max_abs_diff" in r and "fp32" not in r["path"]:
                note = (note + "; " if note else "") + f"max abs diff {r['max_abs_diff']:.2e}"
            lines.append(f"| {name} | {shape} | {r['path']} | {r['ms']:.1f} | {r['vs_ref']:.2f} | {cos} | {agree} | "
                         f"{note} |")
    lines += ["", "| model | best vidlab fp32 / reference (goal <= 0.8) | best bf16 / reference (goal <= 0.35) | "
                  "bf16 min cosine (goal >= 0.999) |", "|---|---|---|---|"]
    for res in results:
        if "skipped" in res:
            continue
        f, b, c = res["best_fp32_vs_ref"], res["best_bf16_vs_ref"], res["bf16_min_cosine"]
        lines.append(f"| {res['arch']} | {f:.2f} ({'met' if f <= GOAL_FP32 else 'not met'}) | "
                     f"{b:.2f} ({'met' if b <= GOAL_BF16 else 'not met'}) | "
                     f"{c:.6f} ({'met' if c >= GOAL_COS else 'not met'}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ALL), help=f"comma-separated, from {', '.join(ALL)}")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per path (the median is reported)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clips", type=int, default=3, help="clips for the cosine / top-1 figures")
    ap.add_argument("--quick", action="store_true", help="smoke test: 8 frames (TimeSformer 4) at 112 px")
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip the compile_for_cpu rows")
    ap.add_argument("--no-onnx", dest="onnx", action="store_false", help="skip the ONNX Runtime rows")
    ap.add_argument("--no-int8", dest="int8", action="store_false", help="skip the int8 dynamic rows")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    names = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in names if m not in ALL]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {', '.join(ALL)}")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a.threads)
    import vidlab.convert  # noqa: F401  (registers the mappers)

    t_start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="vidlab_bench_tf_") as tmp:
        for arch in names:
            t0 = time.perf_counter()
            res = bench_model(arch, a, Path(tmp))
            res["seconds"] = time.perf_counter() - t0
            if "skipped" in res:
                log(f"{arch}: skipped: {res['skipped']}")
            results.append(res)
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "?"
    head = (f"{time.strftime('%Y-%m-%d %H:%M')} | {platform.processor() or platform.machine()} | torch {torch.__version__}"
            f" | {a.threads} threads | median of {a.runs} runs after {a.warmup} warm-up | "
            f"{'--quick ' if a.quick else ''}batch 1 | load average {load} | "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} | {time.perf_counter() - t_start:.0f} s in all")
    print(head + "\n\n" + markdown(results, a))
    if a.json:
        a.json.write_text(json.dumps({"header": head, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
