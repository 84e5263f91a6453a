"""MMAction2 1.x ``SampleFrames`` test-mode views (``mmaction2_view_indices``, VideoListDataset's
``view_rule="mmaction2"``), hand-computed from the rule of ``mmaction/datasets/transforms/loading.py``
(v1.2.0, ``_get_ori_clip_len`` / ``_get_test_clips`` / ``transform``):

- no ``target_fps`` (every config but X3D's): ``ori_clip_len = (clip_len - 1) * frame_interval + 1``,
  ``max_offset = max(total - ori_clip_len, 0)``; n > 1 clips start at ``np.round(k * max_offset / (n - 1))``
  (round half to even), one clip at ``max_offset // 2``; clip k is ``offset_k + j * frame_interval``
  (j < clip_len), then ``out_of_bound_opt='loop'``: modulo ``total``.
- ``target_fps`` (X3D): ``ori_clip_len = max(1, clip_len * frame_interval * fps / target_fps)``,
  ``max_offset = max(total - ori_clip_len, 0)``, clips at ``k * floor(max_offset / (n - 1))``, clip k is
  ``offset_k + int32(linspace(0, ori_clip_len - 1, clip_len))``.
"""

from __future__ import annotations

import numpy as np
import pytest

from vidlab.data import sampling as S


def _rows(views):
    return [v.tolist() for v in views]


def test_300_frames_32x2_ten_clips_hand_computed():
    # ori_clip_len = 31 * 2 + 1 = 63, max_offset = 300 - 63 = 237, step 237 / 9 = 26.333...
    # k * step = 0, 26.33, 52.67, 79, 105.33, 131.67, 158, 184.33, 210.67, 237 -> rounded:
    offsets = [0, 26, 53, 79, 105, 132, 158, 184, 211, 237]
    views = S.mmaction2_view_indices(300, 32, 2, 10)
    assert len(views) == 10
    assert [v[0] for v in views] == offsets
    assert _rows(views) == [[o + 2 * j for j in range(32)] for o in offsets]
    assert views[-1][-1] == 299  # the last clip ends on the last frame
    assert all(v.dtype == np.int64 for v in views)
    # not PySlowFast's uniform views (start 237 * k / 10 for 64-frame spans, no end alignment)
    assert _rows(S.uniform_view_indices(300, 32, 2, 10)) != _rows(views)


def test_one_clip_is_centred():
    # max_offset // 2 = 237 // 2 = 118 -> frames 118, 120, ..., 180
    assert _rows(S.mmaction2_view_indices(300, 32, 2, 1)) == [list(range(118, 182, 2))]


def test_round_half_to_even():
    # 16 frames, 4 x 2: ori_clip_len 7, max_offset 9, step 9 / 2 = 4.5 -> np.round: 0, 4 (not 5), 9
    assert _rows(S.mmaction2_view_indices(16, 4, 2, 3)) == [[0, 2, 4, 6], [4, 6, 8, 10], [9, 11, 13, 15]]


def test_video_shorter_than_one_clip_loops():
    # 40 frames < ori_clip_len 63: max_offset 0, every clip starts at 0, frames 40..62 wrap to 0..22
    clip = list(range(0, 40, 2)) + list(range(0, 24, 2))
    assert len(clip) == 32
    assert _rows(S.mmaction2_view_indices(40, 32, 2, 10)) == [clip] * 10
    # 5 frames, 4 x 3: 0, 3, 6 -> 1, 9 -> 4
    assert _rows(S.mmaction2_view_indices(5, 4, 3, 2)) == [[0, 3, 1, 4]] * 2


def test_target_fps_rule_hand_computed():
    # 30 fps at target 30: ori_clip_len 13 * 6 = 78, max_offset 222, step floor(222 / 9) = 24;
    # linspace(0, 77, 13) = 0, 6.42, 12.83, 19.25, 25.67, 32.08, 38.5, 44.92, 51.33, 57.75, 64.17, 70.58, 77
    inner = [0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 64, 70, 77]
    views = S.mmaction2_view_indices(300, 13, 6, 10, video_fps=30, target_fps=30)
    assert _rows(views) == [[24 * k + i for i in inner] for k in range(10)]
    # 24 fps: ori_clip_len 78 * 0.8 = 62.4, max_offset 237.6, step floor(26.4) = 26;
    # linspace(0, 61.4, 13) (step 5.1167) truncated:
    inner = [0, 5, 10, 15, 20, 25, 30, 35, 40, 46, 51, 56, 61]
    views = S.mmaction2_view_indices(300, 13, 6, 10, video_fps=24, target_fps=30)
    assert _rows(views) == [[26 * k + i for i in inner] for k in range(10)]
    # one clip: max_offset // 2 = 237.6 // 2 = 118
    assert _rows(S.mmaction2_view_indices(300, 13, 6, 1, video_fps=24, target_fps=30)) == [[118 + i for i in inner]]
    # unknown video fps: MMAction2 takes the ratio 1 (still the target_fps branch: span 78, floored step)
    assert _rows(S.mmaction2_view_indices(300, 13, 6, 10, target_fps=30)) == _rows(
        S.mmaction2_view_indices(300, 13, 6, 10, video_fps=30, target_fps=30))


def test_sample_frames_target_fps_is_test_mode_1x_only_and_default_unchanged():
    for kw in ({"test_mode": False}, {"test_mode": True, "version": "0.x"},
               {"test_mode": True, "temporal_jitter": True}):
        with pytest.raises(ValueError, match="target_fps"):
            S.sample_frames(300, 13, 6, 10, target_fps=30, video_fps=30, **kw)
    # target_fps=None (the default) is the rule without it
    assert S.sample_frames(300, 32, 2, 10, test_mode=True, target_fps=None).tolist() == \
        S.sample_frames(300, 32, 2, 10, test_mode=True).tolist()
    # clip_len 1 (MMAction2's 2D branch) ignores target_fps in test mode
    assert S.sample_frames(30, 1, 1, 3, test_mode=True, target_fps=30, video_fps=25).ravel().tolist() == [5, 15, 25]
