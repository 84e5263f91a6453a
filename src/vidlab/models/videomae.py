"""VideoMAE (Tong et al., NeurIPS 2022) fine-tuned video classifiers: plain ViTs on tubelet tokens.

One class, :class:`VideoMAE`, in the original release's parameter layout
(MCG-NJU/VideoMAE ``modeling_finetune.py``, ``VisionTransformer``). Registered
models, all 16 frames sampled every 4, 224 x 224 crops (the K400 fine-tuning
scripts ``scripts/kinetics/videomae_vit_{small,base,large}_patch16_224_*``):

- ``videomae_vit_s_16x4``: ``vit_small_patch16_224``: width 384, 12 blocks,
  6 heads; 22,033,936 parameters with 400 classes;
- ``videomae_vit_b_16x4``: ``vit_base_patch16_224``: width 768, 12 blocks,
  12 heads; 86,534,800 parameters;
- ``videomae_vit_l_16x4``: ``vit_large_patch16_224``: width 1024, 24 blocks,
  16 heads; 304,270,736 parameters.

Those are Hugging Face ``VideoMAEForVideoClassification``'s counts at the same
sizes (the paper's Kinetics-400 comparison table rounds them to 22M, 87M and 305M; MMAction2's README
says 87M and 305M). FLOPs per view at 16 x 224 x 224 (one multiply-add = one
FLOP, the fvcore convention of the paper and of ``vidlab models``; matrix
products and the patch convolution): 56.9, 180.3 and 596.8 G, the paper's 57,
180 and 597 (same table, per view).

**The network.** ``patch_embed.proj`` is a ``Conv3d`` with kernel = stride =
``(2, 16, 16)`` (a "tubelet" of 2 frames x 16 x 16 pixels, with bias); its
output is flattened in ``(t, h, w)`` order into ``N = T/2 * H/16 * W/16``
tokens. A fixed sinusoidal table is added (no cls token): token ``p``, channel
``j`` gets ``sin(p / 10000 ** (2 * (j // 2) / D))`` for even ``j`` and ``cos``
of the same angle for odd ``j`` (the Transformer's table over the flattened
index; computed in float64, stored as float32). Then ``depth`` pre-norm blocks,
``x = x + drop_path(attn(norm1(x)))``, ``x = x + drop_path(mlp(norm2(x)))``,
with LayerNorm eps 1e-6 everywhere; ``attn`` is one bias-free ``qkv`` Linear
plus the learned ``q_bias`` and ``v_bias`` (the key bias is zero, not a
parameter), multi-head attention with scale ``head_dim ** -0.5`` through
:func:`torch.nn.functional.scaled_dot_product_attention`, and ``proj``; ``mlp``
is ``fc1`` -> GELU (exact, erf) -> ``fc2`` with ratio 4. The feature is the
mean over all tokens followed by ``fc_norm`` (``use_mean_pooling=True``, what
every fine-tuned release uses); ``forward_head`` applies the head dropout (the
original's ``fc_dropout``, ``fc_drop_rate`` 0 in the K400 recipes) and ``head``.
With ``use_mean_pooling=False`` the original instead applies ``norm`` to the
sequence and takes its *first token*; there is no cls token, so that is the
first patch token (kept only for fidelity: no published classifier uses it).

**Layer scale.** ``init_values > 0`` adds ``gamma_1`` / ``gamma_2`` (per channel,
initialised to ``init_values``) on the two residual branches, as in the
original. Its ``run_class_finetuning.py`` never passes ``init_values``, so the
fine-tuned S/B/L models are built with the default 0.0 and have no gammas;
MMAction2's ``VisionTransformer`` defaults to 0 as well.

**Parameter names** are the original's ``state_dict`` (``patch_embed.proj``,
``blocks.N.norm1``, ``blocks.N.attn.qkv.weight``, ``blocks.N.attn.q_bias``,
``blocks.N.attn.v_bias``, ``blocks.N.attn.proj``, ``blocks.N.norm2``,
``blocks.N.mlp.fc1/fc2``, ``fc_norm``, ``head``), so a fine-tuned checkpoint's
``model`` / ``module`` dict loads with ``strict=True`` and no mapping. The
original keeps its sinusoid table as a plain tensor attribute, so it is not
in its ``state_dict``; here it is a non-persistent buffer (``pos_embed``, moved
by ``.to()``, absent from the ``state_dict``). MMAction2's model registers
its table as a buffer, so its files may hold ``backbone.pos_embed``; Hugging Face's do
not. :mod:`vidlab.convert.videomae` maps the MMAction2 and Hugging Face layouts.

**Input sizes.** The table depends on the token count only, and the table for
``N`` tokens is the first ``N`` rows of any longer one; the model therefore
recomputes it for the input's token count (the buffer caches the one for the
``num_frames`` x ``crop_size`` it was built for). Any ``T`` divisible by 2 and
``H``, ``W`` divisible by 16 give exactly what the original (or Hugging Face)
computes when built for that clip (``all_frames`` / ``img_size``); their own
forward refuses another crop than the build size. Sizes the tubelet does not
divide are floored by the strided convolution: trailing frames (``T mod 2``)
and the last ``H mod 16`` rows / ``W mod 16`` columns are ignored, i.e. the
result equals that of ``x[:, :, :T - T % 2, :H - H % 16, :W - W % 16]``; fewer
than 2 frames or 16 pixels is an error. (MMAction2's backbone instead resizes
its stored build-size table bicubically over ``(h, w)`` when the grid differs,
which is a different function away from its build size.)

**Preprocessing.** RGB in [0, 1] normalised with the ImageNet mean
``(0.485, 0.456, 0.406)`` and std ``(0.229, 0.224, 0.225)``: the original's
``kinetics.py`` (``ClipToTensor`` to [0, 1], then ``Normalize`` with those
values), MMAction2's ``data_preprocessor`` (``mean=[123.675, 116.28, 103.53]``,
``std=[58.395, 57.12, 57.375]`` on 0..255, the same map); the Hugging Face
ports carry the weights unchanged, so they need the same, and their
``preprocessor_config.json`` names its own ``image_mean`` / ``image_std``
(IMAGENET_DEFAULT, as far as known here: not checked offline) with
``rescale_factor`` 1/255. (transformers 5's ``VideoMAEImageProcessor`` class
*defaults* to 0.5 / 0.5, IMAGENET_STANDARD, which the weights were not trained
with, and which it uses only where a folder names no values.) Evaluation in the
original and in MMAction2's config: short side resized to 224, 3 spatial crops of
224 x 224 x 5 temporal clips, scores averaged.

**Differences from the sources, on purpose.** Attention through SDPA (same
function up to float rounding); stochastic depth is
``torchvision.ops.StochasticDepth`` (per sample, rescaled by the keep
probability: timm's ``drop_path``); the model returns logits; no activation
checkpointing (``use_checkpoint``), no ``attn_head_dim`` / ``qk_scale``
overrides and no learnable position embedding (``use_learnable_pos_emb``; no
fine-tuned release uses them). Hugging Face's port uses LayerNorm eps
``config.layer_norm_eps`` in the blocks (its conversion script keeps
``VideoMAEConfig``'s default, 1e-12) and PyTorch's default 1e-5 in ``fc_norm``,
where the original (and vidlab, and MMAction2) use 1e-6: with the same weights
the two differ by float-rounding-sized amounts (the tests measure about 4e-6 on
logits of magnitude 0.7).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from vidlab.models.contract import VideoClassifier
from vidlab.models.layers import TransformerMlp, single_pathway
from vidlab.models.registry import register_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LN_EPS = 1e-6


def sinusoid_table(num_tokens: int, dim: int, *, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixed position table ``(1, num_tokens, dim)``: row ``p``, channel ``j`` is
    ``sin(p / 10000 ** (2 * (j // 2) / dim))`` for even ``j`` and ``cos(...)`` for odd ``j``.

    Computed in float64 on the CPU (as the original's numpy code), then cast; on the ``meta``
    device only the shape is made."""
    device = torch.device(device) if device is not None else torch.empty(0).device
    if device.type == "meta":
        return torch.empty(1, num_tokens, dim, device=device, dtype=dtype)
    position = torch.arange(num_tokens, dtype=torch.float64, device="cpu").unsqueeze(1)
    exponent = (2 * (torch.arange(dim, device="cpu") // 2)).to(torch.float64) / dim
    angle = position / torch.pow(10000.0, exponent)
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.unsqueeze(0).to(device=device, dtype=dtype)


class PatchEmbed(nn.Module):
    """Tubelet embedding: ``Conv3d`` with kernel = stride = ``(tubelet, patch, patch)``, flattened to tokens."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, tubelet_size: int):
        super().__init__()
        self.kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_channels, dim, self.kernel, stride=self.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"VideoMAE takes (B, C, T, H, W) clips, got shape {tuple(x.shape)}")
        if any(n < k for n, k in zip(x.shape[2:], self.kernel)):
            raise ValueError(f"VideoMAE needs at least {self.kernel[0]} frames of {self.kernel[1]} x "
                             f"{self.kernel[2]} pixels, got T, H, W = {tuple(x.shape[2:])}")
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one bias-free ``qkv`` and separate ``q_bias`` / ``v_bias``
    (zero key bias), through ``scaled_dot_product_attention``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not a multiple of {num_heads} heads")
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias: nn.Parameter | None = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias: nn.Parameter | None = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = None
        if self.q_bias is not None and self.v_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = self.qkv(x)  # the module, not its weight: quantized/pruned replacements of it keep working
        if bias is not None:
            qkv = qkv + bias
        qkv = qkv.reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))


class Block(nn.Module):
    """Pre-norm transformer block, with layer scale (``gamma_1``, ``gamma_2``) when ``init_values > 0``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0, init_values: float = 0.0,
                 eps: float = LN_EPS):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = StochasticDepth(drop_path, "row") if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = TransformerMlp(dim, int(dim * mlp_ratio), drop=drop, drop_hidden=False)
        self.gamma_1: nn.Parameter | None = None
        self.gamma_2: nn.Parameter | None = None
        if init_values > 0:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(init_values)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(self.norm1(x))
        x = x + self.drop_path(a if self.gamma_1 is None else self.gamma_1 * a)
        m = self.mlp(self.norm2(x))
        return x + self.drop_path(m if self.gamma_2 is None else self.gamma_2 * m)


class VideoMAE(VideoClassifier, nn.Module):
    """VideoMAE's fine-tuned ViT in the original release's layout; see the module docstring.

    Arguments are the original ``VisionTransformer``'s, renamed where vidlab has a convention:
    ``num_frames`` (``all_frames``) and ``crop_size`` (``img_size``) only size the cached position
    table; ``drop_rate`` is the original's dropout after the embedding, attention projection and
    MLP; ``dropout`` is its ``fc_drop_rate`` (before ``head``); ``drop_path_rate`` rises linearly
    from 0 over the blocks; ``head_init_scale`` multiplies the initial head (``--init_scale``,
    0.001 in its fine-tuning script). Input ``(B, C, T, H, W)`` (or a one-element list).
    """

    classifier_path = "head"

    def __init__(self, num_classes: int = 400, *, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, patch_size: int = 16, tubelet_size: int = 2,
                 in_channels: int = 3, num_frames: int = 16, crop_size: int = 224, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1, dropout: float = 0.0,
                 init_values: float = 0.0, use_mean_pooling: bool = True, head_init_scale: float = 0.001):
        super().__init__()
        self.embed_dim = self.feature_dim = embed_dim
        self.use_mean_pooling = use_mean_pooling
        device = torch.empty(0).device  # where the caller builds (the default device, or a device context)
        with torch.device("meta"):  # shapes only: every tensor is set once, by _init_weights, below
            self.patch_embed = PatchEmbed(in_channels, embed_dim, patch_size, tubelet_size)
            self.pos_drop = nn.Dropout(drop_rate)
            rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
            self.blocks = nn.ModuleList(
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, rate, init_values)
                for rate in rates)
            self.norm: nn.Module = nn.Identity() if use_mean_pooling else nn.LayerNorm(embed_dim, eps=LN_EPS)
            self.fc_norm: nn.LayerNorm | None = nn.LayerNorm(embed_dim, eps=LN_EPS) if use_mean_pooling else None
            self.head_drop = nn.Dropout(dropout)
            self.head = nn.Linear(embed_dim, num_classes)
        self.to_empty(device=device)
        grid = (num_frames // tubelet_size) * (crop_size // patch_size) ** 2
        self.register_buffer("pos_embed", sinusoid_table(grid, embed_dim, device=device), persistent=False)
        self._init_weights(head_init_scale, init_values)

    @torch.no_grad()
    def _init_weights(self, head_init_scale: float, init_values: float) -> None:
        """The original's initialisation, of every parameter (the modules are made on the meta device and
        given uninitialised storage, so nothing is drawn twice): timm's ``trunc_normal_(std=0.02)``
        Linear weights with zero biases, unit LayerNorms, PyTorch's default (``reset_parameters``) for
        the patch convolution, zero ``q_bias``/``v_bias``, gammas at ``init_values``; the head times
        ``head_init_scale``. timm's (and torch's) truncation bounds are absolute, -2 and 2, i.e. 100
        standard deviations here, which a float normal sample never reaches: the distribution is the
        plain normal, drawn with ``normal_`` (several times faster than ``trunc_normal_``'s inverse-erf
        sampling for ViT-L's 300M weights)."""
        self.patch_embed.proj.reset_parameters()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, Attention):
                for bias in (m.q_bias, m.v_bias):
                    if bias is not None:
                        nn.init.zeros_(bias)
            elif isinstance(m, Block):
                for gamma in (m.gamma_1, m.gamma_2):
                    if gamma is not None:
                        nn.init.constant_(gamma, float(init_values))
        self.head.weight.mul_(head_init_scale)
        self.head.bias.mul_(head_init_scale)

    def position_table(self, num_tokens: int, like: torch.Tensor) -> torch.Tensor:
        """The sinusoid table for ``num_tokens`` tokens (the cached buffer when it has that length)."""
        table = cast(torch.Tensor, self.pos_embed)  # a buffer (the stubs type module attributes loosely)
        if table.shape[1] != num_tokens:
            table = sinusoid_table(num_tokens, self.embed_dim, device=like.device)
        return table.to(dtype=like.dtype)

    def forward_tokens(self, x) -> torch.Tensor:
        """The token sequence ``(B, N, D)`` after the last block (before any norm or pooling)."""
        x = self.patch_embed(single_pathway(x))
        x = self.pos_drop(x + self.position_table(x.shape[1], x))
        for block in self.blocks:
            x = block(x)
        return x

    def forward_features(self, x) -> torch.Tensor:
        x = self.norm(self.forward_tokens(x))
        if self.fc_norm is not None:
            return self.fc_norm(x.mean(1))
        return x[:, 0]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(features))


# ----------------------------------------------------------------------------
# Builders (the original's vit_{small,base,large}_patch16_224 + the K400 fine-tuning recipe)

VIT_S = dict(embed_dim=384, depth=12, num_heads=6)
VIT_B = dict(embed_dim=768, depth=12, num_heads=12)
VIT_L = dict(embed_dim=1024, depth=24, num_heads=16)


def _spec(title: str, source: str) -> dict:
    return dict(family="videomae", num_frames=16, sampling_rate=4, crop_size=224, test_crop_size=224,
                mean=IMAGENET_MEAN, std=IMAGENET_STD, description=f"VideoMAE {title} 16x4 ({source})")


@register_model("videomae_vit_s_16x4", **_spec("ViT-S/16", "MCG-NJU/VideoMAE vit_small_patch16_224, "
                                                "HF MCG-NJU/videomae-small-finetuned-kinetics"))
def videomae_vit_s_16x4(num_classes: int = 400, **kw) -> VideoMAE:
    """VideoMAE ViT-S/16, 16 x 4 clips: width 384, 12 blocks, 6 heads (22.0M parameters)."""
    return VideoMAE(num_classes, **{**VIT_S, **kw})


@register_model("videomae_vit_b_16x4", **_spec("ViT-B/16", "MCG-NJU/VideoMAE vit_base_patch16_224, MMAction2 "
                                                "vit-base-p16_videomae-k400-pre_16x4x1, HF "
                                                "MCG-NJU/videomae-base-finetuned-kinetics"))
def videomae_vit_b_16x4(num_classes: int = 400, **kw) -> VideoMAE:
    """VideoMAE ViT-B/16, 16 x 4 clips: width 768, 12 blocks, 12 heads (86.5M parameters)."""
    return VideoMAE(num_classes, **{**VIT_B, **kw})


@register_model("videomae_vit_l_16x4", **_spec("ViT-L/16", "MCG-NJU/VideoMAE vit_large_patch16_224, MMAction2 "
                                                "vit-large-p16_videomae-k400-pre_16x4x1, HF "
                                                "MCG-NJU/videomae-large-finetuned-kinetics"))
def videomae_vit_l_16x4(num_classes: int = 400, **kw) -> VideoMAE:
    """VideoMAE ViT-L/16, 16 x 4 clips: width 1024, 24 blocks, 16 heads (304.3M parameters)."""
    return VideoMAE(num_classes, **{**VIT_L, **kw})
