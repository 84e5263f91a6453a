"""torchvision's video ResNets: R3D, MC3 and R(2+1)D (Tran et al., CVPR 2018).

These are torchvision's own modules (``torchvision.models.video.resnet``:
``VideoResNet``, ``BasicBlock``, ``Conv3DSimple``, ``Conv3DNoTemporal``,
``Conv2Plus1D``, ``BasicStem``, ``R2Plus1dStem``), so parameter names are
torchvision's (``stem.0.weight``, ``layer1.0.conv1.0.weight``, ``fc.weight``)
and torchvision state dicts load with ``strict=True`` and no key mapping
(:mod:`vidlab.convert.torchvision` only checks the keys look right). The
subclass here adds no parameters: it takes a list of one clip as well as a
tensor, answers the model contract (:mod:`vidlab.models.contract`), and can put a dropout
before ``fc`` (off by default, as in torchvision). The head pools globally
(``AdaptiveAvgPool3d(1)``), so any spatial size works; logits are returned.

Inputs (torchvision's reference recipe): 16 RGB frames resampled at 15 fps,
resized to 128x171, cropped to 112x112, normalised with mean
``(0.43216, 0.394666, 0.37645)`` and std ``(0.22803, 0.22145, 0.216989)``.

``r2plus1d_34`` is the 34-layer R(2+1)D of the VMZ / IG-65M line in
torchvision's layout ([3, 4, 6, 3] basic blocks) as ported by
``moabitcoin/ig65m-pytorch``. Two details of that port are kept so its
weights load and behave as trained in Caffe2:

- the first block of layers 2-4 sizes the middle width of its *second*
  (2+1)D conv from ``(planes, planes)`` (288, 576, 1152), where torchvision
  uses the block's input width (230, 460, 921) (VMZ issue #89,
  torchvision issue #1265);
- batch norm uses ``eps=1e-3``. (The port also sets ``momentum=0.9``, which is
  Caffe2's convention written into PyTorch's inverse one; PyTorch's default
  0.1 is the same update rule, so it is kept.)

``r3d_34`` is the same depth with full 3x3x3 convolutions (no published
torchvision weights; built for completeness of the family).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.video import resnet as tvr

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import single_pathway
from vidlab.models.registry import register_model

TORCHVISION_VIDEO_MEAN = (0.43216, 0.394666, 0.37645)
TORCHVISION_VIDEO_STD = (0.22803, 0.22145, 0.216989)


class VideoResNet(VideoClassifier, tvr.VideoResNet):
    """torchvision's ``VideoResNet`` with identical parameters (and keys).

    Args (beyond torchvision's): ``dropout`` before ``fc`` (0 = none; it holds
    no parameters, so keys do not change).
    """

    def __init__(self, block, conv_makers, layers, stem, num_classes: int = 400, dropout: float = 0.0):
        super().__init__(block, conv_makers, layers, stem, num_classes=num_classes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = self.fc.in_features

    classifier_path = "fc"

    def forward_maps(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The layer4 feature map ``(B, 512, T', H', W')``."""
        x = self.stem(single_pathway(x))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        return self.avgpool(self.forward_maps(x)).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))


# Registry: frame counts and crops are torchvision's reference recipe (clip_len
# 16 at frame_rate 15, i.e. every 2nd frame of a 30 fps video; resize 128x171,
# crop 112) and, for r2plus1d_34, the IG-65M/Kinetics 32-frame 112x112 model.
_SPEC = dict(num_frames=16, sampling_rate=2, crop_size=112, test_crop_size=112, mean=TORCHVISION_VIDEO_MEAN,
             std=TORCHVISION_VIDEO_STD)


def _video_resnet(conv_makers, layers, stem, num_classes: int, dropout: float) -> VideoResNet:
    return VideoResNet(tvr.BasicBlock, conv_makers, layers, stem, num_classes=num_classes, dropout=dropout)


@register_model("r3d_18", family="r3d", **_SPEC, description="R3D-18, torchvision layout and keys (torchvision r3d_18)")
def r3d_18(num_classes: int = 400, *, dropout: float = 0.0) -> VideoResNet:
    """R3D-18: full 3x3x3 convolutions everywhere (torchvision ``r3d_18``)."""
    return _video_resnet([tvr.Conv3DSimple] * 4, [2, 2, 2, 2], tvr.BasicStem, num_classes, dropout)


@register_model("r3d_34", family="r3d", **_SPEC,
                description="R3D-34, torchvision layout and keys ([3,4,6,3] basic blocks)")
def r3d_34(num_classes: int = 400, *, dropout: float = 0.0) -> VideoResNet:
    """R3D-34: :func:`r3d_18` with [3, 4, 6, 3] blocks."""
    return _video_resnet([tvr.Conv3DSimple] * 4, [3, 4, 6, 3], tvr.BasicStem, num_classes, dropout)


@register_model("mc3_18", family="mc3", **_SPEC, description="MC3-18, torchvision layout and keys (torchvision mc3_18)")
def mc3_18(num_classes: int = 400, *, dropout: float = 0.0) -> VideoResNet:
    """MC3-18: 3D convolutions in the stem and layer1, 2D (1x3x3) after (torchvision ``mc3_18``)."""
    return _video_resnet([tvr.Conv3DSimple] + [tvr.Conv3DNoTemporal] * 3, [2, 2, 2, 2], tvr.BasicStem,
                         num_classes, dropout)


@register_model("r2plus1d_18", family="r2plus1d", **_SPEC,
                description="R(2+1)D-18, torchvision layout and keys (torchvision r2plus1d_18)")
def r2plus1d_18(num_classes: int = 400, *, dropout: float = 0.0) -> VideoResNet:
    """R(2+1)D-18: every 3x3x3 conv factorised into 1x3x3 then 3x1x1 (torchvision ``r2plus1d_18``)."""
    return _video_resnet([tvr.Conv2Plus1D] * 4, [2, 2, 2, 2], tvr.R2Plus1dStem, num_classes, dropout)


def caffe2_midplanes(in_planes: int, out_planes: int) -> int:
    """Middle width that gives a (2+1)D conv the parameters of a 3x3x3 one (the R(2+1)D paper's rule)."""
    return (in_planes * out_planes * 3 * 3 * 3) // (in_planes * 3 * 3 + 3 * out_planes)


@register_model("r2plus1d_34", family="r2plus1d", **{**_SPEC, "num_frames": 32, "sampling_rate": 1},
                description="R(2+1)D-34 of VMZ/IG-65M in torchvision's layout (ig65m-pytorch keys, Caffe2 widths, "
                            "BN eps 1e-3)")
def r2plus1d_34(num_classes: int = 400, *, dropout: float = 0.0, caffe2_layout: bool = True,
                bn_eps: float = 1e-3) -> VideoResNet:
    """R(2+1)D-34 (VMZ / IG-65M) in torchvision's layout.

    ``caffe2_layout=True`` sizes the second conv of each downsampling block as
    VMZ does (see the module docstring), which the IG-65M weights need;
    ``False`` gives torchvision's rule. ``bn_eps`` is 1e-3 for those weights.
    """
    model = _video_resnet([tvr.Conv2Plus1D] * 4, [3, 4, 6, 3], tvr.R2Plus1dStem, num_classes, dropout)
    if caffe2_layout:
        for name, planes in (("layer2", 128), ("layer3", 256), ("layer4", 512)):
            conv2 = getattr(model, name)[0].conv2
            conv2[0] = tvr.Conv2Plus1D(planes, planes, caffe2_midplanes(planes, planes))
            for m in conv2[0].modules():  # torchvision's initialisation for the replaced convs
                if isinstance(m, nn.Conv3d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm3d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = bn_eps
    return model
