"""Video transforms with PySlowFast semantics.

Frames arrive from the decoder as ``uint8`` arrays ``(T, H, W, 3)``. The
pipeline turns them into float clips ``(C, T, H, W)`` normalised with the
model's mean/std:

* training: short-side scale jitter -> [RandAugment] -> random crop -> optional
  horizontal flip -> normalise -> [random erasing] (the bracketed steps are off by
  default; :mod:`vidlab.data.video_augment`)
* testing: short-side scale to a fixed size -> one of 3 uniform crops
  (left/centre/right along the longer side, PySlowFast's ``uniform_crop``) or
  the centre crop only.

Resizing is bilinear with ``align_corners=False`` as in PySlowFast. All
randomness comes from a ``numpy.random.Generator`` passed in, so a seeded
dataset is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


def to_float_tchw(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(T, H, W, C)`` uint8 -> ``(T, C, H, W)`` float32 in [0, 1]."""
    x = torch.as_tensor(frames)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"expected frames of shape (T, H, W, C), got {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2)
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def short_side_scale(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(T, C, H, W)`` so the shorter side is ``size`` (PySlowFast rounding:
    the longer side is ``floor(long / short * size)``)."""
    h, w = clip.shape[-2:]
    if (w <= h and w == size) or (h <= w and h == size):
        return clip
    if w < h:
        new_w, new_h = size, int(math.floor(float(h) / w * size))
    else:
        new_h, new_w = size, int(math.floor(float(w) / h * size))
    return F.interpolate(clip, size=(new_h, new_w), mode="bilinear", align_corners=False)


def random_short_side_scale(clip: torch.Tensor, min_size: int, max_size: int, rng: np.random.Generator) -> torch.Tensor:
    """PySlowFast's ``random_short_side_scale_jitter``: short side drawn in [min, max]."""
    size = int(round(rng.uniform(min_size, max_size)))
    return short_side_scale(clip, size)


def random_crop(clip: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    h, w = clip.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"crop {size} larger than frame {h}x{w}")
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return clip[..., y : y + size, x : x + size]


def uniform_crop(clip: torch.Tensor, size: int, spatial_idx: int) -> torch.Tensor:
    """PySlowFast's ``uniform_crop``: 0/1/2 = start/centre/end of the longer side."""
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial_idx must be 0, 1 or 2, got {spatial_idx}")
    h, w = clip.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"crop {size} larger than frame {h}x{w}")
    y = int(math.ceil((h - size) / 2))
    x = int(math.ceil((w - size) / 2))
    if h > w:
        if spatial_idx == 0:
            y = 0
        elif spatial_idx == 2:
            y = h - size
    else:
        if spatial_idx == 0:
            x = 0
        elif spatial_idx == 2:
            x = w - size
    return clip[..., y : y + size, x : x + size]


def horizontal_flip(clip: torch.Tensor) -> torch.Tensor:
    return clip.flip(-1)


def normalize(clip: torch.Tensor, mean, std) -> torch.Tensor:
    """Normalise a ``(T, C, H, W)`` clip channel-wise."""
    m = torch.as_tensor(mean, dtype=clip.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=clip.dtype).view(1, -1, 1, 1)
    return (clip - m) / s


def normalize_to_cthw(clip: torch.Tensor, mean, std) -> torch.Tensor:
    """``normalize`` and ``(T, C, H, W) -> (C, T, H, W)`` in one copy: the same values as
    ``normalize(clip, mean, std).permute(1, 0, 2, 3).contiguous()``, bit for bit, with one
    pass over the clip and one allocation instead of three."""
    out = clip.permute(1, 0, 2, 3).contiguous()
    if out.data_ptr() == clip.data_ptr():  # already (C, T, H, W) in memory: do not touch the input
        out = out.clone()
    m = torch.as_tensor(mean, dtype=out.dtype).view(-1, 1, 1, 1)
    s = torch.as_tensor(std, dtype=out.dtype).view(-1, 1, 1, 1)
    return out.sub_(m).div_(s)


@dataclass
class ClipTransform:
    """The whole per-clip pipeline, train or test.

    ``flip`` is a probability. Keep it 0 for datasets whose labels are not
    mirror-symmetric (moving left/right, rotating clockwise/anticlockwise: the
    synthetic set, Something-Something).

    Training only: ``rand_augment`` (a policy string such as ``rand-m7-n4-mstd0.5-inc1``,
    :class:`~vidlab.data.video_augment.VideoRandAugment`) acts on the scaled frames before
    the crop, as PySlowFast applies it to the decoded frames before its crop;
    ``random_erasing`` (a probability) erases one box, the same on every frame, in the
    normalised clip (``erasing_mode`` pixel | rand | const). Both draw from ``rng``; when
    off they draw nothing, so the other random choices are unchanged.
    """

    train: bool
    crop_size: int = 224
    min_scale: int = 256
    max_scale: int = 320
    test_scale: int | None = None
    flip: float = 0.5
    mean: tuple = KINETICS_MEAN
    std: tuple = KINETICS_STD
    spatial_crops: int = 1
    rand_augment: str | None = None
    random_erasing: float = 0.0
    erasing_mode: str = "pixel"

    def __post_init__(self) -> None:
        self._rand_augment = None
        if self.rand_augment:
            from vidlab.data.video_augment import VideoRandAugment

            self._rand_augment = VideoRandAugment.parse(self.rand_augment)
        if not 0 <= self.random_erasing <= 1 or self.erasing_mode not in ("pixel", "rand", "const"):
            raise ValueError(f"random_erasing must be in [0, 1] and erasing_mode pixel, rand or const, "
                             f"got {self.random_erasing!r}, {self.erasing_mode!r}")

    def __call__(
        self,
        frames: np.ndarray | torch.Tensor,
        rng: np.random.Generator | None = None,
        spatial_idx: int = 1,
    ) -> torch.Tensor:
        """Frames ``(T, H, W, C)`` -> clip ``(C, T, H, W)``."""
        clip = to_float_tchw(frames)
        if self.train:
            rng = rng if rng is not None else np.random.default_rng()
            clip = random_short_side_scale(clip, self.min_scale, self.max_scale, rng)
            if self._rand_augment is not None:
                clip = self._rand_augment(clip, rng)
            clip = random_crop(clip, self.crop_size, rng)
            if self.flip > 0 and rng.random() < self.flip:
                clip = horizontal_flip(clip)
        else:
            clip = short_side_scale(clip, self.test_scale or self.crop_size)
            clip = uniform_crop(clip, self.crop_size, spatial_idx)
        out = normalize_to_cthw(clip, self.mean, self.std)
        if self.train and self.random_erasing > 0:
            from vidlab.data.video_augment import random_erase

            out = random_erase(out, self.random_erasing, rng, self.erasing_mode)
        return out

    def views(self, frames: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
        """All spatial test views of one temporal clip (1 = centre, 3 = start/centre/end)."""
        if self.spatial_crops == 1:
            return [self(frames, spatial_idx=1)]
        if self.spatial_crops == 3:
            # scale once, crop three times
            clip = to_float_tchw(frames)
            clip = short_side_scale(clip, self.test_scale or self.crop_size)
            out = []
            for idx in range(3):
                out.append(normalize_to_cthw(uniform_crop(clip, self.crop_size, idx), self.mean, self.std))
            return out
        raise ValueError(f"spatial_crops must be 1 or 3, got {self.spatial_crops}")
