"""`vidlab data formats|stats|check|prepare`: the benchmark datasets from the command line.

Registered on :data:`vidlab.apps.cli.data_app` by :func:`register` (cli.py
loads this module by itself). Bad input (a missing or malformed annotation
file, an unknown format) is a :class:`~vidlab.errors.DataError`, printed by
the CLI as one line with exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from vidlab.errors import DataError


def _annotations(fmt: str, annotations: Optional[Path], root: Optional[Path]) -> Path:
    if annotations is not None:
        return annotations
    if fmt in ("folder", "weizmann") and root is not None:
        return root
    if root is not None:
        for cand in (root / "annotations", root):
            if cand.exists():
                return cand
    raise DataError("--annotations is required (the annotation file, or the folder holding them)")


def _splits(splits: str) -> list[str]:
    from vidlab.data.datasets.registry import SPLITS

    out = [s.strip() for s in splits.split(",") if s.strip()]
    bad = [s for s in out if s not in SPLITS]
    if bad or not out:
        raise DataError(f"--splits takes a comma-separated subset of {','.join(SPLITS)}, got {splits!r}")
    return out


def _need_folder(root: Path) -> None:
    if not root.is_dir():
        raise DataError(f"{root}: {'not a folder' if root.exists() else 'folder not found'} (--root)")


def _load(fmt: str, annotations: Optional[Path], root: Optional[Path], split: int):
    from vidlab.data.datasets.registry import get_format

    spec = get_format(fmt)
    return spec, spec.load(_annotations(spec.name, annotations, root), split=split)


def stats(
    fmt: str = typer.Option(..., "--format", "-f", help="Dataset format (`vidlab data formats` lists them)."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", "-a",
                                               help="Annotation file, or the folder holding the official files."),
    root: Optional[Path] = typer.Option(None, "--root", help="Video folder: also count present/missing videos."),
    split: int = typer.Option(1, "--split", min=1, help="Official split / fold number."),
    missing: Optional[Path] = typer.Option(None, "--missing", help="With --root: write the missing videos here "
                                           "(Kinetics: csv rows label,youtube_id,time_start,time_end,path)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Counts from the annotation files alone: classes, train/val/test, and format extras."""
    from vidlab.apps.output import print_json
    from vidlab.data.datasets.registry import locate, presence

    spec, index = _load(fmt, annotations, root, split)
    out = index.summary()
    if root is not None:
        if not spec.has_videos:
            raise DataError(f"{spec.name} has no videos (features only); drop --root")
        out.update(presence(index, root))
        if missing is not None:
            _, miss = locate(index, root)
            if spec.name.startswith("kinetics"):
                from vidlab.data.datasets.kinetics import write_missing

                write_missing(miss, index.classes, missing)
            else:
                missing.write_text("".join(f"{p}\n" for p in sorted({r.path for r in miss})))
            out["missing_list"] = str(missing)
    elif missing is not None:
        raise DataError("--missing needs --root")
    if as_json:
        print_json(out)
        return
    for k, v in out.items():
        if isinstance(v, list) and len(v) > 5:
            v = f"{len(v)} items"
        print(f"{k:>24}: {v}")


def check(
    fmt: str = typer.Option(..., "--format", "-f", help="Dataset format."),
    root: Path = typer.Option(..., "--root", help="Folder holding the videos."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", "-a",
                                               help="Annotation file/folder (default: ROOT/annotations or ROOT)."),
    split: int = typer.Option(1, "--split", min=1, help="Official split / fold number."),
    splits: str = typer.Option("train,val,test", "--splits", help="Which splits to check."),
    min_frames: int = typer.Option(8, "--min-frames", min=1, help="A video (or segment) with fewer frames is too short."),
    decode: str = typer.Option("ends", "--decode", help="probe (header only), ends (first/middle/last frame) or full."),
    max_bad_fraction: float = typer.Option(0.05, "--max-bad-fraction", min=0.0, max=1.0,
                                           help="The set is usable if at most this fraction of videos is bad."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report file (default: vidlab-check-FORMAT.json here)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes (default: all CPU cores)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
):
    """Find missing, unreadable and too-short videos; write a report.
    Exit status 0: the set is usable; 1: it is not (too many bad videos)."""
    from vidlab.apps.output import print_json
    from vidlab.data.check import DECODE_MODES, check_dataset

    wanted = _splits(splits)  # options first: nothing is read for a command line that cannot run
    if decode not in DECODE_MODES:
        raise typer.BadParameter(f"must be {', '.join(DECODE_MODES[:-1])} or {DECODE_MODES[-1]}, got {decode!r}",
                                 param_hint="--decode")
    _need_folder(root)
    spec, index = _load(fmt, annotations, root, split)
    if not spec.has_videos:
        raise DataError(f"{spec.name} ships features, not videos: nothing to check")
    rep = check_dataset(index, root, splits=wanted, min_frames=min_frames, decode=decode,
                        max_bad_fraction=max_bad_fraction, workers=workers)
    path = rep.write(report or Path(f"vidlab-check-{spec.name}.json"))
    out = {**rep.to_dict(), "report": str(path)}
    if as_json:
        print_json(out)
    else:
        print(f"{rep.videos} videos: {rep.ok} ok, {len(rep.missing)} missing, {len(rep.unreadable)} unreadable, "
              f"{len(rep.too_short)} too short ({100 * rep.bad_fraction:.1f}% bad, allowed "
              f"{100 * max_bad_fraction:.1f}%)")
        for item in rep.unreadable[:10] + rep.too_short[:10]:
            print(f"  {item['path']}: {item['reason']}")
        if rep.segments_clamped or rep.segments_too_short:
            print(f"  segments past the end: {rep.segments_clamped} clamped, {rep.segments_too_short} too short")
        print(f"{'usable' if rep.usable else 'NOT usable'}; report {path}")
    if not rep.usable:
        raise typer.Exit(1)


def prepare(
    fmt: str = typer.Option(..., "--format", "-f", help="Dataset format."),
    root: Path = typer.Option(..., "--root", help="Folder holding the source videos."),
    out: Path = typer.Option(..., "--out", help="Output folder (mirrors the source layout)."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", "-a",
                                               help="Annotation file/folder (default: ROOT/annotations or ROOT)."),
    split: int = typer.Option(1, "--split", min=1, help="Official split / fold number."),
    splits: str = typer.Option("train,val,test", "--splits", help="Which splits to prepare."),
    short_side: int = typer.Option(256, "--short-side", min=0, help="Shorter side of the output (0: keep the size)."),
    trim: bool = typer.Option(False, "--trim", help="Cut timed segments (Kinetics, ActivityNet) out of untrimmed videos."),
    rawframes: bool = typer.Option(False, "--rawframes", help="Write JPEG frames img_00001.jpg... instead of mp4."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes (default: all CPU cores)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo outputs that exist (replaced only on success)."),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="H.264 quality (lower is better)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Resize to a short side (no audio), trim segments, or extract rawframes; parallel,
    resumable, and a failed output never replaces a good one. Exit 1 if any video failed."""
    from vidlab.apps.output import print_json
    from vidlab.data.prepare import prepare_dataset

    wanted = _splits(splits)
    _need_folder(root)
    spec, index = _load(fmt, annotations, root, split)
    if not spec.has_videos:
        raise DataError(f"{spec.name} ships features, not videos: nothing to prepare")
    res = prepare_dataset(index, root, out, splits=wanted, short_side=short_side or None, trim=trim,
                          rawframes=rawframes, workers=workers, overwrite=overwrite, crf=crf)
    if as_json:
        print_json(res)
    else:
        print(f"{res['done']} written, {res['skipped']} already there, {len(res['failed'])} failed, "
              f"{len(res['missing'])} missing sources -> {res['out']} ({res['seconds']:.0f} s)")
        for f in res["failed"][:20]:
            print(f"  failed: {f['reason']}", file=sys.stderr)
    if res["failed"]:
        raise typer.Exit(1)


def formats(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")):
    """Every dataset format: annotations it reads, the layout it expects, how to prepare it."""
    from vidlab.apps.output import print_json
    from vidlab.data.datasets.registry import get_format, list_formats

    rows = []
    for name in list_formats():
        s = get_format(name)
        rows.append({"format": s.name, "dataset": s.title, "annotations": s.annotations, "layout": s.layout,
                     "prepare": s.prepare, "splits": s.splits, "aliases": list(s.aliases)})
    if as_json:
        print_json(rows)
        return
    for r in rows:
        print(f"{r['format']:<12} {r['dataset']}\n{'':<12} annotations: {r['annotations']}\n{'':<12} layout: {r['layout']}")


def register(app: typer.Typer) -> None:
    from vidlab.apps.cli import data_app

    data_app.command("formats")(formats)
    data_app.command("stats")(stats)
    data_app.command("check")(check)
    data_app.command("prepare")(prepare)
