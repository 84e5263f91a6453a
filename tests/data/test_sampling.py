import sys
from pathlib import Path

import numpy as np
import pytest

from vidlab.data import sampling as S

sys.path.insert(0, str(Path(__file__).parent))
import sampling_ref as R  # noqa: E402


def test_clip_size_converts_target_fps_to_source_frames():
    assert S.clip_size(8, 8) == 64
    assert S.clip_size(8, 8, video_fps=30, target_fps=30) == 64
    assert S.clip_size(8, 8, video_fps=25, target_fps=30) == pytest.approx(64 / 30 * 25)


@pytest.mark.parametrize(
    "view, expected",
    [
        (0, [0, 9, 18, 27, 36, 45, 54, 63]),
        # start = 236 * 3 / 10 = 70.8 -> 70.8 + 9k, truncated
        (3, [70, 79, 88, 97, 106, 115, 124, 133]),
        # start = 212.4
        (9, [212, 221, 230, 239, 248, 257, 266, 275]),
    ],
)
def test_pyslowfast_uniform_views_hand_computed(view, expected):
    views = S.uniform_view_indices(300, 8, 8, 10, video_fps=30, target_fps=30)
    assert len(views) == 10
    assert views[view].tolist() == expected


def test_fps_resampling_hand_computed():
    # 25 fps video, 30 fps target: span 53.33 source frames, step 52.33 / 7
    idx = S.clip_indices(100, 8, 8, clip_idx=0, num_clips=1, video_fps=25, target_fps=30)
    assert idx.tolist() == [0, 7, 14, 22, 29, 37, 44, 52]


def test_short_video_is_clamped_to_last_frame():
    idx = S.clip_indices(20, 8, 8, clip_idx=0, num_clips=1)
    assert idx.tolist() == [0, 9, 18, 19, 19, 19, 19, 19]


def test_use_offset_spreads_views_to_both_ends():
    starts = [S.start_end_index(100, 64, k, 3, use_offset=True)[0] for k in range(3)]
    assert starts == [0, 18, 36]
    assert S.start_end_index(100, 64, 0, 1, use_offset=True)[0] == 18


def test_pyslowfast_slow_pathway_rule_matches_fixture_readme():
    # "For alpha=4 this is torch.linspace(0, 31, 8).long() = [0,4,8,13,17,22,26,31]"
    assert S.linspace_indices(0, 31, 8, 32).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert S.linspace_indices(0, 31, 4, 32).tolist() == [0, 10, 20, 31]


def test_training_jitter_stays_inside_video_and_is_seeded():
    a = [S.clip_indices(100, 8, 4, rng=np.random.default_rng(s)) for s in range(50)]
    b = [S.clip_indices(100, 8, 4, rng=np.random.default_rng(s)) for s in range(50)]
    assert all((x == y).all() for x, y in zip(a, b))
    starts = np.array([x[0] for x in a])
    assert starts.min() >= 0 and max(x[-1] for x in a) <= 99
    assert len(set(starts.tolist())) > 10  # it does jitter
    assert all((np.diff(x) >= 3).all() and (np.diff(x) <= 5).all() for x in a)


def test_mmaction_sample_frames_test_mode_hand_computed():
    # 0.x: avg interval (100 - 16 + 1) / 3 = 28.33; offsets int(28.33*k + 14.17) = 14, 42, 70
    inds = S.sample_frames(100, clip_len=8, frame_interval=2, num_clips=3, test_mode=True, version="0.x")
    assert inds[:, 0].tolist() == [14, 42, 70]
    assert (np.diff(inds, axis=1) == 2).all()
    # 1.x (default): max_offset 100 - 15 = 85, step 42.5 -> round half to even: 0, 42, 85 (ends on frame 99)
    inds = S.sample_frames(100, clip_len=8, frame_interval=2, num_clips=3, test_mode=True)
    assert inds[:, 0].tolist() == [0, 42, 85]
    assert inds[-1, -1] == 99
    assert S.sample_frames(100, 8, 2, 3, test_mode=True, version="1.x").tolist() == inds.tolist()
    # one clip: 1.x 85 // 2 = 42; 0.x int(85 / 2) = 42
    assert S.sample_frames(100, 8, 2, 1, test_mode=True)[:, 0].tolist() == [42]
    assert S.sample_frames(100, 8, 2, 1, test_mode=True, version="0.x")[:, 0].tolist() == [42]


def test_mmaction_sample_frames_train_offsets_stay_in_their_segment():
    for seed in range(20):
        inds = S.sample_frames(100, 8, 2, 3, rng=np.random.default_rng(seed))
        # avg interval (100 - 16 + 1) // 3 = 28; clip k starts in [28k, 28k + 28)
        for k in range(3):
            assert 28 * k <= inds[k, 0] < 28 * (k + 1)


def test_mmaction_out_of_bound_loop_and_repeat_last():
    loop = S.sample_frames(10, 8, 2, 1, test_mode=True)
    assert loop.tolist() == [[0, 2, 4, 6, 8, 0, 2, 4]]
    last = S.sample_frames(10, 8, 2, 1, test_mode=True, out_of_bound="repeat_last")
    assert last.tolist() == [[0, 2, 4, 6, 8, 8, 8, 8]]  # the clip's last sampled frame, not frame 9


def test_tsn_segments_centre_at_test():
    assert S.segment_indices(30, 3, test_mode=True).tolist() == [5, 15, 25]


def test_plan_views_decodes_each_frame_once():
    views = S.uniform_view_indices(120, 8, 4, 5)
    plan = S.plan_views(views)
    assert (np.diff(plan.frames) > 0).all()  # sorted, unique
    for v, p in zip(views, plan.views):
        assert (plan.frames[p] == v).all()
    assert len(plan.frames) < sum(len(v) for v in views)


def test_empty_video_is_an_error():
    with pytest.raises(ValueError):
        S.clip_indices(0, 8, 8)


# -- PySlowFast: a clip never spans less than one source frame -------------------


def test_pyslowfast_sub_frame_span_is_one_frame_and_in_order():
    # 4 frames x 1 at 30 fps from a 5 fps video: 4 / 30 * 5 = 0.67 source frames -> 1 (PySlowFast's max(1, .))
    assert S.clip_size(4, 1, video_fps=5, target_fps=30) == 1.0
    # view 3 of 4 of 10 frames: delta 9, start 6.75, end 6.75 (unclamped: start 7.0, end 6.67 -> [7, 6, 6, 6])
    idx = S.clip_indices(10, 4, 1, clip_idx=3, num_clips=4, video_fps=5, target_fps=30)
    assert idx.tolist() == [6, 6, 6, 6]
    # 2 frames: delta 1, view 3 of 5 starts at 0.6 (unclamped: [1, 0])
    idx = S.clip_indices(2, 2, 1, clip_idx=3, num_clips=5, video_fps=5, target_fps=30)
    assert idx.tolist() == [0, 0]


def test_pyslowfast_training_clips_never_run_backwards():
    for seed in range(200):
        idx = S.clip_indices(10, 4, 1, video_fps=5, target_fps=30, rng=np.random.default_rng(seed))
        assert (np.diff(idx) == 0).all() and 0 <= idx[0] <= 9


def test_pyslowfast_test_views_match_reference_restatement():
    r = np.random.default_rng(0)
    for _ in range(1500):
        n, t, tau, views = int(r.integers(1, 400)), int(r.integers(1, 33)), int(r.integers(1, 9)), int(r.integers(1, 11))
        fps = float(r.choice([1, 2, 5, 12.5, 24, 25, 29.97, 30, 60])) if r.integers(0, 3) else None
        target = float(r.choice([15, 24, 30])) if fps else None
        use_offset = bool(r.integers(0, 2))
        got = S.uniform_view_indices(n, t, tau, views, video_fps=fps, target_fps=target, use_offset=use_offset)
        for k, v in enumerate(got):
            assert v.tolist() == R.slowfast_clip(n, t, tau, k, views, fps, target, use_offset), (n, t, tau, views, fps, k)


def test_pyslowfast_training_properties():
    r = np.random.default_rng(1)
    for i in range(500):
        n, t, tau = int(r.integers(1, 300)), int(r.integers(1, 17)), int(r.integers(1, 9))
        fps = float(r.choice([2, 5, 25, 30, 60]))
        delta, size = R.slowfast_train_start_range(n, t, tau, fps, 30.0)
        idx = S.clip_indices(n, t, tau, video_fps=fps, target_fps=30.0, rng=np.random.default_rng(i))
        assert idx.shape == (t,) and idx.dtype == np.int64
        assert (np.diff(idx) >= 0).all() and idx.min() >= 0 and idx.max() <= n - 1
        assert idx[0] <= delta  # start drawn in [0, delta], truncated
        assert idx[-1] <= min(delta + size - 1, n - 1) + 1e-6


# -- MMAction2 SampleFrames ------------------------------------------------------


@pytest.mark.parametrize("version", ["1.x", "0.x"])
def test_mmaction_repeat_last_repeats_the_clips_last_sampled_frame(version):
    got = S.sample_frames(11, 5, 3, 1, test_mode=True, out_of_bound="repeat_last", version=version)
    assert got.tolist() == [[0, 3, 6, 9, 9]]  # MMAction2; not [0, 3, 6, 9, 10]


def test_mmaction_repeat_last_is_per_clip_and_twice_sample_1x_overruns():
    # 1.x 3D twice_sample: max_offset 20 - 17 = 3, step 3 / (2 - 1) over 2 * 2 offsets: 0, 3, 6, 9
    # (MMAction2 1.x bug: the second half runs past the video; reproduced)
    last = S.sample_frames(20, 5, 4, 2, test_mode=True, twice_sample=True, out_of_bound="repeat_last")
    assert last.tolist() == [[0, 4, 8, 12, 16], [3, 7, 11, 15, 19], [6, 10, 14, 18, 18], [9, 13, 17, 17, 17]]
    loop = S.sample_frames(20, 5, 4, 2, test_mode=True, twice_sample=True)
    assert loop[2:].tolist() == [[6, 10, 14, 18, 2], [9, 13, 17, 1, 5]]
    # a clip with no frame inside becomes zeros, as in MMAction2
    assert S.fit_out_of_bound(np.array([[12, 15], [3, 11]]), 10, "repeat_last").tolist() == [[0, 0], [3, 3]]


def test_mmaction_twice_sample_hand_computed():
    # 2D (clip_len 1), both versions: centres 5, 15, 25 then the segment starts 0, 10, 20 (TSM)
    for version in ("1.x", "0.x"):
        assert S.sample_frames(30, 1, 1, 3, test_mode=True, twice_sample=True, version=version).ravel().tolist() == [
            5, 15, 25, 0, 10, 20]
    # 0.x 3D: centres 14, 42, 70, then int(28.33 k) = 0, 28, 56
    got = S.sample_frames(100, 8, 2, 3, test_mode=True, twice_sample=True, version="0.x")
    assert got[:, 0].tolist() == [14, 42, 70, 0, 28, 56]
    # 1.x 3D: round(42.5 k) for k < 6 = 0, 42, 85, 128, 170, 212, looped mod 100
    got = S.sample_frames(100, 8, 2, 3, test_mode=True, twice_sample=True)
    assert got[:, 0].tolist() == [0, 42, 85, 28, 70, 12]
    # 0.x short video: num_clips zero offsets, not doubled
    assert S.sample_frames(10, 8, 2, 3, test_mode=True, twice_sample=True, version="0.x").shape == (3, 8)
    with pytest.raises(ValueError):  # MMAction2 1.x divides by zero here
        S.sample_frames(100, 8, 2, 1, test_mode=True, twice_sample=True)


def test_mmaction_2d_test_mode_1x_ignores_frame_interval():
    # clip_len 1, frame_interval 4: 1.x avg 30 / 3 = 10 -> 5, 15, 25; 0.x avg (30 - 4 + 1) / 3 = 9 -> 4, 13, 22
    assert S.sample_frames(30, 1, 4, 3, test_mode=True).ravel().tolist() == [5, 15, 25]
    assert S.sample_frames(30, 1, 4, 3, test_mode=True, version="0.x").ravel().tolist() == [4, 13, 22]


def test_segment_indices_same_in_both_versions():
    for n in range(1, 80):
        for k in range(1, 12):
            a = S.sample_frames(n, 1, 1, k, test_mode=True, version="1.x")
            b = S.sample_frames(n, 1, 1, k, test_mode=True, version="0.x")
            assert a.tolist() == b.tolist()
            assert S.segment_indices(n, k, test_mode=True).tolist() == a.ravel().tolist()
            ra, rb = np.random.default_rng(n * 100 + k), np.random.default_rng(n * 100 + k)
            assert S.sample_frames(n, 1, 1, k, rng=ra).tolist() == S.sample_frames(n, 1, 1, k, rng=rb, version="0.x").tolist()


def test_keep_tail_frames_reaches_the_tail():
    # span 16, 3 clips of 100 frames. Default: (85 // 3) = 28, clip k in [28k, 28k + 27] (frame 84 never starts one)
    # keep_tail_frames: floor(28.33 k + U[0, 28.33)): [0, 28], [28, 56], [56, 84]
    plain = np.stack([S.sample_frames(100, 8, 2, 3, rng=np.random.default_rng(s))[:, 0] for s in range(3000)])
    tail = np.stack([S.sample_frames(100, 8, 2, 3, keep_tail_frames=True, rng=np.random.default_rng(s))[:, 0]
                     for s in range(3000)])
    assert plain.min(0).tolist() == [0, 28, 56] and plain.max(0).tolist() == [27, 55, 83]
    assert tail.min(0).tolist() == [0, 28, 56] and tail.max(0).tolist() == [28, 56, 84]
    # too short: zeros
    assert S.sample_frames(10, 8, 2, 2, keep_tail_frames=True, rng=np.random.default_rng(0))[:, 0].tolist() == [0, 0]


def test_temporal_jitter_stays_within_the_interval():
    for seed in range(30):
        base = S.sample_frames(200, 8, 4, 2, test_mode=True)
        got = S.sample_frames(200, 8, 4, 2, test_mode=True, temporal_jitter=True, rng=np.random.default_rng(seed))
        assert ((got - base) % 200 < 4).all()  # the last clip ends on frame 199, so a jittered index may loop


def test_bad_version_and_out_of_bound_are_errors():
    with pytest.raises(ValueError):
        S.sample_frames(10, 2, version="2.x")
    with pytest.raises(ValueError):
        S.sample_frames(10, 2, out_of_bound="clamp")


def _random_case(r):
    return int(r.integers(1, 300)), int(r.integers(1, 17)), int(r.integers(1, 6)), int(r.integers(1, 11))


def test_sample_frames_test_mode_matches_reference_restatement():
    r = np.random.default_rng(2)
    for _ in range(3000):
        n, clip_len, interval, clips = _random_case(r)
        twice, how = bool(r.integers(0, 2)), ("loop", "repeat_last")[int(r.integers(0, 2))]
        for version in ("1.x", "0.x"):
            try:
                want = R.sample_frames_test(n, clip_len, interval, clips, twice=twice, version=version, how=how)
            except ZeroDivisionError:
                with pytest.raises(ValueError):
                    S.sample_frames(n, clip_len, interval, clips, test_mode=True, twice_sample=twice, version=version)
                continue
            got = S.sample_frames(n, clip_len, interval, clips, test_mode=True, twice_sample=twice,
                                  out_of_bound=how, version=version)
            assert got.dtype == np.int64
            assert got.tolist() == want, (n, clip_len, interval, clips, twice, how, version)


def test_sample_frames_train_offsets_lie_in_the_reference_support():
    r = np.random.default_rng(3)
    for i in range(1500):
        n, clip_len, interval, clips = _random_case(r)
        keep_tail = bool(r.integers(0, 2))
        kind, support = R.sample_frames_train_support(n, clip_len, interval, clips, keep_tail)
        for version in ("1.x", "0.x"):
            got = S.sample_frames(n, clip_len, interval, clips, keep_tail_frames=keep_tail, version=version,
                                  rng=np.random.default_rng(i))
            assert got.shape == (clips, clip_len) and got.dtype == np.int64
            assert got.min() >= 0 and got.max() < n
            offsets = got[:, 0].tolist()
            assert all(o in s for o, s in zip(offsets, support)), (n, clip_len, interval, clips, keep_tail, kind)
            if kind == "sorted":
                assert offsets == sorted(offsets)
            if n > clip_len * interval:  # no wrap: each clip is its offset plus the interval steps
                assert (np.diff(got, axis=1) == interval).all()


def test_sample_frames_train_draws_cover_the_support():
    # small cases: every allowed offset of every clip turns up (uniform draws, not just in range)
    for n, clip_len, interval, clips, keep_tail in [(40, 4, 2, 3, False), (40, 4, 2, 3, True), (12, 4, 2, 6, False),
                                                   (20, 2, 3, 1, True)]:
        kind, support = R.sample_frames_train_support(n, clip_len, interval, clips, keep_tail)
        seen = [set() for _ in range(clips)]
        for seed in range(2000):
            got = S.sample_frames(n, clip_len, interval, clips, keep_tail_frames=keep_tail, rng=np.random.default_rng(seed))
            for k in range(clips):
                seen[k].add(int(got[k, 0]))
        if kind == "sorted":  # order statistics of uniform draws: together they cover the range
            assert set().union(*seen) == support[0]
        else:
            assert seen == [set(s) for s in support], (n, clip_len, interval, clips, keep_tail, kind)


# -- MMAction2 DenseSampleFrames, UntrimmedSampleFrames, UniformSample -------------


def test_dense_sample_frames_hand_computed():
    # 100 frames, range 64: positions 37, starts linspace(0, 36, 3) = 0, 18, 36, clips 64 // 2 = 32 apart
    got = S.dense_sample_frames(100, 4, 2, 2, num_sample_positions=3, test_mode=True)
    assert got.tolist() == [[0, 2, 4, 6], [32, 34, 36, 38], [18, 20, 22, 24], [50, 52, 54, 56],
                            [36, 38, 40, 42], [68, 70, 72, 74]]
    assert S.dense_sample_frames(100, 4, 2, 2, test_mode=True)[::2, 0].tolist() == list(range(0, 37, 4))
    # 40 frames < range: one start (0), offsets 0, 32; the second clip loops
    got = S.dense_sample_frames(40, 8, 2, 2, test_mode=True)
    assert got.shape == (20, 8) and got[:, 0].tolist() == [0, 32] * 10
    assert got[1].tolist() == [32, 34, 36, 38, 0, 2, 4, 6]
    # training, positions 2: MMAction2's randint(0, 1) always starts at 0
    for seed in range(20):
        assert S.dense_sample_frames(65, 4, 1, 2, rng=np.random.default_rng(seed))[:, 0].tolist() == [0, 32]


def test_dense_sample_frames_match_reference_restatement():
    r = np.random.default_rng(4)
    for i in range(2000):
        n, clip_len, interval, clips = _random_case(r)
        sample_range, positions = int(r.integers(1, 100)), int(r.integers(1, 12))
        how = ("loop", "repeat_last")[int(r.integers(0, 2))]
        got = S.dense_sample_frames(n, clip_len, interval, clips, sample_range=sample_range,
                                    num_sample_positions=positions, test_mode=True, out_of_bound=how)
        assert got.tolist() == R.dense_test(n, clip_len, interval, clips, sample_range, positions, how)
        train = S.dense_sample_frames(n, clip_len, interval, clips, sample_range=sample_range, rng=np.random.default_rng(i))
        assert train.shape == (clips, clip_len) and train.min() >= 0 and train.max() < n
        gap = sample_range // clips
        starts = {s for s in R.dense_train_starts(n, sample_range)
                  if train[:, 0].tolist() == [(c * gap + s) % n for c in range(clips)]}
        assert starts, (n, clip_len, interval, clips, sample_range)


def test_untrimmed_sample_frames_hand_computed():
    assert S.untrimmed_sample_frames(40, 3, 16, 2).tolist() == [[6, 8, 10], [22, 24, 26]]
    assert S.untrimmed_sample_frames(10, 5, 8, 3).tolist() == [[0, 1, 4, 7, 9]]  # 4 + 3 * (-2..2), clipped
    assert S.untrimmed_sample_frames(40).ravel().tolist() == [8, 24]  # defaults: 1 frame every 16
    assert S.untrimmed_sample_frames(5, 2, 16).shape == (0, 2)  # MMAction2 fails on np.concatenate([])
    r = np.random.default_rng(5)
    for _ in range(1000):
        n, clip_len, interval, ci = int(r.integers(1, 300)), int(r.integers(1, 17)), int(r.integers(1, 6)), int(r.integers(1, 40))
        assert S.untrimmed_sample_frames(n, clip_len, ci, interval).tolist() == R.untrimmed(n, clip_len, ci, interval)


def test_uniform_sample_hand_computed():
    # 20 frames, 4 segments of 19 / 4 = 4.75: bounds round(0, 4.75, 9.5, 14.25, 19) = 0, 5, 10, 14, 19
    # test, 2 clips: shift int(4.75 / 3 * (k + 1)) = 1, 3
    assert S.uniform_sample(20, 4, 2, test_mode=True).tolist() == [[1, 6, 11, 15], [3, 8, 13, 17]]
    # half to even: 6 frames, 2 segments of 2.5: bounds 0, 2, 5; one clip shifted int(1.25) = 1
    assert S.uniform_sample(6, 2, test_mode=True).tolist() == [[1, 3]]
    seen = [set() for _ in range(4)]
    for seed in range(500):
        got = S.uniform_sample(20, 4, 3, rng=np.random.default_rng(seed))
        assert got.shape == (1, 4)  # training: one clip, num_clips ignored
        for i in range(4):
            seen[i].add(int(got[0, i]))
    assert seen == [set(range(0, 6)), set(range(5, 11)), set(range(10, 15)), set(range(14, 20))]
    assert S.uniform_sample(3, 8, 2, test_mode=True).max() <= 2  # short video repeats frames


def test_uniform_sample_matches_reference_restatement():
    r = np.random.default_rng(6)
    for i in range(2000):
        n, clip_len, clips = int(r.integers(1, 300)), int(r.integers(1, 33)), int(r.integers(1, 11))
        got = S.uniform_sample(n, clip_len, clips, test_mode=True)
        assert got.dtype == np.int64 and got.tolist() == R.uniform_test(n, clip_len, clips)
        train = S.uniform_sample(n, clip_len, clips, rng=np.random.default_rng(i))
        assert train.shape == (1, clip_len)
        assert all(int(v) in s for v, s in zip(train[0], R.uniform_train_support(n, clip_len)))
