"""Optical-flow accuracy on the synthetic action set, whose clips carry their true motion.

This lives in ``evaluation/`` (above both ``data/`` and ``flow/``) so that
``flow/`` never imports ``data/``: the datasets in ``data/`` read stored flow
with ``vidlab.flow``, and the import graph stays one-way (see
tests/test_layering.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from vidlab.flow.metrics import epe_map

__all__ = ["TRANSLATION_CLASSES", "evaluate_on_synthetic"]

#: Classes of :mod:`vidlab.data.synthetic` whose object moves rigidly by translation.
TRANSLATION_CLASSES = (0, 1, 2, 3, 8, 9)


def evaluate_on_synthetic(estimator, *, classes: Iterable[int] = TRANSLATION_CLASSES, seeds: Iterable[int] = range(4),
                          size: int = 64, num_frames: int = 16) -> dict:
    """EPE and speed of ``estimator`` (a :class:`vidlab.flow.FlowEstimator`) on clips of the synthetic action set.

    For every class in ``classes`` and seed in ``seeds`` a clip is rendered with
    its ground-truth motion; returns the mean EPE over all pixels (``epe``),
    over the moving object (``epe_object``: pixels whose true flow is nonzero)
    and over the static background (``epe_background``), plus
    ``seconds_per_frame`` (one flow field, wall clock) and the number of fields.
    """
    from vidlab.data.synthetic import generate_clip

    sums: dict[str, list[float]] = {"epe": [], "epe_object": [], "epe_background": []}
    seconds, fields = 0.0, 0
    seeds = list(seeds)
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
            sums["epe"].append(float(e.mean()))
            sums["epe_object"].append(float(e[moving].mean()))
            sums["epe_background"].append(float(e[~moving].mean()))
    out: dict = {k: float(np.mean(v)) for k, v in sums.items()}
    out.update(seconds_per_frame=seconds / max(fields, 1), fields=fields, size=size)
    return out
