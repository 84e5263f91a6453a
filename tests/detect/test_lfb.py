"""Long-term feature banks: memory-mapped round trip, window indexing by hand, FBO operators, two stages."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vidlab.detect.lfb import FeatureBank
from vidlab.errors import VidlabError
from vidlab.models.lfb import FBOAvg, FBOMax, FBONonLocal, LFBHead


@pytest.fixture
def bank(tmp_path):
    rng = np.random.default_rng(0)
    feats = {("a", 901): rng.normal(size=(2, 6)), ("a", 902): rng.normal(size=(1, 6)),
             ("a", 904): rng.normal(size=(3, 6)), ("b", 901): rng.normal(size=(1, 6))}
    with FeatureBank.create(tmp_path / "bank", 6, {"note": "test"}) as w:
        for (v, s), f in feats.items():
            w.append(v, s, f, np.tile([0.1, 0.2, 0.3, 0.4], (len(f), 1)))
    return FeatureBank.open(tmp_path / "bank"), feats


def test_round_trip_is_memory_mapped(bank):
    b, feats = bank
    assert len(b) == 7 and b.dim == 6
    assert isinstance(b.features, np.memmap)
    stacked = np.concatenate(list(feats.values())).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(b.features), stacked)
    assert (b.folder / "features.f32").stat().st_size == 7 * 6 * 4  # raw float32 rows, no header
    index = json.loads((b.folder / "index.json").read_text())
    assert index["videos"] == {"a": {"901": [0, 2], "902": [2, 1], "904": [3, 3]}, "b": {"901": [6, 1]}}
    np.testing.assert_allclose(b.boxes[5], [0.1, 0.2, 0.3, 0.4], rtol=1e-6)


def test_window_rows_by_hand(bank):
    b, feats = bank
    # rows: a/901 -> 0,1 ; a/902 -> 2 ; a/904 -> 3,4,5 ; b/901 -> 6
    assert list(b.rows("a", 904)) == [3, 4, 5] and list(b.rows("a", 903)) == []
    assert b.window_rows("a", 902, 1).tolist() == [0, 1, 2]          # 901, 902, 903 (empty)
    assert b.window_rows("a", 903, 1).tolist() == [2, 3, 4, 5]       # 902, 903, 904
    assert b.window_rows("a", 903, 2).tolist() == [0, 1, 2, 3, 4, 5]  # 901 .. 905
    assert b.window_rows("a", 904, 0).tolist() == [3, 4, 5]
    assert b.window_rows("a", 903, 1, max_per_second=1).tolist() == [2, 3]
    assert b.window_rows("b", 902, 1).tolist() == [6]
    assert b.window_rows("c", 902, 5).tolist() == []
    np.testing.assert_array_equal(b.window("a", 903, 1), np.concatenate([feats[("a", 902)], feats[("a", 904)]])
                                  .astype(np.float32))
    long, mask = b.windows([("a", 903), ("b", 901), ("c", 1)], 1)
    assert long.shape == (3, 4, 6)
    assert mask.tolist() == [[True] * 4, [True, False, False, False], [False] * 4]
    assert torch.equal(long[1, 0], torch.from_numpy(feats[("b", 901)][0].astype(np.float32)))
    assert long[1, 1:].abs().sum() == 0


def test_bank_errors(tmp_path, bank):
    b, _ = bank
    with open(b.folder / "features.f32", "r+b") as f:
        f.truncate(40)
    with pytest.raises(VidlabError, match="incomplete bank"):
        FeatureBank.open(b.folder)
    with pytest.raises(VidlabError, match="not a feature bank"):
        FeatureBank.open(tmp_path)
    w = FeatureBank.create(tmp_path / "w", 2)
    w.append("v", 5, np.zeros((1, 2)))
    with pytest.raises(VidlabError, match="increasing order"):
        w.append("v", 4, np.zeros((1, 2)))
    w.close()


def test_fbo_avg_and_max_by_hand():
    long = torch.tensor([[[1.0, 4.0], [3.0, -2.0], [100.0, 100.0]], [[5.0, 5.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    short = torch.zeros(2, 3)
    assert FBOAvg(2)(short, long, mask).tolist() == [[2.0, 1.0], [0.0, 0.0]]
    assert FBOMax(2)(short, long, mask).tolist() == [[3.0, 4.0], [0.0, 0.0]]


def test_fbo_nonlocal_ignores_masked_rows_and_handles_empty_windows():
    torch.manual_seed(0)
    nl = FBONonLocal(8, 6, dim=512, num_layers=2).eval()
    assert len(nl.layers) == 2 and nl.layers[0].theta.out_features == 512
    short, long = torch.randn(3, 8), torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    y = nl(short, long, mask)
    assert y.shape == (3, 512) and torch.isfinite(y).all()
    long2 = long.clone()
    long2[0, 2:] = 1e3  # masked rows change: output must not
    long2[2] = -7.0
    torch.testing.assert_close(nl(short, long2, mask), y)
    # unmasking those rows does change it: the mask is what hides them
    assert not torch.allclose(nl(short, long2, torch.ones_like(mask)), y)


@pytest.mark.parametrize("fbo", ["nl", "avg", "max"])
def test_lfb_head_shapes_and_registry(fbo):
    from vidlab import models

    head = models.build("lfb_head", num_classes=7, dim_short=16, dim_long=16, fbo=fbo)
    out = head(torch.randn(4, 16), torch.randn(4, 9, 16), torch.ones(4, 9, dtype=torch.bool))
    assert out.shape == (4, 7)
    assert head.projection.in_features == 16 + (512 if fbo == "nl" else 16)
    with pytest.raises(ValueError, match="unknown feature bank operator"):
        LFBHead(3, dim_short=4, fbo="sum")


def test_two_stage_workflow(tmp_path):
    from vidlab import models
    from vidlab.data.synthetic_detection import write_synthetic_detection
    from vidlab.detect.lfb import build_bank, train_lfb_head

    data = tmp_path / "data"
    res = write_synthetic_detection(data, train_videos=3, val_videos=0, test_videos=2, size=64, progress=False)
    torch.manual_seed(0)
    spec = models.get_spec("i3d_r10_tiny_detection")
    ck = models.save(models.build("i3d_r10_tiny_detection", num_classes=10), tmp_path / "base",
                     preprocessing=spec.preprocessing(), labels=list(range(10)))
    info = build_bank(ck, data, tmp_path / "bank", splits=("train", "test"), progress=False)
    assert info["rows"] == res["boxes"]["train"] + res["boxes"]["test"] and info["dim"] == 128
    bank = FeatureBank.open(tmp_path / "bank")
    # the bank row of a box equals the baseline's RoI feature computed directly
    from vidlab.data.datasets.ava import collate_detection
    from vidlab.detect.train import make_dataset
    from vidlab.models.lfb import roi_features

    model = models.load(ck)
    ds = make_dataset(data, "test", mode="test", num_frames=8, sampling_rate=4, mean=(0.5,) * 3, std=(0.25,) * 3)
    batch = collate_detection([ds[0]])
    with torch.no_grad():
        direct = roi_features(model, batch["clip"], batch["boxes"]).numpy()
    vid, sec = ds.items[0][:2]
    np.testing.assert_allclose(bank.features[list(bank.rows(vid, sec))], direct, rtol=1e-4, atol=1e-5)
    out = train_lfb_head(tmp_path / "bank", data, tmp_path / "lfb", fbo="nl", half_width=1, epochs=2,
                         progress=False)
    assert out["test_boxes"] == res["boxes"]["test"]
    # frame mAP is the mean AP over the classes that have test boxes, and re-scoring the written
    # detections with the AVA evaluator gives it again
    aps = [ap for ap in out["per_class"].values() if ap is not None]
    assert aps and out["mAP"] == pytest.approx(sum(aps) / len(aps), abs=1e-12)
    from vidlab.detect.train import dataset_config
    from vidlab.evaluation.ava import evaluate_files

    cfg = dataset_config(data)
    ann = Path(cfg["annotations"])
    again = evaluate_files(ann / "test.csv", tmp_path / "lfb" / "test_detections_nl.csv", cfg["labelmap"],
                           ann / "test_excluded_timestamps.csv")
    assert again["mAP"] == pytest.approx(out["mAP"], abs=1e-12) and again["per_class"] == out["per_class"]
    head = models.load(out["checkpoint"])
    assert head.fbo_type == "nl"
