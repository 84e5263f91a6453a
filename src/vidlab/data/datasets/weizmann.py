"""Weizmann actions (Blank, Gorelick et al., ICCV 2005 / PAMI 2007).

90 low-resolution (180x144, 25 fps) videos: 9 persons x 10 actions, plus
Lena's second takes of run, skip and walk (``lena_run1``/``lena_run2``,
...), 93 files in all. There is no annotation file: the file name
``{person}_{action}.avi`` is the label. ``wave1`` (one hand) and ``wave2``
(two hands) are different classes; any other trailing digit is a take number.

Protocol: leave-one-person-out. ``--split N`` (1..9) tests on the N-th person
in sorted order (daria, denis, eli, ido, ira, lena, lyova, moshe, shahar) and
trains on the other 8; accuracy is averaged over the 9 folds.

Layout: ``{action}/{person}_{action}.avi`` (the per-action zips unpacked) or
flat. ``--annotations`` is the video folder itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vidlab.data.datasets.registry import VIDEO_EXTENSIONS, DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

CLASSES = ["bend", "jack", "jump", "pjump", "run", "side", "skip", "walk", "wave1", "wave2"]
PERSONS = ["daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar"]

_NAME = re.compile(r"^(?P<person>[a-z]+)_(?P<action>[a-z]+\d?)$")


def parse_name(stem: str) -> tuple[str, int]:
    """``'lena_run2'`` -> ``('lena', index of 'run')``; raises DataError for other names."""
    m = _NAME.match(stem.lower())
    if not m:
        raise DataError(f"{stem}: not a Weizmann file name ('person_action')")
    action = m.group("action")
    if action not in CLASSES:
        action = action.rstrip("0123456789")
    if action not in CLASSES:
        raise DataError(f"{stem}: unknown Weizmann action {m.group('action')!r}")
    return m.group("person"), CLASSES.index(action)


def scan(folder: Path) -> list[VideoRecord]:
    recs = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            if name.startswith(".") or ext.lower() not in VIDEO_EXTENSIONS:
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")
            try:
                person, label = parse_name(stem)
            except DataError as e:
                raise DataError(f"{folder / rel}: {str(e).split(': ', 1)[1]}") from None
            recs.append(VideoRecord(rel, label, video_id=stem, group=person))
    return recs


def load(path: Path, split: int = 1) -> DatasetIndex:
    if not path.is_dir():
        raise DataError(f"{path}: Weizmann has no annotation file; pass the folder with the videos")
    recs = scan(path)
    if not recs:
        raise DataError(f"{path}: no Weizmann videos ('person_action.avi') found")
    persons = sorted({r.group for r in recs})
    if split > len(persons):
        raise DataError(f"{path}: split {split} asks for person {split}, but only {len(persons)} persons were found")
    test_person = persons[split - 1]
    splits = {"train": [r for r in recs if r.group != test_person], "val": [],
              "test": [r for r in recs if r.group == test_person]}
    stats = {"videos": len(recs), "persons": len(persons), "test_person": test_person}
    return DatasetIndex("weizmann", list(CLASSES), splits, stats=stats, sources=[str(path)], default_root=str(path))
