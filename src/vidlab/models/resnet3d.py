"""3D ResNets in PySlowFast's layout: C2D, I3D, Slow, and small variants.

One class, :class:`ResNet3D`, covers the single-pathway ResNet family. What
tells C2D, I3D and Slow apart is only where temporal kernels sit and whether a
temporal max-pool follows res2; both are plain arguments here, and so are the
temporal strides of the stem conv and the stem max-pool (1 in PySlowFast, 2 in
MMAction2's I3D: ``i3d_r50_mmaction2``).

Parameter names follow PySlowFast exactly (``s1.pathway0_stem.conv``,
``s2.pathway0_res0.branch2.a``, ``head.projection``), so its checkpoints load
with ``strict=True`` and no key mapping. The head pools globally (adaptive
average), so any input size works, and the model returns logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import (
    Act,
    ClassificationHead,
    Norm,
    batch_norm3d,
    check_stage_options,
    per_stage,
    relu,
    single_pathway,
    triple,
)
from vidlab.models.nonlocal_block import Nonlocal
from vidlab.models.registry import register_model


class ResNetStem(nn.Module):
    """conv (kT x 7 x 7, stride 1x2x2) -> norm -> act -> max-pool 1x3x3 stride 1x2x2.

    ``stride`` and ``pool_stride`` change the conv's and the max-pool's strides
    (MMAction2's I3D: ``(2, 2, 2)`` for both); the paddings stay ``k // 2`` for
    the conv and ``(0, 1, 1)`` for the pool whatever the strides.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Sequence[int] = (1, 7, 7),
        stride: Sequence[int] = (1, 2, 2),
        pool: bool = True,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
        pool_stride: Sequence[int] = (1, 2, 2),
    ):
        super().__init__()
        padding = [k // 2 for k in kernel]
        self.conv = nn.Conv3d(in_channels, out_channels, triple(kernel), triple(stride), triple(padding), bias=False)
        self.bn = norm(out_channels)
        self.relu = activation()
        self.pool_layer = nn.MaxPool3d((1, 3, 3), triple(pool_stride), (0, 1, 1)) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool_layer(self.relu(self.bn(self.conv(x))))


class BottleneckTransform(nn.Module):
    """1x1x1 (temporal kT) -> 1x3x3 -> 1x1x1, as PySlowFast's ``bottleneck_transform``."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        temporal_kernel: int,
        stride: int,
        *,
        num_groups: int = 1,
        dilation: int = 1,
        stride_1x1: bool = False,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
    ):
        super().__init__()
        s1, s3 = (stride, 1) if stride_1x1 else (1, stride)
        self.a = nn.Conv3d(dim_in, dim_inner, (temporal_kernel, 1, 1), (1, s1, s1), (temporal_kernel // 2, 0, 0), bias=False)
        self.a_bn = norm(dim_inner)
        self.a_relu = activation()
        self.b = nn.Conv3d(
            dim_inner, dim_inner, (1, 3, 3), (1, s3, s3), (0, dilation, dilation),
            groups=num_groups, dilation=(1, dilation, dilation), bias=False,
        )
        self.b_bn = norm(dim_inner)
        self.b_relu = activation()
        self.c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.c_bn = norm(dim_out)
        setattr(self.c_bn, "transform_final_bn", True)  # read by init_weights (a plain attribute, not a Module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class BasicTransform(nn.Module):
    """kT x 3 x 3 -> 1 x 3 x 3, as PySlowFast's ``basic_transform`` (ResNet-10/18/34)."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        temporal_kernel: int,
        stride: int,
        *,
        num_groups: int = 1,
        dilation: int = 1,
        stride_1x1: bool = False,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
    ):
        super().__init__()
        del dim_inner, num_groups, stride_1x1  # a basic block has no inner width
        self.a = nn.Conv3d(dim_in, dim_out, (temporal_kernel, 3, 3), (1, stride, stride),
                           (temporal_kernel // 2, dilation, dilation), dilation=(1, dilation, dilation), bias=False)
        self.a_bn = norm(dim_out)
        self.a_relu = activation()
        self.b = nn.Conv3d(dim_out, dim_out, (1, 3, 3), 1, (0, dilation, dilation), dilation=(1, dilation, dilation), bias=False)
        self.b_bn = norm(dim_out)
        setattr(self.b_bn, "transform_final_bn", True)  # read by init_weights (a plain attribute, not a Module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        return self.b_bn(self.b(x))


TRANSFORMS = {"bottleneck": BottleneckTransform, "basic": BasicTransform}


class ResBlock(nn.Module):
    """Residual block: ``act(branch1(x) + branch2(x))``; branch1 projects when shapes change.

    ``block_options`` (``num_groups``, ``dilation``, ``stride_1x1``, ``norm``,
    ``activation``) go to the transform unchanged.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        temporal_kernel: int,
        stride: int,
        transform: str = "bottleneck",
        **block_options,
    ):
        super().__init__()
        norm = block_options.get("norm", batch_norm3d)
        if dim_in != dim_out or stride != 1:
            self.branch1 = nn.Conv3d(dim_in, dim_out, 1, (1, stride, stride), bias=False)
            self.branch1_bn = norm(dim_out)
        self.branch2 = TRANSFORMS[transform](dim_in, dim_out, dim_inner, temporal_kernel, stride, **block_options)
        self.relu = block_options.get("activation", relu)()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return self.relu(shortcut + self.branch2(x))


def add_pathway_blocks(
    stage: nn.Module,
    pathway: int,
    dim_in: int,
    dim_out: int,
    dim_inner: int,
    temporal_kernels: Sequence[int],
    stride: int,
    transform: str = "bottleneck",
    *,
    nonlocal_inds: Sequence[int] = (),
    nonlocal_pool: Sequence[int] | None = (1, 2, 2),
    nonlocal_group: int = 1,
    nonlocal_instantiation: str = "softmax",
    **block_options,
) -> list[str]:
    """Add one pathway's blocks to ``stage`` with PySlowFast's names and order.

    Block ``i`` is ``pathway{p}_res{i}``; when ``i`` is in ``nonlocal_inds`` a
    :class:`~vidlab.models.nonlocal_block.Nonlocal` named ``pathway{p}_nonlocal{i}``
    (inner width ``dim_out // 2``) follows it. Returns the names in run order.
    """
    num_blocks = len(temporal_kernels)
    bad = [i for i in nonlocal_inds if not 0 <= i < num_blocks]
    if bad:
        raise ValueError(f"non-local index {bad} outside a stage of {num_blocks} blocks")
    norm = block_options.get("norm", batch_norm3d)
    names = []
    for i, kt in enumerate(temporal_kernels):
        block = ResBlock(dim_in if i == 0 else dim_out, dim_out, dim_inner, kt, stride if i == 0 else 1, transform,
                         **block_options)
        names.append(f"pathway{pathway}_res{i}")
        stage.add_module(names[-1], block)
        if i in nonlocal_inds:
            names.append(f"pathway{pathway}_nonlocal{i}")
            stage.add_module(names[-1], Nonlocal(dim_out, dim_out // 2, nonlocal_pool, nonlocal_instantiation,
                                                 nonlocal_group, norm=norm))
    return names


class ResStage(nn.Module):
    """A stage of residual blocks named ``pathway0_res{i}`` (options as :class:`ResBlock`).

    ``nonlocal_inds`` lists the blocks followed by a non-local block
    ``pathway0_nonlocal{i}`` (PySlowFast ``NONLOCAL.LOCATION`` for this stage);
    ``nonlocal_pool``, ``nonlocal_group`` and ``nonlocal_instantiation`` are
    PySlowFast's ``NONLOCAL.POOL``, ``GROUP`` and ``INSTANTIATION``.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        dim_inner: int,
        temporal_kernels: Sequence[int],
        stride: int,
        transform: str = "bottleneck",
        *,
        nonlocal_inds: Sequence[int] = (),
        nonlocal_pool: Sequence[int] | None = (1, 2, 2),
        nonlocal_group: int = 1,
        nonlocal_instantiation: str = "softmax",
        **block_options,
    ):
        super().__init__()
        self.num_blocks = len(temporal_kernels)
        self.layer_names = add_pathway_blocks(
            self, 0, dim_in, dim_out, dim_inner, temporal_kernels, stride, transform,
            nonlocal_inds=nonlocal_inds, nonlocal_pool=nonlocal_pool, nonlocal_group=nonlocal_group,
            nonlocal_instantiation=nonlocal_instantiation, **block_options,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.layer_names:
            x = getattr(self, name)(x)
        return x


class VideoStem(nn.Module):
    """Holds ``pathway0_stem`` so the keys read ``s1.pathway0_stem.*``."""

    def __init__(self, stem: nn.Module):
        super().__init__()
        self.pathway0_stem = stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pathway0_stem(x)


def expand_temporal_kernels(basis: Sequence[int], num_blocks: int, num_block_temp_kernel: int | None = None) -> list[int]:
    """PySlowFast's rule: repeat ``basis`` over the blocks, keep the first
    ``num_block_temp_kernel`` and give the remaining blocks kernel 1."""
    n = num_blocks if num_block_temp_kernel is None else min(num_block_temp_kernel, num_blocks)
    return (list(basis) * num_blocks)[:n] + [1] * (num_blocks - n)


class ResNet3D(VideoClassifier, nn.Module):
    """Single-pathway 3D ResNet (C2D / I3D / Slow and reduced variants).

    Args:
        num_classes: output logits.
        stage_blocks: blocks in res2..res5 (R50: ``(3, 4, 6, 3)``).
        temporal_kernels: per stage, the temporal kernel of every block
            (see :func:`expand_temporal_kernels`).
        stem_kernel: stem conv kernel ``(kT, 7, 7)``.
        stem_temporal_stride: temporal stride of the stem conv (1 in
            PySlowFast; 2 in MMAction2's I3D, its ``conv1_stride_t``).
        stem_pool: the 1x3x3 max-pool after the stem conv (off for tiny inputs).
        stem_pool_temporal_stride: temporal stride of that max-pool (1 in
            PySlowFast; 2 in MMAction2's I3D, its ``pool1_stride_t``; not to be
            confused with ``pool1_temporal``, PySlowFast's pool after res2).
        pool1_temporal: temporal stride of the max-pool after res2 (2 for
            C2D/I3D, 1 for Slow).
        width: channels after the stem (``WIDTH_PER_GROUP``); stage widths
            double from res2 on, bottleneck outputs are 4x.
        transform: ``"bottleneck"`` or ``"basic"``.
        nonlocal_location: per stage, the indices of the blocks followed by a
            non-local block (PySlowFast ``NONLOCAL.LOCATION`` without the
            pathway level; I3D-NLN: ``((), (1, 3), (1, 3, 5), ())``).
        nonlocal_pool: max-pool kernel on the non-local keys/values, one
            ``(t, h, w)`` for all stages or one per stage.
        nonlocal_group: temporal groups of the non-local blocks, one int or
            one per stage.
        nonlocal_instantiation: ``"softmax"`` or ``"dot_product"``.
    """

    def __init__(
        self,
        num_classes: int = 400,
        *,
        stage_blocks: Sequence[int] = (3, 4, 6, 3),
        temporal_kernels: Sequence[Sequence[int]] | None = None,
        stem_kernel: Sequence[int] = (1, 7, 7),
        stem_temporal_stride: int = 1,
        stem_pool: bool = True,
        stem_pool_temporal_stride: int = 1,
        pool1_temporal: int = 1,
        width: int = 64,
        num_groups: int = 1,
        transform: str = "bottleneck",
        spatial_strides: Sequence[int] = (1, 2, 2, 2),
        spatial_dilations: Sequence[int] = (1, 1, 1, 1),
        stride_1x1: bool = False,
        in_channels: int = 3,
        dropout: float = 0.5,
        zero_init_final_bn: bool = True,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
        nonlocal_location: Sequence[Sequence[int]] | None = None,
        nonlocal_pool: Sequence[int] | Sequence[Sequence[int]] | None = (1, 2, 2),
        nonlocal_group: int | Sequence[int] = 1,
        nonlocal_instantiation: str = "softmax",
    ):
        super().__init__()
        num_stages = len(stage_blocks)
        check_stage_options(num_stages, spatial_strides=spatial_strides, spatial_dilations=spatial_dilations)
        nl_location = per_stage(nonlocal_location, num_stages, ())
        nl_pool = per_stage(nonlocal_pool, num_stages, None, flat_kernel=True)
        nl_group = per_stage(nonlocal_group, num_stages, 1)
        if temporal_kernels is None:
            temporal_kernels = [[1] * n for n in stage_blocks]
        if [len(k) for k in temporal_kernels] != list(stage_blocks):
            raise ValueError("temporal_kernels must give one kernel per block of every stage")
        expansion = 4 if transform == "bottleneck" else 1
        self.num_stages = num_stages
        self.s1 = VideoStem(ResNetStem(in_channels, width, stem_kernel, (stem_temporal_stride, 2, 2), pool=stem_pool,
                                       norm=norm, activation=activation,
                                       pool_stride=(stem_pool_temporal_stride, 2, 2)))
        dim_in = width
        inner = num_groups * width if transform == "bottleneck" else width
        for i, (kernels, stride, dilation) in enumerate(zip(temporal_kernels, spatial_strides, spatial_dilations)):
            dim_out = width * expansion * 2**i
            stage = ResStage(
                dim_in, dim_out, inner * 2**i, kernels, stride, transform,
                nonlocal_inds=nl_location[i], nonlocal_pool=nl_pool[i], nonlocal_group=nl_group[i],
                nonlocal_instantiation=nonlocal_instantiation,
                num_groups=num_groups, dilation=dilation, stride_1x1=stride_1x1, norm=norm, activation=activation,
            )
            self.add_module(f"s{i + 2}", stage)
            if i == 0:
                p = (pool1_temporal, 1, 1)
                self.pathway0_pool = nn.MaxPool3d(p, p, 0) if pool1_temporal > 1 else nn.Identity()
            dim_in = dim_out
        self.feature_dim = dim_in
        self.head = ClassificationHead(dim_in, num_classes, dropout)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    def forward_maps(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """The last stage's feature map ``(B, feature_dim, T', H', W')`` (what a detection head pools)."""
        y: torch.Tensor = self.s1(single_pathway(x))
        for i in range(self.num_stages):
            y = getattr(self, f"s{i + 2}")(y)
            if i == 0:
                y = self.pathway0_pool(y)
        return y

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head.features(self.forward_maps(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.classify(features)


def init_weights(model: nn.Module, fc_init_std: float = 0.01, zero_init_final_bn: bool = True) -> None:
    """PySlowFast's initialisation: MSRA-fill convs, unit BN (zero for the last BN
    of each residual branch), small normal linear layers."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            final = getattr(m, "transform_final_bn", False) and zero_init_final_bn
            nn.init.constant_(m.weight, 0.0 if final else 1.0)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=fc_init_std)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------
# Temporal kernel bases (PySlowFast's _TEMPORAL_KERNEL_BASIS) and builders.

R50_BLOCKS = (3, 4, 6, 3)
R101_BLOCKS = (3, 4, 23, 3)


def _kernels(bases: Sequence[Sequence[int]], blocks: Sequence[int]) -> list[list[int]]:
    return [expand_temporal_kernels(b, n) for b, n in zip(bases, blocks)]


def c2d_resnet(num_classes: int = 400, blocks: Sequence[int] = R50_BLOCKS, **kw) -> ResNet3D:
    """C2D: 2D convolutions only, temporal max-pool (stride 2) after res2."""
    kw.setdefault("pool1_temporal", 2)
    return ResNet3D(num_classes, stage_blocks=blocks, temporal_kernels=_kernels([[1]] * 4, blocks),
                    stem_kernel=(1, 7, 7), **kw)


def i3d_resnet(num_classes: int = 400, blocks: Sequence[int] = R50_BLOCKS, **kw) -> ResNet3D:
    """I3D: 5x7x7 stem, temporal kernels 3 in alternate blocks (3 / 3,1 / 3,1 / 1,3)."""
    kw.setdefault("pool1_temporal", 2)
    return ResNet3D(num_classes, stage_blocks=blocks, temporal_kernels=_kernels([[3], [3, 1], [3, 1], [1, 3]], blocks),
                    stem_kernel=(5, 7, 7), **kw)


def i3d_nl_resnet(num_classes: int = 400, blocks: Sequence[int] = R50_BLOCKS, **kw) -> ResNet3D:
    """I3D with non-local blocks (PySlowFast c2/I3D_NLN_8x8_R50): after blocks
    1, 3 of res3 and 1, 3, 5 of res4, embedded-Gaussian (softmax), keys and
    values max-pooled 1x2x2."""
    kw.setdefault("nonlocal_location", ((), (1, 3), (1, 3, 5), ()))
    kw.setdefault("nonlocal_pool", (1, 2, 2))
    kw.setdefault("nonlocal_instantiation", "softmax")
    return i3d_resnet(num_classes, blocks, **kw)


def slow_resnet(num_classes: int = 400, blocks: Sequence[int] = R50_BLOCKS, **kw) -> ResNet3D:
    """Slow pathway alone: temporal kernels only in res4 and res5, no temporal pooling."""
    kw.setdefault("pool1_temporal", 1)
    return ResNet3D(num_classes, stage_blocks=blocks, temporal_kernels=_kernels([[1], [1], [3], [3]], blocks),
                    stem_kernel=(1, 7, 7), **kw)


# ----------------------------------------------------------------------------
# Registered architectures.

# Tiny models for the synthetic demo: ResNet-10 layout (basic blocks, one per
# stage) at width 16, sized for 64x64 inputs on a laptop CPU. Both share every
# block; the only difference is where time is mixed.
_TINY = dict(num_frames=8, sampling_rate=4, crop_size=56, test_crop_size=56, mean=(0.5, 0.5, 0.5),
             std=(0.25, 0.25, 0.25))


def _tiny(num_classes: int, temporal: int, **kw) -> ResNet3D:
    kw = {"stage_blocks": (1, 1, 1, 1), "transform": "basic", "width": 16, "temporal_kernels": [[temporal]] * 4,
          "stem_kernel": (temporal, 7, 7), "pool1_temporal": 1, "dropout": 0.2, **kw}
    return ResNet3D(num_classes, **kw)


@register_model("c2d_r10_tiny", family="c2d", **_TINY,
                description="order-blind baseline: 2D ResNet-10 per frame + temporal average (width 16)")
def c2d_r10_tiny(num_classes: int = 400, **kw) -> ResNet3D:
    """The demo's baseline: every kernel 1 in time, features averaged over frames."""
    return _tiny(num_classes, 1, **kw)


@register_model("i3d_r10_tiny", family="i3d", **_TINY,
                description="small temporal model: ResNet-10 with 3x7x7 stem and temporal kernels in every block "
                            "(width 16)")
def i3d_r10_tiny(num_classes: int = 400, **kw) -> ResNet3D:
    """The demo's temporal model: temporal kernel 3 in the stem and every block."""
    return _tiny(num_classes, 3, **kw)


# PySlowFast Kinetics-400 ResNet-50 models (same keys as PySlowFast checkpoints).
_K400_R50 = dict(crop_size=224, test_crop_size=256)


@register_model("c2d_r50", family="c2d", num_frames=8, sampling_rate=8, aliases=("c2d_r50_8x8",), **_K400_R50,
                description="C2D ResNet-50 (PySlowFast C2D_8x8_R50)")
def c2d_r50(num_classes: int = 400, **kw) -> ResNet3D:
    return c2d_resnet(num_classes, **kw)


@register_model("c2d_nopool_r50_8x8", family="c2d", num_frames=8, sampling_rate=8, **_K400_R50,
                description="C2D ResNet-50 without the temporal pool (PySlowFast c2/C2D_NOPOOL_8x8_R50)")
def c2d_nopool_r50_8x8(num_classes: int = 400, **kw) -> ResNet3D:
    """PySlowFast's published C2D (``MODEL.ARCH: c2d_nopool``): :func:`c2d_r50`'s weights and layout,
    with no temporal max-pool after res2, so all 8 frames reach res5 (twice the FLOPs after res2)."""
    kw.setdefault("pool1_temporal", 1)
    return c2d_resnet(num_classes, **kw)


@register_model("i3d_r50", family="i3d", num_frames=8, sampling_rate=8, aliases=("i3d_r50_8x8",), **_K400_R50,
                description="I3D ResNet-50 (PySlowFast I3D_8x8_R50)")
def i3d_r50(num_classes: int = 400, **kw) -> ResNet3D:
    return i3d_resnet(num_classes, **kw)


# MMAction2's ResNet3d models normalise with ImageNet's statistics (its data_preprocessor: mean 123.675,
# 116.28, 103.53 and std 58.395, 57.12, 57.375 on 0..255 RGB), here on [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@register_model("i3d_r50_mmaction2", family="i3d", num_frames=32, sampling_rate=2, crop_size=224, test_crop_size=256,
                mean=IMAGENET_MEAN, std=IMAGENET_STD,
                description="I3D ResNet-50 as MMAction2's i3d_r50 (32x2x1 Kinetics config): i3d_r50 with temporal "
                            "stride 2 in the stem conv and the stem max-pool")
def i3d_r50_mmaction2(num_classes: int = 400, **kw) -> ResNet3D:
    """MMAction2's I3D R50 (``configs/_base_/models/i3d_r50.py``): :func:`i3d_r50`'s layers and keys, with
    ``conv1_stride_t=2`` (5x7x7 conv, stride 2x2x2, padding 2x3x3) and ``pool1_stride_t=2`` (1x3x3 max-pool,
    stride 2x2x2, padding 0x1x1), then the 2x1x1 max-pool after res2 (``with_pool2``): T / 8 frames reach res5
    (4 of 32), where :func:`i3d_r50` keeps T / 2."""
    kw.setdefault("stem_temporal_stride", 2)
    kw.setdefault("stem_pool_temporal_stride", 2)
    return i3d_resnet(num_classes, **kw)


@register_model("i3d_nl_r50", family="i3d", num_frames=8, sampling_rate=8, **_K400_R50,
                aliases=("i3d_nln_r50", "i3d_nln_r50_8x8"),
                description="I3D ResNet-50 + 5 non-local blocks (PySlowFast c2/I3D_NLN_8x8_R50)")
def i3d_nl_r50(num_classes: int = 400, **kw) -> ResNet3D:
    return i3d_nl_resnet(num_classes, **kw)


@register_model("slow_r50_8x8", family="slow", num_frames=8, sampling_rate=8, aliases=("slow_r50",), **_K400_R50,
                description="Slow-only ResNet-50 8x8 (PySlowFast SLOW_8x8_R50)")
def slow_r50_8x8(num_classes: int = 400, **kw) -> ResNet3D:
    return slow_resnet(num_classes, **kw)


@register_model("slow_r50_4x16", family="slow", num_frames=4, sampling_rate=16, **_K400_R50,
                description="Slow-only ResNet-50 4x16 (PySlowFast SLOW_4x16_R50)")
def slow_r50_4x16(num_classes: int = 400, **kw) -> ResNet3D:
    return slow_resnet(num_classes, **kw)
