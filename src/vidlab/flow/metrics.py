"""Flow accuracy: end-point error against a ground-truth flow.

The evaluation on the synthetic action set (its clips carry their true motion)
is :func:`vidlab.evaluation.flow.evaluate_on_synthetic`: it needs ``vidlab.data``,
which ``flow/`` does not import.
"""

from __future__ import annotations

import numpy as np

__all__ = ["end_point_error", "epe_map"]


def epe_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-pixel end-point error ``||pred - gt||_2`` of ``(..., 2, H, W)`` flows -> ``(..., H, W)``."""
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    if pred.shape != gt.shape or pred.ndim < 3 or pred.shape[-3] != 2:
        raise ValueError(f"flows must both be (..., 2, H, W) of one shape, got {pred.shape} and {gt.shape}")
    return np.sqrt(((pred - gt) ** 2).sum(-3))


def end_point_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error in pixels over all pixels (or those where ``mask`` is true)."""
    e = epe_map(pred, gt)
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, bool), e.shape)
        if not mask.any():
            return float("nan")
        return float(e[mask].mean())
    return float(e.mean())
