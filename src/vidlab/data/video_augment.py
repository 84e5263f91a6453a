"""RandAugment and random erasing for video clips (PySlowFast's ``AUG.*`` recipe).

RandAugment
-----------
:class:`VideoRandAugment` reads timm's / PySlowFast's policy strings
(``AUG.AA_TYPE``), e.g. ``rand-m7-n4-mstd0.5-inc1`` (the MViTv2 Kinetics recipe) or
``rand-m9-mstd0.5-inc1`` (PySlowFast's default):

- ``m``: magnitude (default 10, the top of the 0..10 scale), ``n``: ops per clip
  (default 2), ``mstd``: std of Gaussian noise on the magnitude, drawn per op (``inf``:
  uniform in [0, m]); the noisy magnitude is clipped to [0, 10];
- ``inc1``: the "increasing" variants (severity grows with the magnitude);
- ``w0``: timm's op weights (``_RAND_CHOICE_WEIGHTS_0``), ops then drawn without
  replacement; without ``w``, ``n`` ops are drawn uniformly with replacement;
- ``p``: the probability each chosen op is applied (default 0.5, as in timm/PySlowFast).

An unknown section is an error (PySlowFast ignores it silently). ``inc0`` means off
(PySlowFast's ``bool("0")`` turns it on).

The clip is one ``(T, C, H, W)`` float tensor in [0, 1]: the chosen ops, their magnitude and
every random sign are drawn once per clip and applied to all frames together, as PySlowFast
applies one op to its list of frames (statistics such as AutoContrast's range or
Equalize's histogram are per frame, as there). The ops are torchvision.transforms.v2
functionals; the magnitude -> argument rules are timm's (``level`` = magnitude / 10):

=====================  ==============================================  ===========================
op                     argument at level l (sign: random +/-)          torchvision v2
=====================  ==============================================  ===========================
AutoContrast           -                                               ``autocontrast``
Equalize               -                                               ``equalize``
Invert                 -                                               ``invert``
Rotate                 +/- 30 l degrees                                ``rotate``
Posterize              keep int(4 l) bits (inc: 4 - int(4 l))          (PIL's bit mask)
Solarize               invert >= int(256 l) / 255 (inc: 256 - that)    ``solarize``
SolarizeAdd            + int(110 l) / 255 below 128 / 255              (torch.where)
Color                  factor 1.8 l + 0.1 (inc: 1 +/- 0.9 l)           ``adjust_saturation``
Contrast               same factors                                    ``adjust_contrast``
Brightness             same factors                                    ``adjust_brightness``
Sharpness              same factors                                    ``adjust_sharpness``
ShearX / ShearY        shear +/- 0.3 l about the top-left corner       ``affine(shear=atan)``
TranslateXRel / YRel   +/- 0.45 l of the width / height                ``affine(translate)``
=====================  ==============================================  ===========================

Geometric ops fill with 128/255 (timm's ``_FILL``) and sample bilinearly (torchvision
tensors have no bicubic affine; PySlowFast's MViT recipes ask PIL for bicubic). On frames
of 8-bit values, with nearest sampling, the geometric ops, (Posterize, Solarize,
SolarizeAdd, Invert, AutoContrast, Equalize) give PIL's pixels exactly; the four enhance
ops are within 1/255 of PIL's (which rounds to 8 bits). Float frames are not rounded to
8 bits (except by Posterize and Equalize).

Random erasing
--------------
:func:`random_erase` is PySlowFast's ``RandomErasing(mode, max_count=1, cube=True)``
applied to the normalised clip: with probability ``p`` one box, area uniform in
[2%, 1/3] of the frame, log-uniform aspect ratio in [0.3, 1/0.3] (up to 100 tries),
the same box on every frame; its pixels become standard-normal noise drawn per pixel
(``pixel``), one colour per channel (``rand``), or 0 (``const``). Noise is drawn for
every frame, as PySlowFast's cube erasing does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

MAX_LEVEL = 10.0
FILL = 128 / 255  # timm's _FILL (128, 128, 128) on [0, 1] frames
TRANSLATE_PCT = 0.45  # timm's translate_pct default

RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
            "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
RAND_INCREASING_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                       "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                       "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
# timm's _RAND_CHOICE_WEIGHTS_0, by position in RAND_OPS (the increasing list shares the order)
CHOICE_WEIGHTS_0 = (0.025, 0.005, 0.0, 0.3, 0.0, 0.005, 0.005, 0.025, 0.005, 0.005, 0.025, 0.2, 0.2, 0.1, 0.1)


class AugmentSpecError(ValueError):
    """A RandAugment policy string that cannot be read."""


def _signed(value: float, rng: np.random.Generator) -> float:
    return -value if rng.random() > 0.5 else value


def op_argument(name: str, magnitude: float, rng: np.random.Generator) -> float | int | None:
    """The argument of op ``name`` at ``magnitude`` (0..10), timm's level rules; random signs from ``rng``."""
    level = magnitude / MAX_LEVEL
    if name in ("AutoContrast", "Equalize", "Invert"):
        return None
    if name == "Rotate":
        return _signed(30.0 * level, rng)
    if name == "Posterize":
        return int(4 * level)
    if name == "PosterizeIncreasing":
        return 4 - int(4 * level)
    if name == "Solarize":
        return int(256 * level)
    if name == "SolarizeIncreasing":
        return 256 - int(256 * level)
    if name == "SolarizeAdd":
        return int(110 * level)
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return 1.8 * level + 0.1
    if name.endswith("Increasing"):  # Color/Contrast/Brightness/Sharpness
        return 1.0 + _signed(0.9 * level, rng)
    if name in ("ShearX", "ShearY"):
        return _signed(0.3 * level, rng)
    if name in ("TranslateXRel", "TranslateYRel"):
        return _signed(TRANSLATE_PCT * level, rng)
    raise KeyError(f"unknown RandAugment op {name!r}")


def apply_op(clip: torch.Tensor, name: str, arg, fill: float = FILL,
             interpolation: InterpolationMode = InterpolationMode.BILINEAR) -> torch.Tensor:
    """Op ``name`` with argument ``arg`` (see :func:`op_argument`) on ``(..., C, H, W)`` float frames in [0, 1]."""
    base = name.removesuffix("Increasing")
    if base == "AutoContrast":
        return TF.autocontrast(clip)
    if base == "Equalize":
        return TF.equalize(clip)
    if base == "Invert":
        return TF.invert(clip)
    if base == "Rotate":
        return TF.rotate(clip, float(arg), interpolation=interpolation, fill=fill)
    if base == "Posterize":  # PIL keeps the top bits of the 8-bit value (0 bits: black)
        if arg >= 8:
            return clip
        step = 2 ** (8 - int(arg))
        return torch.div(torch.round(clip * 255), step, rounding_mode="floor").mul_(step / 255)
    if base == "Solarize":  # PIL inverts values >= the threshold; 256 inverts nothing
        return clip if arg > 255 else TF.solarize(clip, arg / 255.0)
    if base == "SolarizeAdd":
        return torch.where(clip < 128 / 255, (clip + arg / 255.0).clamp_(max=1.0), clip)
    if base == "Color":
        return TF.adjust_saturation(clip, float(arg))
    if base == "Contrast":
        return TF.adjust_contrast(clip, float(arg))
    if base == "Brightness":
        return TF.adjust_brightness(clip, float(arg))
    if base == "Sharpness":
        return TF.adjust_sharpness(clip, float(arg))
    if base in ("ShearX", "ShearY"):
        # PIL's affine (1, s, 0, 0, 1, 0): x_out = x_in - s * y_in, about the top-left corner
        deg = math.degrees(math.atan(float(arg)))
        shear = [deg, 0.0] if base == "ShearX" else [0.0, deg]
        return TF.affine(clip, angle=0.0, translate=[0.0, 0.0], scale=1.0, shear=shear, interpolation=interpolation,
                         fill=fill, center=[0.0, 0.0])
    if base in ("TranslateXRel", "TranslateYRel"):
        # PIL's affine (1, 0, p, 0, 1, 0) samples x + p: the image moves by -p
        h, w = clip.shape[-2:]
        shift = [-float(arg) * w, 0.0] if base == "TranslateXRel" else [0.0, -float(arg) * h]
        return TF.affine(clip, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0], interpolation=interpolation,
                         fill=fill)
    raise KeyError(f"unknown RandAugment op {name!r}")


@dataclass(frozen=True)
class VideoRandAugment:
    """RandAugment for clips; build it with :meth:`parse` from a policy string (module docstring)."""

    ops: tuple[str, ...] = RAND_OPS
    num_ops: int = 2
    magnitude: float = 10.0
    magnitude_std: float = 0.0
    prob: float = 0.5
    weights: tuple[float, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> VideoRandAugment:
        """``rand-m7-n4-mstd0.5-inc1`` -> the policy; :class:`AugmentSpecError` if unreadable."""
        parts = str(text).strip().split("-")
        if parts[0] != "rand":
            raise AugmentSpecError(f"{text!r}: a RandAugment policy starts with 'rand-' (e.g. rand-m7-n4-mstd0.5-inc1)")
        kw: dict = {}
        increasing = False
        for part in parts[1:]:
            m = re.fullmatch(r"([a-z]+)(.+)", part)
            if m is None:
                raise AugmentSpecError(f"{text!r}: cannot read {part!r} (sections are m, n, mstd, inc, w, p)")
            key, val = m.groups()
            try:
                if key == "m":
                    kw["magnitude"] = float(val)
                elif key == "n":
                    kw["num_ops"] = int(val)
                elif key == "mstd":
                    kw["magnitude_std"] = float(val)
                elif key == "inc":
                    increasing = bool(int(val))
                elif key == "w":
                    if int(val) != 0:
                        raise AugmentSpecError(f"{text!r}: only op weights w0 exist")
                    kw["weights"] = CHOICE_WEIGHTS_0
                elif key == "p":
                    kw["prob"] = float(val)
                else:
                    raise AugmentSpecError(f"{text!r}: unknown section {part!r} (sections are m, n, mstd, inc, w, p)")
            except ValueError as e:
                if isinstance(e, AugmentSpecError):
                    raise
                raise AugmentSpecError(f"{text!r}: cannot read {part!r}") from None
        policy = cls(ops=RAND_INCREASING_OPS if increasing else RAND_OPS, **kw)
        policy.check(text)
        return policy

    def check(self, text: str = "") -> None:
        where = f"{text!r}: " if text else ""
        if not 0 <= self.magnitude <= MAX_LEVEL:
            raise AugmentSpecError(f"{where}magnitude must be in [0, 10], got {self.magnitude:g}")
        if self.num_ops < 0 or not (self.magnitude_std >= 0) or not 0 <= self.prob <= 1:
            raise AugmentSpecError(f"{where}n must be >= 0, mstd >= 0 and p in [0, 1]")
        if self.weights is not None and self.num_ops > sum(w > 0 for w in self.weights):
            raise AugmentSpecError(f"{where}w0 draws ops without replacement: n must be <= "
                                   f"{sum(w > 0 for w in self.weights)}")

    def draw(self, rng: np.random.Generator) -> list[tuple[str, object]]:
        """The ops applied to one clip, with their arguments (ops skipped by ``prob`` left out)."""
        if self.weights is None:
            picks = rng.integers(0, len(self.ops), size=self.num_ops)
        else:
            p = np.asarray(self.weights, dtype=np.float64)
            picks = rng.choice(len(self.ops), size=self.num_ops, replace=False, p=p / p.sum())
        chosen = []
        for i in picks:
            name = self.ops[int(i)]
            if self.prob < 1.0 and rng.random() > self.prob:
                continue
            magnitude = self.magnitude
            if self.magnitude_std == math.inf:
                magnitude = float(rng.uniform(0.0, magnitude))
            elif self.magnitude_std > 0:
                magnitude = float(rng.normal(magnitude, self.magnitude_std))
            magnitude = min(MAX_LEVEL, max(0.0, magnitude))
            chosen.append((name, op_argument(name, magnitude, rng)))
        return chosen

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``(T, C, H, W)`` float frames in [0, 1] -> the same shape, every frame changed alike."""
        for name, arg in self.draw(rng):
            clip = apply_op(clip, name, arg)
        return clip


ERASE_MODES = ("pixel", "rand", "const")


def erase_box(height: int, width: int, rng: np.random.Generator, min_area: float = 0.02, max_area: float = 1 / 3,
              min_aspect: float = 0.3, tries: int = 100) -> tuple[int, int, int, int] | None:
    """PySlowFast's erasing box ``(top, left, h, w)`` for a ``height`` x ``width`` frame, or None
    if no try fits."""
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    area = height * width
    for _ in range(tries):
        target = rng.uniform(min_area, max_area) * area
        aspect = math.exp(rng.uniform(*log_aspect))
        h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if w < width and h < height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    return None


def random_erase(clip: torch.Tensor, prob: float, rng: np.random.Generator, mode: str = "pixel") -> torch.Tensor:
    """Erase one box, the same on every frame, with probability ``prob`` (module docstring).

    ``clip``: a normalised ``(C, T, H, W)`` clip (the box is on the last two axes); a new
    tensor is returned when erased, ``clip`` itself otherwise."""
    if mode not in ERASE_MODES:
        raise ValueError(f"random erasing mode must be {', '.join(ERASE_MODES)}, got {mode!r}")
    if prob <= 0 or rng.random() > prob:
        return clip
    c, t, height, width = clip.shape
    box = erase_box(height, width, rng)
    if box is None:
        return clip
    top, left, h, w = box
    out = clip.clone()
    if mode == "const":
        out[..., top : top + h, left : left + w] = 0.0
        return out
    g = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    shape = (c, t, h, w) if mode == "pixel" else (c, t, 1, 1)
    noise = torch.randn(shape, generator=g, dtype=clip.dtype)
    out[..., top : top + h, left : left + w] = noise.to(clip.device)
    return out
