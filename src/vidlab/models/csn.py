"""Bottleneck 3D ResNets in pytorchvideo's architecture: CSN (ir-CSN) and R(2+1)D-50.

pytorchvideo's ``create_csn`` and ``create_r2plus1d`` build the same bottleneck
ResNet and differ in the middle ("b") convolution of each block and in
striding. :class:`BottleneckResNet` is that network with plain arguments and
stable names instead of pytorchvideo's positional ``blocks.N.res_blocks.M``:

======================================  =========================================
vidlab                                  pytorchvideo
======================================  =========================================
``stem.conv``, ``stem.bn``              ``blocks.0.conv``, ``blocks.0.norm``
``res2.block0.conv_a`` / ``bn_a``       ``blocks.1.res_blocks.0.branch2.conv_a`` / ``norm_a``
``res2.block0.conv_b`` / ``bn_b``       ``...branch2.conv_b`` / ``norm_b``
``res2.block0.conv_b.temporal``         ``...branch2.conv_b.conv_t``     (R(2+1)D)
``res2.block0.conv_b.bn``               ``...branch2.conv_b.norm``       (R(2+1)D)
``res2.block0.conv_b.spatial``          ``...branch2.conv_b.conv_xy``    (R(2+1)D)
``res2.block0.conv_c`` / ``bn_c``       ``...branch2.conv_c`` / ``norm_c``
``res2.block0.proj`` / ``proj_bn``      ``...branch1_conv`` / ``branch1_norm``
``head.projection``                     ``blocks.5.proj``
======================================  =========================================

(:mod:`vidlab.convert.ptv_csn` maps one onto the other.) Stages are ``res2`` ..
``res5`` as in the ResNet papers.

The head pools globally (``AdaptiveAvgPool3d(1)``), then dropout and the
projection, and returns logits. pytorchvideo's heads use a fixed
``AvgPool3d((4, 7, 7), stride=1)``: at the training input (16x224x224 for
R(2+1)D-50, 32x224x224 for CSN-R101) the two are the same; at 256-pixel test
crops pytorchvideo averages 2x2 window positions (edge pixels weigh less) where
vidlab averages uniformly. pytorchvideo's ``r2plus1d_r50`` also applies a softmax
in its head (its output is probabilities); vidlab returns the logits.

CSN-R101 (Tran et al., ICCV 2019, ir-CSN): 3x7x7 stem conv + 1x3x3 max-pool,
blocks 1x1x1 -> depthwise 3x3x3 -> 1x1x1, stage strides (T, S) = (1, 1), (2, 2),
(2, 2), (2, 2). 22,213,776 parameters with 400 classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import (
    Act,
    ClassificationHead,
    Norm,
    batch_norm3d,
    check_stage_options,
    relu,
    single_pathway,
    triple,
)
from vidlab.models.registry import register_model
from vidlab.models.resnet3d import ResNetStem, init_weights

ConvB = Callable[..., nn.Module]  # (dim, stride=(t, s, s), norm=, activation=) -> module


def depthwise_conv(dim: int, stride: Sequence[int], *, norm: Norm = batch_norm3d, activation: Act = relu) -> nn.Module:
    """CSN's middle conv: 3x3x3, one group per channel (channel-separated)."""
    del norm, activation
    return nn.Conv3d(dim, dim, 3, triple(stride), 1, groups=dim, bias=False)


class Conv2Plus1d(nn.Module):
    """R(2+1)D's middle conv, pytorchvideo's order: temporal 3x1x1 -> norm -> act -> spatial 1x3x3.

    Strides split the same way (temporal stride on ``temporal``, spatial on
    ``spatial``). ``dim_mid`` defaults to ``dim_out`` (pytorchvideo's choice).
    """

    def __init__(self, dim_in: int, dim_out: int, stride: Sequence[int] = (1, 1, 1), *, dim_mid: int | None = None,
                 norm: Norm = batch_norm3d, activation: Act = relu):
        super().__init__()
        dim_mid = dim_out if dim_mid is None else dim_mid
        st, ss = stride[0], stride[1]
        self.temporal = nn.Conv3d(dim_in, dim_mid, (3, 1, 1), (st, 1, 1), (1, 0, 0), bias=False)
        self.bn = norm(dim_mid)
        self.relu = activation()
        self.spatial = nn.Conv3d(dim_mid, dim_out, (1, 3, 3), (1, ss, ss), (0, 1, 1), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.relu(self.bn(self.temporal(x))))


def conv2plus1d(dim: int, stride: Sequence[int], *, norm: Norm = batch_norm3d, activation: Act = relu) -> nn.Module:
    return Conv2Plus1d(dim, dim, stride, norm=norm, activation=activation)


CONV_B: dict[str, ConvB] = {"depthwise": depthwise_conv, "2plus1d": conv2plus1d}


class Bottleneck(nn.Module):
    """``act(shortcut(x) + bn_c(conv_c(act(bn_b(conv_b(act(bn_a(conv_a(x)))))))))``.

    conv_a and conv_c are 1x1x1; the block's stride sits on conv_b, and the
    shortcut (``proj`` + ``proj_bn``, present when shape changes) uses it too.
    """

    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, stride: Sequence[int], conv_b: ConvB,
                 *, norm: Norm = batch_norm3d, activation: Act = relu):
        super().__init__()
        stride = triple(stride)
        self.conv_a = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.bn_a = norm(dim_inner)
        self.relu_a = activation()
        self.conv_b = conv_b(dim_inner, stride, norm=norm, activation=activation)
        self.bn_b = norm(dim_inner)
        self.relu_b = activation()
        self.conv_c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.bn_c = norm(dim_out)
        setattr(self.bn_c, "transform_final_bn", True)  # read by init_weights (a plain attribute, not a Module)
        if dim_in != dim_out or stride != (1, 1, 1):
            self.proj = nn.Conv3d(dim_in, dim_out, 1, stride, bias=False)
            self.proj_bn = norm(dim_out)
        self.relu = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.proj_bn(self.proj(x)) if hasattr(self, "proj") else x
        y = self.relu_a(self.bn_a(self.conv_a(x)))
        y = self.relu_b(self.bn_b(self.conv_b(y)))
        y = self.bn_c(self.conv_c(y))
        return self.relu(shortcut + y)


class Stage(nn.Module):
    """Blocks ``block0``, ``block1``, ...; the first carries the stride."""

    def __init__(self, num_blocks: int, dim_in: int, dim_out: int, dim_inner: int, stride: Sequence[int],
                 conv_b: ConvB, **block_options):
        super().__init__()
        self.num_blocks = num_blocks
        for i in range(num_blocks):
            self.add_module(f"block{i}", Bottleneck(dim_in if i == 0 else dim_out, dim_out, dim_inner,
                                                    stride if i == 0 else (1, 1, 1), conv_b, **block_options))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.num_blocks):
            x = getattr(self, f"block{i}")(x)
        return x


class BottleneckResNet(VideoClassifier, nn.Module):
    """Single-pathway bottleneck 3D ResNet, pytorchvideo's CSN / R(2+1)D layout.

    Args:
        num_classes: output logits.
        stage_blocks: blocks in res2..res5.
        conv_b: the middle conv, ``"depthwise"`` (CSN), ``"2plus1d"``
            (R(2+1)D) or a callable ``(dim, stride, norm=, activation=)``.
        stem_kernel / stem_pool: stem conv kernel (stride 1x2x2) and whether a
            1x3x3 max-pool (stride 1x2x2) follows.
        spatial_strides / temporal_strides: per stage, on conv_b and the shortcut.
        width: stem channels; stage outputs are 4 * width * 2**i, inner width 1/4.
        dropout: before the projection.
        zero_init_final_bn: zero the last BN of each residual branch (pytorchvideo does).
    """

    def __init__(
        self,
        num_classes: int = 400,
        *,
        stage_blocks: Sequence[int] = (3, 4, 6, 3),
        conv_b: str | ConvB = "depthwise",
        stem_kernel: Sequence[int] = (3, 7, 7),
        stem_pool: bool = True,
        spatial_strides: Sequence[int] = (1, 2, 2, 2),
        temporal_strides: Sequence[int] = (1, 2, 2, 2),
        width: int = 64,
        in_channels: int = 3,
        dropout: float = 0.0,
        zero_init_final_bn: bool = True,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
    ):
        super().__init__()
        if isinstance(conv_b, str):
            if conv_b not in CONV_B:
                raise ValueError(f"conv_b must be one of {sorted(CONV_B)} or a callable, got {conv_b!r}")
            conv_b = CONV_B[conv_b]
        check_stage_options(len(stage_blocks), spatial_strides=spatial_strides, temporal_strides=temporal_strides)
        self.stem = ResNetStem(in_channels, width, stem_kernel, (1, 2, 2), pool=stem_pool, norm=norm,
                               activation=activation)
        self.num_stages = len(stage_blocks)
        dim_in = width
        for i, (n, ss, ts) in enumerate(zip(stage_blocks, spatial_strides, temporal_strides)):
            dim_out = 4 * width * 2**i
            self.add_module(f"res{i + 2}", Stage(n, dim_in, dim_out, dim_out // 4, (ts, ss, ss), conv_b,
                                                 norm=norm, activation=activation))
            dim_in = dim_out
        self.feature_dim = dim_in
        self.head = ClassificationHead(dim_in, num_classes, dropout)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    def forward_maps(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        y: torch.Tensor = self.stem(single_pathway(x))
        for i in range(self.num_stages):
            y = getattr(self, f"res{i + 2}")(y)
        return y

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head.features(self.forward_maps(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.classify(features)


R50_BLOCKS = (3, 4, 6, 3)
R101_BLOCKS = (3, 4, 23, 3)


# pytorchvideo model zoo, Kinetics-400 (docs/source/model_zoo.md): CSN R101 32x2,
# 77.00 top-1, trained 224, tested with 3 x 10 views of 256 crops.
@register_model(
    "csn_r101", family="csn", num_frames=32, sampling_rate=2, crop_size=224, test_crop_size=256,
    aliases=("csn_r101_32x2",),
    description="ir-CSN ResNet-101 32x2 (pytorchvideo csn_r101 / CSN_32x2_R101), readable keys",
)
def csn_r101(num_classes: int = 400, **kw) -> BottleneckResNet:
    """ir-CSN-101 as pytorchvideo's hub ``csn_r101`` (CSN_32x2_R101): no dropout."""
    kw.setdefault("dropout", 0.0)
    return BottleneckResNet(num_classes, stage_blocks=R101_BLOCKS, conv_b="depthwise", stem_kernel=(3, 7, 7),
                            stem_pool=True, spatial_strides=(1, 2, 2, 2), temporal_strides=(1, 2, 2, 2), **kw)
