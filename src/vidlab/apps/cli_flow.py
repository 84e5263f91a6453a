"""`vidlab flow`: dense optical flow of videos into a rawframes cache."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("flow")(flow)


def flow(
    videos: List[Path] = typer.Argument(..., help="Video files."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; each video gets OUT/<stem>/."),
    method: str = typer.Option("tvl1", "--method", "-m", help="farneback, tvl1 (OpenCV contrib) or raft (torchvision)."),
    fmt: str = typer.Option("jpg", "--format", "-f",
                            help="jpg: quantised x_/y_%05d.jpg pairs (+-bound -> 0..255); npy: flow.npy (T-1,2,H,W) float32 pixels."),
    stride: int = typer.Option(1, "--stride", min=1, help="Use every N-th frame; flow k maps frame kN to (k+1)N."),
    bound: float = typer.Option(20.0, "--bound", min=0.01, help="jpg: flow clipped to +-bound pixels before quantising."),
    rgb: bool = typer.Option(True, "--rgb/--no-rgb", help="Also write the frames as img_%05d.jpg (the rawframes layout)."),
    visualize: bool = typer.Option(False, "--visualize", help="Also write flow.mp4 (HSV colour wheel)."),
    raft_weights: Optional[str] = typer.Option(None, "--raft-weights",
                                               help="RAFT: torchvision raft state dict (.pth/.safetensors), or 'download' (through the hub)."),
    raft_model: str = typer.Option("large", "--raft-model", help="RAFT: small or large."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo folders made with other settings."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per video (a list)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    """Dense optical flow between frames (resumable: finished videos are skipped)."""
    from vidlab.apps.output import error, print_json
    from vidlab.errors import VidlabError
    from vidlab.flow.extract import FORMATS, extract_flows
    from vidlab.flow.methods import METHODS, get_estimator

    if method not in METHODS:
        raise VidlabError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if fmt not in FORMATS:
        raise VidlabError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    options = {"weights": raft_weights, "model": raft_model} if method == "raft" else {}
    estimator = get_estimator(method, **options)
    failed = []
    results = extract_flows([str(v) for v in videos], out, estimator, fmt=fmt, stride=stride, bound=bound, rgb=rgb,
                            visualize=visualize, overwrite=overwrite, progress=not quiet,
                            on_error=lambda v, e: (failed.append(v), error(str(e))))
    if as_json:
        print_json(results)
    else:
        for r in results:
            if "error" in r:
                continue
            state = "exists" if r["skipped"] else f"{r['seconds']:.1f} s"
            print(f"{r['video']}: {r['num_flows']} flow fields {r['width']}x{r['height']} -> {r['dir']} ({state})")
    if failed:  # 2: no video was done; 1: some failed, the others were done
        raise typer.Exit(2 if len(failed) == len(videos) else 1)
