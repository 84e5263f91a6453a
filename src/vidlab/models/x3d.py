"""X3D (Feichtenhofer, CVPR 2020) in PySlowFast's layout: X3D-XS, S, M and L.

X3D expands a tiny 2D-like base network along a few axes. What sets the four
zoo models apart is only the depth factor (XS/S/M: 2.2, L: 5.0) and the clip
they are fed (frames x sampling rate and crop, on :class:`ModelSpec`):

- XS: depth 2.2 (blocks 3,5,11,7), clip 4 x 12, crop 160 train / 182 test
- S: depth 2.2 (blocks 3,5,11,7), clip 13 x 6, crop 160 / 182
- M: depth 2.2 (blocks 3,5,11,7), clip 16 x 5, crop 224 / 256
- L: depth 5.0 (blocks 5,10,25,15), clip 16 x 5, crop 312 / 356

(PySlowFast ``configs/Kinetics/X3D_{XS,S,M,L}.yaml``.) Every model has width
factor 2.0 (stem 24 channels, stages 24/48/96/192), bottleneck factor 2.25
(inner widths 54/108/216/432), a channel-wise (depthwise) 3x3x3 conv in every
block, squeeze-excitation (ratio 1/16, rounded to multiples of 8) on the blocks
with an even index inside each stage, and Swish after the 3x3x3 conv.

Parameter names follow PySlowFast exactly (``s1.pathway0_stem.conv_xy``,
``s2.pathway0_res0.branch2.se.fc1``, ``head.conv_5``, ``head.lin_5``,
``head.projection``), so PySlowFast X3D checkpoints load with ``strict=True``
and no key mapping (pytorchvideo checkpoints go through
:mod:`vidlab.convert.ptv_x3d`).

Differences from PySlowFast, on purpose:

- Swish is ``nn.SiLU`` (the same function, without PySlowFast's custom
  autograd ``Function``), so ONNX/TorchScript/``torch.export`` see a standard op.
- The head pools globally (adaptive average) where PySlowFast uses an
  ``AvgPool3d`` whose kernel ``(T, ceil(crop/32), ceil(crop/32))`` is fixed from
  the training crop. At the crop a model was built for the two pools cover the
  same whole ``T x ceil(S/32) x ceil(S/32)`` map, so the logits are identical;
  at any other size vidlab still returns one pooled prediction, whereas
  PySlowFast slides its fixed window (fully-convolutional test) and averages
  the softmax over the window positions.
- The model returns logits; PySlowFast's head applies a softmax in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import Act, Norm, batch_norm3d, check_stage_options, relu, single_pathway
from vidlab.models.registry import register_model
from vidlab.models.resnet3d import VideoStem, init_weights

STAGE_BLOCKS = (1, 2, 5, 3)  # X3D's base depths of res2..res5, before the depth factor


def swish() -> nn.Module:
    return nn.SiLU()


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """Scale a channel count and round it to a multiple of ``divisor`` (never
    below ``min_width``, never more than 10% under the exact value): the rule of
    PySlowFast and pytorchvideo."""
    if not multiplier:
        return int(width)
    width = width * multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def round_repeats(repeats: int, multiplier: float) -> int:
    """Scale a block count by the depth factor, rounding up."""
    return repeats if not multiplier else math.ceil(multiplier * repeats)


class X3DStem(nn.Module):
    """1x3x3 conv (stride 1x2x2, ``conv_xy``) -> channel-wise kTx1x1 conv (``conv``) -> norm -> act."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temporal_kernel: int = 5,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
    ):
        super().__init__()
        self.conv_xy = nn.Conv3d(in_channels, out_channels, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False)
        self.conv = nn.Conv3d(out_channels, out_channels, (temporal_kernel, 1, 1), 1, (temporal_kernel // 2, 0, 0),
                              groups=out_channels, bias=False)
        self.bn = norm(out_channels)
        self.relu = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(self.conv_xy(x))))


class SqueezeExcite(nn.Module):
    """Global average -> 1x1x1 conv ``fc1`` -> ReLU -> ``fc2`` -> sigmoid, used as a channel gate."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        hidden = round_width(channels, ratio)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Conv3d(channels, hidden, 1, bias=True)
        self.fc1_act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(hidden, channels, 1, bias=True)
        self.fc2_sig = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2_sig(self.fc2(self.fc1_act(self.fc1(self.avg_pool(x)))))
        return x * gate


class X3DTransform(nn.Module):
    """1x1x1 -> kTx3x3 (channel-wise, strided) -> [SE] -> Swish -> 1x1x1, PySlowFast's ``X3DTransform``."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        temporal_kernel: int,
        stride: int,
        *,
        se_ratio: float = 0.0625,
        channelwise: bool = True,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
        inner_activation: Act = swish,
    ):
        super().__init__()
        self.a = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.a_bn = norm(dim_inner)
        self.a_relu = activation()
        self.b = nn.Conv3d(dim_inner, dim_inner, (temporal_kernel, 3, 3), (1, stride, stride),
                           (temporal_kernel // 2, 1, 1), groups=dim_inner if channelwise else 1, bias=False)
        self.b_bn = norm(dim_inner)
        self.se = SqueezeExcite(dim_inner, se_ratio) if se_ratio > 0 else None
        self.b_relu = inner_activation()
        self.c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.c_bn = norm(dim_out)
        setattr(self.c_bn, "transform_final_bn", True)  # read by init_weights (a plain attribute, not a Module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_bn(self.b(x))
        if self.se is not None:
            x = self.se(x)
        return self.c_bn(self.c(self.b_relu(x)))


class X3DBlock(nn.Module):
    """``act(shortcut + branch2(x))``; the shortcut projects (1x1x1 conv + norm) when shape changes."""

    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, temporal_kernel: int, stride: int, **options):
        super().__init__()
        norm = options.get("norm", batch_norm3d)
        if dim_in != dim_out or stride != 1:
            self.branch1 = nn.Conv3d(dim_in, dim_out, 1, (1, stride, stride), bias=False)
            self.branch1_bn = norm(dim_out)
        self.branch2 = X3DTransform(dim_in, dim_out, dim_inner, temporal_kernel, stride, **options)
        self.relu = options.get("activation", relu)()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return self.relu(shortcut + self.branch2(x))


class X3DStage(nn.Module):
    """``num_blocks`` blocks named ``pathway0_res{i}``; SE on the blocks with an even index."""

    def __init__(self, dim_in: int, dim_out: int, dim_inner: int, num_blocks: int, temporal_kernel: int, stride: int,
                 *, se_ratio: float = 0.0625, **options):
        super().__init__()
        self.num_blocks = num_blocks
        for i in range(num_blocks):
            block = X3DBlock(dim_in if i == 0 else dim_out, dim_out, dim_inner, temporal_kernel,
                             stride if i == 0 else 1, se_ratio=se_ratio if i % 2 == 0 else 0.0, **options)
            self.add_module(f"pathway0_res{i}", block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.num_blocks):
            x = getattr(self, f"pathway0_res{i}")(x)
        return x


class X3DHead(nn.Module):
    """1x1x1 ``conv_5`` -> norm -> ReLU -> global average -> ``lin_5`` (to ``dim_out``) -> [norm] -> ReLU
    -> dropout -> ``projection`` (logits)."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, num_classes: int, *, dropout: float = 0.5,
                 bn_lin5: bool = False, norm: Norm = batch_norm3d):
        super().__init__()
        self.conv_5 = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.conv_5_bn = norm(dim_inner)
        self.conv_5_relu = nn.ReLU(inplace=True)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.lin_5 = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.lin_5_bn = norm(dim_out) if bn_lin5 else nn.Identity()
        self.lin_5_relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(dim_out, num_classes, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """conv_5 -> pool -> lin_5: the ``(B, dim_c5)`` vector the projection classifies."""
        x = self.avg_pool(self.conv_5_relu(self.conv_5_bn(self.conv_5(x))))
        return self.lin_5_relu(self.lin_5_bn(self.lin_5(x))).flatten(1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


class X3D(VideoClassifier, nn.Module):
    """X3D network (PySlowFast ``X3D`` with ``MODEL.ARCH: x3d``).

    Args:
        num_classes: output logits.
        width_factor: channel expansion (``X3D.WIDTH_FACTOR``, 2.0 in the zoo).
        depth_factor: block-count expansion of the base depths 1,2,5,3
            (``X3D.DEPTH_FACTOR``: 2.2 for XS/S/M, 5.0 for L).
        bottleneck_factor: inner width of a block over its output width
            (``X3D.BOTTLENECK_FACTOR``, 2.25).
        dim_c1: base width before expansion (``X3D.DIM_C1``, 12).
        dim_c5: width of ``head.lin_5`` (``X3D.DIM_C5``, 2048).
        scale_res2: double the res2 base width as the later stages do
            (``X3D.SCALE_RES2``, off).
        channelwise: depthwise 3x3x3 convs (``X3D.CHANNELWISE_3x3x3``, on).
        se_ratio: SE width over the block's inner width (0 turns SE off).
        stem_temporal_kernel / temporal_kernel: temporal extent of the stem's
            channel-wise conv (5) and of every block's 3x3x3 conv (3).
        dropout: before ``head.projection`` (``MODEL.DROPOUT_RATE``, 0.5).
        bn_lin5: a norm after ``head.lin_5`` (``X3D.BN_LIN5``, off).
        norm / activation / inner_activation: callables building the norm
            layer (from a channel count), the ReLUs and the Swish after the
            3x3x3 conv (``nn.SiLU``).

    The clip length does not enter the network (the head pools adaptively), so
    it lives on the registry entry, not here.
    """

    def __init__(
        self,
        num_classes: int = 400,
        *,
        width_factor: float = 2.0,
        depth_factor: float = 2.2,
        bottleneck_factor: float = 2.25,
        dim_c1: int = 12,
        dim_c5: int = 2048,
        scale_res2: bool = False,
        channelwise: bool = True,
        se_ratio: float = 0.0625,
        stem_temporal_kernel: int = 5,
        temporal_kernel: int = 3,
        spatial_strides: Sequence[int] = (2, 2, 2, 2),
        in_channels: int = 3,
        dropout: float = 0.5,
        bn_lin5: bool = False,
        zero_init_final_bn: bool = True,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
        inner_activation: Act = swish,
    ):
        super().__init__()
        check_stage_options(len(STAGE_BLOCKS), spatial_strides=spatial_strides)
        dim_stem = round_width(dim_c1, width_factor)
        self.s1 = VideoStem(X3DStem(in_channels, dim_stem, stem_temporal_kernel, norm=norm, activation=activation))
        base = round_width(dim_c1, 2.0) if scale_res2 else dim_c1
        dim_in = dim_stem
        for i, (blocks, stride) in enumerate(zip(STAGE_BLOCKS, spatial_strides)):
            dim_out = round_width(base, width_factor)
            dim_inner = int(bottleneck_factor * dim_out)
            stage = X3DStage(dim_in, dim_out, dim_inner, round_repeats(blocks, depth_factor), temporal_kernel, stride,
                             se_ratio=se_ratio, channelwise=channelwise, norm=norm, activation=activation,
                             inner_activation=inner_activation)
            self.add_module(f"s{i + 2}", stage)
            dim_in = dim_out
            base = round_width(base, 2.0)
        self.map_dim = dim_in  # channels of forward_maps
        self.feature_dim = dim_c5
        self.head = X3DHead(dim_in, dim_inner, dim_c5, num_classes, dropout=dropout, bn_lin5=bn_lin5, norm=norm)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    def forward_maps(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The res5 feature map ``(B, 192 * width / 2, T, ceil(H/32), ceil(W/32))``."""
        y: torch.Tensor = self.s1(single_pathway(x))
        for i in range(len(STAGE_BLOCKS)):
            y = getattr(self, f"s{i + 2}")(y)
        return y

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The head's pooled ``lin_5`` vector ``(B, dim_c5)`` (2048 in the zoo)."""
        return self.head.features(self.forward_maps(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.classify(features)


# Registry entries: clip and crops from PySlowFast configs/Kinetics/X3D_*.yaml
# (DATA.NUM_FRAMES, SAMPLING_RATE, TRAIN_CROP_SIZE, TEST_CROP_SIZE for the
# 3-crop test); Kinetics mean/std 0.45/0.225.

def _spec(label: str, frames: int, rate: int, crop: int, test_crop: int) -> dict:
    return dict(family="x3d", num_frames=frames, sampling_rate=rate, crop_size=crop, test_crop_size=test_crop,
                description=f"{label} (PySlowFast X3D_{label[4:]}, {frames}x{rate}, "
                            f"{crop} px train / {test_crop} px 3-crop test)")


@register_model("x3d_xs", **_spec("X3D-XS", 4, 12, 160, 182))
def x3d_xs(num_classes: int = 400, **kw) -> X3D:
    """X3D-XS: depth factor 2.2 (trained on 4 frames x 160 px)."""
    return X3D(num_classes, **{"depth_factor": 2.2, **kw})


@register_model("x3d_s", **_spec("X3D-S", 13, 6, 160, 182))
def x3d_s(num_classes: int = 400, **kw) -> X3D:
    """X3D-S: the XS network, trained on 13 frames x 160 px."""
    return X3D(num_classes, **{"depth_factor": 2.2, **kw})


@register_model("x3d_m", **_spec("X3D-M", 16, 5, 224, 256))
def x3d_m(num_classes: int = 400, **kw) -> X3D:
    """X3D-M: the XS network, trained on 16 frames x 224 px."""
    return X3D(num_classes, **{"depth_factor": 2.2, **kw})


@register_model("x3d_l", **_spec("X3D-L", 16, 5, 312, 356))
def x3d_l(num_classes: int = 400, **kw) -> X3D:
    """X3D-L: depth factor 5.0 (5/10/25/15 blocks), trained on 16 frames x 312 px."""
    return X3D(num_classes, **{"depth_factor": 5.0, **kw})
