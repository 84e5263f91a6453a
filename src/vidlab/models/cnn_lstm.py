"""CNN + LSTM video classifiers: LRCN (Donahue et al., CVPR 2015) and "Beyond Short
Snippets" (Ng et al., CVPR 2015), with the latter's conv-pooling variant.

:class:`CNNLSTM`: a 2D CNN turns every frame of a ``(B, 3, T, H, W)`` clip
into a feature vector, an LSTM (optionally bidirectional, any depth) runs over
the T vectors, a linear layer scores every time step and the per-step scores
are averaged (LRCN's rule; ``aggregate="last"`` keeps the last step only).
The frame feature is either the globally pooled last conv map
(``spatial_pool=1``, the usual ResNet feature) or, as LRCN's fc6 on CaffeNet's
flattened pool5, an ``s x s`` grid of the map flattened and projected by a
fully connected layer + ReLU (``spatial_pool=s``, ``feature_dim``): a global
average discards where things are, and motion is a change of position.

:class:`ConvPooling`: Ng et al.'s best feature-pooling network: the last
conv maps are max-pooled over time (the whole clip), then pooled to an
``s x s`` grid, flattened, passed through a fully connected layer + ReLU and
classified. Max-pooling over time makes it blind to frame order.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from vidlab.models.backbone2d import Backbone2d
from vidlab.models.contract import VideoClassifier
from vidlab.models.registry import register_model
from vidlab.models.tsn import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["CNNLSTM", "ConvPooling", "cnn_lstm", "conv_pooling"]


def _frames(x) -> torch.Tensor:
    if isinstance(x, (list, tuple)):
        if len(x) != 1:
            raise ValueError(f"a single-pathway model got {len(x)} inputs")
        x = x[0]
    if x.ndim != 5:
        raise ValueError(f"expected a clip (B, C, T, H, W), got shape {tuple(x.shape)}")
    return x


class _GridFeature(nn.Module):
    """``(N, C, h, w)`` -> ``(N, F)``: global average (s = 1) or s x s grid + fc + ReLU."""

    def __init__(self, channels: int, spatial_pool: int = 1, feature_dim: int | None = None):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(spatial_pool)
        dim = channels * spatial_pool * spatial_pool
        if feature_dim:
            self.fc: nn.Module = nn.Sequential(nn.Linear(dim, feature_dim), nn.ReLU(inplace=True))
            dim = feature_dim
        else:
            self.fc = nn.Identity()
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(x).flatten(1))


class CNNLSTM(VideoClassifier, nn.Module):
    """Per-frame 2D CNN features -> LSTM -> per-step scores averaged (LRCN).

    Args:
        num_classes: logits.
        backbone: 2D backbone (``resnet18``, ``resnet50``, ``resnet10_tiny``...).
        hidden_size: LSTM units per direction.
        num_layers: stacked LSTM layers (Ng et al. used 5 x 512).
        bidirectional: a second LSTM reads the clip backwards; their outputs
            are concatenated at every step.
        spatial_pool: 1 = global average pooled frame features; s = s x s grid.
        feature_dim: fc projection of the (flattened) frame feature (None: none).
        dropout: on the frame features and on the LSTM outputs.
        aggregate: ``"mean"`` over time steps (LRCN) or ``"last"``.
        pretrained: a torchvision 2D ResNet state dict for the backbone.
    """

    def __init__(self, num_classes: int = 400, *, backbone: str = "resnet18", hidden_size: int = 512,
                 num_layers: int = 1, bidirectional: bool = False, spatial_pool: int = 1,
                 feature_dim: int | None = None, dropout: float = 0.5, aggregate: str = "mean",
                 pretrained: str | os.PathLike | None = None):
        super().__init__()
        if aggregate not in ("mean", "last"):
            raise ValueError(f"aggregate must be 'mean' or 'last', got {aggregate!r}")
        self.aggregate = aggregate
        self.backbone = Backbone2d(backbone, 3, pretrained)
        self.feature = _GridFeature(self.backbone.out_channels, spatial_pool, feature_dim)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lstm = nn.LSTM(self.feature.out_dim, hidden_size, num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.feature_dim = hidden_size * (2 if bidirectional else 1)
        self.fc = nn.Linear(self.feature_dim, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def frame_features(self, x) -> torch.Tensor:
        """``(B, T, F)`` per-frame feature vectors."""
        x = _frames(x)
        b, c, t, h, w = x.shape
        f = self.backbone(x.transpose(1, 2).reshape(b * t, c, h, w))
        return self.feature(f).view(b, t, -1)

    def step_vectors(self, x) -> torch.Tensor:
        """``(B, T, H)`` LSTM outputs after dropout (what ``fc`` scores at every step)."""
        out, _ = self.lstm(self.dropout(self.frame_features(x)))
        return self.dropout(out)

    def step_logits(self, x) -> torch.Tensor:
        """``(B, T, num_classes)`` scores at every time step."""
        return self.fc(self.step_vectors(x))

    classifier_path = "fc"

    def forward_features(self, x) -> torch.Tensor:
        """``(B, H)``: the step vectors averaged over time (``"mean"``; ``fc`` is linear, so
        this scores as LRCN's average of per-step scores) or the last one (``"last"``)."""
        steps = self.step_vectors(x)
        return steps.mean(1) if self.aggregate == "mean" else steps[:, -1]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


class ConvPooling(VideoClassifier, nn.Module):
    """Ng et al.'s conv pooling: max over time of the last conv maps, then fc layers."""

    def __init__(self, num_classes: int = 400, *, backbone: str = "resnet18", spatial_pool: int = 1,
                 feature_dim: int | None = 512, dropout: float = 0.5, pretrained: str | os.PathLike | None = None):
        super().__init__()
        self.backbone = Backbone2d(backbone, 3, pretrained)
        self.feature = _GridFeature(self.backbone.out_channels, spatial_pool, feature_dim)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = self.feature.out_dim
        self.fc = nn.Linear(self.feature.out_dim, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    classifier_path = "fc"

    def forward_features(self, x) -> torch.Tensor:
        """``(B, F)``: conv maps max-pooled over time, then the grid feature."""
        x = _frames(x)
        b, c, t, h, w = x.shape
        f = self.backbone(x.transpose(1, 2).reshape(b * t, c, h, w))
        f = f.view(b, t, *f.shape[1:]).amax(1)  # max over time
        return self.feature(f)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))


def cnn_lstm(num_classes: int = 400, **kw) -> CNNLSTM:
    """LRCN-style CNN + LSTM, see :class:`CNNLSTM`."""
    return CNNLSTM(num_classes, **kw)


def conv_pooling(num_classes: int = 400, **kw) -> ConvPooling:
    """Conv pooling over time, see :class:`ConvPooling`."""
    return ConvPooling(num_classes, **kw)


_R18 = dict(family="cnn_lstm", num_frames=16, sampling_rate=4, crop_size=224, test_crop_size=256,
            mean=IMAGENET_MEAN, std=IMAGENET_STD)
_TINY = dict(family="cnn_lstm", num_frames=8, sampling_rate=4, crop_size=56, test_crop_size=56,
             mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
_TINY_KW = dict(backbone="resnet10_tiny", spatial_pool=4, feature_dim=256, hidden_size=128, dropout=0.2)


@register_model("cnn_lstm_r18", **_R18,
                description="LRCN-style ResNet-18 frame features + LSTM (512), per-step scores averaged")
def cnn_lstm_r18(num_classes: int = 400, **kw) -> CNNLSTM:
    return CNNLSTM(num_classes, **{"backbone": "resnet18", **kw})


@register_model("cnn_lstm_r18_bi", **_R18, description="ResNet-18 frame features + bidirectional LSTM (2 x 512)")
def cnn_lstm_r18_bi(num_classes: int = 400, **kw) -> CNNLSTM:
    return CNNLSTM(num_classes, **{"backbone": "resnet18", "bidirectional": True, **kw})


@register_model("cnn_lstm_r18_convpool", **_R18,
                description="Beyond Short Snippets conv pooling: ResNet-18 conv maps max-pooled over time + fc")
def cnn_lstm_r18_convpool(num_classes: int = 400, **kw) -> ConvPooling:
    return ConvPooling(num_classes, **{"backbone": "resnet18", **kw})


@register_model("cnn_lstm_r10_tiny", **_TINY,
                description="2D ResNet-10 (width 16), 4x4 feature grid + fc 256, LSTM 128, scores averaged")
def cnn_lstm_r10_tiny(num_classes: int = 400, **kw) -> CNNLSTM:
    return CNNLSTM(num_classes, **{**_TINY_KW, **kw})


@register_model("cnn_lstm_r10_tiny_bi", **_TINY,
                description="as cnn_lstm_r10_tiny with a bidirectional LSTM (2 x 128)")
def cnn_lstm_r10_tiny_bi(num_classes: int = 400, **kw) -> CNNLSTM:
    return CNNLSTM(num_classes, **{**_TINY_KW, "bidirectional": True, **kw})


@register_model("cnn_lstm_r10_tiny_convpool", **_TINY,
                description="conv pooling on 2D ResNet-10 (width 16): max over time, 4x4 grid, fc 256")
def cnn_lstm_r10_tiny_convpool(num_classes: int = 400, **kw) -> ConvPooling:
    return ConvPooling(num_classes, **{"backbone": "resnet10_tiny", "spatial_pool": 4, "feature_dim": 256,
                                       "dropout": 0.2, **kw})
