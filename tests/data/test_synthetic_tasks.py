"""The diagnostic tasks: what each baseline can and cannot see, by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidlab.data import synthetic_tasks as st
from vidlab.data.datasets.video_list import read_video_list

SLOW_STRIDE = 5  # Fast frames linspace(0, 15, 4) of a Fast pathway taking 16 consecutive frames


def test_the_slow_view_of_the_blink_task_is_every_fifth_frame():
    """SlowFast's Slow pathway takes Fast frames 0, 5, 10, 15; the trainer's PySlowFast sampling gives
    a Slow-only model (T 4, tau 4) exactly those strides and the Fast pathway (T 16, tau 1)
    consecutive frames, from any (fractional) start."""
    import torch

    from vidlab.data.sampling import clip_indices
    from vidlab.models.slowfast import pack_pathways

    slow, _ = pack_pathways(torch.arange(16.0).view(1, 1, 16, 1, 1), 4)
    assert slow.flatten().tolist() == [0.0, 5.0, 10.0, 15.0]
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = clip_indices(32, 4, 4, rng=rng)
        f = clip_indices(32, 16, 1, rng=rng)
        assert np.diff(s).tolist() == [5, 5, 5] and np.diff(f).tolist() == [1] * 15


@pytest.mark.parametrize("label", [0, 1, 2])
def test_blink_at_the_slow_stride_is_a_steady_clip(label):
    """Frames ``s0, s0 + 5, ...`` of any class equal those of the same scene with a constant
    brightness (the state at s0): the Slow view carries no pattern."""
    seed, n = 7, 32
    clip = st.render_task_clip("blink", label, seed, num_frames=n)
    gains = st.blink_gains(label, st.class_rng(seed, label), n)
    for s0 in range(0, n - 3 * SLOW_STRIDE):
        steady = st._render_blink(label, seed, 64, n, gains=np.full(n, gains[s0], np.float32))
        np.testing.assert_array_equal(clip[s0::SLOW_STRIDE][:4], steady[s0::SLOW_STRIDE][:4])


def test_blink_on_probability_is_the_same_for_every_class():
    """The state a Slow view sees is 'on' with probability 0.4 whatever the class: exact over the
    phases of the blinking classes (uniform), and the steady class's draw."""
    for pattern in st._BLINK.values():
        assert sum(pattern) / len(pattern) == pytest.approx(st._ON_FRACTION)
    draws = [st.blink_gains(0, np.random.default_rng(i), 4)[0] == 1.0 for i in range(4000)]
    assert np.mean(draws) == pytest.approx(st._ON_FRACTION, abs=0.03)


def test_blink_consecutive_frames_show_the_pattern():
    assert len(set(st.blink_gains(0, np.random.default_rng(0), 16).tolist())) == 1
    seen = {}
    for label in (1, 2):
        g = st.blink_gains(label, np.random.default_rng(1), 16) == 1.0
        assert g.sum() in (6, 7)  # 2 of every 5 frames
        # on frames in a row: 11000 has pairs of neighbours on, 10100 none
        seen[label] = int((g[1:] & g[:-1]).sum())
    assert seen[1] >= 3 and seen[2] == 0


def test_relation_classes_differ_only_in_the_second_object():
    """Same seed, other class: the first square's corner is bit-identical, the other square's differs."""
    for seed in (1, 2, 3, 4):
        a = st.render_task_clip("relation", 0, seed).astype(int)
        b = st.render_task_clip("relation", 1, seed).astype(int)
        diff = np.abs(a - b).max(axis=(0, 3))
        ys, xs = np.nonzero(diff)
        assert len(ys) > 0
        # every changed pixel lies in one quadrant: the second object's
        assert len({(y >= 48, x >= 48) for y, x in zip(ys, xs)}) == 1


def test_relation_objects_are_farther_apart_than_the_baselines_receptive_field():
    """On each axis, the pixels the two squares cover (in any frame) are at least 40 px apart:
    no position of the suite's 3D ResNet (receptive field 33 x 33 px) sees both."""
    gaps = []
    for seed in range(40):
        for label in (0, 1):
            _, (m1, m2) = st._render_relation(label, seed, 96, 24, masks=True)
            (y1, x1), (y2, x2) = (np.nonzero(m.max(axis=0) > 0.01) for m in (m1, m2))
            gap_y = max(y2.min() - y1.max(), y1.min() - y2.max()) - 1
            gap_x = max(x2.min() - x1.max(), x1.min() - x2.max()) - 1
            gaps.append(min(gap_x, gap_y))
    assert min(gaps) >= 40, min(gaps)


def test_relation_squares_show_their_class_colours():
    """Inside each square the frame is its palette colour (up to noise and soft edges); the two squares
    of a ``same`` clip match and those of a ``different`` clip do not."""
    palette = np.array(st.relation_palette())
    for seed in (3, 4, 5):
        for label in (0, 1):
            frames, masks = st._render_relation(label, seed, 96, 8, masks=True)
            found = []
            for m in masks:
                inside = m > 0.99
                rgb = frames[inside].reshape(-1, 3).mean(0)
                found.append(int(np.abs(palette - rgb).sum(1).argmin()))
                assert np.abs(palette[found[-1]] - rgb).max() < 6, rgb
            assert (found[0] == found[1]) == (label == 0), (seed, label, found)


def test_relation_each_square_alone_is_uniform_over_the_hues_in_both_classes():
    """By construction the first hue is uniform over the 6 and, for ``different``, the shift to the second is
    uniform over 1..5, so the second hue is uniform too (checked on 3000 draws); the scene's draws are the same
    for both classes."""
    k = len(st.relation_palette())
    for label in (0, 1):
        counts = np.zeros((2, k), int)
        for seed in range(3000):
            first, second = st.relation_colours(label, np.random.default_rng(seed))
            counts[0, first] += 1
            counts[1, second] += 1
            assert (first == second) == (label == 0)
        # 500 expected per hue; 5 standard deviations of a binomial(3000, 1/6) are ~100
        assert np.abs(counts - 3000 / k).max() < 100, counts
    same = [st.relation_colours(0, np.random.default_rng(s))[0] for s in range(50)]
    diff = [st.relation_colours(1, np.random.default_rng(s))[0] for s in range(50)]
    assert same == diff


def test_detail_glyphs_are_distinct_and_drawn_cell_by_cell():
    glyphs = st._GLYPHS
    assert glyphs.shape == (len(st.TASKS["detail"]["classes"]), 5, 5)
    assert min(int(np.abs(a - b).sum()) for i, a in enumerate(glyphs) for b in glyphs[i + 1:]) >= 7
    fg, bg = np.array([250.0, 10.0, 10.0]), np.array([10.0, 10.0, 250.0])
    for glyph in glyphs:
        texture = st._glyph_texture(glyph, fg, bg)
        n = texture.shape[0] - 2
        for r in range(5):
            for c in range(5):
                texel = texture[1 + int((r + 0.5) * n / 5), 1 + int((c + 0.5) * n / 5)]
                assert np.allclose(texel[:3], fg if glyph[r, c] else bg) and texel[3] == 1.0


def test_detail_classes_differ_only_inside_the_square():
    """Same seed, other class: the background, the square's place and colours are the same; only pixels
    the square covers change (its glyph)."""
    for seed in (1, 2):
        first, alpha = st._render_detail(0, seed, 64, 8, masks=True)
        covered = alpha.max(axis=0) > 0
        for label in range(1, 6):
            other, alpha_other = st._render_detail(label, seed, 64, 8, masks=True)
            assert np.array_equal(alpha, alpha_other)
            changed = np.abs(other.astype(int) - first).max(axis=(0, 3)) > 0
            assert changed.any() and not (changed & ~covered).any()


def test_write_task_dataset_layout(tmp_path):
    res = st.write_task_dataset(tmp_path, "blink", train_per_class=2, val_per_class=1, test_per_class=1,
                                num_frames=12, progress=False)
    assert res["counts"] == {"train": 6, "val": 3, "test": 3}
    assert (tmp_path / "classes.txt").read_text().split() == ["steady", "blink_11000", "blink_10100"]
    records = read_video_list(tmp_path / "train.csv")
    assert sorted(r.label for r in records) == [0, 0, 1, 1, 2, 2]
    assert all((tmp_path / r.path).exists() for r in records)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["task"] == "blink" and meta["num_frames"] == 12
    # clip i of a split has one seed for all classes
    assert len(set(meta["clip_seeds"]["train"])) == 2


def test_unknown_task_and_bad_label():
    with pytest.raises(ValueError, match="unknown task"):
        st.render_task_clip("nope", 0, 0)
    with pytest.raises(ValueError, match="class index"):
        st.render_task_clip("relation", 2, 0)


def test_cli_writes_a_task(tmp_path):
    from typer.testing import CliRunner

    from vidlab.apps.cli import app

    r = CliRunner().invoke(app, ["data", "synth", "--task", "relation", "--out", str(tmp_path), "--train-per-class",
                                 "1", "--val-per-class", "1", "--test-per-class", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout[r.stdout.index("{"):])["task"] == "relation"
    r = CliRunner().invoke(app, ["data", "synth", "--task", "relation", "--untrimmed", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "--task" in r.output
