"""Visual explanations of video classifiers: Grad-CAM in space and time, SlowFast pathway ablation.

- :func:`grad_cam` (:mod:`vidlab.explain.gradcam`): maps of where and when the
  evidence for a class lies, one per layer (per pathway for SlowFast);
- :func:`pathway_ablation` (:mod:`vidlab.explain.ablation`): SlowFast's score
  with the Fast or the Slow pathway or the laterals taken out, each removal an
  exact, stated operation;
- :func:`explain_video`: what ``vidlab explain`` runs: one window of a video file
  taken as ``vidlab classify`` takes its windows (same sampling, same test-time
  resize and centre crop, same normalisation: :class:`~vidlab.engine.inference.Preprocessing`
  and :class:`~vidlab.data.transforms.ClipTransform`), Grad-CAM, the ablation for
  SlowFast, and the files: ``{stem}_gradcam.mp4`` (the clip the model saw, with
  the map blended in colour), ``{stem}_gradcam.png`` (a contact sheet), with
  ``_slow``/``_fast`` suffixes for SlowFast (``_{layer}`` when several layers
  are named), and ``{stem}_explain.json``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidlab.errors import VidlabError
from vidlab.explain.ablation import VARIANTS, ablated, pathway_ablation
from vidlab.explain.gradcam import (
    CamMap,
    GradCam,
    LayerError,
    contact_sheet,
    default_layers,
    find_module,
    grad_cam,
    overlay,
    resolve_layers,
)

__all__ = [
    "VARIANTS",
    "CamMap",
    "GradCam",
    "LayerError",
    "Window",
    "ablated",
    "class_index_for",
    "contact_sheet",
    "default_layers",
    "explain_video",
    "find_module",
    "grad_cam",
    "overlay",
    "pathway_ablation",
    "read_window",
    "resolve_layers",
]

#: Videos and sheets are drawn with the shorter side at least this many pixels (the crop upscaled).
MIN_DISPLAY = 224


@dataclass
class Window:
    """One clip of a video as the model sees it.

    ``clip``: normalised ``(C, T, H, W)``; ``frames``: the same crop as RGB uint8
    ``(T, H, W, 3)`` for drawing; ``source_frames``: the decoded frame indices;
    ``fps``: the rate of the sampled frames (source fps over the sampling step).
    """

    clip: torch.Tensor
    frames: np.ndarray
    source_frames: list[int]
    start_sec: float
    end_sec: float
    fps: float
    video_fps: float


def read_window(model: nn.Module, path: str | os.PathLike, *, start: float = 0.0, backend: str = "pyav") -> Window:
    """The window starting ``start`` seconds into ``path``, sampled like one of ``vidlab classify``'s windows
    (a start past the last full window is moved back to it, as classify aligns its last window to the end)."""
    from vidlab.data.sampling import clip_size, linspace_indices, plan_views
    from vidlab.data.transforms import ClipTransform
    from vidlab.engine.inference import Preprocessing
    from vidlab.io import VideoReader

    if not start >= 0:
        raise VidlabError(f"--start must be >= 0 seconds, got {start:g}")
    pre = Preprocessing.from_model(model)
    if len(pre.mean) != 3:
        raise VidlabError(f"explain reads RGB clips; this model takes {len(pre.mean)}-channel input (optical flow?)")
    tf = ClipTransform(train=False, crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean, std=pre.std)
    with VideoReader(path, backend=backend) as reader:
        info = reader.info
        fps = info.fps or 25.0
        span = clip_size(pre.num_frames, pre.sampling_rate, fps, pre.target_fps)
        first = start * fps
        if first >= info.num_frames:
            raise VidlabError(f"{path}: --start {start:g} s is past the end of the video ({info.duration:.2f} s)")
        first = min(first, max(info.num_frames - span, 0.0))
        index = linspace_indices(first, first + span - 1, pre.num_frames, info.num_frames)
        plan = plan_views([index])
        frames = reader.get_frames(plan.frames)[plan.views[0]]
    clip = tf(frames)
    mean = torch.as_tensor(pre.mean, dtype=clip.dtype).view(-1, 1, 1, 1)
    std = torch.as_tensor(pre.std, dtype=clip.dtype).view(-1, 1, 1, 1)
    shown = (clip * std + mean).clamp(0, 1).mul(255).add(0.5).to(torch.uint8)
    if shown.shape[0] == 1:
        shown = shown.expand(3, -1, -1, -1)
    return Window(clip=clip, frames=shown[:3].permute(1, 2, 3, 0).contiguous().numpy(),
                  source_frames=[int(i) for i in index], start_sec=round(first / fps, 3),
                  end_sec=round(min(first + span, info.num_frames) / fps, 3),
                  fps=float(fps * pre.num_frames / span), video_fps=float(fps))


def class_index_for(value: int | str | None, labels: Sequence[str], num_classes: int) -> int | None:
    """``--class``: an index (``"3"``) or a label name (exact, then ignoring case); None stays None."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        i = int(text)
        if not 0 <= i < num_classes:
            raise VidlabError(f"--class {i} is out of range: the model has {num_classes} classes (0..{num_classes - 1})")
        return i
    if text in labels:
        return list(labels).index(text)
    folded = [lab.lower() for lab in labels]
    if text.lower() in folded:
        return folded.index(text.lower())
    close = difflib.get_close_matches(text, list(labels), n=5, cutoff=0.5)
    hint = f"; close: {', '.join(close)}" if close else f"; give an index 0..{num_classes - 1} or a label name"
    raise VidlabError(f"--class {text!r} is not a label of this model{hint}")


def _labels(model: nn.Module, num_classes: int) -> list[str]:
    meta = getattr(model, "meta", {}) or {}
    labels = list(meta.get("labels") or [])
    return labels if len(labels) == num_classes else [str(i) for i in range(num_classes)]


def _top(logits: torch.Tensor, labels: Sequence[str], k: int) -> list[dict]:
    probs = logits.float().softmax(-1)
    vals, idx = probs.topk(min(k, probs.numel()))
    return [{"label": labels[int(i)], "index": int(i), "score": round(float(v), 6),
             "logit": round(float(logits[int(i)]), 6)} for v, i in zip(vals, idx)]


def _suffixes(maps: Sequence[CamMap]) -> list[str]:
    """File suffixes: '' for one map, the pathway for SlowFast, else the layer (dots -> '-')."""
    if len(maps) == 1 and maps[0].pathway is None:
        return [""]
    raw = [m.pathway or m.layer.replace(".", "-") for m in maps]
    if len(set(raw)) < len(raw):
        raw = [f"{m.layer.replace('.', '-')}_{m.pathway}" if m.pathway else m.layer.replace(".", "-") for m in maps]
    return ["_" + s for s in raw]


def _display(frames: np.ndarray) -> np.ndarray:
    """Frames upscaled (bilinear) so the shorter side is at least :data:`MIN_DISPLAY`."""
    from PIL import Image

    h, w = frames.shape[1:3]
    scale = math.ceil(MIN_DISPLAY / min(h, w)) if min(h, w) < MIN_DISPLAY else 1
    if scale == 1:
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((w * scale, h * scale), Image.Resampling.BILINEAR))
                     for f in frames])


def explain_video(
    model: nn.Module,
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    layers: str | Sequence[str] | None = None,
    class_index: int | str | None = None,
    start: float = 0.0,
    topk: int = 5,
    backend: str = "pyav",
    checkpoint: str | os.PathLike | None = None,
) -> dict:
    """Grad-CAM (and for SlowFast the pathway ablation) of one window of ``path``; writes the videos, contact
    sheets and ``{stem}_explain.json`` into ``out_dir`` and returns that document (``checkpoint``: recorded in it)."""
    from vidlab.io import write_video

    _check_input_kind(model)
    names = resolve_layers(model, layers)  # a bad name fails before anything is decoded
    num_classes = int(getattr(model, "num_classes"))
    labels = _labels(model, num_classes)
    c = class_index_for(class_index, labels, num_classes)
    window = read_window(model, path, start=start, backend=backend)
    cams = grad_cam(model, window.clip, layers=names, class_index=c)
    c = cams.class_index
    probs = cams.probs
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    maps = []
    for cam, suffix in zip(cams.maps, _suffixes(cams.maps)):
        frames = _display(window.frames[cam.frames])
        heat = _display_map(cam.cam, frames.shape[1:3])
        video = write_video(out / f"{stem}_gradcam{suffix}.mp4", overlay(frames, heat),
                            max(1.0, window.fps * len(cam.frames) / len(window.source_frames)))
        what = f"{cam.pathway} pathway, " if cam.pathway else ""
        sheet = contact_sheet(out / f"{stem}_gradcam{suffix}.png", frames, heat,
                              title=f"Grad-CAM {what}{cam.layer}: class {labels[c]!r} (p={float(probs[c]):.3f})",
                              labels=[f"#{window.source_frames[i]}" for i in cam.frames])
        t, y, x = np.unravel_index(int(cam.cam.argmax()), tuple(cam.cam.shape))
        maps.append({"name": cam.name, "layer": cam.layer, "pathway": cam.pathway, "frames": cam.frames,
                     "source_frames": [window.source_frames[i] for i in cam.frames],
                     "activation_shape": list(cam.activation_shape), "raw_max": round(cam.raw_max, 6),
                     "peak": {"t": int(t), "y": int(y), "x": int(x)}, "video": str(video), "sheet": str(sheet)})
    doc: dict[str, Any] = {
        "video": str(path),
        "arch": getattr(model, "arch", None) or (getattr(model, "meta", {}) or {}).get("arch"),
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "window": {"start_sec": window.start_sec, "end_sec": window.end_sec, "source_frames": window.source_frames,
                   "fps": round(window.video_fps, 3), "clip_shape": list(window.clip.shape)},
        "class": {"index": c, "label": labels[c], "logit": round(float(cams.logits[c]), 6),
                  "prob": round(float(probs[c]), 6), "chosen": "given" if class_index is not None else "top-1"},
        "top": _top(cams.logits, labels, topk),
        "layers": names,
        "maps": maps,
    }
    from vidlab.models.slowfast import SlowFast

    if isinstance(model, SlowFast):
        doc["ablation"] = pathway_ablation(model, window.clip, class_index=c, labels=labels)
    doc["json"] = str(out / f"{stem}_explain.json")
    Path(doc["json"]).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def _check_input_kind(model: nn.Module) -> None:
    from vidlab.models import get_spec

    arch = getattr(model, "arch", None) or (getattr(model, "meta", {}) or {}).get("arch")
    if arch:
        inputs = get_spec(str(arch)).inputs
        if inputs != "clip":
            raise VidlabError(f"explain takes classifiers of one clip; {arch} takes {inputs!r} input")


def _display_map(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """A ``(T, H, W)`` map resized (bilinear) to the display size of its frames."""
    import torch.nn.functional as F

    if tuple(cam.shape[1:]) == tuple(size):
        return cam.numpy()
    return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0].clamp(0, 1).numpy()
