"""Whole-video classification with sliding windows.

A video is cut into windows of one clip span (``num_frames * sampling_rate``
frames at the model's target fps); consecutive windows start ``stride``
seconds apart (default: one span, no overlap) and the last window is aligned
to the end so the tail is covered. Each window is classified from its centre
crop. Frames are decoded in chunks of windows, so memory stays bounded on long
videos.

Scores follow the checkpoint (:func:`vidlab.models.is_multi_label`): a
single-label model's scores are softmax probabilities and the whole-video
prediction is their mean over the windows; a multi-label model's
(``preprocessing.multi_label`` in its sidecar, e.g. Charades: independent
classes trained with a sigmoid / BCE) are per-class sigmoids and the video
takes the max over the windows (PySlowFast's Charades rule, ``ENSEMBLE_METHOD:
max``). The result's ``activation`` (``"softmax"`` or ``"sigmoid"``) and
``aggregation`` (``"mean"`` or ``"max"``) say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from vidlab.data.sampling import clip_size, linspace_indices, plan_views
from vidlab.data.transforms import ClipTransform
from vidlab.evaluation.metrics import aggregate_views
from vidlab.evaluation.multilabel import aggregate_views_multilabel
from vidlab.models import is_multi_label


@dataclass
class Preprocessing:
    num_frames: int
    sampling_rate: int
    crop_size: int
    test_scale: int
    mean: tuple
    std: tuple
    target_fps: float | None = None

    @classmethod
    def from_model(cls, model: nn.Module) -> "Preprocessing":
        meta = getattr(model, "meta", {}) or {}
        p = dict(meta.get("preprocessing") or {})
        if not p:
            from vidlab.models import get_spec

            spec = get_spec(meta.get("arch") or model.arch)
            p = spec.preprocessing()
        return cls(
            num_frames=int(p["num_frames"]), sampling_rate=int(p["sampling_rate"]), crop_size=int(p["crop_size"]),
            test_scale=int(p.get("test_scale") or p.get("test_crop_size") or p["crop_size"]),
            mean=tuple(p["mean"]), std=tuple(p["std"]), target_fps=p.get("target_fps"),
        )


def window_starts(num_frames: int, span: float, stride: float) -> list[float]:
    """Start frames of the sliding windows (last one aligned to the end)."""
    if num_frames <= span:
        return [0.0]
    last = num_frames - span
    starts = list(np.arange(0.0, last + 1e-9, stride))
    if last - starts[-1] > 1e-6:
        starts.append(last)
    return [float(s) for s in starts]


def activation_of(meta: dict | None) -> str:
    """``"sigmoid"`` for a multi-label checkpoint document (:func:`vidlab.models.is_multi_label`), else
    ``"softmax"``."""
    return "sigmoid" if is_multi_label(meta) else "softmax"


def class_scores(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """Per-view class scores from ``(..., C)`` logits: ``softmax`` over the classes, or an independent
    ``sigmoid`` per class (multi-label)."""
    if activation == "sigmoid":
        return logits.float().sigmoid()
    if activation == "softmax":
        return logits.float().softmax(-1)
    raise ValueError(f"unknown activation {activation!r}; choose softmax or sigmoid")


def _top(probs: torch.Tensor, labels: list[str], k: int) -> list[dict]:
    k = min(k, probs.numel())
    vals, idx = probs.topk(k)
    return [{"label": labels[i], "index": int(i), "score": round(float(v), 6)} for v, i in zip(vals, idx)]


@torch.no_grad()
def classify_video(
    model: nn.Module,
    path: str,
    *,
    labels: list[str] | None = None,
    topk: int = 5,
    stride: float | None = None,
    batch_windows: int = 8,
    backend: str = "pyav",
    device: torch.device | str = "cpu",
    on_window: Callable[[int, int], None] | None = None,
) -> dict:
    """Per-window and whole-video top-k for one file. ``stride`` is in seconds.

    Scores: softmax probabilities averaged over the windows, or for a multi-label checkpoint
    per-class sigmoids with the max over the windows (the result's ``activation`` and
    ``aggregation`` name which)."""
    from vidlab.io import VideoReader

    pre = Preprocessing.from_model(model)
    meta = getattr(model, "meta", {}) or {}
    activation = activation_of(meta)
    labels = labels or meta.get("labels") or [str(i) for i in range(int(meta.get("num_classes") or 0) or 1)]
    tf = ClipTransform(train=False, crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean, std=pre.std)
    model.eval()
    with VideoReader(path, backend=backend) as reader:
        info = reader.info
        fps = info.fps or 25.0
        span = clip_size(pre.num_frames, pre.sampling_rate, fps, pre.target_fps)  # >= 1 source frame
        stride_frames = stride * fps if stride else span
        starts = window_starts(info.num_frames, span, stride_frames)
        windows = [linspace_indices(s, s + span - 1, pre.num_frames, info.num_frames) for s in starts]
        all_logits = []
        for c in range(0, len(windows), batch_windows):
            chunk = windows[c : c + batch_windows]
            plan = plan_views(chunk)
            frames = reader.get_frames(plan.frames)
            clips = torch.stack([tf(frames[v]) for v in plan.views]).to(device)
            all_logits.append(model(clips).float().cpu())
            if on_window:
                on_window(min(c + batch_windows, len(windows)), len(windows))
    logits = torch.cat(all_logits)  # (windows, C): the windows are the video's views
    probs = class_scores(logits, activation)
    if activation == "sigmoid":
        video = aggregate_views_multilabel(logits[None], "max_sigmoid")[0]
    else:
        video = aggregate_views(logits[None], "mean_softmax")[0]
    out_windows = []
    for s, p in zip(starts, probs):
        out_windows.append({
            "start_sec": round(s / fps, 3),
            "end_sec": round(min(s + span, info.num_frames) / fps, 3),
            "top": _top(p, labels, topk),
        })
    return {
        "video": str(path),
        "fps": round(fps, 3),
        "num_frames": info.num_frames,
        "duration": round(info.duration, 3),
        "activation": activation,
        "aggregation": "max" if activation == "sigmoid" else "mean",
        "top": _top(video, labels, topk),
        "windows": out_windows,
    }
