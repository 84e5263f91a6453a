"""Mixup / CutMix for video batches (vidlab.data.mix), PySlowFast MIXUP semantics."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidlab.data.mix import VideoMix, cutmix_box, mix_batch, soft_cross_entropy, soft_targets

C = 5


def _batch(b=4, t=3, h=16, w=12):
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, t, h, w, generator=g), torch.tensor([0, 3, 1, 4][:b])


def test_soft_targets_and_loss_match_label_smoothed_cross_entropy():
    y = torch.tensor([0, 3, 1])
    t = soft_targets(y, C, 0.1)
    torch.testing.assert_close(t.sum(1), torch.ones(3))
    assert t[0, 0] == pytest.approx(0.9 + 0.02) and t[0, 1] == pytest.approx(0.02)
    logits = torch.randn(3, C, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(soft_cross_entropy(logits, t), F.cross_entropy(logits, y, label_smoothing=0.1))


def test_mixup_blends_each_clip_with_the_reversed_batch():
    x, y = _batch()
    mix = VideoMix(C, mixup_alpha=0.8, label_smoothing=0.1)
    out, t = mix(x, y, np.random.default_rng(3))
    d = mix.draw(16, 12, np.random.default_rng(3))  # the same draw, from the same generator
    assert d.box is None and 0 < d.lam < 1
    torch.testing.assert_close(out, d.lam * x + (1 - d.lam) * x.flip(0))
    s = soft_targets(y, C, 0.1)
    torch.testing.assert_close(t, d.lam * s + (1 - d.lam) * s.flip(0))
    torch.testing.assert_close(t.sum(1), torch.ones(4))
    assert not torch.equal(x, out) and torch.equal(x, _batch()[0])  # the input is left alone


def test_cutmix_box_is_the_same_on_every_frame_and_sets_lam():
    x, y = _batch(t=4)
    mix = VideoMix(C, cutmix_alpha=1.0)
    boxes = 0
    for seed in range(6):
        out, t = mix(x, y, np.random.default_rng(seed))
        d = mix.draw(16, 12, np.random.default_rng(seed))
        changed = out != x  # (B, C, T, H, W)
        pasted = (out == x.flip(0)).all(dim=(0, 1, 2))  # (H, W) taken from the reversed batch on all frames
        if d.lam == 1.0:
            assert torch.equal(out, x)
            continue
        y0, y1, x0, x1 = d.box
        boxes += 1
        box = torch.zeros(16, 12, dtype=torch.bool)
        box[y0:y1, x0:x1] = True
        # inside the box every frame of every clip comes from clip B-1-i; outside nothing changes
        assert pasted[box].all() and not changed[..., ~box].any()
        assert changed.any(dim=(0, 1))[:, box].all()  # on every frame
        assert d.lam == pytest.approx(1 - box.sum().item() / (16 * 12))
        torch.testing.assert_close(t.sum(1), torch.ones(4))
        torch.testing.assert_close(t[0, y[0]] + t[0, y[-1]], torch.tensor(1.0))
        assert t[0, y[0]] == pytest.approx(d.lam)
    assert boxes >= 4


def test_cutmix_box_size_and_clipping_by_hand():
    for seed in range(8):
        r = np.random.default_rng(seed)
        cy, cx = int(r.integers(0, 20)), int(r.integers(0, 40))  # the centre the box will draw
        (y0, y1, x0, x1), lam = cutmix_box(20, 40, 0.75, np.random.default_rng(seed))  # sqrt(1 - lam) = 0.5: a 10 x 20 box
        assert (y0, y1, x0, x1) == (max(cy - 5, 0), min(cy + 5, 20), max(cx - 10, 0), min(cx + 10, 40))
        assert lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 800)


def test_switch_and_mix_probabilities():
    both = VideoMix(C, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=1.0)
    assert all(both.draw(8, 8, np.random.default_rng(s)).box is not None
               for s in range(10) if both.draw(8, 8, np.random.default_rng(s)).lam != 1.0)
    mixup_only = VideoMix(C, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.0)
    assert all(mixup_only.draw(8, 8, np.random.default_rng(s)).box is None for s in range(10))
    kinds = {VideoMix(C, mixup_alpha=0.8, cutmix_alpha=1.0).draw(8, 8, np.random.default_rng(s)).box is None
             for s in range(20)}
    assert kinds == {True, False}
    x, y = _batch()
    out, t = VideoMix(C, mixup_alpha=0.8, mix_prob=0.0, label_smoothing=0.1)(x, y, np.random.default_rng(0))
    assert out is x
    torch.testing.assert_close(t, soft_targets(y, C, 0.1))


def test_mixing_is_deterministic_given_the_generator_and_mixes_every_input_alike():
    x, y = _batch()
    mix = VideoMix(C, mixup_alpha=0.8, cutmix_alpha=1.0)
    a = mix(x, y, np.random.default_rng(11))
    b = mix(x, y, np.random.default_rng(11))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    outs = [mix(x, y, np.random.default_rng(s))[0] for s in range(5)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
    # two-input models: the same lam and box on both
    flow = torch.rand(4, 2, 3, 16, 12)
    for seed in range(4):
        (rgb_m, flow_m), t = mix([x, flow], y, np.random.default_rng(seed))
        d = mix.draw(16, 12, np.random.default_rng(seed))
        torch.testing.assert_close(rgb_m, mix_batch(x, d))
        torch.testing.assert_close(flow_m, mix_batch(flow, d))
    with pytest.raises(ValueError, match="frame size"):
        mix([x, flow[..., :8]], y, np.random.default_rng(0))


def test_trainer_mixes_only_when_asked(tiny_synth, tmp_path):
    from vidlab.engine.config import from_dict
    from vidlab.engine.trainer import Trainer

    def cfg(**data):
        return from_dict({
            "model": {"arch": "c2d_r10_tiny", "kwargs": {"width": 8}},
            "data": {"train": str(tiny_synth / "train.csv"), "labels": str(tiny_synth / "classes.txt"),
                     "num_frames": 4, "sampling_rate": 2, "crop_size": 28, "train_scale": [32, 36], "batch_size": 4,
                     **data},
            "solver": {"lr": 0.05, "epochs": 1, "label_smoothing": 0.1},
            "train": {"out_dir": str(tmp_path), "seed": 1, "progress": False, "tensorboard": False},
        })

    assert Trainer(cfg(), log=lambda m: None).mix is None  # defaults: the plain cross-entropy path
    t = Trainer(cfg(mixup_alpha=0.8, cutmix_alpha=1.0), log=lambda m: None)
    assert t.mix == VideoMix(10, mixup_alpha=0.8, cutmix_alpha=1.0, mix_prob=1.0, switch_prob=0.5,
                             label_smoothing=0.1)
    ds = t.dataset("train")
    clips, labels, _ = next(iter(t._train_loader(ds, 0, 0)))
    t.model.eval()  # no BN statistics updates, so the loss below sees the same weights
    with torch.no_grad():
        mixed, targets = t.mix(clips, labels, np.random.default_rng([1, 0x6D6978, 0, 0, 0]))
        expected = float(soft_cross_entropy(t.model(mixed).float(), targets))
    t.optimizer.param_groups[0]["lr"] = t.optimizer.param_groups[1]["lr"] = 0.0
    t.net = t.model  # (eval mode kept: the same numbers as above)
    loss, _ = t._step(clips, labels, 0, 0)
    assert loss == pytest.approx(expected, rel=1e-5)
