"""AVA (Gu et al., CVPR 2018): spatio-temporal action detection, one keyframe per second.

Annotation files (the official release, also what PySlowFast and MMAction2 read):

* ``ava_{train,val}_v2.{1,2}.csv``: ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``,
  boxes normalised to [0, 1], one row per (box, action); a person box with
  three actions has three rows. Timestamps are whole seconds of the movie,
  ``902 .. 1798`` (the movies are cut to 900..1800 s), written ``0902`` or
  ``902``.
* label maps: ``ava_action_list_v2.{1,2}[_for_activitynet_2018].pbtxt``
  (``label { name: ".." label_id: N label_type: .. }`` or
  ``item { name: ".." id: N }``; the evaluation subset has 60 of the 80
  classes), ``label_map.txt`` (``id: name``, MMAction2) or a ``.names`` file
  (line i = class i + 1, PySlowFast's demo).
* ``ava_{train,val}_excluded_timestamps_v2.{1,2}.csv``: ``video_id,timestamp``
  keyframes that are not annotated (skipped in training and evaluation).
* person proposals, e.g. ``ava_val_predicted_boxes.csv``:
  ``video_id,timestamp,x1,y1,x2,y2,,score`` (the action column empty).
* frame lists (PySlowFast): ``frame_lists/{train,val}.csv`` with the header
  ``original_vido_id video_idx frame_id path labels`` and one line per
  extracted 30 fps frame, space separated.

A training/test item (:class:`AvaDataset`) is a keyframe: the clip of
``num_frames`` frames ``sampling_rate`` apart centred on it (PySlowFast
``get_sequence``: frame ``center + (i - num_frames // 2) * rate`` clamped to
the video; AVA: 32 frames at stride 2 of 30 fps), every box of that keyframe
and its multi-hot labels. Training boxes are the ground truth plus, optionally,
detected boxes whose score is at least ``proposal_score`` (PySlowFast
``AVA.DETECTION_SCORE_THRESH``, 0.9 in its configs for training, 0.8 for test);
a detected box gets the labels of the ground-truth box it overlaps with IoU
>= ``match_iou`` (0.9: MMAction2's ``MaxIoUAssignerAVA`` ``pos_iou_thr``) and
is a negative (no action) otherwise. ``box_jitter`` moves each training box
edge by up to that fraction of the box's width/height.

Registered as the ``ava`` format (:func:`load`) in
:mod:`vidlab.data.datasets.registry`: records are the videos of each split
(``label`` = the set of classes seen in it, ``start``/``end`` the annotated
seconds).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlab.errors import DataError

__all__ = [
    "AVA_FPS",
    "AVA_START_SECOND",
    "AvaDataset",
    "KeyframeBoxes",
    "collate_detection",
    "keyframe_indices",
    "load",
    "read_ava_csv",
    "read_exclusions",
    "read_frame_list",
    "read_label_map",
]

AVA_FPS = 30
AVA_START_SECOND = 900
AVA_VALID_SECONDS = (902, 1798)


# ----------------------------------------------------------------------------------
# files
def read_label_map(path: str | os.PathLike) -> OrderedDict[int, str]:
    """``{action_id: name}`` from a pbtxt, an ``id: name`` txt or a ``.names`` file (ids in file order)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read label map ({e.strerror})") from None
    out: OrderedDict[int, str] = OrderedDict()
    if "{" in text:  # pbtxt: blocks of name / id (or label_id) fields in any order
        for n, block in enumerate(re.findall(r"\{([^{}]*)\}", text), 1):
            name = re.search(r'name:\s*"([^"]*)"', block)
            cid = re.search(r"\b(?:label_id|id):\s*(-?\d+)", block)
            if not name or not cid:
                raise DataError(f"{path}: block {n} lacks a name or an id: {block.strip()!r}")
            out[int(cid.group(1))] = name.group(1)
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if lines and all(re.match(r"^\d+\s*:", ln) for ln in lines):
            for ln in lines:
                cid, name = ln.split(":", 1)
                out[int(cid)] = name.strip()
        else:  # one name per line, line i = id i + 1
            for i, ln in enumerate(lines, 1):
                out[i] = ln
    if not out:
        raise DataError(f"{path}: no classes found")
    return out


@dataclass
class KeyframeBoxes:
    """The boxes of one keyframe: ``boxes (N, 4)`` normalised x1,y1,x2,y2; per box the
    set of action ids, the person id (-1 if none) and the score (1 for ground truth)."""

    boxes: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    person_ids: list = field(default_factory=list)
    scores: list = field(default_factory=list)


def _ts(value: str, where: str) -> int:
    try:
        f = float(value)
    except ValueError:
        raise DataError(f"{where}: timestamp must be a number, got {value!r}") from None
    if f != int(f):
        raise DataError(f"{where}: AVA timestamps are whole seconds, got {value!r}")
    return int(f)


def read_ava_csv(path: str | os.PathLike, *, class_ids: set[int] | None = None,
                 min_score: float | None = None) -> OrderedDict[tuple[str, int], KeyframeBoxes]:
    """Group an AVA csv by keyframe ``(video_id, second)``; rows of one box merge into one box.

    Ground truth: 8 columns (the last is the person id) or 7. Detections: 8
    columns with the score last, the action column may be empty (a person
    proposal). ``class_ids``: drop rows whose action is outside (rows with no
    action are kept). ``min_score``: drop rows scoring below (and read column 8
    as a score rather than a person id).
    """
    path = Path(path)
    out: OrderedDict[tuple[str, int], KeyframeBoxes] = OrderedDict()
    try:
        text = path.read_text()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        where = f"{path}:{n}"
        if len(row) not in (7, 8):
            raise DataError(f"{where}: expected 7 or 8 columns (video_id,timestamp,x1,y1,x2,y2,action[,person_id|score]), "
                            f"got {len(row)}")
        try:
            box = [float(v) for v in row[2:6]]
            action = int(row[6]) if row[6].strip() else -1
            last = float(row[7]) if len(row) == 8 and row[7].strip() else None
        except ValueError:
            raise DataError(f"{where}: malformed row {','.join(row)!r}") from None
        if not all(math.isfinite(v) for v in box) or box[2] < box[0] or box[3] < box[1]:
            raise DataError(f"{where}: box must be x1,y1,x2,y2 with x1 <= x2 and y1 <= y2, got {row[2:6]}")
        if class_ids is not None and action != -1 and action not in class_ids:
            continue
        score, pid = 1.0, -1
        if min_score is not None:
            score = 1.0 if last is None else last
            if score < min_score:
                continue
        elif last is not None:
            pid = int(last)
        key = (row[0], _ts(row[1], where))
        kf = out.setdefault(key, KeyframeBoxes())
        rounded = [round(v, 4) for v in box]
        for i, b in enumerate(kf.boxes):  # same box (and person), another action
            if b == rounded and kf.person_ids[i] == pid:
                if action != -1:
                    kf.actions[i].add(action)
                kf.scores[i] = max(kf.scores[i], score)
                break
        else:
            kf.boxes.append(rounded)
            kf.actions.append({action} if action != -1 else set())
            kf.person_ids.append(pid)
            kf.scores.append(score)
    return out


def read_exclusions(path: str | os.PathLike | None) -> set[tuple[str, int]]:
    if path is None:
        return set()
    path = Path(path)
    out = set()
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        if len(parts) != 2:
            raise DataError(f"{path}:{n}: expected 'video_id,timestamp', got {line!r}")
        out.add((parts[0], _ts(parts[1], f"{path}:{n}")))
    return out


def read_frame_list(path: str | os.PathLike, root: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """PySlowFast frame list: ``{video_id: [frame paths in frame_id order]}``."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if not lines or not lines[0].split() or lines[0].split()[0] != "original_vido_id":
        raise DataError(f"{path}:1: expected the header 'original_vido_id video_idx frame_id path labels'")
    frames: dict[str, dict[int, str]] = {}
    for n, line in enumerate(lines[1:], 2):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 4:
            raise DataError(f"{path}:{n}: expected 'video_id video_idx frame_id path [labels]', got {line!r}")
        try:
            fid = int(parts[2])
        except ValueError:
            raise DataError(f"{path}:{n}: frame_id must be an integer, got {parts[2]!r}") from None
        p = parts[3] if os.path.isabs(parts[3]) else str(base / parts[3])
        frames.setdefault(parts[0], {})[fid] = p
    return {v: [d[k] for k in sorted(d)] for v, d in frames.items()}


def keyframe_indices(second: int, *, fps: float = AVA_FPS, start_second: int = AVA_START_SECOND,
                     num_frames: int = 32, sampling_rate: int = 2, num_video_frames: int | None = None) -> np.ndarray:
    """Frame indices of the clip around a keyframe (PySlowFast ``get_sequence``), clamped to the video."""
    center = round((second - start_second) * fps)
    idx = center + (np.arange(num_frames) - num_frames // 2) * sampling_rate
    hi = (num_video_frames - 1) if num_video_frames is not None else None
    return np.clip(idx, 0, hi)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    def area(x):
        return (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])

    union = area(a)[:, None] + area(b)[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


# ----------------------------------------------------------------------------------
class AvaDataset(Dataset):
    """Keyframe clips with their boxes and multi-hot labels.

    Args:
        annotations: the ground-truth csv (or None with ``proposals`` at test time).
        label_map: pbtxt/txt/names file, or ``{id: name}``; classes are its ids
            in file order (the model's output ``k`` is the ``k``-th id).
        videos: folder of ``{video_id}.{mp4,mkv,webm,avi}`` (the 15-minute cuts,
            or any video whose frame 0 is second ``start_second``), or a frame
            list (PySlowFast ``frame_lists/*.csv``).
        mode: ``"train"`` (scale jitter, random crop, optional flip and box
            jitter, ground truth + proposals) or ``"test"`` (short side
            ``test_scale``, the whole frame, proposals if given, else ground truth).
        proposals: detected person boxes csv; kept if ``score >= proposal_score``.
        exclusions: csv of ``video_id,timestamp`` to skip.
        fps, start_second, seconds: the clock (AVA: 30, 900, (902, 1798)).
            ``seconds=None`` keeps every keyframe in the csv.
    Item: ``{"clip": (C, T, H, W) float, "boxes": (N, 4) pixel x1,y1,x2,y2 of the
    clip, "labels": (N, C) float multi-hot, "scores": (N,), "video_id", "second",
    "index"}``; :func:`collate_detection` batches items into the model's
    ``(inputs, boxes (N, 5))`` form.
    """

    def __init__(self, annotations: str | os.PathLike | None, label_map, videos: str | os.PathLike, *,
                 mode: str = "train", num_frames: int = 32, sampling_rate: int = 2, fps: float = AVA_FPS,
                 start_second: int = AVA_START_SECOND, seconds: tuple[int, int] | None = AVA_VALID_SECONDS,
                 proposals: str | os.PathLike | None = None, proposal_score: float | None = None,
                 match_iou: float = 0.9, use_groundtruth: bool | None = None,
                 exclusions: str | os.PathLike | None = None, train_scale: tuple[int, int] = (256, 320),
                 crop_size: int = 224, test_scale: int = 256, flip: bool = True, box_jitter: float = 0.0,
                 mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), seed: int = 0, backend: str = "pyav",
                 cache_videos: bool = False):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        self.mode = mode
        self.labels = label_map if isinstance(label_map, dict) else read_label_map(label_map)
        self.class_ids = list(self.labels)
        self.classes = list(self.labels.values())
        self._col = {cid: i for i, cid in enumerate(self.class_ids)}
        self.num_frames, self.sampling_rate = int(num_frames), int(sampling_rate)
        self.fps, self.start_second, self.seconds = float(fps), int(start_second), seconds
        self.train_scale, self.crop_size, self.test_scale = train_scale, int(crop_size), int(test_scale)
        self.flip, self.box_jitter = bool(flip), float(box_jitter)
        self.mean, self.std = torch.tensor(mean).view(3, 1, 1, 1), torch.tensor(std).view(3, 1, 1, 1)
        self.seed, self.epoch, self.backend = int(seed), 0, backend
        self._cache: dict[str, np.ndarray] | None = {} if cache_videos else None
        excluded = read_exclusions(exclusions)
        ids = set(self.class_ids)
        gt = read_ava_csv(annotations, class_ids=ids) if annotations is not None else OrderedDict()
        if proposal_score is None:
            proposal_score = 0.9 if mode == "train" else 0.8
        det = read_ava_csv(proposals, min_score=proposal_score) if proposals is not None else None
        if use_groundtruth is None:
            use_groundtruth = mode == "train" or det is None
        if det is None and annotations is None:
            raise DataError("AvaDataset needs ground-truth annotations or proposals")
        keys = list(gt) if use_groundtruth else []
        if det is not None:
            keys += [k for k in det if k not in gt or not use_groundtruth]
        self.items = []
        for key in keys:
            if key in excluded or (seconds is not None and not seconds[0] <= key[1] <= seconds[1]):
                continue
            boxes, labels, scores = self._merge(gt.get(key) if use_groundtruth else None,
                                                det.get(key) if det is not None else None,
                                                gt.get(key), match_iou)
            if len(boxes):
                self.items.append((key[0], key[1], boxes, labels, scores))
        if not self.items:
            within = "" if seconds is None else f" and the {seconds} second range"
            raise DataError(f"{annotations or proposals}: no keyframes with boxes (after exclusions{within})")
        self.video_ids = sorted({it[0] for it in self.items})
        self._sources = self._find_videos(videos, self.video_ids)

    # -- boxes ---------------------------------------------------------------------
    def _multi_hot(self, actions: set) -> np.ndarray:
        y = np.zeros(len(self.class_ids), dtype=np.float32)
        for a in actions:
            if a in self._col:
                y[self._col[a]] = 1.0
        return y

    def _merge(self, gt_kf, det_kf, gt_for_labels, match_iou):
        boxes, labels, scores = [], [], []
        if gt_kf is not None:
            for b, a in zip(gt_kf.boxes, gt_kf.actions):
                boxes.append(b)
                labels.append(self._multi_hot(a))
                scores.append(1.0)
        if det_kf is not None:
            ref = np.array(gt_for_labels.boxes) if gt_for_labels is not None and gt_for_labels.boxes else None
            for b, s in zip(det_kf.boxes, det_kf.scores):
                y = np.zeros(len(self.class_ids), dtype=np.float32)
                if ref is not None:
                    iou = _iou(np.array([b]), ref)[0]
                    j = int(iou.argmax())
                    if iou[j] >= match_iou:
                        y = self._multi_hot(gt_for_labels.actions[j])
                boxes.append(b)
                labels.append(y)
                scores.append(s)
        return (np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(labels, dtype=np.float32).reshape(
            -1, len(self.class_ids)), np.array(scores, dtype=np.float32))

    # -- videos --------------------------------------------------------------------
    @staticmethod
    def _find_videos(videos, video_ids):
        p = Path(videos)
        if p.is_file():
            if p.suffix == ".csv" and p.read_text().startswith("original_vido_id"):
                lists = read_frame_list(p)
                missing = [v for v in video_ids if v not in lists]
                if missing:
                    raise DataError(f"{p}: no frames listed for {len(missing)} annotated videos, e.g. {missing[0]}")
                return {v: ("frames", lists[v]) for v in video_ids}
            raise DataError(f"{p}: expected a folder of videos or a PySlowFast frame list csv")
        if not p.is_dir():
            raise DataError(f"{p}: video folder not found")
        found = {}
        for f in p.rglob("*"):
            if f.is_file() and f.suffix.lower() in (".mp4", ".mkv", ".webm", ".avi", ".mov"):
                found.setdefault(f.stem, str(f))
        missing = [v for v in video_ids if v not in found]
        if missing:
            raise DataError(f"{p}: {len(missing)} annotated videos not found, e.g. {missing[0]}.mp4")
        return {v: ("video", found[v]) for v in video_ids}

    def _frames(self, video_id: str, second: int) -> np.ndarray:
        kind, src = self._sources[video_id]
        if kind == "frames":
            from PIL import Image

            idx = keyframe_indices(second, fps=self.fps, start_second=self.start_second, num_frames=self.num_frames,
                                   sampling_rate=self.sampling_rate, num_video_frames=len(src))
            return np.stack([np.asarray(Image.open(src[i]).convert("RGB")) for i in idx])
        from vidlab.io import VideoReader

        if self._cache is not None:
            if video_id not in self._cache:
                with VideoReader(src, backend=self.backend, threads=1) as r:
                    self._cache[video_id] = r.read_all()
            allf = self._cache[video_id]
            idx = keyframe_indices(second, fps=self.fps, start_second=self.start_second, num_frames=self.num_frames,
                                   sampling_rate=self.sampling_rate, num_video_frames=len(allf))
            return allf[idx]
        with VideoReader(src, backend=self.backend, threads=1) as r:
            idx = keyframe_indices(second, fps=self.fps, start_second=self.start_second, num_frames=self.num_frames,
                                   sampling_rate=self.sampling_rate, num_video_frames=r.info.num_frames)
            return r.get_frames(idx)

    # -- items ---------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        import torch.nn.functional as F

        video_id, second, boxes, labels, scores = self.items[index]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, index]))
        frames = self._frames(video_id, second)
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255.0)  # C,T,H,W
        h, w = clip.shape[-2:]
        px = boxes * np.array([w, h, w, h], dtype=np.float32)
        if self.mode == "train" and self.box_jitter > 0:
            bw, bh = px[:, 2] - px[:, 0], px[:, 3] - px[:, 1]
            px = px + rng.uniform(-self.box_jitter, self.box_jitter, px.shape).astype(np.float32) * np.stack(
                [bw, bh, bw, bh], 1)
        short = round(rng.uniform(*self.train_scale)) if self.mode == "train" else self.test_scale
        # PySlowFast rounding: the longer side is floor(long / short * size)
        nh, nw = (short, math.floor(w / h * short)) if h <= w else (math.floor(h / w * short), short)
        if (nh, nw) != (h, w):
            clip = F.interpolate(clip, size=(nh, nw), mode="bilinear", align_corners=False)
        px = px * np.array([nw / w, nh / h, nw / w, nh / h], dtype=np.float32)
        if self.mode == "train":
            cs = min(self.crop_size, nh, nw)
            y0 = int(rng.integers(0, nh - cs + 1))
            x0 = int(rng.integers(0, nw - cs + 1))
            clip = clip[:, :, y0:y0 + cs, x0:x0 + cs]
            px = px - np.array([x0, y0, x0, y0], dtype=np.float32)
            if self.flip and rng.random() < 0.5:
                clip = clip.flip(-1)
                px = np.stack([cs - px[:, 2], px[:, 1], cs - px[:, 0], px[:, 3]], 1)
        H, W = clip.shape[-2:]
        px[:, [0, 2]] = px[:, [0, 2]].clip(0, W - 1)
        px[:, [1, 3]] = px[:, [1, 3]].clip(0, H - 1)
        clip = (clip - self.mean) / self.std
        return {"clip": clip, "boxes": torch.from_numpy(px.astype(np.float32)),
                "labels": torch.from_numpy(labels), "scores": torch.from_numpy(scores),
                "video_id": video_id, "second": second, "index": index, "size": (H, W)}


def collate_detection(items: list[dict]) -> dict:
    """Stack clips and give boxes the batch index: ``boxes (N, 5)``, ``labels (N, C)``.

    Clips of different sizes (test views of videos with other aspect ratios) are zero-padded at the
    bottom/right to the largest; boxes keep their pixel coordinates.
    """
    boxes = [torch.cat([torch.full((len(it["boxes"]), 1), float(i)), it["boxes"]], 1) for i, it in enumerate(items)]
    h = max(it["clip"].shape[-2] for it in items)
    w = max(it["clip"].shape[-1] for it in items)
    clips = [torch.nn.functional.pad(it["clip"], (0, w - it["clip"].shape[-1], 0, h - it["clip"].shape[-2]))
             if it["clip"].shape[-2:] != (h, w) else it["clip"] for it in items]
    return {
        "clip": torch.stack(clips),
        "boxes": torch.cat(boxes),
        "labels": torch.cat([it["labels"] for it in items]),
        "scores": torch.cat([it["scores"] for it in items]),
        "keys": [(it["video_id"], it["second"]) for it in items for _ in range(len(it["boxes"]))],
        "size": [it["size"] for it in items],
    }


# ----------------------------------------------------------------------------------
# the registry's view: one record per video
_GT_PATTERNS = {
    "train": (r"ava_train_v2\.\d\.csv$", r"^train\.csv$"),
    "val": (r"ava_val_v2\.\d\.csv$", r"^val\.csv$"),
    "test": (r"ava_test_v2\.\d\.csv$", r"^test\.csv$"),
}


def _find_label_map(folder: Path) -> Path | None:
    cands = sorted(folder.glob("*.pbtxt")) + sorted(folder.glob("label_map*.txt")) + sorted(folder.glob("*.names"))
    # prefer the 60-class evaluation list (what everyone reports on)
    cands.sort(key=lambda p: (0 if "activitynet" in p.name or p.name == "action_list.pbtxt" else 1, p.name))
    return cands[0] if cands else None


def load(path: Path, split: int = 1):
    """The ``ava`` format: a folder with the split csv files and a label map, or one csv."""
    from vidlab.data.datasets.registry import DatasetIndex
    from vidlab.data.datasets.video_list import VideoRecord

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        files = {}
        for s, pats in _GT_PATTERNS.items():
            for p in sorted(folder.iterdir()):
                if any(re.search(pat, p.name) for pat in pats):
                    files[s] = p
                    break
        if not files:
            raise DataError(f"{path}: no AVA csv (ava_{{train,val}}_v2.x.csv or train/val/test.csv) in this folder")
    else:
        name = path.name.lower()
        split_of = "train"
        for s, word in (("val", r"val|validation"), ("test", r"test")):
            if re.search(rf"(^|[^a-z])({word})([^a-z]|$)", name):
                split_of = s
        files = {split_of: path}
    lm = _find_label_map(folder)
    labels = read_label_map(lm) if lm is not None else None
    splits, stats, sources = {}, {"keyframes": 0, "boxes": 0, "actions": 0}, [str(p) for p in files.values()]
    all_ids: set[int] = set()
    per_split = {}
    for s, p in files.items():
        kfs = read_ava_csv(p, class_ids=set(labels) if labels else None)
        per_split[s] = kfs
        for kf in kfs.values():
            for a in kf.actions:
                all_ids |= a
    if labels is None:
        labels = OrderedDict((i, str(i)) for i in sorted(all_ids))
    else:
        sources.append(str(lm))
    col = {cid: i for i, cid in enumerate(labels)}
    for s, kfs in per_split.items():
        by_video: dict[str, list] = {}
        for (vid, sec), kf in kfs.items():
            by_video.setdefault(vid, []).append((sec, kf))
            stats["keyframes"] += 1
            stats["boxes"] += len(kf.boxes)
            stats["actions"] += sum(len(a) for a in kf.actions)
        recs = []
        for vid, kfl in by_video.items():
            cls = sorted({col[a] for _, kf in kfl for acts in kf.actions for a in acts if a in col})
            secs = [sec for sec, _ in kfl]
            recs.append(VideoRecord(f"{vid}.mp4", tuple(cls), start=float(min(secs)), end=float(max(secs) + 1),
                                    unit="second", video_id=vid))
        splits[s] = recs
    stats["label_ids"] = list(labels)
    return DatasetIndex("ava", list(labels.values()), splits, multi_label=True, stats=stats, sources=sources)
