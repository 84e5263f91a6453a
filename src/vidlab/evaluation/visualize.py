"""Annotated videos: predictions drawn onto frames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def annotate_frame(frame: np.ndarray, lines: Sequence[tuple[str, tuple[int, int, int]]], scale: int = 1) -> np.ndarray:
    """Upscale ``frame`` (H, W, 3) by ``scale`` (nearest) and draw text lines on a
    translucent band at the top. ``lines`` are ``(text, rgb colour)``."""
    img = Image.fromarray(frame)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    font_size = max(10, img.height // 18)
    band = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    draw.rectangle([0, 0, img.width, (font_size + 4) * len(lines) + 6], fill=(0, 0, 0, 150))
    font = _font(font_size)
    for i, (text, colour) in enumerate(lines):
        draw.text((5, 4 + i * (font_size + 4)), text, fill=(*colour, 255), font=font)
    out = Image.alpha_composite(img.convert("RGBA"), band).convert("RGB")
    return np.asarray(out)


def write_annotated_video(
    path: str | os.PathLike,
    segments: Iterable[tuple[np.ndarray, Sequence[tuple[str, tuple[int, int, int]]]]],
    fps: float,
    scale: int = 1,
) -> Path:
    """Concatenate ``(frames (T,H,W,3), text lines)`` segments into one H.264 mp4."""
    from vidlab.io import write_video

    def frames():
        for clip, lines in segments:
            for f in clip:
                yield annotate_frame(np.asarray(f), lines, scale)

    return write_video(path, frames(), fps)
