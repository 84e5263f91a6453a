"""UCF-101 (Soomro, Zamir, Shah, 2012): 101 classes, 13,320 clips, 3 splits.

The official ``ucfTrainTestlist`` holds ``classInd.txt`` (``1 ApplyEyeMakeup``,
1-based), ``trainlist0{1,2,3}.txt`` (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``)
and ``testlist0{1,2,3}.txt`` (path only; the class is the folder). Splits are
group-disjoint (groups g01-g07 are the test set of split 1, g08-g14 of
split 2, g15-g21 of split 3); a record's ``group`` is ``gNN``.
Split 1: 9,537 train / 3,783 test. There is no official validation set.

Layout: ``{Class}/v_{Class}_gNN_cNN.avi`` (UCF101.rar unpacked). Note the
folder ``HandstandPushups`` holds ``v_HandStandPushups_*`` files, exactly as
the lists say.
"""

from __future__ import annotations

import re
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

_GROUP = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)


def read_class_index(path: Path) -> list[str]:
    """``classInd.txt`` -> names, index 0 = id 1."""
    ids: dict[int, str] = {}
    for n, raw in enumerate(_lines(path), 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{path}:{n}: expected 'id ClassName', got {line!r}")
        i = int(parts[0])
        if i in ids:
            raise DataError(f"{path}:{n}: class id {i} listed twice")
        ids[i] = parts[1]
    if not ids:
        raise DataError(f"{path}: no classes listed")
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise DataError(f"{path}: class ids must be 1..{len(ids)}")
    return [ids[i] for i in range(1, len(ids) + 1)]


def read_split_list(path: Path, classes: list[str]) -> list[VideoRecord]:
    """A ``trainlist``/``testlist`` file; a train label must agree with the folder."""
    pos = {c.lower(): i for i, c in enumerate(classes)}
    out = []
    for n, raw in enumerate(_lines(path), 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (1, 2) or "/" not in parts[0]:
            raise DataError(f"{path}:{n}: expected 'Class/v_Class_gNN_cNN.avi [label]', got {line!r}")
        rel = parts[0]
        folder = rel.split("/", 1)[0]
        if folder.lower() not in pos:
            raise DataError(f"{path}:{n}: class folder {folder!r} is not in classInd.txt")
        label = pos[folder.lower()]
        if len(parts) == 2:
            if not parts[1].isdigit() or int(parts[1]) - 1 != label:
                raise DataError(f"{path}:{n}: label {parts[1]!r} does not match the folder {folder!r} "
                                f"(class {label + 1} in classInd.txt)")
        g = _GROUP.search(rel)
        stem = Path(rel).stem
        out.append(VideoRecord(rel, label, video_id=stem, group=f"g{int(g.group(1)):02d}" if g else None))
    if not out:
        raise DataError(f"{path}: no videos listed")
    return out


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None


def _folder(path: Path, split: int) -> tuple[Path, int]:
    if path.is_file():
        m = re.search(r"(?:train|test)list0?(\d)", path.name, re.IGNORECASE)
        if m:
            split = int(m.group(1))
        path = path.parent
    for cand in (path, path / "ucfTrainTestlist", path / "annotations"):
        if (cand / "classInd.txt").is_file():
            return cand, split
    raise DataError(f"{path}: no classInd.txt here (the ucfTrainTestlist folder)")


def load(path: Path, split: int = 1) -> DatasetIndex:
    folder, split = _folder(path, split)
    classes = read_class_index(folder / "classInd.txt")
    train_file, test_file = folder / f"trainlist0{split}.txt", folder / f"testlist0{split}.txt"
    splits = {"train": [], "val": [], "test": []}
    sources = [str(folder / "classInd.txt")]
    for name, file in (("train", train_file), ("test", test_file)):
        if file.is_file():
            splits[name] = read_split_list(file, classes)
            sources.append(str(file))
    if not splits["train"] and not splits["test"]:
        raise DataError(f"{folder}: neither {train_file.name} nor {test_file.name} found")
    overlap = {r.path for r in splits["train"]} & {r.path for r in splits["test"]}
    if overlap:
        raise DataError(f"{folder}: split {split} lists {len(overlap)} videos in both train and test, "
                        f"e.g. {sorted(overlap)[0]}")
    return DatasetIndex("ucf101", classes, splits, split=split, sources=sources)
