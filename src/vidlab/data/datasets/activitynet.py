"""ActivityNet v1.3 (Caba Heilbron et al., CVPR 2015): 200 classes, untrimmed YouTube videos.

Annotation file ``activity_net.v1-3.min.json``::

    {"version": "VERSION 1.3",
     "taxonomy": [{"nodeId": .., "nodeName": "Drinking coffee", "parentId": .., "parentName": ..}, ...],
     "database": {"-0RncYbJzKg": {"subset": "training" | "validation" | "testing", "duration": 210.1,
                                  "url": "https://www.youtube.com/watch?v=...", "resolution": "640x360",
                                  "annotations": [{"segment": [12.5, 40.2], "label": "Drinking coffee"}, ...]}}}

For clip classification every labelled segment is one record; once located
in an untrimmed video it reads ``start``/``end`` seconds of it (``group`` is
the YouTube id, ``video_id`` the segment's clip name); testing
videos (no public annotations) are one record each with label -1. Classes
are the taxonomy's leaves (200 in v1.3), sorted; without a taxonomy, the
sorted labels. Video-level accuracy aggregates the segments of a video
(:func:`vidlab.evaluation.multilabel.aggregate_clips`).

Layout: untrimmed ``v_{youtube_id}.mp4`` (the crawler's name; ``{youtube_id}.*``
is found too), or trimmed clips from ``vidlab data prepare --trim``:
``{label}/v_{youtube_id}_{start_ms:07d}_{end_ms:07d}.mp4``, which are
preferred when present.
"""

from __future__ import annotations

import json
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

ANNOTATION_FILE = "activity_net.v1-3.min.json"
_SUBSETS = {"training": "train", "validation": "val", "testing": "test"}


def clip_stem(video_id: str, start: float, end: float) -> str:
    """Trimmed-segment file stem: ``v_{id}_{start_ms:07d}_{end_ms:07d}``."""
    return f"v_{video_id}_{int(round(start * 1000)):07d}_{int(round(end * 1000)):07d}"


def taxonomy_leaves(taxonomy: list) -> list[str]:
    parents = {n.get("parentName") for n in taxonomy}
    return sorted({n["nodeName"] for n in taxonomy if n.get("nodeName") and n["nodeName"] not in parents})


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg}, column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise DataError(f"{path}: expected an ActivityNet json with a 'database' object")
    return data


def load(path: Path, split: int = 1) -> DatasetIndex:
    if path.is_dir():
        cands = [path / ANNOTATION_FILE] + sorted(path.glob("activity_net*.json"))
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            raise DataError(f"{cands[0].parent}: no {ANNOTATION_FILE} here")
    data = read_json(path)
    db = data["database"]
    labels = set()
    for vid, v in db.items():
        for a in v.get("annotations") or []:
            if "label" in a:
                labels.add(a["label"])
    classes = taxonomy_leaves(data["taxonomy"]) if data.get("taxonomy") else sorted(labels)
    pos = {c: i for i, c in enumerate(classes)}
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    videos = {"train": 0, "val": 0, "test": 0}
    for vid, v in db.items():
        if not isinstance(v, dict):
            raise DataError(f"{path}: database entry {vid!r} is not an object")
        subset = _SUBSETS.get(str(v.get("subset", "")).lower())
        if subset is None:
            raise DataError(f"{path}: video {vid}: unknown subset {v.get('subset')!r}")
        videos[subset] += 1
        anns = v.get("annotations") or []
        if not anns:
            if subset == "test":
                splits["test"].append(VideoRecord(f"v_{vid}.mp4", -1, video_id=vid, group=vid))
            continue
        for k, a in enumerate(anns):
            try:
                s, e = (float(x) for x in a["segment"])
                label = a["label"]
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: video {vid}, annotation {k}: expected "
                                "{'segment': [start, end], 'label': name}") from None
            if label not in pos:
                raise DataError(f"{path}: video {vid}: label {label!r} is not a class of the taxonomy")
            dur = v.get("duration")
            if dur is not None:
                e = min(e, float(dur))
            if not 0 <= s < e:
                raise DataError(f"{path}: video {vid}, annotation {k}: empty segment [{s}, {e}]")
            stem = clip_stem(vid, s, e)
            splits[subset].append(VideoRecord(f"{label}/{stem}.mp4", pos[label], video_id=stem, group=vid))
    stats = {f"{s}_videos": n for s, n in videos.items()}
    stats["version"] = data.get("version")
    return DatasetIndex("activitynet", classes, splits, stats=stats, sources=[str(path)])


def segment(rec: VideoRecord) -> tuple[float, float]:
    """A segment record's ``(start, end)`` seconds in the untrimmed video (from its clip name)."""
    try:
        _, a, b = (rec.video_id or "").rsplit("_", 2)
        return int(a) / 1000.0, int(b) / 1000.0
    except ValueError:
        raise DataError(f"{rec.path}: not an ActivityNet segment name 'v_{{id}}_{{start_ms}}_{{end_ms}}'") from None


def alternatives(rec: VideoRecord) -> list[tuple[str, dict]]:
    """After the trimmed clip (the canonical name): the untrimmed video, read inside the segment."""
    if rec.label == -1:  # a whole testing video: its canonical name is already the untrimmed one
        return [(rec.group, {})]
    a, b = segment(rec)
    seg = {"start": a, "end": b, "unit": "second"}
    return [(f"v_{rec.group}", seg), (rec.group, seg)]
