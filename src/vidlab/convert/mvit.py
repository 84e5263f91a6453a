"""MViT from torchvision, pytorchvideo and PySlowFast -> vidlab's PySlowFast layout.

vidlab's :class:`~vidlab.models.mvit.MViT` keeps PySlowFast's parameter names
(see its module docstring), so a PySlowFast ``.pyth`` needs no renaming; the
other two ecosystems name the same tensors differently, and store a few of
them in another shape. Every source key is renamed by one rule below, or the
mapper raises :class:`~vidlab.convert.ConversionError` naming the keys it
cannot place; the strict load that follows names any vidlab key left missing.

torchvision (``torchvision.models.video.MViT``: ``mvit_v1_b`` -> ``mvit_v1_b_16x4``,
``mvit_v2_s`` -> ``mvitv2_s_16x4``), source -> vidlab:

- ``conv_proj.{weight,bias}`` -> ``patch_embed.proj.*``;
- ``pos_encoding.class_token`` ``(C,)`` -> ``cls_token`` ``(1, 1, C)``;
  ``pos_encoding.class_pos`` ``(C,)`` -> ``pos_embed_class`` ``(1, 1, C)``;
  ``pos_encoding.spatial_pos`` ``(HW, C)`` -> ``pos_embed_spatial`` ``(1, HW, C)``;
  ``pos_encoding.temporal_pos`` ``(T, C)`` -> ``pos_embed_temporal`` ``(1, T, C)``;
- ``blocks.N.attn.project.0`` -> ``blocks.N.attn.proj``;
- ``blocks.N.attn.pool_X.pool.weight`` -> ``blocks.N.attn.pool_X.weight`` and
  ``blocks.N.attn.pool_X.norm_act.0.*`` -> ``blocks.N.attn.norm_X.*`` (X: q, k, v);
- ``blocks.N.mlp.0`` / ``blocks.N.mlp.3`` -> ``blocks.N.mlp.fc1`` / ``blocks.N.mlp.fc2``;
- ``blocks.N.project`` -> ``blocks.N.proj``; ``head.1`` -> ``head.projection``;
- ``blocks.N.norm1``, ``norm2``, ``attn.qkv``, ``attn.rel_pos_{h,w,t}`` and the
  final ``norm`` keep their names.

The position embeddings only gain the leading unit dimensions (torchvision adds
``temporal_pos[t] + spatial_pos[s]`` at token ``t * HW + s``, as PySlowFast
does); the depthwise pooling convolutions already have PySlowFast's
``(head_dim, 1, kt, kh, kw)`` shape, and the fused ``qkv`` its ``[q | k | v]``
row order.

pytorchvideo (``MultiscaleVisionTransformers``: ``mvit_base_16x4`` ->
``mvit_v1_b_16x4``, ``mvit_base_32x3`` -> ``mvit_v1_b_32x3``), source -> vidlab:

- ``patch_embed.patch_model.*`` -> ``patch_embed.proj.*``;
- ``cls_positional_encoding.{cls_token, pos_embed_spatial, pos_embed_temporal,
  pos_embed_class, pos_embed}`` -> the same names at the top level (same shapes);
- ``norm_patch_embed`` -> ``norm_stem``; ``norm_embed`` -> ``norm``;
  ``head.proj`` -> ``head.projection``;
- ``blocks.N.attn.{q,k,v}.{weight,bias}`` -> ``blocks.N.attn.qkv.*``, stacked;
- everything else under ``blocks.N`` (``norm1``, ``attn.proj``, ``attn.pool_q``,
  ``attn.norm_q``..., ``norm2``, ``mlp.fc1``, ``mlp.fc2``, ``proj``) keeps its name.

pytorchvideo always has separate q/k/v projections; vidlab's MViTv1-B (like
PySlowFast's, ``SEPARATE_QKV: False``) has one ``qkv`` Linear whose output is
split as ``[q | k | v]``, so the three weights (and biases) are concatenated in
that order along the output dimension: the same function. One difference is
not in the state dict: pytorchvideo's pool norms use LayerNorm's default
epsilon 1e-5, vidlab's (as PySlowFast's and torchvision's) 1e-6; build with
``pool_norm_eps=1e-5`` to reproduce pytorchvideo to float rounding (1e-6 of
the logits' scale at random weights; with the default they differ by 1-2e-5 of
it at full width, see tests/convert/test_mvit_sources.py).

PySlowFast (``mvit_v1_b_16x4`` / ``mvit_v1_b_32x3`` / ``mvit_v1_b24_32x3``): identity, after a
depth check. PySlowFast's ``configs/Kinetics/MVIT_B_32x3_CONV.yaml`` sets ``DEPTH: 24``
(MViT-B-24, pooled at blocks 2, 5, 21, kernels stride + 1): vidlab's ``mvit_v1_b24_32x3``;
a 24-block checkpoint given for ``mvit_v1_b_32x3`` is refused with that name rather than
a list of unexpected keys. ``mvit_v1_b_32x3`` is the paper's 16-block MViT-B 32x3
(pytorchvideo's ``mvit_base_32x3``), i.e. ``MVIT_B_16x4_CONV.yaml`` with
``DATA.NUM_FRAMES: 32``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

import torch

from vidlab.convert.pyslowfast import from_pyslowfast
from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error
from vidlab.models.mvit import MViT

_BLOCK = re.compile(r"blocks\.(\d+)\.(.*)")


def _target(arch: str) -> MViT:
    """The vidlab model, on the meta device (its config and key set)."""
    from vidlab import models

    with torch.device("meta"):
        return cast(MViT, models.build(arch))


def _depth(state: StateDict) -> int:
    ids = [int(m.group(1)) for k in state if (m := _BLOCK.match(k))]
    return max(ids) + 1 if ids else 0


def _require(state: StateDict, source: str, arch: str, anchors: tuple[str, ...], what: str) -> None:
    missing = [a for a in anchors if a not in state]
    if missing:
        first = ", ".join(list(state)[:3]) or "none (empty)"
        raise ConversionError(f"{source} -> {arch}: not a {what} state dict (no {', '.join(missing)}; "
                              f"its first keys are {first})")


def _check_depth(state: StateDict, source: str, arch: str) -> None:
    got, want = _depth(state), _target(arch).config.depth
    if got == want:
        return
    hint = (" (PySlowFast's configs/Kinetics/MVIT_B_32x3_CONV.yaml is the 24-block MViT-B-24: convert it with "
            "--arch mvit_v1_b24_32x3)" if got == 24 and arch.startswith("mvit_v1_b") else "")
    raise ConversionError(f"{source} -> {arch}: the checkpoint has {got} blocks, {arch} has {want}{hint}")


def _rename(state: StateDict, source: str, arch: str,
            rule: Callable[[str, torch.Tensor], tuple[str, torch.Tensor] | None]) -> StateDict:
    """Apply ``rule(key, tensor) -> (new key, tensor) | None`` to every key; unplaced keys -> error."""
    out: StateDict = {}
    stray: list[str] = []
    for key, value in state.items():
        placed = rule(key, value)
        if placed is None:
            stray.append(key)
            continue
        new, tensor = placed
        if new in out:
            raise ConversionError(f"{source} -> {arch}: two source keys map to {new!r}")
        out[new] = tensor
    if stray:
        raise unmapped_error(source, arch, stray)
    return out


# ----------------------------------------------------------------------------
# torchvision

_TV_EXACT = {
    "conv_proj.weight": "patch_embed.proj.weight",
    "conv_proj.bias": "patch_embed.proj.bias",
    "norm.weight": "norm.weight",
    "norm.bias": "norm.bias",
    "head.1.weight": "head.projection.weight",
    "head.1.bias": "head.projection.bias",
}
# (C,) -> (1, 1, C); (N, C) -> (1, N, C)
_TV_POS = {
    "pos_encoding.class_token": "cls_token",
    "pos_encoding.class_pos": "pos_embed_class",
    "pos_encoding.spatial_pos": "pos_embed_spatial",
    "pos_encoding.temporal_pos": "pos_embed_temporal",
}
_TV_BLOCK = [
    (re.compile(r"(norm[12]|attn\.qkv)\.(weight|bias)"), r"\1.\2"),
    (re.compile(r"attn\.(rel_pos_[hwt])"), r"attn.\1"),
    (re.compile(r"attn\.project\.0\.(weight|bias)"), r"attn.proj.\1"),
    (re.compile(r"attn\.pool_([qkv])\.pool\.weight"), r"attn.pool_\1.weight"),
    (re.compile(r"attn\.pool_([qkv])\.norm_act\.0\.(weight|bias)"), r"attn.norm_\1.\2"),
    (re.compile(r"mlp\.0\.(weight|bias)"), r"mlp.fc1.\1"),
    (re.compile(r"mlp\.3\.(weight|bias)"), r"mlp.fc2.\1"),
    (re.compile(r"project\.(weight|bias)"), r"proj.\1"),
]


def _tv_rule(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor] | None:
    if key in _TV_EXACT:
        return _TV_EXACT[key], value
    if key in _TV_POS:
        if value.ndim not in (1, 2):
            return None
        return _TV_POS[key], value.reshape(1, -1, value.shape[-1])
    m = _BLOCK.fullmatch(key)
    if m:
        for pattern, repl in _TV_BLOCK:
            if pattern.fullmatch(m.group(2)):
                return f"blocks.{m.group(1)}.{pattern.sub(repl, m.group(2))}", value
    return None


@register("torchvision", "mvit_v1_b_16x4", "mvitv2_s_16x4")
def from_torchvision_mvit(state: StateDict, arch: str) -> StateDict:
    """torchvision ``mvit_v1_b`` / ``mvit_v2_s`` state dicts -> vidlab (see the module table)."""
    _require(state, "torchvision", arch, ("conv_proj.weight", "pos_encoding.class_token", "head.1.weight"),
             "torchvision MViT")
    v1 = "pos_encoding.spatial_pos" in state
    if v1 != arch.startswith("mvit_v1"):
        kind = "MViTv1 (absolute position embeddings: mvit_v1_b)" if v1 else "MViTv2 (relative positions: mvit_v2_s)"
        want = "mvit_v1_b_16x4" if v1 else "mvitv2_s_16x4"
        raise ConversionError(f"torchvision -> {arch}: this is a torchvision {kind} state dict (use --arch {want})")
    _check_depth(state, "torchvision", arch)
    return _rename(state, "torchvision", arch, _tv_rule)


# ----------------------------------------------------------------------------
# pytorchvideo

_PTV_EXACT = {
    "patch_embed.patch_model.weight": "patch_embed.proj.weight",
    "patch_embed.patch_model.bias": "patch_embed.proj.bias",
    "norm_patch_embed.weight": "norm_stem.weight",
    "norm_patch_embed.bias": "norm_stem.bias",
    "norm_embed.weight": "norm.weight",
    "norm_embed.bias": "norm.bias",
    "head.proj.weight": "head.projection.weight",
    "head.proj.bias": "head.projection.bias",
}
_PTV_POS = re.compile(r"cls_positional_encoding\.(cls_token|pos_embed|pos_embed_spatial|pos_embed_temporal|"
                      r"pos_embed_class)")
_PTV_BLOCK = re.compile(r"(norm[12]|attn\.(proj|[qkv])|mlp\.fc[12]|proj)\.(weight|bias)|"
                        r"attn\.pool_[qkv]\.weight|attn\.norm_[qkv]\.(weight|bias)")


def _ptv_rule(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor] | None:
    if key in _PTV_EXACT:
        return _PTV_EXACT[key], value
    m = _PTV_POS.fullmatch(key)
    if m:
        return m.group(1), value
    m = _BLOCK.fullmatch(key)
    if m and _PTV_BLOCK.fullmatch(m.group(2)):
        return key, value
    return None


def _stack_qkv(state: StateDict, arch: str) -> StateDict:
    """Separate ``attn.{q,k,v}.*`` -> one ``attn.qkv.*`` (rows ``[q | k | v]``), where vidlab's model fuses them."""
    out: StateDict = {}
    parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = re.fullmatch(r"(blocks\.\d+\.attn)\.([qkv])\.(weight|bias)", key)
        if m:
            parts.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = value
        else:
            out[key] = value
    for (prefix, kind), qkv in parts.items():
        if set(qkv) != {"q", "k", "v"}:
            absent = sorted({"q", "k", "v"} - set(qkv))
            raise ConversionError(f"pytorchvideo -> {arch}: {prefix} has no {'/'.join(absent)}.{kind} "
                                  "to stack with the others into qkv")
        out[f"{prefix}.qkv.{kind}"] = torch.cat((qkv["q"], qkv["k"], qkv["v"]), dim=0)
    return out


@register("pytorchvideo", "mvit_v1_b_16x4", "mvit_v1_b_32x3")
def from_ptv_mvit(state: StateDict, arch: str) -> StateDict:
    """pytorchvideo ``MultiscaleVisionTransformers`` state dicts -> vidlab (see the module table)."""
    _require(state, "pytorchvideo", arch, ("patch_embed.patch_model.weight", "cls_positional_encoding.cls_token"),
             "pytorchvideo MViT")
    _check_depth(state, "pytorchvideo", arch)
    renamed = _rename(state, "pytorchvideo", arch, _ptv_rule)
    if "blocks.0.attn.qkv.weight" in _target(arch).state_dict():
        renamed = _stack_qkv(renamed, arch)
    return renamed


# ----------------------------------------------------------------------------
# PySlowFast


@register("pyslowfast", "mvit_v1_b_16x4", "mvit_v1_b_32x3", "mvit_v1_b24_32x3")
def from_pyslowfast_mvit_v1(state: StateDict, arch: str) -> StateDict:
    """PySlowFast MViTv1 ``.pyth`` state dicts: vidlab's own names (identity), after the depth check."""
    _require(state, "pyslowfast", arch, ("patch_embed.proj.weight", "cls_token"), "PySlowFast MViT")
    _check_depth(state, "pyslowfast", arch)
    return from_pyslowfast(state, arch)
