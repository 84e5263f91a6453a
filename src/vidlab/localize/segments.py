"""A localization baseline from any video classifier: per-window class probabilities -> segments.

``vidlab classify`` scores a video with sliding windows (:func:`vidlab.engine.inference.classify_video`):
window ``i`` spans ``[start_i, end_i]`` seconds and has a softmax probability ``p[i, c]`` per class.
:func:`probs_to_segments` turns that ``(N, C)`` array into labelled segments, class by class:

1. Smoothing (:func:`smooth`): ``q[i, c]`` is the mean of ``p[j, c]`` over the ``K`` windows
   ``j = i - K//2 .. i + (K-1)//2`` (centred; for even ``K`` one more window before than after),
   truncated at the ends of the video (the mean of the windows that exist, no padding). ``K = 1``
   leaves the probabilities as they are.
2. Thresholding: window ``i`` is "on" for class ``c`` where ``q[i, c] > T`` (strictly).
3. Runs: every maximal run of consecutive "on" windows ``a .. b`` of one class is one segment
   ``[start_a, end_b]`` (start of its first window, end of its last one), with score the mean
   of ``q[a..b, c]`` (the smoothed probabilities over the run).

There is no background class: a classifier trained on trimmed clips (the synthetic set's ten
classes) always spreads its probability over the action classes, so a segment is simply where
one class's smoothed probability exceeds ``T``; with ``T >= 0.5`` at most one class can be "on"
in a window (the probabilities sum to 1), below that segments of different classes may overlap.
Segments are listed by start time, then by class index.

:func:`challenge_format` writes the ActivityNet challenge json that ``vidlab eval-tal`` scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["smooth", "runs", "probs_to_segments", "challenge_format"]


def smooth(probs: Any, k: int) -> np.ndarray:
    """Centred moving average of ``K`` windows along axis 0 of ``(N, C)`` ``probs``, truncated at the
    ends (module docstring); float64."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (windows, classes), got shape {p.shape}")
    if int(k) != k or k < 1:
        raise ValueError(f"the smoothing width must be an integer >= 1 window, got {k}")
    k = int(k)
    n = len(p)
    if k == 1 or n == 0:
        return p.copy()
    before, after = k // 2, (k - 1) // 2
    csum = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
    i = np.arange(n)
    lo, hi = np.maximum(i - before, 0), np.minimum(i + after + 1, n)
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None]


def runs(on: Any) -> list[tuple[int, int]]:
    """``[(a, b)]``: the maximal runs ``a .. b`` (inclusive) of True in a 1-d boolean array."""
    x = np.asarray(on, dtype=bool).astype(np.int8)
    d = np.diff(np.concatenate([[0], x, [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def probs_to_segments(probs: Any, starts: Sequence[float], ends: Sequence[float], *, threshold: float = 0.5,
                      k: int = 1, labels: Sequence[str] | None = None) -> list[dict]:
    """Segments ``[{"label", "index", "score", "segment": [start, end]}]`` of one video (module docstring).

    ``probs``: ``(N, C)`` window probabilities; ``starts`` / ``ends``: the windows' times in seconds;
    ``labels``: class names (default: the indices as text).
    """
    q = smooth(probs, k)
    n, c = q.shape
    s, e = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    if s.shape != (n,) or e.shape != (n,):
        raise ValueError(f"{n} windows of probabilities but {s.size} start and {e.size} end times")
    if not 0 <= threshold < 1:
        raise ValueError(f"the threshold must be in [0, 1), got {threshold}")
    names = list(labels) if labels is not None else [str(i) for i in range(c)]
    if len(names) != c:
        raise ValueError(f"{len(names)} labels for {c} classes")
    out = []
    for ci in range(c):
        for a, b in runs(q[:, ci] > threshold):
            out.append({"label": names[ci], "index": ci, "score": round(float(q[a:b + 1, ci].mean()), 6),
                        "segment": [round(float(s[a]), 6), round(float(e[b]), 6)]})
    out.sort(key=lambda d: (d["segment"][0], d["index"]))
    return out


def challenge_format(segments: Mapping[str, Sequence[Mapping]], details: str = "") -> dict:
    """``{video: segments}`` -> the ActivityNet challenge json ``{"version", "results": {video:
    [{"label", "score", "segment"}]}, "external_data"}``."""
    results = {v: [{"label": d["label"], "score": float(d["score"]), "segment": [float(x) for x in d["segment"]]}
                   for d in segs] for v, segs in segments.items()}
    return {"version": "VERSION 1.3", "results": results,
            "external_data": {"used": False, "details": details or "vidlab classify --segments: thresholded, "
                              "smoothed per-window probabilities of a video classifier"}}
