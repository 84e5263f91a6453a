"""Training the CPU detector on the synthetic detection set (frame mAP@0.5 with ground-truth boxes)."""

import pytest
import torch

from vidlab import models
from vidlab.data.synthetic_detection import write_synthetic_detection
from vidlab.detect.train import evaluate_detector, train_detector


def _untrained_map(data, tmp_path, split):
    torch.manual_seed(0)
    spec = models.get_spec("i3d_r10_tiny_detection")
    ck = models.save(models.build("i3d_r10_tiny_detection", num_classes=10), tmp_path / "init",
                     preprocessing=spec.preprocessing())
    return evaluate_detector(ck, data, tmp_path / "init_eval", split=split, progress=False)["mAP"]


def test_learns_above_chance_reduced(tmp_path):
    """Reduced size (64x64, 2 classes: move_left / move_down, 8 training videos, 4 epochs, ~15 CPU-seconds):
    the detector fits its training keyframes far above the untrained model's (chance) frame mAP."""
    data = tmp_path / "data"
    write_synthetic_detection(data, train_videos=8, val_videos=0, test_videos=2, size=64, classes=(0, 3),
                              actors=(2, 3), progress=False, seed=1)
    res = train_detector(data, tmp_path / "run", epochs=4, batch_size=4, progress=False, seed=0, log=lambda m: None)
    losses = [h["loss"] for h in res["history"]]
    assert losses[-1] < 0.5 * losses[0]
    ev = evaluate_detector(res["checkpoint"], data, tmp_path / "run", split="train", progress=False)
    chance = _untrained_map(data, tmp_path, "train")
    assert ev["boxes"] == "groundtruth"
    assert {k for k, v in ev["per_class"].items() if v is not None} == {"1", "4"}
    assert ev["mAP"] >= 0.8 and ev["mAP"] >= chance + 0.2, (ev["mAP"], chance)
    meta = models.read_meta(res["checkpoint"])
    assert meta["arch"] == "i3d_r10_tiny_detection" and meta["labels"][0] == "move_left"


@pytest.mark.slow
def test_full_target_map_at_least_0_8(tmp_path):
    """The acceptance run: default set (160 training videos, 96x96, 10 classes), at most 10 minutes of CPU
    training + evaluation, ground-truth boxes at test time; frame mAP@0.5 >= 0.8."""
    data = tmp_path / "data"
    write_synthetic_detection(data, progress=False)
    res = train_detector(data, tmp_path / "run", epochs=36, minutes=9.0, progress=False, log=lambda m: None)
    ev = evaluate_detector(res["checkpoint"], data, tmp_path / "run", progress=False)
    assert ev["mAP"] >= 0.8, (ev["mAP"], res["epochs"])
