"""``vidlab data prepare``: the preprocessing the field does before training.

- **resize** (default): re-encode every video to H.264 mp4 with its shorter
  side at ``short_side`` (256 or 320 are the usual; the longer side keeps the
  aspect ratio, rounded to an even number as ``ffmpeg -vf scale=-2:S`` does;
  videos already at or below that size are not enlarged), at the source's
  frame rate, without audio. ``short_side=None`` re-encodes at the source size.
- **trim** (``trim=True``): records that name a time segment of an untrimmed
  video (Kinetics ``{youtube_id}.mp4`` + csv times, ActivityNet segments) are
  cut to that segment and written under the format's trimmed name
  (``{label}/{youtube_id}_{start:06d}_{end:06d}.mp4``,
  ``{label}/v_{id}_{start_ms:07d}_{end_ms:07d}.mp4``), which the loaders
  then find directly.
- **rawframes** (``rawframes=True``): JPEG frames ``img_00001.jpg``,
  ``img_00002.jpg``, ... (1-based, MMAction2's ``img_{:05d}.jpg`` layout, the
  name the rawframes format reads) in one folder per video,
  ``{out}/{video path without extension}/`` (or per trimmed segment).

Outputs mirror the source layout under ``out`` (whitespace in folder names
becomes ``_``, as MMAction2's Kinetics scripts rename class folders). Work runs in ``workers``
processes with a progress bar. It is resumable: an output that already exists
is skipped (``overwrite=True`` redoes it). An output is written under a hidden
temporary name and renamed when complete, so a crash or a failure never
leaves a partial file under the final name and never replaces a good output.
After the run, ``{out}/{split}.csv`` video lists (``path label``; for
rawframes MMAction2's ``dir num_frames label``) list the outputs of each
split whose records map one-to-one to files.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vidlab.data.datasets.registry import SPLITS, DatasetIndex, locate
from vidlab.errors import DataError
from vidlab.io.video import frame_to_rgb

FRAME_TEMPLATE = "img_{:05d}.jpg"
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Job:
    src: str
    dst: str
    start: float | None = None  # seconds
    end: float | None = None
    short_side: int | None = None
    rawframes: bool = False
    crf: int = 18


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """Output size: shorter side = ``short_side`` (never enlarged), longer side even, aspect kept."""
    if not short_side or min(width, height) <= short_side:
        return width - width % 2, height - height % 2
    if width <= height:
        w, h = short_side, height * short_side / width
        h = int(round(h / 2.0)) * 2
    else:
        h, w = short_side, width * short_side / height
        w = int(round(w / 2.0)) * 2
    return w - w % 2, h - h % 2


def _frames(job: Job) -> tuple[float, Iterator[np.ndarray] | None, object]:
    """Open the source; return (fps, generator of resized RGB frames, container)."""
    import av

    try:
        container = av.open(job.src)
    except Exception as e:  # av raises many error types
        raise DataError(f"{job.src}: cannot open ({getattr(e, 'strerror', None) or e})") from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{job.src}: no video stream")
    vs = container.streams.video[0]
    vs.thread_type = "AUTO"
    rate = vs.average_rate or vs.guessed_rate or 25
    fps = float(rate)
    width, height = vs.codec_context.width, vs.codec_context.height
    w, h = scaled_size(width, height, job.short_side)
    start, end = job.start, job.end
    expected = None
    if start is None and end is None:  # a whole video must decode to its frame count
        from vidlab.io import probe_video
        from vidlab.io.video import CLAMP_TOLERANCE

        try:
            expected = probe_video(job.src).num_frames - CLAMP_TOLERANCE
        except Exception as e:
            container.close()
            raise DataError(str(e)) from None
    if start and start > 0:
        try:
            container.seek(int(start / vs.time_base), stream=vs, backward=True, any_frame=False)
        except Exception:
            container.seek(0)

    def gen():
        n = 0
        for frame in container.decode(vs):
            t = frame.time if frame.time is not None else n / fps
            n += 1
            if start is not None and t < start - 0.5 / fps:
                continue
            if end is not None and t >= end - 1e-6:
                break
            yield frame_to_rgb(frame, (w, h), interpolation="BICUBIC")  # ffmpeg scale's default filter
        if expected is not None and n < expected:
            raise DataError(f"{job.src}: truncated: expected {expected + CLAMP_TOLERANCE} frames, decoded {n}")

    return fps, gen(), container


def _run_video(job: Job) -> int:
    from vidlab.io.writer import write_video

    fps, frames, container = _frames(job)
    count = [0]

    def counted():
        for f in frames:
            count[0] += 1
            yield f

    try:
        write_video(job.dst, counted(), fps, crf=job.crf)
    except DataError:
        raise
    except ValueError as e:
        if count[0] == 0:
            raise DataError(f"{job.src}: no frames{_span(job)}") from None
        raise DataError(f"{job.src}: {e}") from None
    finally:
        container.close()
    return count[0]


def _span(job: Job) -> str:
    return f" in [{job.start}, {job.end}) s" if job.start is not None or job.end is not None else ""


def _run_rawframes(job: Job) -> int:
    from PIL import Image

    dst = Path(job.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    for old in dst.parent.glob(f".{dst.name}.partial-*"):
        shutil.rmtree(old, ignore_errors=True)  # left by a killed run
    tmp = dst.parent / f".{dst.name}.partial-{os.getpid()}"
    tmp.mkdir()
    n = 0
    try:
        fps, frames, container = _frames(job)
        try:
            for n, rgb in enumerate(frames, 1):
                Image.fromarray(rgb).save(tmp / FRAME_TEMPLATE.format(n), quality=JPEG_QUALITY)
        finally:
            container.close()
        if n == 0:
            raise DataError(f"{job.src}: no frames{_span(job)}")
        if dst.exists():
            trash = dst.parent / f".{dst.name}.old-{os.getpid()}"
            os.replace(dst, trash)
            os.replace(tmp, dst)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return n


def run_job(job: Job) -> dict:
    """Do one job; never raises for bad input (the result says ``failed`` and why)."""
    t0 = time.time()
    try:
        n = _run_rawframes(job) if job.rawframes else _run_video(job)
        return {"src": job.src, "dst": job.dst, "status": "done", "frames": n, "seconds": time.time() - t0}
    except Exception as e:  # a bad source must not stop the other jobs
        msg = str(e)
        if not msg.startswith(job.src):
            msg = f"{job.src}: {msg or type(e).__name__}"
        return {"src": job.src, "dst": job.dst, "status": "failed", "reason": msg}


# ----------------------------------------------------------------------------------
def plan_jobs(index: DatasetIndex, root: str | os.PathLike | None, out: str | os.PathLike, *, splits=SPLITS,
              short_side: int | None = 256, trim: bool = False, rawframes: bool = False, crf: int = 18):
    """The jobs for an index: ``(jobs, outputs, missing)`` where ``outputs[split]`` is
    ``[(record, output path)]`` for the list files."""
    out = Path(out)
    splits = [s for s in splits if index.splits.get(s)]
    canonical = {r.video_id: r.path for s in splits for r in index.splits[s] if r.video_id}
    found, missing = locate(index, root, splits=splits)
    base = Path(root if root is not None else index.default_root or "/")
    jobs: dict[str, Job] = {}
    outputs: dict[str, list] = {s: [] for s in splits}
    for s in splits:
        for r in found.splits[s]:
            timed = r.unit == "second" and (r.start is not None or r.end is not None)
            if trim and timed:
                rel = Path(canonical.get(r.video_id, f"{r.video_id}.mp4"))
                start, end = r.start, r.end
            else:
                try:
                    rel = Path(os.path.relpath(r.path, base))
                except ValueError:
                    rel = Path(Path(r.path).name)
                if rel.parts and rel.parts[0] == "..":
                    rel = Path(Path(r.path).name)
                start = end = None
            # folders without spaces (Kinetics' "air drumming" -> "air_drumming"), so list files stay parseable
            rel = Path(*[re.sub(r"\s+", "_", p) for p in rel.parts[:-1]], rel.name)
            dst = out / (rel.with_suffix("") if rawframes else rel.with_suffix(".mp4"))
            key = str(dst)
            if key not in jobs:
                jobs[key] = Job(r.path, key, start, end, short_side, rawframes, crf)
            one_to_one = (r.start is None and r.end is None) or (trim and timed)
            if one_to_one:
                outputs[s].append((r, key))
    return list(jobs.values()), outputs, missing


def prepare_dataset(index: DatasetIndex, root: str | os.PathLike | None, out: str | os.PathLike, *, splits=SPLITS,
                    short_side: int | None = 256, trim: bool = False, rawframes: bool = False,
                    workers: int | None = None, overwrite: bool = False, progress: bool = True, crf: int = 18) -> dict:
    """Run the preprocessing (see the module docstring); returns a summary dict."""
    if not index.splits:
        raise DataError(f"{index.format}: nothing to prepare")
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs, outputs, missing = plan_jobs(index, root, out, splits=splits, short_side=short_side, trim=trim,
                                       rawframes=rawframes, crf=crf)
    todo = [j for j in jobs if overwrite or not os.path.exists(j.dst)]
    skipped = len(jobs) - len(todo)
    results = []
    workers = workers if workers is not None else (os.cpu_count() or 1)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="rawframes" if rawframes else "resizing", unit="video", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    if workers <= 1 or len(todo) <= 1:
        for j in todo:
            results.append(run_job(j))
            bar.update(1)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            for f in as_completed([ex.submit(run_job, j) for j in todo]):
                results.append(f.result())
                bar.update(1)
    bar.close()
    failed = sorted((r for r in results if r["status"] == "failed"), key=lambda r: r["src"])
    lists = _write_lists(out, index, outputs, rawframes)
    return {
        "out": str(out), "jobs": len(jobs), "done": sum(r["status"] == "done" for r in results), "skipped": skipped,
        "failed": [{"src": r["src"], "reason": r["reason"]} for r in failed],
        "missing": sorted({r.path for r in missing}), "lists": lists, "seconds": round(time.time() - t0, 3),
    }


def _write_lists(out: Path, index: DatasetIndex, outputs: dict, rawframes: bool) -> dict:
    written = {}
    for s, pairs in outputs.items():
        lines = []
        for r, dst in pairs:
            if not os.path.exists(dst) or r.label == -1:
                continue
            label = " ".join(str(x) for x in r.label) if isinstance(r.label, tuple) else str(r.label)
            if isinstance(r.label, tuple) and not r.label:
                continue
            rel = os.path.relpath(dst, out)
            if any(ch.isspace() for ch in rel):
                continue  # a list line cannot hold it
            if rawframes:
                n = sum(1 for f in os.listdir(dst) if f.startswith("img_"))
                lines.append(f"{rel} {n} {label}")
            else:
                lines.append(f"{rel} {label}")
        if lines:
            name = f"{s}_rawframes.txt" if rawframes else f"{s}.csv"
            (out / name).write_text("\n".join(lines) + "\n")
            written[s] = str(out / name)
    if written:
        (out / "classes.txt").write_text("".join(f"{c}\n" for c in index.classes))
    return written
