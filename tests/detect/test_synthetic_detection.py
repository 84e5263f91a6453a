"""The synthetic multi-actor detection set: box tracks follow the motion, partners reverse, AVA files are valid."""

import numpy as np

from vidlab.data.synthetic_detection import render_video, write_synthetic_detection
from vidlab.evaluation.ava import evaluate_files, read_csv, read_labelmap


def test_render_is_deterministic_with_tight_tracks():
    a, ta = render_video(7, size=64, num_frames=16)
    b, _ = render_video(7, size=64, num_frames=16)
    assert np.array_equal(a, b) and a.shape == (16, 64, 64, 3)
    assert 2 <= len(ta) <= 4
    for t in ta:
        assert t["boxes"].shape == (16, 4)
        x1, y1, x2, y2 = t["boxes"].T
        assert (x1 < x2).all() and (y1 < y2).all() and (x1 >= 0).all() and (x2 <= 64).all()


def test_tracks_follow_the_motion_and_partners_reverse():
    _, left = render_video(3, size=96, num_frames=32, actors=(1, 1), classes=(0,))   # move_left
    _, right = render_video(3, size=96, num_frames=32, actors=(1, 1), classes=(1,))  # its time reversal
    bl, br = left[0]["boxes"], right[0]["boxes"]
    cx = (bl[:, 0] + bl[:, 2]) / 2
    assert cx[-1] < cx[0] - 5  # moves left by several pixels
    np.testing.assert_array_equal(br, bl[::-1])
    _, grow = render_video(4, size=96, num_frames=32, actors=(1, 1), classes=(6,))
    area = np.prod(grow[0]["boxes"][:, 2:] - grow[0]["boxes"][:, :2], axis=1)
    assert area[-1] > 1.5 * area[0]


def test_written_set_is_valid_ava(tmp_path):
    res = write_synthetic_detection(tmp_path, train_videos=2, val_videos=1, test_videos=2, size=64, progress=False)
    ann = tmp_path / "annotations"
    labelmap, ids = read_labelmap(ann / "action_list.pbtxt")
    assert ids == set(range(1, 11)) and labelmap[0]["name"] == "move_left"
    gt = read_csv(ann / "test.csv", ids, load_score=False)
    assert sorted({k.split(",")[1] for k in gt.boxes}) == ["0902", "0903", "0904"]
    assert sum(len(v) for v in gt.boxes.values()) == res["boxes"]["test"]
    # ground truth scored as detections: perfect mAP
    det = tmp_path / "det.csv"
    det.write_text("".join(",".join(r.split(",")[:7]) + ",1.0\n" for r in (ann / "test.csv").read_text().splitlines()))
    assert evaluate_files(ann / "test.csv", det, ann / "action_list.pbtxt")["mAP"] == 1.0
    for split in ("train", "val", "test"):
        assert (tmp_path / "videos" / f"{split}0000.mp4").exists()
