"""Video Swin Transformer (Liu et al., CVPR 2022) in torchvision's layout.

One class, :class:`VideoSwin`, built from a :class:`VideoSwinConfig`.
Registered models (the paper's Swin-T/S/B with 2x4x4 patches and 8x7x7
windows, "p244-w877"):

- ``swin3d_t``: width 96, depths 2-2-6-2, heads 3-6-12-24 (28,158,070 parameters);
- ``swin3d_s``: width 96, depths 2-2-18-2, heads 3-6-12-24 (49,816,678);
- ``swin3d_b``: width 128, depths 2-2-18-2, heads 4-8-16-32 (88,048,984).

The counts are with 400 classes and equal torchvision's ``num_params`` weights
meta and MMAction2's metafile (28.2M / 49.8M / 88.0M). Clips: 32 frames, every
2nd (MMAction2's and the original release's ``SampleFrames(clip_len=32,
frame_interval=2)``; torchvision's meta says its accuracies are for
``frame_rate=15``, ``clip_len=32``, 12 clips per video, i.e. the same 32
frames at 15 fps from 30 fps video), resize 256 + centre crop 224, ImageNet
mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) (torchvision's
``VideoClassification`` transforms; MMAction2's 123.675/58.395... on 0-255).

**The network.** Input ``(B, C, T, H, W)``, padded with zeros at the end of
T, H and W to multiples of the patch size, then ``patch_embed.proj`` (a
Conv3d with kernel = stride = patch size) and ``patch_embed.norm``; the
tokens stay a channels-last grid ``(B, T', H', W', C)`` throughout. Stage
``i`` (``features.{2i}``) has ``depths[i]`` blocks of width
``embed_dim * 2**i``; between stages, patch merging (``features.{2i+1}``)
halves H and W (time is never merged): H and W are zero-padded to even,
the four neighbours of each 2x2 cell are concatenated in the order
``(h, w) = (0, 0), (1, 0), (0, 1), (1, 1)`` (the row offset varies
fastest), then LayerNorm(4C) and a bias-free Linear 4C -> 2C. After the last
stage: LayerNorm, the mean over all tokens (the feature, ``(B, 8 * embed_dim)``),
then dropout and ``head`` (Linear). Every norm is LayerNorm(eps=1e-5).

Each block is pre-norm: ``x = x + dp(attn(norm1(x)))``, ``x = x + dp(mlp(norm2(x)))``
(``mlp``: Linear -> GELU -> dropout -> Linear -> dropout, ratio 4; ``dp``:
stochastic depth per sample, rate ``drop_path_rate * k / (blocks - 1)`` for
the k-th block of the network). Attention is over non-overlapping 3D windows
(8 x 7 x 7): the normed grid is zero-padded at the end to multiples of the
window, cut into windows of ``N = Wt * Wh * Ww`` tokens, and each window runs
multi-head self-attention (one ``qkv`` Linear, scale ``head_dim ** -0.5``,
``proj``) with a learned relative-position bias: ``relative_position_bias_table``
has ``(2Wt-1)(2Wh-1)(2Ww-1)`` rows of one value per head, and the
``relative_position_index`` buffer ``(N, N)`` holds, for query i and key j
with offsets ``(dt, dh, dw) = pos_i - pos_j``, the row
``(dt + Wt-1)(2Wh-1)(2Ww-1) + (dh + Wh-1)(2Ww-1) + (dw + Ww-1)``. Padded tokens
are not masked (they enter as keys with value ``qkv.bias``; the sources do
the same); their outputs are cut away after the windows are put back. Odd
blocks of a stage shift the windows by half a window (4, 3, 3): the grid is
rolled by ``-shift`` before the partition and back after, and tokens that
the roll brought together from different regions (per axis the regions are
``[0, L-W)``, ``[L-W, L-s)``, ``[L-s, L)`` of the padded length L) get -100
added to their scores (the sources' value, not -inf). The bias, plus that
mask, goes to :func:`torch.nn.functional.scaled_dot_product_attention` as a
float ``attn_mask``: the sources' explicit ``softmax(q k^T * scale + bias + mask) v``
up to float rounding.

**A window larger than the grid.** Per axis, where the block's input grid is
no longer than the window (``size <= window``), the window shrinks to the
grid and that axis is not shifted (torchvision's ``_get_window_and_shift_size``
and MMAction2's ``get_window_size``; at the registered 32 x 224 x 224 clip
the token grid is 16 x 56 x 56 -> 16 x 7 x 7 in stage 4, whose 7 x 7 window
therefore is not shifted spatially; a 16-frame clip has 8 token frames, so no
temporal shift anywhere). The table needs no resizing: its rows are offsets
within a window, whatever the input size. A shrunk window of N tokens takes
its bias from the first N rows and columns of the full window's index, as
both sources do. That is the exact relative-position bias when only the
temporal window shrinks (the index is time-major), but when H or W shrink
(e.g. stage 4 of a crop below 224, or stage 3 below 112) token k of the
small window is given the offsets of token k of the full 8 x 7 x 7 window:
a fixed function of the weights, kept so that converted weights compute
what they were trained and evaluated with. Any input size runs (1 x 1 x 1
grids included: a clip of 1 frame at 4 x 4 pixels).

**Key layout.** Parameter and buffer names, shapes and order are torchvision's
``SwinTransformer3d.state_dict()``: ``patch_embed.proj``, ``patch_embed.norm``,
``features.{2i}.{j}.{norm1, attn.relative_position_bias_table,
attn.relative_position_index, attn.qkv, attn.proj, norm2, mlp.0, mlp.3}``,
``features.{2i+1}.{reduction, norm}``, ``norm``, ``head``; torchvision's
weights load with an identity mapping (:mod:`vidlab.convert.swin3d`, which
also maps MMAction2's ``SwinTransformer3D`` + ``I3DHead`` recognizers:
``backbone.layers.{i}.blocks.{j}.*`` -> ``features.{2i}.{j}.*``, ``mlp.fc1/fc2``
-> ``mlp.0/3``, ``backbone.layers.{i}.downsample`` -> ``features.{2i+1}``,
``backbone.norm3`` (1.x) or ``backbone.norm`` (0.x, the original release)
-> ``norm``, ``cls_head.fc_cls`` -> ``head``; MMAction2's patch merging
concatenates in the same order, so no tensor changes).

**Counting conventions.** Parameters: ``sum(p.numel() for p in model.parameters())``
(the index buffers are not parameters), as torchvision's ``num_params``.
GFLOPs (``vidlab models``, :func:`vidlab.apps.model_table.count_flops`): one
multiply-add = one FLOP, for one view, counted by ``torch.utils.flop_counter``
(Linear/Conv layers and both attention products; norms, softmax, GELU and the
bias/mask additions are not counted). At torchvision's 16 x 224 x 224 view
that gives 43.88 / 82.84 / 140.67 for T / S / B, torchvision's ``_ops``
(43.882 / 82.841 / 140.667); at the registered 32-frame view, 87.76 / 165.68 /
281.33, MMAction2's metafile figures (88G / 166G / 282G) and the paper's.

**Differences from the sources, on purpose.** ``forward_head`` applies dropout
0.5 (``head_dropout``) before ``head``: the training recipe of the paper's
models (MMAction2's and the original release's ``I3DHead(dropout_ratio=0.5)``);
torchvision's ``SwinTransformer3d`` has no dropout there (``head_dropout=0``
gives its training-time function; in eval mode all are equal). The model
returns logits (MMAction2's recognizer averages softmax scores over views at
test time). A one-element list is accepted as the clip. There is no
activation checkpointing, frozen-stage or 2D-inflation option (inflating
ImageNet Swin weights is MMAction2's ``inflate_weights``, not part of the network).

Sources: torchvision 0.29.1 ``models/video/swin_transformer.py`` (+ ``PatchMerging``,
``SwinTransformerBlock`` and ``ops.MLP`` of ``models/swin_transformer.py``);
MMAction2 ``mmaction/models/backbones/swin.py`` and ``configs/recognition/swin``
(commit 4d6c934); the paper, arXiv:2106.13230.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import single_pathway, triple
from vidlab.models.registry import register_model

Triple = tuple[int, int, int]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The score added between tokens of different regions of a shifted window (the sources' constant).
SHIFT_MASK_VALUE = -100.0


@dataclass(frozen=True)
class VideoSwinConfig:
    """The network's options (torchvision's ``SwinTransformer3d`` arguments, MMAction2's in brackets).

    ``patch_size`` [patch_size], ``embed_dim`` [arch embed_dims], ``depths`` and
    ``num_heads`` (one entry per stage), ``window_size`` (t, h, w), ``mlp_ratio``;
    ``dropout`` [drop_rate]: after the patch embedding, the attention ``proj``
    and both MLP layers; ``attention_dropout`` [attn_drop_rate]: on the
    attention weights; ``drop_path_rate`` (torchvision ``stochastic_depth_prob``,
    [drop_path_rate]): the last block's stochastic-depth rate (0 for the first,
    linear between); ``head_dropout`` [I3DHead dropout_ratio]: before ``head``.
    """

    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    patch_size: Triple = (2, 4, 4)
    window_size: Triple = (8, 7, 7)
    in_channels: int = 3
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path_rate: float = 0.1
    head_dropout: float = 0.5
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        # JSON sidecars hand lists back: store tuples so that configs compare and hash
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        if len(self.depths) != len(self.num_heads) or not self.depths:
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} need one entry per stage")
        if len(self.patch_size) != 3 or len(self.window_size) != 3:
            raise ValueError("patch_size and window_size are (t, h, w) triples")
        for i, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2**i) % heads:
                raise ValueError(f"stage {i}: width {self.embed_dim * 2**i} is not a multiple of {heads} heads")

    @property
    def num_features(self) -> int:
        """Width of the last stage (the feature dimension)."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)


# ----------------------------------------------------------------------------
# Windows


def relative_position_index(window: Sequence[int]) -> torch.Tensor:
    """``(N, N)`` int64 table row for every (query, key) pair of a ``Wt x Wh x Ww`` window (see the module doc)."""
    wt, wh, ww = window
    grid = torch.stack(torch.meshgrid(torch.arange(wt), torch.arange(wh), torch.arange(ww), indexing="ij"))
    pos = grid.flatten(1)  # (3, N), time-major token order
    offset = pos[:, :, None] - pos[:, None, :] + torch.tensor([wt - 1, wh - 1, ww - 1])[:, None, None]
    return offset[0] * (2 * wh - 1) * (2 * ww - 1) + offset[1] * (2 * ww - 1) + offset[2]


def window_and_shift(grid: Sequence[int], window: Sequence[int], shift: Sequence[int]) -> tuple[Triple, Triple]:
    """Per axis, a grid no longer than the window gets a window of the grid's length and no shift."""
    w = tuple(g if g <= k else k for g, k in zip(grid, window))
    s = tuple(0 if g <= k else d for g, k, d in zip(grid, window, shift))
    return triple(w), triple(s)


def _region_labels(length: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """Region of each position along one rolled, padded axis: 0 before ``L - W``, 1 up to ``L - s``, 2 after;
    one region (2) when the axis is not shifted (what the sources' slices give for ``s = 0``)."""
    pos = torch.arange(length, device=device)
    if shift == 0:
        return torch.full((length,), 2, device=device)
    return (pos >= length - window).long() + (pos >= length - shift).long()


def shift_mask(padded: Sequence[int], window: Sequence[int], shift: Sequence[int],
               device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(num_windows, N, N)``: 0 between tokens of one region of the rolled grid, -100 across regions."""
    lt, lh, lw = (_region_labels(n, k, s, device) for n, k, s in zip(padded, window, shift))
    labels = (lt[:, None, None] * 9 + lh[None, :, None] * 3 + lw[None, None, :])
    labels = partition(labels[None, ..., None], window).squeeze(-1)[0]  # (num_windows, N)
    differ = labels[:, :, None] != labels[:, None, :]
    return torch.zeros(differ.shape, device=device, dtype=dtype).masked_fill(differ, SHIFT_MASK_VALUE)


def partition(x: torch.Tensor, window: Sequence[int]) -> torch.Tensor:
    """``(B, T, H, W, C)`` (each a multiple of the window) -> ``(B, num_windows, N, C)``, windows in t, h, w order."""
    b, t, h, w, c = x.shape
    wt, wh, ww = window
    x = x.view(b, t // wt, wt, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(b, -1, wt * wh * ww, c)


def unpartition(x: torch.Tensor, window: Sequence[int], grid: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`partition`: ``(B, num_windows, N, C)`` -> ``(B, T, H, W, C)``."""
    b, _, _, c = x.shape
    wt, wh, ww = window
    t, h, w = grid
    x = x.view(b, t // wt, h // wh, w // ww, wt, wh, ww, c).permute(0, 1, 4, 2, 5, 3, 6, 7)
    return x.reshape(b, t, h, w, c)


# ----------------------------------------------------------------------------
# Layers


class PatchEmbed3d(nn.Module):
    """Zero-pad to patch multiples, a Conv3d with kernel = stride = patch, LayerNorm; channels-last output."""

    def __init__(self, patch_size: Triple, in_channels: int, dim: int, eps: float = 1e-5):
        super().__init__()
        self.patch_size = triple(patch_size)
        self.proj = nn.Conv3d(in_channels, dim, self.patch_size, self.patch_size)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = x.shape[2:]
        pt, ph, pw = ((-n) % p for n, p in zip((t, h, w), self.patch_size))
        if pt or ph or pw:
            x = F.pad(x, (0, pw, 0, ph, 0, pt))
        return self.norm(self.proj(x).permute(0, 2, 3, 4, 1))


class WindowAttention3d(nn.Module):
    """(Shifted) window multi-head self-attention on a ``(B, T, H, W, C)`` grid; see the module docstring."""

    def __init__(self, dim: int, num_heads: int, window_size: Triple, shift_size: Triple,
                 attention_dropout: float = 0.0, dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.window_size, self.shift_size = triple(window_size), triple(shift_size)
        self.attention_dropout = attention_dropout
        wt, wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wt - 1) * (2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer("relative_position_index", relative_position_index(self.window_size))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self, window: Sequence[int]) -> torch.Tensor:
        """``(heads, N, N)`` bias of a window of ``N`` tokens (the full index's first N rows and columns)."""
        n = window[0] * window[1] * window[2]
        index = cast(torch.Tensor, self.relative_position_index)  # a registered buffer
        rows = self.relative_position_bias_table[index[:n, :n].reshape(-1)]
        return rows.view(n, n, -1).permute(2, 0, 1).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h, w, c = x.shape
        window, shift = window_and_shift((t, h, w), self.window_size, self.shift_size)
        pad = [(-n) % k for n, k in zip((t, h, w), window)]
        if any(pad):
            x = F.pad(x, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        padded = x.shape[1:4]
        shifted = any(shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        windows = partition(x, window)  # (B, nW, N, C)
        nw, n = windows.shape[1:3]
        heads = self.num_heads
        qkv = self.qkv(windows).view(b, nw, n, 3, heads, c // heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv.unbind(0)  # (B, nW, heads, N, head_dim)
        bias = self.position_bias(window).to(q.dtype)
        drop = self.attention_dropout if self.training else 0.0
        if shifted:  # a per-window mask: keep the window axis (the mask broadcasts over the batch)
            mask = bias[None] + shift_mask(padded, window, shift, x.device, q.dtype)[:, None]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        else:  # one bias for every window: a 4-D call, which every SDPA backend takes
            flat = (b * nw, heads, n, c // heads)
            out = F.scaled_dot_product_attention(q.reshape(flat), k.reshape(flat), v.reshape(flat),
                                                 attn_mask=bias[None], dropout_p=drop).view(b, nw, heads, n, -1)
        out = self.proj_drop(self.proj(out.transpose(2, 3).reshape(b, nw, n, c)))
        x = unpartition(out, window, padded)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        if any(pad):
            x = x[:, :t, :h, :w].contiguous()
        return x


class SwinBlock3d(nn.Module):
    """Pre-norm block: ``x + dp(attn(norm1(x)))``, then ``x + dp(mlp(norm2(x)))``."""

    def __init__(self, dim: int, num_heads: int, window_size: Triple, shift_size: Triple, cfg: VideoSwinConfig,
                 drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = WindowAttention3d(dim, num_heads, window_size, shift_size, cfg.attention_dropout, cfg.dropout)
        self.stochastic_depth = StochasticDepth(drop_path, "row")
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        hidden = int(dim * cfg.mlp_ratio)
        # Linear, GELU, Dropout, Linear, Dropout: torchvision's ops.MLP layout (keys mlp.0, mlp.3)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.stochastic_depth(self.attn(self.norm1(x)))
        return x + self.stochastic_depth(self.mlp(self.norm2(x)))


def merge_patches(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, H, W, C)`` -> ``(B, T, ceil(H/2), ceil(W/2), 4C)``: H and W zero-padded to even, each 2x2
    cell's tokens concatenated as (h, w) = (0, 0), (1, 0), (0, 1), (1, 1)."""
    b, t, h, w, c = x.shape
    if h % 2 or w % 2:
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        h, w = h + h % 2, w + w % 2
    x = x.view(b, t, h // 2, 2, w // 2, 2, c).permute(0, 1, 2, 4, 5, 3, 6)  # (..., dw, dh, C): dh fastest
    return x.reshape(b, t, h // 2, w // 2, 4 * c)


class PatchMerging3d(nn.Module):
    """Spatial 2x2 merge (:func:`merge_patches`), LayerNorm(4C), bias-free Linear 4C -> 2C."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.norm(merge_patches(x)))


# ----------------------------------------------------------------------------
# The network


def drop_path_rates(cfg: VideoSwinConfig) -> list[float]:
    """Per-block stochastic-depth rates: ``drop_path_rate * k / (blocks - 1)`` (0 for a single block)."""
    total = sum(cfg.depths)
    return [cfg.drop_path_rate * k / (total - 1) if total > 1 else 0.0 for k in range(total)]


class VideoSwin(VideoClassifier, nn.Module):
    """Video Swin Transformer in torchvision's layout; see the module docstring.

    ``VideoSwin(num_classes, config, **overrides)``: ``overrides`` replace
    :class:`VideoSwinConfig` fields (``drop_path_rate=0.2``, ``head_dropout=0``...).
    Input: ``(B, C, T, H, W)`` or a one-element list; ``forward`` returns logits.
    """

    classifier_path = "head"

    def __init__(self, num_classes: int = 400, config: VideoSwinConfig | None = None, **overrides):
        super().__init__()
        cfg = replace(config or VideoSwinConfig(), **overrides)
        self.config = cfg
        self.patch_embed = PatchEmbed3d(cfg.patch_size, cfg.in_channels, cfg.embed_dim, cfg.norm_eps)
        self.pos_drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        rates = iter(drop_path_rates(cfg))
        shift = triple(k // 2 for k in cfg.window_size)
        layers: list[nn.Module] = []
        for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
            dim = cfg.embed_dim * 2**i
            layers.append(nn.Sequential(*(
                SwinBlock3d(dim, heads, cfg.window_size, shift if j % 2 else (0, 0, 0), cfg, next(rates))
                for j in range(depth))))
            if i < len(cfg.depths) - 1:
                layers.append(PatchMerging3d(dim, cfg.norm_eps))
        self.features = nn.Sequential(*layers)
        self.feature_dim = cfg.num_features
        self.norm = nn.LayerNorm(self.feature_dim, eps=cfg.norm_eps)
        self.head_drop = nn.Dropout(cfg.head_dropout) if cfg.head_dropout > 0 else nn.Identity()
        self.head = nn.Linear(self.feature_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The sources' initialisation: truncated normal (std 0.02) for every Linear weight and bias table,
        zero Linear biases, unit LayerNorms; the patch conv keeps PyTorch's default."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(single_pathway(x)))
        x = self.norm(self.features(x))
        return x.mean(dim=(1, 2, 3))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(features))


# ----------------------------------------------------------------------------
# Configs (torchvision swin3d_t/s/b = MMAction2 arch tiny/small/base) and builders

SWIN3D_T = VideoSwinConfig(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
SWIN3D_S = VideoSwinConfig(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
SWIN3D_B = VideoSwinConfig(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
CONFIGS = {"swin3d_t": SWIN3D_T, "swin3d_s": SWIN3D_S, "swin3d_b": SWIN3D_B}


_MMACTION2_ARCH = {"T": "tiny", "S": "small", "B": "base"}


def _spec(size: str) -> dict:
    return dict(family="swin3d", num_frames=32, sampling_rate=2, crop_size=224, test_crop_size=224,
                mean=IMAGENET_MEAN, std=IMAGENET_STD,
                description=f"Video Swin-{size} p244-w877 32x2 (torchvision swin3d_{size.lower()}, "
                            f"MMAction2 SwinTransformer3D arch={_MMACTION2_ARCH[size]})")


@register_model("swin3d_t", **_spec("T"))
def swin3d_t(num_classes: int = 400, **kw) -> VideoSwin:
    """Video Swin-T: width 96, depths 2-2-6-2 (28.2M parameters)."""
    return VideoSwin(num_classes, SWIN3D_T, **kw)


@register_model("swin3d_s", **_spec("S"))
def swin3d_s(num_classes: int = 400, **kw) -> VideoSwin:
    """Video Swin-S: width 96, depths 2-2-18-2 (49.8M parameters)."""
    return VideoSwin(num_classes, SWIN3D_S, **kw)


@register_model("swin3d_b", **_spec("B"))
def swin3d_b(num_classes: int = 400, **kw) -> VideoSwin:
    """Video Swin-B: width 128, depths 2-2-18-2, heads 4-32 (88.0M parameters)."""
    return VideoSwin(num_classes, SWIN3D_B, **kw)
