"""Something-Something v2 (Goyal et al., ICCV 2017): 174 template classes, 220,847 webm clips.

Annotations (20BN/Qualcomm release)::

    something-something-v2-labels.json       {"Approaching something with your camera": "0", ...}
    something-something-v2-train.json        [{"id": "78687", "label": "holding potato next to vicks vaporub bottle",
                                               "template": "Holding [something] next to [something]",
                                               "placeholders": ["potato", "vicks vaporub bottle"]}, ...]
    something-something-v2-validation.json   same fields
    something-something-v2-test.json         [{"id": "1420"}, ...]  (no labels)

The class of a clip is its ``template`` with the brackets removed
(``Holding [something] next to [something]`` -> ``Holding something next to
something``), looked up in the labels file. Instead of the labels json, a
174-line label map (one template per line, 0-based; MMAction2's
``label_map.txt``) is accepted. ``validation`` is the ``val`` split; test
clips have label -1. Horizontal flipping changes some labels ("left"/"right"):
keep ``data.flip=0``.

Layout: ``{id}.webm``, flat (the 20bn-something-something-v2 archive).
"""

from __future__ import annotations

import json
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex, read_labels_file
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

NUM_CLASSES = 174
_PREFIX = "something-something-v2-"
_SPLIT_FILES = {"train": "train", "val": "validation", "test": "test"}


def template_class(template: str) -> str:
    """``'Putting [something] on [something]'`` -> ``'Putting something on something'``."""
    return template.replace("[", "").replace("]", "").strip()


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None


def read_split(path: Path, classes: list[str]) -> list[VideoRecord]:
    data = _json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of clips")
    pos = {c.lower(): i for i, c in enumerate(classes)}
    out = []
    for k, item in enumerate(data):
        if not isinstance(item, dict) or "id" not in item:
            raise DataError(f"{path}: item {k} has no 'id'")
        vid = str(item["id"]).strip()
        label = -1
        if "template" in item:
            name = template_class(str(item["template"]))
            if name.lower() not in pos:
                raise DataError(f"{path}: item {k} (id {vid}): template {item['template']!r} is not a known class")
            label = pos[name.lower()]
        out.append(VideoRecord(f"{vid}.webm", label, video_id=vid))
    return out


def _labels(folder: Path) -> Path:
    for name in (_PREFIX + "labels.json", "labels.json", "label_map.txt", "label_map_sthv2.txt"):
        if (folder / name).is_file():
            return folder / name
    cands = sorted(f for f in folder.iterdir() if f.is_file() and "label" in f.name.lower()
                   and f.suffix.lower() in (".json", ".txt"))
    if not cands:
        raise DataError(f"{folder}: no SSv2 labels file ({_PREFIX}labels.json or a label map)")
    return cands[0]


def load(path: Path, split: int = 1) -> DatasetIndex:
    folder = path.parent if path.is_file() else path
    labels_file = path if path.is_file() and "label" in path.name.lower() else _labels(folder)
    classes = [template_class(c) for c in read_labels_file(labels_file)]
    if len(classes) != NUM_CLASSES:
        raise DataError(f"{labels_file}: {len(classes)} classes, Something-Something v2 has {NUM_CLASSES}")
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    sources = [str(labels_file)]
    for s, suffix in _SPLIT_FILES.items():
        for name in (f"{_PREFIX}{suffix}.json", f"{suffix}.json"):
            f = folder / name
            if f.is_file() and (not path.is_file() or f == path or path == labels_file):
                splits[s] = read_split(f, classes)
                sources.append(str(f))
                break
    return DatasetIndex("ssv2", classes, splits, stats={"unlabelled": sum(r.label == -1 for r in splits["test"])},
                        sources=sources)
