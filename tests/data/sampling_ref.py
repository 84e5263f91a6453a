"""Straightforward re-statements of the reference sampling rules, for tests only.

Written from the rules (PySlowFast ``slowfast/datasets/decoder.py`` at main, and its
frame-list loaders ``slowfast/datasets/ssv2.py`` / ``charades.py`` at commit 287ec00;
MMAction2 1.2.0 ``mmaction/datasets/transforms/loading.py`` and 0.24.1
``mmaction/datasets/pipelines/loading.py``) as plain loops over Python
scalars, independently of :mod:`vidlab.data.sampling`. Deterministic (test
mode) rules return lists of rows; random (training) rules return the set of
values each draw may take.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# -- PySlowFast ---------------------------------------------------------------


def slowfast_clip(video_size: int, num_frames: int, sampling_rate: int, clip_idx: int, num_clips: int,
                  video_fps: float | None = None, target_fps: float | None = None,
                  use_offset: bool = False) -> list[int]:
    size = sampling_rate * num_frames
    if video_fps and target_fps:
        size = size / target_fps * video_fps
    size = max(1.0, size)  # decode(): clip_sizes are at least one frame
    delta = max(video_size - size, 0)
    if use_offset and num_clips == 1:
        start = math.floor(delta / 2)
    elif use_offset:
        start = clip_idx * math.floor(delta / (num_clips - 1))
    else:
        start = delta * clip_idx / num_clips
    end = start + size - 1
    # temporal_sampling: a float32 torch.linspace, clamped, then truncated
    points = torch.linspace(start, end, num_frames).tolist()
    return [min(max(int(p), 0), video_size - 1) for p in points]


def slowfast_train_start_range(video_size: int, num_frames: int, sampling_rate: int,
                               video_fps: float | None = None, target_fps: float | None = None) -> tuple[float, float]:
    """(delta, clip size): the start is uniform in [0, delta]."""
    size = sampling_rate * num_frames
    if video_fps and target_fps:
        size = size / target_fps * video_fps
    size = max(1.0, size)
    return max(video_size - size, 0), size


def slowfast_ssv2_test(video_length: int, num_frames: int) -> list[int]:
    """``ssv2.py`` ``get_seq_frames`` outside training: one frame per segment, its middle."""
    seg_size = float(video_length - 1) / num_frames
    seq = []
    for i in range(num_frames):
        start = int(np.round(seg_size * i))
        end = int(np.round(seg_size * (i + 1)))
        seq.append((start + end) // 2)
    return seq


def slowfast_charades_test(video_length: int, num_frames: int, sampling_rate: int, temporal_index: int,
                           num_views: int) -> list[int]:
    """``charades.py`` ``get_seq_frames`` for test view ``temporal_index`` of ``num_views``."""
    clip_length = (num_frames - 1) * sampling_rate + 1
    gap = float(max(video_length - clip_length, 0)) / (num_views - 1)
    start = int(round(gap * temporal_index))
    return [max(min(start + i * sampling_rate, video_length - 1), 0) for i in range(num_frames)]


# -- MMAction2 SampleFrames -----------------------------------------------------


def out_of_bound(rows: list[list[int]], total: int, how: str) -> list[list[int]]:
    out = []
    for row in rows:
        if how == "loop":
            out.append([i % total for i in row])
        else:
            inside = [i for i in row if i < total]
            last = max(inside) if inside else 0
            out.append([i if i < total else last for i in row])
    return out


def sample_frames_test_offsets(total: int, clip_len: int, interval: int, num_clips: int,
                               twice: bool, version: str) -> list[int]:
    if version == "0.x":
        span = clip_len * interval
        if total <= span - 1:
            return [0] * num_clips
        avg = (total - span + 1) / num_clips
        offsets = [int(k * avg + avg / 2.0) for k in range(num_clips)]
        if twice:
            offsets += [int(k * avg) for k in range(num_clips)]
        return offsets
    if clip_len == 1:
        avg = total / num_clips
        offsets = [int(k * avg + avg / 2.0) for k in range(num_clips)]
        if twice:
            offsets += [int(k * avg) for k in range(num_clips)]
        return offsets
    max_offset = max(total - ((clip_len - 1) * interval + 1), 0)
    count = 2 * num_clips if twice else num_clips
    if count == 1:
        return [max_offset // 2]
    if num_clips == 1:
        raise ZeroDivisionError("1.x twice_sample with one clip")
    step = max_offset / (num_clips - 1)
    return [round(k * step) for k in range(count)]


def sample_frames_test(total: int, clip_len: int, interval: int, num_clips: int, *, twice: bool = False,
                       version: str = "1.x", how: str = "loop") -> list[list[int]]:
    offsets = sample_frames_test_offsets(total, clip_len, interval, num_clips, twice, version)
    rows = [[o + j * interval for j in range(clip_len)] for o in offsets]
    return out_of_bound(rows, total, how)


def sample_frames_train_support(total: int, clip_len: int, interval: int, num_clips: int,
                                keep_tail: bool = False) -> tuple[str, list[set[int]]]:
    """("independent" | "sorted" | "fixed", the values each clip's offset may take)."""
    span = clip_len * interval
    if keep_tail:
        avg = (total - span + 1) / num_clips
        if total <= span - 1:
            return "fixed", [{0}] * num_clips
        sets = []
        for k in range(num_clips):
            lo, hi = k * avg, (k + 1) * avg  # offset = floor(lo + U[0, avg))
            top = math.ceil(hi) - 1
            sets.append(set(range(math.floor(lo), top + 1)))
        return "independent", sets
    avg = (total - span + 1) // num_clips
    if avg > 0:
        return "independent", [set(range(k * avg, k * avg + avg)) for k in range(num_clips)]
    if total > max(num_clips, span):
        return "sorted", [set(range(0, total - span + 1))] * num_clips
    if avg == 0:
        ratio = (total - span + 1.0) / num_clips
        return "fixed", [{round(k * ratio)} for k in range(num_clips)]
    return "fixed", [{0}] * num_clips


# -- MMAction2 DenseSampleFrames, UntrimmedSampleFrames, UniformSample ----------


def dense_test(total: int, clip_len: int, interval: int, num_clips: int, sample_range: int,
               positions_wanted: int, how: str = "loop") -> list[list[int]]:
    positions = max(1, 1 + total - sample_range)
    gap = sample_range // num_clips
    if positions_wanted == 1:
        starts = [0]
    else:
        step = (positions - 1) / (positions_wanted - 1)  # numpy.linspace: j * step, last = stop
        starts = [int(j * step) for j in range(positions_wanted - 1)] + [positions - 1]
    rows = []
    for s in starts:
        for c in range(num_clips):
            o = (c * gap + s) % total
            rows.append([o + j * interval for j in range(clip_len)])
    return out_of_bound(rows, total, how)


def dense_train_starts(total: int, sample_range: int) -> set[int]:
    positions = max(1, 1 + total - sample_range)
    return {0} if positions == 1 else set(range(0, positions - 1))  # randint(0, positions - 1)


def untrimmed(total: int, clip_len: int, clip_interval: int, interval: int) -> list[list[int]]:
    rows = []
    for centre in range(clip_interval // 2, total, clip_interval):
        rows.append([min(max(centre + (j - clip_len // 2) * interval, 0), total - 1) for j in range(clip_len)])
    return rows


def _segment_bounds(total: int, clip_len: int) -> list[int]:
    seg = (total - 1) / clip_len
    return [round(seg * i) for i in range(clip_len + 1)]


def uniform_test(total: int, clip_len: int, num_clips: int) -> list[list[int]]:
    seg = (total - 1) / clip_len
    duration = seg / (num_clips + 1)
    bounds = _segment_bounds(total, clip_len)
    return [[bounds[i] + int(duration * (k + 1)) for i in range(clip_len)] for k in range(num_clips)]


def uniform_train_support(total: int, clip_len: int) -> list[set[int]]:
    bounds = _segment_bounds(total, clip_len)
    return [set(range(bounds[i], bounds[i + 1] + 1)) for i in range(clip_len)]
