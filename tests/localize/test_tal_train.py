"""ActionFormer training and inference: Soft-NMS on hand-computed cases, the time grid, training crops,
checkpoints, a tiny end-to-end training that localizes, and `vidlab tal train|detect|eval`."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from helpers import run_cli
from vidlab.errors import DataError, VidlabError
from vidlab.localize.tal_data import FeatureGrid, GridDefaults, TALDataset, feature_grid, load_annotations, random_crop
from vidlab.localize.tal_train import PostConfig, batched_nms, evaluate, load_checkpoint, soft_nms

STEP, WINDOW = 0.5, 1.0  # seconds between features, seconds per feature window
CLASSES = ("jump", "run", "wave")


def write_feature_set(root, n_train=10, n_val=5, dim=8, seed=0, lengths=(48, 80), noise=0.3):
    """Synthetic feature sequences: Gaussian noise, plus a class's constant offset vector on each action
    segment; files as `vidlab features` writes them; ground truth in ActivityNet format."""
    rng = np.random.default_rng(seed)
    feats = root / "feats"
    feats.mkdir(parents=True, exist_ok=True)
    protos = 3.0 * np.eye(dim)[: len(CLASSES)]
    db = {}
    for i in range(n_train + n_val):
        n = int(rng.integers(*lengths))
        x = rng.normal(0, noise, (n, dim)).astype(np.float32)
        t, anns = int(rng.integers(2, 6)), []
        while True:
            length = int(rng.integers(4, 16))
            if t + length + 2 > n:
                break
            c = int(rng.integers(len(CLASSES)))
            x[t:t + length] += protos[c]
            # feature k is centred at k * STEP + WINDOW / 2; the action spans features t .. t + length - 1
            anns.append({"segment": [t * STEP + 0.25, (t + length - 1) * STEP + 0.75], "label": CLASSES[c]})
            t += length + int(rng.integers(2, 8))
        vid = f"v{i:03d}"
        np.save(feats / f"{vid}.npy", x)
        duration = (n - 1) * STEP + WINDOW
        meta = {"stem": vid, "num_features": n, "feature_dim": dim, "fps": 8.0, "duration": duration,
                "window": {"frames": 8, "seconds": WINDOW}, "stride": {"frames": 4, "seconds": STEP},
                "timestamps": [[k * STEP, k * STEP + WINDOW] for k in range(n)], "resampled": None, "preset": None}
        (feats / f"{vid}.json").write_text(json.dumps(meta))
        db[vid] = {"subset": "training" if i < n_train else "validation", "duration": duration, "fps": 8.0,
                   "annotations": anns}
    gt = root / "gt.json"
    gt.write_text(json.dumps({"version": "VERSION 1.3", "database": db}))
    return feats, gt


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread is as fast, and with libgomp's spinning two threads on a loaded
    2-core machine were 10-25x slower (2.6 s against 35-69 s for the training below)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------
# Soft-NMS


SEGS = [[0.0, 10.0], [1.0, 11.0], [20.0, 30.0]]  # IoU(0, 1) = 9/11, the third overlaps nothing
SCORES = [0.9, 0.8, 0.7]


def test_gaussian_soft_nms_hand_computed():
    keep, scores = soft_nms(SEGS, SCORES, method="gaussian", sigma=0.5)
    # pick 0 (0.9); segment 1 decays by exp(-(9/11)^2 / 0.5) to 0.2097; pick 2 (0.7), then 1
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.8 * math.exp(-(9 / 11) ** 2 / 0.5)], rtol=1e-12)
    # the decayed score falls below min_score: dropped; max_keep stops after the first picks
    assert soft_nms(SEGS, SCORES, min_score=0.25)[0].tolist() == [0, 2]
    assert soft_nms(SEGS, SCORES, max_keep=2)[0].tolist() == [0, 2]
    # decays compound: b is hit by a (IoU 0.9) then by nothing; c never overlaps
    keep, scores = soft_nms([[0, 10], [0, 9], [15, 25]], [0.9, 0.85, 0.5], sigma=0.5)
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(scores[2], 0.85 * math.exp(-0.81 / 0.5), rtol=1e-12)


def test_linear_hard_and_no_nms_hand_computed():
    keep, scores = soft_nms(SEGS, SCORES, method="linear", iou_threshold=0.1)
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.8 * (1 - 9 / 11)], rtol=1e-12)
    keep, scores = soft_nms(SEGS, SCORES, method="hard", iou_threshold=0.5)
    assert keep.tolist() == [0, 2] and scores.tolist() == [0.9, 0.7]
    # below the threshold nothing is suppressed
    assert soft_nms(SEGS, SCORES, method="hard", iou_threshold=0.9)[0].tolist() == [0, 1, 2]
    keep, scores = soft_nms(SEGS, SCORES, method="none")
    assert keep.tolist() == [0, 1, 2] and scores.tolist() == SCORES
    with pytest.raises(ValueError):
        soft_nms(SEGS, SCORES, method="soft")


def test_nms_is_per_class_then_top_k():
    segs = SEGS + SEGS
    labels = [0, 0, 0, 1, 1, 1]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    s, c, lab = batched_nms(segs, scores, labels, PostConfig(nms="hard", iou_threshold=0.5))
    # the other class's copy of segment 0 is not suppressed
    assert lab.tolist() == [0, 0, 1, 1] and c.tolist() == [0.9, 0.7, 0.6, 0.4]
    np.testing.assert_array_equal(s, [SEGS[0], SEGS[2], SEGS[0], SEGS[2]])
    s, c, lab = batched_nms(segs, scores, labels, PostConfig(nms="hard", iou_threshold=0.5, max_segments=3))
    assert c.tolist() == [0.9, 0.7, 0.6]
    assert batched_nms(np.zeros((0, 2)), [], [], PostConfig())[0].shape == (0, 2)


# ------------------------------------------------------------------------------------------------
# time grid, crops


def test_feature_grid_rules():
    # vidlab features: 16 frames every 4 at 30 fps -> feature i centred at (4 i + 8) / 30 s (ActionFormer's
    # (i * feat_stride + 0.5 * num_frames) / fps)
    meta = {"window": {"frames": 16, "seconds": 16 / 30}, "stride": {"frames": 4, "seconds": 4 / 30},
            "timestamps": [[0.0, 16 / 30], [4 / 30, 20 / 30]], "resampled": None}
    g = feature_grid(meta)
    np.testing.assert_allclose(g.to_seconds([0, 10]), [(0 * 4 + 8) / 30, (10 * 4 + 8) / 30])
    np.testing.assert_allclose(g.to_grid(g.to_seconds([3.25])), [3.25])
    # the same without a json: THUMOS'14 defaults in frames
    assert feature_grid(None, GridDefaults(fps=30, stride=4, window=16)) == FeatureGrid(8 / 30, 4 / 30)
    # fps from the ground truth's per-video fps
    assert feature_grid(None, GridDefaults(stride=4, window=16), fps=25.0) == FeatureGrid(8 / 25, 4 / 25)
    # resampled (anet-fixed): the centres of equal bins
    bins = np.arange(5) * 12.0 / 4
    g = feature_grid({"resampled": {"count": 4}, "timestamps": np.stack([bins[:-1], bins[1:]], 1).tolist()})
    assert g == FeatureGrid(1.5, 3.0)
    with pytest.raises(DataError, match="--feature-fps"):
        feature_grid(None, GridDefaults(stride=4), where="x.npy")


def test_random_crop_keeps_an_action_and_clips_segments():
    feats = np.arange(100, dtype=np.float32)[:, None]
    segs = np.array([[10.0, 30.0], [60.0, 70.0]], np.float32)
    rng = random.Random(0)
    for _ in range(20):
        f, s, lab = random_crop(feats, segs, np.array([0, 1]), 40, 0.5, 0.5, None, rng)
        assert f.shape == (40, 1) and len(lab) >= 1
        st = int(f[0, 0])
        for (a, b), y in zip(s, lab):
            full = segs[y]
            inter = min(b + st, full[1]) - max(a + st, full[0])
            assert inter >= 0.5 * (full[1] - full[0]) - 1e-5  # at least half of it inside
            assert -0.5 - 1e-5 <= a and b <= 40 + 0.5 + 1e-5  # clipped to the window widened by the offset
    # short sequences are left alone unless crop_ratio asks
    f, s, _ = random_crop(feats[:30], segs[:1], np.array([0]), 40, 0.5, 0.5, None, rng)
    assert len(f) == 30 and s.tolist() == segs[:1].tolist()
    f, _, _ = random_crop(feats[:30], segs[:1], np.array([0]), 40, 0.5, 0.5, (0.5, 0.6), rng)
    assert 15 <= len(f) <= 18


def test_dataset_matching_and_errors(tmp_path):
    feats, gt = write_feature_set(tmp_path, n_train=3, n_val=1)
    ann = load_annotations(gt)
    assert ann.classes == sorted({a["label"] for v in json.loads(gt.read_text())["database"].values()
                                  for a in v["annotations"]})
    ds = TALDataset(feats, ann, "training")
    assert [it.video_id for it in ds.items] == ["v000", "v001", "v002"] and ds.feature_dim == 8
    item = ds[0]
    assert item["feats"].shape == (ds.items[0].num_features, 8)
    # segments in grid units: (t - 0.5) / 0.5
    seg0 = json.loads(gt.read_text())["database"]["v000"]["annotations"][0]["segment"]
    np.testing.assert_allclose(item["segments"][0].numpy(), (np.array(seg0) - 0.5) / 0.5, rtol=1e-6)
    # ActivityNet's "v_" spelling of file names is matched
    (feats / "v000.npy").rename(feats / "v_v000.npy")
    (feats / "v000.json").rename(feats / "v_v000.json")
    assert len(TALDataset(feats, ann, "training")) == 3
    with pytest.raises(DataError, match="no video of subset 'test'"):
        TALDataset(feats, ann, "test")
    other = tmp_path / "other"
    other.mkdir()
    np.save(other / "x.npy", np.zeros((5, 8), np.float32))
    with pytest.raises(DataError, match="none of the 3 video"):
        TALDataset(other, ann, "training")
    np.save(feats / "v001.npy", np.zeros((5, 4), np.float32))
    with pytest.raises(DataError, match="feature dimensions differ"):
        TALDataset(feats, ann, "training")


def test_thumos_annotations_and_features_without_json(tmp_path):
    # THUMOS'14 layout: CLASS_val.txt lines "video start end"; features as ActionFormer's I3D ones (no json):
    # 16-frame windows every 4 frames at 30 fps
    ann_dir = tmp_path / "annotation"
    ann_dir.mkdir()
    (ann_dir / "BaseballPitch_val.txt").write_text("video_validation_1 2.0 4.0\nvideo_validation_2 1.0 3.5\n")
    (ann_dir / "Ambiguous_val.txt").write_text("video_validation_1 5.0 6.0\n")
    feats = tmp_path / "i3d"
    feats.mkdir()
    for vid in ("video_validation_1", "video_validation_2"):
        np.save(feats / f"{vid}.npy", np.zeros((100, 6), np.float32))
    with pytest.raises(DataError, match="--feature-fps"):
        TALDataset(feats, ann_dir, "validation")
    ds = TALDataset(feats, ann_dir, "validation", defaults=GridDefaults(fps=30, stride=4, window=16))
    assert ds.classes == ["BaseballPitch"] and len(ds) == 2
    # ActionFormer: grid = seconds * fps / feat_stride - 0.5 * num_frames / feat_stride
    np.testing.assert_allclose(ds[0]["segments"].numpy(), [[2 * 30 / 4 - 2, 4 * 30 / 4 - 2]], rtol=1e-6)
    assert ds.items[0].duration == pytest.approx((2 * 8 + 99 * 4) / 30)  # the end of the last window


# ------------------------------------------------------------------------------------------------
# end to end through the command line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import contextlib
    import io

    from vidlab.apps.cli import main

    root = tmp_path_factory.mktemp("tal")
    feats, gt = write_feature_set(root)
    out = root / "ckpt"
    argv = ["tal", "train", "--features", str(feats), "--groundtruth", str(gt), "--out", str(out), "--epochs", "12",
            "--batch-size", "2", "--lr", "3e-3", "--warmup-epochs", "1", "--crop-ratio", "none", "--embed-dim", "32",
            "--device", "cpu", "--json", "--quiet"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(argv)
        except SystemExit as e:
            code = e.code
    assert code == 0, stderr.getvalue()
    return root, feats, gt, out, json.loads(stdout.getvalue())


def test_tal_train_writes_a_checkpoint(trained):
    root, feats, gt, out, res = trained
    assert res["num_videos"] == 10 and res["epochs_done"] == 12 and res["steps"] == 12 * 5
    assert res["classes"] == sorted(CLASSES) and res["feature_dim"] == 8 and res["stopped"] is None
    assert res["final_loss"] < res["params"]  # a number, not NaN
    doc = json.loads((out / "model.json").read_text())
    assert doc["format"] == "vidlab-actionformer" and doc["classes"] == sorted(CLASSES)
    assert doc["features"]["feature_dim"] == 8 and doc["features"]["grid"] == {"offset": 0.5, "step": 0.5}
    assert doc["inference"]["nms"] == "gaussian" and doc["inference"]["sigma"] == 0.5
    assert not list(out.glob(".*tmp*"))
    model = load_checkpoint(out)
    assert model.config.embed_dim == 32 and sum(p.numel() for p in model.parameters()) == res["params"]


def test_tal_eval_localizes_the_actions(trained, capsys):
    root, feats, gt, out, _ = trained
    code, stdout, err = run_cli(["tal", "eval", "-c", str(out), "--features", str(feats), "--groundtruth", str(gt),
                                 "--predictions", str(root / "val.json"), "--json", "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["subset"] == "validation" and res["num_videos"] == 5
    assert res["mAP@0.5"] >= 0.9, res
    assert res["average_mAP_0.3:0.7"] >= 0.85
    assert res["tiou_0.5:0.95"]["tiou"][0] == 0.5 and len(res["tiou_0.3:0.7"]["mAP"]) == 5
    # the same numbers from the Python API and from `vidlab eval-tal` on the written predictions
    model = load_checkpoint(out)
    ds = TALDataset(feats, load_annotations(gt), "validation", classes=model.meta["classes"])
    api, _ = evaluate(model, ds, gt, "validation", progress=False)
    assert api["mAP@0.5"] == res["mAP@0.5"]
    code, stdout, err = run_cli(["eval-tal", "--groundtruth", str(gt), "--predictions", str(root / "val.json"),
                                 "--preset", "thumos14", "--subset", "validation", "--json"], capsys)
    assert code == 0 and json.loads(stdout)["average_mAP"] == pytest.approx(res["average_mAP_0.3:0.7"], abs=1e-12)


def test_tal_detect_writes_challenge_format_in_seconds(trained, capsys):
    root, feats, gt, out, _ = trained
    pred = root / "pred.json"
    code, stdout, err = run_cli(["tal", "detect", "-c", str(out), "--features", str(feats), "--out", str(pred),
                                 "--videos", "v010,v011", "--topk", "20", "--json", "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["num_videos"] == 2 and summary["num_detections"] == 40
    doc = json.loads(pred.read_text())
    assert set(doc) == {"version", "results", "external_data"} and list(doc["results"]) == ["v010", "v011"]
    db = json.loads(gt.read_text())["database"]
    for vid, dets in doc["results"].items():
        assert len(dets) == 20
        scores = [d["score"] for d in dets]
        assert scores == sorted(scores, reverse=True)
        for d in dets:
            assert set(d) == {"label", "score", "segment"} and d["label"] in CLASSES
            assert 0 <= d["segment"][0] <= d["segment"][1] <= db[vid]["duration"]
        # the best detection is a ground-truth instance, in seconds
        best = dets[0]
        ious = [_iou(best["segment"], a["segment"]) for a in db[vid]["annotations"] if a["label"] == best["label"]]
        assert max(ious) > 0.7


def _iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / ((a[1] - a[0]) + (b[1] - b[0]) - inter)


def test_tal_train_time_budget_shortens_the_schedule(tmp_path, capsys):
    feats, gt = write_feature_set(tmp_path, n_train=4, n_val=1)
    code, stdout, err = run_cli(["tal", "train", "--features", str(feats), "--groundtruth", str(gt), "--out",
                                 str(tmp_path / "ck"), "--epochs", "500", "--minutes", "0.01", "--embed-dim", "16",
                                 "--device", "cpu", "--json", "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["epochs_planned"] == 500 and 1 <= res["epochs_done"] < 500
    assert (tmp_path / "ck" / "model.safetensors").exists()


def test_bad_input_is_one_line(trained, tmp_path, capsys):
    root, feats, gt, out, _ = trained
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    np.save(wrong / "v010.npy", np.zeros((20, 5), np.float32))
    (wrong / "v010.json").write_text((feats / "v010.json").read_text())
    code, stdout, err = run_cli(["tal", "detect", "-c", str(out), "--features", str(wrong), "--out",
                                 str(tmp_path / "p.json")], capsys)
    assert code == 2 and not stdout
    assert err == (f"vidlab: error: {wrong}: features are 5-d, checkpoint {out} takes 8-d features "
                   "(extract them with the model it was trained on)\n")
    # features made with another stride: accepted (their own grid is used), with a note
    other = tmp_path / "other_stride"
    other.mkdir()
    np.save(other / "v010.npy", np.load(feats / "v010.npy"))
    meta = json.loads((feats / "v010.json").read_text())
    meta["stride"]["seconds"] = 0.25
    (other / "v010.json").write_text(json.dumps(meta))
    code, _, err = run_cli(["tal", "detect", "-c", str(out), "--features", str(other), "--out",
                            str(tmp_path / "p.json"), "--quiet"], capsys)
    assert code == 0 and "note: the features' stride is 0.25 s, the checkpoint was trained on 0.5 s" in err
    code, _, err = run_cli(["tal", "eval", "-c", str(out), "--features", str(wrong), "--groundtruth", str(gt),
                            "--subset", "training"], capsys)
    assert code == 2 and err.count("\n") == 1 and "none of the 10 video(s) of subset 'training'" in err
    code, _, err = run_cli(["tal", "detect", "-c", str(tmp_path), "--features", str(feats), "--out",
                            str(tmp_path / "p.json")], capsys)
    assert code == 2 and err.count("\n") == 1 and "not an ActionFormer checkpoint" in err
    code, _, err = run_cli(["tal", "detect", "-c", str(out), "--features", str(feats), "--out",
                            str(tmp_path / "p.json"), "--nms", "soft"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--nms" in err
    with pytest.raises(VidlabError, match="weights are missing"):
        (out / "model.safetensors").rename(tmp_path / "moved")
        try:
            load_checkpoint(out)
        finally:
            (tmp_path / "moved").rename(out / "model.safetensors")


def test_checkpoint_round_trip_is_exact(trained):
    _, feats, gt, out, _ = trained
    model = load_checkpoint(out)
    x = torch.randn(2, 8, 40)
    with torch.no_grad():
        a = model(x).cls_logits[0]
        b = load_checkpoint(out / "model.json")(x).cls_logits[0]
    assert torch.equal(a, b)
