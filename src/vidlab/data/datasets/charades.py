"""Charades (Sigurdsson et al., ECCV 2016): 157 action classes, multi-label.

Annotations: ``Charades_v1_classes.txt`` (``c000 Holding some clothes``) and
``Charades_v1_{train,test}.csv`` with columns
``id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length``;
``actions`` is ``cNNN start end;cNNN start end;...`` in seconds (empty for
videos without actions). The test csv: 1,863 videos, 1,814 with actions,
16,691 action instances. ``Charades_v1_test.csv`` is the split the field
reports on (PySlowFast calls it ``val``); here it is ``test``.

Records: one per video (``{id}.mp4``), ``label`` = the sorted tuple of its
classes (multi-label), ``intervals`` = its action instances, ``group`` = the
subject. Training clips get the classes whose intervals contain one of the
clip's frames (multi-hot; no action = all zeros); evaluation is per video:
clip scores are combined by the max of sigmoids and scored with mAP over the
classes that have positives (:mod:`vidlab.evaluation.multilabel`).

Layout: ``{id}.mp4`` (Charades_v1_480 or the original size), flat.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

NUM_CLASSES = 157
CLASSES_FILE = "Charades_v1_classes.txt"
_ACTION = re.compile(r"^c(\d{3})\s+(-?[\d.]+)\s+(-?[\d.]+)$")
_SPLIT_FILES = {"train": "Charades_v1_train.csv", "test": "Charades_v1_test.csv"}


def read_classes(path: Path) -> list[str]:
    names: dict[int, str] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = re.match(r"^c(\d{3})\s+(.+)$", line)
        if not m:
            raise DataError(f"{path}:{n}: expected 'cNNN name', got {line!r}")
        names[int(m.group(1))] = m.group(2).strip()
    if sorted(names) != list(range(len(names))):
        raise DataError(f"{path}: class ids must be c000..c{len(names) - 1:03d}")
    return [names[i] for i in range(len(names))]


def parse_actions(text: str, where: str) -> tuple[tuple[int, float, float], ...]:
    """``'c077 12.10 18.00;c079 11.80 17.30'`` -> ``((77, 12.1, 18.0), (79, 11.8, 17.3))``."""
    out = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        m = _ACTION.match(part)
        if not m:
            raise DataError(f"{where}: bad action {part!r} (expected 'cNNN start end')")
        c, a, b = int(m.group(1)), float(m.group(2)), float(m.group(3))
        if c >= NUM_CLASSES:
            raise DataError(f"{where}: class c{c:03d} is beyond the {NUM_CLASSES} Charades classes")
        out.append((c, a, b))
    return tuple(out)


def read_csv(path: Path) -> list[VideoRecord]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in reader.fieldnames or "actions" not in reader.fieldnames:
        raise DataError(f"{path}:1: expected a Charades header with 'id' and 'actions', got {reader.fieldnames}")
    out, seen = [], set()
    for row in reader:
        where = f"{path}:{reader.line_num}"
        vid = (row.get("id") or "").strip()
        if not vid:
            raise DataError(f"{where}: empty video id")
        if vid in seen:
            raise DataError(f"{where}: video {vid} listed twice")
        seen.add(vid)
        acts = parse_actions(row.get("actions") or "", where)
        label = tuple(sorted({c for c, _, _ in acts}))
        out.append(VideoRecord(f"{vid}.mp4", label, video_id=vid, group=(row.get("subject") or "").strip() or None,
                               intervals=acts))
    return out


def load(path: Path, split: int = 1) -> DatasetIndex:
    folder = path.parent if path.is_file() else path
    files = {}
    if path.is_file():
        files["train" if "train" in path.name.lower() else "test"] = path
    else:
        for s, name in _SPLIT_FILES.items():
            if (folder / name).is_file():
                files[s] = folder / name
        if not files:
            raise DataError(f"{folder}: no {' or '.join(_SPLIT_FILES.values())} here")
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    for s, f in files.items():
        splits[s] = read_csv(f)
    sources = [str(f) for f in files.values()]
    if (folder / CLASSES_FILE).is_file():
        classes = read_classes(folder / CLASSES_FILE)
        sources.append(str(folder / CLASSES_FILE))
    else:
        classes = [f"c{i:03d}" for i in range(NUM_CLASSES)]
    recs = [r for s in files for r in splits[s]]
    top = max((c for r in recs for c in r.label), default=-1)
    if top >= len(classes):
        raise DataError(f"{folder / CLASSES_FILE}: {len(classes)} classes, but the csv uses c{top:03d}")
    stats = {
        "videos_with_actions": sum(1 for r in recs if r.label),
        "action_instances": sum(len(r.intervals) for r in recs),
        "classes_used": len({c for r in recs for c in r.label}),
    }
    return DatasetIndex("charades", classes, splits, multi_label=True, stats=stats, sources=sources)
