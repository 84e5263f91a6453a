import pytest
import torch

from vidlab import models
from vidlab.engine.inference import classify_video, window_starts


def test_window_starts_cover_the_video():
    assert window_starts(100, 32, 32) == [0.0, 32.0, 64.0, 68.0]
    assert window_starts(64, 32, 32) == [0.0, 32.0]
    assert window_starts(20, 32, 32) == [0.0]  # shorter than one window: one clamped window
    assert window_starts(100, 32, 16)[:3] == [0.0, 16.0, 32.0]


def test_classify_resamples_to_the_checkpoint_fps(real_dir, tmp_path):
    torch.manual_seed(0)
    m = models.build("c2d_r10_tiny", num_classes=2)
    pre = {**models.get_spec("c2d_r10_tiny").preprocessing(), "target_fps": 10.0}
    models.save(m, tmp_path / "ck", labels=["a", "b"], preprocessing=pre)
    model = models.load(tmp_path / "ck")
    # KTH: 522 frames at 25 fps; a window of 8 x 4 frames at 10 fps spans 3.2 s = 80 source frames
    res = classify_video(model, str(real_dir / "kth/boxing/person02_boxing_d4_uncomp.avi"), topk=1)
    w = res["windows"]
    assert len(w) == 7  # starts 0, 80, ..., 400 and 442 (end-aligned)
    assert w[1]["start_sec"] == pytest.approx(3.2) and w[-1]["end_sec"] == pytest.approx(522 / 25)
    assert res["top"][0]["label"] in ("a", "b")
