"""AVA frame-level mAP@0.5, reproducing the official evaluation exactly.

The official numbers behind the AVA / PySlowFast results come from
``ava_eval_helper.py`` + the ActivityNet/TF object-detection evaluator
(``PascalDetectionEvaluator`` at IoU 0.5). This is an independent
implementation of the same procedure, step for step, so that per-class AP and
mAP agree to the last bits:

* a frame key is ``"<video_id>,<timestamp as %04d>"`` (``903`` == ``0903``);
  boxes are kept as ``[y1, x1, y2, x2]``;
* the label map (pbtxt) gives the evaluated ids (``id:`` or ``label_id:``
  lines, name from the preceding ``name:`` line); rows with other ids are
  dropped from both files; the class count is the largest id;
* frames listed in the exclusions are skipped in both files;
* detections on frames without ground truth still count (as false
  positives); detection boxes with ``x2 <= x1`` or ``y2 <= y1`` are dropped;
* matching is greedy per frame and class, **in file order** (no score sort):
  each detection takes the ground-truth box of highest IoU (first on ties)
  if that IoU is >= 0.5 and the box is still free, else it is a false
  positive; IoU uses continuous coordinates;
* AP is the all-point interpolated VOC AP over the detections ranked by
  ``np.argsort(scores)[::-1]``; a class with ground truth but no detections
  has AP 0; a class without ground truth has AP NaN and is left out of
  ``mAP = nanmean(AP)``.
"""

from __future__ import annotations

import csv
import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from vidlab.errors import DataError


def frame_key(video_id: str, timestamp: str | int) -> str:
    return "%s,%04d" % (video_id, int(timestamp))


def read_labelmap(path: str | os.PathLike) -> tuple[list[dict], set[int]]:
    """``[{"id", "name"}]`` and the id set from an AVA label map (pbtxt)."""
    labelmap, ids, name = [], set(), ""
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read label map ({e.strerror})") from None
    for line in lines:
        if line.startswith("  name:"):
            parts = line.split('"')
            if len(parts) < 3:
                raise DataError(f"{path}: malformed name line {line!r}")
            name = parts[1]
        elif line.startswith("  id:") or line.startswith("  label_id:"):
            try:
                class_id = int(line.strip().split(" ")[-1])
            except ValueError:
                raise DataError(f"{path}: malformed id line {line!r}") from None
            labelmap.append({"id": class_id, "name": name})
            ids.add(class_id)
    if not labelmap:
        raise DataError(f"{path}: no classes found (expected pbtxt `item {{ name: ... id: ... }}` blocks)")
    return labelmap, ids


def read_exclusions(path: str | os.PathLike | None) -> set[str]:
    if path is None:
        return set()
    out = set()
    with _open(path) as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 2:
                raise DataError(f"{path}:{n}: expected 'video_id,timestamp', got {len(row)} fields")
            out.add(frame_key(row[0], row[1]))
    return out


@dataclass
class Frames:
    boxes: "OrderedDict[str, list]"
    labels: "OrderedDict[str, list]"
    scores: "OrderedDict[str, list]"


def read_csv(path: str | os.PathLike, class_whitelist: set[int] | None, load_score: bool) -> Frames:
    """AVA rows ``video_id,timestamp,x1,y1,x2,y2,action_id[,score or person_id]`` grouped by frame."""
    boxes, labels, scores = OrderedDict(), OrderedDict(), OrderedDict()
    with _open(path) as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) not in (7, 8):
                raise DataError(f"{path}:{n}: expected 7 or 8 columns, got {len(row)}")
            try:
                key = frame_key(row[0], row[1])
                x1, y1, x2, y2 = (float(v) for v in row[2:6])
                action = int(row[6])
                score = float(row[7]) if load_score else 1.0
            except (ValueError, IndexError):
                raise DataError(f"{path}:{n}: malformed row {','.join(row)!r}") from None
            if class_whitelist and action not in class_whitelist:
                continue
            boxes.setdefault(key, []).append([y1, x1, y2, x2])
            labels.setdefault(key, []).append(action)
            scores.setdefault(key, []).append(score)
    return Frames(boxes, labels, scores)


def _open(path):
    try:
        return open(path, newline="")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of ``[y1, x1, y2, x2]`` boxes, continuous coordinates."""
    ay1, ax1, ay2, ax2 = np.split(a, 4, axis=1)
    by1, bx1, by2, bx2 = np.split(b, 4, axis=1)
    ih = np.maximum(np.zeros((a.shape[0], b.shape[0])), np.minimum(ay2, by2.T) - np.maximum(ay1, by1.T))
    iw = np.maximum(np.zeros((a.shape[0], b.shape[0])), np.minimum(ax2, bx2.T) - np.maximum(ax1, bx1.T))
    inter = ih * iw
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = np.expand_dims(area_a, axis=1) + np.expand_dims(area_b, axis=0) - inter
    return inter / union


def _tp_fp(det_boxes: np.ndarray, gt_boxes: np.ndarray, threshold: float) -> np.ndarray:
    labels = np.zeros(det_boxes.shape[0], dtype=bool)
    if det_boxes.shape[0] == 0 or gt_boxes.shape[0] == 0:
        return labels
    iou = _iou(det_boxes, gt_boxes)
    best = np.argmax(iou, axis=1)
    taken = np.zeros(gt_boxes.shape[0], dtype=bool)
    for i in range(det_boxes.shape[0]):
        g = best[i]
        if iou[i, g] >= threshold and not taken[g]:
            labels[i] = True
            taken[g] = True
    return labels


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """All-point interpolated AP (VOC), ranking by ``argsort(scores)[::-1]``."""
    order = np.argsort(scores)[::-1]
    tp_sorted = tp[order]
    fp_sorted = (tp_sorted <= 0).astype(float)
    tp_sorted = tp_sorted.astype(float)
    cum_tp = np.cumsum(tp_sorted)
    cum_fp = np.cumsum(fp_sorted)
    precision = cum_tp.astype(float) / (cum_tp + cum_fp)
    recall = cum_tp.astype(float) / num_gt
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = np.maximum(precision[i], precision[i + 1])
    idx = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[idx] - recall[idx - 1]) * precision[idx]))


def evaluate(groundtruth: Frames, detections: Frames, labelmap: list[dict], excluded: set[str],
             iou_threshold: float = 0.5) -> dict:
    """Frame mAP; returns ``{"mAP", "per_class": {id: ap or None}, "names": {id: name}, ...}``."""
    num_classes = max(c["id"] for c in labelmap)
    num_gt = np.zeros(num_classes, dtype=int)
    gt_by_frame = {}
    n_gt_frames = 0
    for key, boxes in groundtruth.boxes.items():
        if key in excluded:
            continue
        n_gt_frames += 1
        b = np.array(boxes, dtype=float)
        c = np.array(groundtruth.labels[key], dtype=int) - 1
        gt_by_frame[key] = (b, c)
        for k in range(num_classes):
            num_gt[k] += int(np.sum(c == k))
    scores_per_class = [[] for _ in range(num_classes)]
    tp_per_class = [[] for _ in range(num_classes)]
    n_det_frames = 0
    for key, boxes in detections.boxes.items():
        if key in excluded:
            continue
        n_det_frames += 1
        d = np.array(boxes, dtype=float)
        s = np.array(detections.scores[key], dtype=float)
        c = np.array(detections.labels[key], dtype=int) - 1
        valid = np.logical_and(d[:, 0] < d[:, 2], d[:, 1] < d[:, 3])
        d, s, c = d[valid], s[valid], c[valid]
        gb, gc = gt_by_frame.get(key, (np.zeros((0, 4)), np.zeros(0, dtype=int)))
        for k in range(num_classes):
            mine = c == k
            if not mine.any():
                continue
            scores_per_class[k].append(s[mine])
            tp_per_class[k].append(_tp_fp(d[mine], gb[gc == k], iou_threshold))
    ap = np.full(num_classes, np.nan)
    for k in range(num_classes):
        if num_gt[k] == 0:
            continue
        if scores_per_class[k]:
            scores = np.concatenate(scores_per_class[k])
            tps = np.concatenate(tp_per_class[k])
        else:
            scores, tps = np.array([], dtype=float), np.array([], dtype=bool)
        ap[k] = average_precision(scores, tps, int(num_gt[k]))
    mean_ap = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    per_class = {str(c["id"]): (None if np.isnan(ap[c["id"] - 1]) else float(ap[c["id"] - 1])) for c in labelmap}
    return {
        "mAP": mean_ap,
        "per_class": per_class,
        "names": {str(c["id"]): c["name"] for c in labelmap},
        "num_groundtruth_frames": n_gt_frames,
        "num_detection_frames": n_det_frames,
    }


def evaluate_files(groundtruth: str | os.PathLike, detections: str | os.PathLike, labelmap: str | os.PathLike,
                   exclusions: str | os.PathLike | None = None) -> dict:
    """The official invocation order: label map, exclusions, GT, detections, evaluation."""
    categories, whitelist = read_labelmap(labelmap)
    excluded = read_exclusions(exclusions)
    gt = read_csv(groundtruth, whitelist, load_score=False)
    det = read_csv(detections, whitelist, load_score=True)
    return evaluate(gt, det, categories, excluded)
