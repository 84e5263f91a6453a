"""pytorchvideo ResNet / SlowFast state dicts -> vidlab (PySlowFast names).

pytorchvideo's hub models ``slow_r50``, ``c2d_r50``, ``i3d_r50`` (built by
``create_resnet``) and ``slowfast_r50``, ``slowfast_r101``,
``slowfast_16x8_r101_50_50`` (built by ``create_slowfast``) are, layer for
layer, the PySlowFast networks of the same names; only the keys differ, and
every tensor keeps its shape and value::

    pytorchvideo                                        vidlab / PySlowFast
    blocks.0.conv / .norm                               s1.pathway0_stem.conv / .bn
    blocks.0.multipathway_blocks.{p}.conv / .norm       s1.pathway{p}_stem.conv / .bn
    blocks.{k}.res_blocks.{j}.branch1_conv / _norm      s{n}.pathway0_res{j}.branch1 / branch1_bn
    blocks.{k}.res_blocks.{j}.branch2.conv_a / norm_a   s{n}.pathway0_res{j}.branch2.a / a_bn   (b, c alike)
    blocks.{k}.multipathway_blocks.{p}.res_blocks.{j}.* s{n}.pathway{p}_res{j}.*
    blocks.{k}.multipathway_fusion.conv_fast_to_slow    s{k+1}_fuse.conv_f2s   (.norm -> .bn)
    blocks.{last}.proj                                  head.projection        (both nn.Linear)

Stage numbers follow the blocks that hold ``res_blocks`` in order (res2 is
``s2``), so the optional temporal max-pool after res2 (``blocks.2`` in C2D and
I3D, no parameters) shifts no names. Same BN (eps 1e-5, momentum 0.1), stem
padding ``k // 2``, stem max-pool 1x3x3 stride 1x2x2 padding 0x1x1, stride
on the 3x3 conv, and the C2D/I3D temporal pool after res2 (where PySlowFast's
``pathway0_pool`` sits).

What differs is the head pooling. pytorchvideo's hub heads average-pool with a
fixed kernel sized for 224 px crops (``(8, 7, 7)`` for Slow, ``(4, 7, 7)``
for C2D/I3D, ``(8, 7, 7)`` + ``(32, 7, 7)`` for SlowFast 8x8), stride 1, then
project and average what is left; vidlab pools globally. At 224 px the two
are the same function; at other sizes (256 px test crops) pytorchvideo's
overlapping windows weight border positions less, so its logits differ a
little from a global average (PySlowFast's head does the same as
pytorchvideo's). Both return pre-softmax scores in eval mode (pytorchvideo hub
heads have no activation; PySlowFast applies a softmax).

PyTorchVideo's AVA detector ``slowfast_r50_detection`` (``create_slowfast_with_roi_head``) is the
SlowFast R50 8x8 backbone with res5 at spatial stride 1 and dilation 2 under ``model.``, and a
``detection_head`` (``ResNetRoIHead``: the time axis averaged per pathway, ``RoIAlign`` 7x7 at 1/16 with
``aligned=False``, a 7x7 max pool, ``proj``, a sigmoid), the network of vidlab's
``slowfast_r50_8x8_detection`` built with ``aligned=False``: ``model.blocks.*`` map as above and
``detection_head.proj`` -> ``head.projection``; the converted checkpoint records ``aligned: false``.

Every source key is either mapped or reported in a ``ConversionError``; the
strict load that follows names any vidlab key left missing.
"""

from __future__ import annotations

import re

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error

SOURCE = "pytorchvideo"

_BLOCK_PARTS = {
    "branch1_conv": "branch1",
    "branch1_norm": "branch1_bn",
    "branch2.conv_a": "branch2.a",
    "branch2.norm_a": "branch2.a_bn",
    "branch2.conv_b": "branch2.b",
    "branch2.norm_b": "branch2.b_bn",
    "branch2.conv_c": "branch2.c",
    "branch2.norm_c": "branch2.c_bn",
}
_STEM_PARTS = {"conv": "conv", "norm": "bn"}
_FUSE_PARTS = {"conv_fast_to_slow": "conv_f2s", "norm": "bn"}

_PARAM = r"(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)"
_PART = r"(?P<part>" + "|".join(re.escape(p) for p in _BLOCK_PARTS) + ")"
_RE_STEM = re.compile(r"blocks\.0\.(?:multipathway_blocks\.(?P<p>\d+)\.)?(?P<part>conv|norm)\." + _PARAM + "$")
_RE_RES = re.compile(
    r"blocks\.(?P<k>\d+)\.(?:multipathway_blocks\.(?P<p>\d+)\.)?res_blocks\.(?P<j>\d+)\." + _PART + r"\." + _PARAM + "$"
)
_RE_FUSE = re.compile(r"blocks\.(?P<k>\d+)\.multipathway_fusion\.(?P<part>conv_fast_to_slow|norm)\." + _PARAM + "$")
_RE_HEAD = re.compile(r"blocks\.(?P<k>\d+)\.proj\.(?P<param>weight|bias)$")


def _strip_prefix(state: StateDict) -> StateDict:
    """Accept a checkpoint saved from a wrapped model (``model.``/``module.`` prefixes)."""
    for prefix in ("module.", "model."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def from_pytorchvideo_resnet(state: StateDict, arch: str) -> StateDict:
    """Map a pytorchvideo ``create_resnet`` / ``create_slowfast`` state dict to vidlab keys."""
    state = _strip_prefix(dict(state))
    # Stage order: the blocks that hold residual blocks, in index order, are res2, res3, ...
    stage_blocks = sorted({int(m["k"]) for m in map(_RE_RES.match, state) if m})
    stage_of = {k: n + 2 for n, k in enumerate(stage_blocks)}
    out: StateDict = {}
    unmapped = []
    for key, value in state.items():
        if m := _RE_STEM.match(key):
            new = f"s1.pathway{m['p'] or 0}_stem.{_STEM_PARTS[m['part']]}.{m['param']}"
        elif m := _RE_RES.match(key):
            new = f"s{stage_of[int(m['k'])]}.pathway{m['p'] or 0}_res{m['j']}.{_BLOCK_PARTS[m['part']]}.{m['param']}"
        elif m := _RE_FUSE.match(key):
            # the fusion of blocks.k follows stage k+1 (k = 0 is the stem): s1_fuse, s2_fuse, ...
            new = f"s{int(m['k']) + 1}_fuse.{_FUSE_PARTS[m['part']]}.{m['param']}"
        elif m := _RE_HEAD.match(key):
            new = f"head.projection.{m['param']}"
        else:
            unmapped.append(key)
            continue
        if new in out:
            raise ConversionError(f"{SOURCE} -> {arch}: two source keys map to {new}")
        out[new] = value
    if unmapped:
        raise unmapped_error(SOURCE, arch, unmapped)
    return out


register(
    SOURCE,
    # create_resnet: hub slow_r50, c2d_r50, i3d_r50 (and the Slow 4x16 checkpoint, same network)
    "slow_r50_8x8", "slow_r50_4x16", "c2d_r50", "i3d_r50",
    # create_slowfast: hub slowfast_r50, slowfast_r101, slowfast_16x8_r101_50_50 (+ the other zoo SlowFast nets)
    "slowfast_r50_8x8", "slowfast_r50_4x16", "slowfast_r101_8x8", "slowfast_r101_8x8_50_50",
    "slowfast_r101_8x8_50_101", "slowfast_r101_16x8_50_50",
)(from_pytorchvideo_resnet)


def from_pytorchvideo_detection(state: StateDict, arch: str) -> StateDict:
    """Map pytorchvideo's ``create_slowfast_with_roi_head`` state dict (``model.blocks.*`` +
    ``detection_head.proj``) to vidlab's detector keys."""
    state = _strip_prefix(dict(state))  # a DDP "module." (the head is not under "model.", so that one stays)
    head = {k: v for k, v in state.items() if k.startswith("detection_head.")}
    body = {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items() if k not in head}
    out = from_pytorchvideo_resnet(body, arch)
    unmapped = []
    for key, value in head.items():
        m = re.fullmatch(r"detection_head\.proj\.(weight|bias)", key)
        if not m:
            unmapped.append(key)
            continue
        out[f"head.projection.{m[1]}"] = value
    if unmapped:
        raise unmapped_error(SOURCE, arch, unmapped)
    return out


register(SOURCE, "slowfast_r50_8x8_detection", build_kwargs={"aligned": False})(from_pytorchvideo_detection)
