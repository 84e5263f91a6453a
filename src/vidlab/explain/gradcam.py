"""Grad-CAM for video models (Selvaraju et al., ICCV 2017), in space and time.

The rule, for one clip and one class ``c``:

1. Run the model once (eval mode) and keep the activations ``A`` of a layer:
   a feature map ``(C, T', H', W')``.
2. Take the gradient of the class score ``y_c`` (the logit, before the softmax)
   with respect to ``A``.
3. Channel weights ``w_k = mean over T'H'W' of dy_c / dA_k``.
4. Map ``ReLU(sum_k w_k A_k)`` on the ``T' x H' x W'`` grid; its maximum there is
   reported as ``raw_max`` (comparable between layers of one run, not between
   runs).
5. Upsample trilinearly (``align_corners=False``) to the clip's ``T x H x W``
   and divide by the maximum, so the map lies in ``[0, 1]`` (a map without any
   positive evidence stays all zeros).

What a layer's output may be:

- ``(1, C, T', H', W')``: a 3D feature map (every 3D CNN);
- ``(N, C, H', W')``: per-frame 2D maps of a batch of one clip (TSN, CNN+LSTM:
  the frames or snippets are the batch, so they become the time axis);
- ``(1, N, C)`` tokens (MViT): laid back on their ``(T', H', W')`` grid, the cls
  token dropped. The grid is read off the model's own calls: every module called
  as ``module(tokens, (t, h, w))`` or returning ``(tokens, (t, h, w))`` (the MViT
  blocks and patch embedding) records it, and tokens take the grid whose size they
  match;
- a list or tuple of those (e.g. a SlowFast stage's ``[slow, fast]``): one map
  per element.

A module called several times in one forward pass (a shared activation) is
explained at its last call.

Default layers (:func:`default_layers`): the last convolutional stage, i.e. the
map the head pools: ``s5`` (C2D/I3D/Slow/X3D), ``res5`` (CSN, R(2+1)D-50),
``layer4`` (R3D/MC3/R(2+1)D-18), ``pool5`` (C3D: conv5b after its ReLU and
pool), ``features`` (S3D), ``backbone`` (TSN, CNN+LSTM: per frame); for SlowFast
the last block of each pathway (``s5.pathway0_res2`` and ``s5.pathway1_res2``
in R50), giving one map per pathway at its own frame rate (Slow: the ``T //
alpha`` frames :func:`vidlab.models.slowfast.pack_pathways` picks, Fast: all
``T``); for MViT the last block's ``norm1`` (the tokens the cls token attends to
last: after the last block only the cls token reaches the head, so the block's
own output has no gradient on the grid) or, with mean pooling, the last block.

How it is done: a forward hook adds a zero tensor that requires grad (a leaf)
to the layer's output, so the gradient of the score with respect to that leaf
is the gradient with respect to the activations, and several layers of one
path can be explained in one pass (a hooked later layer does not cut the graph
of an earlier one). The model's parameters are set not to require grad for the
call (and restored), so no gradient goes into them and nothing before the
first hooked layer is recorded. Hooks, the ``requires_grad`` flags and the
training mode are restored afterwards, also on error.

Not covered yet: transformer families whose calls carry no ``(t, h, w)`` grid
(TimeSformer lays its tokens out patch-major, time-minor); their tokens are
refused with a message rather than laid out by a guess.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidlab.errors import VidlabError

__all__ = [
    "CamMap",
    "GradCam",
    "LayerError",
    "contact_sheet",
    "default_layers",
    "find_module",
    "grad_cam",
    "overlay",
    "resolve_layers",
]

#: The last conv stage's module name in each family, tried in this order (SlowFast and MViT are handled apart).
DEFAULT_CANDIDATES = ("s5", "res5", "layer4", "pool5", "features", "backbone")


class LayerError(VidlabError, ValueError):
    """A layer name that is not in the model, or a layer whose output is not a feature map."""


@dataclass
class CamMap:
    """One Grad-CAM map.

    ``cam`` is ``(len(frames), H, W)`` float32 in ``[0, 1]``; ``frames`` are the
    indices into the clip's ``T`` frames that its time steps show (all of them, or
    for the Slow pathway the ``T // alpha`` it sees); ``pathway`` is ``"slow"`` /
    ``"fast"`` for SlowFast, else None; ``activation_shape`` is the layer's
    ``(C, T', H', W')``; ``raw_max`` the map's maximum before normalisation.
    """

    layer: str
    pathway: str | None
    cam: torch.Tensor
    frames: list[int]
    activation_shape: tuple[int, ...]
    raw_max: float

    @property
    def name(self) -> str:
        """``slow`` / ``fast``, or the layer name."""
        return self.pathway or self.layer


@dataclass
class GradCam:
    """The logits of the clip, the class explained and its maps."""

    logits: torch.Tensor  # (num_classes,)
    class_index: int
    maps: list[CamMap] = field(default_factory=list)

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.float().softmax(-1)


# ----------------------------------------------------------------------------
# Layers


def _is_slowfast(model: nn.Module) -> bool:
    from vidlab.models.slowfast import SlowFast

    return isinstance(model, SlowFast)


def default_layers(model: nn.Module) -> list[str]:
    """The layer(s) Grad-CAM looks at when none is named (see the module docstring)."""
    from vidlab.models.mvit import MViT

    if _is_slowfast(model):
        last = f"s{int(getattr(model, 'num_stages')) + 1}"
        stage = model.get_submodule(last)
        return [f"{last}.{names[-1]}" for names in getattr(stage, "layer_names")]
    if isinstance(model, MViT):
        k = len(model.blocks) - 1
        cls_only = model.config.cls_embed and not model.config.use_mean_pooling
        return [f"blocks.{k}.norm1" if cls_only else f"blocks.{k}"]
    names = {n for n, _ in model.named_modules()}
    for candidate in DEFAULT_CANDIDATES:
        if candidate in names:
            return [candidate]
    top = ", ".join(n for n, _ in model.named_children())
    raise LayerError(f"no default Grad-CAM layer for a {type(model).__name__}; name one with --layer "
                     f"(its top-level modules: {top})")


def find_module(model: nn.Module, name: str) -> nn.Module:
    """The module of dotted ``name`` (``s5.pathway0_res2``, ``blocks.15.norm1``); a
    :class:`LayerError` naming the closest names when there is none."""
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=6, cutoff=0.5)
    if not close:  # a prefix of the name, or the top-level modules
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        close = [n for n in names if parent and n.startswith(parent + ".") and n.count(".") == name.count(".")][:6]
        close = close or [n for n, _ in model.named_children()]
    arch = getattr(model, "arch", None) or type(model).__name__
    raise LayerError(f"no layer {name!r} in {arch}; close names: {', '.join(close)}")


def resolve_layers(model: nn.Module, layers: str | Sequence[str] | None = None) -> list[str]:
    """Layer names to explain: ``None`` -> :func:`default_layers`; a string may hold several, comma-separated.
    Every name is checked (:func:`find_module`)."""
    if layers is None:
        names = default_layers(model)
    elif isinstance(layers, str):
        names = [s.strip() for s in layers.split(",") if s.strip()]
    else:
        names = [str(s) for s in layers]
    names = list(dict.fromkeys(names))  # each layer once, in the order given
    if not names:
        raise LayerError("no layer named (give --layer NAME, or leave it out for the default)")
    for n in names:
        find_module(model, n)
    return names


# ----------------------------------------------------------------------------
# Hooks


def _is_grid(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(i, int) for i in v)


class _Capture:
    """Forward hook: keeps the output's feature tensors and adds a zero leaf that requires grad to each
    (the gradient with respect to the leaf is the gradient with respect to the output)."""

    def __init__(self) -> None:
        self.activations: list[torch.Tensor] = []
        self.leaves: list[torch.Tensor] = []
        self.grouped = False  # the output was a list/tuple of maps (one map per element)

    def _swap(self, t: Any) -> Any:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            leaf = torch.zeros_like(t, requires_grad=True)
            self.activations.append(t.detach())
            self.leaves.append(leaf)
            return t + leaf  # a new tensor: in-place ops after the layer leave the kept activations alone
        return t

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        self.activations, self.leaves = [], []  # keep only the last call
        if isinstance(output, (list, tuple)):
            swapped = [self._swap(o) for o in output]
            self.grouped = len(self.leaves) > 1
            return type(output)(swapped) if isinstance(output, tuple) else swapped
        self.grouped = False
        return self._swap(output)


class _GridWatch:
    """Token grids ``(t, h, w)`` seen in module calls, by token count."""

    def __init__(self) -> None:
        self.grids: dict[int, tuple[int, int, int]] = {}

    def _note(self, v: Any) -> None:
        if _is_grid(v):
            self.grids[math.prod(v)] = (int(v[0]), int(v[1]), int(v[2]))

    def pre(self, module: nn.Module, args: Any) -> None:
        if len(args) >= 2:
            self._note(args[1])

    def post(self, module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, tuple) and len(output) == 2:
            self._note(output[1])

    def attach(self, model: nn.Module) -> list[Any]:
        handles = []
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(self.pre))
            handles.append(m.register_forward_hook(self.post))
        return handles

    def grid_for(self, n: int) -> tuple[tuple[int, int, int], bool] | None:
        """``(grid, has_cls)`` for ``n`` tokens."""
        if n in self.grids:
            return self.grids[n], False
        if n - 1 in self.grids:
            return self.grids[n - 1], True
        return None


def _as_cthw(t: torch.Tensor, layer: str, watch: _GridWatch) -> torch.Tensor:
    """A layer's output for one clip as ``(C, T', H', W')`` (see the module docstring)."""
    shape = tuple(t.shape)
    if t.dim() == 5 and shape[0] == 1:
        return t[0]
    if t.dim() == 4:
        return t.permute(1, 0, 2, 3)
    if t.dim() == 3 and shape[0] == 1:
        found = watch.grid_for(shape[1])
        if found is None:
            raise LayerError(f"layer {layer!r} gives {shape[1]} tokens that match no token grid of the model "
                             f"(seen: {sorted(watch.grids.values())}); pick a block or a module inside one")
        grid, has_cls = found
        tokens = t[0, 1:] if has_cls else t[0]
        return tokens.reshape(*grid, shape[2]).permute(3, 0, 1, 2)
    raise LayerError(f"layer {layer!r} gives a {shape} output: Grad-CAM needs a feature map (1, C, T, H, W), "
                     f"per-frame maps (T, C, H, W) or tokens (1, N, C) on a grid; pick a convolutional layer")


def _pathway(model: nn.Module, layer: str, index: int, grouped: bool) -> str | None:
    """Which SlowFast pathway a captured tensor belongs to (None for other models)."""
    if not _is_slowfast(model):
        return None
    if grouped:
        return ("slow", "fast")[index] if index < 2 else None
    parts = layer.split(".")
    if any(p.startswith("pathway1") for p in parts):
        return "fast"
    if any(p.startswith("pathway0") for p in parts) or any(p.endswith("_fuse") for p in parts):
        return "slow"  # a lateral's conv/BN work at the Slow rate and feed the Slow pathway
    return "fast"


def _frames_of(model: nn.Module, pathway: str | None, num_frames: int) -> list[int]:
    if pathway == "slow":
        alpha = int(getattr(model, "alpha"))
        return torch.linspace(0, num_frames - 1, num_frames // alpha).long().tolist()  # pack_pathways' rule
    return list(range(num_frames))


def cam_from(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """``ReLU(sum_k w_k A_k)`` with ``w_k`` the mean of ``gradient`` over ``(T', H', W')``; both ``(C, T', H', W')``."""
    a, g = activation.float(), gradient.float()
    weights = g.mean(dim=(1, 2, 3))
    return torch.relu(torch.einsum("c,cthw->thw", weights, a))


def upsample_cam(cam: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(T', H', W')`` -> ``size`` (trilinear) and divided by its maximum (all zeros stay zeros)."""
    up = F.interpolate(cam[None, None], size=tuple(int(s) for s in size), mode="trilinear", align_corners=False)[0, 0]
    top = up.max()
    return (up / top).clamp_(0.0, 1.0) if top > 0 else torch.zeros_like(up)


# ----------------------------------------------------------------------------
# Grad-CAM


def grad_cam(
    model: nn.Module,
    clip: torch.Tensor,
    *,
    layers: str | Sequence[str] | None = None,
    class_index: int | None = None,
) -> GradCam:
    """Grad-CAM maps of one normalised clip ``(C, T, H, W)`` (or ``(1, C, T, H, W)``).

    ``layers``: dotted module names (None: :func:`default_layers`); ``class_index``:
    the class explained (None: the top-1). The model is left as it was (mode,
    ``requires_grad`` flags, no hooks).
    """
    x = clip if clip.dim() == 5 else clip.unsqueeze(0)
    if x.dim() != 5 or x.shape[0] != 1:
        raise ValueError(f"grad_cam takes one clip (C, T, H, W), got shape {tuple(clip.shape)}")
    names = resolve_layers(model, layers)
    captures = {n: _Capture() for n in names}
    watch = _GridWatch()
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    handles: list[Any] = []
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        handles += watch.attach(model)
        for n in names:
            handles.append(find_module(model, n).register_forward_hook(captures[n]))
        with torch.enable_grad():
            logits = model(x)
            if logits.dim() != 2 or logits.shape[0] != 1:
                raise LayerError(f"Grad-CAM needs (1, num_classes) logits, the model gave {tuple(logits.shape)}")
            num_classes = logits.shape[1]
            c = int(logits[0].argmax()) if class_index is None else int(class_index)
            if not 0 <= c < num_classes:
                raise VidlabError(f"class {c} is out of range: the model has {num_classes} classes (0..{num_classes - 1})")
            missing = [n for n in names if not captures[n].leaves]
            if missing:
                raise LayerError(f"layer {missing[0]!r} did not run or gives no float tensor in the forward pass")
            leaves = [t for n in names for t in captures[n].leaves]
            grads = torch.autograd.grad(logits[0, c], leaves, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)
    num_frames, height, width = x.shape[2:]
    maps, k = [], 0
    for n in names:
        cap = captures[n]
        for i, (act, leaf) in enumerate(zip(cap.activations, cap.leaves)):
            grad = grads[k] if grads[k] is not None else torch.zeros_like(leaf)
            k += 1
            a = _as_cthw(act, n, watch)
            raw = cam_from(a, _as_cthw(grad, n, watch))
            pathway = _pathway(model, n, i, cap.grouped)
            frames = _frames_of(model, pathway, num_frames)
            maps.append(CamMap(n, pathway, upsample_cam(raw, (len(frames), height, width)).cpu(), frames,
                               tuple(a.shape), float(raw.max()) if raw.numel() else 0.0))
    return GradCam(logits.detach()[0].float().cpu(), c, maps)


# ----------------------------------------------------------------------------
# Pictures


def overlay(frames: np.ndarray, cam: torch.Tensor | np.ndarray, *, alpha: float = 0.5,
            cmap: str = "jet") -> np.ndarray:
    """Frames ``(T, H, W, 3)`` uint8 blended with the colour-mapped ``cam`` ``(T, H, W)`` in ``[0, 1]``:
    ``(1 - alpha) * frame + alpha * cmap(cam)``, uint8."""
    import matplotlib

    m = np.asarray(cam, dtype=np.float32)
    if m.shape != frames.shape[:3]:
        raise ValueError(f"map {m.shape} and frames {frames.shape[:3]} differ")
    colours = matplotlib.colormaps[cmap](np.clip(m, 0.0, 1.0))[..., :3]
    mixed = (1.0 - alpha) * frames.astype(np.float32) / 255.0 + alpha * colours
    return (np.clip(mixed, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def contact_sheet(path: Any, frames: np.ndarray, cam: torch.Tensor | np.ndarray, *, title: str = "",
                  labels: Sequence[str] | None = None, max_frames: int = 16, columns: int = 8, tile: int = 160,
                  cmap: str = "jet") -> Any:
    """A PNG grid of up to ``max_frames`` evenly spread frames with their overlays (each at most ``tile``
    pixels on its longer side), a label under each (``labels[i]``, default ``t=i``), ``title`` on top and
    the colour bar (0 to 1) on the right. Drawn with Pillow (a matplotlib figure of 16 axes is seconds)."""
    from pathlib import Path

    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    t = frames.shape[0]
    pick = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    shown = overlay(frames[pick], np.asarray(cam)[pick], cmap=cmap)
    h, w = shown.shape[1:3]
    scale = min(1.0, tile / max(h, w))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    cols = min(columns, len(pick))
    rows = math.ceil(len(pick) / cols)
    pad, text_h, bar_w = 4, 14, 14
    top = 20 if title else pad
    width = pad + cols * (tw + pad) + bar_w + 4 * pad + 24
    height = top + rows * (th + text_h + pad) + pad
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((pad, 4), title, fill=(0, 0, 0), font=font)
    for k, (img, i) in enumerate(zip(shown, pick)):
        r, col = divmod(k, cols)
        x0, y0 = pad + col * (tw + pad), top + r * (th + text_h + pad)
        sheet.paste(Image.fromarray(img).resize((tw, th), Image.Resampling.BILINEAR), (x0, y0))
        draw.text((x0, y0 + th + 1), labels[i] if labels is not None else f"t={i}", fill=(0, 0, 0), font=font)
    # the colour bar: 1 at the top, 0 at the bottom, as tall as the grid
    bar_h = rows * (th + text_h + pad) - text_h - pad
    ramp = np.linspace(1.0, 0.0, max(bar_h, 2))[:, None].repeat(bar_w, 1)
    bar = (matplotlib.colormaps[cmap](ramp)[..., :3] * 255 + 0.5).astype(np.uint8)
    bx = pad + cols * (tw + pad) + 2 * pad
    sheet.paste(Image.fromarray(bar), (bx, top))
    draw.text((bx + bar_w + 3, top), "1", fill=(0, 0, 0), font=font)
    draw.text((bx + bar_w + 3, top + bar.shape[0] - 11), "0", fill=(0, 0, 0), font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")
    return path
