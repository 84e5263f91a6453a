"""pytorchvideo -> vidlab key mappers for CSN-R101 and R(2+1)D-50.

pytorchvideo's ``create_csn`` / ``create_r2plus1d`` networks name parameters by
position (``blocks.{stage}.res_blocks.{block}.branch2.conv_a``); vidlab's
:class:`~vidlab.models.csn.BottleneckResNet` names them by role
(``res{stage + 1}.block{block}.conv_a``; table in :mod:`vidlab.models.csn`).
Tensors are passed through unchanged: the layouts are identical.

Every source key is either mapped or reported (:func:`unmapped_error`); a key
that matches the pattern but points past the architecture's depth is reported
by the strict load that follows.
"""

from __future__ import annotations

import re

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"

# (pattern, replacement) applied with re.fullmatch; {head} is the head's block index.
_COMMON = [
    (r"blocks\.0\.conv\.weight", r"stem.conv.weight"),
    (rf"blocks\.0\.norm\.{_BN}", r"stem.bn.\1"),
    (r"blocks\.([1-4])\.res_blocks\.(\d+)\.branch1_conv\.weight", r"res{s}.block\2.proj.weight"),
    (rf"blocks\.([1-4])\.res_blocks\.(\d+)\.branch1_norm\.{_BN}", r"res{s}.block\2.proj_bn.\3"),
    (r"blocks\.([1-4])\.res_blocks\.(\d+)\.branch2\.conv_([ac])\.weight", r"res{s}.block\2.conv_\3.weight"),
    (rf"blocks\.([1-4])\.res_blocks\.(\d+)\.branch2\.norm_([abc])\.{_BN}", r"res{s}.block\2.bn_\3.\4"),
    (r"blocks\.5\.proj\.(weight|bias)", r"head.projection.\1"),
]
_DEPTHWISE = [
    (r"blocks\.([1-4])\.res_blocks\.(\d+)\.branch2\.conv_b\.weight", r"res{s}.block\2.conv_b.weight"),
]
_TWO_PLUS_ONE = [
    (r"blocks\.([1-4])\.res_blocks\.(\d+)\.branch2\.conv_b\.conv_t\.weight", r"res{s}.block\2.conv_b.temporal.weight"),
    (rf"blocks\.([1-4])\.res_blocks\.(\d+)\.branch2\.conv_b\.norm\.{_BN}", r"res{s}.block\2.conv_b.bn.\3"),
    (r"blocks\.([1-4])\.res_blocks\.(\d+)\.branch2\.conv_b\.conv_xy\.weight", r"res{s}.block\2.conv_b.spatial.weight"),
]
_RULES = {
    "csn_r101": [(re.compile(p), r) for p, r in _COMMON + _DEPTHWISE],
    "r2plus1d_r50": [(re.compile(p), r) for p, r in _COMMON + _TWO_PLUS_ONE],
}


def map_key(key: str, arch: str) -> str | None:
    """The vidlab key for a pytorchvideo key of ``arch``, or None."""
    for pattern, repl in _RULES[arch]:
        m = pattern.fullmatch(key)
        if m:
            if "{s}" in repl:
                repl = repl.replace("{s}", str(int(m.group(1)) + 1))
            return m.expand(repl)
    return None


@register("pytorchvideo", "csn_r101", "r2plus1d_r50")
def from_pytorchvideo(state: StateDict, arch: str) -> StateDict:
    """Rename a pytorchvideo ``csn_r101`` / ``r2plus1d_r50`` state dict to vidlab's keys."""
    if arch not in _RULES:
        raise ConversionError(f"pytorchvideo -> {arch}: this mapper handles {', '.join(sorted(_RULES))}")
    out: StateDict = {}
    unmapped: list[str] = []
    for key, value in state.items():
        new = map_key(key, arch)
        if new is None:
            unmapped.append(key)
        elif new in out:
            raise ConversionError(f"pytorchvideo -> {arch}: two source keys map to {new}")
        else:
            out[new] = value
    if unmapped:
        err = unmapped_error("pytorchvideo", arch, unmapped)
        if any(k.startswith("module.") for k in unmapped):
            err = ConversionError(f"{err} (keys start with 'module.': strip the DataParallel prefix first)")
        elif any(k.startswith("model_state") for k in unmapped) or not any(k.startswith("blocks.") for k in state):
            err = ConversionError(f"{err} (not a pytorchvideo state dict: expected keys like 'blocks.0.conv.weight')")
        raise err
    return out
