"""C3D (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015).

The Sports-1M network: eight 3x3x3 convolutions (64, 128, 256, 256, 512, 512,
512, 512 channels, each with bias and ReLU), max-pools 1x2x2 after conv1 and
2x2x2 after conv2, conv3b, conv4b and conv5b (pool5 pads H and W by 1), then
fc6 and fc7 (4096, ReLU, dropout 0.5) and fc8 (487 Sports-1M classes).
Parameter names are those of the widely used PyTorch port of the Caffe
Sports-1M weights (``c3d.pickle``: ``conv1``, ``conv2``, ``conv3a``,
``conv3b``, ``conv4a``, ``conv4b``, ``conv5a``, ``conv5b``, ``fc6``, ``fc7``,
``fc8``), so that file's state dict loads with ``strict=True``. (MMAction2's
C3D backbone names the same layers ``conv1a.conv``, ``conv2a.conv``, ... and
has no fc8.) 79,991,015 parameters with fc8; 77,995,776 without it.

Input size. fc6 takes 8192 = 512 x 1 x 4 x 4 features, which the pools give
for exactly 16 x 112 x 112 clips. The features go through
``AdaptiveAvgPool3d((1, 4, 4))`` before fc6: at 16x112x112 it is the identity
(outputs are the port's, bit for bit), and other sizes run, their features
averaged onto the 1x4x4 grid fc6 was trained on (expect to fine-tune). The
temporal pools need at least 16 frames, the spatial ones 16 pixels; smaller
clips raise a ``ValueError`` that says so.

Input convention of the Sports-1M weights. They were trained in Caffe on
OpenCV frames: **BGR**, 0-255, minus the Sports-1M mean volume (its channel
means are about B 90.25, G 97.66, R 101.41; DavideA/c3d-pytorch issues #1 and
#4: the port's own ``predict.py`` feeds RGB without the mean, which is only
roughly right). vidlab feeds RGB in [0, 1] everywhere, so:

- the registered spec normalises with mean ``(101.41, 97.66, 90.25) / 255``
  and std ``1 / 255`` (RGB order), i.e. ``255 * x - mean`` in 0-255 units;
- the model flips RGB to BGR in front of conv1 (``bgr_weights=True``, the
  default), so conv1's weights stay the port's, channel for channel.

Frames: 16 consecutive frames, resized to 128x171, cropped to 112x112.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import single_pathway
from vidlab.models.registry import register_model

# Channel means of the Sports-1M mean volume, 0-255, RGB order.
SPORTS1M_MEAN_RGB_255 = (101.41, 97.66, 90.25)

_CONVS = (("conv1", 3, 64), ("conv2", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
          ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512))
# Max-pool after these convs: (name, kernel = stride, padding).
_POOLS: dict[str, tuple[str, tuple[int, int, int], int | tuple[int, int, int]]] = {
    "conv1": ("pool1", (1, 2, 2), 0), "conv2": ("pool2", (2, 2, 2), 0), "conv3b": ("pool3", (2, 2, 2), 0),
    "conv4b": ("pool4", (2, 2, 2), 0), "conv5b": ("pool5", (2, 2, 2), (0, 1, 1)),
}


class C3D(VideoClassifier, nn.Module):
    """C3D with the Sports-1M port's parameter names; returns logits.

    Args:
        num_classes: fc8 outputs (487 for Sports-1M).
        dropout: after fc6 and fc7.
        bgr_weights: conv1 expects BGR (the Caffe weights); the model then
            flips the RGB input. Harmless for training from scratch.
        in_channels: input channels (3; the flip needs 3).
    """

    def __init__(self, num_classes: int = 487, *, dropout: float = 0.5, bgr_weights: bool = True,
                 in_channels: int = 3):
        super().__init__()
        if bgr_weights and in_channels != 3:
            raise ValueError("bgr_weights needs 3 input channels")
        self.bgr_weights = bgr_weights
        for name, c_in, c_out in _CONVS:
            self.add_module(name, nn.Conv3d(in_channels if name == "conv1" else c_in, c_out, 3, padding=1))
            if name in _POOLS:
                pool, kernel, padding = _POOLS[name]
                self.add_module(pool, nn.MaxPool3d(kernel, kernel, padding))
        self.fc_pool = nn.AdaptiveAvgPool3d((1, 4, 4))
        self.fc6 = nn.Linear(8192, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = 4096
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:  # every C3D conv has one
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.005 if m is not self.fc8 else 0.01)
                nn.init.zeros_(m.bias)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 5:
            raise ValueError(f"C3D expects (B, C, T, H, W) clips, got shape {tuple(x.shape)}")
        t, h, w = x.shape[2:]
        if t < 16 or h < 16 or w < 16:
            raise ValueError(f"C3D needs at least 16 frames of 16x16 pixels (trained on 16x112x112); got {t}x{h}x{w}")

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """fc7 activations ``(B, 4096)`` (the classic "C3D features", after ReLU and dropout)."""
        x = single_pathway(x)
        self._check(x)
        if self.bgr_weights:
            x = x.flip(1)
        for name, _, _ in _CONVS:
            x = self.relu(getattr(self, name)(x))
            if name in _POOLS:
                x = getattr(self, _POOLS[name][0])(x)
        x = self.fc_pool(x).flatten(1)
        x = self.dropout(self.relu(self.fc6(x)))
        return self.dropout(self.relu(self.fc7(x)))

    classifier_path = "fc8"

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc8(features)


@register_model(
    "c3d", family="c3d", num_frames=16, sampling_rate=1, crop_size=112, test_crop_size=112, num_classes=487,
    mean=tuple(m / 255 for m in SPORTS1M_MEAN_RGB_255), std=(1 / 255,) * 3, aliases=("c3d_sports1m",),
    description="C3D (Sports-1M network; c3d.pickle port keys; model flips RGB input to BGR for conv1)",
)
def c3d(num_classes: int = 487, **kw) -> C3D:
    """C3D for Sports-1M (487 classes), see :class:`C3D`."""
    return C3D(num_classes, **kw)
