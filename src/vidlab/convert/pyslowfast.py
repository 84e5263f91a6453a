"""PySlowFast checkpoints: ``.pyth`` state dicts and Caffe2 ``.pkl`` blobs.

vidlab's PySlowFast-family models (C2D, I3D, I3D-NL, Slow, SlowFast, X3D) use
PySlowFast's own parameter names, so a ``.pyth`` state dict needs no mapping.
Caffe2 blob names (``res4_3_branch2b_bn_s``, ``t_pool1_subsample_w``,
``nonlocal_conv3_1_theta_w``, ``pred_w``...) are renamed by PySlowFast's
published naming scheme (``slowfast/utils/c2_model_loading.py``): stages
``resN`` -> ``sN``, the fast pathway's ``t_`` prefix -> ``pathway1``, lateral
``*_subsample`` -> ``sN_fuse.conv_f2s``, ``_bn_s/_bn_b/_bn_rm/_bn_riv`` ->
BN ``weight/bias/running_mean/running_var``, ``_w/_b`` -> ``weight/bias``,
``pred_`` -> ``head.projection``.
"""

from __future__ import annotations

import re

from vidlab.convert.registry import StateDict, register

# (pattern, replacement), applied in order to every Caffe2 blob name.
_C2_RULES = [
    (r"^nonlocal_conv(\d+)_(\d+)_(.*)", r"s\1.pathway0_nonlocal\2_\3"),
    (r"^(.*)_nonlocal(\d+)_(theta|phi|g|out)(.*)", r"\1_nonlocal\2.conv_\3\4"),
    (r"^(.*)_nonlocal(\d+)_(bn)_(.*)", r"\1_nonlocal\2.\3.\4"),
    (r"^t_pool1_subsample_bn_(.*)", r"s1_fuse.bn.\1"),
    (r"^t_pool1_subsample_(.*)", r"s1_fuse.conv_f2s.\1"),
    (r"^t_res(\d+)_(\d+)_branch2c_bn_subsample_bn_(.*)", r"s\1_fuse.bn.\3"),
    (r"^t_res(\d+)_(\d+)_branch2c_bn_subsample_(.*)", r"s\1_fuse.conv_f2s.\3"),
    (r"^res(\d+)_(\d+)_branch(\d+)([a-z])_(.*)", r"s\1.pathway0_res\2.branch\3.\4_\5"),
    (r"^res_conv1_bn_(.*)", r"s1.pathway0_stem.bn.\1"),
    (r"^conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^res(\d+)_(\d+)_branch(\d+)_(.*)", r"s\1.pathway0_res\2.branch\3_\4"),
    (r"^res_conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^t_res(\d+)_(\d+)_branch(\d+)([a-z])_(.*)", r"s\1.pathway1_res\2.branch\3.\4_\5"),
    (r"^t_res_conv1_bn_(.*)", r"s1.pathway1_stem.bn.\1"),
    (r"^t_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"^t_res(\d+)_(\d+)_branch(\d+)_(.*)", r"s\1.pathway1_res\2.branch\3_\4"),
    (r"^t_res_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"pred_(.*)", r"head.projection.\1"),
    (r"(.*)bn.b\Z", r"\1bn.bias"),
    (r"(.*)bn.s\Z", r"\1bn.weight"),
    (r"(.*)bn.rm\Z", r"\1bn.running_mean"),
    (r"(.*)bn.riv\Z", r"\1bn.running_var"),
    (r"(.*)[._]b\Z", r"\1.bias"),
    (r"(.*)[._]w\Z", r"\1.weight"),
]
_C2_COMPILED = [(re.compile(p), r) for p, r in _C2_RULES]


def caffe2_name(name: str) -> str:
    """PySlowFast's name for a Caffe2 blob."""
    for pattern, repl in _C2_COMPILED:
        name = pattern.sub(repl, name)
    return name


def looks_like_caffe2(state: StateDict) -> bool:
    return bool(state) and not any("." in k for k in state)


def from_pyslowfast(state: StateDict, arch: str) -> StateDict:
    """Identity for ``.pyth`` state dicts; Caffe2 blob names are renamed first.

    Caffe2 stores the classifier as ``pred_w`` ``(classes, dim)`` like a Linear,
    and BN running variance as ``_riv``: tensor values are kept as they are.
    """
    if not looks_like_caffe2(state):
        return dict(state)
    out = {}
    for k, v in state.items():
        new = caffe2_name(k)
        if new in out:
            from vidlab.convert.registry import ConversionError

            raise ConversionError(f"Caffe2 blobs map to the same name {new!r}")
        out[new] = v
    return out


# MViT keeps PySlowFast's own parameter names (``patch_embed.proj``, ``blocks.{i}.attn.qkv``...),
# but has no ``s1.pathway0_stem`` by which the ResNet layouts are recognised: name it.
register("pyslowfast", "mvitv2_s_16x4", "mvitv2_b_32x3")(from_pyslowfast)
