"""Classification metrics: top-k, mean-class accuracy, confusion matrix,
and multi-view score aggregation."""

from __future__ import annotations

import numpy as np
import torch


def topk_accuracy(scores: np.ndarray | torch.Tensor, labels, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores.

    Ties are broken by class index (lower first), as ``torch.topk`` on CPU does
    for equal values in practice; pass distinct scores where it matters.
    """
    s = torch.as_tensor(np.asarray(scores), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if s.ndim != 2 or s.shape[0] != y.shape[0]:
        raise ValueError(f"scores {tuple(s.shape)} and labels {tuple(y.shape)} do not match")
    if s.shape[0] == 0:
        return float("nan")
    k = min(k, s.shape[1])
    top = s.topk(k, dim=1).indices
    return float((top == y[:, None]).any(dim=1).double().mean())


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = clips of true class ``i`` predicted as ``j``."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predictions, dtype=np.int64)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y, p), 1)
    return cm


def row_normalised(cm) -> np.ndarray:
    """``cm`` with every row divided by its sum (rows without samples stay 0)."""
    cm = np.asarray(cm)
    return cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of every class; NaN for classes with no samples."""
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)


def mean_class_accuracy(cm: np.ndarray) -> float:
    """Average of per-class accuracies over the classes present."""
    acc = per_class_accuracy(cm)
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")


def aggregate_views(view_scores: torch.Tensor, method: str = "mean_softmax") -> torch.Tensor:
    """Combine ``(N, V, C)`` per-view logits into ``(N, C)`` video scores.

    ``mean_softmax`` (PySlowFast/MMAction2's default: average the class
    probabilities), ``mean_logits`` or ``max_softmax``.
    """
    if view_scores.ndim != 3:
        raise ValueError(f"expected (N, V, C) scores, got {tuple(view_scores.shape)}")
    if method == "mean_softmax":
        return view_scores.float().softmax(-1).mean(1)
    if method == "mean_logits":
        return view_scores.float().mean(1)
    if method == "max_softmax":
        return view_scores.float().softmax(-1).amax(1)
    raise ValueError(f"unknown aggregation {method!r}")


def classification_report(video_scores, labels, num_classes: int, view_scores=None) -> dict:
    """Every metric the reports show, as plain Python values."""
    video_scores = torch.as_tensor(video_scores)
    labels = np.asarray(labels, dtype=np.int64)
    preds = video_scores.argmax(1).numpy()
    cm = confusion_matrix(labels, preds, num_classes)
    out = {
        "top1": topk_accuracy(video_scores, labels, 1),
        "top5": topk_accuracy(video_scores, labels, 5),
        "mean_class_accuracy": mean_class_accuracy(cm),
        "per_class_accuracy": [None if np.isnan(a) else float(a) for a in per_class_accuracy(cm)],
        "confusion_matrix": cm.tolist(),
        "num_videos": int(len(labels)),
    }
    if view_scores is not None:
        vs = torch.as_tensor(view_scores)
        n, v, c = vs.shape
        out["clip_top1"] = topk_accuracy(vs.reshape(n * v, c), np.repeat(labels, v), 1)
        out["clip_top5"] = topk_accuracy(vs.reshape(n * v, c), np.repeat(labels, v), 5)
        out["num_views"] = int(v)
    return out
