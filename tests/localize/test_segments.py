"""`vidlab.localize.segments` (smoothing, thresholded runs, challenge format) on hand-computed cases, and
`vidlab classify --segments`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import run_cli
from vidlab.localize.segments import challenge_format, probs_to_segments, runs, smooth


def test_smooth_is_a_centred_truncated_moving_average():
    p = np.array([[1.0], [0.0], [0.0], [1.0], [1.0]])
    assert smooth(p, 1).tolist() == p.tolist()
    # K = 3: windows i-1..i+1, the ends averaged over the 2 windows that exist
    np.testing.assert_allclose(smooth(p, 3)[:, 0], [0.5, 1 / 3, 1 / 3, 2 / 3, 1.0])
    # K = 2: i-1..i (one more before than after)
    np.testing.assert_allclose(smooth(p, 2)[:, 0], [1.0, 0.5, 0.0, 0.5, 1.0])
    # K = 4: i-2..i+1
    np.testing.assert_allclose(smooth(p, 4)[:, 0], [0.5, 1 / 3, 0.5, 0.5, 2 / 3])
    # wider than the video: every window is the mean of all
    np.testing.assert_allclose(smooth(p, 99)[:, 0], [0.6] * 5)
    with pytest.raises(ValueError):
        smooth(p, 0)
    with pytest.raises(ValueError):
        smooth(p[:, 0], 3)


def test_runs():
    assert runs([0, 1, 1, 0, 1]) == [(1, 2), (4, 4)]
    assert runs([1, 1, 1]) == [(0, 2)]
    assert runs([0, 0]) == [] and runs([]) == []


def test_segments_hand_computed():
    # 6 windows of 2 s every 1 s; two classes
    starts = [0, 1, 2, 3, 4, 5]
    ends = [2, 3, 4, 5, 6, 7]
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8], [0.1, 0.9]])
    segs = probs_to_segments(p, starts, ends, threshold=0.5, labels=["a", "b"])
    # a: windows 0-1 (mean 0.85) and 3 (0.6); b: window 2 (0.7) and 4-5 (0.85)
    assert [(d["label"], d["segment"], d["score"]) for d in segs] == [
        ("a", [0.0, 3.0], 0.85), ("b", [2.0, 4.0], 0.7), ("a", [3.0, 5.0], 0.6), ("b", [4.0, 7.0], 0.85)]
    # smoothed over 3: a = [0.85, 2/3, 17/30, 11/30, 0.3, 0.15] -> windows 0-2, score (0.85 + 2/3 + 17/30) / 3
    segs = probs_to_segments(p, starts, ends, threshold=0.5, k=3, labels=["a", "b"])
    assert [(d["label"], d["segment"]) for d in segs] == [("a", [0.0, 4.0]), ("b", [3.0, 7.0])]
    assert segs[0]["score"] == pytest.approx((0.85 + 2 / 3 + 17 / 30) / 3, abs=1e-6)
    assert segs[1]["score"] == pytest.approx((19 / 30 + 0.7 + 0.85) / 3, abs=1e-6)
    # the threshold is strict; above every probability there is nothing
    assert probs_to_segments([[0.5, 0.5]], [0], [1], threshold=0.5) == []
    assert probs_to_segments(p, starts, ends, threshold=0.95) == []
    # a low threshold lets segments of both classes overlap; default labels are the indices
    low = probs_to_segments(p, starts, ends, threshold=0.05)
    assert [(d["label"], d["segment"]) for d in low] == [("0", [0.0, 7.0]), ("1", [0.0, 7.0])]
    with pytest.raises(ValueError, match="start"):
        probs_to_segments(p, starts[:3], ends, threshold=0.5)
    with pytest.raises(ValueError, match="threshold"):
        probs_to_segments(p, starts, ends, threshold=1.0)


def test_challenge_format():
    doc = challenge_format({"v1": [{"label": "a", "index": 0, "score": 0.5, "segment": [1, 2]}], "v2": []})
    assert set(doc) == {"version", "results", "external_data"}
    assert doc["results"] == {"v1": [{"label": "a", "score": 0.5, "segment": [1.0, 2.0]}], "v2": []}


# ------------------------------------------------------------------------------------------------
# vidlab classify --segments


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from vidlab import models
    from vidlab.io import write_video

    root = tmp_path_factory.mktemp("cls")
    torch.manual_seed(0)
    model = models.build("c2d_r10_tiny", num_classes=3)
    pre = {**models.get_spec("c2d_r10_tiny").preprocessing(), "crop_size": 16, "test_crop_size": 16}
    ckpt = models.save(model, root / "tiny", preprocessing=pre, labels=["jump", "run", "wave"])
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    video = write_video(root / "clip.mp4", frames, 8.0, crf=12)
    return root, ckpt, video


def test_classify_segments_json_and_challenge_file(classifier, capsys):
    root, ckpt, video = classifier
    out = root / "seg.json"
    code, stdout, err = run_cli(["classify", str(video), "-c", str(ckpt), "--segments", "--smooth", "2",
                                 "--threshold", "0.2", "--topk", "2", "--stride", "0.5", "--segments-out", str(out),
                                 "--json"], capsys)
    assert code == 0, err
    (res,) = json.loads(stdout)
    # the top lists keep --topk, the segments come from every class's probability
    assert len(res["top"]) == 2 and all(len(w["top"]) == 2 for w in res["windows"])
    code, stdout2, _ = run_cli(["classify", str(video), "-c", str(ckpt), "--topk", "3", "--stride", "0.5", "--json"],
                               capsys)
    (full,) = json.loads(stdout2)
    probs = np.array([[next(t["score"] for t in w["top"] if t["index"] == c) for c in range(3)]
                      for w in full["windows"]])
    want = probs_to_segments(probs, [w["start_sec"] for w in full["windows"]],
                             [w["end_sec"] for w in full["windows"]], threshold=0.2, k=2,
                             labels=["jump", "run", "wave"])
    assert res["segments"] == want and want
    doc = json.loads(out.read_text())
    assert list(doc["results"]) == ["clip"]
    assert doc["results"]["clip"] == [{"label": d["label"], "score": d["score"], "segment": d["segment"]}
                                      for d in want]
    # printed lines: one per segment under the video's line
    code, stdout, _ = run_cli(["classify", str(video), "-c", str(ckpt), "--segments", "--threshold", "0.2",
                               "--smooth", "2", "--stride", "0.5"], capsys)
    assert code == 0 and len(stdout.strip().splitlines()) == 1 + len(want)


def test_classify_segments_scored_by_eval_tal(classifier, tmp_path, capsys):
    root, ckpt, video = classifier
    out = tmp_path / "seg.json"
    code, _, err = run_cli(["classify", str(video), "-c", str(ckpt), "--segments", "--threshold", "0.2",
                            "--stride", "0.5", "--segments-out", str(out)], capsys)
    assert code == 0, err
    segs = json.loads(out.read_text())["results"]["clip"]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"clip": {"subset": "validation", "duration": 5.0, "annotations": [
        {"label": d["label"], "segment": d["segment"]} for d in segs]}}}))
    code, stdout, err = run_cli(["eval-tal", "--groundtruth", str(gt), "--predictions", str(out), "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["average_mAP"] == pytest.approx(1.0)  # scored against itself


@pytest.mark.parametrize("args, hint", [
    (["--threshold", "0.3"], "--segments"),
    (["--segments", "--threshold", "1.5"], "--threshold"),
    (["--segments", "--smooth", "0"], "--smooth"),
])
def test_classify_segments_bad_input_is_one_line(classifier, capsys, args, hint):
    root, ckpt, video = classifier
    code, stdout, err = run_cli(["classify", str(video), "-c", str(ckpt), *args], capsys)
    assert code == 2 and not stdout and err.count("\n") == 1 and err.startswith("vidlab: error:") and hint in err
