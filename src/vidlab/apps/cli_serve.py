"""`vidlab serve` (the local web app) and `vidlab stream` (online recognition)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

DEMO_CHECKPOINT = Path("vidlab_demo") / "model.safetensors"

# the action model, for both commands: a checkpoint file, or a published model from the hub
CheckpointOption = Annotated[Path | None, typer.Option(
    "--checkpoint", "-c", help="Action model (default: vidlab_demo/model.safetensors if present).")]
ModelOption = Annotated[str | None, typer.Option(
    "--model", "-m", help="A published model instead of --checkpoint (`vidlab hub list`).")]
WeightsOption = Annotated[str | None, typer.Option(
    "--weights", help="Hub tag with --model (default: the model's DEFAULT).")]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("stream")(stream)


def _default_checkpoint(checkpoint: Path | None, model: str | None = None, weights: str | None = None) -> Path | None:
    """``--model NAME [--weights TAG]`` from the hub, else the checkpoint given, else the one `vidlab demo`
    writes (when it exists here)."""
    if model is not None or weights is not None:
        from vidlab.apps.cli_hub import checkpoint_for

        return checkpoint_for(checkpoint, model, weights)
    if checkpoint is not None:
        return checkpoint
    return DEMO_CHECKPOINT if DEMO_CHECKPOINT.exists() else None


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free one).")] = 8000,
    checkpoint: CheckpointOption = None,
    model_name: ModelOption = None,
    weights: WeightsOption = None,
    cartoon_weights: Annotated[
        Path | None, typer.Option("--cartoon-weights", help="CartoonGAN weights file or folder (classic needs none).")
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", min=0.001, help="Largest accepted upload.")
    ] = 200.0,
    max_video_seconds: Annotated[
        float, typer.Option("--max-video-seconds", min=0.1, help="Longest accepted video.")
    ] = 600.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds a job may take, queueing included.")
    ] = 300.0,
    queue_size: Annotated[
        int, typer.Option("--queue-size", min=1, help="Jobs that may wait; more are refused (503).")
    ] = 8,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs run at once.")] = 1,
    retention: Annotated[
        float, typer.Option("--retention", min=1.0, help="Seconds finished jobs' files are kept.")
    ] = 3600.0,
    work_dir: Annotated[
        Path | None, typer.Option(
            "--work-dir", help="Folder for uploads and results (default: a private temporary folder removed at exit)."
        )
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="CPU threads for the model (see `vidlab stream --threads`).")
    ] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
):
    """Serve the web page and JSON API: upload a video to see the actions over time,
    a photo to get its cartoon. API schema at /docs and /openapi.json."""
    try:
        import uvicorn

        from vidlab.serve import ServeConfig, create_app
    except ImportError as e:
        from vidlab.errors import VidlabError

        raise VidlabError(f"`vidlab serve` needs FastAPI and uvicorn ({e.name} is missing): "
                          "pip install 'vidlab[serve]'") from None
    from vidlab.apps.output import log

    ckpt = _default_checkpoint(checkpoint, model_name, weights)
    if ckpt is not None and not Path(ckpt).exists() and not Path(str(ckpt) + ".safetensors").exists():
        from vidlab.errors import VidlabError

        raise VidlabError(f"{ckpt}: checkpoint not found")
    if cartoon_weights is not None and not cartoon_weights.exists():
        from vidlab.errors import VidlabError

        raise VidlabError(f"{cartoon_weights}: no such file or folder")
    cfg = ServeConfig(checkpoint=ckpt, cartoon_weights=cartoon_weights,
                      max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_video_seconds=max_video_seconds,
                      job_timeout=timeout, queue_size=queue_size, workers=workers, retention=retention,
                      work_dir=work_dir)
    if ckpt is not None:
        from vidlab import models

        model = models.load(ckpt)  # fail here, as one line, rather than inside the server
        log(f"model: {ckpt} ({model.meta.get('arch')}, {model.meta.get('num_classes')} classes)")
    else:
        model = None
        log("no action model: video classification is off (pass --checkpoint, or run `vidlab demo` first)")
    import torch

    # PyTorch's OpenMP threads spin while they wait; next to FFmpeg's decoder threads on a small
    # machine that makes two threads ~10x slower than one for the demo-size models (RESULTS.md)
    torch.set_num_threads(threads)
    app = create_app(cfg, model=model)
    shown = f"[{host}]" if ":" in host else host
    log(f"vidlab serve: http://{shown}:{port}/  (API docs at /docs; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def stream(
    source: Annotated[str, typer.Argument(help="Camera index (0), RTSP/HTTP URL, or a video file.")],
    checkpoint: CheckpointOption = None,
    model_name: ModelOption = None,
    weights: WeightsOption = None,
    stride: Annotated[
        float | None, typer.Option(
            "--stride", min=0.001, help="Seconds between windows (default: a quarter of the clip span)."
        )
    ] = None,
    smooth: Annotated[
        int, typer.Option("--smooth", min=1, help="Windows averaged for the reported action (1: none).")
    ] = 3,
    topk: Annotated[int, typer.Option("--topk", "-k", min=1, help="Classes shown per update.")] = 3,
    realtime: Annotated[
        bool, typer.Option("--realtime", help="Pace a file at its frame rate, as a camera would deliver it.")
    ] = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.0, help="Stop after this much input.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the video with the action drawn on it.")
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="CPU threads for the model (1 leaves the other cores to the "
                                                    "decoder; more helps large models on an idle machine).")
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON Lines: one object per window, then the summary.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the summary.")] = False,
):
    """Online action recognition: sliding windows with temporal smoothing over a
    camera, a network stream or a file, printing the current action and latency."""
    import torch

    from vidlab.errors import VidlabError

    ckpt = _default_checkpoint(checkpoint, model_name, weights)
    if ckpt is None:
        raise VidlabError("no model: pass --checkpoint CKPT (or run `vidlab demo` first)")

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _stream(source, ckpt, stride=stride, smooth=smooth, topk=topk, realtime=realtime, max_seconds=max_seconds,
                out=out, as_json=as_json, quiet=quiet)
    finally:
        torch.set_num_threads(previous_threads)


def _stream(source, ckpt, *, stride, smooth, topk, realtime, max_seconds, out, as_json, quiet) -> None:
    from vidlab import models
    from vidlab.stream import open_source, run_stream

    model = models.load(ckpt)
    src = open_source(source)
    if not as_json and not quiet:
        print(f"{src.name}: {src.fps:.2f} fps, {src.size[0]}x{src.size[1]}; model {model.meta.get('arch')}",
              file=sys.stderr, flush=True)

    def on_update(u, stats):
        if quiet:
            return
        if as_json:
            sys.stdout.write(json.dumps({"type": "window", **u.as_dict(), "processed_fps": round(stats["fps"], 2)})
                             + "\n")
            sys.stdout.flush()
            return
        others = "  ".join(f"{t['label']} {t['score']:.2f}" for t in u.top[1:])
        print(f"{u.time:8.2f} s  {u.label:<24} {u.score:.2f}   {others:<40} latency {u.latency_ms:6.1f} ms  "
              f"{stats['fps']:7.1f} fps", flush=True)

    summary = run_stream(model, src, stride=stride, smooth=smooth, topk=topk, realtime=realtime,
                         max_seconds=max_seconds, out=out, on_update=on_update)
    if as_json:
        sys.stdout.write(json.dumps({"type": "summary", **summary}) + "\n")
        sys.stdout.flush()
        return
    lat = summary["latency_ms"]
    last = summary["last"]
    print(f"{summary['frames']} frames in {summary['seconds']:.2f} s: {summary['processed_fps']:.1f} frames/s "
          f"({summary['realtime_factor']:.2f}x real time at {summary['fps']:g} fps); {summary['windows']} windows, "
          f"latency mean {lat['mean']:.1f} ms, p90 {lat['p90']:.1f} ms"
          + (f"; last: {last['label']} {last['score']:.2f}" if last else ""))
    if summary["out"]:
        print(f"annotated video: {summary['out']}")
