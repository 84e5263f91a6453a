"""Spatio-temporal action detection heads (AVA): PySlowFast's ``ResNetRoIHead``.

The detector runs a video backbone whose res5 keeps spatial stride 16 (res5
stride 1, dilation 2), averages every pathway over time, pools a 7x7 RoIAlign
window per person box and pathway, max-pools it to 1x1, concatenates the
pathways and classifies with ``head.projection`` (pre-sigmoid logits, one per
action: AVA actions are multi-label).

Boxes are an ``(N, 5)`` float tensor ``[batch_index, x1, y1, x2, y2]`` in input
pixels. ``aligned`` is RoIAlign's half-pixel convention: PySlowFast's default
(``DETECTION.ALIGNED=True``), while its Caffe2-era zoo configs used False.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.ops import roi_align

from vidlab.models.contract import VideoDetectorContract
from vidlab.models.registry import register_model
from vidlab.models.slowfast import SlowFast, slowfast_resnet


class RoIHead(nn.Module):
    def __init__(self, dims_in: Sequence[int], num_classes: int, *, resolution: int = 7,
                 spatial_scale: float = 1 / 16, aligned: bool = True, dropout: float = 0.0):
        super().__init__()
        self.resolution = resolution
        self.spatial_scale = spatial_scale
        self.aligned = aligned
        self.spatial_pool = nn.MaxPool2d(resolution, stride=1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(sum(dims_in), num_classes, bias=True)

        self.feature_dim = sum(dims_in)

    def features(self, maps: Sequence[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """The per-box vector ``(N, sum(dims_in))`` the projection classifies (what a feature bank stores)."""
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be (N, 5) [batch_index, x1, y1, x2, y2], got {tuple(boxes.shape)}")
        pooled = []
        for f in maps:
            f = f.mean(2)  # temporal average over the whole clip
            r = roi_align(f, boxes.to(f.dtype), (self.resolution, self.resolution), self.spatial_scale, 0, self.aligned)
            pooled.append(self.spatial_pool(r).flatten(1))
        return torch.cat(pooled, dim=1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(features))

    def forward(self, maps: Sequence[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(maps, boxes))


class SlowFastDetector(VideoDetectorContract, nn.Module):
    """SlowFast backbone + :class:`RoIHead`; ``model(inputs, boxes) -> (N, classes)`` logits."""

    def __init__(self, num_classes: int = 80, *, aligned: bool = True, dropout: float = 0.0,
                 backbone: nn.Module | None = None, **backbone_kw):
        super().__init__()
        net = backbone or slowfast_resnet(num_classes, **{"spatial_strides": (1, 2, 2, 1),
                                                          "spatial_dilations": (1, 1, 1, 2), **backbone_kw})
        if not isinstance(net, SlowFast):
            raise TypeError("SlowFastDetector needs a SlowFast backbone")
        # share the backbone's modules under the same names (s1 ... s5, fusions, pools)
        for name, child in net.named_children():
            if name != "head":
                self.add_module(name, child)
        self._backbone = [net]  # not a submodule: its children are registered above
        self.head = RoIHead(net.feature_dims, num_classes, aligned=aligned, dropout=dropout)
        nn.init.normal_(self.head.projection.weight, std=0.01)
        nn.init.zeros_(self.head.projection.bias)
        self.feature_dim = self.head.feature_dim

    def pathways(self, x) -> list[torch.Tensor]:
        """The ``[slow, fast]`` input for ``x`` (see :meth:`SlowFast.pathways`)."""
        return self._backbone[0].pathways(x)

    def forward_maps(self, inputs) -> list[torch.Tensor]:
        """The backbone's last-stage maps ``[slow, fast]``."""
        return self._backbone[0].forward_maps(inputs)

    def forward_features(self, inputs, boxes: torch.Tensor) -> torch.Tensor:
        return self.head.features(self.forward_maps(inputs), boxes)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.classify(features)


@register_model(
    "slowfast_r50_8x8_detection", family="slowfast_detection", num_frames=32, sampling_rate=2, crop_size=224,
    test_crop_size=256, num_classes=80, aliases=("slowfast_r50_detection",), inputs="clip+boxes",
    description="AVA detector: SlowFast R50 32x2 + RoIAlign head (PySlowFast SLOWFAST_32x2_R50_SHORT)",
)
def slowfast_r50_detection(num_classes: int = 80, **kw) -> SlowFastDetector:
    """PySlowFast configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml: SlowFast R50 (alpha 4, fusion kernel 7),
    res5 stride 1 / dilation 2, RoIAlign 7x7 at 1/16, 80 AVA classes."""
    return SlowFastDetector(num_classes, fusion_kernel_sz=kw.pop("fusion_kernel_sz", 7), **kw)
