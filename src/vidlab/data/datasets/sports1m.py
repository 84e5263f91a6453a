"""Sports-1M (Karpathy et al., CVPR 2014): 487 sports classes, ~1.1 M YouTube videos.

The official files (the ``sports-1m-dataset`` repository): ``labels.txt``, one
class name per line (line k = class k, 0-based), and
``original/train_partition.txt`` / ``original/test_partition.txt`` with
one ``URL label[,label...]`` line per video, e.g.
``https://www.youtube.com/watch?v=oHg5SJYRHA0 208,73`` (about 5% of the videos
carry several labels, so the dataset is multi-label when any line does; a
single-label model trains on the first label with ``first_label_only``).
``--annotations`` may be that repository folder, its ``original``/``cleaned``
sub-folder or one partition file. There is no official validation set.

Layout: ``{youtube_id}.mp4`` (any extension, any sub-folder).
"""

from __future__ import annotations

import re
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex, read_labels_file
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

NUM_CLASSES = 487
_YID = re.compile(r"(?:[?&]v=|youtu\.be/|/embed/|/v/)([A-Za-z0-9_-]{6,})")


def youtube_id(url: str) -> str | None:
    m = _YID.search(url)
    if m:
        return m.group(1)
    return url if re.fullmatch(r"[A-Za-z0-9_-]{6,}", url) else None


def read_partition(path: Path, num_classes: int) -> list[VideoRecord]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise DataError(f"{path}:{n}: expected 'URL label[,label...]', got {line[:60]!r}")
        yid = youtube_id(parts[0])
        if yid is None:
            raise DataError(f"{path}:{n}: no YouTube id in {parts[0]!r}")
        try:
            labels = tuple(int(x) for x in parts[1].replace(" ", "").split(",") if x != "")
        except ValueError:
            raise DataError(f"{path}:{n}: labels must be integers, got {parts[1]!r}") from None
        if not labels or min(labels) < 0 or max(labels) >= num_classes:
            raise DataError(f"{path}:{n}: labels {parts[1]!r} outside [0, {num_classes})")
        out.append(VideoRecord(f"{yid}.mp4", labels[0] if len(labels) == 1 else labels, video_id=yid))
    return out


def load(path: Path, split: int = 1, first_label_only: bool = False) -> DatasetIndex:
    if path.is_file():
        files = {"train" if "train" in path.name.lower() else "test": path}
        base = path.parent
    else:
        base = path
        folder = next((d for d in (path, path / "original", path / "cleaned")
                       if (d / "train_partition.txt").is_file() or (d / "test_partition.txt").is_file()), None)
        if folder is None:
            raise DataError(f"{path}: no train_partition.txt/test_partition.txt here")
        files = {s: folder / f"{s}_partition.txt" for s in ("train", "test") if (folder / f"{s}_partition.txt").is_file()}
    labels_file = next((d / "labels.txt" for d in (base, base.parent) if (d / "labels.txt").is_file()), None)
    classes = read_labels_file(labels_file) if labels_file else [str(i) for i in range(NUM_CLASSES)]
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    for s, f in files.items():
        recs = read_partition(f, len(classes))
        if first_label_only:
            recs = [VideoRecord(r.path, r.label[0] if isinstance(r.label, tuple) else r.label, video_id=r.video_id)
                    for r in recs]
        splits[s] = recs
    multi = sum(isinstance(r.label, tuple) for rs in splits.values() for r in rs)
    return DatasetIndex("sports1m", classes, splits, multi_label=multi > 0, stats={"multi_label_videos": multi},
                        sources=[str(f) for f in files.values()] + ([str(labels_file)] if labels_file else []))
