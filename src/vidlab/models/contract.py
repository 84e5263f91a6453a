"""The one model contract (timm's discipline) every vidlab classifier follows.

* ``forward_features(x)`` -> pooled features ``(B, feature_dim)``;
* ``forward_head(features)`` -> logits ``(B, num_classes)`` (dropout, then
  the classifier);
* ``forward(x) == forward_head(forward_features(x))``;
* ``get_classifier()`` -> the final layer (``nn.Linear``, or a 1x1x1
  ``nn.Conv3d`` where the source layout has one, e.g. torchvision's S3D);
* ``reset_classifier(num_classes)`` -> a freshly initialised final layer
  with the new number of outputs; nothing else changes;
* ``num_classes`` (read off the classifier) and ``feature_dim``.

Detection models keep ``model(inputs, boxes)`` and answer the same methods
with per-box features: ``forward_features(inputs, boxes) -> (N, feature_dim)``.

A family mixes :class:`VideoClassifier` into its ``nn.Module`` and names
its final layer in ``classifier_path`` (a dotted attribute path); families
whose classifier is spread over several layers (late-fusion two-stream)
override :meth:`get_classifier` / :meth:`reset_classifier`.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from vidlab.models.layers import triple


def new_classifier(old: nn.Module, num_classes: int, *, std: float = 0.01) -> nn.Module:
    """A fresh layer shaped like ``old`` with ``num_classes`` outputs (normal(0, std) weights, zero bias)."""
    if isinstance(old, nn.Linear):
        new: nn.Linear | nn.Conv3d = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    elif isinstance(old, nn.Conv3d):
        padding = old.padding if isinstance(old.padding, str) else triple(old.padding)
        new = nn.Conv3d(old.in_channels, num_classes, triple(old.kernel_size), triple(old.stride), padding,
                        bias=old.bias is not None)
    else:
        raise TypeError(f"cannot reset a classifier of type {type(old).__name__}")
    nn.init.normal_(new.weight, std=std)
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new.to(device=old.weight.device, dtype=old.weight.dtype)


def classifier_outputs(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return layer.out_features
    if isinstance(layer, nn.Conv3d):
        return layer.out_channels
    raise TypeError(f"unknown classifier layer {type(layer).__name__}")


def _resolve(root: nn.Module, path: str) -> tuple[nn.Module, str]:
    *parents, leaf = path.split(".")
    node = root
    for name in parents:
        node = getattr(node, name)
    return node, leaf


class VideoClassifier:
    """Mixin giving an ``nn.Module`` the contract; see the module docstring.

    Subclasses implement ``forward_features`` and ``forward_head`` and set
    ``feature_dim``; ``classifier_path`` names the final layer.
    """

    classifier_path: str = "head.projection"
    feature_dim: int

    def forward_features(self, x: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        # open-ended on purpose: a classifier takes one input ``x``, a detector ``(inputs, boxes)``, the
        # feature-bank head ``(short, long, mask)``; mypy accepts each of those overrides of this signature
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: Any) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        parent, leaf = _resolve(cast(nn.Module, self), self.classifier_path)  # the mixin sits on an nn.Module
        return getattr(parent, leaf)

    @property
    def num_classes(self) -> int:
        return classifier_outputs(self.get_classifier())

    def reset_classifier(self, num_classes: int) -> None:
        parent, leaf = _resolve(cast(nn.Module, self), self.classifier_path)  # the mixin sits on an nn.Module
        setattr(parent, leaf, new_classifier(getattr(parent, leaf), num_classes))


class VideoDetectorContract(VideoClassifier):
    """The contract for detection models: ``model(inputs, boxes)``; features are per box."""

    def forward_features(self, inputs: Any, boxes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # the override ignore: a detector's forward takes (inputs, boxes) where a classifier's takes one clip
    def forward(self, inputs: Any, boxes: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(inputs, boxes))
