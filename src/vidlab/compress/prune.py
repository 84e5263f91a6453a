"""Structured channel pruning with torch-pruning, and a short fine-tune.

:func:`prune_channels` removes a fraction ``sparsity`` of the channels of
every prunable layer group (L2 magnitude of the whole group, torch-pruning's
``GroupMagnitudeImportance``). torch-pruning traces the model into a
dependency graph, so channels that must go together go together: a residual
sum keeps its branches aligned, a depthwise convolution follows its input,
and in SlowFast a lateral connection (``s{k}_fuse.conv_f2s`` -> concat into
the Slow pathway) removes the Fast channels it reads from ``conv_f2s``'s
input and the matching input slice of the next Slow convolution. The
classifier's outputs (the last weighted layer run by the forward) are never
pruned, and neither are the channels that feed it (the last stage's
output, for SlowFast both pathways' pooled features concatenated in the
head: torch-pruning 1.6 maps indices through that flatten + concat wrongly,
so that group is kept whole while the blocks' inner channels are pruned).
The result is an ordinary module with smaller layers; its weights
reload through :func:`vidlab.compress.ckpt.load_compressed`.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from vidlab.compress.quantize import WEIGHTED


def _inputs_tuple(example_inputs) -> tuple:
    return example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)


def output_layers(model: nn.Module, example_inputs) -> list[nn.Module]:
    """The last weighted layer run by ``model``'s forward (its classifier)."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, a, o: order.append(mod)) for m in model.modules()
             if isinstance(m, WEIGHTED)]
    try:
        with torch.no_grad():
            model(*_inputs_tuple(example_inputs))
    finally:
        for h in hooks:
            h.remove()
    return order[-1:]


def channel_counts(model: nn.Module) -> dict[str, int]:
    return {n: m.weight.shape[0] for n, m in model.named_modules() if isinstance(m, WEIGHTED) and hasattr(m, "weight")}


def prune_channels(model: nn.Module, example_inputs, sparsity: float = 0.5, *,
                   ignored: list[nn.Module] | None = None, round_to: int | None = None) -> nn.Module:
    """A copy of ``model`` with ``sparsity`` of the channels of each layer group removed.

    ``ignored``: extra layers whose outputs stay whole (the classifier always is).
    The copy records ``pruning`` = ``{"sparsity", "params_before", "params_after"}``.
    """
    import torch_pruning as tp

    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    meta = getattr(model, "meta", None)
    model = copy.deepcopy(model).eval()
    inputs = _inputs_tuple(example_inputs)
    keep = output_layers(model, inputs)
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=inputs, forward_fn=lambda m, x: m(*x))
    heads = {id(h) for h in keep}
    for group in dg.get_all_groups(root_module_types=[nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear]):
        deps = [dep for dep, _ in group]
        if any(id(d.target.module) in heads and "in_channels" in getattr(d.handler, "__name__", "") for d in deps):
            keep += [d.target.module for d in deps if "out_channels" in getattr(d.handler, "__name__", "")
                     and isinstance(d.target.module, WEIGHTED)]
    keep = list({id(m): m for m in keep + list(ignored or [])}.values())
    before = sum(p.numel() for p in model.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruner = tp.pruner.MetaPruner(
            model, inputs, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=sparsity,
            ignored_layers=keep, round_to=round_to, forward_fn=lambda m, x: m(*x))
        pruner.step()
    after = sum(p.numel() for p in model.parameters())
    if meta is not None:
        model.meta = meta
    model.pruning = {"sparsity": sparsity, "params_before": before, "params_after": after}
    return model
