"""`vidlab compress`, `vidlab export`, `vidlab bench`: thin layers over :mod:`vidlab.compress`."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

import sys
from pathlib import Path

import typer

METHODS = ("int8-static", "int8-dynamic", "fp16", "bf16", "prune")


def register(app: typer.Typer) -> None:
    app.command("compress")(compress)
    app.command("export")(export)
    app.command("bench")(bench)


def _example(meta: dict, batch: int = 1, input_thw: tuple | None = None):
    import torch

    from vidlab.compress.data import preprocessing_of

    pre = preprocessing_of(meta)
    t, h, w = input_thw or (pre.num_frames, pre.crop_size, pre.crop_size)
    return torch.randn(batch, 3, t, h, w, generator=torch.Generator().manual_seed(0))


def _parse_thw(text: str | None) -> tuple | None:
    from vidlab.errors import VidlabError

    if not text:
        return None
    try:
        t, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise VidlabError(f"--input must be T,H,W (three integers), got {text!r}") from None
    return t, h, w


def _parse_hw(text: str | None) -> tuple[int, int]:
    """``--input`` for a CartoonGAN generator: ``H,W`` (default 256,256)."""
    from vidlab.errors import VidlabError

    if not text:
        return 256, 256
    try:
        h, w = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise VidlabError(f"--input for a CartoonGAN generator must be H,W (two integers), got {text!r}") from None
    if min(h, w) < 8:
        raise VidlabError(f"--input {text}: the generator needs at least 8x8 pixels")
    return h, w


def _is_cartoon(path: Path) -> bool:
    from vidlab.cartoon.deploy import is_generator_file

    return is_generator_file(path)


def _cartoon_compress(checkpoint: Path, method: str, out: Path, calib: Path | None, calib_clips: int,
                      input_size: str | None, as_json: bool) -> None:
    """`vidlab compress` for a CartoonGAN generator weights file."""
    import torch

    from vidlab.apps.output import log, print_json
    from vidlab.cartoon.deploy import (
        calibration_images,
        is_int8_program,
        quantize_int8_x86,
        save_int8,
    )
    from vidlab.cartoon.export import KEEP_FP32, psnr
    from vidlab.cartoon.weights import load_generator
    from vidlab.errors import VidlabError

    if is_int8_program(checkpoint):
        raise VidlabError(f"{checkpoint}: already an int8 program; start from the fp32 weights file")
    if method in ("int8-dynamic", "prune"):
        hint = ("the generator has no Linear/LSTM layers for dynamic int8; use --method int8-static, or "
                "`vidlab export --format executorch --int8` for XNNPACK's dynamic int8"
                if method == "int8-dynamic" else
                "channel pruning needs fine-tuning data and losses the CartoonGAN release does not ship")
        raise VidlabError(f"--method {method} is not available for the CartoonGAN generator: {hint}")
    hw = _parse_hw(input_size)
    images = None
    if method == "int8-static":
        if calib is None:
            raise VidlabError("--method int8-static needs --calib (a folder or list of photos for a CartoonGAN generator)")
        images = calibration_images(calib, hw, limit=calib_clips)  # every file read before any work
    model = load_generator(weights=checkpoint)
    summary = {"method": method, "source": str(checkpoint)}
    if images is not None:
        program = quantize_int8_x86(model, images)
        with torch.no_grad():  # the uncompiled program: the same int8 arithmetic, without a compilation here
            ref, got = model(images[0]), program(images[0])
        summary["psnr_vs_fp32_db"] = psnr(got, ref)
        path = save_int8(program, images[0], out, {"method": method, "source": str(checkpoint),
                                                   "keep_fp32": list(KEEP_FP32), "calib_images": len(images),
                                                   "quantizer": "X86InductorQuantizer (static, per-channel)"})
        log(f"int8 program specialised to {hw[0]}x{hw[1]} inputs; {', '.join(KEEP_FP32)} kept fp32; "
             f"PSNR vs fp32 on the first calibration photo {summary['psnr_vs_fp32_db']:.1f} dB")
    else:
        from vidlab.compress.ckpt import DTYPES

        path = out if out.suffix in (".pth", ".pt") else out.with_name(out.name + ".pth")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.to(DTYPES[method]) for k, v in model.state_dict().items()}, path)
    summary.update(out=str(path), size_mb=path.stat().st_size / 2**20,
                   size_ratio=path.stat().st_size / checkpoint.stat().st_size)
    if as_json:
        print_json(summary)
    else:
        print(f"{method}: {path} ({summary['size_mb']:.2f} MB, {summary['size_ratio']:.2f}x the source)")


def _bench_cartoon(path: Path, hw: tuple[int, int], threads: int, iters: int, compile_: bool) -> dict:
    import torch

    from vidlab.cartoon.deploy import is_int8_program, load_any
    from vidlab.compress.bench import benchmark
    from vidlab.compress.fastpath import compile_for_cpu
    from vidlab.errors import VidlabError

    model, info = load_any(path)
    if is_int8_program(path):
        shape = info.get("input_shape", [1, 3, *hw])
        if list(shape[2:]) != list(hw):
            raise VidlabError(f"{path}: an int8 program for {shape[2]}x{shape[3]} inputs; pass --input "
                              f"{shape[2]},{shape[3]} (programs are specialised to their calibration size)")
        method, kind = info.get("method", "int8-static"), "compile"
    else:
        method, kind = "fp32", "compile" if compile_ else "eager"
        if compile_:
            model = compile_for_cpu(model)
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0)) * 2 - 1
    res = benchmark(model, (x,), threads=threads, iters=iters)
    return {"path": str(path), "method": method, "arch": "cartoongan", "path_kind": kind,
            "size_mb": path.stat().st_size / 2**20, **res}


def _bar(total: int, desc: str, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True, disable=quiet)


def compress(
    checkpoint: Path = typer.Argument(..., help="vidlab checkpoint to compress."),
    method: str = typer.Option(..., "--method", "-m", help="int8-static, int8-dynamic, fp16, bf16 or prune."),
    out: Path = typer.Option(..., "--out", "-o", help="Output checkpoint (stem; the sidecar is STEM.json)."),
    calib: Path | None = typer.Option(None, "--calib", help="int8-static: folder of videos or a video list."),
    calib_clips: int = typer.Option(16, "--calib-clips", min=1, help="How many calibration clips to use."),
    observer: str = typer.Option("histogram", "--observer", help="int8-static activation ranges: histogram or minmax."),
    sparsity: float = typer.Option(0.5, "--sparsity", min=0.0, max=0.95, help="prune: fraction of channels removed."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs", min=0, help="prune: fine-tune epochs after pruning."),
    train: Path | None = typer.Option(None, "--train", help="prune: labelled video list for the fine-tune."),
    lr: float = typer.Option(0.01, "--lr", min=0.0, help="prune: fine-tune learning rate."),
    input_size: str | None = typer.Option(None, "--input", help="CartoonGAN generator: H,W the int8 program is "
                                          "calibrated and specialised at (default 256,256)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    """Compress a checkpoint: int8 (static/dynamic), fp16/bf16 weights, or structured channel pruning.

    CHECKPOINT may also be a CartoonGAN generator weights file (<Style>_net_G_float.pth):
    int8-static writes a torch.export program (.pt2) for x86 (Inductor, oneDNN/AMX int8)
    calibrated on --calib photos; fp16/bf16 write a .pth state dict.
    """
    import warnings

    import torch

    from vidlab.apps.output import log, print_json
    from vidlab.compress import ckpt
    from vidlab.compress.data import calibration_batches, finetune, resolve_videos
    from vidlab.errors import VidlabError
    from vidlab.models import read_meta

    warnings.filterwarnings("ignore")
    if method not in METHODS:
        raise VidlabError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if _is_cartoon(checkpoint):
        return _cartoon_compress(checkpoint, method, out, calib, calib_clips, input_size, as_json)
    meta = read_meta(ckpt.stem_of(checkpoint))
    if (meta.get("compression") or {}).get("method"):
        raise VidlabError(f"{checkpoint}: already compressed ({meta['compression']['method']}); start from an fp32 checkpoint")
    calib_records = train_records = None
    if method == "int8-static":
        if calib is None:
            raise VidlabError("--method int8-static needs --calib (a folder of videos or a video list)")
        calib_records = resolve_videos(calib)  # checked before any work
    if method == "prune" and finetune_epochs > 0:
        if train is None:
            raise VidlabError("--finetune-epochs needs --train (a labelled video list)")
        train_records = resolve_videos(train)
        if any(not isinstance(r.label, int) or r.label < 0 for r in train_records):
            raise VidlabError(f"{train}: the fine-tune list needs a class label on every line")
    model = ckpt.load_compressed(checkpoint)
    example = _example(meta)
    src = {"source": str(checkpoint)}
    summary = {"method": method, "out": None, "fallback": []}
    if method in ("int8-static", "int8-dynamic"):
        from vidlab.compress.export import trace_program
        from vidlab.compress.quantize import quantize_int8_dynamic, quantize_int8_static

        if method == "int8-static":
            n = min(calib_clips, len(calib_records))
            bar = _bar(n, "calibrating", quiet)
            q, report = quantize_int8_static(model, (example,), calibration_batches(calib_records, meta, max_clips=n),
                                             observer=observer, on_batch=lambda i: bar.update(1))
            bar.close()
        else:
            q, report = quantize_int8_dynamic(model)
        for msg in report.messages():
            log(msg)
        program = trace_program(q, (example,))
        path = ckpt.save_program(program, out, meta, {**src, "backend": "x86", **report.to_dict(),
                                                        "calib_clips": calib_clips if calib_records else None})
        summary["fallback"] = report.to_dict()["fallback"]
    elif method in ("fp16", "bf16"):
        path = ckpt.save_state(model.to(ckpt.DTYPES[method]), out, meta, {**src, "method": method})
    else:
        from vidlab.compress.prune import prune_channels

        pruned = prune_channels(model, (example,), sparsity)
        log(f"pruned {sparsity:.0%} of the channels: {pruned.pruning['params_before']:,} -> "
             f"{pruned.pruning['params_after']:,} parameters")
        if train_records:
            bar = _bar(1, "fine-tuning", quiet)

            def step(i, total, loss):
                bar.total = total
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")

            torch.manual_seed(0)
            finetune(pruned, train_records, meta, epochs=finetune_epochs, lr=lr, on_step=step)
            bar.close()
        path = ckpt.save_state(pruned, out, meta, {**src, "method": "prune", **pruned.pruning,
                                                    "finetune_epochs": finetune_epochs})
    src_size = ckpt.weights_file(checkpoint, meta).stat().st_size
    summary.update(out=str(path), size_mb=path.stat().st_size / 2**20, size_ratio=path.stat().st_size / src_size)
    if as_json:
        print_json(summary)
    else:
        print(f"{method}: {path} ({summary['size_mb']:.2f} MB, {summary['size_ratio']:.2f}x the source)")


def export(
    checkpoint: Path = typer.Argument(..., help="vidlab checkpoint (fp32, fp16/bf16 or pruned)."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx, torchscript or executorch."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file."),
    input_thw: str | None = typer.Option(None, "--input", help="Example clip size T,H,W (default: the model's); "
                                         "H,W for a CartoonGAN generator (default 256,256)."),
    int8: bool = typer.Option(False, "--int8", help="onnx: also write ONNX Runtime's int8 QDQ model (OUT stem + .int8.onnx)."),
    calib: Path | None = typer.Option(None, "--calib", help="--int8: calibration videos (folder or list)."),
    calib_clips: int = typer.Option(8, "--calib-clips", min=1),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Run the exported file and compare with PyTorch."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
):
    """Export a checkpoint to ONNX (verified with ONNX Runtime), TorchScript or ExecuTorch (.pte, XNNPACK).

    CHECKPOINT may also be a CartoonGAN generator weights file: its mobile form is exported
    (ONNX with dynamic height/width; .pte and TorchScript at --input H,W, default 256,256;
    --int8 for ONNX Runtime QDQ or XNNPACK dynamic int8), checked against PyTorch.
    """
    import warnings

    import torch

    from vidlab.apps.output import print_json
    from vidlab.compress import ckpt
    from vidlab.compress.data import calibration_batches, resolve_videos
    from vidlab.compress.export import FORMATS, quantize_onnx_int8
    from vidlab.compress.export import export as do_export
    from vidlab.errors import VidlabError
    from vidlab.models import read_meta

    warnings.filterwarnings("ignore")
    if fmt not in FORMATS:
        raise VidlabError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if _is_cartoon(checkpoint):
        from vidlab.cartoon.deploy import (
            calibration_images,
            export_generator,
            is_int8_program,
        )
        from vidlab.cartoon.weights import load_generator

        if is_int8_program(checkpoint):
            raise VidlabError(f"{checkpoint}: an int8 program is already exported; export the fp32 weights file")
        if int8 and fmt == "torchscript":
            raise VidlabError("--int8 applies to --format onnx or executorch")
        hw = _parse_hw(input_thw)
        images = calibration_images(calib, hw, limit=calib_clips) if (int8 and calib) else None
        res = export_generator(load_generator(weights=checkpoint), out, fmt, hw, int8=int8, calibration=images)
        if as_json:
            print_json(res)
        else:
            print(f"{fmt}: {res['path']} ({res['size_mb']:.2f} MB, max |exported - PyTorch| {res['max_abs_diff']:.2e}, "
                  f"PSNR {res['psnr_vs_eager']:.1f} dB)")
            if res.get("int8_path"):
                print(f"onnx int8 (QDQ): {res['int8_path']} ({res['int8_size_mb']:.2f} MB, "
                      f"PSNR {res['int8_psnr_vs_eager']:.1f} dB)")
        return
    if int8 and fmt != "onnx":
        raise VidlabError("--int8 applies to --format onnx only")
    meta = read_meta(ckpt.stem_of(checkpoint))
    thw = _parse_thw(input_thw)
    records = resolve_videos(calib) if (int8 and calib) else None
    model = ckpt.load_compressed(checkpoint)
    if (meta.get("compression") or {}).get("method", "").startswith("int8"):
        raise VidlabError(f"{checkpoint}: an int8 TorchScript checkpoint is already an exported program; "
                          "export the fp32 checkpoint (use --int8 for ONNX Runtime's int8)")
    model = model.float()
    example = _example(meta, input_thw=thw)
    res = do_export(model, (example,), out, fmt, verify=verify)
    res["format"] = fmt
    res["size_mb"] = Path(out).stat().st_size / 2**20
    if int8:
        dst = Path(out).with_suffix(".int8.onnx")
        if records:
            batches = [b for b in calibration_batches(records, meta, max_clips=calib_clips)]
            if thw:
                batches = [(torch.nn.functional.interpolate(b[0], size=thw, mode="trilinear"),) for b in batches]
        else:
            batches = [(_example(meta, input_thw=thw) * 0 + torch.randn_like(example),) for _ in range(calib_clips)]
        quantize_onnx_int8(out, dst, batches)
        res["int8_path"] = str(dst)
        res["int8_size_mb"] = dst.stat().st_size / 2**20
    if as_json:
        print_json(res)
    else:
        diff = f", max |exported - PyTorch| {res['max_abs_diff']:.2e}" if res.get("max_abs_diff") is not None else ""
        print(f"{fmt}: {res['path']} ({res['size_mb']:.2f} MB{diff})")
        if int8:
            print(f"onnx int8 (QDQ): {res['int8_path']} ({res['int8_size_mb']:.2f} MB)")


def bench(
    checkpoint: Path = typer.Argument(..., help="vidlab checkpoint (any: fp32, int8, fp16/bf16, pruned)."),
    compare: list[Path] | None = typer.Option(None, "--compare", help="More checkpoints, timed in the same run."),
    input_thw: str | None = typer.Option(None, "--input", help="Clip size T,H,W (default: the model's); H,W for "
                                         "CartoonGAN generator files (default 256,256)."),
    threads: int = typer.Option(2, "--threads", min=1, help="torch threads."),
    iters: int = typer.Option(20, "--iters", min=1, help="Timed runs at batch 1."),
    batch: int = typer.Option(8, "--batch", min=1, help="Batch for the throughput figure."),
    fast: bool = typer.Option(True, "--fast/--no-fast", help="CPU fast path (BN folding, channels-last, inference mode)."),
    compile_: bool = typer.Option(False, "--compile", help="Time the torch.compile path (TorchInductor, frozen "
                                  "weights) for fp32/bf16 checkpoints; compilation happens in the warm-up runs."),
    eval_data: Path | None = typer.Option(None, "--eval", help="Labelled video list: also report top-1."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per checkpoint, in order."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    """Latency p50/p90 at batch 1, throughput at a batch, file size, peak memory (and top-1 with --eval).

    CartoonGAN generator files (weights .pth and int8 .pt2 programs from `vidlab compress`) are
    timed on one (1, 3, H, W) image (--input H,W); int8 programs run compiled by Inductor.
    """
    import warnings

    import torch

    from vidlab.apps.output import print_json
    from vidlab.compress import ckpt
    from vidlab.compress.bench import benchmark
    from vidlab.compress.data import evaluate_top1, resolve_videos
    from vidlab.compress.fastpath import compile_for_cpu, optimize_for_inference
    from vidlab.errors import VidlabError
    from vidlab.models import read_meta

    warnings.filterwarnings("ignore")
    paths = [checkpoint, *(compare or [])]
    cartoon = [_is_cartoon(p) for p in paths]
    if any(cartoon) and not all(cartoon):
        raise VidlabError("bench compares action-model checkpoints or CartoonGAN generator files, not both in one run")
    if cartoon[0]:
        if eval_data:
            raise VidlabError("--eval applies to action-model checkpoints (top-1); CartoonGAN quality: "
                              "benchmarks/bench_cartoon.py reports PSNR")
        rows = [_bench_cartoon(p, _parse_hw(input_thw), threads, iters, compile_) for p in paths]
        metas, records = [], None
    else:
        thw = _parse_thw(input_thw)
        metas = [read_meta(ckpt.stem_of(p)) for p in paths]  # all checked before timing anything
        records = resolve_videos(eval_data) if eval_data else None
        rows = []
    for path, meta in zip(paths, metas):
        model = ckpt.load_compressed(path)
        method = (meta.get("compression") or {}).get("method") or "fp32"
        dtype = ckpt.DTYPES.get(method)
        if compile_:
            runner = compile_for_cpu(model.float() if dtype else model, dtype=dtype)
        elif fast:
            runner = optimize_for_inference(model.float() if dtype else model, dtype=dtype)
        else:
            runner = model
        x = _example(meta, 1, thw)
        res = benchmark(runner, (x,), threads=threads, iters=iters, batch_inputs=(_example(meta, batch, thw),))
        row = {"path": str(path), "method": method, "arch": meta.get("arch"),
               "path_kind": "compile" if compile_ else ("fast" if fast else "eager"),
               "size_mb": ckpt.weights_file(path, meta).stat().st_size / 2**20, **res}
        if records:
            bar = _bar(len(records), f"eval {Path(path).name}", quiet)
            acc = evaluate_top1(runner, records, meta, on_item=lambda i, n, bar=bar: bar.update(1))
            bar.close()
            row["top1"] = acc["top1"]
            row["eval_videos"] = acc["videos"]
        rows.append(row)
        del model, runner
        torch.set_num_threads(threads)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        acc = f"  top-1 {r['top1']:.3f}" if "top1" in r else ""
        tput = f"{r['throughput_clips_s']:.1f} clips/s @ {r['batch']}  " if "throughput_clips_s" in r else ""
        print(f"{r['path']}: {r['method']:<12} p50 {r['p50_ms']:.1f} ms  p90 {r['p90_ms']:.1f} ms  "
              f"{tput}{r['size_mb']:.2f} MB  peak {r['peak_mb']:.0f} MB{acc}")
