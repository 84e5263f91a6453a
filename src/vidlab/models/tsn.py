"""Temporal Segment Networks (Wang et al., ECCV 2016) and the frame-level snippet model
that Simonyan & Zisserman's two streams are made of.

A video is cut into K segments and one *snippet* is sampled from each
(:class:`vidlab.data.datasets.flow_clips.SnippetDataset`); a 2D CNN scores
every snippet and a *segmental consensus* (average) of the K scores is the
video's prediction. Modalities and their snippet inputs:

- ``"rgb"``: one frame (``new_length`` frames stacked as 3L channels);
- ``"flow"``: L stacked flow fields, 2L input channels ordered
  ``x_1, y_1, x_2, y_2, ...`` (L = 5 in TSN, 10 in the two-stream paper);
- ``"rgb_diff"``: L + 1 frames, of which the model takes the L consecutive
  differences (3L channels).

Input: one tensor ``(B, C, K * F, H, W)`` (the vidlab clip layout, C = 3 for
RGB/RGB-diff, 2 for flow; F frames per snippet: L, or L + 1 for RGB-diff).
K is read off the input, so the same model scores 3 segments in training and
25 at test. Output: the consensus of the snippet logits (pre-softmax).

Non-RGB inputs get TSN's cross-modality initialisation of the first conv (the
RGB kernel averaged over its channels, copied to all 2L / 3L channels; see
:mod:`vidlab.models.backbone2d`). ``partial_bn=True`` is TSN's partial batch
normalisation: in training mode every BatchNorm except the first keeps its
statistics frozen (eval mode) and its affine parameters fixed. It is meant for
fine-tuning pretrained weights; from scratch, keep it off.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from vidlab.models.backbone2d import Backbone2d
from vidlab.models.contract import VideoClassifier
from vidlab.models.registry import register_model

__all__ = ["TSN", "SegmentConsensus", "snippets_to_images", "frames_per_snippet", "tsn", "IMAGENET_MEAN",
           "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODALITIES = ("rgb", "flow", "rgb_diff")


def frames_per_snippet(modality: str, new_length: int) -> int:
    return new_length + 1 if modality == "rgb_diff" else new_length


def input_channels(modality: str, new_length: int) -> int:
    return (2 if modality == "flow" else 3) * new_length


def snippets_to_images(x: torch.Tensor, modality: str, new_length: int) -> tuple[torch.Tensor, int]:
    """``(B, C, K * F, H, W)`` -> ``(B * K, C', H, W)`` images for the 2D CNN, and K."""
    if isinstance(x, (list, tuple)):
        if len(x) != 1:
            raise ValueError(f"a single-modality model got {len(x)} inputs")
        x = x[0]
    if x.ndim == 4:  # (B, C, H, W): one snippet, no time axis
        x = x.unsqueeze(2)
    if x.ndim != 5:
        raise ValueError(f"expected a clip (B, C, T, H, W), got shape {tuple(x.shape)}")
    b, c, t, h, w = x.shape
    want_c = 2 if modality == "flow" else 3
    if c != want_c:
        raise ValueError(f"{modality} input must have {want_c} channels, got {c}")
    f = frames_per_snippet(modality, new_length)
    if t % f:
        raise ValueError(f"{modality} input of {t} frames is not a whole number of {f}-frame snippets")
    k = t // f
    x = x.view(b, c, k, f, h, w).permute(0, 2, 3, 1, 4, 5)  # (B, K, F, C, H, W)
    if modality == "rgb_diff":
        x = x[:, :, 1:] - x[:, :, :-1]
    return x.reshape(b * k, -1, h, w), k


class SegmentConsensus(nn.Module):
    """Aggregate ``(B, K, C)`` snippet scores: ``"avg"`` (TSN's default) or ``"max"``."""

    def __init__(self, kind: str = "avg"):
        super().__init__()
        if kind not in ("avg", "max"):
            raise ValueError(f"consensus must be 'avg' or 'max', got {kind!r}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1) if self.kind == "avg" else x.amax(1)


class TSN(VideoClassifier, nn.Module):
    """2D CNN per snippet + segmental consensus (see the module docstring).

    Args:
        num_classes: logits.
        backbone: ``resnet50`` (TSN in MMAction2), ``resnet18``/``resnet34``,
            ``resnet10_tiny``.
        modality: ``"rgb"``, ``"flow"`` or ``"rgb_diff"``.
        new_length: L (default 1 for RGB, 5 otherwise).
        consensus: ``"avg"`` (MMAction2's ``AvgConsensus``). The TSN paper also tried
            max and weighted consensus; only the average is a pooled feature the
            model contract can expose, so it is the one offered.
        dropout: before the classifier (TSN: 0.8 RGB / 0.7 flow with BN-Inception).
        partial_bn: freeze all BatchNorms but the first in training mode.
        pretrained: a torchvision 2D ResNet state dict for the backbone.
        num_segments: K used in training (informational: K is read off the input).
    """

    def __init__(self, num_classes: int = 400, *, backbone: str = "resnet50", modality: str = "rgb",
                 new_length: int | None = None, consensus: str = "avg", dropout: float = 0.4,
                 partial_bn: bool = True, pretrained: str | os.PathLike | None = None, num_segments: int = 3):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.modality = modality
        self.new_length = int(new_length or (1 if modality == "rgb" else 5))
        self.num_segments = num_segments
        self.partial_bn = partial_bn
        self.backbone = Backbone2d(backbone, input_channels(modality, self.new_length), pretrained)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = self.backbone.out_channels
        self.fc = nn.Linear(self.backbone.out_channels, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)
        if consensus != "avg":
            raise ValueError(f"TSN's consensus is 'avg' (the pooled-feature contract needs it), got {consensus!r}")
        self.consensus = SegmentConsensus(consensus)

    @property
    def frames_per_snippet(self) -> int:
        return frames_per_snippet(self.modality, self.new_length)

    def snippet_features(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Last conv feature maps ``(B * K, C, h, w)`` and K."""
        images, k = snippets_to_images(x, self.modality, self.new_length)
        return self.backbone(images), k

    def snippet_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, K, D)``: every snippet's pooled feature after dropout (what ``fc`` scores)."""
        b = (x[0] if isinstance(x, (list, tuple)) else x).shape[0]
        feats, k = self.snippet_features(x)
        return self.dropout(self.pool(feats).flatten(1)).view(b, k, -1)

    def snippet_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, K, num_classes)`` scores of every snippet, before the consensus."""
        return self.fc(self.snippet_vectors(x))

    classifier_path = "fc"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D)``: the average of the snippet vectors. ``fc`` is linear, so scoring
        the average equals averaging the snippet scores (TSN's average consensus)."""
        return self.snippet_vectors(x).mean(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)

    def train(self, mode: bool = True) -> "TSN":
        super().train(mode)
        if mode and self.partial_bn:
            bns = [m for m in self.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
            for m in bns[1:]:
                m.eval()
                m.weight.requires_grad_(False)
                m.bias.requires_grad_(False)
        return self


def tsn(num_classes: int = 400, **kw) -> TSN:
    """TSN, see :class:`TSN`."""
    return TSN(num_classes, **kw)


_R50 = dict(family="tsn", sampling_rate=1, crop_size=224, test_crop_size=256)
_TINY = dict(family="tsn", sampling_rate=1, crop_size=56, test_crop_size=56)
_RGB_TINY = dict(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
_FLOW_NORM = dict(mean=(0.0, 0.0), std=(1.0, 1.0))  # flow arrives as pixels / bound (the datasets divide)
_TINY_KW = dict(backbone="resnet10_tiny", partial_bn=False, dropout=0.2)


@register_model("tsn_r50", **_R50, num_frames=3, mean=IMAGENET_MEAN, std=IMAGENET_STD, aliases=("tsn_r50_1x1x3",),
                description="TSN RGB, ResNet-50, 3 segments x 1 frame (input (B, 3, K, H, W); K free at test)")
def tsn_r50(num_classes: int = 400, **kw) -> TSN:
    return TSN(num_classes, **{"backbone": "resnet50", "modality": "rgb", **kw})


@register_model("tsn_r50_flow", **_R50, num_frames=15, **_FLOW_NORM,
                description="TSN flow, ResNet-50, 3 segments x 5 stacked flow fields (input (B, 2, 5K, H, W), "
                            "pixels / 20)")
def tsn_r50_flow(num_classes: int = 400, **kw) -> TSN:
    return TSN(num_classes, **{"backbone": "resnet50", "modality": "flow", "new_length": 5, "dropout": 0.4, **kw})


@register_model("tsn_r50_rgbdiff", **_R50, num_frames=18, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                description="TSN RGB difference, ResNet-50, 3 segments x 6 frames (5 differences; input "
                            "(B, 3, 6K, H, W))")
def tsn_r50_rgbdiff(num_classes: int = 400, **kw) -> TSN:
    return TSN(num_classes, **{"backbone": "resnet50", "modality": "rgb_diff", "new_length": 5, **kw})


@register_model("tsn_r10_tiny", **_TINY, num_frames=3, **_RGB_TINY,
                description="TSN RGB on a 2D ResNet-10 (width 16), 3 segments x 1 frame; trains from scratch "
                            "(no partial BN)")
def tsn_r10_tiny(num_classes: int = 400, **kw) -> TSN:
    return TSN(num_classes, **{**_TINY_KW, "modality": "rgb", **kw})


@register_model("tsn_r10_tiny_flow", **_TINY, num_frames=15, **_FLOW_NORM,
                description="TSN flow on a 2D ResNet-10 (width 16), 3 segments x 5 flow fields")
def tsn_r10_tiny_flow(num_classes: int = 400, **kw) -> TSN:
    return TSN(num_classes, **{**_TINY_KW, "modality": "flow", "new_length": 5, **kw})


@register_model("tsn_r10_tiny_rgbdiff", **_TINY, num_frames=18, **_RGB_TINY,
                description="TSN RGB difference on a 2D ResNet-10 (width 16), 3 segments x 6 frames "
                            "(5 differences)")
def tsn_r10_tiny_rgbdiff(num_classes: int = 400, **kw) -> TSN:
    return TSN(num_classes, **{**_TINY_KW, "modality": "rgb_diff", "new_length": 5, **kw})
