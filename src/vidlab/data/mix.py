"""Mixup and CutMix for video batches, with PySlowFast's ``MIXUP.*`` semantics.

:class:`VideoMix` mixes a whole training batch with its reverse (clip ``i`` with clip
``B - 1 - i``), as PySlowFast (``slowfast/datasets/mixup.py``, after timm) does:

1. With probability ``mix_prob`` the batch is mixed, else it is left as is (``lam = 1``).
2. With both ``mixup_alpha`` and ``cutmix_alpha`` above 0, CutMix is chosen with
   probability ``switch_prob``, else mixup; with one of them, that one.
3. ``lam ~ Beta(alpha, alpha)`` of the chosen kind.
4. Mixup: ``x = lam * x + (1 - lam) * x.flip(0)``.
   CutMix: a box of ``int(H * sqrt(1 - lam))`` x ``int(W * sqrt(1 - lam))`` pixels centred
   at a uniform pixel, clipped to the frame, is pasted from the reversed batch. The box is
   on the last two axes, so it is the same on every frame of a clip (``(B, C, T, H, W)``)
   and on every input of a multi-input model. ``lam`` is then corrected to the share of
   the frame left uncovered, ``1 - box area / (H * W)`` (timm's ``correct_lam``).
5. Targets: one-hot with label smoothing ``eps`` (``1 - eps + eps / C`` on the label,
   ``eps / C`` elsewhere; the same rule as ``F.cross_entropy(label_smoothing=eps)``) and
   ``lam * y + (1 - lam) * y.flip(0)``. Every row sums to 1.

The loss is :func:`soft_cross_entropy` (PySlowFast's ``soft_cross_entropy``). Evaluation
never mixes. Randomness comes from a ``numpy.random.Generator`` passed in: the trainer
keys one by (seed, epoch, iteration, process), so a resumed run mixes as the
uninterrupted one did. Each process mixes its own part of the global batch (as
PySlowFast does per GPU).

PySlowFast's recipe for MViTv2 (``configs/Kinetics/MVITv2_S_16x4.yaml``):
``mixup_alpha 0.8, cutmix_alpha 1.0, mix_prob 1.0, switch_prob 0.5`` and label smoothing
0.1 (its ``MIXUP.LABEL_SMOOTH_VALUE``; here ``solver.label_smoothing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def soft_targets(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """``(B,)`` class indices -> ``(B, C)`` smoothed one-hot float targets. ``(B, C)`` float
    targets (multi-label or already soft) are smoothed the same way: ``(1 - eps) * y + eps / C``."""
    if labels.ndim == 1:
        off = smoothing / num_classes
        out = torch.full((labels.shape[0], num_classes), off, device=labels.device)
        return out.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing + off)
    if labels.ndim != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"labels must be (B,) class indices or (B, {num_classes}) targets, got {tuple(labels.shape)}")
    return labels.float() * (1.0 - smoothing) + smoothing / num_classes


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum_c targets * log_softmax(logits)``."""
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[tuple[int, int, int, int], float]:
    """The CutMix box ``(y0, y1, x0, x1)`` for ``lam`` and the corrected ``lam`` (the uncovered share).

    Side ``int(side * sqrt(1 - lam))``, centre a uniform pixel, halves ``cut // 2`` each way,
    clipped to the frame (timm's ``rand_bbox``)."""
    ratio = float(np.sqrt(1.0 - lam))
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    y0, y1 = int(np.clip(cy - cut_h // 2, 0, height)), int(np.clip(cy + cut_h // 2, 0, height))
    x0, x1 = int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cx + cut_w // 2, 0, width))
    return (y0, y1, x0, x1), 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)


@dataclass(frozen=True)
class MixDraw:
    """One batch's draw: ``lam`` (1 = not mixed) and, for CutMix, the box ``(y0, y1, x0, x1)``."""

    lam: float
    box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class VideoMix:
    """Batch-level mixup / CutMix with soft targets (see the module docstring)."""

    num_classes: int
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ValueError("mixup_alpha and cutmix_alpha must be >= 0")
        if not (0 <= self.mix_prob <= 1 and 0 <= self.switch_prob <= 1 and 0 <= self.label_smoothing <= 1):
            raise ValueError("mix_prob, switch_prob and label_smoothing must be in [0, 1]")

    @property
    def enabled(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def draw(self, height: int, width: int, rng: np.random.Generator) -> MixDraw:
        """Draw ``lam`` and, for CutMix, the box for frames of ``height`` x ``width``."""
        if not self.enabled or rng.random() >= self.mix_prob:
            return MixDraw(1.0)
        use_cutmix = self.cutmix_alpha > 0
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = bool(rng.random() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(rng.beta(alpha, alpha))
        if lam == 1.0:
            return MixDraw(1.0)
        if not use_cutmix:
            return MixDraw(lam)
        box, lam = cutmix_box(height, width, lam, rng)
        return MixDraw(lam, box)

    def __call__(self, clips: torch.Tensor | list[torch.Tensor], labels: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor]:
        """Mix a batch: ``clips`` ``(B, ..., H, W)`` (or a list of such tensors, one per model
        input, mixed alike) and ``labels`` ``(B,)`` -> mixed clips (new tensors) and ``(B, C)``
        soft targets. The inputs are not modified."""
        many = isinstance(clips, (list, tuple))
        xs = list(clips) if many else [clips]
        h, w = xs[0].shape[-2:]
        if any(x.shape[-2:] != (h, w) for x in xs) or any(x.shape[0] != labels.shape[0] for x in xs):
            raise ValueError("every input of a mixed batch needs the same batch size and frame size")
        d = self.draw(int(h), int(w), rng)
        out = [mix_batch(x, d) for x in xs]
        y = soft_targets(labels, self.num_classes, self.label_smoothing)
        if d.lam != 1.0:
            y = y * d.lam + y.flip(0) * (1.0 - d.lam)
        return (out if many else out[0]), y


def mix_batch(x: torch.Tensor, draw: MixDraw) -> torch.Tensor:
    """``x`` mixed with ``x.flip(0)`` by ``draw`` (a new tensor; ``x`` itself when ``lam`` is 1)."""
    if draw.lam == 1.0:
        return x
    if draw.box is None:
        return x * draw.lam + x.flip(0) * (1.0 - draw.lam)
    y0, y1, x0, x1 = draw.box
    out = x.clone()
    out[..., y0:y1, x0:x1] = x.flip(0)[..., y0:y1, x0:x1]
    return out
