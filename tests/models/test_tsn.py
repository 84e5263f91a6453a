"""TSN: snippet layouts, segmental consensus, cross-modality init, partial BN."""

import pytest
import torch
from torch import nn

from vidlab import models
from vidlab.models import tsn as tsn_module
from vidlab.models.backbone2d import Backbone2d, adapt_first_conv
from vidlab.models.tsn import TSN, snippets_to_images


def test_registered_names_and_shapes():
    for name, c, t in (("tsn_r10_tiny", 3, 3), ("tsn_r10_tiny_flow", 2, 15), ("tsn_r10_tiny_rgbdiff", 3, 18)):
        spec = models.get_spec(name)
        assert spec.family == "tsn" and spec.num_frames == t
        model = models.build(name, num_classes=7).eval()
        assert model(torch.randn(2, c, t, 56, 56)).shape == (2, 7)
    assert models.get_spec("tsn_r50_1x1x3").name == "tsn_r50"
    with torch.device("meta"):
        m = models.build("tsn_r50_flow")
    assert m.backbone.net.conv1.in_channels == 10 and m.fc.out_features == 400


def test_segments_are_read_off_the_input_and_averaged():
    torch.manual_seed(0)
    model = TSN(5, backbone="resnet10_tiny", modality="flow", new_length=2, partial_bn=False).eval()
    x = torch.randn(2, 2, 3 * 2, 32, 32)
    snip = model.snippet_logits(x)
    assert snip.shape == (2, 3, 5)
    torch.testing.assert_close(model(x), snip.mean(1))
    # 25 test segments through the same model
    assert model(torch.randn(1, 2, 25 * 2, 32, 32)).shape == (1, 5)
    # every snippet is scored on its own
    torch.testing.assert_close(model.snippet_logits(x[:, :, 2:4])[:, 0], snip[:, 1], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="whole number"):
        model(torch.randn(1, 2, 5, 32, 32))
    with pytest.raises(ValueError, match="2 channels"):
        model(torch.randn(1, 3, 4, 32, 32))


def test_flow_channels_interleave_x_and_y():
    x = torch.arange(2 * 4, dtype=torch.float32).view(1, 2, 4, 1, 1).expand(1, 2, 4, 2, 2)  # c * 4 + t
    images, k = snippets_to_images(x, "flow", 2)
    assert k == 2 and images.shape == (2, 4, 2, 2)
    # snippet 0: x_t0, y_t0, x_t1, y_t1 -> values 0, 4, 1, 5; snippet 1: 2, 6, 3, 7
    assert images[:, :, 0, 0].tolist() == [[0, 4, 1, 5], [2, 6, 3, 7]]


def test_rgb_difference_is_taken_inside_the_model():
    frames = torch.randn(1, 3, 1, 8, 8).repeat(1, 1, 3, 1, 1)  # one segment of 3 identical frames
    images, k = snippets_to_images(frames, "rgb_diff", 2)
    assert k == 1 and images.shape == (1, 6, 8, 8) and images.abs().max() == 0
    ramp = torch.arange(3.0).view(1, 1, 3, 1, 1).expand(1, 3, 3, 2, 2)
    assert snippets_to_images(ramp, "rgb_diff", 2)[0].unique().tolist() == [1.0]


def test_cross_modality_initialisation():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
    new = adapt_first_conv(conv, 10)
    assert new.weight.shape == (8, 10, 7, 7)
    for c in range(10):
        torch.testing.assert_close(new.weight[:, c], conv.weight.mean(1))
    torch.manual_seed(1)
    b = Backbone2d("resnet10_tiny", in_channels=4)
    w = b.net.conv1.weight
    assert torch.equal(w[:, 0], w[:, 3])


def test_pretrained_2d_weights_load_before_the_adaptation(tmp_path):
    import torchvision

    torch.manual_seed(0)
    rgb = torchvision.models.resnet18(weights=None)
    torch.save(rgb.state_dict(), tmp_path / "r18.pth")
    flow = TSN(3, backbone="resnet18", modality="flow", new_length=5, pretrained=str(tmp_path / "r18.pth"))
    torch.testing.assert_close(flow.backbone.net.conv1.weight[:, 7], rgb.conv1.weight.mean(1))
    torch.testing.assert_close(flow.backbone.net.layer3[0].conv1.weight, rgb.layer3[0].conv1.weight)
    bad = {k: v for k, v in rgb.state_dict().items() if not k.startswith("layer4")}
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(models.CheckpointError, match="missing"):
        TSN(3, backbone="resnet18", pretrained=str(tmp_path / "bad.pth"))


def test_partial_bn_freezes_all_but_the_first():
    torch.manual_seed(0)
    model = TSN(4, backbone="resnet10_tiny", modality="rgb", partial_bn=True).train()
    bns = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns[0].training and bns[0].weight.requires_grad
    assert all(not m.training and not m.weight.requires_grad and not m.bias.requires_grad for m in bns[1:])
    before = [m.running_mean.clone() for m in bns]
    model(torch.randn(2, 3, 3, 32, 32) * 3 + 1).sum().backward()
    assert not torch.equal(bns[0].running_mean, before[0])
    assert all(torch.equal(m.running_mean, b) for m, b in zip(bns[1:], before[1:]))
    assert bns[1].weight.grad is None
    off = TSN(4, backbone="resnet10_tiny", partial_bn=False).train()
    assert all(m.training for m in off.modules() if isinstance(m, nn.BatchNorm2d))


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = models.build("tsn_r10_tiny_rgbdiff", num_classes=4).eval()
    path = models.save(model, tmp_path / "tsn", arch="tsn_r10_tiny_rgbdiff", num_classes=4)
    again = models.load(path)
    x = torch.randn(1, 3, 12, 40, 40)
    torch.testing.assert_close(again(x), model(x))
    assert tsn_module.frames_per_snippet("rgb_diff", 5) == 6
