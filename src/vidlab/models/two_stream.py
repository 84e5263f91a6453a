"""Two-stream networks: Simonyan & Zisserman (NeurIPS 2014), convolutional fusion
(Feichtenhofer, Pinz & Zisserman, CVPR 2016) and two-stream I3D (Carreira &
Zisserman, CVPR 2017).

**Streams.** The *spatial* stream is a 2D CNN on single RGB frames; the
*temporal* stream is the same CNN on L stacked optical-flow fields (2L input
channels ``x_1, y_1, ..., x_L, y_L``, L = 10 in the paper), its first conv
initialised by averaging the RGB kernel over its channels (TSN's
cross-modality initialisation). Both are :class:`~vidlab.models.tsn.TSN`
snippet models: given K snippets (``(B, 3, K, H, W)`` frames, ``(B, 2, K*L, H, W)``
flow) they average the snippet scores, which is the paper's test protocol
(25 snippets per video) and K = 1 its training.

**Late fusion** (:class:`TwoStream`): the streams are trained separately and
their class probabilities are averaged (``fusion="average"``) or weighted
(``"weighted"``, TSN's 1 : 1.5 for RGB : flow by default). The model returns
``log`` of the fused probabilities, so ``softmax(output)`` is the fused
distribution (logits in the sense that a softmax of them gives the scores).

**Convolutional fusion** (:class:`ConvFusionTwoStream`): the two streams'
last conv feature maps, for K snippets, are stacked along channels into a
``(B, 2C, K, h, w)`` volume, fused by a 3x3x3 convolution to C channels
(+ BN + ReLU), 3D max-pooled (kernel ``min(K, 2) x 3 x 3``, stride 2,
spatial padding 1) and classified after a global average pool. Initialise
it from trained streams with :meth:`ConvFusionTwoStream.from_streams`.

**Two-stream I3D** (:func:`two_stream_i3d`): an RGB I3D and an I3D with a
2-channel stem (``in_channels=2``) on a clip of T flow fields, probabilities
averaged.

Inputs of the fused models: ``[rgb, flow]``, ``(rgb, flow)`` or
``{"rgb": rgb, "flow": flow}``.
"""

from __future__ import annotations

import os
from typing import Sequence, cast

import torch
import torch.nn.functional as F
from torch import nn

from vidlab.models.backbone2d import Backbone2d
from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import triple
from vidlab.models.registry import register_model
from vidlab.models.tsn import IMAGENET_MEAN, IMAGENET_STD, TSN, snippets_to_images

__all__ = ["TwoStream", "ConvFusionTwoStream", "fuse_scores", "split_inputs", "spatial_stream", "temporal_stream",
           "two_stream", "two_stream_conv", "two_stream_i3d"]


def split_inputs(x) -> tuple[torch.Tensor, torch.Tensor]:
    """``[rgb, flow]`` / ``(rgb, flow)`` / ``{"rgb", "flow"}`` -> ``(rgb, flow)``."""
    if isinstance(x, dict):
        try:
            return x["rgb"], x["flow"]
        except KeyError:
            raise ValueError(f"two-stream input dict needs keys 'rgb' and 'flow', got {sorted(x)}") from None
    if isinstance(x, (list, tuple)) and len(x) == 2:
        return x[0], x[1]
    raise ValueError("a two-stream model takes [rgb, flow] (a list, tuple or dict with 'rgb' and 'flow')")


def fuse_scores(logits: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """Late fusion: ``log(sum_i w_i softmax(logits_i) / sum_i w_i)``."""
    weights = [1.0] * len(logits) if weights is None else list(weights)
    if len(weights) != len(logits):
        raise ValueError(f"{len(weights)} fusion weights for {len(logits)} streams")
    total = float(sum(weights))
    probs = torch.stack([w * z.float().softmax(-1) for w, z in zip(weights, logits)]).sum(0) / total
    return probs.clamp_min(1e-12).log()


def _contract(stream: nn.Module) -> VideoClassifier:
    """A stream as the vidlab classifier it is (its contract methods are not visible on ``nn.Module``)."""
    return cast(VideoClassifier, stream)


class TwoStream(VideoClassifier, nn.Module):
    """Late fusion of a spatial (RGB) and a temporal (flow) stream; see the module doc."""

    def __init__(self, spatial: nn.Module, temporal: nn.Module, *, fusion: str = "average",
                 fusion_weights: Sequence[float] | None = None):
        super().__init__()
        if fusion not in ("average", "weighted"):
            raise ValueError(f"fusion must be 'average' or 'weighted', got {fusion!r}")
        self.spatial = spatial
        self.temporal = temporal
        self.fusion = fusion
        if fusion_weights is None:
            fusion_weights = (1.0, 1.0) if fusion == "average" else (1.0, 1.5)
        self.fusion_weights = tuple(float(w) for w in fusion_weights)
        self.feature_dim = _contract(spatial).feature_dim + _contract(temporal).feature_dim

    def forward_streams(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The two streams' own logits ``(spatial, temporal)``."""
        rgb, flow = split_inputs(x)
        return self.spatial(rgb), self.temporal(flow)

    def forward_features(self, x) -> torch.Tensor:
        """``(B, D_spatial + D_temporal)``: both streams' pooled features, concatenated."""
        rgb, flow = split_inputs(x)
        spatial, temporal = _contract(self.spatial), _contract(self.temporal)
        return torch.cat([spatial.forward_features(rgb), temporal.forward_features(flow)], 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Each stream's head on its share of ``features``, then late fusion."""
        spatial, temporal = _contract(self.spatial), _contract(self.temporal)
        a, b = features.split([spatial.feature_dim, temporal.feature_dim], 1)
        return fuse_scores([spatial.forward_head(a), temporal.forward_head(b)], self.fusion_weights)

    def get_classifier(self) -> nn.Module:
        """Both streams' final layers, as ``{"spatial": ..., "temporal": ...}``."""
        return nn.ModuleDict({"spatial": _contract(self.spatial).get_classifier(),
                              "temporal": _contract(self.temporal).get_classifier()})

    @property
    def num_classes(self) -> int:
        return _contract(self.spatial).num_classes

    def reset_classifier(self, num_classes: int) -> None:
        _contract(self.spatial).reset_classifier(num_classes)
        _contract(self.temporal).reset_classifier(num_classes)


class ConvFusionTwoStream(VideoClassifier, nn.Module):
    """Two 2D CNN towers fused after their last conv layer by 3D conv + 3D pooling.

    Args:
        num_classes: logits.
        backbone: 2D backbone of both towers (see :mod:`vidlab.models.backbone2d`); the
            fusing conv has ``2C x C x 27`` weights, so ResNet-18 (C = 512, as the
            paper's VGG-16) gives 14 M of them and ResNet-50 (C = 2048) 226 M.
        new_length: flow fields per snippet (L).
        fusion_kernel: kernel of the fusing 3D convolution (3x3x3 in the paper).
        dropout: before the classifier.
        pretrained: torchvision 2D state dict for both towers (the flow tower's
            first conv is then cross-modality initialised).
    """

    def __init__(self, num_classes: int = 400, *, backbone: str = "resnet50", new_length: int = 10,
                 fusion_kernel: Sequence[int] = (3, 3, 3), dropout: float = 0.5,
                 pretrained: str | os.PathLike | None = None):
        super().__init__()
        self.new_length = int(new_length)
        self.spatial = Backbone2d(backbone, 3, pretrained)
        self.temporal = Backbone2d(backbone, 2 * self.new_length, pretrained)
        c = self.spatial.out_channels
        k = triple(fusion_kernel)
        self.fusion = nn.Conv3d(2 * c, c, k, padding=triple(s // 2 for s in k), bias=False)
        self.fusion_bn = nn.BatchNorm3d(c)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = c
        self.fc = nn.Linear(c, num_classes)
        nn.init.kaiming_normal_(self.fusion.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    @classmethod
    def from_streams(cls, spatial: TSN, temporal: TSN, num_classes: int, **kw) -> "ConvFusionTwoStream":
        """A conv-fusion net whose towers start as copies of trained streams' backbones."""
        kw.setdefault("backbone", spatial.backbone.name)
        model = cls(num_classes, new_length=temporal.new_length, **kw)
        model.spatial.load_state_dict(spatial.backbone.state_dict())
        model.temporal.load_state_dict(temporal.backbone.state_dict())
        return model

    classifier_path = "fc"

    def forward_features(self, x) -> torch.Tensor:
        """``(B, C)``: the fused, 3D-pooled volume averaged globally."""
        rgb, flow = split_inputs(x)

        b = rgb.shape[0]
        a, k = snippets_to_images(rgb, "rgb", 1)
        m, k2 = snippets_to_images(flow, "flow", self.new_length)
        if k != k2:
            raise ValueError(f"{k} RGB frames but {k2} flow stacks: one frame per stack is needed")
        fa, fm = self.spatial(a), self.temporal(m)  # (B * K, C, h, w)
        vol = torch.cat([fa, fm], 1)
        vol = vol.view(b, k, *vol.shape[1:]).transpose(1, 2)  # (B, 2C, K, h, w)
        vol = self.relu(self.fusion_bn(self.fusion(vol)))
        vol = F.max_pool3d(vol, (min(k, 2), 3, 3), (2, 2, 2), (0, 1, 1), ceil_mode=True)
        return vol.mean((2, 3, 4))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))


# --------------------------------------------------------------------------
# builders


def spatial_stream(num_classes: int = 400, *, backbone: str = "resnet50", dropout: float = 0.5,
                   partial_bn: bool = True, pretrained=None) -> TSN:
    """Simonyan & Zisserman's spatial stream: a frame-level 2D CNN (scores averaged over frames)."""
    return TSN(num_classes, backbone=backbone, modality="rgb", new_length=1, dropout=dropout,
               partial_bn=partial_bn, pretrained=pretrained, num_segments=1)


def temporal_stream(num_classes: int = 400, *, backbone: str = "resnet50", new_length: int = 10,
                    dropout: float = 0.5, partial_bn: bool = True, pretrained=None) -> TSN:
    """The temporal stream: L stacked flow fields (2L channels, cross-modality initialised)."""
    return TSN(num_classes, backbone=backbone, modality="flow", new_length=new_length, dropout=dropout,
               partial_bn=partial_bn, pretrained=pretrained, num_segments=1)


def two_stream(num_classes: int = 400, *, backbone: str = "resnet50", new_length: int = 10,
               fusion: str = "average", fusion_weights: Sequence[float] | None = None, dropout: float = 0.5,
               partial_bn: bool = True, pretrained=None) -> TwoStream:
    """Late-fusion two-stream ConvNet (inputs ``[rgb (B,3,K,H,W), flow (B,2,K*L,H,W)]``)."""
    return TwoStream(
        spatial_stream(num_classes, backbone=backbone, dropout=dropout, partial_bn=partial_bn, pretrained=pretrained),
        temporal_stream(num_classes, backbone=backbone, new_length=new_length, dropout=dropout,
                        partial_bn=partial_bn, pretrained=pretrained),
        fusion=fusion, fusion_weights=fusion_weights,
    )


def two_stream_conv(num_classes: int = 400, **kw) -> ConvFusionTwoStream:
    """Convolutional fusion after the last conv layer with 3D pooling (see :class:`ConvFusionTwoStream`)."""
    return ConvFusionTwoStream(num_classes, **kw)


def two_stream_i3d(num_classes: int = 400, *, arch: str = "i3d_r50", fusion: str = "average",
                   fusion_weights: Sequence[float] | None = None, **kw) -> TwoStream:
    """Two-stream I3D: ``arch`` on RGB and the same network with a 2-channel stem on flow
    (inputs ``[rgb (B,3,T,H,W), flow (B,2,T,H,W)]``), probabilities averaged."""
    from vidlab.models.registry import build

    return TwoStream(build(arch, num_classes=num_classes, **kw),
                     build(arch, num_classes=num_classes, in_channels=2, **kw),
                     fusion=fusion, fusion_weights=fusion_weights)


_R50 = dict(crop_size=224, test_crop_size=256, mean=IMAGENET_MEAN, std=IMAGENET_STD)
_TINY = dict(crop_size=56, test_crop_size=56, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
_FLOW = dict(mean=(0.0, 0.0), std=(1.0, 1.0))
_TINY_2D = dict(backbone="resnet10_tiny", partial_bn=False, dropout=0.2)
_FUSED = dict(family="two_stream", sampling_rate=1, inputs="frame+flow")


@register_model("two_stream_r50", **_FUSED, num_frames=10, **_R50,
                description="two-stream ConvNet (ResNet-50 streams), late fusion by averaging; "
                            "input [rgb (B,3,K,H,W), flow (B,2,10K,H,W)]")
def two_stream_r50(num_classes: int = 400, **kw) -> TwoStream:
    return two_stream(num_classes, **{"backbone": "resnet50", **kw})


@register_model("two_stream_r50_spatial", family="two_stream", num_frames=1, sampling_rate=1, **_R50,
                description="two-stream spatial stream: ResNet-50 on single RGB frames")
def two_stream_r50_spatial(num_classes: int = 400, **kw) -> TSN:
    return spatial_stream(num_classes, **{"backbone": "resnet50", **kw})


@register_model("two_stream_r50_temporal", family="two_stream", num_frames=10, sampling_rate=1, crop_size=224,
                test_crop_size=256, **_FLOW,
                description="two-stream temporal stream: ResNet-50 on 10 stacked flow fields (20 channels, "
                            "pixels / 20)")
def two_stream_r50_temporal(num_classes: int = 400, **kw) -> TSN:
    return temporal_stream(num_classes, **{"backbone": "resnet50", **kw})


@register_model("two_stream_r18_conv", **_FUSED, num_frames=10, **_R50,
                description="two-stream ResNet-18 towers (512 channels, as VGG-16's conv5) fused after the last "
                            "conv layer (3x3x3 conv + 3D max pool); input [rgb (B,3,K,H,W), flow (B,2,10K,H,W)]")
def two_stream_r18_conv(num_classes: int = 400, **kw) -> ConvFusionTwoStream:
    return two_stream_conv(num_classes, **{"backbone": "resnet18", **kw})


@register_model("two_stream_i3d_r50", family="two_stream_i3d", num_frames=8, sampling_rate=8, crop_size=224,
                test_crop_size=256, inputs="rgb+flow",
                description="two-stream I3D ResNet-50: RGB I3D + flow I3D (2-channel stem), probabilities "
                            "averaged; input [rgb (B,3,T,H,W), flow (B,2,T,H,W)]")
def two_stream_i3d_r50(num_classes: int = 400, **kw) -> TwoStream:
    return two_stream_i3d(num_classes, **{"arch": "i3d_r50", **kw})


@register_model("two_stream_r10_tiny", **_FUSED, num_frames=5, **_TINY,
                description="two-stream on 2D ResNet-10 (width 16), 5 flow fields, late fusion")
def two_stream_r10_tiny(num_classes: int = 400, **kw) -> TwoStream:
    return two_stream(num_classes, **{**_TINY_2D, "new_length": 5, **kw})


@register_model("two_stream_r10_tiny_spatial", family="two_stream", num_frames=1, sampling_rate=1, **_TINY,
                description="spatial stream on 2D ResNet-10 (width 16): single RGB frames")
def two_stream_r10_tiny_spatial(num_classes: int = 400, **kw) -> TSN:
    return spatial_stream(num_classes, **{**_TINY_2D, **kw})


@register_model("two_stream_r10_tiny_temporal", family="two_stream", num_frames=5, sampling_rate=1, crop_size=56,
                test_crop_size=56, **_FLOW, description="temporal stream on 2D ResNet-10 (width 16): 5 stacked "
                                                        "flow fields")
def two_stream_r10_tiny_temporal(num_classes: int = 400, **kw) -> TSN:
    return temporal_stream(num_classes, **{**_TINY_2D, "new_length": 5, **kw})


@register_model("two_stream_r10_tiny_conv", **_FUSED, num_frames=5, **_TINY,
                description="conv fusion of two 2D ResNet-10 towers (3x3x3 conv + 3D max pool), 5 flow fields")
def two_stream_r10_tiny_conv(num_classes: int = 400, **kw) -> ConvFusionTwoStream:
    return two_stream_conv(num_classes, **{"backbone": "resnet10_tiny", "new_length": 5, "dropout": 0.2, **kw})


@register_model("two_stream_i3d_r10_tiny", family="two_stream_i3d", num_frames=8, sampling_rate=4, **_TINY,
                inputs="rgb+flow",
                description="two-stream I3D on the demo's i3d_r10_tiny: RGB + 2-channel flow, probabilities "
                            "averaged")
def two_stream_i3d_r10_tiny(num_classes: int = 400, **kw) -> TwoStream:
    return two_stream_i3d(num_classes, **{"arch": "i3d_r10_tiny", **kw})
