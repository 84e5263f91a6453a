"""Flow accuracy: end-point error against ground truth (the synthetic set's motion)."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["end_point_error", "epe_map", "evaluate_on_synthetic", "TRANSLATION_CLASSES"]

#: Classes of :mod:`vidlab.data.synthetic` whose object moves rigidly by translation.
TRANSLATION_CLASSES = (0, 1, 2, 3, 8, 9)


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


def evaluate_on_synthetic(estimator, *, classes=TRANSLATION_CLASSES, seeds=range(4), size: int = 64,
                          num_frames: int = 16) -> dict:
    """EPE and speed of ``estimator`` on clips of the synthetic action set.

    For every class in ``classes`` and seed in ``seeds`` a clip is rendered with
    its ground-truth motion; returns the mean EPE over all pixels (``epe``),
    over the moving object (``epe_object``: pixels whose true flow is nonzero)
    and over the static background (``epe_background``), plus
    ``seconds_per_frame`` (one flow field, wall clock) and the number of fields.
    """
    from vidlab.data.synthetic import generate_clip

    sums = {"epe": [], "epe_object": [], "epe_background": []}
    seconds, fields = 0.0, 0
    for label in classes:
        for seed in seeds:
            frames, motion = generate_clip(int(label), int(seed), size=size, num_frames=num_frames,
                                           return_motion=True)
            t0 = time.perf_counter()
            pred = estimator.video(frames)
            seconds += time.perf_counter() - t0
            fields += len(pred)
            e = epe_map(pred, motion)
            moving = np.abs(motion).sum(1) > 0
            sums["epe"].append(e.mean())
            sums["epe_object"].append(e[moving].mean())
            sums["epe_background"].append(e[~moving].mean())
    out = {k: float(np.mean(v)) for k, v in sums.items()}
    out.update(seconds_per_frame=seconds / max(fields, 1), fields=fields, size=size)
    return out
