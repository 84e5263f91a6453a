"""Kinetics-400/600/700 (Kay et al. 2017; Carreira et al. 2018, 2019).

Annotations: the official csv files, ``label,youtube_id,time_start,time_end,split``
(K400 adds ``is_cc``; the test csvs of the first releases have no ``label``).
Names: ``kinetics-400_{train,val,test}.csv`` (also ``kinetics_400_*``,
``kinetics400_*``), or K700-2020's ``train.csv``/``validate.csv``/``test.csv``.
``--annotations`` may be one csv or the folder holding them (only the files
of the chosen version are read). ``split`` values ``val``/``validate`` are
both ``val``. Classes are the sorted label names (the order of the official
label maps); a ``label_map_k{N}.txt`` / ``kinetics_{N}_labels.csv`` in the
same folder fixes the order instead, and every csv label must be in it.
K400 val: 19,906 clips, 400 classes.

Videos, the usual local naming (the ActivityNet crawler's)::

    {label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4

with label folders spelled with spaces or underscores, or flat; test clips
without a label may sit anywhere (``test/`` is the crawler's choice). An
untrimmed download ``{youtube_id}.mp4`` also works: the record then reads
only ``[time_start, time_end)`` seconds of it (``vidlab data prepare --trim``
cuts it once for all). :func:`write_missing` writes the missing clips as csv
rows, ready for a downloader.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex, read_labels_file
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

VERSIONS = (400, 600, 700)
_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
           "validation": "val", "test": "test", "testing": "test"}


def clip_stem(youtube_id: str, start: float, end: float) -> str:
    """``{youtube_id}_{start:06d}_{end:06d}``, the crawler's trimmed-clip name."""
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}"


@dataclass(frozen=True)
class Row:
    """One csv row."""

    label: str | None
    youtube_id: str
    time_start: float
    time_end: float
    split: str
    line: int

    @property
    def stem(self) -> str:
        return clip_stem(self.youtube_id, self.time_start, self.time_end)


def read_rows(path: Path) -> list[Row]:
    """The rows of a Kinetics csv; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: empty csv") from None
    need = ("youtube_id", "time_start", "time_end")
    if not all(k in header for k in need):
        raise DataError(f"{path}:1: expected a header with youtube_id,time_start,time_end[,label,split], got {header}")
    col = {k: header.index(k) for k in header}
    out = []
    for row in reader:
        n = reader.line_num
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise DataError(f"{path}:{n}: expected {len(header)} fields, got {len(row)}")
        yid = row[col["youtube_id"]].strip()
        try:
            start, end = float(row[col["time_start"]]), float(row[col["time_end"]])
        except ValueError:
            raise DataError(f"{path}:{n}: time_start/time_end must be numbers, got "
                            f"{row[col['time_start']]!r}, {row[col['time_end']]!r}") from None
        if not yid or end <= start or start < 0:
            raise DataError(f"{path}:{n}: bad clip {yid!r} [{start}, {end}]")
        split_raw = row[col["split"]].strip().lower() if "split" in col else _split_from_name(path)
        split = _SPLITS.get(split_raw)
        if split is None:
            raise DataError(f"{path}:{n}: unknown split {split_raw!r}")
        name = row[col["label"]].strip() if "label" in col else ""
        out.append(Row(name or None, yid, start, end, split, n))
    return out


def _split_from_name(path: Path) -> str:
    n = path.stem.lower()
    for key in ("train", "validate", "val", "test"):
        if key in n:
            return key
    return "train"


def _version_files(folder: Path, version: int | None) -> dict[int | None, list[Path]]:
    out: dict[int | None, list[Path]] = {}
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() != ".csv" or not f.is_file() or "label" in f.name.lower():
            continue
        m = re.search(r"kinetics[-_]?(\d{3})", f.name.lower())
        v = int(m.group(1)) if m else None
        if m is None and f.stem.lower() not in ("train", "val", "validate", "validation", "test"):
            continue
        out.setdefault(v, []).append(f)
    return out


def _label_map(folder: Path, version: int) -> Path | None:
    for name in (f"label_map_k{version}.txt", f"kinetics_{version}_labels.csv", f"kinetics_{version}_labels_slowfast.csv",
                 f"kinetics{version}_labels.txt"):
        if (folder / name).is_file():
            return folder / name
    return None


def load(path: Path, split: int = 1, version: int | None = None) -> DatasetIndex:
    if path.is_file():
        files, folder = [path], path.parent
        if version is None:
            m = re.search(r"kinetics[-_]?(\d{3})", path.name.lower())
            version = int(m.group(1)) if m else None
    else:
        folder = path
        by_version = _version_files(folder, version)
        if version is None:
            known = [v for v in by_version if v is not None]
            if len(known) > 1:
                raise DataError(f"{folder}: csv files of several Kinetics versions ({known}); "
                                "pick one with --format kinetics400/600/700")
            version = known[0] if known else None
        files = by_version.get(version, []) or by_version.get(None, [])
        if not files:
            raise DataError(f"{folder}: no Kinetics{'-' + str(version) if version else ''} csv files here")
    rows: list[Row] = []
    for f in files:
        rows += read_rows(f)
    names = sorted({r.label for r in rows if r.label is not None})
    label_map = _label_map(folder, version) if version else None
    sources = [str(f) for f in files]
    if label_map is not None:
        classes = read_labels_file(label_map)
        sources.append(str(label_map))
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise DataError(f"{label_map}: label {unknown[0]!r} of the csv files is not in this label map")
    else:
        classes = names
    if version and len(classes) > version:
        raise DataError(f"{files[0]}: {len(classes)} classes, more than Kinetics-{version} has")
    pos = {c: i for i, c in enumerate(classes)}
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    for r in rows:
        label = pos[r.label] if r.label is not None else -1
        folder = r.label if r.label is not None else "test"
        splits[r.split].append(VideoRecord(f"{folder}/{r.stem}.mp4", label, video_id=r.stem, group=r.youtube_id))
    stats = {"version": version, "unlabelled": sum(1 for r in rows if r.label is None),
             "youtube_videos": len({r.youtube_id for r in rows})}
    return DatasetIndex(f"kinetics{version or ''}", classes, splits, stats=stats, sources=sources)


def segment(rec: VideoRecord) -> tuple[float, float]:
    """The clip's ``(time_start, time_end)`` in the source YouTube video (from its name)."""
    try:
        _, a, b = (rec.video_id or "").rsplit("_", 2)
        return float(a), float(b)
    except ValueError:
        raise DataError(f"{rec.path}: not a Kinetics clip name '{{youtube_id}}_{{start:06d}}_{{end:06d}}'") from None


def alternatives(rec: VideoRecord) -> list[tuple[str, dict]]:
    """The untrimmed ``{youtube_id}.*``, read between time_start and time_end."""
    a, b = segment(rec)
    return [(rec.group, {"start": a, "end": b, "unit": "second"})]


def write_missing(missing: list[VideoRecord], classes: list[str], path: str | Path) -> Path:
    """The missing clips as ``label,youtube_id,time_start,time_end,split`` rows."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "youtube_id", "time_start", "time_end", "path"])
        for r in missing:
            a, b = segment(r)
            w.writerow([classes[r.label] if r.label >= 0 else "", r.group, int(a), int(b), r.path])
    return path
