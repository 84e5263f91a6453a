"""torchvision and MMAction2 Video Swin checkpoints -> vidlab ``swin3d_t/s/b``.

vidlab's :class:`~vidlab.models.swin3d.VideoSwin` has torchvision's
``SwinTransformer3d`` keys, so the **torchvision** mapper is the identity after
a key check (every key must be one of the layout's, the anchors
``patch_embed.proj.weight``, ``features.0.0.attn.qkv.weight`` and ``head.weight``
must be there), as for the video ResNets.

**MMAction2** (``Recognizer3D`` with a ``SwinTransformer3D`` backbone and an
``I3DHead``; :mod:`vidlab.convert.sources` unwraps ``state_dict``), key by key::

    backbone.patch_embed.proj / .norm                    patch_embed.proj / .norm
    backbone.layers.{i}.blocks.{j}.norm1 / .norm2        features.{2i}.{j}.norm1 / .norm2
    backbone.layers.{i}.blocks.{j}.attn.qkv / .proj      features.{2i}.{j}.attn.qkv / .proj
    backbone.layers.{i}.blocks.{j}.attn.relative_position_bias_table
                                                         features.{2i}.{j}.attn.relative_position_bias_table
    backbone.layers.{i}.blocks.{j}.attn.relative_position_index (buffer)
                                                         features.{2i}.{j}.attn.relative_position_index
    backbone.layers.{i}.blocks.{j}.mlp.fc1 / .fc2        features.{2i}.{j}.mlp.0 / .mlp.3
    backbone.layers.{i}.downsample.reduction / .norm     features.{2i+1}.reduction / .norm
    backbone.norm3 (1.x: norm of out_indices=(3,))       norm
    backbone.norm  (0.x and the original release)        norm
    cls_head.fc_cls                                      head

Patch merging: MMAction2's ``PatchMerging.forward`` concatenates
``x[:, :, 0::2, 0::2]``, ``x[:, :, 1::2, 0::2]``, ``x[:, :, 0::2, 1::2]``,
``x[:, :, 1::2, 1::2]`` (h offset first), torchvision's ``_patch_merging_pad``
the same four slices in the same order, so ``reduction`` and ``norm`` are
copied unchanged (no tensor changes value or shape anywhere). The rest of the
function is also the same: MMAction2 computes window/shift sizes and the mask
once per stage from the stage's input grid (torchvision per block, from the
same grid), with the same -100 mask, the same ``index[:N, :N]`` bias of a
shrunk window, the same zero padding after ``norm1`` and the same drop-path
schedule; ``I3DHead(spatial_type='avg')`` is the mean over the grid ->
dropout -> ``fc_cls``. Checked against MMAction2 1.2.0's own ``SwinTransformer3D`` + ``I3DHead``
(``tests/models/test_swin3d.py``: its ``state_dict`` keys, in order, for ``arch='tiny'``; golden logits of
a small network with shifted, padded and shrunk windows, equal within 1e-5).

The ``relative_position_index`` buffers are not weights but a function of the
window size; where a checkpoint has them they must equal vidlab's (otherwise it
was made with another window: refused), and where it has none (a state dict
saved without buffers) the mapper puts vidlab's in, so that the strict load
finds every key. ``data_preprocessor.mean`` / ``.std`` (constants some
checkpoints carry) are checked for shape and left out. Other per-stage norms
(``backbone.norm0..2``, from ``out_indices`` other than the last stage) have
no place in a classifier: refused, as is any other unknown key.

Preprocessing is not in the weights: both sources normalise with ImageNet
statistics (MMAction2: mean 123.675, 116.28, 103.53 and std 58.395, 57.12,
57.375 on 0-255 RGB), which is the registered models' own spec.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error
from vidlab.convert.torchvision import describe_state
from vidlab.models.swin3d import CONFIGS, relative_position_index

ARCHS = tuple(CONFIGS)

_PARAM = r"(?:weight|bias)"
_TV_KEY = re.compile(
    r"patch_embed\.(?:proj|norm)\." + _PARAM
    + r"|features\.\d+\.\d+\.(?:norm1|norm2|attn\.qkv|attn\.proj|mlp\.0|mlp\.3)\." + _PARAM
    + r"|features\.\d+\.\d+\.attn\.relative_position_(?:bias_table|index)"
    + r"|features\.\d+\.(?:reduction\.weight|norm\." + _PARAM + ")"
    + r"|(?:norm|head)\." + _PARAM)
_TV_ANCHORS = ("patch_embed.proj.weight", "features.0.0.attn.qkv.weight", "head.weight")

_NON_WEIGHTS = ("data_preprocessor.mean", "data_preprocessor.std")
_MM_BLOCK = re.compile(r"backbone\.layers\.(?P<i>\d+)\.blocks\.(?P<j>\d+)\.(?P<rest>.+)")
_MM_BLOCK_PART = re.compile(r"(?:norm1|norm2|attn\.qkv|attn\.proj)\." + _PARAM
                            + r"|attn\.relative_position_(?:bias_table|index)")
_MM_MLP = {"mlp.fc1": "mlp.0", "mlp.fc2": "mlp.3"}
_MM_DOWN = re.compile(r"backbone\.layers\.(?P<i>\d+)\.downsample\.(?P<rest>reduction\.weight|norm\." + _PARAM + ")")
_MM_OTHER = re.compile(r"backbone\.(?P<part>patch_embed\.(?:proj|norm)\.|norm\d*\.)(?P<param>" + _PARAM + ")"
                       r"|cls_head\.fc_cls\.(?P<head>" + _PARAM + ")")


@register("torchvision", *ARCHS)
def from_torchvision_swin3d(state: StateDict, arch: str) -> StateDict:
    """Identity mapping for torchvision ``SwinTransformer3d`` state dicts (after a key check)."""
    if not all(a in state for a in _TV_ANCHORS):
        raise ConversionError(f"torchvision -> {arch}: not a torchvision {arch} state dict "
                              f"(expected keys like {', '.join(_TV_ANCHORS)}; {describe_state(state)})")
    stray = [k for k in state if not _TV_KEY.fullmatch(k)]
    if stray:
        raise unmapped_error("torchvision", arch, stray)
    return dict(state)


def _mm_key(key: str, last_stage: int) -> str | None:
    """vidlab name of an MMAction2 Swin recognizer key (``None``: no place in the model)."""
    if m := _MM_BLOCK.fullmatch(key):
        rest = m["rest"]
        for src, dst in _MM_MLP.items():
            if re.fullmatch(re.escape(src) + r"\." + _PARAM, rest):
                rest = dst + rest[len(src):]
                break
        else:
            if not _MM_BLOCK_PART.fullmatch(rest):
                return None
        return f"features.{2 * int(m['i'])}.{m['j']}.{rest}"
    if m := _MM_DOWN.fullmatch(key):
        return f"features.{2 * int(m['i']) + 1}.{m['rest']}"
    if m := _MM_OTHER.fullmatch(key):
        if m["head"]:
            return f"head.{m['head']}"
        part = m["part"]
        if part.startswith("norm"):  # the final norm: "norm." (0.x) or "norm{last stage}." (1.x)
            return f"norm.{m['param']}" if part in ("norm.", f"norm{last_stage}.") else None
        return f"{part}{m['param']}"
    return None


def mmaction2_to_vidlab(state: StateDict, arch: str, window_size: Sequence[int]) -> StateDict:
    """Map an MMAction2 ``SwinTransformer3D`` + ``I3DHead`` state dict built with ``window_size``
    (see the module docstring); the registered mapper passes the architecture's own window."""
    out: StateDict = {}
    unmapped = []
    for k, v in state.items():
        if k in _NON_WEIGHTS and v.numel() not in (1, 3):
            raise ConversionError(f"mmaction2 -> {arch}: {k} has shape {tuple(v.shape)}, not 1 or 3 channel values")
    state = {k: v for k, v in state.items() if k not in _NON_WEIGHTS}
    stages = {int(m["i"]) for k in state if (m := re.match(r"backbone\.layers\.(?P<i>\d+)\.", k))}
    if not stages or not any(k.startswith("backbone.patch_embed.") for k in state):
        raise ConversionError(f"mmaction2 -> {arch}: not an MMAction2 SwinTransformer3D recognizer "
                              f"(no backbone.patch_embed / backbone.layers keys; {describe_state(state)})")
    last = max(stages)
    for key, value in state.items():
        new = _mm_key(key, last)
        if new is None:
            unmapped.append(key)
            continue
        if new in out:
            raise ConversionError(f"mmaction2 -> {arch}: two source keys map to {new} "
                                  f"(backbone.norm and backbone.norm{last}?)")
        out[new] = value
    if unmapped:
        raise unmapped_error("mmaction2", arch, unmapped)
    return _with_index_buffers(out, arch, window_size)


_TABLE, _INDEX = "relative_position_bias_table", "relative_position_index"


def _with_index_buffers(out: StateDict, arch: str, window_size: Sequence[int]) -> StateDict:
    """Each block's index right after its table: the checkpoint's, checked, or vidlab's where it has none."""
    index = relative_position_index(window_size)
    tables = {k.replace(_TABLE, _INDEX) for k in out if k.endswith(_TABLE)}
    orphans = [k for k in out if k.endswith(_INDEX) and k not in tables]
    if orphans:
        raise ConversionError(f"mmaction2 -> {arch}: {orphans[0]} has no bias table beside it")
    result: StateDict = {}
    for key, value in out.items():
        if key.endswith(_INDEX):
            continue
        result[key] = value
        if key.endswith(_TABLE):
            name = key.replace(_TABLE, _INDEX)
            given = out.get(name)
            if given is not None and (given.shape != index.shape or not torch.equal(given.long(), index)):
                raise ConversionError(f"mmaction2 -> {arch}: {name} is not the index of a {tuple(window_size)} "
                                      f"window (shape {tuple(given.shape)}): the checkpoint has another window")
            result[name] = index.clone() if given is None else given.long()
    return result


@register("mmaction2", *ARCHS)
def from_mmaction2_swin3d(state: StateDict, arch: str) -> StateDict:
    """MMAction2 ``SwinTransformer3D`` + ``I3DHead`` -> vidlab (torchvision) keys; no tensor changes."""
    return mmaction2_to_vidlab(state, arch, CONFIGS[arch].window_size)
