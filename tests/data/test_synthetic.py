"""Tests of the synthetic time-reversal action set (vidlab.data.synthetic)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidlab.data.synthetic import (
    CLASSES,
    NUM_CLASSES,
    generate_clip,
    partner,
    write_synthetic_dataset,
)

PAIRS = range(0, NUM_CLASSES, 2)


# --------------------------------------------------------------------------
# helpers


def _object_mask(motion: np.ndarray) -> np.ndarray:
    """Pixels covered by the object in frame t (the flow is zero elsewhere)."""
    return np.abs(motion).sum(axis=1) > 0


def _erode(mask: np.ndarray, r: int = 2) -> np.ndarray:
    padded = np.pad(mask, r)
    out = np.ones_like(mask)
    h, w = mask.shape
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out &= padded[dy : dy + h, dx : dx + w]
    return out


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    x0 = np.clip(np.floor(x).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(y).astype(int), 0, h - 2)
    fx, fy = x - x0, y - y0
    if img.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    return (
        img[y0, x0] * (1 - fx) * (1 - fy)
        + img[y0, x0 + 1] * fx * (1 - fy)
        + img[y0 + 1, x0] * (1 - fx) * fy
        + img[y0 + 1, x0 + 1] * fx * fy
    )


def _warp_errors(frames: np.ndarray, motion: np.ndarray):
    """Mean |I_{t+1}(p + f(p)) - I_t(p)| and |I_{t+1}(p) - I_t(p)| on object interiors."""
    frames = frames.astype(np.float32)
    size = frames.shape[1]
    obj = _object_mask(motion)
    ys, xs = np.mgrid[0:size, 0:size]
    warp, still = [], []
    for t in range(len(motion) - 1):  # frame t + 1's mask comes from motion[t + 1]
        tx, ty = xs + motion[t, 0], ys + motion[t, 1]
        ok = (
            _erode(obj[t]) & (tx >= 0) & (tx <= size - 1) & (ty >= 0) & (ty <= size - 1)
        )
        land = _erode(obj[t + 1])[
            np.clip(np.rint(ty).astype(int), 0, size - 1),
            np.clip(np.rint(tx).astype(int), 0, size - 1),
        ]
        ok &= land
        if ok.sum() < 10:
            continue
        warp.append(np.abs(_bilinear(frames[t + 1], tx, ty) - frames[t])[ok].mean())
        still.append(np.abs(frames[t + 1] - frames[t])[ok].mean())
    assert len(warp) >= len(motion) // 2
    return float(np.mean(warp)), float(np.max(warp)), float(np.mean(still))


# --------------------------------------------------------------------------
# classes


def test_classes_are_partner_pairs():
    assert len(CLASSES) == NUM_CLASSES >= 10 and NUM_CLASSES % 2 == 0
    assert len(set(CLASSES)) == NUM_CLASSES
    for c in range(NUM_CLASSES):
        assert partner(c) != c
        assert partner(partner(c)) == c
        assert {c, partner(c)} == {c - c % 2, c - c % 2 + 1}  # pairs are adjacent
    assert CLASSES[partner(CLASSES.index("move_left"))] == "move_right"
    assert CLASSES[partner(CLASSES.index("grow"))] == "shrink"


@pytest.mark.parametrize("bad", [-1, NUM_CLASSES, True, 1.0])
def test_bad_labels_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        generate_clip(bad, 0)
    with pytest.raises((ValueError, TypeError)):
        partner(bad)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        generate_clip(0, -1)
    with pytest.raises(ValueError):
        generate_clip(0, 0, num_frames=1)
    with pytest.raises(ValueError):
        generate_clip(0, 0, size=8)


# --------------------------------------------------------------------------
# clips


def test_shapes_dtypes_and_ranges():
    frames = generate_clip(0, 0)
    assert frames.shape == (32, 64, 64, 3) and frames.dtype == np.uint8
    assert frames.flags.c_contiguous
    frames, motion = generate_clip(5, 3, size=48, num_frames=12, return_motion=True)
    assert frames.shape == (12, 48, 48, 3) and frames.dtype == np.uint8
    assert motion.shape == (11, 2, 48, 48) and motion.dtype == np.float32
    assert np.isfinite(motion).all()
    assert frames.max() - frames.min() > 100  # coloured object on a background
    covered = _object_mask(motion).mean()
    assert 0.01 < covered < 0.5  # flow is zero on the static background
    assert np.abs(motion).max() < 10


def test_determinism():
    for c in (0, 5, 8):
        a, ma = generate_clip(c, 11, return_motion=True)
        b, mb = generate_clip(c, 11, return_motion=True)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ma, mb)
        assert not np.array_equal(a, generate_clip(c, 12))
    # same seed, different pair: different parameters
    assert not np.array_equal(generate_clip(0, 11), generate_clip(2, 11))


@pytest.mark.parametrize("forward", PAIRS)
def test_partner_is_exact_time_reversal(forward):
    for seed, num_frames in ((0, 32), (7, 9), (123456789, 16)):
        a = generate_clip(forward, seed, num_frames=num_frames)
        b = generate_clip(partner(forward), seed, num_frames=num_frames)
        np.testing.assert_array_equal(b, a[::-1])
        np.testing.assert_array_equal(
            generate_clip(partner(forward), seed, num_frames=num_frames)[::-1], a
        )


@pytest.mark.parametrize("forward", PAIRS)
def test_partners_have_the_same_frame_multiset(forward):
    a = generate_clip(forward, 4, num_frames=16)
    b = generate_clip(partner(forward), 4, num_frames=16)
    assert sorted(f.tobytes() for f in a) == sorted(f.tobytes() for f in b)
    assert not np.array_equal(a, b)  # but the order differs


@pytest.mark.parametrize("label", range(NUM_CLASSES))
def test_object_stays_in_view_and_moves_visibly(label):
    for seed in range(3):
        _frames, motion = generate_clip(label, seed, return_motion=True)
        area = _object_mask(motion).sum(axis=(1, 2))
        assert area.min() >= 30
        if CLASSES[label] not in ("grow", "shrink"):
            assert area.min() >= 0.8 * area.max()
        if CLASSES[label] in ("grow", "shrink"):
            # 2-3 % per frame: the area changes by well over 2x in 32 frames
            assert max(area[0], area[-1]) > 2 * min(area[0], area[-1])
            assert (area[-1] > area[0]) == (CLASSES[label] == "grow")
        else:
            speed = np.hypot(motion[:, 0], motion[:, 1])[_object_mask(motion)]
            assert np.median(speed) > 0.4


def _direction_stats(motion: np.ndarray):
    """Mean flow, and mean curl/divergence about the object centroid, per pixel."""
    obj = _object_mask(motion)
    size = motion.shape[-1]
    ys, xs = np.mgrid[0:size, 0:size]
    u, v, curl, div = [], [], [], []
    for t in range(len(motion)):
        m = obj[t]
        rx, ry = xs[m] - xs[m].mean(), ys[m] - ys[m].mean()
        fx, fy = motion[t, 0][m], motion[t, 1][m]
        u.append(fx.mean())
        v.append(fy.mean())
        norm = np.hypot(rx, ry) + 1e-6
        curl.append(((rx * fy - ry * fx) / norm).mean())
        div.append(((rx * fx + ry * fy) / norm).mean())
    return np.mean(u), np.mean(v), np.mean(curl), np.mean(div)


def test_motion_directions_match_class_names():
    # screen coordinates: x right, y down; clockwise as displayed
    for seed in range(3):
        stats = {
            name: _direction_stats(generate_clip(i, seed, return_motion=True)[1])
            for i, name in enumerate(CLASSES)
        }
        assert stats["move_left"][0] < -0.4 and abs(stats["move_left"][1]) < 0.2
        assert stats["move_right"][0] > 0.4 and abs(stats["move_right"][1]) < 0.2
        assert stats["move_up"][1] < -0.4 and abs(stats["move_up"][0]) < 0.2
        assert stats["move_down"][1] > 0.4 and abs(stats["move_down"][0]) < 0.2
        assert stats["move_up_right"][0] > 0.25 and stats["move_up_right"][1] < -0.25
        assert stats["move_down_left"][0] < -0.25 and stats["move_down_left"][1] > 0.25
        assert stats["rotate_clockwise"][2] > 0.2  # x -> y with y down is clockwise
        assert stats["rotate_counterclockwise"][2] < -0.2
        assert stats["grow"][3] > 0.05
        assert stats["shrink"][3] < -0.05


@pytest.mark.parametrize(
    "name",
    [
        "move_left",
        "move_right",
        "move_down_left",
        "rotate_clockwise",
        "rotate_counterclockwise",
        "grow",
        "shrink",
    ],
)
def test_motion_warps_frame_t_onto_frame_t_plus_1(name):
    for seed in (0, 1):
        frames, motion = generate_clip(CLASSES.index(name), seed, return_motion=True)
        warp, worst, still = _warp_errors(frames, motion)
        # per-frame noise (std 2 on 0..255) and bilinear resampling dominate
        assert warp < 4.0 and worst < 6.0, (warp, worst)
        if name not in ("grow", "shrink"):  # interiors of a scaled object barely change
            assert still > 1.5 * warp


@pytest.mark.parametrize("forward", PAIRS)
def test_reversed_motion_inverts_forward_motion(forward):
    # The reversed clip's flow at frame T-2-k, read at the target p' of the
    # forward flow of frame k, must bring p' back to p: f_rev(p') = -f_fwd(p).
    # (Recomputed, not negated in place: for rotation and scaling
    # -f_fwd(p) at the same pixel p would be wrong.)
    num_frames = 16
    _, fwd = generate_clip(forward, 2, num_frames=num_frames, return_motion=True)
    _, rev = generate_clip(
        partner(forward), 2, num_frames=num_frames, return_motion=True
    )
    size = fwd.shape[-1]
    ys, xs = np.mgrid[0:size, 0:size]
    obj_rev = _object_mask(rev)
    for k in range(num_frames - 1):
        t = num_frames - 2 - k
        tx, ty = xs + fwd[k, 0], ys + fwd[k, 1]
        ok = (
            _erode(_object_mask(fwd)[k])
            & (tx >= 0)
            & (tx <= size - 1)
            & (ty >= 0)
            & (ty <= size - 1)
        )
        ok &= _erode(obj_rev[t])[
            np.clip(np.rint(ty).astype(int), 0, size - 1),
            np.clip(np.rint(tx).astype(int), 0, size - 1),
        ]
        assert ok.sum() > 20
        back = np.stack([_bilinear(rev[t, c], tx, ty) for c in range(2)])
        np.testing.assert_allclose(back[:, ok], -fwd[k][:, ok], atol=2e-3)
    if CLASSES[forward].startswith("rotate"):  # second order in the angle, but there
        both = _object_mask(fwd)[0] & _object_mask(rev)[num_frames - 2]
        assert np.abs(rev[num_frames - 2][:, both] + fwd[0][:, both]).max() > 0.05


def test_reversed_class_motion_warps_too():
    for label in (
        partner(CLASSES.index("move_left")),
        CLASSES.index("rotate_counterclockwise"),
        CLASSES.index("shrink"),
    ):
        frames, motion = generate_clip(label, 5, return_motion=True)
        warp, worst, _ = _warp_errors(frames, motion)
        assert warp < 4.0 and worst < 6.0


# --------------------------------------------------------------------------
# dataset writer


def _tiny(out: Path, **kw):
    args = {
        "train_per_class": 2,
        "val_per_class": 1,
        "test_per_class": 1,
        "size": 32,
        "num_frames": 8,
        "fps": 8.0,
        "seed": 3,
        "progress": False,
    }
    args.update(kw)
    return write_synthetic_dataset(out, **args)


def _read_csv(path: Path):
    rows = []
    for line in path.read_text().splitlines():
        rel, label = line.split(" ")
        rows.append((rel, int(label)))
    return rows


def test_write_synthetic_dataset(tmp_path):
    import av

    out = tmp_path / "synth"
    result = _tiny(out, motion=True, workers=2)
    assert result["counts"] == {
        "train": 2 * NUM_CLASSES,
        "val": NUM_CLASSES,
        "test": NUM_CLASSES,
    }
    assert result["num_clips"] == 4 * NUM_CLASSES
    assert (out / "classes.txt").read_text().splitlines() == CLASSES
    meta = json.loads((out / "meta.json").read_text())
    assert (
        meta["seed"] == 3
        and meta["classes"] == CLASSES
        and meta["num_frames"] == 8
        and meta["fps"] == 8.0
    )
    assert "generator_version" in meta

    seeds = meta["clip_seeds"]
    assert not set(seeds["train"]) & set(seeds["test"])
    assert not set(seeds["train"]) & set(seeds["val"]) and not set(seeds["val"]) & set(
        seeds["test"]
    )

    per_class = {"train": 2, "val": 1, "test": 1}
    for split, n in per_class.items():
        csv = Path(result["csv"][split])
        assert csv == out / f"{split}.csv"
        rows = _read_csv(csv)
        assert len(rows) == n * NUM_CLASSES
        labels = [label for _, label in rows]
        assert all(labels.count(c) == n for c in range(NUM_CLASSES))  # balanced
        for rel, label in rows:
            path = csv.parent / rel
            assert path.is_file() and path.suffix == ".mp4"
            assert (
                path.parent.name == CLASSES[label] and path.parent.parent.name == split
            )
            assert path.name.startswith(f"{split}_{CLASSES[label]}_")

    # decode a few videos and compare them with the generator
    for split, rel, label in [
        ("train", *_read_csv(out / "train.csv")[1]),
        ("test", *_read_csv(out / "test.csv")[-1]),
    ]:
        index = int(Path(rel).stem.rsplit("_", 1)[1])
        expected, motion = generate_clip(
            label, seeds[split][index], size=32, num_frames=8, return_motion=True
        )
        with av.open(str(out / rel)) as container:
            stream = container.streams.video[0]
            assert float(stream.average_rate) == pytest.approx(8.0)
            decoded, keys = [], []
            for frame in container.decode(stream):
                decoded.append(frame.to_ndarray(format="rgb24"))
                keys.append(frame.key_frame)
        decoded = np.stack(decoded)
        assert decoded.shape == (8, 32, 32, 3)
        assert all(keys)  # all-intra
        err = np.abs(decoded.astype(np.float32) - expected.astype(np.float32)).mean()
        # crf 15 plus 4:2:0 chroma subsampling of a small, colourful 32x32 clip
        assert err < 7.0, err
        reversed_err = np.abs(
            decoded.astype(np.float32) - expected[::-1].astype(np.float32)
        ).mean()
        assert reversed_err > 1.2 * err  # the order of frames survives
        stored = np.load(
            out / "motion" / split / CLASSES[label] / (Path(rel).stem + ".npy")
        )
        assert stored.dtype == np.float16 and stored.shape == (7, 2, 32, 32)
        np.testing.assert_allclose(stored.astype(np.float32), motion, atol=1e-2)


def test_dataset_is_deterministic_and_seed_dependent(tmp_path):
    a = _tiny(tmp_path / "a", train_per_class=1, workers=0)
    b = _tiny(tmp_path / "b", train_per_class=1, workers=2)
    c = _tiny(tmp_path / "c", train_per_class=1, seed=4, workers=0)
    for split in ("train", "val", "test"):
        text = Path(a["csv"][split]).read_text()
        assert (
            text
            == Path(b["csv"][split]).read_text()
            == Path(c["csv"][split]).read_text()
        )
    meta = [json.loads(Path(r["meta"]).read_text()) for r in (a, b, c)]
    assert meta[0] == meta[1]
    assert meta[0]["clip_seeds"] != meta[2]["clip_seeds"]
    # same seed and config: same pictures, whatever the number of workers
    import av

    rel = _read_csv(tmp_path / "a" / "test.csv")[4][0]
    decoded = []
    for root in ("a", "b", "c"):
        with av.open(str(tmp_path / root / rel)) as container:
            decoded.append(
                np.stack(
                    [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
                )
            )
    np.testing.assert_array_equal(decoded[0], decoded[1])
    assert not np.array_equal(decoded[0], decoded[2])


def test_test_split_does_not_depend_on_train_size(tmp_path):
    a = _tiny(tmp_path / "a", train_per_class=1, workers=0)
    b = _tiny(tmp_path / "b", train_per_class=3, workers=0)
    ma, mb = (json.loads(Path(r["meta"]).read_text()) for r in (a, b))
    assert ma["clip_seeds"]["test"] == mb["clip_seeds"]["test"]
    assert ma["clip_seeds"]["train"] == mb["clip_seeds"]["train"][:1]
