"""`vidlab features`: clip features of long videos for temporal action localization.

A thin layer over :func:`vidlab.localize.features.extract_features` (whose
docstring states the window, padding, crop and resampling rules).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from vidlab.apps.output import EXIT_BAD_INPUT, error, log, print_json

_HELP = """Clip features of (long, untrimmed) videos: one (N, D) array per video of
model.forward_features over sliding windows, for temporal action localization.

A window is --window T frames at --fps F (default: the video's own rate; other rates are resampled
by index mapping, PySlowFast's rule), windows start every --stride S frames. The last, partial
window is dropped (--tail drop, ActionFormer's THUMOS14 features: only full windows; a video shorter
than one window still gets one, padded) or padded by repeating the last frame (--tail pad).
--crops 1 (centre), 3 (along the longer side) or 10 (4 corners + centre, and their flips): a
window's feature is the MEAN of its crops' features. Preprocessing (short-side resize, crop,
mean/std) is the checkpoint's own.

Writes DIR/{stem}.npy (N, D) float32 and DIR/{stem}.json (window/stride in frames and seconds,
fps, start/end seconds of every feature, model, preprocessing, vidlab version); --format h5: one
DIR/features.h5, a dataset per video (needs h5py). Each video is decoded once, streaming, in
bounded memory. Videos already done with the same settings are skipped (resumable; files are
written atomically). Videos that cannot be read are listed at the end (exit status 1).
--workers N processes share the list; under torchrun, RANK/WORLD_SIZE shard it first.

Presets (--preset NAME; explicit options win):

i3d-thumos: 16 frames, stride 4, 30 fps (ActionFormer/THUMOS14; its features are two-stream I3D
RGB+flow, 2x1024: --modality rgb gives the RGB stream, with the model's own dimension).

slowfast: 32 frames, stride 16, 30 fps (2304-d with slowfast_r50).

anet-fixed: 16 frames, stride 16 at the video's rate, then resampled to 100 features per video by
linear interpolation in time (ActivityNet/BMN style; --resample M for another count).
"""


def register(app: typer.Typer) -> None:
    app.command("features", help=_HELP)(features)


def _read_list(path: Path, root: Optional[Path]) -> list[str]:
    """Paths of a video list: the first field of each line (``path [label ...]``, ``#`` comments);
    relative paths start from ``root`` (default: the list's folder)."""
    from vidlab.errors import DataError

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"{path}: video list not found") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise DataError(f"{path}: not a text file (a video list has one path per line)") from None
    base = root if root is not None else path.parent
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            first = line.replace(",", " ").split()[0]
            out.append(first if os.path.isabs(first) else str(base / first))
    if not out:
        raise DataError(f"{path}: no videos listed")
    return out


def features(
    videos: Optional[List[Path]] = typer.Argument(None, help="Video files (or --list)."),
    video_list: Optional[Path] = typer.Option(None, "--list", help="A file with one video path per line (extra "
                                              "fields such as labels are ignored)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Folder the list's relative paths start from "
                                        "(default: the list's folder)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="vidlab checkpoint."),
    model_name: Optional[str] = typer.Option(None, "--model", help="A published checkpoint instead of "
                                             "--checkpoint: an architecture or hub entry (`vidlab hub list`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
    window: Optional[int] = typer.Option(None, "--window", min=1, help="Frames per window, at --fps."),
    stride: Optional[int] = typer.Option(None, "--stride", min=1, help="Frames between window starts, at --fps."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Target frame rate (default: each video's own)."),
    crops: Optional[int] = typer.Option(None, "--crops", help="Spatial crops per window: 1, 3 or 10 (features "
                                        "averaged over the crops)."),
    modality: str = typer.Option("rgb", "--modality", help="Input stream: rgb (flow is not computed here)."),
    tail: Optional[str] = typer.Option(None, "--tail", help="Last partial window: drop (default) or pad "
                                       "(repeat the last frame)."),
    resample: Optional[int] = typer.Option(None, "--resample", min=1, help="Resample each video's sequence to "
                                           "this many features (linear in time; anet-fixed: 100)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    fmt: str = typer.Option("npy", "--format", help="npy (a .npy + .json per video) or h5 (one HDF5 file)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes sharing the list."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda or cuda:N."),
    backend: str = typer.Option("pyav", "--backend", help="Decoder: pyav, torchcodec or auto."),
    preset: Optional[str] = typer.Option(None, "--preset", help="i3d-thumos, slowfast or anet-fixed (see above)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    from vidlab.apps.cli_hub import checkpoint_for
    from vidlab.io.video import BACKENDS
    from vidlab.localize.features import CROPS, FORMATS, PRESETS, TAILS, extract_features, resolve_config

    if bool(videos) == (video_list is not None):
        raise typer.BadParameter("give video files or --list FILE (one of the two)", param_hint="'VIDEOS' / '--list'")
    if preset is not None and preset not in PRESETS:
        raise typer.BadParameter(f"must be one of {', '.join(PRESETS)}, got {preset!r}", param_hint="'--preset'")
    if preset is None and (window is None or stride is None):
        raise typer.BadParameter("--window and --stride are required without --preset", param_hint="'--window'")
    if crops is not None and crops not in CROPS:
        raise typer.BadParameter(f"must be 1, 3 or 10, got {crops}", param_hint="'--crops'")
    if tail is not None and tail not in TAILS:
        raise typer.BadParameter(f"must be drop or pad, got {tail!r}", param_hint="'--tail'")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be npy or h5, got {fmt!r}", param_hint="'--format'")
    if modality != "rgb":
        raise typer.BadParameter(f"only rgb is available (optical-flow features need a flow stream, which "
                                 f"this command does not compute), got {modality!r}", param_hint="'--modality'")
    if fps is not None and not fps > 0:
        raise typer.BadParameter(f"must be > 0, got {fps:g}", param_hint="'--fps'")
    if backend not in BACKENDS:
        raise typer.BadParameter(f"must be one of {', '.join(BACKENDS)}, got {backend!r}", param_hint="'--backend'")
    config = resolve_config(preset, window=window, stride=stride, fps=fps, crops=crops, modality=modality,
                            tail=tail, resample=resample, batch_size=batch_size, backend=backend)
    if fmt == "h5":
        from vidlab.localize.features import check_h5py

        check_h5py()  # before a download or a model is loaded
    paths = [str(v) for v in videos] if videos else _read_list(video_list, root)  # type: ignore[arg-type]
    ckpt = checkpoint_for(checkpoint, model_name, weights)
    info = {"name": model_name, "weights": weights or "DEFAULT"} if model_name else {}
    res = extract_features(paths, out, ckpt, config, fmt=fmt, workers=workers, device=device, model_info=info,
                           progress=not quiet, log=log)
    nothing_done = res["failed"] and not res["done"] and not res["skipped"]
    if as_json:
        print_json(res)
    elif not nothing_done:  # when every video failed, the error line is the whole output (exit 2)
        dim = f", {res['feature_dim']}-d" if res["feature_dim"] else ""
        print(f"{len(res['done'])} done{dim}, {len(res['skipped'])} already done, {len(res['failed'])} failed "
              f"-> {res['out']} ({res['seconds']:.1f} s)")
    if res["failed"]:
        raise typer.Exit(report_failures([f["error"] for f in res["failed"]], res["videos"]))


def report_failures(errors: list[str], total: int, shown: int = 3) -> int:
    """One error line naming the first failures; the exit status: 2 when no video could be done
    (that line only, the CLI's contract), 1 when the others were done (then every failure is
    listed below the line when there are more than ``shown``; ``--json`` has them all)."""
    n = len(errors)
    if n == total:
        more = f"; and {n - shown} more (--json lists them)" if n > shown else ""
        error(errors[0] if n == 1 else f"none of the {n} videos could be read: {'; '.join(errors[:shown])}{more}")
        return EXIT_BAD_INPUT
    more = f"; and {n - shown} more, listed below" if n > shown else ""
    error(f"{n} of {total} videos could not be read: {'; '.join(errors[:shown])}{more}")
    if n > shown:
        for e in errors:
            log(f"  {e}")
    return 1
