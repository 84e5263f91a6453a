"""torchvision -> vidlab: identity mappers for the video ResNets and S3D.

vidlab builds these architectures from torchvision's own modules
(:mod:`vidlab.models.video_resnet`, :mod:`vidlab.models.s3d`), so the keys are
the same and nothing is renamed. The mapper only checks that the state dict
looks like the requested torchvision architecture, so a wrong file fails with
a sentence instead of a list of missing keys. The same holds for the IG-65M
R(2+1)D-34 weights of ``moabitcoin/ig65m-pytorch`` (torchvision layout).
"""

from __future__ import annotations

import re

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error

_RESNETS = ("r3d_18", "r3d_34", "mc3_18", "r2plus1d_18", "r2plus1d_34")
_RESNET_KEY = re.compile(r"(stem\.\d+|layer[1-4]\.\d+\.(conv[12]|downsample)(\.\d+)*|fc)\.[a-z_]+")
_S3D_KEY = re.compile(r"(features|classifier)(\.\d+|\.branch[0-3])*\.[a-z_]+")


def describe_state(state: StateDict) -> str:
    """What a state dict looks like, for a refusal's sentence (which source it seems to come from)."""
    keys = list(state)
    if not keys:
        return "it is empty"
    if any(k.startswith("module.") for k in keys):
        return "its keys start with 'module.' (strip the DataParallel prefix first)"
    if any(k.startswith("blocks.") for k in keys):
        return "it looks like a pytorchvideo state dict (use --from pytorchvideo)"
    if any(k.startswith(("s1.", "s2.")) for k in keys):
        return "it looks like a PySlowFast state dict (use --from pyslowfast)"
    if any(k.startswith(("backbone.", "cls_head.")) for k in keys):
        return "it looks like an MMAction2 state dict (use --from mmaction2)"
    return f"its first keys are {', '.join(keys[:3])}"


def _check(state: StateDict, arch: str, anchors: tuple[str, ...], pattern: re.Pattern) -> None:
    def present(anchor: str) -> bool:  # "prefix*" or an exact key
        return any(k.startswith(anchor[:-1]) for k in state) if anchor.endswith("*") else anchor in state

    if not all(present(a) for a in anchors):
        raise ConversionError(f"torchvision -> {arch}: not a torchvision {arch} state dict "
                              f"(expected keys like {', '.join(anchors)}; {describe_state(state)})")
    stray = [k for k in state if not pattern.fullmatch(k)]
    if stray:
        raise unmapped_error("torchvision", arch, stray)


@register("torchvision", *_RESNETS)
def from_torchvision_video_resnet(state: StateDict, arch: str) -> StateDict:
    """Identity mapping for torchvision ``VideoResNet`` state dicts (after a key check)."""
    _check(state, arch, ("stem.0.weight", "layer1.0.conv1.0.*", "fc.weight"), _RESNET_KEY)
    factorised = "stem.3.weight" in state  # R2Plus1dStem: 1x7x7 conv, BN, ReLU, 3x1x1 conv
    if arch.startswith("r2plus1d") and not factorised:
        raise ConversionError(f"torchvision -> {arch}: the stem has one conv; this is an R3D/MC3 checkpoint "
                              "(use --arch r3d_18 / mc3_18)")
    if not arch.startswith("r2plus1d") and factorised:
        raise ConversionError(f"torchvision -> {arch}: the stem is factorised (2+1)D; this is an R(2+1)D "
                              "checkpoint (use --arch r2plus1d_18 / r2plus1d_34)")
    return dict(state)


@register("torchvision", "s3d")
def from_torchvision_s3d(state: StateDict, arch: str) -> StateDict:
    """Identity mapping for torchvision ``S3D`` state dicts (after a key check)."""
    _check(state, arch, ("features.0.0.0.weight", "classifier.1.weight"), _S3D_KEY)
    return dict(state)
