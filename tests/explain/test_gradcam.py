"""Grad-CAM for video models: where a hand-built model's evidence is, an independent reference computation,
shapes, range, determinism, SlowFast's two pathways, MViT's token grid, and the model left as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import randomise_
from vidlab import models
from vidlab.explain import LayerError, default_layers, find_module, grad_cam
from vidlab.explain.gradcam import DEFAULT_CANDIDATES
from vidlab.models.mvit import MVITV2_S_16X4, MViT
from vidlab.models.slowfast import slowfast_resnet

T, S = 8, 32  # clip frames and size of the hand-built tests


class QuadrantNet(nn.Module):
    """Four feature channels, channel q = ReLU(brightness - 0.5) inside quadrant q only (TL, TR, BL, BR),
    average-pooled 2x2x2 (the layer ``pool``, at half resolution in space and time); the head averages each
    channel globally and class k reads channel k alone. So class k's score depends only on what is bright
    in quadrant k."""

    def __init__(self, size: int = S):
        super().__init__()
        h = size // 2
        masks = torch.zeros(4, size, size)
        masks[0, :h, :h], masks[1, :h, h:], masks[2, h:, :h], masks[3, h:, h:] = 1, 1, 1, 1
        self.register_buffer("masks", masks)
        self.pool = nn.AvgPool3d(2)
        self.fc = nn.Linear(4, 4)
        with torch.no_grad():
            self.fc.weight.copy_(2.0 * torch.eye(4))
            self.fc.bias.zero_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        bright = torch.relu(x.mean(1, keepdim=True) - 0.5)
        return self.pool(bright * self.masks[None, :, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3, 4)))


def _scene() -> torch.Tensor:
    """A dark clip with a bright square in the top-left quadrant in frames 2..5 and a brighter distractor
    square in the bottom-right quadrant in every frame."""
    x = torch.full((3, T, S, S), 0.1)
    x[:, 2:6, 4:12, 4:12] = 1.0
    x[:, :, 20:28, 22:30] = 1.2
    return x


def _quadrant_mass(cam: torch.Tensor) -> torch.Tensor:
    h = cam.shape[1] // 2
    q = torch.stack([cam[:, :h, :h].sum(), cam[:, :h, h:].sum(), cam[:, h:, :h].sum(), cam[:, h:, h:].sum()])
    return q / cam.sum()


def test_the_map_peaks_where_the_class_score_looks():
    model, x = QuadrantNet(), _scene()
    res = grad_cam(model, x, layers="pool", class_index=0)
    (m,) = res.maps
    assert m.cam.shape == (T, S, S) and m.activation_shape == (4, T // 2, S // 2, S // 2)
    t, y, xx = torch.nonzero(m.cam == m.cam.max())[0].tolist()
    assert y < S // 2 and xx < S // 2 and 2 <= t <= 5  # in the top-left square, in its frames
    mass = _quadrant_mass(m.cam)
    assert mass[0] > 0.99, mass  # the brighter distractor (other quadrant) gets nothing
    per_frame = m.cam.sum((1, 2))
    assert per_frame[1:7].sum() / per_frame.sum() > 0.95  # frames 2..5, plus the trilinear spill
    # with a linear head on globally pooled channels, Grad-CAM is class 0's channel map upsampled (CAM)
    a0 = model.features(x[None])[0, 0]
    ref = F.interpolate(a0[None, None], size=(T, S, S), mode="trilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(m.cam, ref / ref.max(), rtol=0, atol=1e-6)
    # class 3 reads the bottom-right quadrant: the map moves there
    br = grad_cam(model, x, layers="pool", class_index=3).maps[0]
    assert _quadrant_mass(br.cam)[3] > 0.99
    # class 1's quadrant holds nothing bright: no positive evidence, an all-zero map
    none = grad_cam(model, x, layers="pool", class_index=1).maps[0]
    assert none.raw_max == 0.0 and torch.count_nonzero(none.cam) == 0
    # top-1 by default: the distractor's class (the brightest, largest evidence)
    assert grad_cam(model, x, layers="pool").class_index == int(model(x[None]).argmax()) == 3


def _reference_cam(model: nn.Module, x: torch.Tensor, layer: str, c: int) -> torch.Tensor:
    """Grad-CAM the textbook way: retain_grad on the layer's output, backward from the score."""
    store = {}

    def hook(module, args, out):
        out.retain_grad()
        store["a"] = out

    h = model.get_submodule(layer).register_forward_hook(hook)
    try:
        model.zero_grad()
        model(x[None])[0, c].backward()
    finally:
        h.remove()
    a, g = store["a"][0].detach().double(), store["a"].grad[0].double()
    cam = torch.relu((g.mean((1, 2, 3))[:, None, None, None] * a).sum(0))
    up = F.interpolate(cam[None, None], size=x.shape[1:], mode="trilinear", align_corners=False)[0, 0]
    return (up / up.max()).float()


@pytest.fixture(scope="module")
def i3d():
    torch.manual_seed(0)
    model = randomise_(models.build("i3d_r10_tiny", num_classes=5), seed=1).eval()
    clip = torch.randn(3, 8, 40, 40, generator=torch.Generator().manual_seed(2))
    return model, clip


def test_equals_a_retain_grad_reference_and_is_deterministic(i3d):
    model, clip = i3d
    res = grad_cam(model, clip, layers="s4,s5", class_index=2)
    assert [m.layer for m in res.maps] == ["s4", "s5"] and res.class_index == 2
    with torch.no_grad():
        torch.testing.assert_close(res.logits, model(clip[None])[0], rtol=0, atol=1e-6)
    for m in res.maps:
        assert m.cam.shape == clip.shape[1:] and m.frames == list(range(8)) and m.pathway is None
        assert m.cam.min() >= 0 and m.cam.max() == 1.0 and m.raw_max > 0
        torch.testing.assert_close(m.cam, _reference_cam(model, clip, m.layer, 2), rtol=0, atol=1e-5)
    again = grad_cam(model, clip, layers=["s4", "s5"], class_index=2)
    assert all(torch.equal(a.cam, b.cam) for a, b in zip(res.maps, again.maps))
    assert grad_cam(model, clip).maps[0].layer == "s5"  # the default: the last stage


def test_the_model_is_left_as_it_was(i3d):
    model, clip = i3d
    model.zero_grad(set_to_none=True)  # the reference above ran a backward
    model.train()
    frozen = [p for i, p in enumerate(model.parameters()) if i % 3 == 0]
    for p in frozen:
        p.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        grad_cam(model, clip, layers="s3")
        with pytest.raises(Exception, match="out of range"):
            grad_cam(model, clip, class_index=7)
        assert model.training and [p.requires_grad for p in model.parameters()] == flags
        assert all(p.grad is None for p in model.parameters())
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
        assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # BN stats untouched (eval)
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.eval()


def test_layer_names_are_checked_with_close_names(i3d):
    model, clip = i3d
    with pytest.raises(LayerError) as e:
        find_module(model, "s5.pathway0_res9")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("no layer 's5.pathway0_res9' in i3d_r10_tiny; close names: ")
    assert "s5.pathway0_res0" in msg
    with pytest.raises(LayerError, match="close names: s1, s2"):
        grad_cam(model, clip, layers="zzz")
    with pytest.raises(LayerError, match="needs a feature map"):
        grad_cam(model, clip, layers="head.projection")  # (1, classes): no grid


def test_slowfast_gives_a_map_per_pathway_at_its_frame_rate():
    torch.manual_seed(0)
    model = randomise_(slowfast_resnet(3, (1, 1, 1, 1), width=8, alpha=4), seed=3).eval()
    clip = torch.randn(3, 16, 32, 32, generator=torch.Generator().manual_seed(4))
    assert default_layers(model) == ["s5.pathway0_res0", "s5.pathway1_res0"]
    res = grad_cam(model, clip)
    slow, fast = res.maps
    assert (slow.pathway, fast.pathway) == ("slow", "fast")
    assert slow.cam.shape == (4, 32, 32) and fast.cam.shape == (16, 32, 32)
    assert slow.frames == [0, 5, 10, 15] and fast.frames == list(range(16))  # pack_pathways' Slow frames
    assert slow.activation_shape[1] == 4 and fast.activation_shape[1] == 16
    assert slow.activation_shape[0] == model.feature_dims[0] and fast.activation_shape[0] == model.feature_dims[1]
    for m in res.maps:
        assert 0 <= m.cam.min() and m.cam.max() == 1.0
    # the stage itself outputs [slow, fast]: the same two maps
    stage = grad_cam(model, clip, layers="s5")
    assert [m.pathway for m in stage.maps] == ["slow", "fast"]
    for a, b in zip(stage.maps, res.maps):
        torch.testing.assert_close(a.cam, b.cam, rtol=0, atol=1e-6)


TINY_MVIT = replace(MVITV2_S_16X4, depth=4, embed_dim=16, dim_mul=((1, 2.0), (3, 2.0)), head_mul=((1, 2.0), (3, 2.0)),
                    pool_q_stride=tuple((i, 1, 2, 2) if i in (1, 3) else (i, 1, 1, 1) for i in range(4)), num_frames=8)


def test_mvit_tokens_are_laid_back_on_their_grid():
    torch.manual_seed(0)
    model = MViT(5, TINY_MVIT, crop_size=64).eval()
    clip = torch.randn(3, 8, 48, 48, generator=torch.Generator().manual_seed(5))
    assert default_layers(model) == ["blocks.3.norm1"]
    # several layers of one path in one pass: patch stride 2x4x4 -> a 4x12x12 grid; blocks 1 and 3 pool q
    # 1x2x2 (-> 4x6x6 -> 4x3x3) and double the width in their attention
    res = grad_cam(model, clip, layers="blocks.3.norm1,patch_embed,blocks.1.norm1,blocks.1,blocks.3")
    shapes = {m.layer: m.activation_shape for m in res.maps}
    assert shapes == {"blocks.3.norm1": (32, 4, 6, 6), "patch_embed": (16, 4, 12, 12),
                      "blocks.1.norm1": (16, 4, 12, 12), "blocks.1": (32, 4, 6, 6), "blocks.3": (64, 4, 3, 3)}
    last_in, *_, last_out = res.maps
    assert last_in.cam.shape == (8, 48, 48) and last_in.cam.max() == 1.0
    # the last block's own output: only its cls token reaches the head, so no evidence on the grid
    assert last_out.raw_max == 0.0
    alone = grad_cam(model, clip).maps[0]  # the default alone: the same map as within the group
    torch.testing.assert_close(alone.cam, last_in.cam, rtol=0, atol=1e-6)


def test_per_frame_2d_models():
    torch.manual_seed(0)
    model = models.build("cnn_lstm_r10_tiny", num_classes=4).eval()
    clip = torch.randn(3, 6, 32, 32, generator=torch.Generator().manual_seed(6))
    (m,) = grad_cam(model, clip).maps
    assert m.layer == "backbone" and m.activation_shape[1] == 6 and m.cam.shape == (6, 32, 32)


#: the families with a default layer (a transformer family needs its token layout taught first), one
#: architecture per model class (building on the meta device gives the module names only)
DEFAULT_LAYERS = {
    "c2d_r10_tiny": "s5", "i3d_r10_tiny": "s5", "slow_r50_4x16": "s5", "x3d_xs": "s5", "r3d_18": "layer4",
    "mc3_18": "layer4", "r2plus1d_18": "layer4", "r2plus1d_r50": "res5", "csn_r101": "res5", "c3d": "pool5",
    "s3d": "features", "tsn_r10_tiny": "backbone", "two_stream_r10_tiny_spatial": "backbone",
    "cnn_lstm_r10_tiny": "backbone", "cnn_lstm_r10_tiny_convpool": "backbone",
    "mvitv2_s_16x4": "blocks.15.norm1", "mvit_v1_b_16x4": "blocks.15.norm1",
    "slowfast_r50_8x8": "s5.pathway0_res2,s5.pathway1_res2",
}
FAMILIES = {"c2d", "i3d", "slow", "slowfast", "x3d", "r3d", "mc3", "r2plus1d", "csn", "c3d", "s3d", "mvit", "tsn",
            "cnn_lstm", "two_stream"}


def test_default_layers_of_the_families():
    assert {models.get_spec(n).family for n in DEFAULT_LAYERS} == FAMILIES
    for name, expected in DEFAULT_LAYERS.items():
        with torch.device("meta"):
            model = models.build(name, num_classes=3)
        layers = default_layers(model)
        assert layers == expected.split(","), name
        assert all(find_module(model, n) is not None for n in layers)
        assert len(layers) == 2 or layers[0] in DEFAULT_CANDIDATES or name.startswith("mvit")
