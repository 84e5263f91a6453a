"""Batch-norm folding: ``conv -> bn`` becomes one conv with adjusted weights.

In eval mode a BatchNorm after a convolution is an affine map per output
channel, so it can be merged into the convolution's weight and bias
(``w' = w * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``)
and replaced by ``nn.Identity``. Pairs are found on the FX graph, so only a BN
that consumes the convolution's output (and is that output's only user) is
folded; a module whose forward cannot be traced symbolically (data-dependent
``if``, ``len`` of a list) is searched child by child instead, so e.g.
SlowFast's pathways are folded even though its top-level forward is not
traceable.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import fx, nn

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def traced_regions(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module, fx.GraphModule]]:
    """The largest symbolically traceable subtrees: ``(qualified name, module, graph)``.

    A module that does not trace is replaced by its children (recursively);
    standard ``torch.nn`` layers are leaves and always trace.
    """
    try:
        gm = fx.symbolic_trace(module)
    except Exception:  # noqa: BLE001  (any tracing failure: recurse into children)
        children = list(module.named_children())
        for name, child in children:
            yield from traced_regions(child, f"{prefix}{name}.")
        return
    yield prefix.rstrip("."), module, gm


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(conv name, bn name)`` pairs where the BN is the only consumer of the conv's output."""
    pairs = []
    for prefix, sub, gm in traced_regions(model):
        mods = dict(sub.named_modules())
        calls: dict[str, int] = {}
        for node in gm.graph.nodes:
            if node.op == "call_module":
                calls[node.target] = calls.get(node.target, 0) + 1
        for node in gm.graph.nodes:
            if node.op != "call_module" or not isinstance(mods.get(node.target), CONVS):
                continue
            users = list(node.users)
            if len(users) != 1 or users[0].op != "call_module" or not isinstance(mods.get(users[0].target), NORMS):
                continue
            bn_name = users[0].target
            if calls[node.target] != 1 or calls[bn_name] != 1 or not mods[bn_name].track_running_stats:
                continue
            p = f"{prefix}." if prefix else ""
            pairs.append((p + node.target, p + bn_name))
    return pairs


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)


@torch.no_grad()
def fold_bn(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Fold every ``conv -> BatchNorm`` pair of ``model`` (eval semantics).

    Returns the folded model (a copy unless ``inplace``) in eval mode; its
    ``folded_bn`` attribute lists the ``(conv, bn)`` names merged. Outputs
    equal the unfolded eval-mode model's up to float rounding.
    """
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    pairs = conv_bn_pairs(model)
    for conv_name, bn_name in pairs:
        conv = model.get_submodule(conv_name)
        bn = model.get_submodule(bn_name)
        w, b = torch.nn.utils.fusion.fuse_conv_bn_weights(
            conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        conv.weight = w
        conv.bias = b
        _set_submodule(model, bn_name, nn.Identity())
    model.folded_bn = pairs
    return model
