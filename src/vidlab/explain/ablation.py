"""Pathway ablation for SlowFast: what the score is when a pathway or the laterals are taken out.

SlowFast (:mod:`vidlab.models.slowfast`) has three places where the pathways
meet: the laterals ``s{k}_fuse`` (after the stem, res2, res3 and res4: a
``kT x 1 x 1`` conv of the Fast features with temporal stride ``alpha``, BN,
ReLU, concatenated to the Slow features as extra channels) and the head, which
pools each pathway globally, concatenates ``[slow (C_s), fast (C_f)]`` and
applies one linear layer ``head.projection``. There is no Slow -> Fast
connection. "Removed" means one of these exact operations (forward hooks on the
given model; nothing is rebuilt or copied):

``no_fast``
    The Fast half of the pooled feature vector is zeroed at the head (the input
    of ``head.projection``, channels ``C_s:``). The logits equal those of the
    same network with ``head.projection.weight[:, C_s:] = 0`` (bias kept). The
    Fast pathway's direct contribution is gone; through the laterals it still
    shapes the Slow features.
``no_slow``
    The Slow half zeroed at the head: equal to
    ``head.projection.weight[:, :C_s] = 0``. As nothing flows from Slow into
    Fast, this is the Fast pathway alone: the logits do not depend on the Slow
    input at all.
``no_lateral``
    Every lateral's output (the fused channels, after its ReLU) is zeroed, both
    head halves kept. Equal to the same network with each lateral's
    ``conv_f2s.weight = 0`` and its BN set to output zero (``weight = bias =
    running_mean = 0``, ``running_var = 1``). It is *not* a SlowFast built without
    laterals (that one has narrower Slow stages and other weights); it equals the
    Slow stages fed through the fused-input columns with zeros, i.e. a no-lateral
    network whose first block of each Slow stage (conv ``a`` and the ``branch1``
    shortcut) keeps only the weight columns of the Slow channels, ``[:, :C_in]``.
``slow_only``
    ``no_fast`` and ``no_lateral`` together: the Slow pathway alone. The logits
    do not depend on the Fast input at all.

Each row reports, for the ablated network, the logit and softmax probability of
the explained class and the ablated network's own top-1. :func:`pathway_ablation`
runs the backbone once per lateral setting and masks the pooled features for the
head variants (the same arithmetic as the hooks). The tests check every equality
above to 1e-6 (measured: bit for bit) and the two independences exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import torch
from torch import nn

from vidlab.errors import VidlabError

__all__ = ["VARIANTS", "ablated", "lateral_modules", "pathway_ablation"]

#: variant -> what is zeroed (``fast_head``, ``slow_head``, ``laterals``); ``full`` is the unchanged model.
VARIANTS: dict[str, tuple[str, ...]] = {
    "full": (),
    "no_fast": ("fast_head",),
    "no_slow": ("slow_head",),
    "no_lateral": ("laterals",),
    "slow_only": ("fast_head", "laterals"),
}

DEFINITIONS = {
    "full": "the unchanged model",
    "no_fast": "Fast features zeroed at the head (== head.projection weight columns of the Fast channels zero); "
               "the laterals still carry Fast information into Slow",
    "no_slow": "Slow features zeroed at the head (== its Slow weight columns zero): the Fast pathway alone",
    "no_lateral": "every lateral's fused channels zeroed (== its conv and BN set to output 0); both head halves kept",
    "slow_only": "no_fast + no_lateral: the Slow pathway alone",
}


def _check(model: nn.Module) -> None:
    from vidlab.models.slowfast import SlowFast

    if not isinstance(model, SlowFast):
        raise VidlabError(f"pathway ablation needs a SlowFast classifier, not a {type(model).__name__}")


def lateral_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The lateral connections ``(name, FuseFastToSlow)`` in forward order."""
    from vidlab.models.slowfast import FuseFastToSlow

    _check(model)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, FuseFastToSlow)]


@contextmanager
def ablated(model: nn.Module, *, slow_head: bool = False, fast_head: bool = False,
            laterals: bool = False) -> Iterator[nn.Module]:
    """``model`` with the chosen parts zeroed by forward hooks (see the module docstring), for the ``with``
    block; the hooks are removed afterwards."""
    _check(model)
    handles: list[Any] = []
    if slow_head or fast_head:
        c_slow, c_fast = (int(c) for c in getattr(model, "feature_dims"))

        def zero_head(module: nn.Module, args: tuple) -> tuple:
            f = args[0].clone()
            if f.shape[-1] != c_slow + c_fast:
                raise ValueError(f"head input has {f.shape[-1]} channels, expected {c_slow} + {c_fast}")
            if slow_head:
                f[..., :c_slow] = 0
            if fast_head:
                f[..., c_slow:] = 0
            return (f, *args[1:])

        handles.append(model.get_submodule("head.projection").register_forward_pre_hook(zero_head))
    if laterals:
        for _, m in lateral_modules(model):
            fused = int(getattr(m, "conv_f2s").out_channels)

            def zero_lateral(module: nn.Module, args: tuple, output: list, fused: int = fused) -> list:
                slow, fast = output
                slow = slow.clone()
                slow[:, slow.shape[1] - fused:] = 0
                return [slow, fast]

            handles.append(m.register_forward_hook(zero_lateral))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def _flags(variant: str) -> dict[str, bool]:
    parts = VARIANTS[variant]
    return {"slow_head": "slow_head" in parts, "fast_head": "fast_head" in parts, "laterals": "laterals" in parts}


@torch.no_grad()
def variant_logits(model: nn.Module, x: Any, variant: str) -> torch.Tensor:
    """The logits of ``model(x)`` under one of :data:`VARIANTS` (eval mode for the call, then restored)."""
    if variant not in VARIANTS:
        raise VidlabError(f"unknown ablation {variant!r}; choose one of {', '.join(VARIANTS)}")
    was_training = model.training
    model.eval()
    try:
        with ablated(model, **_flags(variant)):
            return model(x)
    finally:
        model.train(was_training)


def pathway_ablation(
    model: nn.Module,
    clip: torch.Tensor | Sequence[torch.Tensor],
    *,
    class_index: int | None = None,
    labels: Sequence[str] | None = None,
    variants: Sequence[str] = tuple(VARIANTS),
) -> dict:
    """The ablation table for one clip (``(C, T, H, W)``, a batch of one, or ``[slow, fast]``).

    ``class_index``: the class followed through the rows (None: the full model's top-1).
    Returns ``{"class_index", "class_label", "rows": [{variant, definition, class_logit, class_prob,
    top1: {index, label, logit, prob}}, ...]}``.
    """
    _check(model)
    x: Any = clip
    if isinstance(clip, torch.Tensor) and clip.dim() == 4:
        x = clip.unsqueeze(0)
    for v in variants:
        if v not in VARIANTS:
            raise VidlabError(f"unknown ablation {v!r}; choose one of {', '.join(VARIANTS)}")
    c_slow = int(getattr(model, "feature_dims")[0])
    net = cast(Any, model)  # a SlowFast: forward_features / forward_head (typed loosely on nn.Module)
    was_training = model.training
    model.eval()
    features: dict[bool, torch.Tensor] = {}
    try:
        with torch.no_grad():
            # one backbone pass per lateral setting; the head variants only mask the pooled features,
            # exactly what the pre-hook of ablated() does to head.projection's input (dropout is off in eval)
            for laterals in sorted({"laterals" in VARIANTS[v] for v in variants} | {False}):
                with ablated(model, laterals=laterals):
                    features[laterals] = net.forward_features(x)
            if features[False].shape[0] != 1:
                raise ValueError(f"pathway_ablation takes one clip, got a batch of {features[False].shape[0]}")
            logits = {}
            for v in variants:
                f = features["laterals" in VARIANTS[v]].clone()
                if "slow_head" in VARIANTS[v]:
                    f[:, :c_slow] = 0
                if "fast_head" in VARIANTS[v]:
                    f[:, c_slow:] = 0
                logits[v] = net.forward_head(f)[0].float()
            full = net.forward_head(features[False])[0].float()
    finally:
        model.train(was_training)

    def name(i: int) -> str:
        return labels[i] if labels is not None and i < len(labels) else str(i)

    c = int(full.argmax()) if class_index is None else int(class_index)
    if not 0 <= c < full.numel():
        raise VidlabError(f"class {c} is out of range: the model has {full.numel()} classes")
    rows = []
    for v in variants:
        z = logits[v]
        p = z.softmax(-1)
        top = int(z.argmax())
        rows.append({
            "variant": v,
            "definition": DEFINITIONS[v],
            "class_logit": round(float(z[c]), 6),
            "class_prob": round(float(p[c]), 6),
            "top1": {"index": top, "label": name(top), "logit": round(float(z[top]), 6), "prob": round(float(p[top]), 6)},
        })
    return {"class_index": c, "class_label": name(c), "rows": rows}
