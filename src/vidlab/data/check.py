"""``vidlab data check``: is a dataset on disk usable?

For every distinct video a format's annotations name (or every video file of
a ``folder`` dataset), :func:`check_dataset` finds:

- **missing**: not found under the root (by canonical path, then by file stem
  with any video extension, see :func:`vidlab.data.datasets.registry.locate`);
- **unreadable**: the file does not open or does not decode (empty, truncated,
  corrupt, not a video, unsupported codec, no permission). ``decode="probe"``
  only opens it and reads the header; ``"ends"`` (default) also decodes the
  first, middle and last frames (this is what catches a file cut short);
  ``"full"`` decodes every frame;
- **too short**: fewer than ``min_frames`` frames, or a segment of it (KTH,
  ActivityNet, untrimmed Kinetics) with fewer than ``min_frames`` frames
  inside the video. Segments that run past the end but still hold enough
  frames are counted as ``segments_clamped`` (a warning, not an error).

The set is *usable* when at least one video is fine and the bad fraction
(missing + unreadable + too short, over the videos checked) is at most
``max_bad_fraction``. Videos are checked in parallel worker processes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from vidlab.data.datasets.registry import SPLITS, DatasetIndex, locate
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

DECODE_MODES = ("probe", "ends", "full")


@dataclass
class CheckReport:
    format: str
    root: str
    videos: int = 0
    ok: int = 0
    missing: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)
    too_short: list = field(default_factory=list)
    segments: int = 0
    segments_clamped: int = 0
    segments_too_short: int = 0
    max_bad_fraction: float = 0.05
    min_frames: int = 1
    decode: str = "ends"
    seconds: float = 0.0

    @property
    def bad(self) -> int:
        return len(self.missing) + len(self.unreadable) + len(self.too_short)

    @property
    def bad_fraction(self) -> float:
        return self.bad / self.videos if self.videos else 1.0

    @property
    def usable(self) -> bool:
        return self.ok > 0 and self.bad_fraction <= self.max_bad_fraction

    def to_dict(self) -> dict:
        return {
            "format": self.format, "root": self.root, "usable": self.usable, "videos": self.videos, "ok": self.ok,
            "bad": self.bad, "bad_fraction": self.bad_fraction, "max_bad_fraction": self.max_bad_fraction,
            "num_missing": len(self.missing), "num_unreadable": len(self.unreadable),
            "num_too_short": len(self.too_short), "segments": self.segments,
            "segments_clamped": self.segments_clamped, "segments_too_short": self.segments_too_short,
            "min_frames": self.min_frames, "decode": self.decode, "seconds": round(self.seconds, 3),
            "missing": self.missing, "unreadable": self.unreadable, "too_short": self.too_short,
        }

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)
        return path


def check_video(path: str, segments: list[tuple], min_frames: int = 1, decode: str = "ends") -> dict:
    """Check one file: ``{"status": "ok"|"unreadable"|"too_short", "frames", "reason", "clamped", "short_segments"}``."""
    from vidlab.io import VideoReader
    from vidlab.io.errors import VideoDecodeError

    out = {"path": path, "status": "ok", "frames": None, "reason": None, "clamped": 0, "short_segments": 0}
    try:
        with VideoReader(path, threads=1) as r:
            info = r.info
            n = info.num_frames
            out["frames"] = n
            if n <= 0:
                return {**out, "status": "unreadable", "reason": "no video frames"}
            if decode == "ends":
                r.get_frames(sorted({0, n // 2, n - 1}))
            elif decode == "full":
                decoded = sum(1 for _ in r.iter_frames())
                if decoded < n - 2:
                    return {**out, "status": "unreadable", "reason": f"truncated: expected {n} frames, decoded {decoded}"}
                n = min(n, decoded)
                out["frames"] = n
            fps = info.fps
    except (VideoDecodeError, OSError, EOFError, IndexError, ValueError, RuntimeError) as e:
        msg = str(e)
        if msg.startswith(path + ": "):
            msg = msg[len(path) + 2:]
        return {**out, "status": "unreadable", "reason": msg or type(e).__name__}
    if n < min_frames:
        return {**out, "status": "too_short", "reason": f"{n} frames, need at least {min_frames}"}
    usable = 0
    for start, end, unit in segments:
        scale = fps if unit == "second" else 1.0
        lo = 0 if start is None else int(round(start * scale))
        hi_req = n if end is None else int(round(end * scale))
        hi = min(hi_req, n)
        if hi - lo < min_frames:
            out["short_segments"] += 1
            continue
        usable += 1
        if hi_req > n:
            out["clamped"] += 1
    if segments and usable == 0:
        return {**out, "status": "too_short",
                "reason": f"{n} frames: none of its {len(segments)} segments has {min_frames} frames inside the video"}
    return out


def _segments(recs: list[VideoRecord]) -> list[tuple]:
    return [(r.start, r.end, r.unit) for r in recs if r.start is not None or r.end is not None]


def check_dataset(index: DatasetIndex, root: str | os.PathLike | None, *, splits=SPLITS, min_frames: int = 1,
                  decode: str = "ends", max_bad_fraction: float = 0.05, workers: int | None = None,
                  progress: bool = True) -> CheckReport:
    if decode not in DECODE_MODES:
        raise DataError(f"decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    t0 = time.time()
    splits = [s for s in splits if index.splits.get(s)]
    if not splits:
        raise DataError(f"{index.format}: the annotations list no videos for {', '.join(splits) or 'these splits'}")
    found, missing = locate(index, root, splits=splits)
    rep = CheckReport(index.format, str(root if root is not None else index.default_root or ""),
                      max_bad_fraction=max_bad_fraction, min_frames=min_frames, decode=decode)
    by_file: dict[str, list[VideoRecord]] = {}
    for s in splits:
        for r in found.splits.get(s, []):
            by_file.setdefault(r.path, []).append(r)
    present_ids = {r.video_id or r.path for recs in by_file.values() for r in recs}
    miss: dict[str, VideoRecord] = {}
    for r in missing:
        key = r.video_id or r.path
        if key not in present_ids:
            miss.setdefault(key, r)
    rep.missing = sorted(r.path for r in miss.values())
    rep.segments = sum(len(_segments(v)) for v in by_file.values())
    rep.videos = len(by_file) + len(rep.missing)
    jobs = sorted(by_file)
    results = []
    workers = workers if workers is not None else (os.cpu_count() or 1)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="checking videos", unit="video", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, leave=False)
    if workers <= 1 or len(jobs) <= 1:
        for p in jobs:
            results.append(check_video(p, _segments(by_file[p]), min_frames, decode))
            bar.update(1)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(check_video, p, _segments(by_file[p]), min_frames, decode) for p in jobs]
            for f in as_completed(futs):
                results.append(f.result())
                bar.update(1)
    bar.close()
    for res in sorted(results, key=lambda r: r["path"]):
        rep.segments_clamped += res["clamped"]
        rep.segments_too_short += res["short_segments"]
        if res["status"] == "ok":
            rep.ok += 1
        elif res["status"] == "too_short":
            rep.too_short.append({"path": res["path"], "frames": res["frames"], "reason": res["reason"]})
        else:
            rep.unreadable.append({"path": res["path"], "reason": res["reason"]})
    rep.seconds = time.time() - t0
    return rep
