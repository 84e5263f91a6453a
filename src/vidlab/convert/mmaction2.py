"""MMAction2 recognizer checkpoints -> vidlab.

An MMAction2 ``.pth`` is ``{"meta": {...}, "state_dict": {"backbone.*",
"cls_head.*"}}`` (:mod:`vidlab.convert.sources` unwraps ``state_dict``). Each
converter below maps one MMAction2 backbone + head onto the vidlab network
that computes the same function; that was checked against MMAction2 1.2.0's
own code (``tests/mmaction_ref.py``: same random weights, same clip, logits
equal within 1e-5). Every source key is mapped or named in a
``ConversionError``; tensor values are copied unchanged except where noted.

What converts
-------------

``ResNet3dSlowOnly`` R50 + ``I3DHead`` -> ``slow_r50_8x8``, ``slow_r50_4x16``
(MMAction2's slowonly_r50 4x16 and 8x8 configs are one network)::

    backbone.conv1.conv / .bn                    s1.pathway0_stem.conv / .bn
    backbone.layer{i}.{j}.conv{1,2,3}.conv       s{i+1}.pathway0_res{j}.branch2.{a,b,c}
    backbone.layer{i}.{j}.conv{1,2,3}.bn         s{i+1}.pathway0_res{j}.branch2.{a,b,c}_bn
    backbone.layer{i}.{j}.downsample.conv / .bn  s{i+1}.pathway0_res{j}.branch1 / branch1_bn
    cls_head.fc_cls                              head.projection

Same layers as PySlowFast's Slow: 1x7x7 stem (padding 0,3,3) + 1x3x3 max-pool
(stride 1,2,2, padding 0,1,1), no temporal pooling (``with_pool2=False``),
'pytorch' style (stride on the 3x3 conv), temporal kernel 3 on conv1 of every
res4/res5 block (``inflate=(0, 0, 1, 1)``, ``inflate_style='3x1x1'``), BN eps
1e-5, head = global average -> dropout -> linear.

``ResNet3d`` R50 (I3D, ``configs/_base_/models/i3d_r50.py``) + ``I3DHead`` ->
``i3d_r50_mmaction2``, by the same key mapping (``ResNet3dSlowOnly`` is a
``ResNet3dPathway``, itself a ``ResNet3d``: same module names). The network is
PySlowFast's I3D (vidlab ``i3d_r50``: 5x7x7 stem, temporal kernel 3 on conv1 of
the blocks ``inflate=((1,1,1), (1,0,1,0), (1,0,1,0,1,0), (0,1,0))`` marks, the
2x1x1 max-pool after res2, ``with_pool2=True``) except for time in the stem:
the conv has stride 2x2x2 (``conv1_stride_t=2``; padding stays ``(k - 1) // 2``
= 2,3,3) and the max-pool stride 2x2x2 (``pool1_stride_t=2``; padding 0,1,1),
so a 32-frame clip reaches res5 with 4 frames (``i3d_r50``: 16).
``i3d_r50_mmaction2`` is that network (``stem_temporal_stride=2,
stem_pool_temporal_stride=2``); its spec is MMAction2's Kinetics config
``i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e`` (32 frames, interval 2) with
ImageNet mean/std. The keys and shapes are ``i3d_r50``'s, which therefore has
no MMAction2 converter (it would load and compute another function).

``ResNet3dSlowFast`` R50 + ``SlowFastHead`` with BN + ReLU in the laterals
(``lateral_norm=True``, e.g. the zoo's ``slowfast_r50_8xb8-8x8x1-steplr-256e``)
-> ``slowfast_r50_8x8``, ``slowfast_r50_4x16`` (R101 -> ``slowfast_r101_8x8``
by the same rule; keys checked, no golden, and MMAction2's R101 config uses
fusion kernel 7 where ``slowfast_r101_8x8`` has PySlowFast's 5, which the
strict load reports); with bare laterals (``lateral_norm=False``, MMAction2's
default: its zoo ``slowfast_r50_8xb8-4x16x1-256e`` and ``-8x8x1-256e``) ->
``slowfast_r50_4x16_mmaction2``, ``slowfast_r50_8x8_mmaction2``
(:data:`BARE_LATERAL_ARCHS`)::

    backbone.slow_path.* / backbone.fast_path.*  as above with pathway0 / pathway1
    backbone.slow_path.conv1_lateral.conv / .bn  s1_fuse.conv_f2s / s1_fuse.bn   (bare: no .bn)
    backbone.slow_path.layer{i}_lateral.*        s{i+1}_fuse.*          (i = 1, 2, 3)
    cls_head.fc_cls.weight [:, fast | slow]      head.projection.weight [:, slow | fast]

With ``lateral_norm=True`` the lateral is PySlowFast's FuseFastToSlow exactly:
``fusion_kernel x 1 x 1`` conv, temporal stride alpha, padding ``(k - 1) // 2``,
no bias, BN, ReLU, applied after the stem (max-pool included) and after
res2-res4, concatenated *after* the Slow channels. With ``lateral_norm=False``
MMAction2 builds the same mmcv ``ConvModule`` with ``norm_cfg=None,
act_cfg=None`` (and ``bias=False``): the bare conv, vidlab's SlowFast built
with ``lateral_norm=False`` (no ``s{k}_fuse.bn`` keys). Fusion kernel: 5 by
default (4x16), 7 in the 8x8 config; alpha = ``speed_ratio`` (8 / 4),
``channel_ratio`` 8 = ``beta_inv``. A bare-lateral checkpoint aimed at
``slowfast_r50_*`` (BN laterals) is refused naming the ``_mmaction2`` arch,
and a ``lateral_norm=True`` one aimed at an ``_mmaction2`` arch naming the
plain one. ``SlowFastHead`` concatenates the pooled features
Fast first, so the classifier's input columns are reordered (the only tensor
that changes). MMAction2's fast pathway also holds an unused ``pool2`` (no
parameters). Input: MMAction2 takes one clip and picks Slow frames by nearest
interpolation, ``x[:, :, ::alpha]``; vidlab's one-tensor rule is PySlowFast's
``linspace`` (frames 0, 4, 8, 13, ... of 32). To reproduce MMAction2 exactly,
call the vidlab model with ``[x[:, :, ::alpha], x]``.

``X3D`` + ``X3DHead`` -> ``x3d_xs``, ``x3d_s``, ``x3d_m`` (``gamma_d=2.2``) and
``x3d_l`` (``gamma_d=5.0``)::

    backbone.conv1_s.conv                        s1.pathway0_stem.conv_xy
    backbone.conv1_t.conv / .bn                  s1.pathway0_stem.conv / .bn
    backbone.layer{i}.{j}.conv{1,2,3}.*          s{i+1}.pathway0_res{j}.branch2.{a,b,c}[_bn]
    backbone.layer{i}.{j}.se_module.fc{1,2}      s{i+1}.pathway0_res{j}.branch2.se.fc{1,2}
    backbone.layer{i}.{j}.downsample.*           s{i+1}.pathway0_res{j}.branch1[_bn]
    backbone.conv5.conv / .bn                    head.conv_5 / head.conv_5_bn
    cls_head.fc1.weight (2048, 432)              head.lin_5.weight (2048, 432, 1, 1, 1)
    cls_head.fc2                                 head.projection

MMAction2's X3D (the zoo's x3d_s/x3d_m are converted from PySlowFast) is
PySlowFast's: same widths (24 * 2**i, inner x2.25), depths, depthwise 3x3x3,
SE on even blocks, Swish placement, BN eps 1e-5; its backbone ends with
PySlowFast's head ``conv_5`` and its head's ``fc1`` (no bias) is PySlowFast's
1x1x1 ``lin_5`` applied after the global average (both linear, so the same).
A head built with ``fc1_bias=True`` has a bias vidlab's ``lin_5`` lacks: refused.

``C3D`` + ``I3DHead(spatial_type=None)`` -> ``c3d``::

    backbone.conv1a.conv                         conv1 (input channels reversed, see below)
    backbone.conv2a.conv                         conv2
    backbone.conv{3,4,5}{a,b}.conv               conv{3,4,5}{a,b}
    backbone.fc6 / backbone.fc7                  fc6 / fc7
    cls_head.fc_cls                              fc8

Same layers (bias + ReLU convs, pools, pool5 padding 0,1,1, fc6 -> ReLU ->
dropout -> fc7 -> ReLU -> dropout -> classifier). MMAction2 feeds its C3D RGB
frames (decord); vidlab's ``c3d`` flips RGB to BGR in front of ``conv1`` for
the Sports-1M Caffe weights, so conv1's input-channel axis is reversed here
and the vidlab model, given the same RGB clip, computes MMAction2's logits.

What does not convert (different networks, not just different names)
---------------------------------------------------------------------

See :data:`NOT_CONVERTED`: MMAction2's I3D onto vidlab's ``i3d_r50`` (use
``i3d_r50_mmaction2``), C2D (stem max-pool without padding), non-local blocks
(pooling after the projections, unscaled embedded Gaussian), R(2+1)D (its stem
and BN eps), CSN (BN eps 1e-3, depths 50/152 only). Keys and shapes alone
cannot tell MMAction2's I3D from PySlowFast's (they are identical), so
``i3d_r50`` has no MMAction2 converter rather than one that loads and computes
something else (with ``conv1_stride_t=1, pool1_stride_t=1`` MMAction2's I3D
gives vidlab's ``i3d_r50`` logits bit for bit). SlowFast with bare laterals at
R101 (its zoo R101 8x8) has no vidlab architecture and is refused. MMAction2's
ir-CSN R50 equals vidlab's ``BottleneckResNet`` (depthwise, R50 blocks) built
with BN eps 1e-3, so it would convert if vidlab registered such an
architecture.

Preprocessing is not in the weights. MMAction2 normalises its ResNet-family
models (SlowOnly, SlowFast, I3D, C2D, R(2+1)D, CSN) with ImageNet statistics
(mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375 on 0-255 RGB; i.e.
0.485/0.456/0.406 and 0.229/0.224/0.225 on [0, 1]), X3D with 114.75 / 57.38
(= 0.45 / 0.225, vidlab's Kinetics default) and C3D with mean 104, 117, 128
(subtracted from R, G, B in that order) and std 1: :data:`PREPROCESSING`.
The converted checkpoint's sidecar carries the vidlab architecture's own
preprocessing: the ``_mmaction2`` architectures' specs hold ImageNet's
constants already; for the other ResNet-family architectures (PySlowFast
specs: 0.45 / 0.225) and C3D normalise with these values.
``data_preprocessor.mean`` / ``.std`` entries, which some older checkpoints
carry (MMAction2's ``publish_model.py`` deletes them), are those constants,
not weights: they are checked and left out.
"""

from __future__ import annotations

import re

import torch

from vidlab.convert.registry import (
    ConversionError,
    StateDict,
    not_convertible,
    register,
    unmapped_error,
)

SOURCE = "mmaction2"

_PARAM = r"(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)"
_NON_WEIGHTS = ("data_preprocessor.mean", "data_preprocessor.std")

# MMAction2 data_preprocessor constants per converted architecture, on [0, 1] RGB input.
_IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
PREPROCESSING: dict[str, dict] = {
    "slow_r50_8x8": _IMAGENET, "slow_r50_4x16": _IMAGENET, "i3d_r50_mmaction2": _IMAGENET,
    "slowfast_r50_8x8": _IMAGENET, "slowfast_r50_4x16": _IMAGENET, "slowfast_r101_8x8": _IMAGENET,
    "slowfast_r50_8x8_mmaction2": _IMAGENET, "slowfast_r50_4x16_mmaction2": _IMAGENET,
    **{a: {"mean": (0.45, 0.45, 0.45), "std": (0.225, 0.225, 0.225)} for a in ("x3d_xs", "x3d_s", "x3d_m", "x3d_l")},
    "c3d": {"mean": (104 / 255, 117 / 255, 128 / 255), "std": (1 / 255, 1 / 255, 1 / 255)},
    # the transformers' MMAction2 configs normalise with ImageNet's constants too (in 0..255)
    **{a: _IMAGENET for a in ("videomae_vit_s_16x4", "videomae_vit_b_16x4", "videomae_vit_l_16x4",
                              "swin3d_t", "swin3d_s", "swin3d_b")},
}

NONLOCAL = ("MMAction2's non-local blocks (mmcv NonLocal3d) max-pool phi and g after their 1x1x1 convs "
            "(PySlowFast/vidlab pool before), its embedded-Gaussian configs use use_scale=False (no 1/sqrt(C') "
            "before the softmax), and conv_out has no bias")

# vidlab architectures with an MMAction2 counterpart that is a different network.
NOT_CONVERTED: dict[str, str] = {
    "i3d_r50": "MMAction2's I3D R50 (configs/_base_/models/i3d_r50.py) strides time in its stem: the 5x7x7 conv "
               "has temporal stride 2 (conv1_stride_t=2) and the 1x3x3 max-pool temporal stride 2 "
               "(pool1_stride_t=2), before the 2x1x1 pool after res2; PySlowFast's I3D (vidlab i3d_r50) has "
               "stride 1 in both, so the res5 map has 4x more frames. Same keys and shapes, different function: "
               "convert it with --arch i3d_r50_mmaction2 (vidlab's I3D with those strides)",
    "c2d_r50": "MMAction2's C2D (backbones/c2d.py) is a 2D ResNet whose stem max-pool has padding 0 "
               "(PySlowFast: 0,1,1), so every later feature map is on a different grid (55 vs 56 px at "
               "224); its weights are also 2D (conv1 64x3x7x7)",
    "i3d_nl_r50": f"besides the I3D stem strides, {NONLOCAL}",
    "r2plus1d_34": "MMAction2's R(2+1)D-34 (ResNet2Plus1d) has a (2+1)D stem with 83 middle channels (torchvision "
                   "/ VMZ: 45) followed by a 1x3x3 max-pool (torchvision's R(2+1)D stem has none), and its inner "
                   "(2+1)D BN uses eps 1e-5 while the others use 1e-3",
    "csn_r101": "MMAction2's CSN (ResNet3dCSN) uses BN eps 1e-3 (pytorchvideo/vidlab: 1e-5) and its zoo has only "
                "depths 50 and 152 (ir-CSN, ip-CSN), none 101",
}


# SlowFast architectures with PySlowFast's laterals (conv + BN + ReLU) -> the same network with MMAction2's default
# bare laterals (lateral_norm=False: conv only).
BARE_LATERAL_ARCHS: dict[str, str] = {
    "slowfast_r50_4x16": "slowfast_r50_4x16_mmaction2",
    "slowfast_r50_8x8": "slowfast_r50_8x8_mmaction2",
}

# Refusal reason for a bare-lateral checkpoint aimed at a SlowFast with BN + ReLU laterals.
BARE_LATERALS = ("MMAction2's default SlowFast (lateral_norm=False: its zoo slowfast 4x16, 8x8 and R101 models) has "
                 "bare lateral convs without the BN and ReLU of PySlowFast's FuseFastToSlow, which this "
                 "architecture applies")


def _bn_or_conv(kind: str, param: str) -> str:
    """mmcv ConvModule child (``conv``/``bn``) + param -> suffix for a vidlab conv/BN pair."""
    return f".{param}" if kind == "conv" else f"_bn.{param}"


def _drop_non_weights(state: StateDict, arch: str) -> StateDict:
    out = {}
    for k, v in state.items():
        if k in _NON_WEIGHTS:
            if v.numel() not in (1, 3):
                raise ConversionError(f"{SOURCE} -> {arch}: {k} has shape {tuple(v.shape)}, not 1 or 3 channel values")
            continue
        out[k] = v
    return out


def _check_no_duplicates(out: StateDict, new: str, arch: str) -> None:
    if new in out:
        raise ConversionError(f"{SOURCE} -> {arch}: two source keys map to {new}")


# ----------------------------------------------------------------------------
# ResNet3d family: SlowOnly and SlowFast.

_RE_STEM = re.compile(r"conv1\.(?P<kind>conv|bn)\." + _PARAM + "$")
_RE_BLOCK = re.compile(r"layer(?P<i>[1-4])\.(?P<j>\d+)\.(?P<part>conv[123]|downsample)\.(?P<kind>conv|bn)\."
                       + _PARAM + "$")
_RE_LATERAL = re.compile(r"(?:conv1|layer(?P<i>[1-3]))_lateral\.(?P<kind>conv|bn)\." + _PARAM + "$")
_BRANCH2 = {"conv1": "a", "conv2": "b", "conv3": "c"}


def _resnet_key(rest: str, pathway: int, lateral_ok: bool) -> str | None:
    """vidlab name of a ResNet3d(Pathway) key with its pathway prefix removed (``None``: no place)."""
    if m := _RE_STEM.match(rest):
        return f"s1.pathway{pathway}_stem.{m['kind']}.{m['param']}"
    if m := _RE_BLOCK.match(rest):
        block = f"s{int(m['i']) + 1}.pathway{pathway}_res{m['j']}"
        if m["part"] == "downsample":
            return f"{block}.branch1{_bn_or_conv(m['kind'], m['param'])}"
        return f"{block}.branch2.{_BRANCH2[m['part']]}{_bn_or_conv(m['kind'], m['param'])}"
    if lateral_ok and (m := _RE_LATERAL.match(rest)):
        stage = int(m["i"]) + 1 if m["i"] else 1
        return f"s{stage}_fuse.{'conv_f2s' if m['kind'] == 'conv' else 'bn'}.{m['param']}"
    return None


def _map_keys(state: StateDict, arch: str, rename) -> StateDict:
    out: StateDict = {}
    unmapped = []
    for key, value in state.items():
        new = rename(key)
        if new is None:
            unmapped.append(key)
            continue
        _check_no_duplicates(out, new, arch)
        out[new] = value
    if unmapped:
        nonlocal_keys = [k for k in unmapped if ".non_local_block." in k]
        if nonlocal_keys:
            raise ConversionError(
                f"{SOURCE} -> {arch}: the checkpoint has MMAction2 non-local blocks ({nonlocal_keys[0]}, ...), which "
                f"no vidlab network computes: {NONLOCAL}")
        raise unmapped_error(SOURCE, arch, unmapped)
    return out


def from_mmaction2_slowonly(state: StateDict, arch: str) -> StateDict:
    """``ResNet3dSlowOnly`` or ``ResNet3d`` (I3D) + ``I3DHead`` -> vidlab single-pathway ResNet3D keys."""
    state = _drop_non_weights(state, arch)

    def rename(key: str) -> str | None:
        if key.startswith("backbone."):
            return _resnet_key(key[len("backbone."):], 0, lateral_ok=False)
        if m := re.fullmatch(r"cls_head\.fc_cls\.(weight|bias)", key):
            return f"head.projection.{m[1]}"
        return None

    return _map_keys(state, arch, rename)


def from_mmaction2_slowfast(state: StateDict, arch: str) -> StateDict:
    """``ResNet3dSlowFast`` + ``SlowFastHead`` -> vidlab SlowFast keys: ``lateral_norm=True`` checkpoints onto
    the PySlowFast-layout archs, ``lateral_norm=False`` (bare laterals) onto :data:`BARE_LATERAL_ARCHS`' values."""
    state = _drop_non_weights(state, arch)
    laterals = [k for k in state if re.match(r"backbone\.slow_path\.(conv1|layer\d)_lateral\.conv\.weight$", k)]
    lateral_bn = [k for k in state if re.match(r"backbone\.slow_path\.(conv1|layer\d)_lateral\.bn\.", k)]
    bare_arch = arch in BARE_LATERAL_ARCHS.values()
    if laterals and not lateral_bn and not bare_arch:
        target = BARE_LATERAL_ARCHS.get(arch)
        fix = (f"convert it with --arch {target}" if target else
               f"no vidlab architecture has bare laterals at this depth (those that do: "
               f"{', '.join(BARE_LATERAL_ARCHS.values())})")
        raise ConversionError(
            f"{SOURCE} -> {arch}: the lateral connections have no BN (lateral_norm=False, e.g. {laterals[0]}): "
            f"{BARE_LATERALS}; {fix}")
    if lateral_bn and bare_arch:
        normal = next(a for a, b in BARE_LATERAL_ARCHS.items() if b == arch)
        raise ConversionError(
            f"{SOURCE} -> {arch}: the lateral connections have BN (lateral_norm=True, e.g. {lateral_bn[0]}), "
            f"which {arch} (bare lateral convs) lacks: convert it with --arch {normal}")
    prefixes = {"backbone.slow_path.": 0, "backbone.fast_path.": 1}

    def rename(key: str) -> str | None:
        for prefix, pathway in prefixes.items():
            if key.startswith(prefix):
                return _resnet_key(key[len(prefix):], pathway, lateral_ok=pathway == 0)
        if m := re.fullmatch(r"cls_head\.fc_cls\.(weight|bias)", key):
            return f"head.projection.{m[1]}"
        return None

    out = _map_keys(state, arch, rename)
    weight = out.get("head.projection.weight")
    if weight is not None:
        fast_dim = _fast_feature_dim(state, arch)
        if weight.dim() != 2 or weight.shape[1] <= fast_dim:
            raise ConversionError(f"{SOURCE} -> {arch}: cls_head.fc_cls.weight has shape {tuple(weight.shape)}, "
                                  f"not (classes, slow + {fast_dim} fast features)")
        # SlowFastHead: cat(fast, slow); vidlab (PySlowFast): cat(slow, fast).
        out["head.projection.weight"] = torch.cat([weight[:, fast_dim:], weight[:, :fast_dim]], dim=1).contiguous()
    return out


def _fast_feature_dim(state: StateDict, arch: str) -> int:
    """Channels of the Fast pathway's last block (the width SlowFastHead puts first)."""
    last = [(int(m[1]), v) for k, v in state.items()
            if (m := re.fullmatch(r"backbone\.fast_path\.layer4\.(\d+)\.conv3\.conv\.weight", k))]
    if not last:
        raise ConversionError(f"{SOURCE} -> {arch}: no backbone.fast_path.layer4.*.conv3 (not a SlowFast checkpoint)")
    return int(max(last, key=lambda t: t[0])[1].shape[0])


# ----------------------------------------------------------------------------
# X3D.

_RE_X3D_STEM = re.compile(r"backbone\.conv1_(?P<which>s|t)\.(?P<kind>conv|bn)\." + _PARAM + "$")
_RE_X3D_BLOCK = re.compile(r"backbone\.layer(?P<i>[1-4])\.(?P<j>\d+)\.(?P<part>conv[123]|downsample)\.(?P<kind>conv|bn)\."
                           + _PARAM + "$")
_RE_X3D_SE = re.compile(r"backbone\.layer(?P<i>[1-4])\.(?P<j>\d+)\.se_module\.(?P<fc>fc[12])\.(?P<param>weight|bias)$")
_RE_X3D_CONV5 = re.compile(r"backbone\.conv5\.(?P<kind>conv|bn)\." + _PARAM + "$")


def _x3d_key(key: str) -> str | None:
    if m := _RE_X3D_STEM.match(key):
        if m["which"] == "s":
            return f"s1.pathway0_stem.conv_xy.{m['param']}" if m["kind"] == "conv" else None
        return f"s1.pathway0_stem.{m['kind']}.{m['param']}"
    if m := _RE_X3D_BLOCK.match(key):
        block = f"s{int(m['i']) + 1}.pathway0_res{m['j']}"
        if m["part"] == "downsample":
            return f"{block}.branch1{_bn_or_conv(m['kind'], m['param'])}"
        return f"{block}.branch2.{_BRANCH2[m['part']]}{_bn_or_conv(m['kind'], m['param'])}"
    if m := _RE_X3D_SE.match(key):
        return f"s{int(m['i']) + 1}.pathway0_res{m['j']}.branch2.se.{m['fc']}.{m['param']}"
    if m := _RE_X3D_CONV5.match(key):
        return f"head.conv_5{_bn_or_conv(m['kind'], m['param'])}"
    if key == "cls_head.fc1.weight":
        return "head.lin_5.weight"
    if m := re.fullmatch(r"cls_head\.fc2\.(weight|bias)", key):
        return f"head.projection.{m[1]}"
    return None


def from_mmaction2_x3d(state: StateDict, arch: str) -> StateDict:
    """``X3D`` + ``X3DHead`` -> vidlab X3D keys (``fc1`` becomes the 1x1x1 ``lin_5``)."""
    state = _drop_non_weights(state, arch)
    if "cls_head.fc1.bias" in state:
        raise ConversionError(f"{SOURCE} -> {arch}: cls_head.fc1.bias (X3DHead fc1_bias=True) has no place: "
                              f"vidlab's (PySlowFast's) head.lin_5 has no bias")
    out = _map_keys(state, arch, _x3d_key)
    lin5 = out.get("head.lin_5.weight")
    if lin5 is not None and lin5.dim() == 2:
        out["head.lin_5.weight"] = lin5.reshape(*lin5.shape, 1, 1, 1)
    return out


# ----------------------------------------------------------------------------
# C3D.

_C3D_CONVS = {"conv1a": "conv1", "conv2a": "conv2", "conv3a": "conv3a", "conv3b": "conv3b", "conv4a": "conv4a",
              "conv4b": "conv4b", "conv5a": "conv5a", "conv5b": "conv5b"}


def _c3d_key(key: str) -> str | None:
    if m := re.fullmatch(r"backbone\.(conv\d[ab])\.conv\.(weight|bias)", key):
        return f"{_C3D_CONVS[m[1]]}.{m[2]}" if m[1] in _C3D_CONVS else None
    if m := re.fullmatch(r"backbone\.(fc6|fc7)\.(weight|bias)", key):
        return f"{m[1]}.{m[2]}"
    if m := re.fullmatch(r"cls_head\.fc_cls\.(weight|bias)", key):
        return f"fc8.{m[1]}"
    return None


def from_mmaction2_c3d(state: StateDict, arch: str) -> StateDict:
    """``C3D`` + ``I3DHead(spatial_type=None)`` -> vidlab C3D keys (conv1 flipped to BGR input order)."""
    state = _drop_non_weights(state, arch)
    out = _map_keys(state, arch, _c3d_key)
    conv1 = out.get("conv1.weight")
    if conv1 is not None and conv1.dim() == 5:
        # vidlab's c3d computes conv1(x.flip(1)) (bgr_weights); MMAction2 computes conv1a(x) on RGB x.
        out["conv1.weight"] = conv1.flip(1).contiguous()
    return out


register(SOURCE, "slow_r50_8x8", "slow_r50_4x16", "i3d_r50_mmaction2")(from_mmaction2_slowonly)
register(SOURCE, "slowfast_r50_8x8", "slowfast_r50_4x16", "slowfast_r101_8x8",
         *BARE_LATERAL_ARCHS.values())(from_mmaction2_slowfast)
register(SOURCE, "x3d_xs", "x3d_s", "x3d_m", "x3d_l")(from_mmaction2_x3d)
register(SOURCE, "c3d")(from_mmaction2_c3d)

__all__ = ["BARE_LATERALS", "BARE_LATERAL_ARCHS", "NONLOCAL", "NOT_CONVERTED", "PREPROCESSING", "from_mmaction2_c3d",
           "from_mmaction2_slowfast", "from_mmaction2_slowonly", "from_mmaction2_x3d"]


for _arch, _reason in NOT_CONVERTED.items():
    not_convertible("mmaction2", _arch, _reason)
