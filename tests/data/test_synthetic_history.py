"""The long-term feature bank task: the history detection set (synthetic_detection, task="history")."""

import csv

import numpy as np
import pytest

from vidlab import models
from vidlab.data.datasets.ava import keyframe_indices
from vidlab.data.synthetic_detection import HISTORY_CLASSES, mark_frames, render_video, write_synthetic_detection
from vidlab.detect.train import train_detector
from vidlab.errors import VidlabError


def test_mark_frames_are_inside_the_first_keyframes_clip_only():
    """8 frames at stride 1 at 8 fps: keyframe 902 (frame 16) takes frames 12..19, the mark is 14..17;
    keyframe 903 takes 20..27, so from 903 on no clip shows the mark (hand-computed)."""
    assert list(mark_frames(8)) == [14, 15, 16, 17]
    first = keyframe_indices(902, fps=8, start_second=900, num_frames=8, sampling_rate=1, num_video_frames=80)
    assert list(first) == list(range(12, 20)) and set(mark_frames(8)) <= set(first)
    for second in range(903, 909):
        idx = keyframe_indices(second, fps=8, start_second=900, num_frames=8, sampling_rate=1, num_video_frames=80)
        assert not set(idx) & set(mark_frames(8)), second
    # the detectors' usual clip (8 frames at stride 4: 4 s) would still see it from 903 and 904
    wide = keyframe_indices(903, fps=8, start_second=900, num_frames=8, sampling_rate=4, num_video_frames=80)
    assert set(wide) & set(mark_frames(8))


def test_the_mark_is_the_only_difference_and_shows_the_label_colour():
    """One actor: the history rendering equals the plain one outside the mark frames; inside, the actor's
    pixels take the label's colour (red: R >> B, blue: B >> R)."""
    seen = set()
    for seed in range(6):
        plain, _ = render_video(seed, size=64, grid=2, num_frames=40, actors=(1, 1))
        marked, tracks = render_video(seed, size=64, grid=2, num_frames=40, actors=(1, 1), history_fps=8)
        label = tracks[0]["label"]
        seen.add(label)
        outside = [f for f in range(40) if f not in mark_frames(8)]
        np.testing.assert_array_equal(plain[outside], marked[outside])
        f = mark_frames(8)[1]
        x1, y1, x2, y2 = (int(v) for v in tracks[0]["boxes"][f])
        diff = np.abs(marked[f].astype(int) - plain[f].astype(int)).sum(-1) > 60
        ys, xs = np.nonzero(diff)
        assert len(ys) > 20 and x1 <= xs.mean() < x2 and y1 <= ys.mean() < y2
        rgb = marked[f][diff].astype(float).mean(0)
        assert (rgb[0] > rgb[2] + 80) if label == 0 else (rgb[2] > rgb[0] + 80), (label, rgb)
    assert seen == {0, 1}


def test_history_set_labels(tmp_path):
    """lit_* at keyframe 902, was_* of the same colour at 903..908, for the one actor of each video."""
    res = write_synthetic_detection(tmp_path, train_videos=6, val_videos=0, test_videos=2, size=64, seconds=10,
                                    fps=8, actors=(1, 1), task="history", progress=False)
    assert res["boxes"]["train"] == 6 * 7  # one actor, keyframes 902..908
    with open(tmp_path / "annotations" / "train.csv") as f:
        rows = list(csv.reader(f))
    per_video = {}
    for r in rows:
        per_video.setdefault(r[0], {})[int(r[1])] = int(r[6])
    colours = set()
    for labels in per_video.values():
        assert labels[902] in (1, 2) and {labels[t] for t in range(903, 909)} == {labels[902] + 2}
        colours.add(labels[902])
    assert colours == {1, 2}
    names = (tmp_path / "annotations" / "action_list.pbtxt").read_text()
    assert all(f'name: "{n}"\n  id: {i}' in names for i, n in enumerate(HISTORY_CLASSES, 1))
    with pytest.raises(ValueError, match="task"):
        write_synthetic_detection(tmp_path / "x", task="past", progress=False)


def test_train_detector_clip_override_is_stored(tmp_path):
    """num_frames / sampling_rate given to train_detector are what the checkpoint's preprocessing says
    (evaluation and the bank read it from there); split picks the videos; an empty split is refused."""
    data = tmp_path / "data"
    write_synthetic_detection(data, train_videos=2, val_videos=0, test_videos=1, size=64, seconds=10, fps=8,
                              actors=(1, 1), task="history", progress=False)
    res = train_detector(data, tmp_path / "run", epochs=1, batch_size=4, max_train=4, num_frames=4, sampling_rate=1,
                         split="test", progress=False, log=lambda m: None)
    meta = models.read_meta(res["checkpoint"])
    assert (meta["preprocessing"]["num_frames"], meta["preprocessing"]["sampling_rate"]) == (4, 1)
    assert meta["provenance"]["split"] == "test" and res["train_keyframes"] == 4  # 1 test video x 7 keyframes, capped
    with pytest.raises(VidlabError, match="val.csv: no keyframes"):
        train_detector(data, tmp_path / "run2", epochs=1, split="val", progress=False, log=lambda m: None)


def test_cli_detect_data_task_history(tmp_path):
    import json

    from typer.testing import CliRunner

    from vidlab.apps.cli import app

    r = CliRunner().invoke(app, ["detect", "data", "--task", "history", "--out", str(tmp_path), "--train", "2",
                                 "--val", "0", "--test", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["task"] == "history" and meta["actors"] == [1, 1] and meta["keyframes"] == list(range(902, 909))
    assert meta["classes"] == list(HISTORY_CLASSES) and meta["mark_frames"] == [14, 17]
    r = CliRunner().invoke(app, ["detect", "data", "--task", "past", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "unknown task 'past'" in r.output
