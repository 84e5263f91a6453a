"""2D -> 3D inflation of a torchvision ResNet-50: the boring-video property."""

import pytest
import torch
import torchvision

from vidlab.convert import ConversionError
from vidlab.convert.inflate import inflate_kernel, inflate_resnet


@pytest.fixture(scope="module")
def resnet2d():
    torch.manual_seed(0)
    net = torchvision.models.resnet50()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, as a trained net has
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.7, 1.2)
            m.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


@pytest.mark.parametrize("arch", ["c2d_r50", "i3d_r50", "slow_r50_8x8"])
def test_boring_video_gives_the_2d_logits(resnet2d, arch):
    frame = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = resnet2d(frame)
        model, info = inflate_resnet(resnet2d.state_dict(), arch, mode="center")
        out = model(frame.unsqueeze(2).repeat(1, 1, 8, 1, 1))
    assert info["head"] == "from fc" and out.shape == (1, 1000)
    assert 1.0 < ref.abs().max() < 100  # logits of a realistic size
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4)


def test_average_inflation_keeps_the_response_of_each_tap(resnet2d):
    w = torch.randn(8, 3, 7, 7)
    w3 = inflate_kernel(w, 5, "average")
    assert w3.shape == (8, 3, 5, 7, 7)
    torch.testing.assert_close(w3.sum(2), w)
    # C2D has 1-frame kernels, so average and centre inflation agree exactly
    frame = torch.randn(1, 3, 64, 64)
    a, _ = inflate_resnet(resnet2d.state_dict(), "c2d_r50", mode="average")
    with torch.no_grad():
        torch.testing.assert_close(a(frame.unsqueeze(2).repeat(1, 1, 4, 1, 1)), resnet2d(frame), rtol=0, atol=1e-4)


def test_new_head_and_errors(resnet2d):
    model, info = inflate_resnet(resnet2d.state_dict(), "i3d_r50", num_classes=10)
    assert info["head"] == "freshly initialised" and model.head.projection.out_features == 10
    with pytest.raises(ConversionError, match="not a torchvision ResNet key"):
        inflate_resnet({"features.0.weight": torch.zeros(1)}, "i3d_r50")
    with pytest.raises(ConversionError, match="mode"):
        inflate_kernel(torch.zeros(1, 1, 3, 3), 3, "nearest")
    small = torchvision.models.resnet18().state_dict()
    with pytest.raises(ConversionError):
        inflate_resnet(small, "i3d_r50")
