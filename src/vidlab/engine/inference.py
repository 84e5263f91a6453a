"""Whole-video classification with sliding windows.

A video is cut into windows of one clip span (``num_frames * sampling_rate``
frames at the model's target fps); consecutive windows start ``stride``
seconds apart (default: one span, no overlap) and the last window is aligned
to the end so the tail is covered. Each window is classified from its centre
crop; the whole-video prediction averages the window probabilities. Frames
are decoded in chunks of windows, so memory stays bounded on long videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from vidlab.data.sampling import clip_size, linspace_indices, plan_views
from vidlab.data.transforms import ClipTransform


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
    """Per-window and whole-video top-k for one file. ``stride`` is in seconds."""
    from vidlab.io import VideoReader

    pre = Preprocessing.from_model(model)
    meta = getattr(model, "meta", {}) or {}
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
        all_probs = []
        for c in range(0, len(windows), batch_windows):
            chunk = windows[c : c + batch_windows]
            plan = plan_views(chunk)
            frames = reader.get_frames(plan.frames)
            clips = torch.stack([tf(frames[v]) for v in plan.views]).to(device)
            all_probs.append(model(clips).float().softmax(-1).cpu())
            if on_window:
                on_window(min(c + batch_windows, len(windows)), len(windows))
    probs = torch.cat(all_probs)
    video = probs.mean(0)
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
        "top": _top(video, labels, topk),
        "windows": out_windows,
    }
