"""The synthetic untrimmed set: ActivityNet v1.3 ground truth that matches the frames, a moving
background, determinism, and `vidlab data synth --untrimmed`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_cli
from vidlab.data import synthetic as syn
from vidlab.data.synthetic_untrimmed import GT_FILE, plan_video, video_plans, write_untrimmed_dataset
from vidlab.io import VideoReader

FPS = 8.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("untrimmed")
    res = write_untrimmed_dataset(out, videos=3, seconds=20.0, fps=FPS, seed=5, progress=False)
    return out, res


def _object_share(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per frame: the share of pixels that differ from the object-free rendering by > 40 grey levels."""
    return (np.abs(frames.astype(np.float32) - background.astype(np.float32)).mean(-1) > 40).mean((1, 2))


def test_ground_truth_is_activitynet_and_matches_the_frames(dataset):
    out, res = dataset
    gt = json.loads((out / GT_FILE).read_text())
    assert gt["version"] == "VERSION 1.3" and set(gt) == {"version", "taxonomy", "database"}
    leaves = [n["nodeName"] for n in gt["taxonomy"] if n["parentName"] == "Root"]
    assert leaves == syn.CLASSES
    db = gt["database"]
    assert list(db) == ["synth_00000", "synth_00001", "synth_00002"]
    assert [v["subset"] for v in db.values()] == ["training", "training", "validation"]
    plans = video_plans(5, 3, seconds=20.0, fps=FPS)
    total = 0
    for vid, entry in db.items():
        assert entry["duration"] == 20.0 and entry["url"] == "" and entry["annotations"]
        with VideoReader(out / "videos" / f"{vid}.mp4") as r:
            assert (r.info.num_frames, r.info.fps, r.info.width) == (160, FPS, 64)
            decoded = r.read_all()
        share = _object_share(decoded, plans[vid].read(objects=False))
        inside = np.zeros(len(decoded), bool)
        last_end = 0.0
        for a in entry["annotations"]:
            s, e = a["segment"]
            assert a["label"] in syn.CLASSES
            assert s >= last_end + 2.0 - 1 / FPS and 3.0 - 1 / FPS <= e - s <= 8.0 + 1 / FPS  # gaps, lengths
            f0, f1 = round(s * FPS), round(e * FPS)
            assert (f0, f1) == (s * FPS, e * FPS)  # on frame boundaries
            inside[f0:f1] = True
            last_end = e
        assert last_end <= 20.0 - 2.0 + 1 / FPS
        # the object shows in every annotated frame and in no other one
        assert share[inside].min() > 0.01 and share[~inside].max() < 0.001, (share[inside].min(), share[~inside].max())
        total += len(entry["annotations"])
    assert res["instances"] == total and res["counts"] == {"training": 2, "validation": 1}
    assert (out / "training.txt").read_text() == "videos/synth_00000.mp4\nvideos/synth_00001.mp4\n"
    assert (out / "validation.txt").read_text() == "videos/synth_00002.mp4\n"


def test_activitynet_loader_reads_it(dataset):
    from vidlab.data.datasets.activitynet import load

    out, res = dataset
    index = load(out)
    assert index.classes == sorted(syn.CLASSES)
    assert len(index.splits["train"]) + len(index.splits["val"]) == res["instances"]


def test_background_moves_without_actions():
    v = plan_video(11, seconds=12.0, fps=FPS)
    bg = v.read(objects=False).astype(np.float32)
    step = np.abs(bg[8:] - bg[:-8]).mean()  # 8 frames of panning (4 - 8 px)
    noise_only = np.sqrt(2) * syn.NOISE_STD * np.sqrt(2 / np.pi)  # mean |n1 - n2| of the pixel noise: 2.26
    assert step > 1.4 * noise_only, step
    # ... and the instances are the only difference between the two renderings
    full = v.read()
    differs = np.any(full != bg.astype(np.uint8), axis=(1, 2, 3))
    inside = np.zeros(v.num_frames, bool)
    for inst in v.instances:
        inside[inst.start:inst.end] = True
    assert np.array_equal(differs, inside)


def test_deterministic_from_the_seed():
    a, b = plan_video(3, seconds=15.0), plan_video(3, seconds=15.0)
    assert a == b and np.array_equal(a.read(), b.read())
    c = plan_video(4, seconds=15.0)
    assert c.instances != a.instances
    # a video does not change when the set grows
    small, large = video_plans(1, 2, seconds=15.0), video_plans(1, 5, seconds=15.0)
    assert all(small[k] == large[k] for k in small)
    with pytest.raises(ValueError, match="too short"):
        plan_video(0, seconds=5.0)


def test_cli_untrimmed(tmp_path, capsys):
    out = tmp_path / "set"
    code, stdout, err = run_cli(["data", "synth", "--untrimmed", "--out", str(out), "--videos", "2",
                                 "--seconds", "10", "--seed", "2", "--json"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    gt = json.loads((out / GT_FILE).read_text())
    assert res["annotations"] == str(out / GT_FILE) and len(gt["database"]) == 2
    assert gt["database"]["synth_00000"]["fps"] == 8.0  # the untrimmed default
    first = (out / GT_FILE).read_bytes()
    code, _, _ = run_cli(["data", "synth", "--untrimmed", "--out", str(out), "--videos", "2", "--seconds", "10",
                          "--seed", "2", "--json"], capsys)
    assert code == 0 and (out / GT_FILE).read_bytes() == first
    code, _, err = run_cli(["data", "synth", "--untrimmed", "--out", str(out), "--seconds", "4"], capsys)
    assert code == 2 and "too short for one instance" in err and len(err.strip().splitlines()) == 1
