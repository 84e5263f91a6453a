"""Optimizer parameter groups: weight-decay exemptions and layer-wise learning-rate decay.

Weight decay
------------
Every trainable parameter decays with ``solver.weight_decay`` except:

- ``zero_wd_1d`` (default on; vidlab has always done this): 1-D parameters, i.e. biases and
  the weights of BatchNorm/LayerNorm/GroupNorm (PySlowFast ``SOLVER.ZERO_WD_1D_PARAM``, off by
  default there but on in its MViT recipes; its BatchNorm parameters take ``BN.WEIGHT_DECAY``,
  0, in any case). Off: every parameter decays.
- ``zero_wd_pos`` (default off): class/mask tokens, absolute position tables
  (``cls_token``, ``pos_embed*``, TimeSformer's ``time_embed``) and relative-position tables
  (MViTv2's ``rel_pos_h/w/t``, Swin's ``relative_position_bias_table``), matched on the last
  part of the parameter name. This is PySlowFast's ``MVIT.ZERO_DECAY_POS_CLS`` (which also
  covers the ``rel_pos`` tables); its defaults turn it on, its MViTv2 Kinetics/SSv2 recipes
  (``MVITv2_S_16x4.yaml``...) turn it off, so the tables decay there.

With both at their defaults the groups are exactly the two vidlab has always built
(``[decay, no_decay]``, in parameter order), so existing runs are unchanged bit for bit.

Layer-wise learning-rate decay (BEiT, VideoMAE, PySlowFast ``SOLVER.LAYER_DECAY``)
-------------------------------------------------------------------------------
A transformer of ``L`` blocks gets layer ids ``0`` (the stem: patch embedding, its norm,
tokens, position tables), ``i + 1`` (block ``i``) and ``L + 1`` (everything after the
blocks: final norm, ``fc_norm``, head). A parameter of layer ``k`` learns at
``lr * layer_decay ** (L + 1 - k)``: the head at the full rate, the stem at
``layer_decay ** (L + 1)``. Layer ids come from parameter names:

- ViT layout (MViT, TimeSformer, VideoMAE): ``blocks.N.`` is block ``N``; names starting
  with ``patch_embed``, ``cls_token``, ``mask_token``, ``dist_token``, ``pos_embed``,
  ``time_embed`` or ``norm_stem`` are the stem (PySlowFast matches the first four only, so
  it gives MViTv1's optional ``norm_stem`` the head's rate; here it is stem like the
  patch embedding it normalises);
- Swin layout (torchvision / vidlab ``swin3d``): ``features.K.J.`` is block ``J`` of stage
  ``K``, the blocks numbered in order over all stages; a patch-merging layer
  (``features.K.reduction``, ``features.K.norm``) takes the id of the last block before it
  (SimMIM's rule for Swin); ``patch_embed`` is the stem.

A model can state its own rule instead by defining ``layer_id_for(name) -> int`` and
``num_layers_for_decay() -> int``. A model with neither layout (a CNN) is refused with
:class:`LayerDecayError`: layer decay is a fine-tuning rule for transformers.

Groups are then one per (layer, decays or not), in layer order, each with an ``lr_scale``
(the trainer sets ``group["lr"] = lr * group["lr_scale"]``) and its ``layer_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn

from vidlab.engine.config import ConfigError

# the stem of a ViT-layout transformer: names starting with these are layer 0
STEM_PREFIXES = ("patch_embed", "cls_token", "mask_token", "dist_token", "pos_embed", "time_embed", "norm_stem")
# tokens and position tables (the last part of the name), exempt from weight decay with zero_wd_pos
_POS_NAME = re.compile(r"(cls|mask|dist)_token|pos_embed\w*|time_embed|rel_pos\w*|relative_position_bias_table")
_VIT_BLOCK = re.compile(r"^blocks\.(\d+)\.")
_SWIN_BLOCK = re.compile(r"^features\.(\d+)\.(\d+)\.")
_SWIN_OTHER = re.compile(r"^features\.(\d+)\.")


class LayerDecayError(ConfigError):
    """``solver.layer_decay`` is set for a model without a recognised transformer layout."""


def is_position_param(name: str) -> bool:
    """Whether ``name`` is a class/mask token or an absolute/relative position table."""
    return _POS_NAME.fullmatch(name.rsplit(".", 1)[-1]) is not None


def no_weight_decay(name: str, param: nn.Parameter, zero_wd_1d: bool = True, zero_wd_pos: bool = False) -> bool:
    """Whether ``param`` (named ``name``) is exempt from weight decay under the two rules."""
    return (zero_wd_1d and param.ndim <= 1) or (zero_wd_pos and is_position_param(name))


def _is_stem(name: str) -> bool:
    return name.startswith(STEM_PREFIXES)


def layer_ids(model: nn.Module, names: Iterable[str] | None = None) -> tuple[dict[str, int], int]:
    """``({parameter name: layer id}, L)`` for layer-wise decay (see the module docstring):
    ids run from 0 (stem) to ``L + 1`` (after the last block). Raises :class:`LayerDecayError`
    for a model with no recognised transformer layout."""
    names = list(names) if names is not None else [n for n, _ in model.named_parameters()]
    own_id, own_num = getattr(model, "layer_id_for", None), getattr(model, "num_layers_for_decay", None)
    if callable(own_id) and callable(own_num):
        num = int(own_num())
        ids = {n: int(own_id(n)) for n in names}
        bad = {n: i for n, i in ids.items() if not 0 <= i <= num + 1}
        if bad:
            name, i = next(iter(bad.items()))
            raise LayerDecayError(f"solver.layer_decay: {type(model).__name__}.layer_id_for({name!r}) = {i}, "
                                  f"outside [0, {num + 1}]")
        return ids, num

    vit = {n: int(m.group(1)) for n in names if (m := _VIT_BLOCK.match(n))}
    swin = {n: (int(m.group(1)), int(m.group(2))) for n in names if (m := _SWIN_BLOCK.match(n))}
    # a transformer: its blocks hold attention (torchvision's S3D, for one, also names features.K.J.)
    if vit and any(".attn." in n for n in vit):
        order = sorted(set(vit.values()))
        if order != list(range(len(order))):
            raise LayerDecayError(f"solver.layer_decay: {type(model).__name__}'s blocks are not numbered "
                                  f"0..{len(order) - 1} (found {order})")
        num = len(order)
        ids = {}
        for n in names:
            ids[n] = vit[n] + 1 if n in vit else 0 if _is_stem(n) else num + 1
        return ids, num
    if swin and any(".attn." in n for n in swin):
        order = sorted(set(swin.values()))
        block_id = {key: i + 1 for i, key in enumerate(order)}  # stage by stage, block by block
        num = len(order)
        ids = {}
        for n in names:
            if n in swin:
                ids[n] = block_id[swin[n]]
            elif (m := _SWIN_OTHER.match(n)) is not None:  # patch merging after stage K - 1
                before = [block_id[k] for k in order if k[0] < int(m.group(1))]
                ids[n] = max(before, default=0)
            else:
                ids[n] = 0 if _is_stem(n) else num + 1
        return ids, num
    example = names[0] if names else "(no parameters)"
    raise LayerDecayError(
        f"solver.layer_decay is for transformers whose parameters are named blocks.N.* (ViT, MViT, "
        f"TimeSformer, VideoMAE) or features.K.J.* (Swin); {type(model).__name__} has neither "
        f"(e.g. {example!r}): unset solver.layer_decay, or give the model layer_id_for(name) "
        "and num_layers_for_decay()")


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float | None = None, *,
                 zero_wd_1d: bool = True, zero_wd_pos: bool = False) -> list[dict]:
    """The optimizer's parameter groups for ``model`` (trainable parameters only).

    Without layer decay (``layer_decay`` None or 1, as PySlowFast's ``LAYER_DECAY: 1.0``):
    ``[{"params": decaying, "weight_decay": weight_decay}, {"params": exempt,
    "weight_decay": 0.0}]``, vidlab's historical layout, for any model. With ``layer_decay``
    in (0, 1): one group per (layer id, decays or not), in layer order, each with
    ``lr_scale`` and ``layer_id``."""
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise ConfigError(f"solver.layer_decay: must be in (0, 1], got {layer_decay!r}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if layer_decay is None or layer_decay == 1:
        decay, exempt = [], []
        for n, p in named:
            (exempt if no_weight_decay(n, p, zero_wd_1d, zero_wd_pos) else decay).append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]
    ids, num = layer_ids(model, [n for n, _ in named])
    groups: dict[tuple[int, bool], dict] = {}
    for n, p in named:
        exempt = no_weight_decay(n, p, zero_wd_1d, zero_wd_pos)
        key = (ids[n], exempt)
        if key not in groups:
            groups[key] = {"params": [], "weight_decay": 0.0 if exempt else weight_decay,
                           "lr_scale": float(layer_decay) ** (num + 1 - ids[n]), "layer_id": ids[n]}
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]
