"""Feature sequences with temporal ground truth: the data of temporal action localization.

A *features folder* holds one ``{stem}.npy`` ``(N, D)`` array per video and, beside it, the
``{stem}.json`` that :mod:`vidlab.localize.features` (``vidlab features``) writes. Ground truth is
an ActivityNet-style json (``{"database": {video: {"subset", "duration", "fps", "annotations":
[{"segment": [start, end], "label"}]}}}``, e.g. ``activity_net.v1-3.min.json`` or
``vidlab data synth --untrimmed``) or a folder of THUMOS'14 annotation files
(``CLASS_val.txt`` / ``CLASS_test.txt``, read by :func:`vidlab.localize.metrics.read_thumos14`;
subsets ``validation`` and ``test``, the ActionFormer split trains on ``validation``).

Videos and files: the feature file of video ``vid`` is ``{vid}.npy``; when there is none,
``v_{vid}.npy`` or (for ``v_``-prefixed ids) ``{vid[2:]}.npy`` is taken (ActivityNet's two
spellings). Videos of the subset without features are left out (and counted).

The time grid (:class:`FeatureGrid`): feature ``i`` stands for the instant
``offset + i * step`` seconds, the centre of its window:

- from the json of ``vidlab features``: ``step`` = the stride in seconds and ``offset`` = the
  first window's start + half a window (ActionFormer's ``(i * feat_stride + 0.5 * num_frames) / fps``);
  for resampled sequences (``--resample``, ``anet-fixed``) the centres of the equal bins its
  timestamps give;
- without a json (features made elsewhere, e.g. the THUMOS'14 I3D features of ActionFormer:
  16 frames every 4 at 30 fps): from :class:`GridDefaults` (``fps`` in frames per second, ``stride``
  and ``window`` in frames; ``fps`` may come from the ground truth's per-video ``fps``).

Segments in seconds map to grid units with ``g = (t - offset) / step`` (may be slightly negative
at the start, as in the official code). ``duration``: the json's, else the ground truth's, else
the end of the last window.

Training crops (:func:`random_crop`, the official ``truncate_feats``): a sequence longer than
``max_seq_len`` (or, with ``crop_ratio=(lo, hi)``, every sequence, to a random length in
``[lo, hi]`` of its own) is cut to a random window that keeps at least one action with at least
``trunc_thresh`` of its length inside (up to 200 tries); segments are clipped to the window
(widened by the half-window offset) and those with less than ``trunc_thresh`` inside are dropped.

Classes: the sorted label names of the whole ground-truth file (every subset) and the leaves of its
``taxonomy`` when it has one (ActivityNet's 200 classes, the synthetic set's 10), so training and
evaluation agree on the indices whatever a subset happens to contain; a checkpoint stores its list.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidlab.errors import DataError

__all__ = ["FeatureGrid", "GridDefaults", "VideoFeatures", "Annotations", "load_annotations", "scan_features",
           "feature_grid", "match_videos", "TALDataset", "random_crop", "collate"]

PathLike = str | os.PathLike
CACHE_BYTES = 2 << 30


@dataclass(frozen=True)
class FeatureGrid:
    """Feature ``i`` is at ``offset + i * step`` seconds."""

    offset: float
    step: float

    def to_seconds(self, g: Any) -> Any:
        return self.offset + np.asarray(g, dtype=np.float64) * self.step

    def to_grid(self, t: Any) -> Any:
        return (np.asarray(t, dtype=np.float64) - self.offset) / self.step


@dataclass(frozen=True)
class GridDefaults:
    """The grid of features that come without a json: ``fps`` (``None``: the ground truth's
    per-video ``fps``), ``stride`` and ``window`` in frames (ActionFormer THUMOS'14: 4 and 16)."""

    fps: float | None = None
    stride: float | None = None
    window: float | None = None

    def grid(self, fps: float | None) -> FeatureGrid | None:
        fps = self.fps or fps
        if not fps or self.stride is None or self.window is None:
            return None
        return FeatureGrid(offset=0.5 * self.window / fps, step=self.stride / fps)


@dataclass
class VideoFeatures:
    """One video's features and annotations (segments in seconds, labels as class indices)."""

    video_id: str
    path: Path
    num_features: int
    feature_dim: int
    grid: FeatureGrid
    duration: float
    segments: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    meta: dict = field(default_factory=dict)

    def load(self) -> np.ndarray:
        """The ``(N, D)`` float32 features."""
        try:
            return np.load(self.path).astype(np.float32, copy=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{self.path}: cannot read the features ({e})") from None

    def grid_segments(self) -> np.ndarray:
        """The segments in grid units."""
        return self.grid.to_grid(self.segments).reshape(-1, 2)


@dataclass
class Annotations:
    """The ground truth, all subsets: per video its subset, segments (s), label names, duration, fps."""

    videos: dict[str, dict]
    classes: list[str]
    source: str

    def subset(self, name: str | None) -> list[str]:
        """Video ids of a subset (``None``: all), in file order."""
        return [v for v, d in self.videos.items() if name is None or d["subset"] == name]

    def subsets(self) -> list[str]:
        return sorted({d["subset"] for d in self.videos.values()})


def load_annotations(source: PathLike | Mapping) -> Annotations:
    """Ground truth from an ActivityNet-style json (file or dict) or a THUMOS'14 annotation folder."""
    from vidlab.localize import metrics

    where = "<ground truth>" if isinstance(source, Mapping) else str(source)
    if isinstance(source, Mapping):
        data: Any = source
    elif Path(source).is_dir():
        data = metrics.read_thumos14(source)
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{where}: ground-truth file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{where}: cannot read the ground truth ({e})") from None
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: the ground truth is not valid JSON ({e.msg}, line {e.lineno})") from None
    db = data.get("database") if isinstance(data, Mapping) else None
    if not isinstance(db, Mapping):
        raise DataError(f"{where}: not an ActivityNet ground-truth file: no 'database' object "
                        '(expected {"database": {video_id: {"subset", "annotations"}}})')
    videos: dict[str, dict] = {}
    names: set[str] = set()
    for vid, v in db.items():
        if not isinstance(v, Mapping):
            raise DataError(f"{where}: database[{vid!r}] must be an object")
        segs, labels = [], []
        for i, a in enumerate(v.get("annotations") or []):
            try:
                s, e = (float(x) for x in a["segment"])
                label = a["label"]
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{where}: database[{vid!r}].annotations[{i}]: expected "
                                '{"segment": [start, end], "label": name}') from None
            if not (math.isfinite(s) and math.isfinite(e)) or e < s or not isinstance(label, str):
                raise DataError(f"{where}: database[{vid!r}].annotations[{i}]: bad segment [{s}, {e}] or label")
            segs.append((s, e))
            labels.append(label)
            names.add(label)
        videos[str(vid)] = {"subset": str(v.get("subset", "")), "segments": np.asarray(segs, np.float64).reshape(-1, 2),
                            "labels": labels, "duration": _number(v.get("duration")), "fps": _number(v.get("fps"))}
    if not videos:
        raise DataError(f"{where}: the ground truth lists no video")
    return Annotations(videos=videos, classes=sorted(names | _taxonomy_leaves(data.get("taxonomy"))), source=where)


def _taxonomy_leaves(taxonomy: Any) -> set[str]:
    """Names of the ActivityNet taxonomy's leaves (nodes that are nobody's parent)."""
    if not isinstance(taxonomy, list):
        return set()
    nodes = [t for t in taxonomy if isinstance(t, Mapping) and isinstance(t.get("nodeName"), str)]
    parents = {t.get("parentName") for t in nodes}
    return {t["nodeName"] for t in nodes if t["nodeName"] not in parents}


def _number(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def scan_features(folder: PathLike) -> dict[str, Path]:
    """``{stem: path}`` of the ``.npy`` files in a features folder."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: features folder not found")
    found = {p.stem: p for p in sorted(root.glob("*.npy")) if not p.name.startswith(".")}
    if not found:
        extra = " (features.h5 is not read here: write the features with --format npy)" if (
            root / "features.h5").exists() else ""
        raise DataError(f"{root}: no feature files ({{stem}}.npy, as `vidlab features` writes){extra}")
    return found


def _read_meta(npy: Path) -> dict | None:
    js = npy.with_suffix(".json")
    if not js.exists():
        return None
    try:
        meta = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{js}: cannot read the features' json ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{js}: expected a JSON object (the json `vidlab features` writes)")
    return meta


def feature_grid(meta: Mapping | None, defaults: GridDefaults = GridDefaults(), fps: float | None = None,
                 where: str = "") -> FeatureGrid:
    """The :class:`FeatureGrid` of a features json (``None``: from ``defaults`` and ``fps``)."""
    if meta:
        stamps = meta.get("timestamps")
        try:
            if meta.get("resampled") and stamps:
                c = np.asarray(stamps, dtype=np.float64).mean(1)
                step = float(c[1] - c[0]) if len(c) > 1 else float(2 * c[0])
                return FeatureGrid(offset=float(c[0]), step=step)
            step = float(meta["stride"]["seconds"])
            start = float(stamps[0][0]) if stamps else 0.0
            return FeatureGrid(offset=start + 0.5 * float(meta["window"]["seconds"]), step=step)
        except (KeyError, TypeError, ValueError, IndexError):
            raise DataError(f"{where}: the features' json has no usable stride/window/timestamps") from None
    grid = defaults.grid(fps)
    if grid is None:
        raise DataError(f"{where}: no json beside the features (as `vidlab features` writes) to tell their times: "
                        "give the feature grid (--feature-fps, --feature-stride and --feature-window, in frames; "
                        "ActionFormer's THUMOS'14 I3D features: 30 fps, stride 4, window 16)")
    return grid


def match_videos(ids: Sequence[str], stems: Mapping[str, Path]) -> dict[str, Path]:
    """``{video_id: npy}`` for the ids that have a feature file (exact stem, else with ``v_`` added/removed)."""
    out = {}
    for vid in ids:
        for stem in (vid, f"v_{vid}", vid[2:] if vid.startswith("v_") else None):
            if stem is not None and stem in stems:
                out[vid] = stems[stem]
                break
    return out


def _npy_shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(np.load(path, mmap_mode="r").shape)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from None


def _video_features(vid: str, npy: Path, ann: dict | None, classes: Mapping[str, int], defaults: GridDefaults
                    ) -> VideoFeatures:
    shape = _npy_shape(npy)
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise DataError(f"{npy}: features must be an (N, D) array with N, D >= 1, got shape {shape}")
    meta = _read_meta(npy) or {}
    grid = feature_grid(meta, defaults, ann.get("fps") if ann else None, where=str(npy))
    if not grid.step > 0:
        raise DataError(f"{npy}: feature step must be > 0 seconds, got {grid.step}")
    duration = _number(meta.get("duration")) or (ann or {}).get("duration")
    if duration is None:
        duration = float(2 * grid.offset + (shape[0] - 1) * grid.step)  # the end of the last window
    info = {k: meta[k] for k in ("fps", "window", "stride", "preset", "model", "resampled", "tail") if k in meta}
    vf = VideoFeatures(video_id=vid, path=npy, num_features=shape[0], feature_dim=shape[1], grid=grid,
                       duration=float(duration), meta=info)
    if ann is not None:
        vf.segments = ann["segments"]
        vf.labels = np.asarray([classes[lab] for lab in ann["labels"]], dtype=np.int64)
    return vf


class TALDataset(torch.utils.data.Dataset):
    """The videos of a subset that have features (see the module docstring).

    ``features``: a features folder; ``annotations``: :func:`load_annotations`'s result, a ground-truth
    path, or ``None`` (every feature file, no segments: detection only). ``videos``: restrict to these
    ids. ``classes``: the class list (default: the ground truth's). ``item(i)`` / ``dataset[i]`` gives
    ``{"video_id", "feats" (T, D) float tensor, "segments" (N, 2) grid units, "labels" (N,)}``;
    ``training=True`` applies :func:`random_crop` with the given settings.
    """

    def __init__(self, features: PathLike, annotations: Annotations | PathLike | Mapping | None = None,
                 subset: str | None = None, *, videos: Sequence[str] | None = None,
                 classes: Sequence[str] | None = None, defaults: GridDefaults = GridDefaults(),
                 training: bool = False, max_seq_len: int = 2304, trunc_thresh: float = 0.5,
                 crop_ratio: tuple[float, float] | None = None, seed: int = 0):
        self.folder = Path(features)
        stems = scan_features(self.folder)
        ann = annotations if isinstance(annotations, Annotations) or annotations is None else load_annotations(
            annotations)
        self.annotations = ann
        self.classes = list(classes) if classes is not None else (ann.classes if ann is not None else [])
        index = {c: i for i, c in enumerate(self.classes)}
        self.subset = subset
        self.missing: list[str] = []
        if ann is not None:
            ids = ann.subset(subset)
            if not ids:
                raise DataError(f"{ann.source}: no video of subset {subset!r} (the file has: "
                                f"{', '.join(repr(s) for s in ann.subsets()) or 'none'})")
            unknown = sorted({lab for v in ids for lab in ann.videos[v]["labels"]} - set(index))
            if unknown:
                raise DataError(f"{ann.source}: label(s) {', '.join(repr(u) for u in unknown[:3])} of subset "
                                f"{subset!r} are not among the model's {len(self.classes)} classes")
        else:
            ids = [s for s in stems]
        if videos is not None:
            wanted = list(dict.fromkeys(videos))
            have = set(ids)
            absent = [v for v in wanted if v not in have and not (ann is None and match_videos([v], stems))]
            if absent:
                where = f"subset {subset!r} of {ann.source}" if ann is not None else str(self.folder)
                raise DataError(f"video(s) {', '.join(repr(v) for v in absent[:3])} are not in {where}")
            ids = wanted
        found = match_videos(ids, stems)
        self.missing = [v for v in ids if v not in found]
        if not found:
            example = ", ".join(sorted(stems)[:3])
            what = f"subset {subset!r} of {ann.source}" if ann is not None else "the list"
            raise DataError(f"{self.folder}: none of the {len(ids)} video(s) of {what} has a feature file "
                            f"({{video}}.npy); the folder has {len(stems)} ({example}{', ...' if len(stems) > 3 else ''})")
        self.items = [_video_features(v, p, ann.videos[v] if ann is not None else None, index, defaults)
                      for v, p in found.items()]
        dims = {it.feature_dim for it in self.items}
        if len(dims) > 1:
            by = {}
            for it in self.items:
                by.setdefault(it.feature_dim, it.path.name)
            raise DataError(f"{self.folder}: feature dimensions differ between videos: "
                            + ", ".join(f"{d} ({n})" for d, n in sorted(by.items())))
        self.feature_dim = dims.pop()
        self.training = training
        self.max_seq_len = max_seq_len
        self.trunc_thresh = trunc_thresh
        self.crop_ratio = crop_ratio
        self.rng = random.Random(seed)
        # arrays are kept in memory once read when they all fit in CACHE_BYTES (else read per item, mmap)
        self.cache = sum(it.num_features * it.feature_dim * 4 for it in self.items) <= CACHE_BYTES
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def features(self, i: int) -> np.ndarray:
        """The ``(N, D)`` float32 features of video ``i``."""
        if not self.cache:
            return self.items[i].load()
        if i not in self._cache:
            self._cache[i] = self.items[i].load()
        return self._cache[i]

    def __getitem__(self, i: int) -> dict[str, Any]:
        it = self.items[i]
        feats = self.features(i)
        segs = it.grid_segments().astype(np.float32)
        labels = it.labels
        if self.training:
            feats, segs, labels = random_crop(feats, segs, labels, self.max_seq_len, self.trunc_thresh,
                                              it.grid.offset / it.grid.step, self.crop_ratio, self.rng)
        return {"video_id": it.video_id, "feats": torch.from_numpy(np.ascontiguousarray(feats)),
                "segments": torch.from_numpy(np.asarray(segs, np.float32).reshape(-1, 2)),
                "labels": torch.from_numpy(np.asarray(labels, np.int64))}


def random_crop(feats: np.ndarray, segments: np.ndarray, labels: np.ndarray, max_seq_len: int,
                trunc_thresh: float, offset: float, crop_ratio: tuple[float, float] | None,
                rng: random.Random, tries: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The official ``truncate_feats`` (module docstring): ``(feats (L, D), segments (M, 2), labels (M,))``;
    ``offset`` is the half window in grid units (``offset_seconds / step``)."""
    n = len(feats)
    length = max_seq_len
    if n <= max_seq_len:
        if crop_ratio is None:
            return feats, segments, labels
        length = rng.randint(max(round(crop_ratio[0] * n), 1), min(round(crop_ratio[1] * n), n))
        if length == n:
            return feats, segments, labels
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    if not len(segs):  # a video without actions: any window
        st = rng.randint(0, n - length)
        return feats[st:st + length], np.zeros((0, 2), np.float32), np.asarray(labels)[:0]
    area = np.abs(segs[:, 1] - segs[:, 0])
    for _ in range(tries):
        st = rng.randint(0, n - length)
        left = np.maximum(st - offset, segs[:, 0])
        right = np.minimum(st + length + offset, segs[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.clip(right - left, 0, None) / area
        keep = ratio >= trunc_thresh
        if keep.any():
            break
    out = np.stack([left[keep], right[keep]], 1) - st
    return feats[st:st + length], out.astype(np.float32), np.asarray(labels)[keep]


def collate(items: Sequence[dict], divisor: int = 1) -> dict[str, Any]:
    """A batch: ``feats (B, D, T)`` zero-padded to the longest (rounded up to ``divisor``), ``mask (B, T)``,
    and the per-video lists ``segments``, ``labels``, ``video_ids``."""
    lengths = [it["feats"].shape[0] for it in items]
    T = -(-max(lengths) // divisor) * divisor
    D = items[0]["feats"].shape[1]
    x = torch.zeros(len(items), D, T)
    mask = torch.zeros(len(items), T, dtype=torch.bool)
    for b, (it, n) in enumerate(zip(items, lengths)):
        x[b, :, :n] = it["feats"].T
        mask[b, :n] = True
    return {"feats": x, "mask": mask, "segments": [it["segments"] for it in items],
            "labels": [it["labels"] for it in items], "video_ids": [it["video_id"] for it in items]}
