"""Temporal action localization mAP, computed by the ActivityNet detection evaluator's rules.

The reference is ActivityNet ``Evaluation/eval_detection.py`` and
``Evaluation/utils.py`` (``ANETdetection``, activitynet/ActivityNet @82304fa),
the scorer of the ActivityNet challenge and, in copies, of ActionFormer, BMN,
G-TAD and most THUMOS'14 papers. vidlab reproduces its numbers (per-class AP,
mAP per tIoU and their average; ``tests/localize`` holds the official outputs
on hand-made and random cases, equal to 1e-9) without pandas and without its
per-prediction loop: 0.5M predictions on 5k videos (ActivityNet validation
size) are scored in about 1.5 s, after the few seconds ``json`` takes to read
such a file.

The rules, as the official code applies them:

* Ground truth: only the videos whose ``subset`` equals the chosen one
  (``validation`` by default) and that are not blocked. The classes are the
  labels of those videos' annotations, in order of first appearance; a label
  of the taxonomy without an instance there is not a class. Every class has
  ground truth, and the mAP is the plain mean over the classes.
* Predictions: every entry of ``results``, whatever its video: the subset
  filter does not apply to them. A prediction on a video without ground truth
  of its class (a video of another subset, an unknown video, a video id that
  does not match the ground truth's spelling) is a false positive. Ids are
  compared as they are: the official code strips nothing, so ``v_abc`` and
  ``abc`` are two videos (vidlab says so in a warning when that is likely the
  cause of misses).
* A prediction label that is not a class stops the official code (a
  ``KeyError``); here it is a :class:`DataError` naming it, or with
  ``unknown_labels="ignore"`` those rows are dropped (and counted in a warning).
* Per class, predictions are ranked by descending score. Ties: the official
  code ranks with ``argsort()[::-1]``, whose tie order is numpy's
  (machine-dependent: with AVX-512 sorting even five equal scores come back in
  no fixed order); vidlab fixes it as that expression gives with a stable
  sort: among equal scores, the later one in the file (videos in file order,
  then list order) comes first.
* Matching, for each tIoU threshold separately: in rank order, a prediction
  takes the ground-truth segment of its class and video with the highest tIoU
  that is still free; it is a true positive if that tIoU is >= the threshold
  (an equal tIoU matches), else a false positive. A segment already taken
  passes the turn to the next best one, so a duplicate detection of a matched
  instance is a false positive unless another instance is close enough. Equal
  tIoUs: the later ground-truth segment (file order) is tried first.
* tIoU = intersection / union of the two intervals, on continuous times
  (``[0, 5]`` and ``[5, 10]`` overlap by 0). Two zero-length segments have
  union 0 and tIoU ``0/0 = NaN`` (:func:`segment_iou` returns it); the official
  matching tries a NaN first and never finds it below a threshold, so a
  zero-length prediction matches a free zero-length ground truth of its
  class anywhere in the same video. vidlab keeps this.
* AP: precision and recall after each ranked prediction (recall over the
  class's number of ground-truth segments), precision made monotone from the
  right, and the area summed over the points where recall changes (VOC 2011
  all-points AP, :func:`interpolated_ap`). A class with ground truth but no
  predictions has AP 0.
* Thresholds: ActivityNet ``np.linspace(0.5, 0.95, 10)``, THUMOS'14
  ``np.linspace(0.3, 0.7, 5)`` (the values ActionFormer and others use; note
  ``0.8999999999999999`` and ``0.39999999999999997``, which decide a tIoU of
  exactly 0.9 or 0.4). ``start:stop:step`` specs are made with ``linspace`` too.
* Blocked videos: the official code downloads a list of withdrawn YouTube
  videos from the challenge server (long offline) and drops them from both
  files; here ``blocked`` is that list, given by the caller.

Refused here with one :class:`DataError` line where the official code would
crash or compute nonsense: a file that is not JSON, no ``database`` /
``results`` object, an entry without ``segment`` / ``label`` / ``score``, a
segment that is not two finite numbers (JSON numbers: the official code
would also take ``"12.5"``), ``end < start``, a score that is not a finite
number, a label that is not a string, no ground-truth video in the subset.
The official code also insists on ``version`` / ``taxonomy`` /
``external_data`` keys that play no part in the scores; vidlab does not.

THUMOS'14: :func:`read_thumos14` turns the official temporal annotation files
(``CLASS_val.txt`` / ``CLASS_test.txt``, lines ``video start end`` in
seconds) into the same ``database`` form (subsets ``validation`` and
``test``), leaving out the ``Ambiguous`` files as ActionFormer and BMN do.
Scoring THUMOS'14 this way is what those papers report; the THUMOS'14 Matlab
kit (``TH14evalDet``) has rules of its own and is not reproduced.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.errors import DataError

__all__ = [
    "ACTIVITYNET_TIOU", "THUMOS14_TIOU", "PRESETS", "PRESET_SUBSETS", "GroundTruth", "Predictions",
    "DetectionResult", "segment_iou", "interpolated_ap", "average_precision_detection", "evaluate_detection",
    "load_groundtruth", "load_predictions", "read_thumos14", "read_video_list", "parse_tiou",
]

PathLike = str | os.PathLike

#: The ActivityNet challenge thresholds, 0.5:0.95 in 10 steps (as ``np.linspace`` makes them).
ACTIVITYNET_TIOU: tuple[float, ...] = tuple(np.linspace(0.5, 0.95, 10).tolist())
#: The THUMOS'14 thresholds of the literature, 0.3:0.7 in 5 steps.
THUMOS14_TIOU: tuple[float, ...] = tuple(np.linspace(0.3, 0.7, 5).tolist())
PRESETS: dict[str, tuple[float, ...]] = {"activitynet": ACTIVITYNET_TIOU, "thumos14": THUMOS14_TIOU}
#: The subset each benchmark reports on.
PRESET_SUBSETS: dict[str, str] = {"activitynet": "validation", "thumos14": "test"}
UNKNOWN_LABELS = ("error", "ignore")


# --------------------------------------------------------------------------
# tIoU and AP


def segment_iou(a: Any, b: Any) -> np.ndarray:
    """Temporal IoU of every segment of ``a`` with every segment of ``b``.

    ``a`` is ``(2,)`` or ``(N, 2)``, ``b`` is ``(2,)`` or ``(M, 2)`` ``[start, end]``;
    the result is ``(N, M)`` with the dimensions of 1-D inputs dropped. The
    intersection is clipped at 0; two zero-length segments give ``0/0 = NaN``,
    as in the official code (no warning is raised).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a2, b2 = np.atleast_2d(a), np.atleast_2d(b)
    if a2.ndim != 2 or a2.shape[-1] != 2 or b2.ndim != 2 or b2.shape[-1] != 2:
        raise ValueError(f"segments must be (2,) or (N, 2) arrays, got {a.shape} and {b.shape}")
    iou = _iou(a2[:, None, 0], a2[:, None, 1], b2[None, :, 0], b2[None, :, 1])
    if b.ndim == 1:
        iou = iou[:, 0]
    return iou[0] if a.ndim == 1 else iou


def _iou(p0: np.ndarray, p1: np.ndarray, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
    # the official operation order ((g1 - g0) + (p1 - p0) - inter), so that results agree to the bit
    inter = (np.minimum(p1, g1) - np.maximum(p0, g0)).clip(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / ((g1 - g0) + (p1 - p0) - inter)


def interpolated_ap(precision: Any, recall: Any) -> np.ndarray | float:
    """All-points interpolated AP (VOC 2011): precision made non-increasing from the right,
    summed over the recall steps, with a (recall 0) start and a (recall 1, precision 0) end.

    Works on the last axis, so ``(T, N)`` curves give ``(T,)`` APs; a NaN in the recall
    (a class without ground truth) gives NaN.
    """
    prec = np.asarray(precision, dtype=np.float64)
    rec = np.asarray(recall, dtype=np.float64)
    pad = np.zeros(prec.shape[:-1] + (1,))
    mprec = np.concatenate([pad, prec, pad], axis=-1)
    mrec = np.concatenate([pad, rec, pad + 1.0], axis=-1)
    mprec = np.maximum.accumulate(mprec[..., ::-1], axis=-1)[..., ::-1]
    step = mrec[..., 1:] - mrec[..., :-1]
    ap = np.sum(np.where(step != 0, step * mprec[..., 1:], 0.0), axis=-1)
    return float(ap) if ap.ndim == 0 else ap


def _rank(score: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:
    """The official ranking ``argsort()[::-1]`` with a stable sort: descending score, ties later-first
    (grouped by ``key`` first when given)."""
    later_first = -np.arange(len(score))
    return np.lexsort((later_first, -score) if key is None else (later_first, -score, key))


def _match(gt_video: np.ndarray, gt_seg: np.ndarray, gt_label: np.ndarray, num_classes: int,
           pr_video: np.ndarray, pr_seg: np.ndarray, pr_label: np.ndarray, pr_score: np.ndarray,
           tiou: np.ndarray) -> np.ndarray:
    """AP ``(T, num_classes)``. Videos are int codes (``-1``: no ground truth at all), labels class indices.

    Predictions are ranked per class; each (class, video) group of ground truth is matched
    independently, so the greedy loop runs over the rank within a group, for all groups at
    once (groups bucketed by their number of segments, padded to a power of two).
    """
    T, n = len(tiou), len(pr_score)
    npos = np.bincount(gt_label, minlength=num_classes).astype(np.float64)
    ap = np.zeros((T, num_classes))
    if n == 0:
        return ap
    order = _rank(pr_score, pr_label)
    pv, ps, pl = pr_video[order], pr_seg[order], pr_label[order]
    tp = np.zeros((T, n), dtype=bool)

    if len(gt_label):
        width = int(max(gt_video.max(), pv.max())) + 1
        gkey = gt_label.astype(np.int64) * width + gt_video
        gorder = np.argsort(gkey, kind="stable")  # file order inside each (class, video) group
        keys, gfirst, gcount = np.unique(gkey[gorder], return_index=True, return_counts=True)
        pkey = pl.astype(np.int64) * width + pv
        gi = np.minimum(np.searchsorted(keys, pkey), len(keys) - 1)
        hit = (pv >= 0) & (keys[gi] == pkey)
        rows = np.nonzero(hit)[0]
        group = gi[rows]
        by_group = np.argsort(group, kind="stable")
        grouped = group[by_group]
        rank = np.empty(len(rows), dtype=np.int64)
        rank[by_group] = np.arange(len(rows)) - np.searchsorted(grouped, grouped, side="left")
        cap = (2 ** np.ceil(np.log2(gcount))).astype(np.int64)
        for c in np.unique(cap):
            _match_bucket(int(c), np.nonzero(cap == c)[0], rows, group, rank, gorder, gfirst, gcount, gt_seg, ps,
                          tiou, tp)

    starts = np.searchsorted(pl, np.arange(num_classes + 1))
    for c in range(num_classes):
        a, b = starts[c], starts[c + 1]
        if a == b:
            continue  # no predictions: AP 0
        hits = tp[:, a:b].astype(np.float64)
        tp_cum = np.cumsum(hits, axis=1)
        fp_cum = np.cumsum(1.0 - hits, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ap[:, c] = interpolated_ap(tp_cum / (tp_cum + fp_cum), tp_cum / npos[c])
    return ap


def _match_bucket(cap: int, groups: np.ndarray, rows: np.ndarray, group: np.ndarray, rank: np.ndarray,
                  gorder: np.ndarray, gfirst: np.ndarray, gcount: np.ndarray, gt_seg: np.ndarray,
                  ps: np.ndarray, tiou: np.ndarray, tp: np.ndarray) -> None:
    T = len(tiou)
    local = np.full(len(gfirst), -1, dtype=np.int64)
    local[groups] = np.arange(len(groups))
    slot = np.arange(cap)
    valid = slot[None, :] < gcount[groups, None]
    gt_rows = gorder[np.where(valid, gfirst[groups, None] + slot[None, :], 0)]
    g0, g1 = gt_seg[gt_rows, 0], gt_seg[gt_rows, 1]
    taken = np.zeros((len(groups), T, cap), dtype=bool)

    mine = local[group] >= 0
    b_rows, b_group, b_rank = rows[mine], local[group[mine]], rank[mine]
    by_rank = np.argsort(b_rank, kind="stable")
    b_rows, b_group, b_rank = b_rows[by_rank], b_group[by_rank], b_rank[by_rank]
    bounds = np.searchsorted(b_rank, np.arange(b_rank[-1] + 2)) if len(b_rank) else [0]
    later_first = np.broadcast_to(-slot, (1, cap))
    thr = tiou[None, :, None]
    for r in range(len(bounds) - 1):  # one prediction per group per step: the groups never collide
        sel = slice(bounds[r], bounds[r + 1])
        pr, bg = b_rows[sel], b_group[sel]
        m = len(pr)
        iou = _iou(ps[pr, 0, None], ps[pr, 1, None], g0[bg], g1[bg])
        ok = valid[bg]
        nan = np.isnan(iou)
        # the official try order: NaN first, then descending tIoU, ties later-first; padding last
        tier = np.where(ok, np.where(nan, 0, 1), 2)
        try_order = np.lexsort((np.broadcast_to(later_first, (m, cap)), -np.where(nan, 0.0, iou), tier), axis=-1)
        free = ok[:, None, :] & ~taken[bg] & (nan[:, None, :] | (iou[:, None, :] >= thr))
        free = np.take_along_axis(free, try_order[:, None, :], axis=2)
        first = free.argmax(axis=2)  # (m, T)
        found = np.take_along_axis(free, first[:, :, None], axis=2)[:, :, 0]
        tp[:, pr] = found.T
        mi, ti = np.nonzero(found)
        taken[bg[mi], ti, try_order[mi, first[mi, ti]]] = True


def average_precision_detection(gt_videos: Sequence[Any], gt_segments: Any, pred_videos: Sequence[Any],
                                pred_segments: Any, pred_scores: Any,
                                tiou_thresholds: Any = ACTIVITYNET_TIOU) -> np.ndarray:
    """AP of one class at each threshold: ground-truth ``(video, segment)`` pairs and
    predictions ``(video, segment, score)`` (the official ``compute_average_precision_detection``).

    Videos are any hashable ids, compared for equality. No predictions: zeros; predictions
    but no ground truth: NaN (the official 0/0 recall).
    """
    thr = np.asarray(parse_tiou(tiou_thresholds), dtype=np.float64)
    codes: dict[Any, int] = {}
    gv = np.array([codes.setdefault(v, len(codes)) for v in gt_videos], dtype=np.int64)
    pv = np.array([codes.get(v, -1) for v in pred_videos], dtype=np.int64)
    gs = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    ps = np.asarray(pred_segments, dtype=np.float64).reshape(-1, 2)
    sc = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    if not (len(gv) == len(gs) and len(pv) == len(ps) == len(sc)):
        raise ValueError("gt_videos/gt_segments and pred_videos/pred_segments/pred_scores must have equal lengths")
    return _match(gv, gs, np.zeros(len(gv), dtype=np.int64), 1, pv, ps, np.zeros(len(pv), dtype=np.int64), sc,
                  thr)[:, 0]


# --------------------------------------------------------------------------
# reading the files


@dataclass(frozen=True)
class GroundTruth:
    """The evaluated ground truth: one row per segment of the subset's (unblocked) videos."""

    classes: tuple[str, ...]  # in order of first appearance
    videos: tuple[str, ...]  # the subset's videos, in file order (with or without segments)
    video: np.ndarray  # (N,) index into videos
    segments: np.ndarray  # (N, 2) float64 [start, end] seconds
    label: np.ndarray  # (N,) index into classes
    subset: str | None = None
    other_videos: frozenset[str] = frozenset()  # database videos left out (other subsets, blocked)


@dataclass(frozen=True)
class Predictions:
    """Predictions in file order (videos in file order, then list order)."""

    videos: tuple[str, ...]  # distinct video ids, file order
    labels: tuple[str, ...]  # distinct labels, first appearance
    video: np.ndarray  # (N,) index into videos
    segments: np.ndarray  # (N, 2)
    label: np.ndarray  # (N,) index into labels
    score: np.ndarray  # (N,)


def _load_json(source: PathLike | Mapping, what: str) -> tuple[Any, str]:
    if isinstance(source, Mapping):
        return source, f"<{what}>"
    where = str(source)
    try:
        with open(source, encoding="utf-8") as f:
            return json.load(f), where
    except OSError as e:
        raise DataError(f"{where}: cannot read the {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: cannot decode the {what} ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: the {what} is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None


def _object(data: Any, key: str, where: str, what: str, example: str) -> Mapping:
    if not isinstance(data, Mapping) or key not in data:
        raise DataError(f"{where}: not an ActivityNet {what} file: no {key!r} object (expected {example})")
    value = data[key]
    if not isinstance(value, Mapping):
        raise DataError(f"{where}: {key!r} must be an object keyed by video id, got {type(value).__name__}")
    return value


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _segment(entry: Any, where: str) -> tuple[float, float]:
    if not isinstance(entry, Mapping):
        raise DataError(f"{where}: expected an object with 'segment' and 'label', got {type(entry).__name__}")
    if "segment" not in entry:
        raise DataError(f"{where}: no 'segment'")
    seg = entry["segment"]
    if not (isinstance(seg, (list, tuple)) and len(seg) == 2 and all(_is_number(x) for x in seg)):
        raise DataError(f"{where}: segment must be [start, end] (two numbers), got {json.dumps(seg)[:80]}")
    s, e = float(seg[0]), float(seg[1])
    if not (math.isfinite(s) and math.isfinite(e)):
        raise DataError(f"{where}: segment {[s, e]} is not finite")
    if e < s:
        raise DataError(f"{where}: segment end {e:g} < start {s:g}")
    return s, e


def _label(entry: Mapping, where: str) -> str:
    if "label" not in entry:
        raise DataError(f"{where}: no 'label'")
    label = entry["label"]
    if not isinstance(label, str):
        raise DataError(f"{where}: label must be a string (a class name), got {json.dumps(label)[:80]}")
    return label


def _check_rows(where: str, owner: str, keys: Sequence[str], video: np.ndarray, first_row: np.ndarray,
                segments: np.ndarray, scores: np.ndarray | None = None) -> None:
    """The vectorised checks of rows read on the fast path: finite numbers, end >= start."""
    bad = ~np.isfinite(segments).all(axis=1) | (segments[:, 1] < segments[:, 0])
    if scores is not None:
        bad |= ~np.isfinite(scores)
    if bad.any():
        i = int(np.argmax(bad))
        at = f"{where}: {owner}[{keys[video[i]]!r}]{'.annotations' if scores is None else ''}[{i - first_row[video[i]]}]"
        s, e = segments[i]
        if scores is not None and not math.isfinite(scores[i]):
            raise DataError(f"{at}: score must be a finite number, got {scores[i]}")
        if not (math.isfinite(s) and math.isfinite(e)):
            raise DataError(f"{at}: segment {[float(s), float(e)]} is not finite")
        raise DataError(f"{at}: segment end {e:g} < start {s:g}")


_NUMBER = (int, float)  # exact types: a bool is not a number here


def load_groundtruth(source: PathLike | Mapping, subset: str | None = "validation",
                     blocked: Iterable[str] = ()) -> GroundTruth:
    """Ground truth from an ``activity_net.v1-3.min.json``-style file (or its parsed dict):
    ``{"database": {video: {"subset": ..., "annotations": [{"segment": [s, e], "label": ...}]}}}``.

    Keeps the videos of ``subset`` (``None``: all) that are not in ``blocked``; only those are
    checked. No video left is an error naming the subsets the file has.
    """
    data, where = _load_json(source, "ground truth")
    db = _object(data, "database", where, "ground-truth", '{"database": {video_id: {"subset", "annotations"}}}')
    blocked = set(blocked)
    classes: dict[str, int] = {}
    videos: list[str] = []
    first_row: list[int] = []
    other: set[str] = set()
    rows_v: list[int] = []
    rows_s: list[Any] = []
    rows_l: list[int] = []
    subsets: set[str] = set()
    for vid, v in db.items():
        if not isinstance(v, Mapping):
            raise DataError(f"{where}: database[{vid!r}] must be an object, got {type(v).__name__}")
        if subset is not None:
            if "subset" not in v:
                raise DataError(f"{where}: database[{vid!r}] has no 'subset' (needed to select {subset!r})")
            subsets.add(str(v["subset"]))
            if v["subset"] != subset:
                other.add(vid)
                continue
        if vid in blocked:
            other.add(vid)
            continue
        anns = v.get("annotations")
        if not isinstance(anns, list):
            raise DataError(f"{where}: database[{vid!r}]: 'annotations' must be a list, got "
                            f"{'nothing' if anns is None else type(anns).__name__}")
        code = len(videos)
        videos.append(vid)
        first_row.append(len(rows_v))
        for i, ann in enumerate(anns):
            try:
                seg, label = ann["segment"], ann["label"]
                ok = (type(seg) is list and len(seg) == 2 and type(seg[0]) in _NUMBER and type(seg[1]) in _NUMBER
                      and type(label) is str)
            except (TypeError, KeyError):
                ok = False
            if not ok:
                at = f"{where}: database[{vid!r}].annotations[{i}]"
                _segment(ann, at), _label(ann, at)  # raises the error that says what is wrong
            rows_l.append(classes.setdefault(label, len(classes)))
            rows_v.append(code)
            rows_s.append(seg)
    if not videos:
        have = ", ".join(repr(s) for s in sorted(subsets)) or "none"
        why = f"no video of subset {subset!r} (the file has: {have})" if subset is not None else "no video"
        raise DataError(f"{where}: {why}{' outside the blocked list' if blocked and subset in subsets else ''}")
    if not classes:
        raise DataError(f"{where}: the {len(videos)} video(s) of subset {subset!r} have no annotations: "
                        "nothing to evaluate")
    video = np.asarray(rows_v, dtype=np.int64)
    segments = np.asarray(rows_s, dtype=np.float64).reshape(-1, 2)
    _check_rows(where, "database", videos, video, np.asarray(first_row), segments)
    return GroundTruth(classes=tuple(classes), videos=tuple(videos), video=video, segments=segments,
                       label=np.asarray(rows_l, dtype=np.int64), subset=subset, other_videos=frozenset(other))


def load_predictions(source: PathLike | Mapping, blocked: Iterable[str] = ()) -> Predictions:
    """Predictions in the challenge format ``{"results": {video: [{"label", "score", "segment"}]}}``
    (or its parsed dict); entries of ``blocked`` videos are dropped unread."""
    data, where = _load_json(source, "predictions")
    results = _object(data, "results", where, "predictions",
                      '{"results": {video_id: [{"label", "score", "segment": [start, end]}]}}')
    blocked = set(blocked)
    videos: list[str] = []
    first_row: list[int] = []
    labels: dict[str, int] = {}
    rows_v: list[int] = []
    rows_s: list[Any] = []
    rows_l: list[int] = []
    rows_c: list[Any] = []
    for vid, entries in results.items():
        if vid in blocked:
            continue
        if not isinstance(entries, list):
            raise DataError(f"{where}: results[{vid!r}] must be a list of detections, got {type(entries).__name__}")
        code = len(videos)
        videos.append(vid)
        first_row.append(len(rows_v))
        for i, e in enumerate(entries):
            try:
                seg, label, score = e["segment"], e["label"], e["score"]
                ok = (type(seg) is list and len(seg) == 2 and type(seg[0]) in _NUMBER and type(seg[1]) in _NUMBER
                      and type(label) is str and type(score) in _NUMBER)
            except (TypeError, KeyError):
                ok = False
            if not ok:
                _check_prediction(e, f"{where}: results[{vid!r}][{i}]")
            rows_v.append(code)
            rows_s.append(seg)
            rows_l.append(labels.setdefault(label, len(labels)))
            rows_c.append(score)
    video = np.asarray(rows_v, dtype=np.int64)
    segments = np.asarray(rows_s, dtype=np.float64).reshape(-1, 2)
    score = np.asarray(rows_c, dtype=np.float64)
    _check_rows(where, "results", videos, video, np.asarray(first_row), segments, score)
    return Predictions(videos=tuple(videos), labels=tuple(labels), video=video, segments=segments,
                       label=np.asarray(rows_l, dtype=np.int64), score=score)


def _check_prediction(e: Any, at: str) -> None:
    """Raise the error that says what is wrong with a prediction entry (the slow path)."""
    _segment(e, at)
    _label(e, at)
    if "score" not in e:
        raise DataError(f"{at}: no 'score'")
    score = e["score"]
    if not _is_number(score) or not math.isfinite(score):
        raise DataError(f"{at}: score must be a finite number, got {json.dumps(score)[:80]}")
    # accepted after all (e.g. a tuple segment in a dict built in Python)


_THUMOS_FILE = re.compile(r"^(?P<label>.+)_(?P<split>val|test)\.txt$")
_THUMOS_SPLITS = {"val": "validation", "test": "test"}


def read_thumos14(source: PathLike | Iterable[PathLike]) -> dict:
    """THUMOS'14 temporal annotations as an ActivityNet ``{"database": ...}`` dict.

    ``source``: a folder (searched recursively for ``CLASS_val.txt`` / ``CLASS_test.txt``,
    e.g. the official ``annotation/`` folders of the validation and test sets) or the files.
    Each non-blank line is ``video start end`` (seconds). ``_val`` files give subset
    ``validation``, ``_test`` files ``test``; ``Ambiguous_*`` files are left out. Classes are read
    in sorted file-name order, videos are listed in sorted id order.
    """
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*.txt") if _THUMOS_FILE.match(p.name))
        elif root.is_file():
            files = [root]
        else:
            raise DataError(f"{root}: no such file or folder (THUMOS'14 annotations)")
        if not files:
            raise DataError(f"{root}: no THUMOS'14 annotation files (CLASS_val.txt / CLASS_test.txt) found")
    else:
        files = sorted((Path(p) for p in source), key=lambda p: p.name)
    per_video: dict[str, dict] = {}
    for path in sorted(files, key=lambda p: (p.name, str(p))):
        m = _THUMOS_FILE.match(path.name)
        if not m:
            raise DataError(f"{path}: not a THUMOS'14 annotation file name (expected CLASS_val.txt or CLASS_test.txt)")
        label, subset = m["label"], _THUMOS_SPLITS[m["split"]]
        if label == "Ambiguous":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: cannot decode ({e.reason})") from None
        for n, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                raise DataError(f"{path}:{n}: expected 'video start end', got {line.strip()!r}")
            try:
                start, end = float(fields[1]), float(fields[2])
            except ValueError:
                raise DataError(f"{path}:{n}: start and end must be numbers, got {line.strip()!r}") from None
            if not (math.isfinite(start) and math.isfinite(end)) or end < start:
                raise DataError(f"{path}:{n}: bad segment [{fields[1]}, {fields[2]}] (end < start or not finite)")
            video = per_video.setdefault(fields[0], {"subset": subset, "annotations": []})
            if video["subset"] != subset:
                raise DataError(f"{path}:{n}: video {fields[0]!r} is in both the validation and the test files")
            video["annotations"].append({"segment": [start, end], "label": label})
    return {"database": {v: per_video[v] for v in sorted(per_video)}}


def read_video_list(path: PathLike) -> list[str]:
    """Video ids from a JSON list or a text file with one id per line (blank lines and ``#`` comments skipped),
    e.g. the blocked videos."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: cannot decode ({e.reason})") from None
    if text.lstrip().startswith("["):
        try:
            ids = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise DataError(f"{path}: expected a JSON list of video id strings")
        return ids
    return [s for s in (line.split("#", 1)[0].strip() for line in text.splitlines()) if s]


# --------------------------------------------------------------------------
# thresholds


def parse_tiou(spec: Any) -> tuple[float, ...]:
    """Thresholds from a preset name (``activitynet``, ``thumos14``), a ``start:stop:step`` range
    (``np.linspace(start, stop, n)``, so ``0.5:0.95:0.05`` is exactly the ActivityNet set), a comma
    list (``0.3,0.5``), one number, or a sequence of numbers. Each must lie in [0, 1]."""
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in PRESETS:
            return PRESETS[text]
        try:
            parts = [float(x) for x in text.split(":" if ":" in text else ",")]
        except ValueError:
            parts = []
        if not parts or (":" in text and (len(parts) != 3 or not parts[2] > 0 or parts[1] < parts[0])):
            raise DataError(f"tIoU {spec!r}: expected a preset ({', '.join(PRESETS)}), start:stop:step with "
                            "start <= stop and step > 0 (0.5:0.95:0.05), a comma list (0.3,0.5,0.7) or one number")
        values = parts
        if ":" in text:
            start, stop, step = parts
            n = round((stop - start) / step) + 1
            if abs(start + (n - 1) * step - stop) > 1e-9 * max(1.0, abs(stop)):
                raise DataError(f"tIoU range {spec!r}: {stop:g} is not reached from {start:g} in steps of {step:g}")
            values = np.linspace(start, stop, n).tolist()
    else:
        try:
            values = [float(x) for x in np.atleast_1d(np.asarray(spec, dtype=np.float64))]
        except (TypeError, ValueError):
            raise DataError(f"tIoU thresholds must be numbers, got {spec!r}") from None
    if not values:
        raise DataError("no tIoU threshold given")
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise DataError(f"tIoU thresholds must lie in [0, 1], got {bad[0]:g}")
    return tuple(values)


# --------------------------------------------------------------------------
# evaluation


@dataclass
class DetectionResult:
    """Per-class AP at each tIoU threshold, and the means."""

    tiou_thresholds: tuple[float, ...]
    classes: tuple[str, ...]
    ap: np.ndarray  # (T, C)
    num_groundtruth: np.ndarray  # (C,) segments per class
    num_predictions: np.ndarray  # (C,) predictions per class
    subset: str | None = None
    num_videos: int = 0  # ground-truth videos evaluated
    num_prediction_rows: int = 0  # all predictions read (after blocked / ignored rows)
    warnings: list[str] = field(default_factory=list)

    @property
    def mAP(self) -> np.ndarray:  # noqa: N802  (the field name of the official evaluator)
        """Mean AP over the classes, per threshold."""
        return self.ap.mean(axis=1)

    @property
    def average_mAP(self) -> float:  # noqa: N802
        """The mean of :attr:`mAP` over the thresholds (ActivityNet's headline number)."""
        return float(self.mAP.mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: thresholds, mAP per threshold, average, and per class AP and counts."""
        return {
            "tiou_thresholds": list(self.tiou_thresholds),
            "mAP": self.mAP.tolist(),
            "average_mAP": self.average_mAP,
            "subset": self.subset,
            "num_videos": self.num_videos,
            "num_classes": len(self.classes),
            "num_groundtruth": int(self.num_groundtruth.sum()),
            "num_predictions": self.num_prediction_rows,
            "per_class": {c: {"ap": self.ap[:, i].tolist(), "num_groundtruth": int(self.num_groundtruth[i]),
                              "num_predictions": int(self.num_predictions[i])}
                          for i, c in enumerate(self.classes)},
            "warnings": list(self.warnings),
        }


def evaluate_detection(groundtruth: PathLike | Mapping | GroundTruth, predictions: PathLike | Mapping | Predictions,
                       tiou_thresholds: Any = ACTIVITYNET_TIOU, subset: str | None = "validation",
                       blocked: Iterable[str] = (), unknown_labels: str = "error") -> DetectionResult:
    """Score predictions against ground truth with the ActivityNet detection rules (module docstring).

    ``groundtruth``: a file, its parsed dict (e.g. :func:`read_thumos14`'s) or a :class:`GroundTruth`
    (``subset`` and ``blocked`` are applied when reading; a ``GroundTruth`` is taken as it is).
    ``predictions``: a file, its dict or :class:`Predictions`; rows of ``blocked`` videos are dropped.
    ``unknown_labels``: ``"error"`` (a prediction label that is not a class is a :class:`DataError`)
    or ``"ignore"`` (those rows are dropped and counted in a warning).
    """
    if unknown_labels not in UNKNOWN_LABELS:
        raise ValueError(f"unknown_labels must be one of {UNKNOWN_LABELS}, got {unknown_labels!r}")
    thr = np.asarray(parse_tiou(tiou_thresholds), dtype=np.float64)
    blocked = frozenset(blocked)
    gt = groundtruth if isinstance(groundtruth, GroundTruth) else load_groundtruth(groundtruth, subset, blocked)
    pr = predictions if isinstance(predictions, Predictions) else load_predictions(predictions, blocked)
    where = "" if isinstance(predictions, (Predictions, Mapping)) else f"{predictions}: "
    warnings: list[str] = []

    keep = np.ones(len(pr.score), dtype=bool)
    if blocked and isinstance(predictions, Predictions):
        keep &= ~np.isin(pr.video, [i for i, v in enumerate(pr.videos) if v in blocked])
    class_index = {c: i for i, c in enumerate(gt.classes)}
    label_map = np.array([class_index.get(lab, -1) for lab in pr.labels] + [-1], dtype=np.int64)
    pl = label_map[pr.label] if len(pr.label) else np.zeros(0, dtype=np.int64)
    unknown = keep & (pl < 0)
    if unknown.any():
        names = sorted({pr.labels[i] for i in np.unique(pr.label[unknown])})
        shown = ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        if unknown_labels == "error":
            first = int(np.argmax(unknown))
            raise DataError(f"{where}{int(unknown.sum())} prediction(s) have a label that is not a class of the "
                            f"ground truth's {_subset_words(gt.subset)}: {shown} (first on video "
                            f"{pr.videos[pr.video[first]]!r}); the official evaluator stops there too "
                            "(vidlab eval-tal --ignore-unknown-labels drops them)")
        warnings.append(f"{int(unknown.sum())} prediction(s) with labels that are not ground-truth classes were "
                        f"ignored: {shown}")
        keep &= ~unknown

    video_code = {v: i for i, v in enumerate(gt.videos)}
    vmap = np.array([video_code.get(v, -1) for v in pr.videos] + [-1], dtype=np.int64)
    pv = vmap[pr.video] if len(pr.video) else np.zeros(0, dtype=np.int64)
    pv, ps, pl, sc = pv[keep], pr.segments[keep], pl[keep], pr.score[keep]
    warnings += _video_warnings(gt, pr, vmap, keep)

    ap = _match(gt.video, gt.segments, gt.label, len(gt.classes), pv, ps, pl, sc, thr)
    npred = np.bincount(pl, minlength=len(gt.classes))
    empty = [c for c, n in zip(gt.classes, npred) if n == 0]
    if empty:
        shown = ", ".join(repr(c) for c in empty[:3]) + (f" and {len(empty) - 3} more" if len(empty) > 3 else "")
        warnings.append(f"{len(empty)} of {len(gt.classes)} classes have no predictions (AP 0): {shown}")
    return DetectionResult(tiou_thresholds=tuple(thr.tolist()), classes=gt.classes, ap=ap,
                           num_groundtruth=np.bincount(gt.label, minlength=len(gt.classes)), num_predictions=npred,
                           subset=gt.subset, num_videos=len(gt.videos), num_prediction_rows=int(keep.sum()),
                           warnings=warnings)


def _subset_words(subset: str | None) -> str:
    return "videos" if subset is None else f"subset {subset!r}"


def _video_warnings(gt: GroundTruth, pr: Predictions, vmap: np.ndarray, keep: np.ndarray) -> list[str]:
    """Say when predictions fall on videos the evaluated ground truth does not have (false positives)."""
    outside = keep & (vmap[pr.video] < 0) if len(pr.video) else np.zeros(0, dtype=bool)
    if not outside.any():
        return []
    names = [pr.videos[i] for i in np.unique(pr.video[outside])]
    text = (f"{int(outside.sum())} prediction(s) on {len(names)} video(s) without ground truth in "
            f"{_subset_words(gt.subset)} count as false positives (the official rule)")
    other = sum(v in gt.other_videos for v in names)
    if other:
        text += f"; {other} of those videos are in the ground-truth file under another subset or blocked"
    known = set(gt.videos)
    prefixed = sum((v[2:] if v.startswith("v_") else "v_" + v) in known for v in names)
    if prefixed:
        text += (f"; {prefixed} would match a ground-truth video with a 'v_' prefix added or removed "
                 "(ids are compared exactly)")
    return [text]
