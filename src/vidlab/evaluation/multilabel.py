"""Benchmark metrics beyond single-label top-k: mAP, clip -> video aggregation, per-class tables.

- :func:`average_precision` / :func:`per_class_average_precision` /
  :func:`mean_average_precision`: non-interpolated average precision (the
  mean of the precision at every positive, tied scores counted together, as
  scikit-learn's ``average_precision_score`` which PySlowFast's Charades
  evaluation calls). **Charades protocol**: AP per class over the *videos*,
  then the mean over the classes that have at least one positive video.
- :func:`aggregate_clips`: clip (or segment) scores -> one score per video,
  grouped by video id: ``mean_softmax`` for single-label (PySlowFast /
  MMAction2), ``max_sigmoid`` for multi-label (PySlowFast's Charades
  ``ENSEMBLE_METHOD: max``), ``mean_sigmoid``, ``mean_logits``.
  :func:`aggregate_views_multilabel` does the same for ``(N, V, C)`` view
  logits.
- :func:`hit_at_k` (multi-label top-k: is any positive among the top k),
  :func:`multilabel_report` (everything as plain values) and
  :func:`per_class_table` / :func:`markdown_table` for reports.

Single-label top-k, mean-class accuracy and the confusion matrix live in
:mod:`vidlab.evaluation.metrics`; :func:`single_label_report` adds the
clip- and video-level figures of a segment dataset (KTH repetitions,
ActivityNet segments) to them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from vidlab.evaluation.metrics import classification_report, confusion_matrix, per_class_accuracy

__all__ = [
    "aggregate_clips",
    "aggregate_views_multilabel",
    "average_precision",
    "hit_at_k",
    "markdown_table",
    "mean_average_precision",
    "multi_hot",
    "multilabel_report",
    "per_class_average_precision",
    "per_class_table",
    "single_label_report",
]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def average_precision(scores, targets) -> float:
    """AP of one class: ``sum over positives of precision@rank / #positives``.

    Tied scores form one threshold (every tied item is counted at once), so the
    result does not depend on the order of equal scores. NaN without positives.
    """
    s = _np(scores).reshape(-1)
    y = _np(targets).reshape(-1) > 0
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and targets {y.shape} differ")
    npos = int(y.sum())
    if npos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # last index of every distinct score (a threshold)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall_gain = np.diff(np.r_[0, tp]) / npos
    return float(np.sum(precision * recall_gain))


def per_class_average_precision(scores, targets) -> np.ndarray:
    """``(C,)`` AP per column of ``(N, C)`` scores/targets; NaN for classes without positives."""
    s, y = _np(scores), _np(targets)
    if s.ndim != 2 or s.shape != y.shape:
        raise ValueError(f"expected (N, C) scores and targets of the same shape, got {s.shape} and {y.shape}")
    return np.array([average_precision(s[:, c], y[:, c]) for c in range(s.shape[1])])


def mean_average_precision(scores, targets) -> float:
    """Mean of the per-class APs over the classes with at least one positive (Charades protocol)."""
    ap = per_class_average_precision(scores, targets)
    valid = ~np.isnan(ap)
    return float(ap[valid].mean()) if valid.any() else float("nan")


def multi_hot(labels: Sequence, num_classes: int) -> np.ndarray:
    """Labels (int or tuple of ints per item; -1 / empty = none) -> ``(N, C)`` 0/1 float array."""
    out = np.zeros((len(labels), num_classes), np.float32)
    for i, lab in enumerate(labels):
        for c in (lab if isinstance(lab, (tuple, list, np.ndarray)) else (lab,)):
            if int(c) >= 0:
                out[i, int(c)] = 1.0
    return out


def hit_at_k(scores, targets, k: int = 1) -> float:
    """Fraction of items whose top-``k`` classes include a positive (items without positives are skipped)."""
    s, y = _np(scores), _np(targets) > 0
    keep = y.any(1)
    if not keep.any():
        return float("nan")
    s, y = s[keep], y[keep]
    top = np.argsort(-s, axis=1, kind="mergesort")[:, :k]
    return float(np.take_along_axis(y, top, 1).any(1).mean())


_METHODS = ("mean_softmax", "max_sigmoid", "mean_sigmoid", "mean_logits", "max_softmax")


def _activate(x: torch.Tensor, method: str) -> torch.Tensor:
    if method.endswith("softmax"):
        return x.float().softmax(-1)
    if method.endswith("sigmoid"):
        return x.float().sigmoid()
    return x.float()


def aggregate_views_multilabel(view_logits, method: str = "max_sigmoid") -> torch.Tensor:
    """``(N, V, C)`` logits -> ``(N, C)`` scores (default: max over views of the sigmoids)."""
    x = torch.as_tensor(view_logits)
    if x.ndim != 3:
        raise ValueError(f"expected (N, V, C) logits, got {tuple(x.shape)}")
    if method not in _METHODS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(_METHODS)}")
    p = _activate(x, method)
    return p.amax(1) if method.startswith("max") else p.mean(1)


def aggregate_clips(clip_logits, video_ids: Sequence, method: str = "mean_softmax") -> tuple[list, torch.Tensor]:
    """Clip/segment logits ``(M, C)`` (or ``(M, V, C)`` views) -> ``(videos, (N, C) scores)``.

    Rows with the same ``video_ids[i]`` are one video (in order of first
    appearance). ``method``: ``mean_softmax`` (single-label), ``max_sigmoid``
    (multi-label), ``mean_sigmoid``, ``mean_logits``, ``max_softmax``. Views
    of a clip are pooled the same way first.
    """
    x = torch.as_tensor(clip_logits).float()
    if method not in _METHODS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(_METHODS)}")
    if x.ndim == 3:
        p = _activate(x, method)
        x_act = p.amax(1) if method.startswith("max") else p.mean(1)
    elif x.ndim == 2:
        x_act = _activate(x, method)
    else:
        raise ValueError(f"expected (M, C) or (M, V, C) logits, got {tuple(x.shape)}")
    if len(video_ids) != x_act.shape[0]:
        raise ValueError(f"{len(video_ids)} video ids for {x_act.shape[0]} clips")
    order: dict = {}
    for v in video_ids:
        order.setdefault(v, len(order))
    group = torch.tensor([order[v] for v in video_ids])
    n, c = len(order), x_act.shape[1]
    if method.startswith("max"):
        out = torch.full((n, c), -torch.inf).scatter_reduce(0, group[:, None].expand(-1, c), x_act, "amax")
    else:
        out = torch.zeros(n, c).index_add_(0, group, x_act)
        out /= torch.bincount(group, minlength=n).clamp_min(1)[:, None].float()
    return list(order), out


def multilabel_report(video_scores, targets, class_names: Sequence[str] | None = None, *, view_scores=None) -> dict:
    """mAP (Charades protocol), per-class AP and positives, hit@1/5, as plain values.

    ``video_scores``: ``(N, C)`` probabilities (or any monotone score);
    ``targets``: ``(N, C)`` 0/1 or a list of label tuples. ``view_scores``
    ``(N, V, C)`` adds the clip-level mAP (every view scored against its video's labels).
    """
    s = _np(video_scores)
    y = _np(targets) if not isinstance(targets, list) else multi_hot(targets, s.shape[1]).astype(np.float64)
    ap = per_class_average_precision(s, y)
    positives = (y > 0).sum(0).astype(int)
    names = list(class_names) if class_names is not None else [str(i) for i in range(s.shape[1])]
    valid = ~np.isnan(ap)
    out = {
        "mAP": float(ap[valid].mean()) if valid.any() else float("nan"),
        "num_videos": int(s.shape[0]),
        "num_classes": int(s.shape[1]),
        "classes_with_positives": int(valid.sum()),
        "hit@1": hit_at_k(s, y, 1),
        "hit@5": hit_at_k(s, y, 5),
        "per_class": [{"class": names[c], "ap": None if np.isnan(ap[c]) else float(ap[c]), "positives": int(positives[c])}
                      for c in range(s.shape[1])],
    }
    if view_scores is not None:
        v = _np(view_scores)
        n, k, c = v.shape
        out["clip_mAP"] = mean_average_precision(v.reshape(n * k, c), np.repeat(y, k, axis=0))
        out["num_views"] = int(k)
    return out


def single_label_report(clip_logits, labels, video_ids: Sequence, num_classes: int,
                        class_names: Sequence[str] | None = None) -> dict:
    """Clip-level and video-level figures of a dataset whose samples are clips/segments of videos.

    ``clip_logits`` ``(M, C)`` or ``(M, V, C)`` (views averaged by softmax),
    ``labels`` ``(M,)``, ``video_ids`` ``(M,)``. The video level averages the
    softmax of its clips (every clip of a video must carry the video's label).
    Returns ``{"clip": classification_report, "video": classification_report,
    "per_class": per_class_table rows}``.
    """
    x = torch.as_tensor(clip_logits).float()
    clip_scores = x.softmax(-1).mean(1) if x.ndim == 3 else x.softmax(-1)
    labels = np.asarray(labels, dtype=np.int64)
    clip = classification_report(clip_scores, labels, num_classes)
    vids, video_scores = aggregate_clips(x, list(video_ids), "mean_softmax")
    first: dict = {}
    for v, lab in zip(video_ids, labels):
        if v in first and first[v] != lab:
            raise ValueError(f"video {v!r} has clips of different labels ({first[v]}, {lab})")
        first.setdefault(v, int(lab))
    video_labels = np.array([first[v] for v in vids])
    video = classification_report(video_scores, video_labels, num_classes)
    video["videos"] = [str(v) for v in vids]
    return {"clip": clip, "video": video,
            "per_class": per_class_table(np.asarray(video["confusion_matrix"]), class_names)}


def per_class_table(cm_or_report, class_names: Sequence[str] | None = None) -> list[dict]:
    """Rows for a per-class table.

    From a confusion matrix ``(C, C)``: ``{"class", "support", "correct", "accuracy"}``
    (accuracy = recall; None without samples). From a :func:`multilabel_report`:
    its ``per_class`` rows (``class``, ``ap``, ``positives``).
    """
    if isinstance(cm_or_report, dict):
        return list(cm_or_report["per_class"])
    cm = np.asarray(cm_or_report)
    acc = per_class_accuracy(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    return [{"class": names[c], "support": int(cm[c].sum()), "correct": int(cm[c, c]),
             "accuracy": None if np.isnan(acc[c]) else float(acc[c])} for c in range(len(cm))]


def markdown_table(rows: list[dict], digits: int = 3) -> str:
    """A Markdown table of dict rows (columns from the first row)."""
    if not rows:
        return ""
    cols = list(rows[0])

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def confusion_rows(labels, predictions, num_classes: int, class_names: Sequence[str] | None = None) -> list[dict]:
    """A confusion matrix as table rows: ``{"true": name, pred_name: count, ...}``."""
    cm = confusion_matrix(labels, predictions, num_classes)
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    return [{"true": names[i], **{names[j]: int(cm[i, j]) for j in range(num_classes)}} for i in range(num_classes)]
