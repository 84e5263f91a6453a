"""Temporal clip sampling with PySlowFast and MMAction2 semantics.

All functions return *frame indices* into the decoded video (0-based, in
presentation order). Decoding is the reader's business: a dataset computes the
indices it needs first, then asks :class:`vidlab.io.VideoReader` for exactly
those frames, so multi-view testing decodes a video once.

Vocabulary (PySlowFast's): a clip has ``num_frames`` (T) frames taken every
``sampling_rate`` (tau) frames *at the target fps*. A video recorded at a
different fps is resampled in time, so a clip always spans
``T * tau / target_fps`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def clip_size(num_frames: int, sampling_rate: int, video_fps: float | None = None, target_fps: float | None = None) -> float:
    """Span of one clip in *source* frames.

    PySlowFast: ``sampling_rate * num_frames / target_fps * video_fps``. With
    no fps given the video is taken at the target rate.
    """
    size = float(sampling_rate * num_frames)
    if video_fps and target_fps:
        size = size / target_fps * video_fps
    return size


def start_end_index(
    video_size: int,
    clip_size: float,
    clip_idx: int,
    num_clips: int,
    *,
    rng: np.random.Generator | None = None,
    use_offset: bool = False,
) -> tuple[float, float]:
    """PySlowFast's ``get_start_end_idx``: the (float) first and last frame of a clip.

    ``clip_idx == -1`` draws the start uniformly in ``[0, delta]`` (training
    jitter); otherwise view ``clip_idx`` of ``num_clips`` starts at
    ``delta * clip_idx / num_clips`` where ``delta = max(video_size - clip_size, 0)``.
    With ``use_offset`` (PySlowFast's ``DATA.USE_OFFSET_SAMPLING``) the views
    are spread to cover both ends instead: a single view is centred
    (``floor(delta / 2)``) and view k starts at ``k * floor(delta / (num_clips - 1))``.
    """
    delta = max(video_size - clip_size, 0.0)
    if clip_idx == -1:
        rng = rng if rng is not None else np.random.default_rng()
        start = float(rng.uniform(0.0, delta))
    elif use_offset:
        if num_clips == 1:
            start = float(math.floor(delta / 2))
        else:
            start = float(clip_idx * math.floor(delta / (num_clips - 1)))
    else:
        start = delta * clip_idx / num_clips
    return start, start + clip_size - 1


def linspace_indices(start: float, end: float, num_samples: int, num_frames: int) -> np.ndarray:
    """PySlowFast's ``temporal_sampling`` rule: ``linspace(start, end, n)``,
    clamped to ``[0, num_frames - 1]`` and truncated to integers."""
    # torch.linspace in float32, exactly as PySlowFast does, so borderline
    # values truncate identically.
    index = torch.linspace(float(start), float(end), num_samples)
    index = torch.clamp(index, 0, max(num_frames - 1, 0)).long()
    return index.numpy()


def draw_sampling_rate(sampling_rate: int, max_sampling_rate: int | None, rng: np.random.Generator) -> int:
    """A training clip's sampling rate: ``sampling_rate``, or, in a multigrid long-cycle phase
    with fewer frames than the default clip (``max_sampling_rate`` set), an integer drawn
    uniformly from ``[sampling_rate, max_sampling_rate]``, as PySlowFast's
    ``get_random_sampling_rate`` does (both ends included)."""
    if max_sampling_rate is None or max_sampling_rate <= sampling_rate:
        return sampling_rate
    return int(rng.integers(sampling_rate, max_sampling_rate + 1))


def clip_indices(
    video_frames: int,
    num_frames: int,
    sampling_rate: int,
    *,
    clip_idx: int = -1,
    num_clips: int = 1,
    video_fps: float | None = None,
    target_fps: float | None = None,
    rng: np.random.Generator | None = None,
    use_offset: bool = False,
) -> np.ndarray:
    """Frame indices of one clip (``clip_idx=-1``: random jitter for training)."""
    if video_frames <= 0:
        raise ValueError("video has no frames")
    size = clip_size(num_frames, sampling_rate, video_fps, target_fps)
    start, end = start_end_index(video_frames, size, clip_idx, num_clips, rng=rng, use_offset=use_offset)
    return linspace_indices(start, end, num_frames, video_frames)


def uniform_view_indices(
    video_frames: int,
    num_frames: int,
    sampling_rate: int,
    num_views: int,
    *,
    video_fps: float | None = None,
    target_fps: float | None = None,
    use_offset: bool = False,
) -> list[np.ndarray]:
    """Indices of the ``num_views`` uniformly spaced test clips (PySlowFast rule)."""
    return [
        clip_indices(
            video_frames,
            num_frames,
            sampling_rate,
            clip_idx=k,
            num_clips=num_views,
            video_fps=video_fps,
            target_fps=target_fps,
            use_offset=use_offset,
        )
        for k in range(num_views)
    ]


def sample_frames(
    total_frames: int,
    clip_len: int,
    frame_interval: int = 1,
    num_clips: int = 1,
    *,
    test_mode: bool = False,
    out_of_bound: str = "loop",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """MMAction2's ``SampleFrames``: ``(num_clips, clip_len)`` frame indices.

    Training: the video is cut into ``num_clips`` equal parts and each clip
    starts at a random offset inside its part. Testing: each clip starts at the
    centre of its part. Indices past the end wrap around (``"loop"``, the
    default) or repeat the last frame (``"repeat_last"``).
    """
    if total_frames <= 0:
        raise ValueError("video has no frames")
    rng = rng if rng is not None else np.random.default_rng()
    span = clip_len * frame_interval
    if test_mode:
        avg = (total_frames - span + 1) / float(num_clips)
        if total_frames > span - 1:
            base = np.arange(num_clips) * avg
            offsets = (base + avg / 2.0).astype(np.int64)
        else:
            offsets = np.zeros(num_clips, dtype=np.int64)
    else:
        avg = (total_frames - span + 1) // num_clips
        if avg > 0:
            offsets = np.arange(num_clips) * avg + rng.integers(0, avg, size=num_clips)
        elif total_frames > max(num_clips, span):
            offsets = np.sort(rng.integers(0, total_frames - span + 1, size=num_clips))
        elif avg == 0:
            ratio = (total_frames - span + 1.0) / num_clips
            offsets = np.around(np.arange(num_clips) * ratio).astype(np.int64)
        else:
            offsets = np.zeros(num_clips, dtype=np.int64)
    inds = offsets[:, None] + np.arange(clip_len)[None, :] * frame_interval
    if out_of_bound == "loop":
        inds = np.mod(inds, total_frames)
    elif out_of_bound == "repeat_last":
        inds = np.minimum(inds, total_frames - 1)
    else:
        raise ValueError(f"out_of_bound must be 'loop' or 'repeat_last', got {out_of_bound!r}")
    return inds.astype(np.int64)


def segment_indices(total_frames: int, num_segments: int, *, test_mode: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
    """TSN segment sampling: one frame per equal segment (random in training, centre at test)."""
    return sample_frames(total_frames, 1, 1, num_segments, test_mode=test_mode, rng=rng).reshape(-1)


@dataclass(frozen=True)
class ViewPlan:
    """Where every test view of one video comes from.

    ``frames`` is the sorted union of all indices to decode (once);
    ``views[k]`` indexes into the decoded union for temporal view k.
    """

    frames: np.ndarray
    views: list[np.ndarray]


def plan_views(view_indices: list[np.ndarray]) -> ViewPlan:
    """Merge per-view indices so a video is decoded once for all its views."""
    union = np.unique(np.concatenate(view_indices))
    views = [np.searchsorted(union, v) for v in view_indices]
    return ViewPlan(frames=union, views=views)
