"""ActionFormer: equal to the official code on fixed weights, exact under padding, local attention,
the label-assignment rules on hand-computed cases, the losses and the decoding."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vidlab.localize.actionformer import (
    MAX_RANGE,
    ActionFormer,
    ActionFormerConfig,
    ActionFormerOutput,
    LocalSelfAttention,
    assign_targets,
    candidates,
    detection_losses,
    diou_loss_1d,
    level_points,
    local_attention,
    local_attention_reference,
    sigmoid_focal_loss,
)

GOLDEN = Path(__file__).parent / "data" / "actionformer_golden.npz"
# scripts/make_actionformer_golden.py: the THUMOS'14 configuration made small
GOLDEN_CONFIG = dict(input_dim=8, num_classes=4, embed_dim=16, head_dim=16, window=9)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread is as fast and does not spin against other processes on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _perturbed(model: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> torch.nn.Module:
    """Random non-trivial weights: every parameter (LayerNorm biases and gains, the prior bias...) moved."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
        if hasattr(model, "reg_scale"):
            model.reg_scale.abs_()
    return model.eval()


def test_thumos_model_has_the_official_parameter_count():
    # 29,251,612: the official LocPointTransformer built from actionformer_release configs/thumos_i3d.yaml
    # (input 2048, 20 classes), counted with sum(p.numel())
    with torch.device("meta"):
        model = ActionFormer(ActionFormerConfig.thumos(input_dim=2048, num_classes=20))
    assert sum(p.numel() for p in model.parameters()) == 29_251_612
    cfg = model.config
    assert cfg.ranges == [(0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, MAX_RANGE)]
    assert (cfg.levels, cfg.window, cfg.stem_blocks, cfg.embed_dim, cfg.divisor) == (6, 19, 2, 512, 32)


def test_small_default_config():
    cfg = ActionFormerConfig(input_dim=2304, num_classes=10)
    assert (cfg.embed_dim, cfg.levels, cfg.stem_blocks, cfg.window) == (128, 3, 1, 9)
    assert cfg.ranges == [(0, 4), (4, 8), (8, MAX_RANGE)]
    with torch.device("meta"):
        model = ActionFormer(cfg)
    # embed 2304*128*3 + 128*128*3 + 2 norms 512; 3 blocks x 200,192 (norms 512, depthwise q/k/v 1,152 + norms
    # 768, q/k/v/out 1x1 66,048, MLP 131,712); neck 768; heads 2 x (2 x 49,152 + 512) + outputs 3,850 + 770; 3 scales
    assert sum(p.numel() for p in model.parameters()) == 933_888 + 512 + 3 * 200_192 + 768 + 2 * 98_816 + 4_620 + 3
    assert ActionFormerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="odd"):
        ActionFormerConfig(input_dim=8, num_classes=2, window=8)
    with pytest.raises(ValueError, match="divisible"):
        ActionFormerConfig(input_dim=8, num_classes=2, embed_dim=30, num_heads=4)


def test_equals_the_official_model_and_label_assignment(weight_rule):
    golden = np.load(GOLDEN)
    model = ActionFormer(ActionFormerConfig.thumos(**GOLDEN_CONFIG)).eval()
    state = {k: weight_rule(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    state["reg_scale"] = state["reg_scale"].abs()
    model.load_state_dict(state)
    with torch.no_grad():
        out = model(torch.from_numpy(golden["input"]))
    for lvl in range(6):
        ref_cls, ref_off = golden[f"cls{lvl}"], golden[f"off{lvl}"]
        np.testing.assert_allclose(out.cls_logits[lvl][0].numpy(), ref_cls, atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.offsets[lvl][0].numpy(), ref_off, atol=1e-5, rtol=0)
        assert np.abs(ref_off).max() > 0.05  # no level is trivially zero

    points = level_points([c.shape[1] for c in out.cls_logits], model.config.ranges)
    np.testing.assert_array_equal(points.numpy(), golden["points"])
    cls, reg = assign_targets(points, torch.from_numpy(golden["segments"]), torch.from_numpy(golden["labels"]), 4)
    np.testing.assert_array_equal(cls.numpy(), golden["target_cls"])
    pos = golden["target_cls"].sum(1) > 0
    assert pos.sum() == 15 and (golden["target_cls"].sum(1) == 2).any()  # incl. a two-class point (near tie)
    np.testing.assert_allclose(reg.numpy()[pos], golden["target_reg"][pos], atol=1e-6)


@pytest.mark.parametrize("config", [
    dict(input_dim=6, num_classes=3, embed_dim=16, levels=3, window=5),
    dict(input_dim=6, num_classes=3, embed_dim=16, levels=4, window=3, stem_blocks=2, drop_path=0.1,
         layer_scale=0.5),
    dict(input_dim=6, num_classes=3, embed_dim=16, levels=2, window=0),  # global attention
])
def test_padding_does_not_change_the_valid_outputs(config):
    torch.manual_seed(0)
    model = _perturbed(ActionFormer(**config))
    lengths = [37, 50, 9]
    x = torch.randn(3, 6, 64) * 2
    mask = torch.arange(64)[None] < torch.tensor(lengths)[:, None]
    x = x.masked_fill(~mask[:, None], 7.0)  # garbage in the padding must not leak
    with torch.no_grad():
        batch = model(x, mask)
        for b, n in enumerate(lengths):
            alone = model(x[b:b + 1, :, :n])
            for lvl in range(model.config.levels):
                k = math.ceil(n / 2**lvl)
                assert int(batch.masks[lvl][b].sum()) == int(alone.masks[lvl][0].sum()) == k
                torch.testing.assert_close(batch.cls_logits[lvl][b, :k], alone.cls_logits[lvl][0, :k], atol=1e-5,
                                           rtol=0)
                torch.testing.assert_close(batch.offsets[lvl][b, :k], alone.offsets[lvl][0, :k], atol=1e-5, rtol=0)
                # outputs are zero at padded steps
                assert not batch.cls_logits[lvl][b, k:].any() and not batch.offsets[lvl][b, k:].any()
    # lengths that are not a multiple of the coarsest stride are padded inside forward
    assert [c.shape[1] for c in alone.cls_logits][0] % model.config.divisor == 0


@pytest.mark.parametrize("T,radius,chunk", [(100, 4, None), (33, 9, None), (64, 3, 5), (10, 2, 4), (50, 30, None)])
def test_chunked_local_attention_equals_the_dense_band(T, radius, chunk):
    g = torch.Generator().manual_seed(T + radius)
    q, k, v = torch.randn(3, 2, 3, T, 8, generator=g).unbind(0)
    key_mask = torch.rand(2, T, generator=g) > 0.3
    key_mask[1, T // 2:] = False  # queries whose whole band is padding still get finite values
    out = local_attention(q, k, v, key_mask, radius, chunk=chunk)
    ref = local_attention_reference(q, k, v, key_mask, radius)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    # the reference is the plain softmax over the allowed keys
    i = torch.arange(T)
    allowed = (key_mask[:, None, None, :] | (i[:, None] == i[None, :])) & ((i[:, None] - i[None, :]).abs() <= radius)
    logits = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(~allowed, float("-inf"))
    torch.testing.assert_close(ref, logits.softmax(-1) @ v, atol=1e-5, rtol=0)


def test_attention_is_local():
    torch.manual_seed(0)
    attn = _perturbed(LocalSelfAttention(16, 4, window=9))
    x = torch.randn(1, 16, 80)
    mask = torch.ones(1, 80, dtype=torch.bool)
    y = x.clone()
    y[0, :, 40] += 5.0
    with torch.no_grad():
        diff = (attn(x, mask)[0] - attn(y, mask)[0]).abs().amax(1)[0]
    # the window reaches 4 steps; the kernel-3 query/key/value convolutions one more
    changed = torch.nonzero(diff > 1e-6).squeeze(1)
    assert changed.min() >= 40 - 5 and changed.max() <= 40 + 5
    assert (diff[36:45] > 1e-4).all()


def _points():
    # two levels: t = 0..9 (stride 1, range [0, 4]) and t = 0, 2, .., 8 (stride 2, range [4, 10000])
    return level_points([10, 5], [(0.0, 4.0), (4.0, MAX_RANGE)])


def test_center_sampling_and_regression_ranges_hand_computed():
    pts = _points()
    # A [2, 5]: centre 3.5; level 0 window [max(2, 2), min(5, 5)] -> t = 3, 4 (max distance 2 <= 4);
    # level 1 window [2, 5] -> t = 4, but its max distance 2 is below the range [4, ..]
    cls, reg = assign_targets(pts, torch.tensor([[2.0, 5.0]]), torch.tensor([0]), 2)
    pos = torch.nonzero(cls.sum(1)).squeeze(1).tolist()
    assert pos == [3, 4]
    torch.testing.assert_close(reg[[3, 4]], torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    # B [0, 12]: centre 6; level 0 window [4.5, 7.5] -> t = 5, 6, 7 all reach > 4: none; level 1 window
    # [3, 9] -> t = 4, 6, 8 (max distances 8, 6, 8 in [4, ..]); targets divided by the stride 2
    cls, reg = assign_targets(pts, torch.tensor([[0.0, 12.0]]), torch.tensor([1]), 2)
    pos = torch.nonzero(cls.sum(1)).squeeze(1).tolist()
    assert pos == [12, 13, 14] and cls[pos, 1].tolist() == [1.0, 1.0, 1.0] and not cls[:, 0].any()
    torch.testing.assert_close(reg[pos], torch.tensor([[2.0, 4.0], [3.0, 3.0], [4.0, 2.0]]))
    # without center sampling every level-1 point strictly inside qualifies: t = 2, 4, 6, 8
    cls, _ = assign_targets(pts, torch.tensor([[0.0, 12.0]]), torch.tensor([1]), 2, center_radius=0)
    assert torch.nonzero(cls.sum(1)).squeeze(1).tolist() == [11, 12, 13, 14]
    # no segment: all negative
    cls, reg = assign_targets(pts, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 2)
    assert not cls.any() and reg.shape == (15, 2)


def test_overlapping_segments_shortest_wins_and_near_ties_share_the_point():
    pts = _points()
    # at t = 4 (level 0): A [2, 5] (length 3), C [3, 5.0005] (2.0005), D [3, 5] (2): D is the shortest,
    # C is within 1e-3 of it and adds its class; the regression target is D's
    segs = torch.tensor([[2.0, 5.0], [3.0, 5.0005], [3.0, 5.0]])
    cls, reg = assign_targets(pts, segs, torch.tensor([1, 2, 0]), 3)
    assert cls[4].tolist() == [1.0, 0.0, 1.0]
    torch.testing.assert_close(reg[4], torch.tensor([1.0, 1.0]))
    # t = 3: only A has it strictly inside (C and D start at 3)
    assert cls[3].tolist() == [0.0, 1.0, 0.0]
    torch.testing.assert_close(reg[3], torch.tensor([1.0, 2.0]))


def test_losses_hand_computed():
    # DIoU: pred (1, 1), target (1, 3): IoU 2/4, enclosing 4, centre offset 1 -> 1 - 0.5 + (1/4)^2
    assert diou_loss_1d(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 3.0]])).item() == pytest.approx(0.5625)
    assert diou_loss_1d(torch.tensor([[2.0, 3.0]]), torch.tensor([[2.0, 3.0]])).item() == pytest.approx(0.0)
    # focal: logit 0 -> p 0.5: positive 0.25 * 0.5^2 * ln 2, negative 0.75 * 0.5^2 * ln 2
    fl = sigmoid_focal_loss(torch.zeros(2), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(fl, torch.tensor([0.0625, 0.1875]) * math.log(2))
    # a batch: with the classifier's weights zeroed, its prior bias -log(99) gives p = 0.01 everywhere
    model = ActionFormer(input_dim=4, num_classes=2, embed_dim=16, levels=2)
    assert model.cls_head.out.bias.tolist() == pytest.approx([-math.log(99)] * 2)
    with torch.no_grad():
        model.cls_head.out.weight.zero_()
    out = model(torch.randn(2, 4, 16), torch.arange(16)[None] < torch.tensor([[16], [10]]))
    assert torch.allclose(torch.sigmoid(torch.cat(out.cls_logits, 1)[torch.cat(out.masks, 1)]), torch.tensor(0.01))
    losses = detection_losses(out, [torch.tensor([[2.0, 5.0]]), torch.zeros(0, 2)],
                              [torch.tensor([1]), torch.zeros(0, dtype=torch.long)], model.config)
    assert int(losses["num_pos"]) == 2  # t = 3, 4 of level 0 (as above)
    valid = int(torch.cat(out.masks, 1).sum())  # 16 + 8 + 10 + 5 points x 2 classes
    neg = 0.75 * 0.01**2 * -math.log(0.99)
    pos = 0.25 * 0.99**2 * -math.log(0.01)
    assert losses["cls"].item() == pytest.approx((2 * valid - 2) * neg + 2 * pos, rel=1e-4)
    losses["cls"].backward()


def test_candidates_decode_segments_on_the_grid():
    C = 2
    logits = [torch.full((1, 8, C), -10.0), torch.full((1, 4, C), -10.0)]
    offsets = [torch.zeros(1, 8, 2), torch.zeros(1, 4, 2)]
    logits[0][0, 3, 1] = 2.0  # level 0, t = 3, class 1
    offsets[0][0, 3] = torch.tensor([1.5, 2.0])
    logits[1][0, 2, 0] = 0.0  # level 1, t = 4 (stride 2), class 0
    offsets[1][0, 2] = torch.tensor([1.0, 0.5])
    logits[1][0, 3, 0] = 5.0  # masked out: not a candidate
    masks = [torch.ones(1, 8, dtype=torch.bool), torch.tensor([[True, True, True, False]])]
    segs, scores, labels = candidates(ActionFormerOutput(logits, offsets, masks), 0, pre_nms_thresh=0.01)
    assert labels.tolist() == [1, 0]
    torch.testing.assert_close(segs, torch.tensor([[1.5, 5.0], [2.0, 5.0]]))
    torch.testing.assert_close(scores, torch.sigmoid(torch.tensor([2.0, 0.0])))
    # too short (<= duration_thresh grid steps) is dropped
    offsets[0][0, 3] = torch.tensor([0.01, 0.02])
    segs, _, labels = candidates(ActionFormerOutput(logits, offsets, masks), 0, pre_nms_thresh=0.01)
    assert labels.tolist() == [0]
