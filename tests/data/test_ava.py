"""AVA format: label maps, csv, exclusions, frame lists and keyframe clips (real AVA files + synthetic set)."""


import numpy as np
import pytest
import torch

from vidlab.data.datasets import ava
from vidlab.errors import DataError


@pytest.fixture(scope="module")
def ava_dir(real_dir):
    return real_dir / "ava" / "annotations"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from vidlab.data.synthetic_detection import write_synthetic_detection

    out = tmp_path_factory.mktemp("sdet")
    write_synthetic_detection(out, train_videos=3, val_videos=0, test_videos=2, size=64, progress=False, seed=5)
    return out


# ----------------------------------------------------------------------------------- real AVA files
def test_label_maps_agree(ava_dir):
    pbtxt = ava.read_label_map(ava_dir / "ava_action_list_v2.1_for_activitynet_2018.pbtxt")
    txt = ava.read_label_map(ava_dir / "label_map_60__mmaction2.txt")
    names = ava.read_label_map(ava_dir / "ava_80_classes__slowfast_ava.names")
    assert len(pbtxt) == 60 and len(names) == 80
    assert list(pbtxt.items())[:3] == [(1, "bend/bow (at the waist)"), (3, "crouch/kneel"), (4, "dance")]
    assert pbtxt == txt
    assert all(names[i] == n for i, n in pbtxt.items())  # the 60 are a subset of the 80, same ids
    assert 2 not in pbtxt and names[2] == "crawl"


def test_csv_groups_rows_by_keyframe_and_box(ava_dir):
    kfs = ava.read_ava_csv(ava_dir / "ava_sample__mmaction2_tests.csv")
    assert list(kfs) == [("0f39OWEqJ24", 902), ("0f39OWEqJ24", 903), ("_-Z6wFjXtGQ", 902)]
    first = kfs[("0f39OWEqJ24", 902)]
    assert first.boxes == [[0.031, 0.162, 0.67, 0.995]] and first.actions == [{12, 17, 79}]
    assert first.person_ids == [0]
    only = ava.read_ava_csv(ava_dir / "ava_sample__mmaction2_tests.csv", class_ids={12, 80})
    assert only[("_-Z6wFjXtGQ", 902)].actions == [{12, 80}]
    assert ava.read_exclusions(ava_dir / "ava_excluded_timestamps_sample__mmaction2_tests.csv") == {
        ("0f39OWEqJ24", 903), ("_-Z6wFjXtGQ", 902)}


def test_keyframe_clip_indices_by_hand():
    # AVA: second 902 of a cut starting at 900, 30 fps -> frame 60; 32 frames 2 apart: 60 + 2 * (i - 16)
    idx = ava.keyframe_indices(902)
    assert idx.tolist() == list(range(28, 92, 2))
    near_start = ava.keyframe_indices(900, num_frames=4, sampling_rate=2)
    assert near_start.tolist() == [0, 0, 0, 2]  # -4, -2, 0, 2 clamped
    assert ava.keyframe_indices(903, fps=8, num_frames=4, sampling_rate=4, num_video_frames=26).tolist() == [
        16, 20, 24, 25]


def test_dataset_on_real_annotations_with_exclusions(ava_dir, tmp_path):
    from vidlab.io import write_video

    # the real annotation rows, on stand-in videos of the two AVA ids (4 s at 8 fps from second 900)
    for vid in ("0f39OWEqJ24", "_-Z6wFjXtGQ"):
        write_video(tmp_path / f"{vid}.mp4", np.full((32, 48, 64, 3), 100, np.uint8), 8)
    lm = ava_dir / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"
    ds = ava.AvaDataset(ava_dir / "ava_sample__mmaction2_tests.csv", lm, tmp_path, mode="test", fps=8,
                        num_frames=4, sampling_rate=2, test_scale=48,
                        exclusions=ava_dir / "ava_excluded_timestamps_sample__mmaction2_tests.csv")
    assert [(v, s) for v, s, *_ in ds.items] == [("0f39OWEqJ24", 902)]
    item = ds[0]
    assert item["clip"].shape == (3, 4, 48, 64)
    # 12 (stand), 17 (carry/hold) and 79 (talk to) are all among the 60 evaluated classes
    cols = [ds.class_ids[k] for k in torch.nonzero(item["labels"][0]).flatten().tolist()]
    assert cols == [12, 17, 79]
    np.testing.assert_allclose(item["boxes"][0].numpy(), [0.031 * 64, 0.162 * 48, 0.67 * 64, min(0.995 * 48, 47)],
                               rtol=1e-5)


def test_bad_files_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("v,0902,0.1,0.1,0.5,0.5,3,0\nv,0903,0.1,0.1\n")
    with pytest.raises(DataError, match=r"bad.csv:2: expected 7 or 8 columns"):
        ava.read_ava_csv(bad)
    bad.write_text("v,0902.5,0.1,0.1,0.5,0.5,3,0\n")
    with pytest.raises(DataError, match="whole seconds"):
        ava.read_ava_csv(bad)
    bad.write_text("v,0902,0.5,0.1,0.1,0.5,3,0\n")
    with pytest.raises(DataError, match="x1 <= x2"):
        ava.read_ava_csv(bad)
    pb = tmp_path / "lm.pbtxt"
    pb.write_text('item {\n  name: "a"\n}\n')
    with pytest.raises(DataError, match="lacks a name or an id"):
        ava.read_label_map(pb)


def test_frame_list(tmp_path):
    from PIL import Image

    (tmp_path / "frames" / "vid").mkdir(parents=True)
    lines = ["original_vido_id video_idx frame_id path labels"]
    for i in range(40):
        Image.fromarray(np.full((24, 32, 3), i * 5, np.uint8)).save(tmp_path / "frames" / "vid" / f"vid_{i + 1:06d}.jpg")
        lines.append(f'vid 0 {i} frames/vid/vid_{i + 1:06d}.jpg ""')
    fl = tmp_path / "frame_list.csv"
    fl.write_text("\n".join(lines[:1] + lines[1:][::-1]) + "\n")  # any order: sorted by frame_id
    frames = ava.read_frame_list(fl)
    assert frames["vid"][3].endswith("vid_000004.jpg") and len(frames["vid"]) == 40
    gt = tmp_path / "gt.csv"
    gt.write_text("vid,0902,0.25,0.25,0.75,0.75,2,0\n")
    lm = tmp_path / "lm.txt"
    lm.write_text("1: a\n2: b\n")
    ds = ava.AvaDataset(gt, lm, fl, mode="test", fps=8, num_frames=4, sampling_rate=2, test_scale=24,
                        mean=(0, 0, 0), std=(1, 1, 1))
    item = ds[0]
    # keyframe 16: frames 12, 14, 16, 18 -> grey levels 60, 70, 80, 90 (JPEG: within a few levels)
    levels = item["clip"][0].mean((1, 2)).numpy() * 255
    np.testing.assert_allclose(levels, [60, 70, 80, 90], atol=2)
    assert item["labels"].tolist() == [[0.0, 1.0]]


# ----------------------------------------------------------------------------------- synthetic set
def test_synthetic_csv_through_the_dataset(synth):
    from vidlab.detect.train import make_dataset

    ds = make_dataset(synth, "test", mode="test", num_frames=8, sampling_rate=4, mean=(0.5,) * 3, std=(0.25,) * 3)
    gt = ava.read_ava_csv(synth / "annotations" / "test.csv")
    assert len(ds) == len(gt) == 2 * 3  # 2 videos x keyframes 902, 903, 904
    vid, sec, boxes, labels, _ = ds.items[0]
    assert (vid, sec) == ("test0000", 902)
    np.testing.assert_allclose(boxes, np.array(gt[(vid, sec)].boxes, np.float32))
    assert [ds.class_ids[int(k)] for k in labels.argmax(1)] == [min(a) for a in gt[(vid, sec)].actions]
    item = ds[0]
    assert item["clip"].shape == (3, 8, 64, 64)
    np.testing.assert_allclose(item["boxes"].numpy(), np.clip(boxes * 64, 0, 63), rtol=1e-5)


def test_proposals_above_score_get_matched_labels(synth):
    ann = synth / "annotations"
    lm = ava.read_label_map(ann / "action_list.pbtxt")
    ds = ava.AvaDataset(ann / "train.csv", lm, synth / "videos", mode="train", fps=8, seconds=None,
                        proposals=ann / "train_predicted_boxes.csv", proposal_score=0.5, match_iou=0.5,
                        num_frames=4, sampling_rate=2, train_scale=(64, 64), crop_size=64, flip=False)
    det = ava.read_ava_csv(ann / "train_predicted_boxes.csv", min_score=0.5)
    gt = ava.read_ava_csv(ann / "train.csv")
    for vid, sec, boxes, labels, scores in ds.items:
        n_gt, n_det = len(gt[(vid, sec)].boxes), len(det.get((vid, sec), ava.KeyframeBoxes()).boxes)
        assert len(boxes) == n_gt + n_det
        assert (scores[:n_gt] == 1).all() and (scores[n_gt:] >= 0.5).all()
        # jittered copies of true boxes (IoU >= 0.5 by construction up to 5% jitter) carry their labels;
        # false alarms (scores < 0.6, small random boxes) mostly match nothing
        for k in range(n_gt, len(boxes)):
            iou = ava._iou(boxes[k:k + 1], boxes[:n_gt])[0]
            if iou.max() >= 0.5:
                np.testing.assert_array_equal(labels[k], labels[int(iou.argmax())])
            else:
                assert labels[k].sum() == 0


def test_box_jitter_is_bounded(synth):
    ann = synth / "annotations"
    kw = {"mode": "train", "fps": 8, "seconds": None, "num_frames": 2, "sampling_rate": 2, "train_scale": (64, 64), "crop_size": 64,
              "flip": False}
    plain = ava.AvaDataset(ann / "train.csv", ann / "action_list.pbtxt", synth / "videos", **kw)
    jit = ava.AvaDataset(ann / "train.csv", ann / "action_list.pbtxt", synth / "videos", box_jitter=0.1, **kw)
    a, b = plain[0]["boxes"], jit[0]["boxes"]
    wh = (a[:, 2:] - a[:, :2]).repeat(1, 2)
    assert not torch.equal(a, b)
    assert ((b - a).abs() <= 0.1 * wh + 1e-4).all()


def test_registry_view(ava_dir, synth):
    idx = ava.load(ava_dir / "ava_sample__mmaction2_tests.csv")
    assert idx.num_classes == 60 and idx.multi_label
    recs = {r.video_id: r for r in idx.splits["train"]}
    assert set(recs) == {"0f39OWEqJ24", "_-Z6wFjXtGQ"}
    pos = [idx.classes.index(n) for n in ("stand", "carry/hold (an object)", "talk to (e.g., self, a person, a group)")]
    assert recs["0f39OWEqJ24"].label == tuple(sorted(pos)) and recs["0f39OWEqJ24"].start == 902.0
    s = ava.load(synth / "annotations")
    assert s.summary()["train"] == 3 and s.summary()["test"] == 2 and s.num_classes == 10


def test_collate_pads_clips_of_other_sizes():
    a = {"clip": torch.ones(3, 2, 4, 6), "boxes": torch.tensor([[0.0, 0, 2, 2]]), "labels": torch.ones(1, 2),
         "scores": torch.ones(1), "video_id": "a", "second": 1, "size": (4, 6)}
    b = {"clip": torch.ones(3, 2, 6, 4), "boxes": torch.tensor([[1.0, 1, 3, 3], [0, 0, 1, 1]]),
         "labels": torch.zeros(2, 2), "scores": torch.ones(2), "video_id": "b", "second": 2, "size": (6, 4)}
    batch = ava.collate_detection([a, b])
    assert batch["clip"].shape == (2, 3, 2, 6, 6)
    assert batch["clip"][0, :, :, 4:].abs().sum() == 0 and batch["clip"][1, :, :, :, 4:].abs().sum() == 0
    assert batch["boxes"][:, 0].tolist() == [0, 1, 1] and batch["keys"] == [("a", 1), ("b", 2), ("b", 2)]
