"""``classic``: a non-neural cartoon filter, so ``vidlab cartoonize`` works offline with no weights.

Three classic steps (OpenCV only, deterministic):

1. **Edge-preserving smoothing**: ``passes`` bilateral filters on a half-size copy (flattens
   texture, keeps object boundaries), then bicubic back to full size.
2. **Colour quantisation**: k-means with ``colors`` centres in RGB on a fixed-seed subsample of
   at most 20,000 pixels, then every pixel takes its nearest centre (flat paint regions).
3. **Edges**: adaptive mean threshold of the median-blurred grey image (dark outlines), which
   multiplies the quantised colours.

Cost is linear in the pixel count; a 12-megapixel photo takes a few seconds on two cores.
"""

from __future__ import annotations

import numpy as np

__all__ = ["classic_cartoon", "fit_palette", "smooth"]


def fit_palette(rgb: np.ndarray, colors: int = 12, seed: int = 0) -> np.ndarray:
    """k-means centres ``(k, 3)`` float32 of an RGB image (fixed-seed subsample of 20,000 pixels)."""
    import cv2

    pix = rgb.reshape(-1, 3)
    rng = np.random.default_rng(seed)
    sample = pix if len(pix) <= 20_000 else pix[rng.choice(len(pix), 20_000, replace=False)]
    sample = sample.astype(np.float32)
    k = min(colors, len(np.unique(sample, axis=0)))
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, _, centers = cv2.kmeans(sample, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    return centers.astype(np.float32)


def _quantize(rgb: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Every pixel replaced by its nearest palette colour, in chunks (bounded memory)."""
    pix = rgb.reshape(-1, 3)
    cc = (c * c).sum(1)
    out = np.empty_like(pix)
    step = 1 << 18
    for s in range(0, len(pix), step):
        p = pix[s:s + step].astype(np.float32)
        d = cc[None, :] - 2.0 * p @ c.T
        out[s:s + step] = np.clip(np.rint(c[d.argmin(1)]), 0, 255).astype(np.uint8)
    return out.reshape(rgb.shape)


def smooth(rgb: np.ndarray, passes: int = 5) -> np.ndarray:
    """Step 1: bilateral filtering on a half-size copy, back to full size."""
    import cv2

    h, w = rgb.shape[:2]
    img = np.ascontiguousarray(rgb)
    small = cv2.resize(img, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) if min(h, w) >= 8 else img
    for _ in range(passes):
        small = cv2.bilateralFilter(small, d=9, sigmaColor=9 * 2, sigmaSpace=7)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) if small.shape[:2] != (h, w) else small


def classic_cartoon(rgb: np.ndarray, colors: int = 12, passes: int = 5, edge_block: int = 9,
                    edge_c: int = 3, seed: int = 0, palette: np.ndarray | None = None) -> np.ndarray:
    """Cartoon-filter an RGB ``uint8`` ``(H, W, 3)`` image; returns the same shape and dtype.

    ``palette``: fixed ``(k, 3)`` colours (e.g. from :func:`fit_palette` on a video's first frame,
    so that the colours of a video do not change from frame to frame); default: fitted here.
    """
    import cv2

    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    img = np.ascontiguousarray(rgb)
    smoothed = smooth(img, passes)
    flat = _quantize(smoothed, fit_palette(smoothed, colors, seed) if palette is None else palette)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    gray = cv2.medianBlur(gray, 7)
    block = max(3, edge_block | 1)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, edge_c)
    return cv2.bitwise_and(flat, flat, mask=edges)
