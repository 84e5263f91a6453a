import numpy as np
import pytest

from vidlab.data import sampling as S


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
    inds = S.sample_frames(100, clip_len=8, frame_interval=2, num_clips=3, test_mode=True)
    # avg interval 85/3 = 28.33; offsets int(28.33*k + 14.17) = 14, 42, 70
    assert inds[:, 0].tolist() == [14, 42, 70]
    assert (np.diff(inds, axis=1) == 2).all()


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
    assert last.tolist() == [[0, 2, 4, 6, 8, 9, 9, 9]]


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
