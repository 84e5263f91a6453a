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


KTH = "kth/boxing/person02_boxing_d4_uncomp.avi"  # 522 frames at 25 fps


def _checkpoint(tmp_path, multi_label: bool | None):
    """A 5-class ``c2d_r10_tiny`` (head scaled up so the scores spread) saved with or without the flag."""
    torch.manual_seed(3)
    m = models.build("c2d_r10_tiny", num_classes=5)
    with torch.no_grad():
        m.head.projection.weight.mul_(30.0)
    pre = {**models.get_spec("c2d_r10_tiny").preprocessing(), "target_fps": 10.0}
    if multi_label is not None:
        pre["multi_label"] = multi_label
    name = f"ck_{multi_label}"
    models.save(m, tmp_path / name, labels=list("abcde"), preprocessing=pre)
    return models.load(tmp_path / name)


def _classify_with_logits(model, path):
    """``classify_video`` (all 5 classes) and the logits the model gave for each window."""
    seen = []
    hook = model.register_forward_hook(lambda mod, args, out: seen.append(out.detach().float()))
    try:
        res = classify_video(model, path, topk=5)
    finally:
        hook.remove()
    return res, torch.cat(seen)


def _scores(top):
    return torch.tensor([s for _, s in sorted((t["index"], t["score"]) for t in top)], dtype=torch.float64)


def test_is_multi_label_reads_exactly_the_sidecar_flag():
    assert models.is_multi_label({"preprocessing": {"multi_label": True}})
    for meta in (
        None,
        {},
        {"preprocessing": None},
        {"preprocessing": {}},
        {"preprocessing": {"multi_label": False}},
        {"preprocessing": {"multi_label": "true"}},
        {"preprocessing": {"multi_label": 1}},
        {"multi_label": True},
    ):
        assert not models.is_multi_label(meta), meta


def test_a_multi_label_checkpoint_scores_with_sigmoids_and_the_max_over_windows(real_dir, tmp_path):
    model = _checkpoint(tmp_path, True)
    res, logits = _classify_with_logits(model, str(real_dir / KTH))
    assert res["activation"] == "sigmoid" and res["aggregation"] == "max"
    assert logits.shape == (7, 5) == (len(res["windows"]), 5)  # one centre-crop view per window
    sig = logits.double().sigmoid()
    for w, s in zip(res["windows"], sig):
        torch.testing.assert_close(_scores(w["top"]), s, rtol=0, atol=1e-6)
        assert [t["index"] for t in w["top"]] == s.argsort(descending=True).tolist()  # top-k by sigmoid
    assert abs(float(sig[0].sum()) - 1.0) > 0.1  # independent classes: not a distribution
    # the video: the max of the windows' sigmoids (PySlowFast's Charades rule), not their mean
    video = _scores(res["top"])
    torch.testing.assert_close(video, sig.amax(0), rtol=0, atol=1e-6)
    assert float((sig.amax(0) - sig.mean(0)).abs().max()) > 1e-3
    assert [t["index"] for t in res["top"]] == sig.amax(0).argsort(descending=True).tolist()


@pytest.mark.parametrize("flag", [None, False])
def test_a_single_label_checkpoint_still_scores_with_softmax(real_dir, tmp_path, flag):
    model = _checkpoint(tmp_path, flag)
    res, logits = _classify_with_logits(model, str(real_dir / KTH))
    assert res["activation"] == "softmax" and res["aggregation"] == "mean"
    soft = logits.double().softmax(-1)
    for w, s in zip(res["windows"], soft):
        torch.testing.assert_close(_scores(w["top"]), s, rtol=0, atol=1e-6)
        assert sum(t["score"] for t in w["top"]) == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(_scores(res["top"]), soft.mean(0), rtol=0, atol=1e-6)
