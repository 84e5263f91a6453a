"""Temporal clip sampling with PySlowFast and MMAction2 semantics.

All functions return *frame indices* into the decoded video (0-based, in
presentation order, ``numpy.int64``). Decoding is the reader's business: a
dataset computes the indices it needs first, then asks
:class:`vidlab.io.VideoReader` for exactly those frames, so multi-view testing
decodes a video once.

Vocabulary (PySlowFast's): a clip has ``num_frames`` (T) frames taken every
``sampling_rate`` (tau) frames *at the target fps*. A video recorded at a
different fps is resampled in time, so a clip always spans
``T * tau / target_fps`` seconds (and at least one source frame).

References. The rules were read from the reference sources and re-stated
here (no code taken from them):

- PySlowFast, ``facebookresearch/SlowFast`` main (commit 287ec00, 2026):
  ``slowfast/datasets/decoder.py`` (``get_start_end_idx``,
  ``temporal_sampling``, the ``clip_sizes`` of ``decode``) and
  ``slowfast/datasets/utils.py`` (``get_random_sampling_rate``):
  :func:`clip_size`, :func:`start_end_index`, :func:`linspace_indices`,
  :func:`clip_indices`, :func:`uniform_view_indices`,
  :func:`draw_sampling_rate`.
- MMAction2 1.x (v1.2.0, ``mmaction/datasets/transforms/loading.py``) and 0.x
  (v0.24.1, ``mmaction/datasets/pipelines/loading.py``): ``SampleFrames`` ->
  :func:`sample_frames` (``version="1.x"`` or ``"0.x"``) and
  :func:`segment_indices`; ``DenseSampleFrames`` -> :func:`dense_sample_frames`;
  ``UntrimmedSampleFrames`` -> :func:`untrimmed_sample_frames`; 1.x
  ``UniformSample`` (SSv2-style) -> :func:`uniform_sample`. MMAction2's
  ``frame_inds`` is the flattened output plus the dataset's ``start_index``.
- PySlowFast's frame-list loaders (same commit): ``slowfast/datasets/ssv2.py``
  (``get_seq_frames``) -> :func:`ssv2_segment_indices`, which is also
  PyTorchVideo 0.1.5's ``SSv2._sample_clip_frames`` (``pytorchvideo/data/ssv2.py``);
  ``slowfast/datasets/charades.py`` (``get_seq_frames``) ->
  :func:`pyslowfast_charades_view_indices`; PyTorchVideo 0.1.5's ``Charades``
  (``pytorchvideo/data/charades.py``) under ``ConstantClipsPerVideoSampler``
  (``clip_sampling.py``) and ``FrameVideo`` (``frame_video.py``), as PySlowFast's
  ``Ptvcharades`` (``slowfast/datasets/ptv_datasets.py``) builds it ->
  :func:`pytorchvideo_charades_view_indices`. These index a *frame list* (JPEG
  frames extracted at a fixed rate: SSv2 at 30 fps, ``DATASET.md``; Charades'
  ``Charades_v1_rgb`` at 24 fps); :func:`frame_list_view_indices` maps them onto
  the decoded video (:func:`frame_list_length`, :func:`frame_list_to_video`).

Who uses what in vidlab:

- :class:`~vidlab.data.datasets.VideoListDataset` and the rawframes RGB/flow
  clip dataset (``data.modality`` unset, e.g. ``configs/demo_*.yaml``):
  PySlowFast, :func:`clip_indices` for training and
  :func:`uniform_view_indices` for testing.
- :class:`~vidlab.data.datasets.flow_clips.SnippetDataset` (TSN and
  two-stream, ``data.modality`` set): :func:`segment_indices`, i.e. MMAction2
  ``SampleFrames(clip_len=1, frame_interval=1, num_clips=K)``; 1.x and 0.x give
  identical indices for it, in training and in testing.
- ``vidlab.engine.inference`` and ``vidlab.stream``: :func:`linspace_indices`
  over their own sliding windows.
- :func:`sample_frames` with ``clip_len > 1``, :func:`dense_sample_frames`,
  :func:`uniform_sample` and :func:`untrimmed_sample_frames` serve MMAction2
  style pipelines; no vidlab dataset calls them by default.
  :class:`~vidlab.data.datasets.VideoListDataset` with
  ``view_rule="mmaction2"`` (``vidlab eval --protocol source`` on a checkpoint
  converted from MMAction2) takes its test views from
  :func:`mmaction2_view_indices`, i.e. :func:`sample_frames` in 1.x test mode;
  with a rule of :data:`FRAME_LIST_RULES` (``vidlab eval --protocol source`` on
  a PySlowFast / PyTorchVideo SSv2 or Charades checkpoint) from
  :func:`frame_list_view_indices`.

Randomness: training draws take an ``np.random.Generator``. Where the
reference draws from NumPy's (or Python's) global state, vidlab draws the same
distribution from the generator (uniform integers for ``randint``, uniform
floats for ``uniform``), so results are reproducible per seed but not
bit-equal to the reference's stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
import torch

MMAction2Version = Literal["1.x", "0.x"]
MMACTION2_VERSIONS: tuple[str, ...] = ("1.x", "0.x")
OUT_OF_BOUND = ("loop", "repeat_last")


# -- PySlowFast ---------------------------------------------------------------


def clip_size(num_frames: int, sampling_rate: int, video_fps: float | None = None, target_fps: float | None = None) -> float:
    """Span of one clip in *source* frames (PySlowFast ``decode``'s ``clip_sizes``).

    ``max(1, sampling_rate * num_frames / target_fps * video_fps)``: never less
    than one source frame, so a clip of a very low-fps video collapses to one
    frame instead of running backwards. With no fps given the video is taken
    at the target rate.
    """
    size = float(sampling_rate * num_frames)
    if video_fps and target_fps:
        size = size / target_fps * video_fps
    return max(1.0, size)


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
    jitter; PySlowFast uses ``random.uniform``, the same distribution);
    otherwise view ``clip_idx`` of ``num_clips`` starts at
    ``delta * clip_idx / num_clips`` where ``delta = max(video_size - clip_size, 0)``.
    With ``use_offset`` (PySlowFast's ``DATA.USE_OFFSET_SAMPLING``) the views
    are spread to cover both ends instead: a single view is centred
    (``floor(delta / 2)``) and view k starts at ``k * floor(delta / (num_clips - 1))``.
    The end is ``start + clip_size - 1``; pass a ``clip_size`` from
    :func:`clip_size` (at least 1) so it is never before the start.
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
    """Frame indices of one clip (``clip_idx=-1``: random jitter for training).

    PySlowFast's full-decode path: :func:`clip_size`, then
    :func:`start_end_index`, then :func:`linspace_indices`. Always
    non-decreasing."""
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


# -- MMAction2 ----------------------------------------------------------------


def _check_mmaction(total_frames: int, out_of_bound: str, version: str) -> None:
    if total_frames <= 0:
        raise ValueError("video has no frames")
    if out_of_bound not in OUT_OF_BOUND:
        raise ValueError(f"out_of_bound must be 'loop' or 'repeat_last', got {out_of_bound!r}")
    if version not in MMACTION2_VERSIONS:
        raise ValueError(f"version must be '1.x' or '0.x', got {version!r}")


def fit_out_of_bound(inds: np.ndarray, total_frames: int, out_of_bound: str = "loop") -> np.ndarray:
    """MMAction2's ``out_of_bound_opt`` on ``(clips, clip_len)`` indices (same in 1.x and 0.x).

    ``"loop"``: modulo ``total_frames``. ``"repeat_last"``: in each clip, an
    index past the end becomes the largest in-range index *of that clip* (its
    last in-range sampled frame, not the video's last frame); a clip with no
    in-range index becomes all zeros, as in MMAction2.
    """
    inds = np.asarray(inds, dtype=np.int64)
    if out_of_bound == "loop":
        return np.mod(inds, total_frames)
    if out_of_bound == "repeat_last":
        safe = inds < total_frames
        last = np.where(safe, inds, 0).max(axis=1, keepdims=True)
        return np.where(safe, inds, last)
    raise ValueError(f"out_of_bound must be 'loop' or 'repeat_last', got {out_of_bound!r}")


def _train_offsets(total: int, span: int, num_clips: int, keep_tail: bool, rng: np.random.Generator) -> np.ndarray:
    """``SampleFrames._get_train_clips`` (identical in 1.x and 0.x); ``span = clip_len * frame_interval``."""
    if keep_tail:
        avg = (total - span + 1) / float(num_clips)
        if total > span - 1:
            return np.floor(np.arange(num_clips) * avg + rng.uniform(0.0, avg, size=num_clips)).astype(np.int64)
        return np.zeros(num_clips, dtype=np.int64)
    avg_int = (total - span + 1) // num_clips
    if avg_int > 0:
        return np.arange(num_clips) * avg_int + rng.integers(0, avg_int, size=num_clips)
    if total > max(num_clips, span):
        return np.sort(rng.integers(0, total - span + 1, size=num_clips))
    if avg_int == 0:
        ratio = (total - span + 1.0) / num_clips
        return np.round(np.arange(num_clips) * ratio).astype(np.int64)
    return np.zeros(num_clips, dtype=np.int64)


def _test_offsets_fps(total: int, span: float, num_clips: int, twice: bool) -> np.ndarray:
    """1.x ``SampleFrames._get_test_clips`` with ``target_fps`` set (3D branch): ``span`` is the float
    ``max(1, clip_len * frame_interval * fps / target_fps)``; the step between clips is floored."""
    max_offset = max(total - span, 0.0)
    count = 2 * num_clips if twice else num_clips
    if count == 1:
        return np.array([max_offset // 2], dtype=np.float64)
    if num_clips == 1:  # twice_sample with one clip: MMAction2 1.x divides by zero
        raise ValueError("MMAction2 1.x SampleFrames cannot twice_sample a single clip of clip_len > 1")
    return np.arange(count) * np.floor(max_offset / float(num_clips - 1))


def _test_offsets(total: int, clip_len: int, interval: int, num_clips: int, twice: bool, version: str) -> np.ndarray:
    """``SampleFrames._get_test_clips`` of MMAction2 ``version``."""
    if version == "0.x" or clip_len == 1:
        # 0.x (any clip_len) and the 1.x "2D recognizer" branch: the centre of
        # each of num_clips equal parts; twice adds the parts' starts. 1.x's
        # branch ignores frame_interval (span 1); 0.x's span is clip_len * interval.
        span = 1 if version == "1.x" else clip_len * interval
        avg = (total - span + 1) / float(num_clips)
        if total <= span - 1:  # only reachable in 0.x
            return np.zeros(num_clips, dtype=np.int64)
        base = np.arange(num_clips) * avg
        centre = np.floor(base + avg / 2.0)
        return np.concatenate([centre, np.floor(base)] if twice else [centre]).astype(np.int64)
    # 1.x "3D recognizer": num_clips clips spread end to end over the video.
    max_offset = max(total - ((clip_len - 1) * interval + 1), 0)
    count = 2 * num_clips if twice else num_clips
    if count == 1:
        return np.array([max_offset // 2], dtype=np.int64)
    if num_clips == 1:  # twice_sample with one clip: MMAction2 1.x divides by zero
        raise ValueError("MMAction2 1.x SampleFrames cannot twice_sample a single clip of clip_len > 1")
    return np.round(np.arange(count) * (max_offset / float(num_clips - 1))).astype(np.int64)


def sample_frames(
    total_frames: int,
    clip_len: int,
    frame_interval: int = 1,
    num_clips: int = 1,
    *,
    test_mode: bool = False,
    out_of_bound: str = "loop",
    rng: np.random.Generator | None = None,
    version: MMAction2Version = "1.x",
    twice_sample: bool = False,
    keep_tail_frames: bool = False,
    temporal_jitter: bool = False,
    target_fps: float | None = None,
    video_fps: float | None = None,
) -> np.ndarray:
    """MMAction2's ``SampleFrames``: ``(clips, clip_len)`` frame indices.

    Row k is ``offset_k + arange(clip_len) * frame_interval``, then
    :func:`fit_out_of_bound`. Offsets:

    - Training (1.x = 0.x), ``span = clip_len * frame_interval``,
      ``a = (total - span + 1) // num_clips``: if ``a > 0``, clip k starts at
      ``k * a`` plus a uniform integer in ``[0, a)``; else if
      ``total > max(num_clips, span)``, the sorted draws of ``num_clips``
      uniform integers in ``[0, total - span]``; else if ``a == 0``,
      ``round(k * (total - span + 1) / num_clips)`` (round half to even);
      else 0. ``keep_tail_frames``: with ``a = (total - span + 1) / num_clips``
      (a float), ``floor(k * a + U[0, a))`` if ``total > span - 1``, else 0.
    - Testing, ``version="1.x"`` (the default: current MMAction2):
      ``clip_len == 1`` (2D): ``floor((k + 1/2) * total / num_clips)``,
      ignoring ``frame_interval``; ``twice_sample`` appends
      ``floor(k * total / num_clips)``. ``clip_len > 1`` (3D): with
      ``max_offset = max(total - ((clip_len - 1) * frame_interval + 1), 0)``,
      one clip starts at ``max_offset // 2`` and n clips at
      ``round(k * max_offset / (n - 1))``: the first at 0, the last ending on
      the last frame. Reference bug: ``twice_sample`` there makes
      ``2 * num_clips`` offsets with the same step, so the second half runs
      past the video (then wraps or repeats); vidlab reproduces this, and
      raises ``ValueError`` for ``num_clips == 1``, where MMAction2 1.x
      divides by zero.
    - Testing, ``version="0.x"``: with ``span = clip_len * frame_interval``
      and ``a = (total - span + 1) / num_clips``, clip k starts at
      ``floor(k * a + a / 2)`` (centred in its part), and ``twice_sample``
      appends ``floor(k * a)``; a video with ``total <= span - 1`` gives
      ``num_clips`` zero offsets (0.x's quirk: not doubled by ``twice_sample``).

    ``temporal_jitter`` adds a uniform integer in ``[0, frame_interval)`` to
    every index (before the out-of-bound rule), in either mode, as MMAction2
    does. MMAction2 draws all of these from ``np.random``; vidlab draws the
    same distributions from ``rng``. Test mode without ``temporal_jitter`` is
    deterministic and equals MMAction2 exactly.

    ``target_fps`` (1.x test mode without ``temporal_jitter`` only; default
    None: the rules above, frames at the video's own rate): 1.x's "align with
    PySlowFast" branch (its X3D configs set ``target_fps=30``). With
    ``r = video_fps / target_fps`` (1 when ``video_fps`` is unknown, as
    MMAction2 does without ``avg_fps``), a clip spans
    ``s = max(1, clip_len * frame_interval * r)`` frames (a float),
    ``max_offset = max(total - s, 0)``; one clip starts at
    ``max_offset // 2``, n clips at ``k * floor(max_offset / (n - 1))``
    (``twice_sample``: 2n offsets with that step); clip k takes
    ``offset_k + int(linspace(0, s - 1, clip_len))``, then the out-of-bound
    rule. The 2D branch (``clip_len == 1``) ignores ``target_fps``, as in
    MMAction2.
    """
    _check_mmaction(total_frames, out_of_bound, version)
    rng = rng if rng is not None else np.random.default_rng()
    if target_fps is not None:
        if version != "1.x" or not test_mode or temporal_jitter:
            raise ValueError("target_fps: vidlab implements MMAction2 1.x's target_fps rule in test mode without "
                             "temporal_jitter only")
    if target_fps is not None and clip_len > 1:
        ratio = float(video_fps) / float(target_fps) if video_fps else 1.0
        span = max(1.0, clip_len * frame_interval * ratio)
        starts = _test_offsets_fps(total_frames, span, num_clips, twice_sample)
        steps = np.linspace(0, span - 1, clip_len).astype(np.int32).astype(np.int64)
        inds = (starts[:, None] + steps[None, :]).astype(np.int64)  # starts are whole numbers (floored)
        return fit_out_of_bound(inds, total_frames, out_of_bound)
    if test_mode:
        offsets = _test_offsets(total_frames, clip_len, frame_interval, num_clips, twice_sample, version)
    else:
        offsets = _train_offsets(total_frames, clip_len * frame_interval, num_clips, keep_tail_frames, rng)
    inds = offsets[:, None] + np.arange(clip_len)[None, :] * frame_interval
    if temporal_jitter:
        inds = inds + rng.integers(0, frame_interval, size=inds.shape)
    return fit_out_of_bound(inds, total_frames, out_of_bound)


def mmaction2_view_indices(
    video_frames: int,
    num_frames: int,
    sampling_rate: int,
    num_views: int,
    *,
    video_fps: float | None = None,
    target_fps: float | None = None,
) -> list[np.ndarray]:
    """The ``num_views`` test clips of MMAction2 1.x ``SampleFrames(clip_len=num_frames,
    frame_interval=sampling_rate, num_clips=num_views, test_mode=True)`` (``out_of_bound_opt``
    'loop', no ``twice_sample``), one index array per view: :func:`sample_frames`.

    Without ``target_fps`` (MMAction2's ResNet3D, SlowFast, I3D, C3D, VideoMAE and Swin configs)
    the frames are counted at the video's own rate: clip k starts at
    ``round(k * max_offset / (num_views - 1))`` (``max_offset // 2`` for one view) with
    ``max_offset = max(video_frames - ((num_frames - 1) * sampling_rate + 1), 0)``, the first
    clip starting on frame 0 and the last ending on the last frame, and takes every
    ``sampling_rate``-th frame; a video shorter than one clip gives offsets 0 and indices past
    its end wrap around (modulo ``video_frames``). With ``target_fps`` (its X3D configs), the
    rule of :func:`sample_frames` with ``target_fps``. Not :func:`uniform_view_indices`
    (PySlowFast's), which the dataset's default ``view_rule`` keeps."""
    if video_frames <= 0:
        raise ValueError("video has no frames")
    inds = sample_frames(video_frames, num_frames, sampling_rate, num_views, test_mode=True,
                         target_fps=target_fps, video_fps=video_fps)
    return list(inds)


def segment_indices(total_frames: int, num_segments: int, *, test_mode: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
    """TSN segment sampling: one frame per equal segment (random in training, centre at test).

    MMAction2 ``SampleFrames(clip_len=1, frame_interval=1, num_clips=num_segments)``;
    1.x and 0.x agree here (test: ``floor((k + 1/2) * total / num_segments)``)."""
    return sample_frames(total_frames, 1, 1, num_segments, test_mode=test_mode, rng=rng).reshape(-1)


def dense_sample_frames(
    total_frames: int,
    clip_len: int,
    frame_interval: int = 1,
    num_clips: int = 1,
    *,
    sample_range: int = 64,
    num_sample_positions: int = 10,
    test_mode: bool = False,
    out_of_bound: str = "loop",
    temporal_jitter: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """MMAction2's ``DenseSampleFrames`` (1.x and 0.x agree): ``(clips, clip_len)`` indices.

    ``num_clips`` clips ``sample_range // num_clips`` frames apart (modulo
    ``total_frames``) from a common start s, with
    ``positions = max(1, total - sample_range + 1)``. Training: one draw of s,
    0 when ``positions == 1``, else uniform in ``[0, positions - 2]``
    (reference off-by-one: ``randint(0, positions - 1)`` never draws the last
    position; vidlab keeps it). Testing: ``num_sample_positions`` starts
    ``int(linspace(0, positions - 1, num_sample_positions))``, giving
    ``num_sample_positions * num_clips`` clips in start-major order. Then
    ``temporal_jitter`` and ``out_of_bound`` as in :func:`sample_frames`.
    """
    _check_mmaction(total_frames, out_of_bound, "1.x")
    rng = rng if rng is not None else np.random.default_rng()
    positions = max(1, 1 + total_frames - sample_range)
    base = np.arange(num_clips) * (sample_range // num_clips)
    if test_mode:
        starts = np.floor(np.linspace(0, positions - 1, num=num_sample_positions)).astype(np.int64)
    else:
        starts = np.array([0 if positions == 1 else int(rng.integers(0, positions - 1))], dtype=np.int64)
    offsets = ((starts[:, None] + base[None, :]) % total_frames).reshape(-1)
    inds = offsets[:, None] + np.arange(clip_len)[None, :] * frame_interval
    if temporal_jitter:
        inds = inds + rng.integers(0, frame_interval, size=inds.shape)
    return fit_out_of_bound(inds, total_frames, out_of_bound)


def untrimmed_sample_frames(total_frames: int, clip_len: int = 1, clip_interval: int = 16, frame_interval: int = 1) -> np.ndarray:
    """MMAction2 1.x ``UntrimmedSampleFrames``: a clip every ``clip_interval`` frames.

    Clip centres ``clip_interval // 2, + clip_interval, ...`` below
    ``total_frames``; each clip is ``centre + (j - clip_len // 2) * frame_interval``
    for ``j < clip_len``, clipped to ``[0, total - 1]``. Shape
    ``(clips, clip_len)``; ``(0, clip_len)`` when ``total <= clip_interval // 2``.
    MMAction2 0.x's ``UntrimmedSampleFrames(clip_len, frame_interval=f)`` is
    ``clip_interval=f, frame_interval=1`` here (0.x named the clip spacing
    ``frame_interval`` and always took consecutive frames).
    """
    if total_frames <= 0:
        raise ValueError("video has no frames")
    centres = np.arange(clip_interval // 2, total_frames, clip_interval, dtype=np.int64)
    rel = (np.arange(clip_len, dtype=np.int64) - clip_len // 2) * frame_interval
    return np.clip(centres[:, None] + rel[None, :], 0, total_frames - 1)


def uniform_sample(
    total_frames: int, clip_len: int, num_clips: int = 1, *, test_mode: bool = False, rng: np.random.Generator | None = None
) -> np.ndarray:
    """MMAction2 1.x ``UniformSample`` (SSv2-style; not in 0.x): ``(clips, clip_len)`` indices.

    The frames ``0 .. total - 1`` are cut into ``clip_len`` segments of
    ``seg = (total - 1) / clip_len``; segment i runs from
    ``b_i = round(seg * i)`` to ``b_{i+1}`` (round half to even, both ends
    included, so neighbouring segments share a frame). Training: one clip
    (``num_clips`` is ignored, as in MMAction2), frame i uniform in
    ``[b_i, b_{i+1}]``. Testing: clip k takes ``b_i + floor(seg * (k + 1) / (num_clips + 1))``.
    This is not PySlowFast's ``ssv2.py`` test rule (``(b_i + b_{i+1}) // 2``),
    which MMAction2 modified; a short video repeats frames instead of looping.
    (MMAction2's ``UniformSampleFrames`` is a different, skeleton-data
    sampler in ``pose_transforms.py``.)
    """
    if total_frames <= 0:
        raise ValueError("video has no frames")
    seg = float(total_frames - 1) / clip_len
    bounds = np.round(seg * np.arange(clip_len + 1)).astype(np.int64)
    if not test_mode:
        rng = rng if rng is not None else np.random.default_rng()
        return rng.integers(bounds[:-1], bounds[1:] + 1)[None, :].astype(np.int64)
    shift = np.floor((seg / (num_clips + 1)) * np.arange(1, num_clips + 1)).astype(np.int64)
    return bounds[None, :-1] + shift[:, None]


# -- frame lists: PySlowFast's SSv2 and Charades loaders ---------------------------


def frame_list_length(video_frames: int, video_fps: float | None = None, list_fps: float | None = None) -> int:
    """Frames in a frame list extracted at ``list_fps`` from a video of ``video_frames`` frames at
    ``video_fps``: ``round(video_frames * list_fps / video_fps)``, at least 1; ``video_frames``
    itself when either rate is unknown (the video is the frame list)."""
    if video_frames <= 0:
        raise ValueError("video has no frames")
    if not (video_fps and list_fps):
        return int(video_frames)
    return max(1, int(round(video_frames * float(list_fps) / float(video_fps))))


def frame_list_to_video(indices, video_frames: int, video_fps: float | None = None,
                        list_fps: float | None = None) -> np.ndarray:
    """Frame-list indices -> indices of the decoded video: list frame j shows the video frame on screen
    at ``j / list_fps`` seconds, ``floor(j * video_fps / list_fps)`` (clamped to the video); the same
    indices when either rate is unknown. An approximation of the extraction (ffmpeg's ``-r`` picks
    frames by its own timestamp rounding)."""
    idx = np.asarray(indices, dtype=np.int64)
    if video_fps and list_fps:
        idx = np.floor(idx * (float(video_fps) / float(list_fps)) + 1e-9).astype(np.int64)
    return np.clip(idx, 0, max(int(video_frames) - 1, 0))


def ssv2_segment_indices(video_frames: int, num_frames: int) -> np.ndarray:
    """PySlowFast's Something-Something v2 test clip (``ssv2.py`` ``get_seq_frames``, not in training
    mode; PyTorchVideo's ``SSv2._sample_clip_frames`` with ``rand_sample=False`` is the same rule).

    The frames ``0 .. n - 1`` are cut into ``num_frames`` segments of ``s = (n - 1) / num_frames``
    frames; segment i runs from ``b_i = round(s * i)`` to ``b_{i+1}`` (NumPy's round: half to even)
    and gives its middle frame ``(b_i + b_{i+1}) // 2``. One clip covers the whole video; the view
    index does not enter (PySlowFast's test views of one video are the same frames)."""
    if video_frames <= 0:
        raise ValueError("video has no frames")
    seg = float(video_frames - 1) / num_frames
    bounds = np.round(seg * np.arange(num_frames + 1)).astype(np.int64)
    return (bounds[:-1] + bounds[1:]) // 2


def pyslowfast_charades_view_indices(video_frames: int, num_frames: int, sampling_rate: int,
                                     num_views: int) -> list[np.ndarray]:
    """PySlowFast's Charades test clips (``charades.py`` ``get_seq_frames``, temporal index
    ``k = clip_idx // NUM_SPATIAL_CROPS``).

    A clip spans ``L = (num_frames - 1) * sampling_rate + 1`` list frames; view k starts at
    ``int(round(k * max(n - L, 0) / (num_views - 1)))`` (Python's round: half to even), so the first
    view starts on frame 0 and the last ends on the last frame, and takes ``start + i * sampling_rate``
    clamped to ``[0, n - 1]`` (a short video repeats its last frame). PySlowFast divides by
    ``num_views - 1``: one view is a ``ZeroDivisionError`` there, a ``ValueError`` here."""
    if video_frames <= 0:
        raise ValueError("video has no frames")
    if num_views < 2:
        raise ValueError("PySlowFast's Charades test sampling spreads NUM_ENSEMBLE_VIEWS >= 2 clips (it divides "
                         "by NUM_ENSEMBLE_VIEWS - 1)")
    span = (num_frames - 1) * sampling_rate + 1
    gap = float(max(video_frames - span, 0)) / (num_views - 1)
    steps = np.arange(num_frames, dtype=np.int64) * sampling_rate
    return [np.clip(int(round(gap * k)) + steps, 0, video_frames - 1) for k in range(num_views)]


def pytorchvideo_charades_view_indices(video_frames: int, num_frames: int, sampling_rate: int, num_views: int, *,
                                       frame_video_fps: float = 30.0, target_fps: float = 30.0) -> list[np.ndarray]:
    """PyTorchVideo's Charades test clips as PySlowFast's ``Ptvcharades`` draws them.

    ``FrameVideo.from_frame_paths`` gives the n list frames the rate ``frame_video_fps`` (its default
    30, whatever the extraction rate), so the video lasts ``d = n / 30`` s; the clip lasts
    ``c = ((num_frames - 1) * sampling_rate + 1) / DATA.TARGET_FPS`` s (default 30: ``L`` frames).
    ``ConstantClipsPerVideoSampler`` starts clip k at ``t_k = k * max(d - c, 0) / num_views`` (exact
    fractions of the float difference: the last clip ends before the video does, unlike
    :func:`pyslowfast_charades_view_indices`), ``FrameVideo.get_clip(t_k, min(t_k + c, d))`` takes
    the frames ``ceil(30 t_k) .. min(ceil(30 (t_k + c)), n) - 1`` and ``Charades._sample_clip_frames``
    ``num_frames`` of those m at ``int(linspace(0, m - 1, num_frames))`` (float32). The arithmetic
    follows the reference's float / ``Fraction`` mix, so borderline ceilings fall the same way."""
    if video_frames <= 0:
        raise ValueError("video has no frames")
    duration = video_frames / frame_video_fps
    clip = ((num_frames - 1) * sampling_rate + 1) / target_fps
    max_start = Fraction(max(duration - clip, 0))
    step = Fraction(max_start, num_views)
    out = []
    for k in range(num_views):
        start = step * k
        end = min(float(start) + clip, duration)
        first = math.ceil(frame_video_fps * float(start))
        last = min(math.ceil(frame_video_fps * end), video_frames)
        m = max(last - first, 1)
        pos = torch.linspace(0, m - 1, num_frames).clamp(0, m - 1).long().numpy()
        out.append(np.minimum(first + pos, video_frames - 1).astype(np.int64))
    return out


#: ``view_rule`` names of the frame-list rules (:func:`frame_list_view_indices`).
FRAME_LIST_RULES = ("pyslowfast_ssv2", "pyslowfast_charades", "pytorchvideo_charades")


def frame_list_view_indices(rule: str, video_frames: int, num_frames: int, sampling_rate: int, num_views: int, *,
                            video_fps: float | None = None, list_fps: float | None = None) -> list[np.ndarray]:
    """The ``num_views`` test clips of a frame-list rule, as indices of the decoded video.

    The video's frames are counted as a frame list at ``list_fps`` (:func:`frame_list_length`), the
    rule picks list frames (``"pyslowfast_ssv2"``: :func:`ssv2_segment_indices`, the same clip for
    every view; ``"pyslowfast_charades"``: :func:`pyslowfast_charades_view_indices`;
    ``"pytorchvideo_charades"``: :func:`pytorchvideo_charades_view_indices`) and
    :func:`frame_list_to_video` maps them back onto the video."""
    n = frame_list_length(video_frames, video_fps, list_fps)
    if rule == "pyslowfast_ssv2":
        views = [ssv2_segment_indices(n, num_frames)] * num_views
    elif rule == "pyslowfast_charades":
        views = pyslowfast_charades_view_indices(n, num_frames, sampling_rate, num_views)
    elif rule == "pytorchvideo_charades":
        views = pytorchvideo_charades_view_indices(n, num_frames, sampling_rate, num_views)
    else:
        raise ValueError(f"unknown frame-list rule {rule!r}; choose one of {', '.join(FRAME_LIST_RULES)}")
    return [frame_list_to_video(v, video_frames, video_fps, list_fps) for v in views]


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
