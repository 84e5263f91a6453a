"""AVA frame-level mAP@0.5, as the two official evaluators compute it.

Two reference scorers exist and they disagree on the same files, so the
protocol is a choice (``evaluate_files(..., protocol=...)``, ``vidlab eval-ava
--protocol``):

``pyslowfast`` (the default): PySlowFast ``slowfast/utils/ava_eval_helper.py``
(``evaluate_ava_from_files``), the path behind the PySlowFast model zoo's AVA
mAP figures:

* a frame key is ``"<video_id>,<int(timestamp) as %04d>"`` (``903`` ==
  ``0903``; ``903.0`` is refused); boxes are kept as ``[y1, x1, y2, x2]``;
* every csv row has 7 or 8 fields; a detection row needs its score (field 8);
  the ground truth's field 8 (person id) is not read;
* rows whose action id is not in the label map are dropped (after their
  coordinates and id are parsed, before the score is);
* frames listed in the exclusions are skipped in both files;
* every detection row is kept, in file order; detections on frames without
  ground truth count (as false positives).

``activitynet``: the AVA challenge scorer, ActivityNet
``Evaluation/get_ava_performance.py`` (module :mod:`vidlab.evaluation.ava_activitynet`):
decimal timestamps, 2-field "frame without boxes" rows, at most 50 detection
rows per frame (the highest scores), rows matched in descending score order,
detections on frames absent from the ground-truth csv ignored, no exclusions
(``exclusions`` here removes those frames' rows from both files first).

Both then run the same TF object-detection port (``ava_evaluation/``:
``PascalDetectionEvaluator`` at IoU 0.5), reproduced here step for step so
that per-class AP and mAP agree to the last bit:

* the label map (pbtxt) gives the evaluated ids (``  id:`` or ``  label_id:``
  lines, name from the preceding ``  name:`` line); the class count is the
  largest id;
* detection boxes with ``x2 <= x1`` or ``y2 <= y1`` are dropped;
* matching is greedy per frame and class in the frame's row order: each
  detection takes the ground-truth box of highest IoU (first on ties) if that
  IoU is >= 0.5 and the box is still free, else it is a false positive; IoU
  uses continuous coordinates;
* AP is the all-point interpolated VOC AP over the detections ranked by
  ``np.argsort(scores)[::-1]`` (frames concatenated in file order); a class
  with ground truth but no detections has AP 0; a class without ground truth
  has AP NaN and is left out of ``mAP = nanmean(AP)``.

Input the official code refuses is refused here with one :class:`DataError`
line naming the file (and line): a label map id < 1 or no ids, a ``name:``
line without a quote, an id line that is not an integer, a csv row with the
wrong number of fields (a blank line included), a field that does not parse,
and a ground-truth box with ``x2 < x1`` or ``y2 < y1`` on a frame that has a
(valid) detection of the box's class (the only place the evaluator checks
ground-truth boxes).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field

import numpy as np

from vidlab.errors import DataError, VidlabError

PROTOCOLS = ("pyslowfast", "activitynet")
PathLike = str | os.PathLike


def frame_key(video_id: str, timestamp: str | int) -> str:
    """PySlowFast's frame key: the timestamp must be an integer."""
    return "%s,%04d" % (video_id, int(timestamp))


def _read_text(path: PathLike, what: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read {what} ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: cannot decode {what} ({e.reason})") from None


def read_labelmap(path: PathLike) -> tuple[list[dict], set[int]]:
    """``[{"id", "name"}]`` and the id set from an AVA label map (pbtxt), refused where the official code refuses it."""
    labelmap, ids, name = [], set(), ""
    for n, line in enumerate(_read_text(path, "label map").split("\n"), 1):
        if line.startswith("  name:"):
            parts = line.split('"')
            if len(parts) < 2:
                raise DataError(f"{path}:{n}: name line without a quoted name: {line.strip()!r}")
            name = parts[1]
        elif line.startswith(("  id:", "  label_id:")):
            try:
                class_id = int(line.strip().split(" ")[-1])
            except ValueError:
                raise DataError(f"{path}:{n}: malformed id line {line.strip()!r}") from None
            if class_id < 1:
                raise DataError(f"{path}:{n}: class id {class_id}: AVA label map ids start at 1 "
                                "(the official evaluation refuses the map)")
            labelmap.append({"id": class_id, "name": name})
            ids.add(class_id)
    if not labelmap:
        raise DataError(f"{path}: no classes found (expected pbtxt `item {{ name: ... id: ... }}` blocks)")
    return labelmap, ids


def csv_rows(path: PathLike) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of every csv row (a blank line is an empty row, as ``csv.reader`` gives it)."""
    try:
        f = open(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: {e}") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: cannot decode ({e.reason})") from None


def bad_row(path: PathLike, n: int, row: list[str], expected: str) -> DataError:
    if not row:
        return DataError(f"{path}:{n}: blank line (expected {expected})")
    return DataError(f"{path}:{n}: expected {expected}, got {len(row)}")


def read_exclusions(path: PathLike | None, key: Callable[[str, str], str] = frame_key) -> set[str]:
    """Excluded frame keys from a ``video_id,timestamp`` csv (none for ``None``)."""
    if not path:
        return set()
    out = set()
    for n, row in csv_rows(path):
        if len(row) != 2:
            raise bad_row(path, n, row, "2 columns 'video_id,timestamp'")
        try:
            out.add(key(row[0], row[1]))
        except (ValueError, ArithmeticError):
            raise DataError(f"{path}:{n}: malformed timestamp {row[1]!r}") from None
    return out


@dataclass
class Frames:
    """Rows grouped by frame key, in the order the protocol matches them."""

    boxes: dict[str, list[list[float]]]  # [y1, x1, y2, x2]
    labels: dict[str, list[int]]
    scores: dict[str, list[float]]
    lines: dict[str, list[int]] = field(default_factory=dict)  # csv line of each row (error messages)
    keys: set[str] = field(default_factory=set)  # every frame key in the file, any class
    path: str = ""

    def add(self, key: str, box: list[float], label: int, score: float, line: int) -> None:
        self.boxes.setdefault(key, []).append(box)
        self.labels.setdefault(key, []).append(label)
        self.scores.setdefault(key, []).append(score)
        self.lines.setdefault(key, []).append(line)


def read_csv(path: PathLike, class_whitelist: set[int] | None, load_score: bool) -> Frames:
    """PySlowFast's reading of ``video_id,timestamp,x1,y1,x2,y2,action_id[,score or person_id]``: every row, file order."""
    out = Frames({}, {}, {}, path=str(path))
    for n, row in csv_rows(path):
        if len(row) not in (7, 8):
            raise bad_row(path, n, row, "7 or 8 columns")
        try:
            key = frame_key(row[0], row[1])
            x1, y1, x2, y2 = (float(v) for v in row[2:6])
            action = int(row[6])
        except ValueError:
            raise DataError(f"{path}:{n}: malformed row {','.join(row)!r}") from None
        out.keys.add(key)
        if class_whitelist and action not in class_whitelist:
            continue
        score = 1.0
        if load_score:
            if len(row) < 8:
                raise DataError(f"{path}:{n}: detection row without a score (8th field)")
            try:
                score = float(row[7])
            except ValueError:
                raise DataError(f"{path}:{n}: malformed score {row[7]!r}") from None
        out.add(key, [y1, x1, y2, x2], action, score, n)
    return out


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
    """Greedy matching in row order: True where a detection takes a still-free box at IoU >= threshold."""
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
    tp_sorted = tp[order].astype(float)
    cum_tp = np.cumsum(tp_sorted)
    cum_fp = np.cumsum(1.0 - tp_sorted)
    precision = cum_tp / (cum_tp + cum_fp)
    recall = cum_tp / num_gt
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = np.maximum(precision[i], precision[i + 1])
    idx = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[idx] - recall[idx - 1]) * precision[idx]))


def _boxes(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=float).reshape(-1, 4)


def _refuse_inverted(frames: Frames, key: str, boxes: np.ndarray, lines: np.ndarray) -> None:
    """The evaluator refuses a ground-truth box with ``x2 < x1`` or ``y2 < y1`` when it compares it."""
    bad_x = boxes[:, 1] > boxes[:, 3]
    bad = bad_x | (boxes[:, 0] > boxes[:, 2])
    if bad.any():
        i = int(np.argmax(bad))
        y1, x1, y2, x2 = boxes[i]
        what = f"x2 < x1 ({x2:g} < {x1:g})" if bad_x[i] else f"y2 < y1 ({y2:g} < {y1:g})"
        raise DataError(f"{frames.path}:{lines[i]}: ground-truth box with {what} on frame {key}; "
                        "the official AVA evaluation refuses it")


def evaluate(groundtruth: Frames, detections: Frames, labelmap: list[dict], excluded: Container[str] = frozenset(),
             iou_threshold: float = 0.5, *, scored_frames: Container[str] | None = None) -> dict:
    """Frame mAP; returns ``{"mAP", "per_class": {id: ap or None}, "names": {id: name}, ...}``.

    Frames in ``excluded`` are skipped in both; with ``scored_frames``, detection frames not in it are ignored.
    """
    if not labelmap or min(c["id"] for c in labelmap) < 1:
        raise DataError("AVA label map ids must be >= 1 and there must be at least one")
    num_classes = max(c["id"] for c in labelmap)
    num_gt = np.zeros(num_classes, dtype=int)
    gt_by_frame = {}
    for key, boxes in groundtruth.boxes.items():
        if key in excluded:
            continue
        c = np.array(groundtruth.labels[key], dtype=int) - 1
        lines = np.array(groundtruth.lines.get(key) or [0] * len(c), dtype=int)
        gt_by_frame[key] = (_boxes(boxes), c, lines)
        num_gt += np.bincount(c[(c >= 0) & (c < num_classes)], minlength=num_classes)
    no_gt = (np.zeros((0, 4)), np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    scores_per_class: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    tp_per_class: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    n_det_frames = 0
    for key, boxes in detections.boxes.items():
        if key in excluded or (scored_frames is not None and key not in scored_frames):
            continue
        n_det_frames += 1
        d = _boxes(boxes)
        s = np.array(detections.scores[key], dtype=float)
        c = np.array(detections.labels[key], dtype=int) - 1
        valid = np.logical_and(d[:, 0] < d[:, 2], d[:, 1] < d[:, 3])
        d, s, c = d[valid], s[valid], c[valid]
        gb, gc, gl = gt_by_frame.get(key, no_gt)
        for k in np.unique(c):
            if not 0 <= k < num_classes:
                continue
            mine, theirs = c == k, gc == k
            _refuse_inverted(groundtruth, key, gb[theirs], gl[theirs])
            scores_per_class[k].append(s[mine])
            tp_per_class[k].append(_tp_fp(d[mine], gb[theirs], iou_threshold))
    ap = np.full(num_classes, np.nan)
    for k in range(num_classes):
        if num_gt[k] == 0:
            continue
        if scores_per_class[k]:
            scores, tps = np.concatenate(scores_per_class[k]), np.concatenate(tp_per_class[k])
        else:
            scores, tps = np.array([], dtype=float), np.array([], dtype=bool)
        ap[k] = average_precision(scores, tps, int(num_gt[k]))
    mean_ap = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    per_class = {str(c["id"]): (None if np.isnan(ap[c["id"] - 1]) else float(ap[c["id"] - 1])) for c in labelmap}
    return {
        "mAP": mean_ap,
        "per_class": per_class,
        "names": {str(c["id"]): c["name"] for c in labelmap},
        "num_groundtruth_frames": len(gt_by_frame),
        "num_detection_frames": n_det_frames,
    }


def evaluate_files(groundtruth: PathLike, detections: PathLike, labelmap: PathLike,
                   exclusions: PathLike | None = None, protocol: str = "pyslowfast") -> dict:
    """AVA frame mAP@0.5 of two csv files under ``protocol`` (``"pyslowfast"`` or ``"activitynet"``).

    The official invocation order: label map, exclusions, ground truth, detections, evaluation.
    """
    if protocol == "pyslowfast":
        categories, whitelist = read_labelmap(labelmap)
        excluded = read_exclusions(exclusions)
        gt = read_csv(groundtruth, whitelist, load_score=False)
        det = read_csv(detections, whitelist, load_score=True)
        res = evaluate(gt, det, categories, excluded)
    elif protocol == "activitynet":
        from vidlab.evaluation import ava_activitynet as anet

        categories, whitelist = read_labelmap(labelmap)
        excluded = read_exclusions(exclusions, key=anet.frame_key)
        gt = anet.read_csv(groundtruth, whitelist, capacity=0, excluded=excluded)
        det = anet.read_csv(detections, whitelist, capacity=anet.DETECTIONS_PER_FRAME, excluded=excluded)
        res = evaluate(gt, det, categories, scored_frames=gt.keys)
    else:
        raise VidlabError(f"unknown AVA protocol {protocol!r} (choose {' or '.join(PROTOCOLS)})")
    res["protocol"] = protocol
    return res
