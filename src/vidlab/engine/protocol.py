"""Test protocols: how a checkpoint's source scored it, so a zoo checkpoint scores its published number.

vidlab's own protocol (``vidlab``) pools the last feature map globally at any input size and takes the
checkpoint's ``preprocessing`` (test crop = its ``test_scale``, views as asked). The zoo figures were
measured differently:

- **PySlowFast** (``TEST.*`` of the Kinetics configs, ``slowfast/models/head_helper.py``): frames at
  ``DATA.TARGET_FPS`` 30, the short side resized to ``DATA.TEST_CROP_SIZE`` and 3 crops of that size
  along the long side (``TEST.NUM_SPATIAL_CROPS`` 3) for 10 uniform clips (``TEST.NUM_ENSEMBLE_VIEWS``),
  and a *fully convolutional* head: the average pool keeps the kernel sized for the training crop
  (``TRAIN_CROP_SIZE // 32``; X3D ``ceil(TRAIN_CROP_SIZE / 32)``) and slides with stride 1 over the
  larger test map, the projection applies at every position, then (eval mode) a softmax per position
  and the mean over positions. Views are summed (``TEST.ENSEMBLE_METHOD: sum``): the same ranking as
  vidlab's mean.
- **PyTorchVideo** (``pytorchvideo.models.head.ResNetBasicHead`` of the hub builders, head activation
  None): the same sliding pool and per-position projection, then ``output_pool`` averages the
  per-position *logits* (no softmax); its X3D head (``create_x3d_head``) has a softmax activation
  before ``output_pool``, so X3D averages probabilities as PySlowFast does.

:class:`FullyConvTest` wraps a model of the ResNet, SlowFast or X3D families in that head (same
weights, no copy); :func:`protocol_for` gives a checkpoint's protocol from its sidecar (the converter
records the source); ``vidlab eval --protocol source`` applies both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidlab.errors import VidlabError


class ProtocolError(VidlabError):
    """A protocol that does not apply to this checkpoint."""


@dataclass(frozen=True)
class TestProtocol:
    name: str
    views: int
    crops: int
    test_crop: int | None  # None: the checkpoint's test scale
    target_fps: float | None
    head: str  # "global", "softmax" (per-position softmax, then mean) or "logits" (mean of logits)
    source: str  # where the rule comes from
    head_x3d: str = "softmax"  # X3D's head (PyTorchVideo's X3D head has a softmax where its ResNets have none)

    def head_for(self, arch: str | None) -> str:
        return self.head_x3d if (arch or "").startswith("x3d") else self.head

    def describe(self, views: int | None = None, crops: int | None = None, crop: int | None = None,
                 arch: str | None = None) -> str:
        head = {"global": "global average pool", "softmax": "fully convolutional head, softmax per position",
                "logits": "fully convolutional head, mean of the per-position logits"}[self.head_for(arch)]
        size = crop or self.test_crop
        where = f"{size} px" if size else "the checkpoint's test scale"
        return (f"{self.name}: {views or self.views} views x {crops or self.crops} crops at {where} (short side = "
                f"crop), {head} ({self.source})")


PROTOCOLS = {
    "pyslowfast": TestProtocol("pyslowfast", 10, 3, None, 30.0, "softmax",
                               "PySlowFast TEST.NUM_ENSEMBLE_VIEWS 10, NUM_SPATIAL_CROPS 3, ResNetBasicHead/X3DHead"),
    "pytorchvideo": TestProtocol("pytorchvideo", 10, 3, None, 30.0, "logits",
                                 "PyTorchVideo model zoo: 10 clips x 3 crops, ResNetBasicHead with output_pool"),
}


def protocol_for(meta: dict) -> TestProtocol:
    """The test protocol of the checkpoint's source (``provenance.converted_from.source``)."""
    src = ((meta.get("provenance") or {}).get("converted_from") or {}).get("source")
    if src not in PROTOCOLS:
        known = ", ".join(sorted(PROTOCOLS))
        raise ProtocolError(f"--protocol source: this checkpoint's source is {src or 'not recorded'}; a source "
                            f"protocol exists for checkpoints converted from {known} (use --protocol vidlab)")
    return PROTOCOLS[src]


def _pool(x: torch.Tensor, train_crop: int, stride: int, rounding) -> torch.Tensor:
    """Average pool with the training-time kernel: the whole time axis, ``train_crop / stride`` in space."""
    k = max(1, int(rounding(train_crop / stride)))
    kernel = (x.shape[2], min(k, x.shape[3]), min(k, x.shape[4]))
    return F.avg_pool3d(x, kernel, stride=1)


class FullyConvTest(nn.Module):
    """``model`` with PySlowFast's / PyTorchVideo's test-time head (see the module docstring).

    ``head``: ``"softmax"`` returns the log of the mean per-position softmax (so a later softmax gives
    those averaged probabilities back), ``"logits"`` the mean per-position logits. ``train_crop``: the
    crop the head's pool kernel was sized for (the checkpoint's ``crop_size``)."""

    def __init__(self, model: nn.Module, train_crop: int, head: str = "softmax"):
        super().__init__()
        from vidlab.models.layers import ClassificationHead
        from vidlab.models.slowfast import SlowFastHead
        from vidlab.models.x3d import X3DHead

        if head not in ("softmax", "logits"):
            raise ProtocolError(f"fully convolutional head: 'softmax' or 'logits', got {head!r}")
        h = getattr(model, "head", None)
        if not isinstance(h, (ClassificationHead, SlowFastHead, X3DHead)) or not hasattr(model, "forward_maps"):
            arch = getattr(model, "arch", None) or type(model).__name__
            raise ProtocolError(f"{arch}: the fully convolutional test head exists for the ResNet, SlowFast and "
                                f"X3D families (PySlowFast's and PyTorchVideo's CNNs); use --protocol vidlab")
        self.model, self.train_crop, self.head_kind = model, int(train_crop), head
        self.meta = getattr(model, "meta", {})

    def positions(self, x) -> torch.Tensor:
        """Per-position logits ``(B, t, h, w, num_classes)``."""
        from vidlab.models.x3d import X3DHead

        h = self.model.head
        maps = self.model.forward_maps(x)
        if isinstance(h, X3DHead):
            y = h.conv_5_relu(h.conv_5_bn(h.conv_5(maps)))
            y = _pool(y, self.train_crop, 32, math.ceil)
            y = h.lin_5_relu(h.lin_5_bn(h.lin_5(y)))
        else:
            maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
            y = torch.cat([_pool(m, self.train_crop, 32, math.floor) for m in maps], dim=1)
        return h.projection(h.dropout(y.permute(0, 2, 3, 4, 1)))

    def forward(self, x) -> torch.Tensor:
        logits = self.positions(x)
        if self.head_kind == "logits":
            return logits.mean(dim=(1, 2, 3))
        probs = logits.softmax(dim=-1).mean(dim=(1, 2, 3))
        return probs.clamp_min(1e-30).log()
