"""Inflating a 2D ImageNet ResNet-50 (torchvision state dict) into C2D/I3D/Slow.

Each 2D kernel ``(out, in, kh, kw)`` becomes a 3D kernel ``(out, in, kt, kh, kw)``
of the target architecture. Two rules:

* ``"average"`` (Carreira & Zisserman 2017, I3D): the 2D kernel repeated
  ``kt`` times and divided by ``kt``. On a "boring video" (one frame
  repeated) every output frame away from the clip's temporal borders equals
  the 2D response; at the borders PySlowFast's zero temporal padding lets in
  fewer taps, so whole-clip outputs differ slightly from the 2D network.
* ``"center"``: the 2D kernel at the temporal centre, zeros elsewhere. Every
  output frame equals the 2D response on its own frame whatever the padding,
  so a boring video gives exactly the 2D network's logits.

BN statistics and affine parameters carry over; the classifier (``fc``)
becomes ``head.projection`` when the class count matches (1000), otherwise
it is left freshly initialised and reported.
"""

from __future__ import annotations

import torch

from vidlab import models
from vidlab.convert.registry import ConversionError

INFLATE_MODES = ("average", "center")

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet_to_pyslowfast(name: str) -> str | None:
    """PySlowFast name of a torchvision ResNet key (None for ``fc``)."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return "s1.pathway0_stem.conv." + parts[1]
    if parts[0] == "bn1":
        return "s1.pathway0_stem.bn." + parts[1]
    if parts[0].startswith("layer"):
        stage = int(parts[0][5:]) + 1
        block = int(parts[1])
        prefix = f"s{stage}.pathway0_res{block}."
        mod, rest = parts[2], ".".join(parts[3:])
        if mod == "downsample":
            sub, leaf = rest.split(".", 1)
            return prefix + ("branch1." if sub == "0" else "branch1_bn.") + leaf
        table = {"conv1": "branch2.a.", "bn1": "branch2.a_bn.", "conv2": "branch2.b.", "bn2": "branch2.b_bn.",
                 "conv3": "branch2.c.", "bn3": "branch2.c_bn."}
        if mod in table:
            return prefix + table[mod] + rest
    if parts[0] == "fc":
        return None
    raise ConversionError(f"{name}: not a torchvision ResNet key")


def inflate_kernel(w2d: torch.Tensor, kt: int, mode: str) -> torch.Tensor:
    if mode == "average":
        return w2d.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
    if mode == "center":
        w = torch.zeros(*w2d.shape[:2], kt, *w2d.shape[2:], dtype=w2d.dtype)
        w[:, :, kt // 2] = w2d
        return w
    raise ConversionError(f"inflation mode must be 'average' or 'center', got {mode!r}")


def inflate_resnet(state2d: dict[str, torch.Tensor], arch: str, *, mode: str = "average",
                   num_classes: int | None = None) -> tuple[torch.nn.Module, dict]:
    """A ``arch`` model (``c2d_r50``, ``i3d_r50``, ``slow_r50_*``...) with the 2D weights inflated."""
    if mode not in INFLATE_MODES:
        raise ConversionError(f"unknown inflation mode {mode!r}; choose {' or '.join(INFLATE_MODES)}")
    spec = models.get_spec(arch)
    fc = state2d.get("fc.weight")
    n = num_classes or (int(fc.shape[0]) if fc is not None else spec.num_classes)
    model = models.build(spec.name, num_classes=n)
    target = model.state_dict()
    out, unused = {}, []
    for key, value in state2d.items():
        new = torchvision_resnet_to_pyslowfast(key)
        if new is None:
            if fc is not None and fc.shape[0] == n:
                out["head.projection." + key.split(".", 1)[1]] = value
            else:
                unused.append(key)
            continue
        if new not in target:
            raise ConversionError(f"{key} -> {new}: no such parameter in {spec.name}")
        want = target[new].shape
        if value.ndim == 4 and len(want) == 5:
            if tuple(want[:2]) + tuple(want[3:]) != tuple(value.shape):
                raise ConversionError(f"{key}: {tuple(value.shape)} cannot inflate to {tuple(want)}")
            value = inflate_kernel(value, want[2], mode)
        elif value.shape != want:
            raise ConversionError(f"{key}: shape {tuple(value.shape)} vs {new} {tuple(want)}")
        out[new] = value
    missing = [k for k in target if k not in out and not k.startswith("head.")]
    if missing:
        raise ConversionError(f"2D state dict lacks {len(missing)} keys, e.g. {missing[:3]}")
    for k in target:
        out.setdefault(k, target[k])  # a fresh head when the class count differs
    model.load_state_dict(out, strict=True)
    info = {"inflated_from": "torchvision resnet", "mode": mode, "num_classes": n,
            "head": "from fc" if not unused else "freshly initialised", "unused": unused}
    return model.eval(), info
