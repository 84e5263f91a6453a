"""2D CNN backbones for the frame-level families (two-stream, TSN, CNN+LSTM).

``Backbone2d(name, in_channels)`` maps ``(N, C, H, W)`` images to the last
convolutional feature map ``(N, out_channels, h, w)`` (no pooling: the
families pool, fuse or flatten it themselves).

- ``resnet18`` / ``resnet34`` / ``resnet50``: torchvision's ResNets, kept as
  the submodule ``net`` so a torchvision ImageNet state dict loads into
  ``backbone.net`` unchanged (``pretrained=PATH``; the ``fc`` keys are
  dropped). Nothing is downloaded.
- ``resnet10_tiny``: ResNet-10 layout (one torchvision ``BasicBlock`` per
  stage) at widths 16/32/64/128 with a 7x7 stride-2 stem and no max-pool,
  for 56-64 pixel inputs on a CPU (the 2D sibling of the demo's ``*_r10_tiny``).

A first convolution for ``in_channels != 3`` (stacked flow, RGB differences)
is made by TSN's *cross-modality initialisation*: the RGB kernel (pretrained
or freshly initialised) is averaged over its 3 input channels and the average
copied to every new input channel (:func:`adapt_first_conv`).
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

__all__ = ["Backbone2d", "BACKBONES", "adapt_first_conv", "load_pretrained_2d"]

BACKBONES = ("resnet10_tiny", "resnet18", "resnet34", "resnet50")


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d's geometry attribute (always a 2-tuple; the stubs type it ``tuple[int, ...]``)."""
    h, w = values
    return h, w


def adapt_first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` taking ``in_channels`` inputs, each with the mean RGB kernel."""
    if conv.in_channels == in_channels:
        return conv
    padding = conv.padding if isinstance(conv.padding, str) else _pair(conv.padding)
    new = nn.Conv2d(in_channels, conv.out_channels, _pair(conv.kernel_size), _pair(conv.stride), padding,
                    _pair(conv.dilation), conv.groups, conv.bias is not None, device=conv.weight.device,
                    dtype=conv.weight.dtype)
    with torch.no_grad():
        mean = conv.weight.mean(dim=1, keepdim=True)
        new.weight.copy_(mean.expand(-1, in_channels, -1, -1))
        if conv.bias is not None and new.bias is not None:  # new has a bias exactly when conv does
            new.bias.copy_(conv.bias)
    return new


class _TinyResNet(nn.Module):
    """ResNet-10 (BasicBlock x1 per stage) at a small width, torchvision's layer names."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        layers, dim = [], width
        for i in range(4):
            out, stride = width * 2**i, 1 if i == 0 else 2
            down = None
            if stride != 1 or dim != out:
                down = nn.Sequential(nn.Conv2d(dim, out, 1, stride, bias=False), nn.BatchNorm2d(out))
            layers.append(nn.Sequential(tv_resnet.BasicBlock(dim, out, stride, down)))
            dim = out
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.out_channels = dim
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def _build(name: str) -> tuple[_TinyResNet | tv_resnet.ResNet, int]:
    """The net (torchvision's layer names: conv1, bn1, relu, maxpool, layer1..4) and its output channels."""
    if name == "resnet10_tiny":
        tiny = _TinyResNet(16)
        return tiny, tiny.out_channels
    builders = {"resnet18": (tv_resnet.resnet18, 512), "resnet34": (tv_resnet.resnet34, 512),
                "resnet50": (tv_resnet.resnet50, 2048)}
    if name not in builders:
        raise ValueError(f"unknown 2D backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    fn, dim = builders[name]
    net = fn(weights=None)
    net.fc = nn.Identity()
    net.avgpool = nn.Identity()
    return net, dim


def load_pretrained_2d(net: nn.Module, path: str | os.PathLike) -> None:
    """Load a torchvision-layout 2D state dict (``fc.*`` ignored), strictly otherwise."""
    from vidlab.models.checkpoint import CheckpointError, load_state_dict

    state = load_state_dict(path)  # safetensors, or a tensor pickle read with weights_only=True
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = {k for k in net.state_dict() if not k.startswith("fc.")}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise CheckpointError(f"{path}: not a matching 2D ResNet state dict (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")
    net.load_state_dict(state, strict=False)


class Backbone2d(nn.Module):
    """``(N, in_channels, H, W) -> (N, out_channels, h, w)``; see the module doc."""

    def __init__(self, name: str = "resnet50", in_channels: int = 3, pretrained: str | os.PathLike | None = None):
        super().__init__()
        self.name = name
        self.net, self.out_channels = _build(name)
        if pretrained:
            load_pretrained_2d(self.net, pretrained)
        self.net.conv1 = adapt_first_conv(self.net.conv1, in_channels)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))
