"""HMDB-51 (Kuehne et al., ICCV 2011): 51 classes, 6,766 clips, 3 splits.

The official ``testTrainMulti_7030_splits`` folder holds, per class and
split, ``{class}_test_split{1,2,3}.txt`` with one ``video.avi ID`` line per
clip of the class: ``1`` = train, ``2`` = test, ``0`` = not used in that
split (70 train / 30 test clips per class; the rest unused). Split 1: 3,570
train, 1,530 test, 1,666 unused. Classes are the sorted class names (the
order of MMAction2's label map). There is no official validation set.

Layout: ``{class}/{video}.avi`` (each class archive unpacked).
"""

from __future__ import annotations

import re
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d)\.txt$")
_SPLIT_OF = {"1": "train", "2": "test", "0": "unused"}


def split_files(folder: Path) -> dict[int, dict[str, Path]]:
    """``{split: {class: file}}`` for the split files in ``folder``."""
    out: dict[int, dict[str, Path]] = {}
    for f in sorted(folder.iterdir()):
        m = _FILE.match(f.name)
        if m and f.is_file():
            out.setdefault(int(m.group("split")), {})[m.group("cls")] = f
    return out


def read_split_file(path: Path, label: int, cls: str) -> dict[str, list[VideoRecord]]:
    out: dict[str, list[VideoRecord]] = {"train": [], "test": [], "unused": []}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in _SPLIT_OF:
            raise DataError(f"{path}:{n}: expected 'video.avi 0|1|2', got {line!r}")
        stem = Path(parts[0]).stem
        out[_SPLIT_OF[parts[1]]].append(VideoRecord(f"{cls}/{parts[0]}", label, video_id=stem))
    return out


def _folder(path: Path, split: int) -> tuple[Path, int]:
    if path.is_file():
        m = _FILE.match(path.name)
        if m:
            split = int(m.group("split"))
        path = path.parent
    for cand in (path, path / "testTrainMulti_7030_splits", path / "annotations" / "testTrainMulti_7030_splits"):
        if cand.is_dir() and any(_FILE.match(f.name) for f in cand.iterdir()):
            return cand, split
    raise DataError(f"{path}: no '{{class}}_test_split{{N}}.txt' files here (the testTrainMulti_7030_splits folder)")


def load(path: Path, split: int = 1) -> DatasetIndex:
    folder, split = _folder(path, split)
    files = split_files(folder)
    if split not in files:
        raise DataError(f"{folder}: no split {split} files ('*_test_split{split}.txt')")
    per_class = files[split]
    classes = sorted(per_class)
    others = {s: set(f) for s, f in files.items() if s != split}
    for s, cls in others.items():
        if cls != set(classes):
            diff = sorted(set(classes) ^ cls)
            raise DataError(f"{folder}: split {s} and split {split} cover different classes (e.g. {diff[0]!r})")
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    unused = 0
    for label, cls in enumerate(classes):
        parts = read_split_file(per_class[cls], label, cls)
        splits["train"] += parts["train"]
        splits["test"] += parts["test"]
        unused += len(parts["unused"])
    return DatasetIndex("hmdb51", classes, splits, split=split, stats={"unused": unused},
                        sources=[str(per_class[c]) for c in classes])
