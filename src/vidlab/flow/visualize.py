"""Flow as colour: the Middlebury/Baker et al. colour wheel (hue = direction,
saturation = speed), rendered by ``torchvision.utils.flow_to_image``.

torchvision normalises a batch by its largest vector; here every frame of a
video is normalised by one fixed radius (``max_radius``: the video's largest
displacement unless given), so colours mean the same speed in every frame and
the video does not flicker. Vectors longer than the radius are clipped to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = ["flow_to_rgb", "write_flow_video"]


def flow_to_rgb(flow: np.ndarray, max_radius: float | None = None) -> np.ndarray:
    """``(2, H, W)`` or ``(N, 2, H, W)`` flow in pixels -> ``(H, W, 3)`` / ``(N, H, W, 3)`` uint8 RGB.

    ``max_radius`` (pixels) is the speed shown fully saturated; None uses the
    largest vector of the input. Zero flow is white.
    """
    import torch
    from torchvision.utils import flow_to_image

    f = torch.as_tensor(np.asarray(flow, dtype=np.float32))
    single = f.ndim == 3
    if single:
        f = f[None]
    if f.ndim != 4 or f.shape[1] != 2:
        raise ValueError(f"expected flow (2, H, W) or (N, 2, H, W), got {tuple(f.shape)}")
    norm = f.pow(2).sum(1, keepdim=True).sqrt()
    radius = float(norm.max()) if max_radius is None else float(max_radius)
    if radius <= 0:
        radius = 1.0
    f = f * torch.clamp(radius / norm.clamp_min(1e-12), max=1.0)  # clip long vectors to the radius
    # one extra field holding a vector of exactly `radius` fixes torchvision's normaliser
    ref = torch.zeros((1,) + tuple(f.shape[1:]))
    ref[0, 0, 0, 0] = radius
    img = flow_to_image(torch.cat([f, ref]))[:-1].permute(0, 2, 3, 1).numpy()
    return img[0] if single else img


def write_flow_video(path: str | os.PathLike, flows: Iterable[np.ndarray] | np.ndarray, fps: float, *,
                     max_radius: float | None = None) -> Path:
    """An H.264 mp4 of flow fields ``(2, H, W)`` in colour-wheel coding.

    With ``max_radius=None`` the flows are gathered first to find the
    largest displacement; pass a radius to stream.
    """
    from vidlab.io import write_video

    if max_radius is None:
        flows = np.asarray(list(flows) if not isinstance(flows, np.ndarray) else flows, dtype=np.float32)
        max_radius = float(np.sqrt((flows.astype(np.float32) ** 2).sum(1)).max()) if flows.size else 1.0
    return write_video(path, (flow_to_rgb(f, max_radius) for f in flows), fps)
