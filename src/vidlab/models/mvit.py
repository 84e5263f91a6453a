"""Multiscale Vision Transformers (MViTv1, Fan et al., ICCV 2021; MViTv2, Li et al., CVPR 2022) in PySlowFast's layout.

One class, :class:`MViT`, built from a :class:`MViTConfig` whose fields are
PySlowFast's ``MVIT.*`` options (plus ``DATA.NUM_FRAMES`` / ``DATA.TRAIN_CROP_SIZE``
and the head dropout ``MODEL.DROPOUT_RATE``). Registered models:

- ``mvit_v1_b_16x4`` (aliases ``mvit_v1_b``: torchvision, ``mvit_base_16x4``:
  pytorchvideo): ``configs/Kinetics/MVIT_B_16x4_CONV.yaml``: MViTv1-B, 16
  blocks, width 96 -> 768, heads 1 -> 8, q pooled 1x2x2 at blocks 1, 3, 14;
  16 x 4 clips;
- ``mvit_v1_b_32x3`` (alias ``mvit_base_32x3``): the paper's MViT-B 32x3 and
  pytorchvideo's ``mvit_base_32x3``: the same network for 32 frames, whose
  temporal position embedding therefore has 16 rows (32 / patch stride 2);
- ``mvitv2_s_16x4`` (alias ``mvit_v2_s``: torchvision):
  ``configs/Kinetics/MVITv2_S_16x4.yaml``: 16 blocks, width 96 -> 768, heads
  1 -> 8, q pooled 2x2 at blocks 1, 3, 14; 16 x 4 clips;
- ``mvitv2_b_32x3``: ``configs/Kinetics/MVITv2_B_32x3.yaml``: 24 blocks, q
  pooled at blocks 2, 5, 21, drop-path 0.3; 32 x 3 clips.

All: a 3x7x7 / stride 2x4x4 / padding 1x3x3 patch stem, a cls token, one shared
``qkv`` projection, conv pooling (depthwise 3x3x3, LayerNorm after) of k/v in
every block with the adaptive stride ``1x8x8 / (q strides so far)``,
LayerNorm(eps=1e-6), GELU MLPs (ratio 4), the cls token after the final norm as
the feature, and head dropout 0.5.

MViTv2 adds: no absolute position embedding, decomposed relative position
biases (spatial h, w and temporal), residual pooling, channel growth inside
attention (``DIM_MUL_IN_ATT``) and q pooled (stride 1 where not strided) in
every block.

MViTv1-B is PySlowFast's defaults for everything the v1 yaml leaves out:
absolute *separable* position embeddings (``pos_embed_spatial`` ``(1, H*W, C)``
+ ``pos_embed_temporal`` ``(1, T, C)``, added as ``temporal[t] + spatial[s]`` at
token ``t*H*W + s``, and ``pos_embed_class`` for the cls token;
``SEP_POS_EMBED: True``), no relative positions, no residual pooling,
``POOL_FIRST: False``, and the width growing at the *end* of the block before
a stage (``DIM_MUL_IN_ATT: False``: block 0's MLP and ``proj`` output 192, block 1
has 2 heads of 96), q pooled (``POOL_KVQ_KERNEL`` 3x3x3) only at the strided
blocks 1, 3, 14, drop-path 0.2. pytorchvideo's ``create_multiscale_vision_transformers``
with its hub config and torchvision's ``mvit_v1_b`` block table are the same
network (checked block by block and on logits in the tests).

PySlowFast's ``configs/Kinetics/MVIT_B_32x3_CONV.yaml`` is *not* that 32x3
network: it sets ``DEPTH: 24`` (after a ``DEPTH: 16`` line; the later key wins),
pools q at blocks 2, 5, 21 and has no ``POOL_KVQ_KERNEL`` (so kernels are stride
+ 1: 1x9x9 k/v pools in block 0), drop-path 0.3: the paper's MViT-B-24 (53.1M
parameters by this module's count), which vidlab does not register; its
checkpoints are refused by the converter with that sentence.

Parameter counts at 224 px (equal to the reference builders', built in the
tests): ``mvit_v1_b_16x4`` 36,610,672 (torchvision's weights meta
``num_params``; pytorchvideo's zoo: 36.61M), ``mvit_v1_b_32x3`` 36,611,440
(+8 x 96 temporal rows; pytorchvideo's zoo: 36.61M), ``mvitv2_s_16x4``
34,537,744 (torchvision's ``num_params``), ``mvitv2_b_32x3`` 51,230,128.

GFLOPs (``vidlab models``; one multiply-add = one FLOP, counted over the
convolutions, linear layers and attention matmuls of one view, as fvcore and
the papers do): ``mvit_v1_b_16x4`` at 16 x 224 x 224: 70.60, torchvision's
``_ops`` 70.599 to the digit (paper 70.5, pytorchvideo's zoo 70.80);
``mvit_v1_b_32x3`` at 32 x 224 x 224: 169.96 (paper 170, pytorchvideo 170.37);
``mvitv2_s_16x4``: 64.22, torchvision's ``_ops`` 64.224 (paper 64).

Other layouts (mapped by :mod:`vidlab.convert.mvit`, which has the full tables):
torchvision names the stem ``conv_proj``, the embeddings
``pos_encoding.{class_token, spatial_pos, temporal_pos, class_pos}`` without the
leading unit dimensions, and ``attn.project.0``, ``attn.pool_q.pool`` /
``attn.pool_q.norm_act.0``, ``mlp.0`` / ``mlp.3``, ``project``, ``head.1``;
pytorchvideo names them ``patch_embed.patch_model``,
``cls_positional_encoding.*``, ``norm_embed``, ``head.proj`` and keeps separate
``attn.q/k/v`` Linears (stacked into ``qkv``). pytorchvideo's pool norms use
LayerNorm's default eps 1e-5 (its ``MultiScaleBlock`` passes a plain
``nn.LayerNorm`` to its attention); ``pool_norm_eps=1e-5`` reproduces that, the
default 1e-6 is PySlowFast's and torchvision's. The MViTv1 options PySlowFast
shares with v2 (absolute joint or separable position embeddings, ``POOL_FIRST``,
``SEPARATE_QKV``, avg/max pooling, mean pooling, a stem norm) are config fields.
(``LAYER_SCALE_INIT_VALUE`` is not: PySlowFast's ``MViT`` reads it but never
hands it to its blocks, so its models have no layer scale.)

Parameter names, shapes and order are PySlowFast's ``state_dict`` (``cls_token``,
``patch_embed.proj``, ``blocks.N.attn.rel_pos_h``, ``blocks.N.attn.qkv``,
``blocks.N.attn.pool_q``, ``blocks.N.attn.norm_q``, ``blocks.N.mlp.fc1``,
``blocks.N.proj``, ``norm``, ``head.projection``), so its ``.pyth`` state
dicts load with ``strict=True`` and no key mapping.

**Input sizes and the relative-position tables.** PySlowFast sizes each block's
``rel_pos_h/w`` to ``2 * max(q_size, kv_size) - 1`` rows and ``rel_pos_t`` to
``2 * T_in - 1`` rows, where the sizes are those of the token grid at the clip
it was *built* for (``DATA.NUM_FRAMES`` x ``DATA.TRAIN_CROP_SIZE``; here
``num_frames`` x ``crop_size``); the table shapes are therefore part of a
checkpoint. At run time, every block computes the bias from the grids it
actually sees, and where a table has a different length than the grid needs
it is first resized by linear interpolation (PySlowFast's ``get_rel_pos``).
vidlab applies that same rule to every input, so:

- at the clip a model's tables were made for, the function is PySlowFast's
  exactly (same tables, no resizing);
- at any other size (any H, W, non-square too, and any T) the model runs, and
  computes what PySlowFast's attention blocks compute for that grid with the
  same tables. (PySlowFast's ``MViT.forward`` itself refuses inputs other than
  its build size; torchvision's and pytorchvideo's MViTs run only at theirs.)
  Absolute position embeddings (MViTv1), when enabled, are resized trilinearly
  (the cls row kept as it is), as PySlowFast's ``_get_pos_embed`` does.

Pooling strides do not need to divide the grid: a conv pool with kernel k,
stride s and padding k//2 maps n tokens to ``ceil(n / s)`` (at least 1), so a
32 x 32 input (an 8 x 8 grid) runs down to 1 x 1.

The same holds for MViTv1's absolute tables: ``pos_embed_spatial`` has
``(crop / 4)^2`` rows and ``pos_embed_temporal`` ``num_frames / 2``, sizes fixed at
build time and part of a checkpoint.

The registered builders size the tables for the configs' training crop, 224
(:data:`TABLE_CROP`), where the models have PySlowFast's own parameter counts
(above) and the published Kinetics checkpoints load as they are. A checkpoint
made at another crop (the project's PySlowFast reference fixture was built at
64) needs ``build(name, crop_size=64)``: :meth:`MViT.kwargs_for_state` reads
``num_frames`` / ``crop_size`` off a state dict's tables (relative or absolute;
:func:`input_size_for_state`), and ``vidlab convert`` uses it and records the
result in the checkpoint's ``model_kwargs``.

Attention uses :func:`torch.nn.functional.scaled_dot_product_attention`, with
the relative-position bias passed as a float ``attn_mask`` (zero in the cls
token's row and column); that is the same function as PySlowFast's explicit
``softmax(q*scale @ k^T + bias) @ v``, up to float rounding.

Differences from PySlowFast, on purpose: the model returns logits (its head
applies a softmax in eval mode); stochastic depth is
``torchvision.ops.StochasticDepth`` (same rule: per sample, rescaled by the
keep probability); there is no activation checkpointing, reversible variant
or fixed sin-cos embedding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import TransformerMlp, single_pathway, triple
from vidlab.models.registry import register_model

Triple = tuple[int, int, int]

# The crop the registered builders size the relative-position tables for (see the module docstring).
TABLE_CROP = 224


@dataclass(frozen=True)
class MViTConfig:
    """PySlowFast's MViT options (``MVIT.*`` unless noted), as plain values.

    ``dim_mul`` / ``head_mul``: ``(block, multiplier)`` pairs; ``pool_q_stride``:
    ``(block, st, sh, sw)`` rows; ``pool_kv_stride_adaptive``: the k/v stride of
    block 0, divided by each q stride on the way (``None``: take
    ``pool_kv_stride`` rows as given); ``pool_kvq_kernel``: the pooling kernel
    of every pooled q/k/v (``None``: stride + 1 where the stride is > 1).
    ``num_frames`` and ``crop_size`` are ``DATA.NUM_FRAMES`` and
    ``DATA.TRAIN_CROP_SIZE``: the clip the position tables are sized for.
    ``pool_norm_eps`` is the epsilon of the LayerNorms after the q/k/v pools
    (not a PySlowFast option: PySlowFast and torchvision use 1e-6 there, as
    everywhere; PyTorchVideo's ``MultiScaleBlock`` hands its attention a plain
    ``nn.LayerNorm``, so 1e-5 reproduces PyTorchVideo's function exactly).
    ``dropout`` is ``MODEL.DROPOUT_RATE`` (before the projection);
    ``attn_dropout`` is ``MVIT.DROPOUT_RATE`` (after the embedding, attention
    projections and MLPs); ``drop_path_rate`` rises linearly from 0 over the
    blocks.
    """

    depth: int = 16
    embed_dim: int = 96
    num_heads: int = 1
    dim_mul: tuple[tuple[int, float], ...] = ()
    head_mul: tuple[tuple[int, float], ...] = ()
    pool_q_stride: tuple[tuple[int, int, int, int], ...] = ()
    pool_kv_stride: tuple[tuple[int, int, int, int], ...] = ()
    pool_kv_stride_adaptive: Triple | None = (1, 8, 8)
    pool_kvq_kernel: Triple | None = (3, 3, 3)
    patch_kernel: Triple = (3, 7, 7)
    patch_stride: Triple = (2, 4, 4)
    patch_padding: Triple = (1, 3, 3)
    in_channels: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    mode: str = "conv"  # "conv", "conv_unshared" (with pool_first), "avg", "max"
    pool_first: bool = False
    separate_qkv: bool = False
    cls_embed: bool = True
    use_abs_pos: bool = False
    sep_pos_embed: bool = False
    rel_pos_spatial: bool = True
    rel_pos_temporal: bool = True
    residual_pooling: bool = True
    dim_mul_in_att: bool = True
    use_mean_pooling: bool = False
    norm_stem: bool = False
    pool_norm_eps: float = 1e-6
    head_init_scale: float = 1.0
    drop_path_rate: float = 0.2
    attn_dropout: float = 0.0
    dropout: float = 0.5
    num_frames: int = 16
    crop_size: int = 224

    def __post_init__(self) -> None:
        # JSON sidecars hand lists back: store tuples so configs compare and hash
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(tuple(x) if isinstance(x, list) else x for x in v))
        if self.mode not in ("conv", "conv_unshared", "avg", "max"):
            raise ValueError(f"mode must be conv, conv_unshared, avg or max, got {self.mode!r}")
        if self.mode == "conv_unshared" and not self.pool_first:
            raise ValueError("mode 'conv_unshared' needs pool_first=True (as in PySlowFast)")


@dataclass(frozen=True)
class BlockPlan:
    """One block as PySlowFast's ``MViT.__init__`` lays it out (``input_size``: its input grid at the build clip)."""

    dim: int
    dim_out: int
    num_heads: int
    kernel_q: tuple[int, ...]
    kernel_kv: tuple[int, ...]
    stride_q: tuple[int, ...]
    stride_kv: tuple[int, ...]
    input_size: Triple
    drop_path: float


def round_width(width: float, multiplier: float, min_width: int = 1, divisor: int = 1) -> int:
    """``width * multiplier`` rounded to a multiple of ``divisor`` (never 10% under): PySlowFast's rule."""
    if not multiplier:
        return int(width)
    width = width * multiplier
    min_width = min_width or divisor
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def _default_kernel(stride: Sequence[int]) -> tuple[int, ...]:
    return tuple(s + 1 if s > 1 else s for s in stride)


def block_plan(cfg: MViTConfig) -> list[BlockPlan]:
    """Per-block widths, heads, pooling kernels/strides and build-time grids, from the config."""
    depth = cfg.depth
    for what, rows in (("dim_mul", cfg.dim_mul), ("head_mul", cfg.head_mul), ("pool_q_stride", cfg.pool_q_stride),
                       ("pool_kv_stride", cfg.pool_kv_stride)):
        late = [int(r[0]) for r in rows if not 0 <= int(r[0]) < depth + (what.endswith("mul"))]
        if late:
            raise ValueError(f"MViT depth {depth}: {what} names block(s) {late} past the last one; give {what} "
                             f"(and the other per-block settings) for {depth} blocks")
    dim_mul, head_mul = [1.0] * (depth + 1), [1.0] * (depth + 1)
    for i, m in cfg.dim_mul:
        dim_mul[i] = float(m)
    for i, m in cfg.head_mul:
        head_mul[i] = float(m)
    stride_q: list[tuple[int, ...]] = [()] * depth
    kernel_q: list[tuple[int, ...]] = [()] * depth
    stride_kv: list[tuple[int, ...]] = [()] * depth
    kernel_kv: list[tuple[int, ...]] = [()] * depth
    for i, *s in cfg.pool_q_stride:
        stride_q[i] = tuple(s)
        kernel_q[i] = tuple(cfg.pool_kvq_kernel) if cfg.pool_kvq_kernel is not None else _default_kernel(s)
    kv_rows: list[tuple[int, ...]] = list(cfg.pool_kv_stride)
    if cfg.pool_kv_stride_adaptive is not None:
        kv = list(cfg.pool_kv_stride_adaptive)
        kv_rows = []
        for i in range(depth):
            if stride_q[i]:
                kv = [max(kv[d] // stride_q[i][d], 1) for d in range(len(kv))]
            kv_rows.append((i, *kv))
    for i, *s in kv_rows:
        stride_kv[i] = tuple(s)
        kernel_kv[i] = tuple(cfg.pool_kvq_kernel) if cfg.pool_kvq_kernel is not None else _default_kernel(s)

    drop_path = torch.linspace(0, cfg.drop_path_rate, depth, device="cpu").tolist()
    size = [n // p for n, p in zip((cfg.num_frames, cfg.crop_size, cfg.crop_size), cfg.patch_stride)]
    dim, heads, plan = cfg.embed_dim, cfg.num_heads, []
    for i in range(depth):
        heads = round_width(heads, head_mul[i])
        if cfg.dim_mul_in_att:
            dim_out = round_width(dim, dim_mul[i], divisor=round_width(heads, head_mul[i]))
        else:
            dim_out = round_width(dim, dim_mul[i + 1], divisor=round_width(heads, head_mul[i + 1]))
        plan.append(BlockPlan(dim, dim_out, heads, kernel_q[i], kernel_kv[i], stride_q[i], stride_kv[i],
                              triple(size), drop_path[i]))
        if stride_q[i]:
            size = [n // s for n, s in zip(size, stride_q[i])]
        dim = dim_out
    return plan


def layer_norm(dim: int) -> nn.LayerNorm:
    """PySlowFast's MViT norm: LayerNorm with eps 1e-6."""
    return nn.LayerNorm(dim, eps=1e-6)


# ----------------------------------------------------------------------------
# Relative positions


def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """A ``(rows, C)`` table resized to ``length`` rows by linear interpolation (unchanged when equal)."""
    if table.shape[0] == length:
        return table
    return F.interpolate(table.t().unsqueeze(0), size=length, mode="linear").squeeze(0).t()


@lru_cache(maxsize=256)
def _rel_index(q: int, k: int) -> torch.Tensor:
    """Row of the table for each (query, key) pair along one axis, ``(q, k)`` int64.

    When q and k have different lengths, the shorter axis is stretched to the
    longer one's spacing (the ratios below), so that positions compare in the
    same units; the float arithmetic and the truncation are PySlowFast's."""
    q_ratio, k_ratio = max(k / q, 1.0), max(q / k, 1.0)
    dist = torch.arange(q, device="cpu")[:, None] * q_ratio - torch.arange(k, device="cpu")[None, :] * k_ratio
    dist = dist + (k - 1) * k_ratio
    return dist.long()


def _lookup(table: torch.Tensor, q: int, k: int) -> torch.Tensor:
    """``(q, k, C)`` embeddings of the relative offsets between ``q`` queries and ``k`` keys along one axis."""
    rows = resize_rel_pos(table, 2 * max(q, k) - 1)
    return rows[_rel_index(q, k).to(rows.device)]


# ----------------------------------------------------------------------------
# Layers


def pool_tokens(x: torch.Tensor, pool: nn.Module | None, thw: Sequence[int], has_cls: bool,
                norm: nn.Module | None = None) -> tuple[torch.Tensor, list[int]]:
    """Pool ``(B, heads, 1 + T*H*W, C)`` tokens on their ``T x H x W`` grid (the cls token passes
    through), then ``norm``; returns the tokens and the new grid. ``pool=None``: unchanged."""
    if pool is None:
        return x, list(thw)
    if has_cls:
        cls_tok, x = x[:, :, :1], x[:, :, 1:]
    b, n, _, c = x.shape
    t, h, w = thw
    grid = pool(x.reshape(b * n, t, h, w, c).permute(0, 4, 1, 2, 3))
    thw = list(grid.shape[2:])
    x = grid.reshape(b, n, c, -1).transpose(2, 3)
    if has_cls:
        x = torch.cat((cls_tok, x), dim=2)
    if norm is not None:
        x = norm(x)
    return x, thw


class PatchEmbed(nn.Module):
    """The stem: one strided Conv3d, its output flattened to ``(B, T*H*W, C)`` tokens."""

    def __init__(self, in_channels: int, dim: int, kernel: Triple, stride: Triple, padding: Triple):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, triple(kernel), triple(stride), triple(padding))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), list(x.shape[2:])


class MultiScaleAttention(nn.Module):
    """Pooling attention: q, k, v are pooled on the token grid (q's stride sets the output grid;
    k/v are pooled further), with decomposed relative-position biases and residual pooling."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, input_size: Sequence[int], *,
                 kernel_q: Sequence[int] = (), kernel_kv: Sequence[int] = (),
                 stride_q: Sequence[int] = (), stride_kv: Sequence[int] = (),
                 qkv_bias: bool = True, mode: str = "conv", pool_first: bool = False,
                 separate_qkv: bool = False, has_cls: bool = True, rel_pos_spatial: bool = False,
                 rel_pos_temporal: bool = False, residual_pooling: bool = False, drop: float = 0.0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.num_heads, self.dim_out = num_heads, dim_out
        self.scale = (dim_out // num_heads) ** -0.5
        self.has_cls, self.mode, self.pool_first = has_cls, mode, pool_first
        self.separate_qkv = separate_qkv or pool_first
        self.residual_pooling = residual_pooling
        head_dim = dim_out // num_heads

        # parameters of this module (PySlowFast's state_dict lists them before the sub-modules)
        self.rel_pos_spatial, self.rel_pos_temporal = rel_pos_spatial, rel_pos_temporal
        if rel_pos_spatial:
            size = input_size[1]
            q_size = size // stride_q[1] if len(stride_q) > 0 else size
            kv_size = size // stride_kv[1] if len(stride_kv) > 0 else size
            rows = 2 * max(q_size, kv_size) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(rows, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(rows, head_dim))
        if rel_pos_temporal:
            self.rel_pos_t = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))

        if self.separate_qkv:
            self.q = nn.Linear(dim, dim_out, bias=qkv_bias)
            self.k = nn.Linear(dim, dim_out, bias=qkv_bias)
            self.v = nn.Linear(dim, dim_out, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, dim_out * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim_out, dim_out)
        self.proj_drop = nn.Dropout(drop) if drop > 0 else nn.Identity()

        # a 1x1x1 kernel with stride 1 is no pooling at all
        if math.prod(kernel_q) == 1 and math.prod(stride_q) == 1:
            kernel_q = ()
        if math.prod(kernel_kv) == 1 and math.prod(stride_kv) == 1:
            kernel_kv = ()
        self.pool_q = self.norm_q = self.pool_k = self.norm_k = self.pool_v = self.norm_v = None
        if mode in ("avg", "max"):
            pool_op = nn.MaxPool3d if mode == "max" else nn.AvgPool3d

            def pool(kernel, stride):
                return pool_op(tuple(kernel), tuple(stride), tuple(k // 2 for k in kernel)) if kernel else None

            self.pool_q = pool(kernel_q, stride_q)
            self.pool_k = pool(kernel_kv, stride_kv)
            self.pool_v = pool(kernel_kv, stride_kv)
        else:
            channels = (dim if pool_first else dim_out) // (num_heads if mode == "conv" else 1)

            def conv(kernel, stride):
                return nn.Conv3d(channels, channels, tuple(kernel), tuple(stride), tuple(k // 2 for k in kernel),
                                 groups=channels, bias=False)

            if kernel_q:
                self.pool_q, self.norm_q = conv(kernel_q, stride_q), nn.LayerNorm(channels, eps=norm_eps)
            if kernel_kv:
                self.pool_k, self.norm_k = conv(kernel_kv, stride_kv), nn.LayerNorm(channels, eps=norm_eps)
                self.pool_v, self.norm_v = conv(kernel_kv, stride_kv), nn.LayerNorm(channels, eps=norm_eps)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.num_heads, -1).transpose(1, 2)

    def rel_pos_bias(self, q: torch.Tensor, q_thw: Sequence[int], k_thw: Sequence[int]) -> torch.Tensor:
        """The additive ``(B, heads, Nq, Nk)`` bias: each query's projections on the embeddings of
        its offsets to every key along t, h and w (zero in the cls token's row and column)."""
        (qt, qh, qw), (kt, kh, kw) = q_thw, k_thw
        s = 1 if self.has_cls else 0
        b, n, _, c = q.shape
        r_q = q[:, :, s:].reshape(b, n, qt, qh, qw, c)
        bias = r_q.new_zeros(())
        if self.rel_pos_spatial:
            rel_h = torch.einsum("bnthwc,hkc->bnthwk", r_q, _lookup(self.rel_pos_h, qh, kh))
            rel_w = torch.einsum("bnthwc,wkc->bnthwk", r_q, _lookup(self.rel_pos_w, qw, kw))
            bias = rel_h[:, :, :, :, :, None, :, None] + rel_w[:, :, :, :, :, None, None, :]
        if self.rel_pos_temporal:
            rel_t = torch.einsum("bnthwc,tkc->bnthwk", r_q, _lookup(self.rel_pos_t, qt, kt))
            bias = bias + rel_t[:, :, :, :, :, :, None, None]
        bias = bias.expand(b, n, qt, qh, qw, kt, kh, kw).reshape(b, n, qt * qh * qw, kt * kh * kw)
        return F.pad(bias, (s, 0, s, 0)) if s else bias

    def forward(self, x: torch.Tensor, thw: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        b, n, _ = x.shape
        if self.pool_first:
            fold = 1 if self.mode == "conv_unshared" else self.num_heads
            q = k = v = x.reshape(b, n, fold, -1).transpose(1, 2)
        elif self.separate_qkv:
            q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        else:
            q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)

        q, q_thw = pool_tokens(q, self.pool_q, thw, self.has_cls, self.norm_q)
        k, k_thw = pool_tokens(k, self.pool_k, thw, self.has_cls, self.norm_k)
        v, _ = pool_tokens(v, self.pool_v, thw, self.has_cls, self.norm_v)
        if self.pool_first:  # project after pooling
            q = self._heads(self.q(q.transpose(1, 2).reshape(b, q.shape[2], -1)))
            k = self._heads(self.k(k.transpose(1, 2).reshape(b, k.shape[2], -1)))
            v = self._heads(self.v(v.transpose(1, 2).reshape(b, v.shape[2], -1)))

        bias = self.rel_pos_bias(q, q_thw, k_thw) if self.rel_pos_spatial or self.rel_pos_temporal else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        if self.residual_pooling:  # add the pooled query (not to the cls token)
            if self.has_cls:
                out = torch.cat((out[:, :, :1], out[:, :, 1:] + q[:, :, 1:]), dim=2)
            else:
                out = out + q
        out = out.transpose(1, 2).reshape(b, -1, self.dim_out)
        return self.proj_drop(self.proj(out)), q_thw


class MultiScaleBlock(nn.Module):
    """norm1 -> pooling attention (+ pooled, projected skip) -> norm2 -> MLP (+ skip).

    The skip path is max-pooled with q's stride (kernel stride + 1); where the
    width grows, ``proj`` maps the normed input to the new width (before the
    attention residual with ``dim_mul_in_att``, else after norm2)."""

    def __init__(self, plan: BlockPlan, cfg: MViTConfig):
        super().__init__()
        dim, dim_out = plan.dim, plan.dim_out
        att_dim = dim_out if cfg.dim_mul_in_att else dim
        self.dim, self.dim_out, self.dim_mul_in_att, self.has_cls = dim, dim_out, cfg.dim_mul_in_att, cfg.cls_embed
        self.norm1 = layer_norm(dim)
        self.attn = MultiScaleAttention(
            dim, att_dim, plan.num_heads, plan.input_size, kernel_q=plan.kernel_q, kernel_kv=plan.kernel_kv,
            stride_q=plan.stride_q, stride_kv=plan.stride_kv, qkv_bias=cfg.qkv_bias, mode=cfg.mode,
            pool_first=cfg.pool_first, separate_qkv=cfg.separate_qkv, has_cls=cfg.cls_embed,
            rel_pos_spatial=cfg.rel_pos_spatial, rel_pos_temporal=cfg.rel_pos_temporal,
            residual_pooling=cfg.residual_pooling, drop=cfg.attn_dropout, norm_eps=cfg.pool_norm_eps)
        self.drop_path = StochasticDepth(plan.drop_path, "row") if plan.drop_path > 0 else nn.Identity()
        self.norm2 = layer_norm(att_dim)
        self.mlp = TransformerMlp(att_dim, int(att_dim * cfg.mlp_ratio), dim_out, cfg.attn_dropout)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        stride = plan.stride_q
        self.pool_skip: nn.MaxPool3d | None
        if len(stride) > 0 and math.prod(stride) > 1:
            kernel = _default_kernel(stride)
            self.pool_skip = nn.MaxPool3d(kernel, tuple(stride), tuple(k // 2 for k in kernel))
        else:
            self.pool_skip = None

    def forward(self, x: torch.Tensor, thw: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        x_norm = self.norm1(x)
        x_attn, thw_out = self.attn(x_norm, thw)
        if self.dim_mul_in_att and self.proj is not None:
            x = self.proj(x_norm)
        skip, _ = pool_tokens(x.unsqueeze(1), self.pool_skip, thw, self.has_cls)
        x = skip.squeeze(1) + self.drop_path(x_attn)
        x_norm = self.norm2(x)
        x_mlp = self.mlp(x_norm)
        if not self.dim_mul_in_att and self.proj is not None:
            x = self.proj(x_norm)
        return x + self.drop_path(x_mlp), thw_out


class TransformerHead(nn.Module):
    """PySlowFast's ``TransformerBasicHead`` without the eval-time softmax: dropout -> ``projection``."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(dim, num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(x))


# ----------------------------------------------------------------------------
# The network


class MViT(VideoClassifier, nn.Module):
    """MViT (v1/v2) in PySlowFast's layout; see the module docstring.

    ``MViT(num_classes, config, **overrides)``: ``overrides`` replace
    :class:`MViTConfig` fields (``crop_size=224``, ``drop_path_rate=0.1``...).
    Input: ``(B, C, T, H, W)`` or a one-element list; ``forward`` returns logits.
    """

    classifier_path = "head.projection"

    def __init__(self, num_classes: int = 400, config: MViTConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or MViTConfig(), **overrides)
        self.config = cfg
        plan = block_plan(cfg)
        embed = cfg.embed_dim
        self.patch_dims = [n // p for n, p in zip((cfg.num_frames, cfg.crop_size, cfg.crop_size), cfg.patch_stride)]
        t, h, w = self.patch_dims

        if cfg.cls_embed:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed))
        self.pos_embed: nn.Parameter | None = None
        self.pos_embed_spatial: nn.Parameter | None = None
        self.pos_embed_temporal: nn.Parameter | None = None
        self.pos_embed_class: nn.Parameter | None = None
        if cfg.use_abs_pos:
            if cfg.sep_pos_embed:
                self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, embed))
                self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, embed))
                if cfg.cls_embed:
                    self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, embed))
            else:
                self.pos_embed = nn.Parameter(torch.zeros(1, t * h * w + int(cfg.cls_embed), embed))

        self.patch_embed = PatchEmbed(cfg.in_channels, embed, cfg.patch_kernel, cfg.patch_stride, cfg.patch_padding)
        self.pos_drop = nn.Dropout(cfg.attn_dropout) if cfg.attn_dropout > 0 else nn.Identity()
        self.norm_stem = layer_norm(embed) if cfg.norm_stem else None
        self.blocks = nn.ModuleList(MultiScaleBlock(p, cfg) for p in plan)
        self.feature_dim = plan[-1].dim_out
        self.norm = layer_norm(self.feature_dim)
        self.head = TransformerHead(self.feature_dim, num_classes, cfg.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        """PySlowFast's initialisation: truncated normal (std 0.02) for linear/conv weights and position
        tables, 0.02 for linear biases, unit LayerNorms with bias 0.02; the head scaled by ``head_init_scale``."""
        for name, p in self.named_parameters():
            if name.endswith(("rel_pos_h", "rel_pos_w", "rel_pos_t")) or "pos_embed" in name or name == "cls_token":
                nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv3d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.constant_(m.bias, 0.02)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0.02)
        with torch.no_grad():
            self.head.projection.weight.mul_(self.config.head_init_scale)
            self.head.projection.bias.mul_(self.config.head_init_scale)

    def _abs_pos(self, thw: Sequence[int]) -> torch.Tensor:
        """The absolute position embedding for a ``T x H x W`` grid (trilinearly resized from the build grid)."""
        pos: torch.Tensor
        if self.pos_embed is not None:
            pos = self.pos_embed
        else:
            # sep_pos_embed: the spatial and temporal tables are both built
            spatial = cast(nn.Parameter, self.pos_embed_spatial)
            temporal = cast(nn.Parameter, self.pos_embed_temporal)
            t, hw = self.patch_dims[0], self.patch_dims[1] * self.patch_dims[2]
            pos = spatial.repeat(1, t, 1) + torch.repeat_interleave(temporal, hw, dim=1)
            if self.pos_embed_class is not None:
                pos = torch.cat((self.pos_embed_class, pos), dim=1)
        cls_pos = None
        if self.config.cls_embed:
            cls_pos, pos = pos[:, :1], pos[:, 1:]
        if list(thw) != list(self.patch_dims):
            grid = pos.reshape(1, *self.patch_dims, -1).permute(0, 4, 1, 2, 3)
            pos = F.interpolate(grid, size=tuple(thw), mode="trilinear").flatten(2).transpose(1, 2)
        return pos if cls_pos is None else torch.cat((cls_pos, pos), dim=1)

    def kwargs_for_state(self, state: Mapping[str, torch.Tensor]) -> dict[str, int]:
        """Builder arguments under which ``state`` loads (its tables' clip and crop; see the module doc)."""
        return input_size_for_state(state, self.config)

    def forward_features(self, x) -> torch.Tensor:
        x, thw = self.patch_embed(single_pathway(x))
        if self.config.cls_embed:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if self.config.use_abs_pos:
            x = x + self._abs_pos(thw)
        x = self.pos_drop(x)
        if self.norm_stem is not None:
            x = self.norm_stem(x)
        for block in self.blocks:
            x, thw = block(x, thw)
        if self.config.use_mean_pooling:
            return self.norm((x[:, 1:] if self.config.cls_embed else x).mean(1))
        if self.config.cls_embed:
            return self.norm(x)[:, 0]
        return self.norm(x).mean(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def input_size_for_state(state: Mapping[str, torch.Tensor], config: MViTConfig) -> dict[str, int]:
    """``{"num_frames": T, "crop_size": S}`` whose position tables have the shapes of ``state``'s
    (``blocks.0.attn.rel_pos_*``; with absolute embeddings, ``pos_embed_spatial`` ``(1, H*W, C)``
    and ``pos_embed_temporal`` ``(1, T, C)``, or a joint ``pos_embed`` ``(1, [1 +] T*H*W, C)``
    read at the config's T), e.g. to build a model that a checkpoint loads into.

    Several crops give the same tables (``crop // patch_stride`` rounds down); the
    smallest is returned. ``{}`` when ``config`` has no position tables (or they
    are absent from ``state``); a spatial table that is not a square grid gives no crop."""
    plan0 = block_plan(config)[0]
    out: dict[str, int] = {}
    pt, ps = config.patch_stride[0], config.patch_stride[1]

    def crop_for(cells: int) -> None:
        side = math.isqrt(cells)
        if side * side == cells:
            out["crop_size"] = side * ps

    if config.use_abs_pos and config.sep_pos_embed:
        if "pos_embed_spatial" in state:
            crop_for(state["pos_embed_spatial"].shape[1])
        if "pos_embed_temporal" in state:
            out["num_frames"] = state["pos_embed_temporal"].shape[1] * pt
    elif config.use_abs_pos and "pos_embed" in state:
        cells, t = state["pos_embed"].shape[1] - int(config.cls_embed), config.num_frames // pt
        if t > 0 and cells % t == 0:
            crop_for(cells // t)
    if config.rel_pos_spatial and "blocks.0.attn.rel_pos_h" in state:
        rows = state["blocks.0.attn.rel_pos_h"].shape[0]
        step = min(plan0.stride_q[1] if plan0.stride_q else 1, plan0.stride_kv[1] if plan0.stride_kv else 1)
        out["crop_size"] = (rows + 1) // 2 * step * config.patch_stride[1]
    if config.rel_pos_temporal and "blocks.0.attn.rel_pos_t" in state:
        out["num_frames"] = (state["blocks.0.attn.rel_pos_t"].shape[0] + 1) // 2 * config.patch_stride[0]
    return out


# ----------------------------------------------------------------------------
# Configs (PySlowFast configs/Kinetics/*.yaml) and builders


def _q_strides(depth: int, pooled: Sequence[int]) -> tuple[tuple[int, int, int, int], ...]:
    """``POOL_Q_STRIDE`` rows as the v2 configs write them: every block listed, 1x2x2 at ``pooled``."""
    return tuple((i, 1, 2, 2) if i in pooled else (i, 1, 1, 1) for i in range(depth))


MVITV2_S_16X4 = MViTConfig(
    depth=16, embed_dim=96, num_heads=1,
    dim_mul=((1, 2.0), (3, 2.0), (14, 2.0)), head_mul=((1, 2.0), (3, 2.0), (14, 2.0)),
    pool_q_stride=_q_strides(16, (1, 3, 14)), drop_path_rate=0.2, num_frames=16, crop_size=224,
)
MVITV2_B_32X3 = MViTConfig(
    depth=24, embed_dim=96, num_heads=1,
    dim_mul=((2, 2.0), (5, 2.0), (21, 2.0)), head_mul=((2, 2.0), (5, 2.0), (21, 2.0)),
    pool_q_stride=_q_strides(24, (2, 5, 21)), drop_path_rate=0.3, num_frames=32, crop_size=224,
)


# MViTv1-B (Fan et al., ICCV 2021): PySlowFast configs/Kinetics/MVIT_B_16x4_CONV.yaml over its defaults
# (USE_ABS_POS True, REL_POS_* / RESIDUAL_POOLING / DIM_MUL_IN_ATT False), which are PyTorchVideo's
# create_multiscale_vision_transformers(**mvit_video_base_config) and torchvision's mvit_v1_b block table.
MVIT_V1_B_16X4 = MViTConfig(
    depth=16, embed_dim=96, num_heads=1,
    dim_mul=((1, 2.0), (3, 2.0), (14, 2.0)), head_mul=((1, 2.0), (3, 2.0), (14, 2.0)),
    pool_q_stride=((1, 1, 2, 2), (3, 1, 2, 2), (14, 1, 2, 2)), pool_kv_stride_adaptive=(1, 8, 8),
    pool_kvq_kernel=(3, 3, 3), use_abs_pos=True, sep_pos_embed=True, rel_pos_spatial=False,
    rel_pos_temporal=False, residual_pooling=False, dim_mul_in_att=False, drop_path_rate=0.2,
    num_frames=16, crop_size=224,
)
# The paper's MViT-B 32x3 (PyTorchVideo mvit_base_32x3): the same 16 blocks, 32 frames, hence a 16-row
# temporal embedding. (PySlowFast's MVIT_B_32x3_CONV.yaml is another network: see the module docstring.)
MVIT_V1_B_32X3 = replace(MVIT_V1_B_16X4, num_frames=32)
# MViT-B-24 32x3: PySlowFast's configs/Kinetics/MVIT_B_32x3_CONV.yaml (its MODEL_ZOO's MViTv1 B-Conv 32x3 K400 and
# K600 files). The YAML sets DEPTH twice and keeps the later 24; q pooled (and channels / heads doubled) at blocks 2,
# 5 and 21; no POOL_KVQ_KERNEL, so every pooling kernel is its stride + 1 (k/v: 9x9 at block 0, then 5x5, 3x3, none);
# drop path 0.3.
MVIT_V1_B24_32X3 = replace(
    MVIT_V1_B_16X4, depth=24, dim_mul=((2, 2.0), (5, 2.0), (21, 2.0)), head_mul=((2, 2.0), (5, 2.0), (21, 2.0)),
    pool_q_stride=((2, 1, 2, 2), (5, 1, 2, 2), (21, 1, 2, 2)), pool_kvq_kernel=None, drop_path_rate=0.3,
    num_frames=32,
)


def _spec(title: str, frames: int, rate: int, source: str) -> dict:
    return dict(family="mvit", num_frames=frames, sampling_rate=rate, crop_size=224, test_crop_size=224,
                description=f"{title} {frames}x{rate} ({source})")


@register_model("mvit_v1_b_16x4", **_spec("MViTv1-B", 16, 4, "PySlowFast MVIT_B_16x4_CONV, pytorchvideo "
                                          "mvit_base_16x4, torchvision mvit_v1_b"),
                aliases=("mvit_v1_b", "mvit_base_16x4"))
def mvit_v1_b_16x4(num_classes: int = 400, **kw) -> MViT:
    """MViTv1-B, 16 x 4 clips: 16 blocks, absolute separable position embeddings (36.6M parameters)."""
    return MViT(num_classes, MVIT_V1_B_16X4, **{"crop_size": TABLE_CROP, **kw})


@register_model("mvit_v1_b_32x3", **_spec("MViTv1-B", 32, 3, "pytorchvideo mvit_base_32x3; 16 blocks"),
                aliases=("mvit_base_32x3",))
def mvit_v1_b_32x3(num_classes: int = 400, **kw) -> MViT:
    """MViTv1-B, 32 x 3 clips: MViTv1-B with a 16-row temporal embedding (36.6M parameters)."""
    return MViT(num_classes, MVIT_V1_B_32X3, **{"crop_size": TABLE_CROP, **kw})


@register_model("mvit_v1_b24_32x3", **_spec("MViTv1-B-24", 32, 3, "PySlowFast MVIT_B_32x3_CONV; 24 blocks"))
def mvit_v1_b24_32x3(num_classes: int = 400, **kw) -> MViT:
    """MViTv1-B-24, 32 x 3 clips: 24 blocks, q pooled at blocks 2, 5, 21, kernels stride + 1 (PySlowFast's
    MViTv1 B-Conv 32x3 checkpoints for Kinetics-400 and -600)."""
    return MViT(num_classes, MVIT_V1_B24_32X3, **{"crop_size": TABLE_CROP, **kw})


@register_model("mvitv2_s_16x4", **_spec("MViTv2-S", 16, 4, "PySlowFast MVITv2_S_16x4, torchvision mvit_v2_s"),
                aliases=("mvit_v2_s",))
def mvitv2_s_16x4(num_classes: int = 400, **kw) -> MViT:
    """MViTv2-S, 16 x 4 clips: 16 blocks, q pooled at blocks 1, 3, 14 (34.5M parameters at crop_size=224)."""
    return MViT(num_classes, MVITV2_S_16X4, **{"crop_size": TABLE_CROP, **kw})


@register_model("mvitv2_b_32x3", **_spec("MViTv2-B", 32, 3, "PySlowFast MVITv2_B_32x3"))
def mvitv2_b_32x3(num_classes: int = 400, **kw) -> MViT:
    """MViTv2-B, 32 x 3 clips: 24 blocks, q pooled at blocks 2, 5, 21 (51.2M parameters at crop_size=224)."""
    return MViT(num_classes, MVITV2_B_32X3, **{"crop_size": TABLE_CROP, **kw})
