"""TimeSformer (Bertasius, Wang & Torresani, ICML 2021) with divided space-time attention.

One class, :class:`TimeSformer`: a ViT whose every block attends first over
time, then over space. Registered model:

- ``timesformer_base_8x32``: the original release's
  ``configs/Kinetics/TimeSformer_divST_8x32_224.yaml`` (``vit_base_patch16_224``):
  ViT-B/16 (width 768, 12 blocks, 12 heads, MLP ratio 4, qkv bias,
  LayerNorm eps 1e-6, drop path 0.1), 8 frames sampled every 32, crop 224
  (a 14 x 14 patch grid), 121,566,352 parameters with 400 classes, equal to
  Hugging Face's ``TimesformerForVideoClassification`` at its default config
  (the paper's Table 1 says 121.4M; MMAction2's metafile 122M).

**The network.** Each frame is cut into p x p patches by a ``Conv2d``
(``patch_embed.proj``, applied to the ``B * T`` frames); a cls token is put in
front of each frame's ``N = h * w`` patches and a learned spatial table of
``1 + N`` rows (``pos_embed``, row 0 for the cls token) is added; then the cls
token of the clip is kept once and a learned temporal table of ``T`` rows
(``time_embed``) is added to the patches, which are laid out patch-major,
time-minor (token ``1 + (i * w + j) * T + t``). Each block (input ``x``, cls
token ``c``, patch tokens ``p``):

1. temporal: the ``B * N`` sequences of one patch over the ``T`` frames go
   through ``temporal_norm1`` -> ``temporal_attn`` (qkv, attention, proj) ->
   drop path, then ``temporal_fc``: ``p' = p + temporal_fc(...)`` (the cls
   token takes no part);
2. spatial: the cls token is repeated once per frame and put in front of that
   frame's ``N`` tokens of ``p'``; the ``B * T`` sequences go through
   ``norm1`` -> ``attn`` -> drop path; the cls token's ``T`` outputs are
   averaged back into one: ``c' = c + mean_t(attn(...)[cls])`` and
   ``p'' = p' + attn(...)[patches]``;
3. MLP: ``x = x + drop_path(mlp(norm2(x)))`` on ``[c', p'']``.

The feature is the cls token after the final ``norm`` (``(B, 768)``);
``head`` is a Linear on it (no dropout before it: the original's
``VisionTransformer`` builds a dropout from ``MODEL.DROPOUT_RATE`` but never
applies it, and Hugging Face has none; ``dropout`` here defaults to 0).
Attention is :func:`torch.nn.functional.scaled_dot_product_attention` (scale
``head_dim ** -0.5``), the same function as the sources' explicit
``softmax(q k^T * scale) v`` up to float rounding.

**Key layout.** vidlab's parameter names are the original release's
(``timesformer/models/vit.py``) without the ``model.`` prefix its PySlowFast
wrapper (``vit_base_patch16_224``) adds: ``patch_embed.proj``, ``cls_token``,
``pos_embed``, ``time_embed``, ``blocks.N.{temporal_norm1, temporal_attn.qkv,
temporal_attn.proj, temporal_fc, norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
mlp.fc2}``, ``norm``, ``head``. :mod:`vidlab.convert.timesformer` maps the
original ``.pyth`` files (``model_state`` of ``model.``-prefixed keys; the
``pyslowfast`` source) and Hugging Face folders
(``timesformer.embeddings.patch_embeddings.projection``,
``timesformer.encoder.layer.N.temporal_attention.attention.qkv``,
``...temporal_dense``, ``...layernorm_before``, ``classifier``...; the
``huggingface`` source). No tensor changes value or shape.

**Input sizes.** The two tables are sized for the build clip
(``num_frames`` x ``crop_size``). Any other clip runs: both sources resize
the tables at run time by *nearest* interpolation (``F.interpolate(...,
mode="nearest")``): the patch rows of ``pos_embed`` as a square
``P x P`` grid to the input's ``h x w`` (the cls row unchanged), and
``time_embed`` to the input's ``T`` rows. vidlab does the same, with two
differences on purpose: it resizes whenever the *grid* differs from the build
grid (the sources test the token count, so a non-square grid with as many
tokens as the table, e.g. 7 x 28 for 14 x 14, gets the table added
unchanged in row order), and it takes the grid height from the conv output
(the original derives it as ``(1 + h * w) // w``, one too many when
``w == 1``, where it fails). Hugging Face's blocks read ``T`` and the patch
grid width from its config rather than from the input, so
``TimesformerForVideoClassification`` is right at other input heights but
not at another frame count or width; the original release (which passes
``T`` and ``w`` from the input to every block) and vidlab are.
:meth:`TimeSformer.kwargs_for_state` reads ``num_frames``, ``crop_size`` and
the widths off a state dict, so converted checkpoints of other shapes build
(heads are not in a state dict: 64-channel heads, ViT's rule, are assumed).

**Initialisation** (the original's): truncated normal (std 0.02) for
``pos_embed``, ``cls_token`` and every Linear weight, zero Linear biases,
unit LayerNorms, ``time_embed`` zeros, and ``temporal_fc`` zeros in every block
but the first (so that a ViT initialisation starts as a per-frame ViT);
``patch_embed.proj`` keeps PyTorch's default.

**Stochastic depth** is ``torchvision.ops.StochasticDepth`` ("row" mode),
rising linearly from 0 to ``drop_path_rate`` over the blocks, and is drawn
per row of the tensors the branch runs on, as in the original: per
(clip, patch) in the temporal step, per (clip, frame) in the spatial step,
per clip in the MLP. Not here: the ``space_only`` and ``joint_space_time``
attention types (the paper's ablations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import TransformerMlp, single_pathway
from vidlab.models.registry import register_model

LN_EPS = 1e-6
HEAD_DIM = 64  # ViT's channels per head: how kwargs_for_state picks num_heads for a width


def _drop_path(rate: float) -> nn.Module:
    return StochasticDepth(rate, "row") if rate > 0 else nn.Identity()


def _dropout(rate: float) -> nn.Module:
    return nn.Dropout(rate) if rate > 0 else nn.Identity()


class Attention(nn.Module):
    """Multi-head self-attention over ``(N, L, C)`` sequences: ``qkv`` -> SDPA -> ``proj``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not a multiple of num_heads={num_heads}")
        self.num_heads, self.attn_drop = num_heads, attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = _dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(n, length, c)))


class DividedBlock(nn.Module):
    """Temporal attention (+ ``temporal_fc``), spatial attention with the per-frame cls token, MLP.

    Input ``(B, 1 + h*w*T, C)``: the cls token, then the patch tokens patch-major, time-minor."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, qkv_bias: bool = True,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        self.temporal_norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.temporal_attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = _drop_path(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = TransformerMlp(dim, mlp_dim, drop=drop)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        b, _, c = x.shape
        cls_tok, patches = x[:, :1], x[:, 1:]
        n = patches.shape[1] // frames  # patches per frame
        # temporal: one sequence of T tokens per (clip, patch)
        seq = patches.reshape(b * n, frames, c)
        res = self.drop_path(self.temporal_attn(self.temporal_norm1(seq)))
        patches = patches + self.temporal_fc(res.reshape(b, n * frames, c))
        # spatial: one sequence per (clip, frame), each led by a copy of the cls token
        per_frame = patches.reshape(b, n, frames, c).transpose(1, 2).reshape(b * frames, n, c)
        seq = torch.cat((cls_tok.expand(b, frames, c).reshape(b * frames, 1, c), per_frame), dim=1)
        res = self.drop_path(self.attn(self.norm1(seq)))
        res_cls = res[:, 0].reshape(b, frames, c).mean(1, keepdim=True)  # the frames' cls outputs, averaged
        res_patches = res[:, 1:].reshape(b, frames, n, c).transpose(1, 2).reshape(b, n * frames, c)
        x = torch.cat((cls_tok + res_cls, patches + res_patches), dim=1)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """``proj``: a p x p / stride p ``Conv2d`` over every frame; ``(B, C, T, H, W)`` -> ``(B*T, h*w, D)``, ``(h, w)``."""

    def __init__(self, in_channels: int, dim: int, patch_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        b, c, t, h, w = x.shape
        x = self.proj(x.transpose(1, 2).reshape(b * t, c, h, w))
        grid = (int(x.shape[-2]), int(x.shape[-1]))
        return x.flatten(2).transpose(1, 2), grid


class TimeSformer(VideoClassifier, nn.Module):
    """TimeSformer with divided space-time attention; see the module docstring.

    ``num_frames`` / ``crop_size`` size the position tables (the build clip);
    any clip ``(B, C, T, H, W)`` (or a one-element list) runs. ``drop_rate``:
    dropout after the embeddings, the attention projections and the MLPs
    (0 in the original); ``attn_drop_rate``: on the attention weights; ``mlp_dim``: the MLP's
    hidden width (default ``embed_dim * mlp_ratio``);
    ``dropout``: before the head. ``forward`` returns logits.
    """

    classifier_path = "head"

    def __init__(self, num_classes: int = 400, *, num_frames: int = 8, crop_size: int = 224, patch_size: int = 16,
                 in_channels: int = 3, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, mlp_dim: int | None = None, qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1, dropout: float = 0.0):
        super().__init__()
        if crop_size < patch_size:
            raise ValueError(f"crop_size {crop_size} is smaller than one {patch_size}-pixel patch")
        self.num_frames, self.crop_size, self.patch_size = num_frames, crop_size, patch_size
        self.mlp_dim = int(embed_dim * mlp_ratio) if mlp_dim is None else mlp_dim
        self.in_channels, self.depth, self.qkv_bias = in_channels, depth, qkv_bias
        self.embed_dim = self.feature_dim = embed_dim
        self.grid = crop_size // patch_size  # the build grid is grid x grid
        self.patch_embed = PatchEmbed(in_channels, embed_dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid + 1, embed_dim))
        self.time_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        self.pos_drop = _dropout(drop_rate)
        self.time_drop = _dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            DividedBlock(embed_dim, num_heads, self.mlp_dim, qkv_bias, drop_rate, attn_drop_rate, rates[i])
            for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=LN_EPS)
        self.dropout = _dropout(dropout)
        self.head = nn.Linear(embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for block in list(self.blocks)[1:]:
            assert isinstance(block, DividedBlock)
            nn.init.zeros_(block.temporal_fc.weight)
            nn.init.zeros_(block.temporal_fc.bias)

    def spatial_pos(self, grid: tuple[int, int]) -> torch.Tensor:
        """``pos_embed`` for an ``h x w`` patch grid: ``(1, 1 + h*w, D)``, the patch rows resized by nearest
        interpolation when the grid is not the build grid (the cls row as it is)."""
        if grid == (self.grid, self.grid):
            return self.pos_embed
        cls_pos, table = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        table = table.transpose(1, 2).reshape(1, -1, self.grid, self.grid)
        table = F.interpolate(table, size=grid, mode="nearest").flatten(2).transpose(1, 2)
        return torch.cat((cls_pos, table), dim=1)

    def temporal_pos(self, frames: int) -> torch.Tensor:
        """``time_embed`` for ``frames`` frames: ``(1, T, D)``, resized by nearest interpolation when needed."""
        if frames == self.time_embed.shape[1]:
            return self.time_embed
        return F.interpolate(self.time_embed.transpose(1, 2), size=frames, mode="nearest").transpose(1, 2)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Clip -> tokens ``(B, 1 + h*w*T, D)`` with both embeddings added, and ``T``."""
        b, t = x.shape[0], x.shape[2]
        tokens, grid = self.patch_embed(x)
        pos = self.spatial_pos(grid)
        cls_tok = self.pos_drop(self.cls_token + pos[:, :1]).expand(b, -1, -1)
        patches = self.pos_drop(tokens + pos[:, 1:])  # (B*T, N, D)
        n, d = patches.shape[1], patches.shape[2]
        patches = patches.reshape(b, t, n, d).transpose(1, 2)  # (B, N, T, D)
        patches = self.time_drop(patches + self.temporal_pos(t)[:, None])
        return torch.cat((cls_tok, patches.reshape(b, n * t, d)), dim=1), t

    def forward_features(self, x) -> torch.Tensor:
        tokens, frames = self.embed(single_pathway(x))
        for block in self.blocks:
            tokens = block(tokens, frames)
        return self.norm(tokens[:, 0])

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def kwargs_for_state(self, state: Mapping[str, torch.Tensor]) -> dict:
        """Builder arguments under which ``state`` (vidlab keys) loads, where they differ from this model's:
        ``num_frames`` (``time_embed`` rows), ``crop_size`` (``pos_embed`` rows = 1 + (crop / patch)^2),
        ``patch_size``, ``in_channels``, ``embed_dim``, ``depth``, ``mlp_dim`` (fc1's width), ``qkv_bias`` and
        ``num_heads`` (``embed_dim / 64``; heads leave no trace in a state dict)."""
        if "patch_embed.proj.weight" not in state or "pos_embed" not in state or "time_embed" not in state:
            return {}
        proj = state["patch_embed.proj.weight"]
        dim, channels, patch = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[-1])
        grid = math.isqrt(int(state["pos_embed"].shape[1]) - 1)
        if grid * grid + 1 != state["pos_embed"].shape[1]:
            raise ValueError(f"pos_embed has {state['pos_embed'].shape[1]} rows, not 1 + a square patch grid")
        depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
        fc1 = state.get("blocks.0.mlp.fc1.weight")
        found: dict = {"num_frames": int(state["time_embed"].shape[1]), "crop_size": grid * patch,
                       "patch_size": patch, "in_channels": channels, "embed_dim": dim, "depth": depth,
                       "qkv_bias": "blocks.0.attn.qkv.bias" in state}
        if fc1 is not None:
            found["mlp_dim"] = int(fc1.shape[0])
        if dim != self.embed_dim:
            found["num_heads"] = max(1, dim // HEAD_DIM)
        current = {"num_frames": self.num_frames, "crop_size": self.crop_size, "patch_size": self.patch_size,
                   "in_channels": self.in_channels, "embed_dim": self.embed_dim, "depth": self.depth,
                   "qkv_bias": self.qkv_bias, "mlp_dim": self.mlp_dim}
        return {k: v for k, v in found.items() if k not in current or current[k] != v}


@register_model("timesformer_base_8x32", family="timesformer", num_frames=8, sampling_rate=32, crop_size=224,
                test_crop_size=224, description="TimeSformer (divided space-time) ViT-B/16, 8x32, 224 "
                "(TimeSformer_divST_8x32_224)")
def timesformer_base_8x32(num_classes: int = 400, **kw) -> TimeSformer:
    """TimeSformer-Base, divided space-time attention, 8 x 32 clips at 224 (121.6M parameters with 400 classes)."""
    return TimeSformer(num_classes, **{"num_frames": 8, "crop_size": 224, **kw})
