"""`vidlab detect`: person boxes from files, tubes JSON / AVA csv / annotated video, the offline detector."""

import json

import numpy as np
import pytest
import torch

from helpers import run_cli
from vidlab import models
from vidlab.detect.boxes import link_tracks, read_boxes

run = run_cli


def one_error_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vidlab: error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    spec = models.get_spec("i3d_r10_tiny_detection")
    model = models.build("i3d_r10_tiny_detection", num_classes=3)
    return models.save(model, tmp_path_factory.mktemp("ck") / "det", labels=["run", "jump", "wave"],
                       preprocessing=spec.preprocessing())


# ----------------------------------------------------------------------------------- boxes
def test_link_tracks_and_interpolation():
    dets = {0: np.array([[0, 0, 10, 10, 0.9], [50, 50, 60, 60, 0.8]]),
            10: np.array([[52, 50, 62, 60, 0.7], [2, 0, 12, 10, 0.95]]),
            20: np.array([[4, 0, 14, 10, 0.9]])}
    tracks = link_tracks(dets, iou=0.3)
    assert [t.frames for t in tracks] == [[0, 10, 20], [0, 10]]
    assert tracks[1].scores[10] == 0.7
    np.testing.assert_allclose(tracks[0].box_at(5), [1, 0, 11, 10])  # halfway between frames 0 and 10
    assert tracks[0].box_at(21) is None and tracks[0].span() == (0, 21)


def test_ava_csv_boxes_with_person_ids(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("vid,0902,0.1,0.2,0.3,0.4,5,0\nvid,0902,0.1,0.2,0.3,0.4,7,0\nvid,0902,0.5,0.5,0.9,0.9,5,1\n"
                 "vid,0903,0.2,0.2,0.4,0.4,5,0\nother,0902,0,0,1,1,1,0\n")
    tracks = read_boxes(p, fps=10, width=100, height=50, num_frames=40, video_path=tmp_path / "vid.mp4")
    # timestamps >= 900 on a 4 s video: an AVA cut, frame = (t - 900) * fps
    assert [(t.track_id, t.frames) for t in tracks] == [(0, [20, 30]), (1, [20])]
    np.testing.assert_allclose(tracks[0].boxes[20], [10, 10, 30, 20])


def test_tube_json_boxes(real_dir):
    tube = real_dir / "ucf101_24" / "annotations" / "v_Basketball_g01_c01_tube.json"
    tracks = read_boxes(tube, fps=29.97, width=320, height=240, num_frames=141)
    assert len(tracks) == 1 and tracks[0].span() == (8, 52)
    np.testing.assert_allclose(tracks[0].boxes[8], [189, 102, 189 + 47, 102 + 78])


# ----------------------------------------------------------------------------------- the command
def test_detect_on_basketball_with_the_tube(real_dir, checkpoint, tmp_path, capsys):
    video = real_dir / "ucf101" / "videos" / "Basketball" / "v_Basketball_g01_c01.avi"
    tube = real_dir / "ucf101_24" / "annotations" / "v_Basketball_g01_c01_tube.json"
    code, out, err = run(["detect", str(video), "--checkpoint", str(checkpoint), "--person-boxes", str(tube),
                          "--out", str(tmp_path / "out"), "--json", "--quiet"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    ref = json.loads(tube.read_text())["tubes"][0]
    assert len(doc["tubes"]) == 1
    t = doc["tubes"][0]
    assert (t["sf"], t["ef"]) == (8, 52) and t["boxes"] == ref["boxes"]  # x, y, w, h on frames [sf, ef)
    assert [k["frame"] for k in t["keyframes"]] == [30]  # the one whole second inside frames 8..51
    # one keyframe: the tube's label and score are that keyframe's best class (sigmoid scores, in label order)
    kf = t["keyframes"][0]["scores"]
    assert len(kf) == 3 and all(0 < s < 1 for s in kf)
    assert t["label_name"] == ["run", "jump", "wave"][kf.index(max(kf))] and t["score"] == pytest.approx(max(kf), abs=1e-6)
    saved = json.loads((tmp_path / "out" / "tubes.json").read_text())
    assert saved["tubes"][0]["boxes"] == ref["boxes"]
    rows = (tmp_path / "out" / "detections.csv").read_text().splitlines()
    x, y, w, h = ref["boxes"][30 - 8]
    box = f"{x / 320:.4f},{y / 240:.4f},{(x + w) / 320:.4f},{(y + h) / 240:.4f}"
    assert [r.rsplit(",", 1)[0] for r in rows] == [f"v_Basketball_g01_c01,0001,{box},{c}" for c in (1, 2, 3)]
    assert [float(r.rsplit(",", 1)[1]) for r in rows] == pytest.approx(kf, abs=1e-6)  # the keyframe's scores
    from vidlab.io import probe_video

    assert probe_video(tmp_path / "out" / "annotated.mp4").num_frames == 141


def test_detect_writes_mp4_and_csv_paths(real_dir, checkpoint, tmp_path, capsys):
    video = real_dir / "ucf101" / "videos" / "Basketball" / "v_Basketball_g01_c01.avi"
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("v_Basketball_g01_c01,1,0.5,0.4,0.7,0.75,,0.99\nv_Basketball_g01_c01,2,0.55,0.4,0.75,0.75,,0.98\n")
    code, _, err = run(["detect", str(video), "-c", str(checkpoint), "--boxes", str(boxes), "--out",
                          str(tmp_path / "annotated.mp4"), "--csv", str(tmp_path / "out.csv"), "--quiet"], capsys)
    assert code == 0, err
    assert (tmp_path / "annotated.mp4").exists() and (tmp_path / "annotated.tubes.json").exists()
    doc = json.loads((tmp_path / "annotated.tubes.json").read_text())
    # two score rows without person ids: linked by IoU into one track spanning frames 30 .. 60
    assert [(t["sf"], t["ef"]) for t in doc["tubes"]] == [(30, 61)]
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 2 * 3


def test_bad_inputs_are_one_line(real_dir, checkpoint, tmp_path, capsys, monkeypatch):
    video = real_dir / "people_demo" / "people-detection.gif"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setenv("VIDLAB_HOME", str(tmp_path / "vidlab_home"))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(tmp_path / "empty_mirror"))  # offline: the hub has no copy either
    code, _, err = run(["detect", str(video), "-c", str(checkpoint), "--out", str(tmp_path / "o")], capsys)
    line = one_error_line(err)
    assert code == 2 and "weights not available offline" in line and "--detector-weights" in line
    code, _, err = run(["detect", str(video), "-c", str(checkpoint), "--detector-weights", str(tmp_path / "nope.pth"),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "person detector weights not found" in one_error_line(err)
    code, _, err = run(["detect", str(tmp_path / "missing.mp4"), "-c", str(checkpoint), "--boxes", "x.csv"], capsys)
    assert code == 2 and "video not found" in one_error_line(err)
    bad = tmp_path / "bad.json"
    bad.write_text('{"tubes": [{"sf": 0, "ef": 3, "boxes": [[1, 2, 3, 4]]}]}')
    code, _, err = run(["detect", str(video), "-c", str(checkpoint), "--boxes", str(bad), "--out",
                        str(tmp_path / "o")], capsys)
    assert code == 2 and "tube 0 has 1 boxes for frames [0, 3)" in one_error_line(err)


@pytest.fixture(scope="module")
def random_detector_weights(tmp_path_factory):
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("det") / "frcnn_random.pth"
    net = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    with torch.no_grad():  # random weights, but every proposal scores as a person
        net.roi_heads.box_predictor.cls_score.bias[1] = 20.0
    torch.save(net.state_dict(), path)
    return path


def test_person_detector_path(real_dir, checkpoint, random_detector_weights, tmp_path, capsys):
    """The Faster R-CNN path end to end (randomly initialised weights: boxes are arbitrary, the plumbing is real)."""
    from vidlab.detect.person import PersonDetector

    det = PersonDetector(random_detector_weights, score_threshold=0.9, min_size=128, max_size=256,
                         rpn_post_nms_top_n_test=20)
    frames = np.random.default_rng(0).integers(0, 255, (2, 120, 160, 3), dtype=np.uint8)
    out = det(frames)
    assert len(out) == 2 and all(o.ndim == 2 and o.shape[1] == 5 and len(o) > 0 for o in out)
    assert all((o[:, 4] >= 0.9).all() and (o[:, 2] <= 160).all() and (o[:, 3] <= 120).all() for o in out)
    video = real_dir / "people_demo" / "face-demographics-walking.gif"
    code, out, err = run(["detect", str(video), "-c", str(checkpoint), "--detector-weights",
                          str(random_detector_weights), "--detector-size", "128",
                          "--keyframe-interval", "1.5", "--out", str(tmp_path / "o"), "--no-video", "--json",
                          "--quiet"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["person_boxes"] == "detector" and doc["keyframes"] == [0, 19]
    for t in doc["tubes"]:
        assert len(t["boxes"]) == t["ef"] - t["sf"]
