"""SlowFast networks (Feichtenhofer et al., ICCV 2019) in PySlowFast's layout.

Two ResNet pathways see the same clip: the Slow pathway at ``T / alpha``
frames with full width, the Fast pathway at ``T`` frames with ``1 / beta_inv``
of the channels and temporal kernels from the stem on. After the stem and
after res2, res3 and res4 a lateral connection (``s{k}_fuse``: a ``kT x 1 x 1``
conv with temporal stride ``alpha``, BN, ReLU) turns Fast features into
``fusion_conv_channel_ratio`` times their channels at the Slow frame rate and
concatenates them to the Slow features. With ``lateral_norm=False`` the lateral
is the bare conv (no BN, no ReLU), as in MMAction2's default SlowFast
(``slowfast_r50_4x16_mmaction2``, ``slowfast_r50_8x8_mmaction2``).

Parameter names are PySlowFast's (``s1.pathway0_stem.conv``,
``s1_fuse.conv_f2s``, ``s2.pathway1_res0.branch2.a``,
``s3.pathway0_nonlocal1.conv_theta``, ``head.projection``), so its checkpoints
load with ``strict=True`` and no key mapping.

Input: a list ``[slow, fast]`` of ``(B, 3, T, H, W)`` tensors (PySlowFast's
order), or one fast-rate tensor, from which the Slow input is taken with
PySlowFast's rule ``fast.index_select(2, linspace(0, T - 1, T // alpha).long())``.
The head pools each pathway globally (adaptive average), concatenates, applies
dropout and ``head.projection`` and returns logits, so any spatial size works.
PySlowFast's own head uses a fixed average-pool kernel computed from the
training crop (and a softmax in eval mode); at the training crop the two are
the same function up to the softmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import Act, Norm, batch_norm3d, check_stage_options, per_stage, relu
from vidlab.models.registry import register_model
from vidlab.models.resnet3d import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    R50_BLOCKS,
    R101_BLOCKS,
    ResNetStem,
    add_pathway_blocks,
    expand_temporal_kernels,
    init_weights,
)

NUM_PATHWAYS = 2  # pathway0 = Slow, pathway1 = Fast


def pack_pathways(frames: torch.Tensor, alpha: int) -> list[torch.Tensor]:
    """``[slow, fast]`` from one fast-rate clip ``(B, C, T, H, W)`` (PySlowFast's
    ``pack_pathway_output``): the Slow pathway takes ``T // alpha`` frames
    evenly spread from the first to the last."""
    t = frames.shape[2]
    if t < alpha:
        raise ValueError(f"SlowFast needs at least alpha={alpha} frames, got a clip of {t}")
    index = torch.linspace(0, t - 1, t // alpha, device=frames.device).long()
    return [frames.index_select(2, index), frames]


class FuseFastToSlow(nn.Module):
    """Lateral connection: ``cat([slow, relu(bn(conv_f2s(fast)))])``; fast passes through.

    ``lateral_norm=False``: ``cat([slow, conv_f2s(fast)])``, no BN (so no ``bn.*``
    keys) and no ReLU (MMAction2's ``ResNet3dPathway(lateral_norm=False)``).
    """

    def __init__(
        self,
        dim_in: int,
        fusion_conv_channel_ratio: int,
        fusion_kernel: int,
        alpha: int,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
        lateral_norm: bool = True,
    ):
        super().__init__()
        dim_out = dim_in * fusion_conv_channel_ratio
        self.conv_f2s = nn.Conv3d(dim_in, dim_out, (fusion_kernel, 1, 1), (alpha, 1, 1), (fusion_kernel // 2, 0, 0),
                                  bias=False)
        self.bn = norm(dim_out) if lateral_norm else nn.Identity()
        self.relu = activation() if lateral_norm else nn.Identity()

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        slow, fast = x
        fuse = self.relu(self.bn(self.conv_f2s(fast)))
        if fuse.shape[2:] != slow.shape[2:]:
            raise ValueError(
                f"SlowFast fusion: the Fast pathway gives {tuple(fuse.shape[2:])} (T, H, W) at the Slow rate but the "
                f"Slow pathway has {tuple(slow.shape[2:])}; feed T_fast = alpha * T_slow frames (T a multiple of "
                f"alpha for a single tensor)"
            )
        return [torch.cat([slow, fuse], 1), fast]


class MultiPathwayStem(nn.Module):
    """Holds ``pathway{p}_stem`` so the keys read ``s1.pathway0_stem.*`` and ``s1.pathway1_stem.*``."""

    def __init__(self, stems: Sequence[nn.Module]):
        super().__init__()
        self.num_pathways = len(stems)
        for p, stem in enumerate(stems):
            self.add_module(f"pathway{p}_stem", stem)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        return [getattr(self, f"pathway{p}_stem")(x[p]) for p in range(self.num_pathways)]


class MultiPathwayStage(nn.Module):
    """One ResNet stage for every pathway, in PySlowFast's key order: all of
    ``pathway0_res{i}`` (with ``pathway0_nonlocal{i}`` after chosen blocks),
    then all of ``pathway1_res{i}``.

    Per-pathway arguments are sequences with one entry per pathway;
    ``block_options`` (``num_groups``, ``stride_1x1``, ``norm``,
    ``activation``) are shared.
    """

    def __init__(
        self,
        dims_in: Sequence[int],
        dims_out: Sequence[int],
        dims_inner: Sequence[int],
        temporal_kernels: Sequence[Sequence[int]],
        stride: int,
        transform: str = "bottleneck",
        *,
        dilation: int = 1,
        nonlocal_inds: Sequence[Sequence[int]] | None = None,
        nonlocal_pool: Sequence[Sequence[int] | None] | None = None,
        nonlocal_group: Sequence[int] | None = None,
        nonlocal_instantiation: str = "softmax",
        **block_options,
    ):
        super().__init__()
        n = len(dims_in)
        nonlocal_inds = nonlocal_inds or [()] * n
        nonlocal_pool = nonlocal_pool or [(1, 2, 2)] * n
        nonlocal_group = nonlocal_group or [1] * n
        self.layer_names = [
            add_pathway_blocks(
                self, p, dims_in[p], dims_out[p], dims_inner[p], temporal_kernels[p], stride, transform,
                nonlocal_inds=nonlocal_inds[p], nonlocal_pool=nonlocal_pool[p], nonlocal_group=nonlocal_group[p],
                nonlocal_instantiation=nonlocal_instantiation, dilation=dilation, **block_options,
            )
            for p in range(n)
        ]

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for p, names in enumerate(self.layer_names):
            y = x[p]
            for name in names:
                y = getattr(self, name)(y)
            out.append(y)
        return out


class SlowFastHead(nn.Module):
    """Global average pool per pathway -> concat -> dropout -> ``projection`` (logits)."""

    def __init__(self, dims_in: Sequence[int], num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(sum(dims_in), num_classes, bias=True)

    def features(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([self.pool(y).flatten(1) for y in x], dim=1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(features))

    def forward(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.classify(self.features(x))


class SlowFast(VideoClassifier, nn.Module):
    """SlowFast ResNet (bottleneck blocks), PySlowFast ``SlowFast`` with plain arguments.

    Args:
        num_classes: output logits.
        stage_blocks: blocks in res2..res5 (R50 ``(3, 4, 6, 3)``, R101 ``(3, 4, 23, 3)``).
        slow_temporal_kernels, fast_temporal_kernels: per stage, the temporal
            kernel of conv ``a`` in every block (see
            :func:`vidlab.models.resnet3d.expand_temporal_kernels`).
        slow_stem_kernel, fast_stem_kernel: stem conv kernels ``(kT, 7, 7)``.
        alpha: frame-rate ratio Fast / Slow (``SLOWFAST.ALPHA``), also the
            temporal stride of the fusion convs.
        beta_inv: channel ratio Slow / Fast (``SLOWFAST.BETA_INV``).
        fusion_conv_channel_ratio: fusion conv output channels / Fast channels
            (``SLOWFAST.FUSION_CONV_CHANNEL_RATIO``).
        fusion_kernel_sz: temporal kernel of the fusion convs
            (``SLOWFAST.FUSION_KERNEL_SZ``; 7 in SLOWFAST_8x8_R50, 5 elsewhere).
        lateral_norm: BN + ReLU after each fusion conv (PySlowFast, always);
            ``False``: bare fusion convs, MMAction2's default
            ``lateral_norm=False`` (no ``s{k}_fuse.bn`` keys).
        width: Slow channels after the stem (``WIDTH_PER_GROUP``).
        nonlocal_location: per stage, per pathway, the blocks followed by a
            non-local block, exactly PySlowFast's ``NONLOCAL.LOCATION``
            (e.g. ``[[[], []], [[1, 3], []], [[1, 3, 5], []], [[], []]]``).
        nonlocal_pool: non-local key/value max-pool: one ``(t, h, w)`` for all,
            or per stage per pathway (``NONLOCAL.POOL``).
        nonlocal_group: per stage per pathway temporal groups, or one int.
        nonlocal_instantiation: ``"softmax"`` or ``"dot_product"``.
        pool1_temporal: per pathway, temporal max-pool stride after res2
            (``_POOL1``; 1 for SlowFast).
    """

    def __init__(
        self,
        num_classes: int = 400,
        *,
        stage_blocks: Sequence[int] = R50_BLOCKS,
        slow_temporal_kernels: Sequence[Sequence[int]] | None = None,
        fast_temporal_kernels: Sequence[Sequence[int]] | None = None,
        slow_stem_kernel: Sequence[int] = (1, 7, 7),
        fast_stem_kernel: Sequence[int] = (5, 7, 7),
        alpha: int = 4,
        beta_inv: int = 8,
        fusion_conv_channel_ratio: int = 2,
        fusion_kernel_sz: int = 5,
        lateral_norm: bool = True,
        width: int = 64,
        num_groups: int = 1,
        spatial_strides: Sequence[int] = (1, 2, 2, 2),
        spatial_dilations: Sequence[int] = (1, 1, 1, 1),
        stride_1x1: bool = False,
        pool1_temporal: Sequence[int] = (1, 1),
        in_channels: int = 3,
        dropout: float = 0.5,
        zero_init_final_bn: bool = True,
        norm: Norm = batch_norm3d,
        activation: Act = relu,
        nonlocal_location: Sequence[Sequence[Sequence[int]]] | None = None,
        nonlocal_pool: Sequence | None = (1, 2, 2),
        nonlocal_group: int | Sequence[Sequence[int]] = 1,
        nonlocal_instantiation: str = "dot_product",
    ):
        super().__init__()
        num_stages = len(stage_blocks)
        check_stage_options(num_stages, spatial_strides=spatial_strides, spatial_dilations=spatial_dilations)
        self.num_stages = num_stages
        kernels = []
        for given, basis in ((slow_temporal_kernels, [1, 1, 3, 3]), (fast_temporal_kernels, [3, 3, 3, 3])):
            given = given if given is not None else [[k] * n for k, n in zip(basis, stage_blocks)]
            if [len(k) for k in given] != list(stage_blocks):
                raise ValueError("temporal kernels must give one kernel per block of every stage")
            kernels.append(given)
        nl_location = per_stage(nonlocal_location, num_stages, [()] * NUM_PATHWAYS)
        nl_pool = [per_stage(p, NUM_PATHWAYS, None, flat_kernel=True)
                   for p in per_stage(nonlocal_pool, num_stages, None, flat_kernel=True)]
        nl_group = [per_stage(g, NUM_PATHWAYS, 1) for g in per_stage(nonlocal_group, num_stages, 1)]
        self.alpha = alpha
        self.num_pathways = NUM_PATHWAYS
        fast_width = width // beta_inv
        fused_ratio = beta_inv // fusion_conv_channel_ratio  # Slow width / channels a fusion adds to Slow
        dim_inner = num_groups * width
        options = {"num_groups": num_groups, "stride_1x1": stride_1x1, "norm": norm, "activation": activation}
        fuse = partial(FuseFastToSlow, fusion_conv_channel_ratio=fusion_conv_channel_ratio,
                       fusion_kernel=fusion_kernel_sz, alpha=alpha, norm=norm, activation=activation,
                       lateral_norm=lateral_norm)

        self.s1 = MultiPathwayStem([
            ResNetStem(in_channels, width, slow_stem_kernel, norm=norm, activation=activation),
            ResNetStem(in_channels, fast_width, fast_stem_kernel, norm=norm, activation=activation),
        ])
        self.s1_fuse = fuse(fast_width)
        slow_in, fast_in = width, fast_width
        for i in range(num_stages):
            slow_out = width * 4 * 2**i
            stage = MultiPathwayStage(
                [slow_in + slow_in // fused_ratio, fast_in], [slow_out, slow_out // beta_inv],
                [dim_inner * 2**i, dim_inner * 2**i // beta_inv],
                [kernels[0][i], kernels[1][i]], spatial_strides[i], "bottleneck",
                dilation=spatial_dilations[i], nonlocal_inds=nl_location[i], nonlocal_pool=nl_pool[i],
                nonlocal_group=nl_group[i], nonlocal_instantiation=nonlocal_instantiation, **options,
            )
            self.add_module(f"s{i + 2}", stage)
            if i < num_stages - 1:
                self.add_module(f"s{i + 2}_fuse", fuse(slow_out // beta_inv))
            if i == 0:
                for p, t in enumerate(pool1_temporal):
                    pool = nn.MaxPool3d((t, 1, 1), (t, 1, 1)) if t > 1 else nn.Identity()
                    self.add_module(f"pathway{p}_pool", pool)
            slow_in, fast_in = slow_out, slow_out // beta_inv
        self.feature_dims = (slow_in, fast_in)  # channels of forward_maps' [slow, fast]
        self.feature_dim = slow_in + fast_in
        self.head = SlowFastHead(self.feature_dims, num_classes, dropout)
        init_weights(self, zero_init_final_bn=zero_init_final_bn)

    def pathways(self, x: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The ``[slow, fast]`` input for ``x``: a list of two is used as given; one
        fast-rate clip (a tensor, or a list holding only it) is split with
        :func:`pack_pathways`."""
        if isinstance(x, torch.Tensor):
            return pack_pathways(x, self.alpha)
        if len(x) == 1:
            return pack_pathways(x[0], self.alpha)
        if len(x) != NUM_PATHWAYS:
            raise ValueError(f"SlowFast takes [slow, fast] or one fast-rate tensor, got a list of {len(x)}")
        return list(x)

    def forward_maps(self, x: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Last-stage feature maps ``[slow, fast]`` (e.g. for a detection head)."""
        xs: list[torch.Tensor] = self.s1_fuse(self.s1(self.pathways(x)))
        for i in range(self.num_stages):
            xs = getattr(self, f"s{i + 2}")(xs)
            if i < self.num_stages - 1:
                xs = getattr(self, f"s{i + 2}_fuse")(xs)
            if i == 0:
                xs = [getattr(self, f"pathway{p}_pool")(y) for p, y in enumerate(xs)]
        return xs

    def forward_features(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """Both pathways pooled and concatenated, ``(B, slow + fast channels)``."""
        return self.head.features(self.forward_maps(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.classify(features)


def slowfast_resnet(
    num_classes: int = 400,
    blocks: Sequence[int] = R50_BLOCKS,
    *,
    num_block_temp_kernel: Sequence[Sequence[int]] | None = None,
    **kw,
) -> SlowFast:
    """SlowFast with PySlowFast's ``slowfast`` temporal-kernel basis (Slow:
    1, 1, 3, 3; Fast: 3 in every stage; stems 1x7x7 / 5x7x7).

    ``num_block_temp_kernel`` is PySlowFast's ``RESNET.NUM_BLOCK_TEMP_KERNEL``:
    per stage ``(slow, fast)``, how many leading blocks keep their temporal
    kernel (the rest get 1); ``None`` keeps it in every block.
    """
    counts = num_block_temp_kernel or [(n, n) for n in blocks]
    kw.setdefault("slow_temporal_kernels",
                  [expand_temporal_kernels([k], n, c[0]) for k, n, c in zip((1, 1, 3, 3), blocks, counts)])
    kw.setdefault("fast_temporal_kernels",
                  [expand_temporal_kernels([k], n, c[1]) for k, n, c in zip((3, 3, 3, 3), blocks, counts)])
    return SlowFast(num_classes, stage_blocks=blocks, **kw)


# ----------------------------------------------------------------------------
# Registered architectures (PySlowFast Kinetics-400 configs). ModelSpec
# num_frames / sampling_rate describe the Fast pathway's input, which is what
# the model takes as one tensor; the Slow pathway sees num_frames // alpha.

# Res4 with temporal kernels in only its first 6 of 23 blocks ("R101_50_50":
# Slow and Fast res4 temporal as in R50; "_50_101": only Slow limited).
_R101_50_50 = ((3, 3), (4, 4), (6, 6), (3, 3))
_R101_50_101 = ((3, 3), (4, 4), (6, 23), (3, 3))


_SPEC = dict(family="slowfast", num_frames=32, sampling_rate=2, crop_size=224, test_crop_size=256)


@register_model("slowfast_r50_4x16", **_SPEC,
                description="SlowFast ResNet-50 4x16 (PySlowFast SLOWFAST_4x16_R50): Slow 4 frames, Fast 32, alpha 8")
def slowfast_r50_4x16(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, **{"alpha": 8, "fusion_kernel_sz": 5, **kw})


@register_model("slowfast_r50_8x8", **_SPEC, aliases=("slowfast_r50",),
                description="SlowFast ResNet-50 8x8 (PySlowFast SLOWFAST_8x8_R50): Slow 8 frames, Fast 32, alpha 4")
def slowfast_r50_8x8(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, **{"alpha": 4, "fusion_kernel_sz": 7, **kw})


# MMAction2's default SlowFast (ResNet3dSlowFast, slow_pathway lateral_norm=False): bare lateral convs, ImageNet
# normalisation; its zoo slowfast_r50_8xb8-{4x16,8x8}x1-256e_kinetics400-rgb (32 frames x 2 both).
_MMA_SPEC = {**_SPEC, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


@register_model("slowfast_r50_4x16_mmaction2", **_MMA_SPEC,
                description="SlowFast ResNet-50 4x16 as MMAction2's default (lateral_norm=False: bare lateral convs, "
                            "no BN/ReLU): Slow 4 frames, Fast 32, alpha 8, fusion kernel 5")
def slowfast_r50_4x16_mmaction2(num_classes: int = 400, **kw) -> SlowFast:
    """MMAction2's ``slowfast_r50_8xb8-4x16x1-256e`` (``resample_rate=8, speed_ratio=8, channel_ratio=8``,
    ``fusion_kernel=5``): :func:`slowfast_r50_4x16` with bare laterals."""
    return slowfast_resnet(num_classes, **{"alpha": 8, "fusion_kernel_sz": 5, "lateral_norm": False, **kw})


@register_model("slowfast_r50_8x8_mmaction2", **_MMA_SPEC,
                description="SlowFast ResNet-50 8x8 as MMAction2's default (lateral_norm=False: bare lateral convs, "
                            "no BN/ReLU): Slow 8 frames, Fast 32, alpha 4, fusion kernel 7")
def slowfast_r50_8x8_mmaction2(num_classes: int = 400, **kw) -> SlowFast:
    """MMAction2's ``slowfast_r50_8xb8-8x8x1-256e`` (``resample_rate=4, speed_ratio=4, channel_ratio=8``,
    ``fusion_kernel=7``): :func:`slowfast_r50_8x8` with bare laterals."""
    return slowfast_resnet(num_classes, **{"alpha": 4, "fusion_kernel_sz": 7, "lateral_norm": False, **kw})


@register_model("slowfast_r101_8x8", **_SPEC, aliases=("slowfast_r101", "slowfast_r101_8x8_101_101"),
                description="SlowFast ResNet-101 8x8 (PySlowFast c2/SLOWFAST_8x8_R101_101_101): temporal kernels "
                            "in all res4 blocks")
def slowfast_r101_8x8(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, R101_BLOCKS, **{"alpha": 4, "fusion_kernel_sz": 5, **kw})


@register_model("slowfast_r101_8x8_50_50", **_SPEC,
                description="SlowFast ResNet-101 8x8, res4 temporal in 6 blocks per pathway "
                            "(PySlowFast c2/SLOWFAST_8x8_R101_50_50)")
def slowfast_r101_8x8_50_50(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, R101_BLOCKS,
                           **{"alpha": 4, "fusion_kernel_sz": 5, "num_block_temp_kernel": _R101_50_50, **kw})


@register_model("slowfast_r101_8x8_50_101", **_SPEC,
                description="SlowFast ResNet-101 8x8, Slow res4 temporal in 6 blocks, Fast in all "
                            "(PySlowFast c2/SLOWFAST_8x8_R101_50_101)")
def slowfast_r101_8x8_50_101(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, R101_BLOCKS,
                           **{"alpha": 4, "fusion_kernel_sz": 5, "num_block_temp_kernel": _R101_50_101, **kw})


@register_model("slowfast_r101_16x8_50_50", **{**_SPEC, "num_frames": 64}, aliases=("slowfast_16x8_r101_50_50",),
                description="SlowFast ResNet-101 16x8 (PySlowFast c2/SLOWFAST_16x8_R101_50_50): Slow 16 frames, "
                            "Fast 64")
def slowfast_r101_16x8_50_50(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, R101_BLOCKS,
                           **{"alpha": 4, "fusion_kernel_sz": 5, "num_block_temp_kernel": _R101_50_50, **kw})


@register_model("slowfast_r50_8x8_nl", **_SPEC, aliases=("slowfast_nln_r50_8x8",),
                description="SlowFast ResNet-50 8x8 + non-local in Slow res3/res4 (PySlowFast SLOWFAST_NLN_8x8_R50)")
def slowfast_r50_8x8_nl(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, **{
        "alpha": 4, "fusion_kernel_sz": 5, "nonlocal_instantiation": "dot_product",
        "nonlocal_location": [[[], []], [[1, 3], []], [[1, 3, 5], []], [[], []]], **kw})


@register_model("slowfast_r101_16x8_50_50_nl", **{**_SPEC, "num_frames": 64},
                aliases=("slowfast_nln_r101_16x8_50_50",),
                description="SlowFast ResNet-101 16x8 + non-local in Slow res4 "
                            "(PySlowFast c2/SLOWFAST_NLN_16x8_R101_50_50)")
def slowfast_r101_16x8_50_50_nl(num_classes: int = 400, **kw) -> SlowFast:
    return slowfast_resnet(num_classes, R101_BLOCKS, **{
        "alpha": 4, "fusion_kernel_sz": 5, "num_block_temp_kernel": _R101_50_50,
        "nonlocal_instantiation": "dot_product",
        "nonlocal_location": [[[], []], [[], []], [[6, 13, 20], []], [[], []]], **kw})


@register_model("slowfast_tiny", family="slowfast", num_frames=16, sampling_rate=2, crop_size=56, test_crop_size=56,
                mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                description="small SlowFast for the synthetic sets: one bottleneck block per stage, width 16 "
                            "(Fast 2: beta 1/8), alpha 4, Slow 4 frames / Fast 16")
def slowfast_tiny(num_classes: int = 400, **kw) -> SlowFast:
    """PySlowFast's SlowFast layout (kernels, laterals, alpha 4, beta 1/8) at one block per stage and width 16:
    the model of the diagnostic suite's Fast-pathway task (``benchmarks/bench_mechanisms.py``)."""
    return slowfast_resnet(num_classes, (1, 1, 1, 1), **{"alpha": 4, "fusion_kernel_sz": 5, "width": 16,
                                                         "dropout": 0.2, **kw})
