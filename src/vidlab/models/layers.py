"""Layers and small helpers shared by several model families.

Everything here is public so that families import it by name (no private
names cross module boundaries): norm/activation factories, the single-input
convention, the pooled classification head, per-stage option broadcasting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

import torch
from torch import nn

Norm = Callable[[int], nn.Module]
Act = Callable[[], nn.Module]


def relu() -> nn.Module:
    """The default activation factory (in-place ReLU)."""
    return nn.ReLU(inplace=True)


def batch_norm3d(channels: int) -> nn.Module:
    """The default norm factory: ``BatchNorm3d`` with PyTorch's eps/momentum (PySlowFast's values)."""
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)


def single_pathway(x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """A clip given as a tensor or as a one-element list (PySlowFast's input convention)."""
    if isinstance(x, (list, tuple)):
        if len(x) != 1:
            raise ValueError(f"single-pathway model got {len(x)} inputs")
        return x[0]
    # anything but a list/tuple passes through as the clip (a Tensor, or a stand-in such as an fx Proxy)
    return cast(torch.Tensor, x)


def triple(values: Iterable[int]) -> tuple[int, int, int]:
    """A ``(t, h, w)`` kernel, stride or padding given as any sequence, as a 3-tuple (what ``nn.Conv3d`` takes)."""
    t, h, w = values
    return t, h, w


def per_stage(value, num_stages: int, default, *, flat_kernel: bool = False) -> list:
    """Broadcast a per-stage option. ``None`` gives ``default`` for every stage,
    an int (or, with ``flat_kernel``, one ``(t, h, w)`` tuple of ints) is
    repeated; anything else must hold one entry per stage."""
    if value is None:
        return [default] * num_stages
    if isinstance(value, int) or (flat_kernel and all(isinstance(v, int) for v in value)):
        return [value] * num_stages
    if len(value) != num_stages:
        raise ValueError(f"expected one entry per stage ({num_stages}), got {len(value)}: {value!r}")
    return list(value)


def check_stage_options(num_stages: int, **options: Sequence) -> None:
    """Refuse at build time per-stage options whose length differs from the stage count."""
    if num_stages < 1:
        raise ValueError("a network needs at least one stage")
    bad = {k: len(v) for k, v in options.items() if len(v) != num_stages}
    if bad:
        shown = ", ".join(f"{k} has {n}" for k, n in bad.items())
        raise ValueError(f"{num_stages} stages, but {shown} entries (one per stage expected)")


class ClassificationHead(nn.Module):
    """Global average pool -> dropout -> ``projection`` (logits).

    :meth:`features` (pooled ``(B, C)``) and :meth:`classify` split it in two
    for the model contract; ``forward`` is their composition.
    """

    def __init__(self, dim_in: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(dim_in, num_classes, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x).flatten(1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


class TransformerMlp(nn.Module):
    """The transformer families' MLP: ``fc1`` -> GELU -> ``fc2``, dropout after ``fc2`` and, with
    ``drop_hidden`` (PySlowFast's MViT, TimeSformer), after the GELU too (VideoMAE's original drops
    only after ``fc2``). Parameter names ``fc1`` / ``fc2``, as in every source layout."""

    def __init__(self, dim: int, hidden: int, dim_out: int | None = None, drop: float = 0.0,
                 drop_hidden: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim if dim_out is None else dim_out)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()
        self.drop_hidden = drop_hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.fc1(x))
        if self.drop_hidden:
            x = self.drop(x)
        return self.drop(self.fc2(x))
