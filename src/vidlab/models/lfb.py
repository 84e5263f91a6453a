"""Long-term feature banks (Wu et al., CVPR 2019) and a small CPU detector.

* :class:`VideoDetector`: any single-pathway backbone with ``forward_maps``
  plus :class:`~vidlab.models.detection.RoIHead` (PySlowFast's AVA head);
  ``i3d_r10_tiny_detection`` is the ResNet-10 width-16 backbone of the demo
  with res5 at stride 1 / dilation 2 (features at 1/16, as the AVA models), the
  model the synthetic detection set trains on a CPU.
* :func:`roi_features`: the head's pooled per-box vector (what a feature bank
  stores), for :class:`VideoDetector` and
  :class:`~vidlab.models.detection.SlowFastDetector`.
* Feature bank operators (FBO) that combine a box's short-term feature ``S``
  ``(N, Ds)`` with the long-term features ``L`` ``(N, W, Dl)`` of a window
  around its keyframe (``mask (N, W)`` marks the real rows):
  ``FBOAvg`` / ``FBOMax`` (masked average / max over the window) and
  ``FBONonLocal``: ``S`` and ``L`` are projected to 512-d, then 2 non-local
  layers (the paper's FBO-NL): scaled dot-product attention of ``S`` over
  ``L`` (1/sqrt(512)), an output linear, layer norm, ReLU, dropout, added back
  to ``S``.
* :class:`LFBHead` (arch ``lfb_head``): ``projection([S, FBO(S, L)])`` ->
  pre-sigmoid logits.
"""

from __future__ import annotations

import math
from typing import Any, Callable, cast

import torch
from torch import nn

from vidlab.models import resnet3d
from vidlab.models.contract import VideoClassifier, VideoDetectorContract
from vidlab.models.detection import RoIHead
from vidlab.models.registry import register_model

FBO_TYPES = ("nl", "avg", "max")


class VideoDetector(VideoDetectorContract, nn.Module):
    """``backbone.forward_maps`` -> :class:`RoIHead`; ``model(inputs, boxes) -> (N, classes)``."""

    def __init__(self, backbone: nn.Module, feature_dims, num_classes: int, *, spatial_scale: float = 1 / 16,
                 aligned: bool = True, dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.head = RoIHead(feature_dims, num_classes, spatial_scale=spatial_scale, aligned=aligned,
                            dropout=dropout)
        nn.init.normal_(self.head.projection.weight, std=0.01)
        nn.init.zeros_(self.head.projection.bias)
        self.feature_dim = self.head.feature_dim

    def forward_maps(self, inputs) -> list[torch.Tensor]:
        """The backbone's last-stage maps, one per pathway."""
        forward_maps = cast(Callable[[Any], Any], self.backbone.forward_maps)  # a method, not a submodule
        f = forward_maps(inputs)
        return list(f) if isinstance(f, (list, tuple)) else [f]

    def forward_features(self, inputs, boxes: torch.Tensor) -> torch.Tensor:
        return self.head.features(self.forward_maps(inputs), boxes)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.classify(features)


_TINY = {"num_frames": 8, "sampling_rate": 4, "crop_size": 96, "test_crop_size": 96, "num_classes": 10,
         "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


@register_model("i3d_r10_tiny_detection", family="detection", **_TINY, inputs="clip+boxes",
                description="CPU detector for the synthetic detection set: ResNet-10 (width 16) + RoIAlign head "
                            "at 1/16")
def i3d_r10_tiny_detection(num_classes: int = 10, **kw) -> VideoDetector:
    """ResNet-10 (basic blocks, width 16; temporal kernel 3 in the stem and res2-res4, 1 in res5),
    res5 stride 1 / dilation 2 (features at 1/16)."""
    backbone = resnet3d.ResNet3D(
        num_classes, stage_blocks=(1, 1, 1, 1), transform="basic", width=16, temporal_kernels=[[3], [3], [3], [1]],
        stem_kernel=(3, 7, 7), pool1_temporal=1, spatial_strides=(1, 2, 2, 1), spatial_dilations=(1, 1, 1, 2),
        dropout=0.0,
    )
    setattr(backbone, "head", nn.Identity())  # the RoI head replaces the global one (only forward_maps is used)
    return VideoDetector(backbone, [backbone.feature_dim], num_classes, **kw)


def roi_features(detector: nn.Module, inputs, boxes: torch.Tensor) -> torch.Tensor:
    """The per-box vector the RoI head classifies (``(N, sum(dims))``, before dropout/projection):
    the detector's ``forward_features``."""
    if not isinstance(detector, VideoDetectorContract):
        raise TypeError(f"{type(detector).__name__} is not a vidlab detection model")
    return detector.forward_features(inputs, boxes)


# ----------------------------------------------------------------------------------
# feature bank operators
def _masked(long: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(long.shape[:2], dtype=torch.bool, device=long.device)
    return mask.to(torch.bool)


class FBOAvg(nn.Module):
    """Masked average of the window (zeros where the window is empty)."""

    def __init__(self, dim_long: int):
        super().__init__()
        self.out_dim = dim_long

    def forward(self, short, long, mask=None):
        m = _masked(long, mask).unsqueeze(-1).to(long.dtype)
        return (long * m).sum(1) / m.sum(1).clamp_min(1.0)


class FBOMax(nn.Module):
    """Masked max over the window (zeros where the window is empty)."""

    def __init__(self, dim_long: int):
        super().__init__()
        self.out_dim = dim_long

    def forward(self, short, long, mask=None):
        m = _masked(long, mask)
        filled = long.masked_fill(~m.unsqueeze(-1), float("-inf")).amax(1)
        return torch.where(m.any(1, keepdim=True), filled, torch.zeros_like(filled))


class NonLocalLayer(nn.Module):
    """One FBO-NL layer: ``q + dropout(relu(norm(out(softmax(theta q . phi k / sqrt(d)) g k))))``."""

    def __init__(self, dim: int = 512, dropout: float = 0.2):
        super().__init__()
        self.theta = nn.Linear(dim, dim)
        self.phi = nn.Linear(dim, dim)
        self.g = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, q, k, mask):
        att = torch.einsum("nd,nwd->nw", self.theta(q), self.phi(k)) * self.scale
        att = att.masked_fill(~mask, float("-inf"))
        att = torch.nan_to_num(att.softmax(-1), nan=0.0)  # an empty window attends to nothing
        y = torch.einsum("nw,nwd->nd", att, self.g(k))
        return q + self.dropout(torch.relu(self.norm(self.out(y))))


class FBONonLocal(nn.Module):
    """FBO-NL: ``S`` and ``L`` reduced to ``dim`` (512), then ``num_layers`` (2) non-local layers."""

    def __init__(self, dim_short: int, dim_long: int, dim: int = 512, num_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.reduce_short = nn.Linear(dim_short, dim)
        self.reduce_long = nn.Linear(dim_long, dim)
        self.layers = nn.ModuleList(NonLocalLayer(dim, dropout) for _ in range(num_layers))
        self.out_dim = dim

    def forward(self, short, long, mask=None):
        m = _masked(long, mask)
        q, k = self.reduce_short(short), self.reduce_long(long)
        for layer in self.layers:
            q = layer(q, k, m)
        return q


class LFBHead(VideoClassifier, nn.Module):
    """``projection(dropout([S, FBO(S, L)]))``: logits from a short-term feature and its bank window."""

    def __init__(self, num_classes: int = 10, *, dim_short: int = 128, dim_long: int | None = None,
                 fbo: str = "nl", dim: int = 512, num_layers: int = 2, dropout: float = 0.2):
        super().__init__()
        dim_long = dim_short if dim_long is None else dim_long
        self.dim_short, self.dim_long = dim_short, dim_long
        self.fbo: FBONonLocal | FBOAvg | FBOMax
        if fbo == "nl":
            self.fbo = FBONonLocal(dim_short, dim_long, dim, num_layers, dropout)
        elif fbo == "avg":
            self.fbo = FBOAvg(dim_long)
        elif fbo == "max":
            self.fbo = FBOMax(dim_long)
        else:
            raise ValueError(f"unknown feature bank operator {fbo!r}; choose one of {', '.join(FBO_TYPES)}")
        self.fbo_type = fbo
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = dim_short + self.fbo.out_dim
        self.projection = nn.Linear(self.feature_dim, num_classes)
        nn.init.normal_(self.projection.weight, std=0.01)
        nn.init.zeros_(self.projection.bias)

    classifier_path = "projection"

    def forward_features(self, short: torch.Tensor, long: torch.Tensor,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, dim_short + FBO width)``: ``[S, FBO(S, L)]``."""
        return torch.cat([short, self.fbo(short, long, mask)], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(features))

    # the override ignore: the head's forward takes (short, long, mask) where a classifier's takes one clip
    def forward(self, short: torch.Tensor, long: torch.Tensor,  # type: ignore[override]
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(short, long, mask))


@register_model("lfb_head", family="lfb", **_TINY, inputs="bank",
                description="long-term feature bank head: [short-term RoI feature, FBO(window)] -> logits "
                            "(fbo: nl/avg/max)")
def lfb_head(num_classes: int = 10, **kw) -> LFBHead:
    """:class:`LFBHead` (default: FBO-NL over 128-d short- and long-term features)."""
    return LFBHead(num_classes, **kw)
