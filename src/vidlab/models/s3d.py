"""S3D (Xie et al., ECCV 2018) as torchvision builds it, with a head that runs at any size.

The network is torchvision's ``torchvision.models.video.S3D`` (same modules, so
the same keys: ``features.0.0.0.weight`` ... ``classifier.1.weight``), so
torchvision's Kinetics-400 state dict loads with ``strict=True``.

Only the pooling differs. torchvision pools with a fixed
``AvgPool3d((2, 7, 7), stride=1)``, applies the 1x1x1 classifier conv at every
window position and averages the logits; that fails whenever the last feature
map is smaller than 2x7x7 (any crop under ~200 px or clip under 14 frames).
:class:`WindowAvgPool3d` averages the same windows *before* the classifier,
with the window clipped to the feature map. Because the classifier is linear
(and dropout is the identity in eval), this gives torchvision's logits wherever
torchvision runs (16x224x224, and the 64- and 128-frame clips its weights were
trained and evaluated on, where several temporal windows are averaged), and a
plain global average on smaller inputs. Logits are returned. The body still
has a fixed 2x2x2 max-pool before its last two blocks, so clips need at least
5 frames of 17x17 pixels (a ``ValueError`` says so below that).

Inputs (torchvision's recipe for its weights): RGB, resized to 256x256,
cropped to 224x224, 64-frame clips at 15 fps for training (128 for its
reported evaluation), torchvision's video mean/std.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.video.s3d import S3D as _TorchvisionS3D

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import single_pathway
from vidlab.models.registry import register_model
from vidlab.models.video_resnet import TORCHVISION_VIDEO_MEAN, TORCHVISION_VIDEO_STD


class WindowAvgPool3d(nn.Module):
    """Mean over all stride-1 windows of ``kernel``, the window clipped to the input.

    Equals ``AvgPool3d(kernel, stride=1)`` followed by a mean over positions when
    the input is at least ``kernel``; equals ``AdaptiveAvgPool3d(1)`` when the
    input is no larger than ``kernel``. Output ``(B, C, 1, 1, 1)``.
    """

    def __init__(self, kernel: Sequence[int]):
        super().__init__()
        self.kernel = tuple(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = tuple(min(k, s) for k, s in zip(self.kernel, x.shape[2:]))
        return F.avg_pool3d(x, k, stride=1).mean((2, 3, 4), keepdim=True)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


class S3D(VideoClassifier, _TorchvisionS3D):
    """torchvision's S3D with :class:`WindowAvgPool3d` in place of ``avgpool`` (no parameter changes)."""

    def __init__(self, num_classes: int = 400, dropout: float = 0.2,
                 norm_layer: Callable[..., nn.Module] | None = None):
        super().__init__(num_classes=num_classes, dropout=dropout, norm_layer=norm_layer)
        self.avgpool = WindowAvgPool3d((2, 7, 7))
        self.feature_dim = 1024

    classifier_path = "classifier.1"  # torchvision's 1x1x1 conv (classifier.0 is the dropout)

    def forward_maps(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The last Inception feature map ``(B, 1024, T', H', W')``."""
        x = single_pathway(x)
        if x.dim() != 5 or x.shape[2] < 5 or min(x.shape[3:]) < 17:
            raise ValueError(f"S3D needs (B, C, T, H, W) clips of at least 5 frames of 17x17 pixels "
                             f"(its 2x2x2 max-pool before the last blocks); got shape {tuple(x.shape)}")
        return self.features(x)

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The window-averaged last feature map ``(B, 1024)``."""
        return self.avgpool(self.forward_maps(x)).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features[:, :, None, None, None]).flatten(1)


@register_model(
    "s3d", family="s3d", num_frames=64, sampling_rate=2, crop_size=224, test_crop_size=224,
    mean=TORCHVISION_VIDEO_MEAN, std=TORCHVISION_VIDEO_STD,
    description="S3D, torchvision layout and keys (torchvision s3d), size-agnostic head",
)
def s3d(num_classes: int = 400, *, dropout: float = 0.2) -> S3D:
    """S3D as torchvision's ``s3d`` (BN eps 1e-3, momentum 1e-3, dropout 0.2)."""
    return S3D(num_classes=num_classes, dropout=dropout)
