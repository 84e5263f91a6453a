"""pytorchvideo X3D (``create_x3d``; hub ``x3d_xs/s/m/l``) -> vidlab X3D keys.

pytorchvideo names modules by position (``blocks.2.res_blocks.3.branch2.conv_b``);
vidlab keeps PySlowFast's names (``s3.pathway0_res3.branch2.b``). The mapping:

- ``blocks.0.conv.conv_t`` (the 1x3x3 spatial conv) -> ``s1.pathway0_stem.conv_xy``
- ``blocks.0.conv.conv_xy`` (the 5x1x1 channel-wise conv) -> ``s1.pathway0_stem.conv``
- ``blocks.0.norm`` -> ``s1.pathway0_stem.bn``
- ``blocks.{k}.res_blocks.{i}.branch1_conv`` / ``branch1_norm`` -> ``s{k+1}.pathway0_res{i}.branch1`` / ``branch1_bn``
- ``...branch2.conv_a`` / ``norm_a`` -> ``...branch2.a`` / ``a_bn``
- ``...branch2.conv_b`` / ``norm_b.0`` -> ``...branch2.b`` / ``b_bn``
- ``...branch2.norm_b.1.block.0`` / ``.block.2`` (fvcore SE) -> ``...branch2.se.fc1`` / ``se.fc2``
- ``...branch2.conv_c`` / ``norm_c`` -> ``...branch2.c`` / ``c_bn``
- ``blocks.5.pool.pre_conv`` / ``pre_norm`` -> ``head.conv_5`` / ``conv_5_bn``
- ``blocks.5.pool.post_conv`` / ``post_norm`` -> ``head.lin_5`` / ``lin_5_bn``
- ``blocks.5.proj`` (an ``nn.Linear``) -> ``head.projection`` (the same shape)

(pytorchvideo's stem passes the spatial conv as ``conv_t`` and the temporal one
as ``conv_xy`` to ``Conv2plus1d``, which runs ``conv_t`` first; the names are
swapped, the order of operations is PySlowFast's.)

Layout differences, all handled here:

- **The res2 shortcut norm.** pytorchvideo gives a projection shortcut a norm
  only when the channel count changes, PySlowFast whenever the shortcut
  projects. In X3D the first res2 block keeps 24 channels but strides, so
  pytorchvideo has ``blocks.1.res_blocks.0.branch1_conv`` and no
  ``branch1_norm``. The mapper fills ``s2.pathway0_res0.branch1_bn`` with an
  identity BatchNorm (weight 1, bias 0, mean 0, variance ``1 - eps``), so the
  eval-mode function is unchanged (these are the only entries the mapper
  creates, and only where the source has a shortcut conv without a norm).
  Fine-tuning in train mode makes that norm a real (batch-statistics) BN.
- **The head pool.** pytorchvideo pools with a fixed ``AvgPool3d((T, ceil(S/32),
  ceil(S/32)), stride=1)`` built for its crop; vidlab pools adaptively. Same
  logits at that crop (the window covers the whole map), weights unaffected.
- **The head activation.** The hub models apply a softmax in the head in both
  train and eval mode; vidlab returns logits.
- BatchNorm eps/momentum are 1e-5/0.1 on both sides (pytorchvideo's shortcut
  norms are built with the defaults, which are the same values).
"""

from __future__ import annotations

import re

import torch

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error

SOURCE = "pytorchvideo"
BN_EPS = 1e-5

_STEM = {"conv.conv_t": "conv_xy", "conv.conv_xy": "conv", "norm": "bn"}
_BLOCK = {
    "branch1_conv": "branch1",
    "branch1_norm": "branch1_bn",
    "branch2.conv_a": "branch2.a",
    "branch2.norm_a": "branch2.a_bn",
    "branch2.conv_b": "branch2.b",
    "branch2.norm_b.0": "branch2.b_bn",
    "branch2.norm_b.1.block.0": "branch2.se.fc1",
    "branch2.norm_b.1.block.2": "branch2.se.fc2",
    "branch2.conv_c": "branch2.c",
    "branch2.norm_c": "branch2.c_bn",
}
_HEAD = {"pool.pre_conv": "conv_5", "pool.pre_norm": "conv_5_bn", "pool.post_conv": "lin_5",
         "pool.post_norm": "lin_5_bn", "proj": "projection"}

_STEM_RE = re.compile(r"blocks\.0\.(.+)\.(\w+)$")
_BLOCK_RE = re.compile(r"blocks\.([1-4])\.res_blocks\.(\d+)\.(.+)\.(\w+)$")
_HEAD_RE = re.compile(r"blocks\.5\.(.+)\.(\w+)$")


def _map_key(key: str) -> str | None:
    if m := _STEM_RE.match(key):
        module, leaf = m.groups()
        return f"s1.pathway0_stem.{_STEM[module]}.{leaf}" if module in _STEM else None
    if m := _BLOCK_RE.match(key):
        stage, block, module, leaf = m.groups()
        if module not in _BLOCK:
            return None
        return f"s{int(stage) + 1}.pathway0_res{block}.{_BLOCK[module]}.{leaf}"
    if m := _HEAD_RE.match(key):
        module, leaf = m.groups()
        return f"head.{_HEAD[module]}.{leaf}" if module in _HEAD else None
    return None


def identity_batchnorm(prefix: str, channels: int, eps: float = BN_EPS) -> StateDict:
    """BatchNorm entries that compute the identity in eval mode."""
    return {
        f"{prefix}.weight": torch.ones(channels),
        f"{prefix}.bias": torch.zeros(channels),
        f"{prefix}.running_mean": torch.zeros(channels),
        f"{prefix}.running_var": torch.full((channels,), 1.0 - eps),
        f"{prefix}.num_batches_tracked": torch.zeros((), dtype=torch.long),
    }


def _expected_keys(arch: str) -> set[str]:
    from vidlab import models

    with torch.device("meta"):
        return set(models.build(arch).state_dict())


@register(SOURCE, "x3d_xs", "x3d_s", "x3d_m", "x3d_l")
def from_ptv_x3d(state: StateDict, arch: str) -> StateDict:
    """Map a pytorchvideo X3D state dict onto vidlab's ``arch`` (see the module docstring)."""
    out: StateDict = {}
    unmapped: list[str] = []
    for key, tensor in state.items():
        new = _map_key(key)
        if new is None:
            unmapped.append(key)
        else:
            out[new] = tensor
    if unmapped:
        raise unmapped_error(SOURCE, arch, unmapped)

    expected = _expected_keys(arch)
    # Projection shortcuts without a norm (pytorchvideo's res2 block 0): add an identity norm.
    for key in [k for k in out if k.endswith(".branch1.weight")]:
        bn = key[: -len(".branch1.weight")] + ".branch1_bn"
        if f"{bn}.weight" not in out and f"{bn}.weight" in expected:
            out.update(identity_batchnorm(bn, out[key].shape[0]))

    extra = sorted(k for k in out if k not in expected)
    if extra:
        inverse = {v: k for k, v in ((k, _map_key(k)) for k in state)}
        raise unmapped_error(SOURCE, arch, [inverse.get(k, k) for k in extra])
    missing = sorted(expected - set(out))
    if missing:
        shown = ", ".join(missing[:5]) + (f", ... +{len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConversionError(f"{SOURCE} -> {arch}: the checkpoint lacks {len(missing)} of the model's entries "
                              f"(another X3D size?): [{shown}]")
    return out
