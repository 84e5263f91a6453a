"""Starting from a checkpoint: a new head, frozen layers, a lower backbone learning rate.

What ``vidlab finetune`` (and any config with ``model.init``) needs from the trainer:

- :func:`classifier_keys`: the state-dict keys of the model's classifier (the contract's
  ``get_classifier()``, so it works for every architecture, two-stream included).
- :func:`init_state`: the checkpoint's tensors to load. ``model.init_head``: ``keep`` loads the
  head too (shapes must match), ``reset`` drops it (the model keeps its freshly initialised head),
  ``auto`` drops it only when its shape differs (a checkpoint trained on other classes).
- :func:`freeze`: ``model.freeze: backbone`` freezes every parameter but the classifier's (a linear
  probe); any other value is a parameter-name prefix, and every parameter *before* the first one
  whose name starts with it is frozen (``s4`` for the ResNets: stages 1-3 and the stem frozen;
  ``blocks.8`` for a ViT). Frozen BatchNorms keep their running statistics: the trainer puts them
  in eval mode after each ``train()`` (:func:`frozen_norms`).
- :func:`scale_backbone_lr`: ``solver.backbone_lr_scale`` multiplies the learning rate of every
  parameter group outside the classifier (the groups are split where needed).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vidlab.engine.config import ConfigError

INIT_HEAD = ("auto", "keep", "reset")


def _classifier_tensors(model: nn.Module) -> set[int]:
    get = getattr(model, "get_classifier", None)
    if get is None:
        raise ConfigError(f"{type(model).__name__} has no get_classifier(): its head cannot be told apart")
    head = get()
    return {id(t) for t in (*head.parameters(), *head.buffers())}


def classifier_keys(model: nn.Module) -> list[str]:
    """State-dict keys of the classifier's parameters and buffers, in the model's order."""
    ids = _classifier_tensors(model)
    named = dict(model.named_parameters())
    named.update(dict(model.named_buffers()))
    return [k for k, t in named.items() if id(t) in ids]


def init_state(model: nn.Module, state: dict[str, torch.Tensor], mode: str = "auto",
               log=None) -> tuple[dict[str, torch.Tensor], bool]:
    """The tensors of ``state`` to load into ``model`` and whether the classifier was dropped."""
    if mode not in INIT_HEAD:
        raise ConfigError(f"model.init_head: one of {', '.join(INIT_HEAD)}, got {mode!r}")
    if mode == "keep":
        return state, False
    keys = classifier_keys(model)
    own = model.state_dict()
    differs = any(k in state and tuple(state[k].shape) != tuple(own[k].shape) for k in keys)
    if mode == "auto" and not differs:
        return state, False
    if log is not None:
        shapes = ", ".join(f"{k} {tuple(state[k].shape)}" for k in keys if k in state)
        log(f"model.init: the checkpoint's classifier ({shapes}) is replaced by a new one "
            f"for {getattr(model, 'num_classes', '?')} classes")
    dropped = {k: v for k, v in state.items() if k not in keys}
    dropped.update({k: own[k] for k in keys})  # the model's fresh head
    return dropped, True


def freeze(model: nn.Module, spec: str | None) -> list[str]:
    """Freeze parameters as ``model.freeze`` says; the frozen parameter names."""
    if not spec:
        return []
    names = [n for n, _ in model.named_parameters()]
    if spec == "backbone":
        keep = set(classifier_keys(model))
        frozen = [n for n in names if n not in keep]
    else:
        first = next((i for i, n in enumerate(names) if n == spec or n.startswith(spec + ".")), None)
        if first is None:
            tops = sorted({n.split(".")[0] for n in names}, key=[n.split(".")[0] for n in names].index)
            raise ConfigError(f"model.freeze={spec!r}: no parameter of {type(model).__name__} is named {spec}.*; "
                              f"'backbone' or a module name, e.g. one of: {', '.join(tops)}")
        frozen = names[:first]
    params = dict(model.named_parameters())
    for n in frozen:
        params[n].requires_grad_(False)
    return frozen


def frozen_norms(model: nn.Module) -> list[nn.Module]:
    """BatchNorms whose affine parameters are all frozen: in eval mode they keep their running
    statistics (a frozen layer should not drift with the new data's batch statistics)."""
    out = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                out.append(m)
    return out


def scale_backbone_lr(groups: list[dict[str, Any]], model: nn.Module, scale: float) -> list[dict[str, Any]]:
    """Split the groups into classifier and backbone parts; backbone parts get ``lr_scale * scale``."""
    if scale == 1.0:
        return groups
    head = _classifier_tensors(model)
    out = []
    for g in groups:
        parts = ([p for p in g["params"] if id(p) in head], [p for p in g["params"] if id(p) not in head])
        for is_backbone, params in enumerate(parts):
            if not params:
                continue
            base = g.get("lr_scale", 1.0)
            out.append({**g, "params": params, "lr_scale": base * scale if is_backbone else base})
    return out
