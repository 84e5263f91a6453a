"""ActionFormer (Zhang, Wu & Li, "ActionFormer: Localizing Moments of Actions with Transformers",
ECCV 2022): single-stage temporal action localization on clip-feature sequences.

The rules and defaults follow the paper and its official code
(github.com/happyharrycn/actionformer_release, ``libs/modeling`` and ``configs/thumos_i3d.yaml``,
read for the rules; this is an independent implementation).

Network (feature sequence ``(B, D, T)`` -> per pyramid level, per time step, ``C`` class logits and
two distances):

1. **Projection**: ``embed_convs`` masked 1-D convolutions (kernel 3, no bias) each followed by a
   LayerNorm over channels and a ReLU.
2. **Transformer pyramid**: ``stem_blocks`` pre-LN transformer blocks at full resolution (level 0),
   then one block per further level that halves the resolution (``levels - 1`` of them). A block
   is ``x + attn(LN(x))`` then ``x + MLP(LN(x))`` (MLP ``dim -> 4 dim -> dim``, GELU). Attention is
   the paper's *local* self-attention: step ``i`` attends to the steps ``j`` with
   ``|i - j| <= window // 2`` of the same level (THUMOS: window 19); queries, keys and values first
   pass a depthwise convolution (kernel 3; kernel ``stride + 1`` and stride 2 in the downsampling
   blocks) and a LayerNorm, then 1x1 projections. In a downsampling block the skip path is a max
   pool (kernel 3, stride 2, padding 1). Levels are at strides ``1, 2, 4, ...`` of the input grid.
3. **Neck**: a LayerNorm per level (the official ``identity`` FPN).
4. **Heads**, shared across levels: ``head_layers - 1`` masked convolutions (kernel 3) + LayerNorm +
   ReLU, then a convolution to ``C`` logits (classification; bias initialised to
   ``-log((1 - p) / p)`` with prior ``p = 0.01``, as RetinaNet) or to 2 distances (regression,
   then a learnable scalar per level and a ReLU). Distances are in units of the level's stride.

Masks: every sequence of a batch is padded to a common length and a boolean mask ``(B, T)`` marks
its real steps. Invalid steps are zeroed before every convolution, excluded as attention keys and
as max-pool candidates, and zeroed in every output, so **the outputs at the real steps of a
sequence do not depend on the padding**: a sequence alone equals itself padded in a batch (to
float rounding). The level ``l`` mask is the input mask sampled every ``2**l`` steps (the official
nearest-neighbour downsampling), so a sequence of ``L`` valid steps has ``ceil(L / 2**l)`` there.
The input is padded (inside :meth:`ActionFormer.forward`) to a multiple of ``2**(levels - 1)``.
Attention uses :func:`torch.nn.functional.scaled_dot_product_attention` on blocks of queries
with the keys of their band (:func:`local_attention`): memory ``O(T * window)``, not ``O(T^2)``.

Training targets (:func:`assign_targets`), per point ``t`` of level ``l`` (points at
``t = k * 2**l`` on the input grid, stride ``s = 2**l``, regression range ``[lo_l, hi_l]``):

- a point is *inside* a ground-truth segment ``[a, b]`` (grid units) when, with center sampling
  (radius ``r = 1.5``), it lies strictly inside ``[max(a, c - r s), min(b, c + r s)]``,
  ``c = (a + b) / 2``; without it (``center_radius <= 0``), strictly inside ``[a, b]``;
- and the larger of its distances ``max(t - a, b - t)`` lies in ``[lo_l, hi_l]`` (both ends
  included). Ranges (grid units): ``(0, 4), (4, 8), (8, 16), ...`` doubling per level, the last
  level up to 10000 (THUMOS' six levels: ``(0,4) ... (32,64), (64,10000)``);
- among the segments that qualify, the shortest wins; every segment within ``1e-3`` of that
  length adds its class (multi-label targets: overlapping instances of different classes); the
  regression target is ``(t - a, b - t) / s`` of the first shortest one.

Losses (:func:`detection_losses`): sigmoid focal loss (alpha 0.25, gamma 2) summed over all valid
points and classes, plus the 1-D DIoU loss of the positives' offsets; the trainer divides both by a
moving average of the number of positives (momentum 0.9, as the official code).

Decoding (:func:`candidates`): per level, ``sigmoid(logit)`` of every (point, class); scores
``> pre_nms_thresh`` (0.001), the ``pre_nms_topk`` (2000) best per level, segment
``[t - d0 s, t + d1 s]``, kept if longer than ``duration_thresh`` (0.05 grid units). Soft-NMS, top-k
and the conversion to seconds are :mod:`vidlab.localize.tal_train`'s.

Sizes: :class:`ActionFormerConfig`'s defaults are small for CPUs (embed 128, 3 levels, one stem
block, window 9); :meth:`ActionFormerConfig.thumos` is the paper's THUMOS'14 model (embed 512,
6 levels, 2 stem blocks, window 19, stochastic depth 0.1 with per-channel residual scales
initialised to 1e-4, the official ``AffineDropPath``).

Only torch is imported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ActionFormer", "ActionFormerConfig", "ActionFormerOutput", "MaskedConv1d", "ChannelNorm", "LocalSelfAttention",
    "TransformerBlock", "local_attention", "local_attention_reference", "level_points", "assign_targets",
    "sigmoid_focal_loss", "diou_loss_1d", "detection_losses", "candidates",
]

#: Upper end of the last level's regression range (the official code's "infinity").
MAX_RANGE = 10000.0


@dataclass
class ActionFormerConfig:
    """The architecture (and the label-assignment rules that belong to it).

    ``window``: local attention window in steps (odd; each step sees ``window // 2`` on each
    side); ``<= 1`` for global attention. ``levels``: pyramid levels (strides ``1 .. 2**(levels-1)``).
    ``stem_blocks``: full-resolution transformer blocks before the first downsampling.
    ``regression_ranges``: per level ``(lo, hi)`` in input-grid units (``None``: the doubling rule
    of the module docstring). ``center_radius``: center-sampling radius in strides (``<= 0``: off).
    ``drop_path``: stochastic-depth probability of the residual branches; ``layer_scale``: initial
    value of per-channel residual scales (``None``: none).
    """

    input_dim: int
    num_classes: int
    embed_dim: int = 128
    num_heads: int = 4
    window: int = 9
    levels: int = 3
    stem_blocks: int = 1
    embed_convs: int = 2
    embed_kernel: int = 3
    mlp_ratio: int = 4
    head_dim: int | None = None
    head_layers: int = 3
    head_kernel: int = 3
    prior_prob: float = 0.01
    dropout: float = 0.0
    drop_path: float = 0.0
    layer_scale: float | None = None
    regression_ranges: list[tuple[float, float]] | None = None
    center_radius: float = 1.5

    def __post_init__(self) -> None:
        if self.input_dim < 1 or self.num_classes < 1:
            raise ValueError(f"input_dim and num_classes must be >= 1, got {self.input_dim}, {self.num_classes}")
        if self.levels < 1 or self.embed_convs < 1 or self.stem_blocks < 0 or self.head_layers < 1:
            raise ValueError("need levels >= 1, embed_convs >= 1, stem_blocks >= 0, head_layers >= 1")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.window > 1 and self.window % 2 == 0:
            raise ValueError(f"the attention window must be odd (a centre and window // 2 each side), got {self.window}")
        for k in (self.embed_kernel, self.head_kernel):
            if k < 1 or k % 2 == 0:
                raise ValueError(f"kernel sizes must be odd, got {k}")
        if self.regression_ranges is not None:
            self.regression_ranges = [(float(a), float(b)) for a, b in self.regression_ranges]
            if len(self.regression_ranges) != self.levels:
                raise ValueError(f"{len(self.regression_ranges)} regression ranges for {self.levels} levels")

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """Regression range ``(lo, hi)`` of each level, input-grid units."""
        if self.regression_ranges is not None:
            return list(self.regression_ranges)
        out = [(0.0 if i == 0 else 4.0 * 2 ** (i - 1), 4.0 * 2**i) for i in range(self.levels)]
        out[-1] = (out[-1][0], MAX_RANGE)
        return out

    @property
    def divisor(self) -> int:
        """Input lengths are padded to a multiple of this (the coarsest level's stride)."""
        return 2 ** (self.levels - 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["regression_ranges"] is not None:
            d["regression_ranges"] = [list(r) for r in d["regression_ranges"]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionFormerConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown ActionFormer settings: {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def thumos(cls, input_dim: int = 2048, num_classes: int = 20, **overrides: Any) -> ActionFormerConfig:
        """The paper's THUMOS'14 model (``configs/thumos_i3d.yaml`` over the official defaults)."""
        base = dict(embed_dim=512, num_heads=4, window=19, levels=6, stem_blocks=2, embed_convs=2, head_dim=512,
                    head_layers=3, drop_path=0.1, layer_scale=1e-4)
        return cls(input_dim=input_dim, num_classes=num_classes, **{**base, **overrides})


# ------------------------------------------------------------------------------------------------
# building blocks


class MaskedConv1d(nn.Conv1d):
    """A ``Conv1d`` ("same" padding ``kernel // 2``) on ``(B, C, T)`` with a ``(B, T)`` mask: invalid
    input steps are zeroed first, the output mask is the input mask every ``stride`` steps, and
    invalid output steps are zeroed. ``forward(x, mask) -> (y, out_mask)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                         groups=groups, bias=bias)
        if bias:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        y = super().forward(x.masked_fill(~mask[:, None], 0.0))
        m = mask[:, :: self.stride[0]]
        return y.masked_fill(~m[:, None], 0.0), m


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of a ``(B, C, T)`` tensor (each time step on its own)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def local_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor,
                              radius: int | None) -> torch.Tensor:
    """Dense reference of :func:`local_attention`: one ``(T, T)`` band mask (``radius=None``: global)."""
    T = q.shape[-2]
    i = torch.arange(T, device=q.device)
    allowed = key_mask[:, None, None, :].expand(-1, 1, T, T)
    eye = i[:, None] == i[None, :]
    allowed = allowed | eye
    if radius is not None:
        allowed = allowed & ((i[:, None] - i[None, :]).abs() <= radius)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


def local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor,
                    radius: int | None, chunk: int | None = None) -> torch.Tensor:
    """Banded self-attention: query ``i`` attends to the valid keys ``j`` with ``|i - j| <= radius``.

    ``q, k, v``: ``(B, H, T, d)``; ``key_mask``: ``(B, T)`` bool. ``radius=None``: global attention.
    A query always sees its own key, so a query whose whole band is padding (its output is
    discarded) still has a finite softmax; a valid query's own key is valid anyway.

    Queries are split into blocks of ``chunk`` steps (default ``max(2 * radius, 16)``); each block
    attends to the ``chunk + 2 * radius`` keys around it through one
    :func:`~torch.nn.functional.scaled_dot_product_attention` call over all blocks, with the band
    as a boolean mask: ``O(T (chunk + 2 radius))`` memory.
    """
    B, H, T, d = q.shape
    if radius is None or T <= 2 * radius + 1:
        return local_attention_reference(q, k, v, key_mask, radius)
    c = chunk or max(2 * radius, 16)
    n = -(-T // c)
    tp = n * c
    span = c + 2 * radius
    qc = F.pad(q, (0, 0, 0, tp - T)).view(B, H, n, c, d)
    pad = (0, 0, radius, tp - T + radius)
    kc = F.pad(k, pad).unfold(2, span, c).transpose(-1, -2)  # (B, H, n, span, d)
    vc = F.pad(v, pad).unfold(2, span, c).transpose(-1, -2)
    km = F.pad(key_mask, (radius, tp - T + radius), value=False).unfold(1, span, c)  # (B, n, span)
    a = torch.arange(c, device=q.device)[:, None]
    b = torch.arange(span, device=q.device)[None, :]
    band = (b - a >= 0) & (b - a <= 2 * radius)  # key b of a block is step (block start + b - radius)
    diag = b - a == radius
    allowed = band & (km[:, None, :, None, :] | diag)  # (B, 1, n, c, span)
    out = F.scaled_dot_product_attention(qc, kc, vc, attn_mask=allowed)
    return out.reshape(B, H, tp, d)[:, :, :T]


class LocalSelfAttention(nn.Module):
    """Multi-head local self-attention with depthwise-convolution query/key/value (the paper's
    ``LocalMaskedMHCA``): ``stride`` 2 halves the sequence (queries, keys and values alike)."""

    def __init__(self, dim: int, num_heads: int, window: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.radius = window // 2 if window > 1 else None
        kernel = stride + 1 if stride > 1 else 3
        self.query_conv = MaskedConv1d(dim, dim, kernel, stride=stride, groups=dim, bias=False)
        self.key_conv = MaskedConv1d(dim, dim, kernel, stride=stride, groups=dim, bias=False)
        self.value_conv = MaskedConv1d(dim, dim, kernel, stride=stride, groups=dim, bias=False)
        self.query_norm = ChannelNorm(dim)
        self.key_norm = ChannelNorm(dim)
        self.value_norm = ChannelNorm(dim)
        self.query = nn.Conv1d(dim, dim, 1)
        self.key = nn.Conv1d(dim, dim, 1)
        self.value = nn.Conv1d(dim, dim, 1)
        self.proj = nn.Conv1d(dim, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, _ = x.shape
        q, m = self.query_conv(x, mask)
        k, _ = self.key_conv(x, mask)
        v, _ = self.value_conv(x, mask)
        h = self.num_heads

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, h, T, C / h)
            return t.view(B, h, C // h, -1).transpose(2, 3)

        q = heads(self.query(self.query_norm(q)))
        k = heads(self.key(self.key_norm(k)))
        v = heads(self.value(self.value_norm(v)))
        out = local_attention(q, k, v, m, self.radius)
        out = out.transpose(2, 3).reshape(B, C, -1)
        out = self.drop(self.proj(out))
        return out.masked_fill(~m[:, None], 0.0), m


def _drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole branch of a sample with probability ``p`` (scale the rest)."""
    if p == 0.0 or not training:
        return x
    keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device) >= p
    return x * keep / (1.0 - p)


class TransformerBlock(nn.Module):
    """Pre-LN block ``x + attn(LN(x))``, ``x + MLP(LN(x))`` on ``(B, C, T)`` with a mask; ``stride`` 2
    halves the length (max-pooled skip). Optional stochastic depth and per-channel residual scales."""

    def __init__(self, dim: int, num_heads: int, window: int, stride: int = 1, mlp_ratio: int = 4,
                 dropout: float = 0.0, drop_path: float = 0.0, layer_scale: float | None = None):
        super().__init__()
        self.stride = stride
        self.drop_path = drop_path
        self.ln1 = ChannelNorm(dim)
        self.attn = LocalSelfAttention(dim, num_heads, window, stride, dropout)
        self.pool = nn.MaxPool1d(stride + 1, stride=stride, padding=(stride + 1) // 2) if stride > 1 else None
        self.ln2 = ChannelNorm(dim)
        self.mlp = nn.Sequential(nn.Conv1d(dim, mlp_ratio * dim, 1), nn.GELU(), nn.Dropout(dropout),
                                 nn.Conv1d(mlp_ratio * dim, dim, 1), nn.Dropout(dropout))
        if layer_scale is not None:
            self.scale_attn = nn.Parameter(torch.full((1, dim, 1), float(layer_scale)))
            self.scale_mlp = nn.Parameter(torch.full((1, dim, 1), float(layer_scale)))
        else:
            self.scale_attn = self.scale_mlp = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, m = self.attn(self.ln1(x), mask)
        if self.pool is not None:  # padding never wins the max: invalid steps are -inf in the pool
            skip = self.pool(x.masked_fill(~mask[:, None], float("-inf"))).masked_fill(~m[:, None], 0.0)
        else:
            skip = x.masked_fill(~m[:, None], 0.0)
        if self.scale_attn is not None:
            out = out * self.scale_attn
        out = skip + _drop_path(out, self.drop_path, self.training)
        branch = self.mlp(self.ln2(out)).masked_fill(~m[:, None], 0.0)
        if self.scale_mlp is not None:
            branch = branch * self.scale_mlp
        return out + _drop_path(branch, self.drop_path, self.training), m


class _Head(nn.Module):
    """Shared head: (conv + LayerNorm + ReLU) x (layers - 1), then a conv to ``out_dim``."""

    def __init__(self, in_dim: int, dim: int, out_dim: int, layers: int, kernel: int):
        super().__init__()
        self.convs = nn.ModuleList(MaskedConv1d(in_dim if i == 0 else dim, dim, kernel, bias=False)
                                   for i in range(layers - 1))
        self.norms = nn.ModuleList(ChannelNorm(dim) for _ in range(layers - 1))
        self.out = MaskedConv1d(dim if layers > 1 else in_dim, out_dim, kernel)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x, mask)[0]))
        return self.out(x, mask)[0]


class ActionFormerOutput(NamedTuple):
    """Per pyramid level: ``cls_logits (B, T_l, C)``, ``offsets (B, T_l, 2)`` (distances to start and
    end in units of the level's stride, >= 0), ``masks (B, T_l)`` bool."""

    cls_logits: list[torch.Tensor]
    offsets: list[torch.Tensor]
    masks: list[torch.Tensor]


class ActionFormer(nn.Module):
    """ActionFormer on ``(B, D, T)`` feature sequences (see the module docstring).

    ``ActionFormer(config)`` or ``ActionFormer(input_dim=..., num_classes=..., **settings)``.
    ``forward(x, mask=None) -> ActionFormerOutput``; ``mask`` ``(B, T)`` bool marks the real steps.
    """

    def __init__(self, config: ActionFormerConfig | None = None, **settings: Any):
        super().__init__()
        if config is None:
            config = ActionFormerConfig(**settings)
        elif settings:
            raise TypeError("give a config or settings, not both")
        self.config = cfg = config
        dim = cfg.embed_dim
        head_dim = cfg.head_dim or dim
        self.embed = nn.ModuleList(MaskedConv1d(cfg.input_dim if i == 0 else dim, dim, cfg.embed_kernel, bias=False)
                                   for i in range(cfg.embed_convs))
        self.embed_norm = nn.ModuleList(ChannelNorm(dim) for _ in range(cfg.embed_convs))
        block = dict(num_heads=cfg.num_heads, window=cfg.window, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout,
                     drop_path=cfg.drop_path, layer_scale=cfg.layer_scale)
        self.stem = nn.ModuleList(TransformerBlock(dim, stride=1, **block) for _ in range(cfg.stem_blocks))
        self.branch = nn.ModuleList(TransformerBlock(dim, stride=2, **block) for _ in range(cfg.levels - 1))
        self.neck = nn.ModuleList(ChannelNorm(dim) for _ in range(cfg.levels))
        self.cls_head = _Head(dim, head_dim, cfg.num_classes, cfg.head_layers, cfg.head_kernel)
        self.reg_head = _Head(dim, head_dim, 2, cfg.head_layers, cfg.head_kernel)
        self.reg_scale = nn.Parameter(torch.ones(cfg.levels))
        for mod in self.modules():
            if isinstance(mod, nn.Conv1d) and mod.bias is not None:
                nn.init.zeros_(mod.bias)
        nn.init.constant_(self.cls_head.out.bias, -math.log((1.0 - cfg.prior_prob) / cfg.prior_prob))

    @property
    def strides(self) -> list[int]:
        return [2**i for i in range(self.config.levels)]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> ActionFormerOutput:
        B, D, T = x.shape
        if D != self.config.input_dim:
            raise ValueError(f"expected {self.config.input_dim}-d features (B, D, T), got {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=x.device)
        div = self.config.divisor
        tp = -(-max(T, 1) // div) * div
        if tp != T:
            x = F.pad(x, (0, tp - T))
            mask = F.pad(mask, (0, tp - T), value=False)
        m = mask.bool()
        for conv, norm in zip(self.embed, self.embed_norm):
            x, m = conv(x, m)
            x = F.relu(norm(x))
        for blk in self.stem:
            x, m = blk(x, m)
        feats, masks = [x], [m]
        for blk in self.branch:
            x, m = blk(x, m)
            feats.append(x)
            masks.append(m)
        cls, off = [], []
        for lvl, (f, mk) in enumerate(zip(feats, masks)):
            f = self.neck[lvl](f)
            cls.append(self.cls_head(f, mk).transpose(1, 2))
            off.append(F.relu(self.reg_head(f, mk) * self.reg_scale[lvl]).transpose(1, 2))
        return ActionFormerOutput(cls, off, masks)


# ------------------------------------------------------------------------------------------------
# label assignment, losses, decoding


def level_points(lengths: list[int], ranges: list[tuple[float, float]], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(sum T_l, 4)`` rows ``[t, lo, hi, stride]``: point ``k`` of level ``l`` is at ``t = k * 2**l``
    on the input grid (no half-stride offset, as the official generator)."""
    rows = []
    for lvl, (n, (lo, hi)) in enumerate(zip(lengths, ranges)):
        s = float(2**lvl)
        t = torch.arange(n, device=device, dtype=dtype) * s
        rows.append(torch.stack([t, torch.full_like(t, lo), torch.full_like(t, hi), torch.full_like(t, s)], 1))
    return torch.cat(rows)


def assign_targets(points: torch.Tensor, segments: torch.Tensor, labels: torch.Tensor, num_classes: int,
                   center_radius: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of one video: ``(cls (P, C) in {0, 1}, reg (P, 2))`` (see the module docstring).

    ``points``: :func:`level_points`; ``segments``: ``(N, 2)`` ``[start, end]`` in input-grid units;
    ``labels``: ``(N,)`` class indices. ``reg`` is ``(t - start, end - t) / stride`` of the assigned
    segment at positives (meaningless elsewhere).
    """
    P, N = points.shape[0], segments.shape[0]
    if N == 0:
        return points.new_zeros(P, num_classes), points.new_zeros(P, 2)
    t, lo, hi, s = (points[:, i, None] for i in range(4))  # (P, 1)
    a, b = segments[None, :, 0], segments[None, :, 1]  # (1, N)
    left, right = t - a, b - t  # (P, N)
    if center_radius > 0:
        c = 0.5 * (a + b)
        inside = (t - torch.maximum(c - s * center_radius, a) > 0) & (torch.minimum(c + s * center_radius, b) - t > 0)
    else:
        inside = torch.minimum(left, right) > 0
    far = torch.maximum(left, right)
    ok = inside & (far >= lo) & (far <= hi)
    lens = (b - a).expand(P, N).masked_fill(~ok, float("inf"))
    shortest, which = lens.min(dim=1)
    tied = (lens <= shortest[:, None] + 1e-3) & torch.isfinite(lens)
    cls = (tied.to(points.dtype) @ F.one_hot(labels.long(), num_classes).to(points.dtype)).clamp_(0.0, 1.0)
    idx = torch.arange(P, device=points.device)
    reg = torch.stack([left[idx, which], right[idx, which]], 1) / points[:, 3, None]
    return cls, reg


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> torch.Tensor:
    """Elementwise focal loss (Lin et al. 2017) of sigmoid logits against {0, 1} (or soft) targets."""
    logits, targets = logits.float(), targets.float()
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


def diou_loss_1d(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Elementwise 1-D Distance-IoU loss (Zheng et al. 2020) of segments given as distances
    ``(left, right) >= 0`` from the same point: ``1 - IoU + (centre distance / enclosing length)^2``."""
    pred, target = pred.float(), target.float()
    lp, rp = pred[:, 0], pred[:, 1]
    lg, rg = target[:, 0], target[:, 1]
    inter = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    union = (lp + rp) + (lg + rg) - inter
    iou = inter / union.clamp(min=eps)
    enclosing = torch.maximum(lp, lg) + torch.maximum(rp, rg)
    rho = 0.5 * (rp - lp - rg + lg)
    return 1.0 - iou + (rho / enclosing.clamp(min=eps)) ** 2


def detection_losses(out: ActionFormerOutput, segments: list[torch.Tensor], labels: list[torch.Tensor],
                     config: ActionFormerConfig) -> dict[str, torch.Tensor]:
    """Summed losses of a batch: ``{"cls", "reg", "num_pos"}``. Targets come from
    :func:`assign_targets` on every video (``segments[b]`` in grid units); ``cls`` is the focal loss
    summed over the valid points and classes, ``reg`` the DIoU loss summed over the positives. The
    trainer divides both by its normalizer (the official code's moving average of ``num_pos``)."""
    lengths = [c.shape[1] for c in out.cls_logits]
    logits = torch.cat(out.cls_logits, 1)
    offsets = torch.cat(out.offsets, 1)
    valid = torch.cat(out.masks, 1)
    points = level_points(lengths, config.ranges, device=logits.device)
    tc, tr = zip(*(assign_targets(points, s.to(points), y.to(logits.device), config.num_classes,
                                  config.center_radius) for s, y in zip(segments, labels)))
    gt_cls, gt_reg = torch.stack(tc), torch.stack(tr)
    pos = (gt_cls.sum(-1) > 0) & valid
    cls_loss = sigmoid_focal_loss(logits[valid], gt_cls[valid]).sum()
    reg_loss = diou_loss_1d(offsets[pos], gt_reg[pos]).sum() if pos.any() else offsets.sum() * 0.0
    return {"cls": cls_loss, "reg": reg_loss, "num_pos": pos.sum()}


@torch.no_grad()
def candidates(out: ActionFormerOutput, index: int, pre_nms_thresh: float = 0.001, pre_nms_topk: int = 2000,
               duration_thresh: float = 0.05) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scored segments of video ``index`` of a batch, before NMS: ``(segments (N, 2) in input-grid
    units, scores (N,), labels (N,))`` (the official ``inference_single_video`` rules)."""
    segs, scores, labels = [], [], []
    for lvl, (cls, off, mk) in enumerate(zip(out.cls_logits, out.offsets, out.masks)):
        C = cls.shape[-1]
        prob = (torch.sigmoid(cls[index].float()) * mk[index, :, None]).flatten()
        keep = torch.nonzero(prob > pre_nms_thresh).squeeze(1)
        p = prob[keep]
        p, order = p.sort(descending=True)
        p, keep = p[:pre_nms_topk], keep[order[:pre_nms_topk]]
        pt, c = keep // C, keep % C
        s = float(2**lvl)
        t = pt.to(p.dtype) * s
        o = off[index, pt].float()
        seg = torch.stack([t - o[:, 0] * s, t + o[:, 1] * s], 1)
        long_enough = seg[:, 1] - seg[:, 0] > duration_thresh
        segs.append(seg[long_enough])
        scores.append(p[long_enough])
        labels.append(c[long_enough])
    return torch.cat(segs), torch.cat(scores), torch.cat(labels)
