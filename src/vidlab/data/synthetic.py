"""The embedded synthetic action dataset behind ``vidlab demo``.

Ten classes in five *partner pairs*; class ``2k`` and class ``2k + 1`` are the
exact time reversal of each other::

    0 move_left            1 move_right
    2 move_up              3 move_down
    4 rotate_clockwise     5 rotate_counterclockwise
    6 grow                 7 shrink
    8 move_up_right        9 move_down_left

A clip shows one textured, non-rotationally-symmetric object (a striped
rectangle, scalene triangle, L-shape or ellipse, each carrying an off-centre
disc so that no shape maps onto itself under a rotation) moving or
transforming smoothly over a static, low-frequency textured background, with a
little independent pixel noise per frame. Directions are on screen: ``y``
grows downwards, so ``move_up`` decreases ``y`` and ``rotate_clockwise`` turns
the object clockwise as displayed.

Why only the order of frames separates partners
-----------------------------------------------
The random parameters of a clip (shape, colours, textures, start pose, speed,
background, noise) are drawn from ``np.random.default_rng`` seeded with
``(seed, pair index)``, so both members of a pair draw the *same* parameters
for the same ``seed``. The first member of each pair ("forward") is rendered
frame by frame; the second is that very array with its frames reversed, so by
construction::

    generate_clip(partner(c), s) == generate_clip(c, s)[::-1]   # bit-identical

Consequently the multiset of frames of ``(c, s)`` equals that of
``(partner(c), s)``, and since clip seeds are drawn the same way for every
class, the distribution of single frames -- and of any unordered bag of frames
-- is identical for the two partners. Any order-blind model (a per-frame 2D
CNN followed by a temporal average, a bag of frame features, colour
histograms, ...) therefore sits at chance (1/2) within each pair; it can at
best recognise the pair, so its top-1 accuracy is at most about 0.5 plus
whatever the ties allow. ``write_synthetic_dataset`` goes one step further and
gives both partners the same clip seeds, so every split contains each forward
clip *and* its exact reversal: an order-blind model that sees all frames of a
clip (or any frame subset closed under ``t -> T - 1 - t``) gives both the same
scores and gets at most one of the two right; with an asymmetric subsample the
two frame sets differ but are still identically distributed, so it is at
chance in expectation. A temporal model that sees the frames in
order separates the pairs easily.

Ground-truth motion
-------------------
The object transform of frame ``t`` is an affine map ``M_t`` from object
(texture) coordinates to image pixels, so the forward optical flow from frame
``t`` to ``t + 1`` is exactly ``M_{t+1} M_t^{-1} p - p``. For a reversed
class the flow is recomputed from the reversed sequence of transforms (for
rotation and scaling it is *not* the negated forward flow at the same pixels).
Convention (``return_motion=True``): ``motion[t]`` has shape ``(2, H, W)``,
channel 0 the x (column) and channel 1 the y (row) displacement in pixels,
pixel centres at integer coordinates. It is the motion of the surface point
seen at pixel ``p`` in frame ``t``: the affine flow wherever the object
covers the pixel centre in frame ``t`` (coverage >= 0.5), zero on the static
background. Background pixels that the object covers in frame ``t + 1``
(occluded) keep flow zero, object pixels whose target leaves the image keep
their (out-of-image) displacement; there is nothing else to occlude the
object. The flow describes the noise-free scene: the per-frame pixel noise is
not motion, and brightness constancy holds exactly on the object otherwise.

Speeds and ranges (at ``size=64``; distances scale with ``size``)
------------------------------------------------------------------
- object: half-size 0.15 - 0.21 * size (0.22 - 0.28 for the rotating pair,
  whose direction of turning a small 3D CNN learns more slowly than the
  other motions: a bigger object gives it more moving pixels); rectangles and
  ellipses have an aspect ratio of 0.4 - 0.65, far from a square/disc;
- translation: 0.6 - 1.2 px/frame along the class direction, total travel
  capped at 0.55 * size so that the object stays in view for long clips;
- rotation: 3 - 5 degrees/frame about the object centre;
- grow/shrink: 2 - 3 % size change per frame around a mid size of
  0.13 - 0.17 * size, total ratio capped at 2.6;
- every class adds a small random drift (<= 0.1 px/frame) and a random start
  orientation and position; the centre is placed so that the object stays
  (nearly) whole in view for the whole clip.

At 8 frames sampled with a stride of 4 from the default 32, a step moves the
object by 2.4 - 4.5 px, turns it by 12 - 20 degrees or scales it by 8 - 12 %.

Augmentation caveat: a horizontal or vertical flip changes the class
(``move_left`` <-> ``move_right``, clockwise <-> counterclockwise, and
``move_up_right`` becomes a direction that is no class), and so does playing
a clip backwards; use crops, not flips, on this dataset.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "NUM_CLASSES",
    "generate_clip",
    "partner",
    "write_synthetic_dataset",
]

#: Bump when the rendering changes, so that stored datasets can be told apart.
GENERATOR_VERSION = 1

CLASSES: list[str] = [
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_clockwise",
    "rotate_counterclockwise",
    "grow",
    "shrink",
    "move_up_right",
    "move_down_left",
]
NUM_CLASSES = len(CLASSES)

# The renderer's parts (PAIR_KINDS, PAIR_DIRECTIONS, NOISE_STD, render_background, object_texture,
# object_trajectory, sample_object) are public: vidlab.data.synthetic_detection draws the same objects.
# Motion kind of each pair; the first class of the pair is the rendered one.
PAIR_KINDS = ["translate", "translate", "rotate", "scale", "translate"]
# Unit direction (x, y) on screen of the forward member of translation pairs.
PAIR_DIRECTIONS = {
    0: (-1.0, 0.0),  # move_left
    1: (0.0, -1.0),  # move_up
    4: (math.sqrt(0.5), -math.sqrt(0.5)),  # move_up_right
}

_SHAPES = ("rectangle", "triangle", "l_shape", "ellipse")
TEX = 32  # texture resolution of the object (texels over its [-1, 1]^2 box)
_SUPERSAMPLE = 4  # alpha is rasterised at 4x and box-filtered: soft edges
NOISE_STD = 2.0  # per-frame pixel noise, in 0..255 units

_SPLITS = ("train", "val", "test")


def partner(class_index: int) -> int:
    """The class whose clips are the exact time reversal of ``class_index``'s."""
    _check_label(class_index)
    return int(class_index) ^ 1


def generate_clip(
    label: int,
    seed: int,
    *,
    size: int = 64,
    num_frames: int = 32,
    return_motion: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render one clip of class ``label``.

    Returns ``frames``, an ``(num_frames, size, size, 3)`` uint8 RGB array, or
    ``(frames, motion)`` with ``return_motion=True``, where ``motion`` is the
    ``(num_frames - 1, 2, size, size)`` float32 ground-truth forward flow
    (x then y, in pixels; see the module docstring for the convention).
    Deterministic in ``(label, seed, size, num_frames)``; partners share their
    parameters, so ``generate_clip(partner(c), s)`` is
    ``generate_clip(c, s)[::-1]`` exactly.
    """
    _check_label(label)
    seed = check_seed(seed)
    size, num_frames = int(size), int(num_frames)
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2, got {num_frames}")
    frames, alpha, affines = _render_forward(label // 2, seed, size, num_frames)
    if label % 2 == 1:
        frames, alpha, affines = frames[::-1], alpha[::-1], affines[::-1]
    frames = np.ascontiguousarray(frames)
    if not return_motion:
        return frames
    return frames, _flow(affines, alpha)


# --------------------------------------------------------------------------
# rendering


def _check_label(label: int) -> None:
    if not isinstance(label, (int, np.integer)) or isinstance(label, bool):
        raise TypeError(f"class index must be an int, got {type(label).__name__}")
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"class index must be in [0, {NUM_CLASSES}), got {label}")


def check_seed(seed: int) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _render_forward(pair: int, seed: int, size: int, num_frames: int):
    """Frames, coverage ``(T, H, W)`` and affines ``(T, 2, 3)`` of a forward clip."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, pair]))
    background = render_background(rng, size)
    texture = object_texture(rng, background.reshape(-1, 3).mean(0))
    affines = object_trajectory(
        rng, PAIR_KINDS[pair], PAIR_DIRECTIONS.get(pair), size, num_frames
    )
    noise = rng.standard_normal((num_frames, size, size, 3), dtype=np.float32)

    premult, alpha = sample_object(texture, affines, size)
    # premult + (1 - alpha) * background + noise, in place
    frames = noise
    frames *= NOISE_STD
    frames += background
    frames -= alpha[..., None] * background
    frames += premult
    np.rint(frames, out=frames)
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8), alpha, affines


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a small ``(g, g, C)`` grid to ``(size, size, C)``."""
    g = grid.shape[0]
    pos = np.linspace(0.0, g - 1.0, size)
    i0 = np.minimum(np.floor(pos).astype(int), g - 2)
    w = (pos - i0)[:, None]
    rows = grid[i0] * (1 - w[..., None]) + grid[i0 + 1] * w[..., None]
    cols = rows[:, i0] * (1 - w[None]) + rows[:, i0 + 1] * w[None]
    return cols


def render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Static, muted, low-frequency texture ``(size, size, 3)`` float32."""
    grey = rng.uniform(70.0, 170.0)
    tint = rng.uniform(-25.0, 25.0, size=3)
    low = _upsample(rng.uniform(-1.0, 1.0, size=(4, 4, 3)), size) * rng.uniform(
        15.0, 30.0
    )
    mid = _upsample(rng.uniform(-1.0, 1.0, size=(9, 9, 1)), size) * rng.uniform(
        4.0, 10.0
    )
    return (grey + tint + low + mid).astype(np.float32)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    h, s, v = rng.uniform(0.0, 1.0), rng.uniform(0.55, 1.0), rng.uniform(0.55, 1.0)
    return 255.0 * np.array(colorsys.hsv_to_rgb(h, s, v))


def object_texture(
    rng: np.random.Generator, background_mean: np.ndarray
) -> np.ndarray:
    """Premultiplied RGBA texture ``(TEX + 2, TEX + 2, 4)`` with a clear border.

    The object occupies (part of) the box ``[-1, 1]^2`` of object coordinates;
    texel ``j`` has its centre at ``u = -1 + (j + 0.5) * 2 / TEX`` (before the
    one-texel transparent padding that makes sampling outside the box clear).
    """
    shape = _SHAPES[rng.integers(len(_SHAPES))]
    # Two stripe colours that stand out from the background.
    for _ in range(20):
        c1, c2 = random_colour(rng), random_colour(rng)
        if np.abs((c1 + c2) / 2 - background_mean).mean() > 45:
            break
    stripe_angle = rng.uniform(0.0, math.pi)
    stripe_period = rng.uniform(0.5, 0.8)
    stripe_phase = rng.uniform(0.0, 2 * math.pi)
    aspect = rng.uniform(0.4, 0.65)
    bar = rng.uniform(0.5, 0.7)
    apex = rng.uniform(-0.6, -0.3)
    flip = rng.integers(2, size=2) * 2 - 1

    n = TEX * _SUPERSAMPLE
    t = -1.0 + (np.arange(n) + 0.5) * 2.0 / n
    uy, ux = np.meshgrid(t, t, indexing="ij")
    if shape == "rectangle":
        inside = (np.abs(ux) <= 0.95) & (np.abs(uy) <= aspect)
        mark = (flip[0] * 0.55, flip[1] * (aspect - 0.3))
    elif shape == "triangle":
        # Scalene triangle (no symmetry at all).
        p = np.array([[-0.95, 0.85], [0.95, 0.85], [apex, -0.95]])
        inside = np.ones_like(ux, dtype=bool)
        for a, b in ((p[0], p[1]), (p[1], p[2]), (p[2], p[0])):
            inside &= (b[0] - a[0]) * (uy - a[1]) - (b[1] - a[1]) * (ux - a[0]) <= 0
        mark = tuple(0.6 * p[0] + 0.4 * p.mean(0))
    elif shape == "l_shape":
        inside = ((ux <= -0.95 + bar) & (np.abs(uy) <= 0.95)) | (
            (uy >= 0.95 - bar) & (np.abs(ux) <= 0.95)
        )
        mark = (0.6, 0.95 - bar / 2)
    else:  # ellipse
        inside = ux**2 + (uy / aspect) ** 2 <= 0.95**2
        mark = (flip[0] * 0.5, 0.0)
    disc = ((ux - mark[0]) ** 2 + (uy - mark[1]) ** 2 <= 0.22**2) & inside

    def box(m: np.ndarray) -> np.ndarray:
        return m.reshape(TEX, _SUPERSAMPLE, TEX, _SUPERSAMPLE).mean(axis=(1, 3))

    alpha, mark_cover = box(inside.astype(np.float32)), box(disc.astype(np.float32))
    c = -1.0 + (np.arange(TEX) + 0.5) * 2.0 / TEX
    vy, vx = np.meshgrid(c, c, indexing="ij")
    along = vx * math.cos(stripe_angle) + vy * math.sin(stripe_angle)
    m = 0.5 + 0.5 * np.sin(2 * math.pi * along / stripe_period + stripe_phase)
    rgb = c1 * (1 - m[..., None]) + c2 * m[..., None]
    mark_colour = np.full(3, 20.0 if rgb.mean() > 110 else 240.0)
    # mark_cover <= alpha: blend the mark into the straight colour, then premultiply
    frac = np.divide(mark_cover, alpha, out=np.zeros_like(alpha), where=alpha > 0)[
        ..., None
    ]
    rgb = rgb * (1 - frac) + mark_colour * frac
    rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=-1)
    return np.pad(rgba, ((1, 1), (1, 1), (0, 0))).astype(np.float32)


def object_trajectory(rng, kind, direction, size, num_frames) -> np.ndarray:
    """Affines ``(T, 2, 3)``: ``p = M[:, :2] @ u + M[:, 2]`` (object -> pixel)."""
    unit = size / 64.0
    steps = num_frames - 1
    t = np.arange(num_frames) - steps / 2.0  # centred time
    drift = rng.uniform(0.0, 0.1 * unit) * _unit_vector(rng.uniform(0.0, 2 * math.pi))
    theta0 = rng.uniform(0.0, 2 * math.pi)
    half = rng.uniform(0.15, 0.21) * size  # half-size of the object box, pixels
    omega = 0.0
    log_scale = np.zeros(num_frames)
    velocity = drift.copy()
    if kind == "translate":
        speed = min(rng.uniform(0.6, 1.2) * unit, 0.55 * size / steps)
        velocity += speed * np.asarray(direction)
    elif kind == "rotate":
        # about the centre of the object box, clockwise on screen (y down);
        # a larger object makes the direction of turning easier to learn,
        # a moderate speed keeps the boundary's step between sampled frames
        # (stride 4) comparable to the translations'
        omega = math.radians(rng.uniform(3.0, 5.0))
        half = rng.uniform(0.22, 0.28) * size
    else:  # scale: grow forward
        half = rng.uniform(0.13, 0.17) * size
        rate = math.log1p(rng.uniform(0.02, 0.03))
        rate = min(rate, math.log(2.6) / steps)
        log_scale = rate * t
    # Place the path so that the object centre stays inside a margin that
    # keeps (nearly) all of the object in view at its largest.
    margin = max(0.22 * size, 1.1 * half * math.exp(np.abs(log_scale).max()))
    centre = np.empty(2)
    for axis in range(2):
        reach = abs(velocity[axis]) * steps / 2.0
        lo, hi = margin + reach, size - 1 - margin - reach
        centre[axis] = rng.uniform(lo, hi) if hi > lo else (size - 1) / 2.0
    positions = centre[None] + t[:, None] * velocity[None]
    angles = theta0 + omega * t
    scales = half * np.exp(log_scale)
    cos, sin = np.cos(angles) * scales, np.sin(angles) * scales
    affines = np.empty((num_frames, 2, 3))
    affines[:, 0, 0], affines[:, 0, 1] = cos, -sin
    affines[:, 1, 0], affines[:, 1, 1] = sin, cos
    affines[:, :, 2] = positions
    return affines


def _unit_vector(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def sample_object(texture: np.ndarray, affines: np.ndarray, size: int):
    """Inverse-affine bilinear sampling: premultiplied RGB ``(T,H,W,3)``, alpha ``(T,H,W)``.

    Only a window around the object's bounding box is sampled in each frame
    (one window size for all frames, so the work stays vectorised over time);
    everything outside it is clear.
    """
    num_frames = affines.shape[0]
    # Bounding box of the object box [-1, 1]^2 in every frame, one pixel margin.
    corners = np.array([[-1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, -1.0, 1.0]])
    pts = affines[:, :, :2] @ corners + affines[:, :, 2:]  # (T, 2, 4)
    lo = np.floor(pts.min(axis=2)) - 1.0
    hi = np.ceil(pts.max(axis=2)) + 1.0
    win = int(min(size, (hi - lo).max() + 1))
    offset = np.clip(lo, 0, size - win).astype(np.int64)  # (T, 2): x, y
    grid = np.arange(win)
    xs = (offset[:, 0, None] + grid)[:, None, :]  # (T, 1, win)
    ys = (offset[:, 1, None] + grid)[:, :, None]  # (T, win, 1)

    inv = np.linalg.inv(affines[:, :, :2])[..., None, None]  # (T, 2, 2, 1, 1)
    dx = (xs - affines[:, 0, 2, None, None]).astype(np.float32)
    dy = (ys - affines[:, 1, 2, None, None]).astype(np.float32)
    inv = inv.astype(np.float32)
    ux = inv[:, 0, 0] * dx + inv[:, 0, 1] * dy
    uy = inv[:, 1, 0] * dx + inv[:, 1, 1] * dy
    # object coordinates -> texel coordinates of the padded texture
    half = np.float32(TEX / 2.0)
    tx = np.clip((ux + 1.0) * half + 0.5, 0.0, TEX + 1.0)
    ty = np.clip((uy + 1.0) * half + 0.5, 0.0, TEX + 1.0)
    x0 = np.minimum(tx.astype(np.int64), TEX)
    y0 = np.minimum(ty.astype(np.int64), TEX)
    wx = (tx - x0)[..., None]
    wy = (ty - y0)[..., None]
    flat = texture.reshape(-1, 4)
    stride = TEX + 2
    base = y0 * stride + x0
    top = flat[base] * (1 - wx) + flat[base + 1] * wx
    bottom = flat[base + stride] * (1 - wx) + flat[base + stride + 1] * wx
    sampled = top * (1 - wy) + bottom * wy  # (T, win, win, 4)

    out = np.zeros((num_frames, size, size, 4), dtype=np.float32)
    out[np.arange(num_frames)[:, None, None], ys, xs] = sampled
    return out[..., :3], out[..., 3]


def _flow(affines: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Forward flow ``(T-1, 2, H, W)`` float32 of an affine sequence (see module doc)."""
    num_frames, size = alpha.shape[0], alpha.shape[1]
    a_next, a_now = affines[1:, :, :2], affines[:-1, :, :2]
    q = a_next @ np.linalg.inv(a_now)  # (T-1, 2, 2)
    d = affines[1:, :, 2] - np.einsum("tij,tj->ti", q, affines[:-1, :, 2])
    q = q - np.eye(2)[None]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.empty((num_frames - 1, 2, size, size), dtype=np.float32)
    for c in range(2):
        flow[:, c] = (
            q[:, c, 0, None, None] * xs[None]
            + q[:, c, 1, None, None] * ys[None]
            + d[:, c, None, None]
        )
    flow *= (alpha[:-1] >= 0.5)[:, None]
    return flow


# --------------------------------------------------------------------------
# dataset writer


def clip_seed_for(seed: int, split: str, index: int) -> int:
    """Seed of clip ``index`` of ``split``: independent streams per split."""
    state = np.random.SeedSequence(
        [seed, 0x5EED, _SPLITS.index(split), index]
    ).generate_state(2)
    return int(state[0]) << 31 | int(state[1]) >> 1  # 63-bit, non-negative


def _stem(split: str, label: int, index: int) -> str:
    return f"{split}_{CLASSES[label]}_{index:04d}"


def _write_pair(job: tuple) -> None:
    """Render one forward clip and write it and its partner (the reversal)."""
    from vidlab.io.writer import write_video

    root, split, index, pair, clip_seed, size, num_frames, fps, crf, motion = job
    root = Path(root)
    frames, alpha, affines = _render_forward(pair, clip_seed, size, num_frames)
    for label, (f, a, m) in (
        (2 * pair, (frames, alpha, affines)),
        (2 * pair + 1, (frames[::-1], alpha[::-1], affines[::-1])),
    ):
        stem = _stem(split, label, index)
        # All-intra (gop=1): with inter coding the first frame of a GOP is coded
        # differently (an I-frame) from the rest, so the coding quality of a
        # frame would reveal its position in time, a cue that differs between a
        # clip and its reversal. Intra-only coding treats every frame alike.
        write_video(
            root / "videos" / split / CLASSES[label] / f"{stem}.mp4",
            np.ascontiguousarray(f),
            fps,
            crf=crf,
            gop=1,
        )
        if motion:
            path = root / "motion" / split / CLASSES[label] / f"{stem}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, _flow(m, a).astype(np.float16))


def write_synthetic_dataset(
    out_dir: str | os.PathLike,
    *,
    train_per_class: int = 40,
    val_per_class: int = 8,
    test_per_class: int = 20,
    size: int = 64,
    num_frames: int = 32,
    fps: float = 16.0,
    seed: int = 0,
    motion: bool = False,
    progress: bool = True,
    crf: int = 15,
    workers: int | None = None,
) -> dict:
    """Write the synthetic action dataset under ``out_dir``.

    Layout::

        out_dir/videos/{split}/{class}/{split}_{class}_{i:04d}.mp4   all-intra H.264
        out_dir/{train,val,test}.csv     MMAction2 video list: "videos/... label"
        out_dir/classes.txt              line i = name of label i
        out_dir/motion/{split}/{class}/{stem}.npy   (motion=True) float16 flow
        out_dir/meta.json                seed, sizes, counts, fps, classes, version

    Clip ``i`` of a split has the same seed for every class; the two classes of a
    pair therefore hold exact reversals of each other, and different pairs draw
    different parameters (the pair index enters the seed). Clip seeds come from
    independent streams per split, so splits never share a clip and the test set
    does not change with ``train_per_class``. Everything is deterministic in
    ``seed`` (the csv files byte for byte; the mp4 bytes as far as libx264 is).
    Files of an earlier, larger run in the same folder are not removed; the csv
    files list the current dataset. ``workers`` threads render and encode in
    parallel (``None``: up to 2, by the CPU count; ``0`` or ``1``: serially).

    Returns a dict with the paths (``root``, ``csv`` per split, ``classes``,
    ``meta``, ``motion`` or None), ``counts`` per split, ``num_clips`` and
    ``seconds``.
    """
    seed = check_seed(seed)
    counts = {
        "train": int(train_per_class),
        "val": int(val_per_class),
        "test": int(test_per_class),
    }
    if any(n < 0 for n in counts.values()):
        raise ValueError(f"clip counts must be >= 0, got {counts}")
    if size < 16 or num_frames < 2:
        raise ValueError(
            f"need size >= 16 and num_frames >= 2, got {size}, {num_frames}"
        )
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    start = time.perf_counter()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)

    seeds = {s: [clip_seed_for(seed, s, i) for i in range(n)] for s, n in counts.items()}
    flat = [x for s in _SPLITS for x in seeds[s]]
    if len(set(flat)) != len(flat):  # 63-bit hashes: never expected to trigger
        raise RuntimeError("clip seed collision; choose another seed")
    jobs = [
        (
            str(root),
            split,
            i,
            pair,
            seeds[split][i],
            int(size),
            int(num_frames),
            float(fps),
            int(crf),
            bool(motion),
        )
        for split in _SPLITS
        for i in range(counts[split])
        for pair in range(NUM_CLASSES // 2)
    ]
    run_jobs(jobs, workers, progress)

    csv_paths = {}
    for split in _SPLITS:
        lines = [
            f"videos/{split}/{CLASSES[label]}/{_stem(split, label, i)}.mp4 {label}\n"
            for label in range(NUM_CLASSES)
            for i in range(counts[split])
        ]
        csv_paths[split] = root / f"{split}.csv"
        csv_paths[split].write_text("".join(lines))
    classes_path = root / "classes.txt"
    classes_path.write_text("".join(f"{name}\n" for name in CLASSES))
    meta = {
        "generator": "vidlab.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "size": int(size),
        "num_frames": int(num_frames),
        "fps": float(fps),
        "crf": int(crf),
        "codec": "h264 all-intra (gop=1), yuv420p",
        "classes": CLASSES,
        "partners": [partner(c) for c in range(NUM_CLASSES)],
        "per_class": counts,
        "counts": {s: n * NUM_CLASSES for s, n in counts.items()},
        "motion": bool(motion),
        "motion_format": "float16 (T-1, 2, H, W): x then y forward flow in pixels"
        if motion
        else None,
        "clip_seeds": seeds,
    }
    meta_path = root / "meta.json"
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return {
        "root": str(root),
        "csv": {s: str(p) for s, p in csv_paths.items()},
        "classes": str(classes_path),
        "meta": str(meta_path),
        "motion": str(root / "motion") if motion else None,
        "counts": meta["counts"],
        "num_clips": sum(meta["counts"].values()),
        "seconds": time.perf_counter() - start,
    }


def run_jobs(jobs: list, workers: int | None, progress: bool, fn=None, *, desc: str = "synthetic clips",
             per_job: int = 2) -> None:
    """Run ``fn(job)`` for every job (default: render and write a pair of clips) on up to
    ``workers`` threads (``None``: up to 2, by the CPU count) with a progress bar
    counting ``per_job`` clips a job."""
    from tqdm import tqdm

    fn = _write_pair if fn is None else fn
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    bar = tqdm(total=per_job * len(jobs), desc=desc, unit="clip", disable=not progress)
    try:
        if workers <= 1 or len(jobs) < 8:
            for job in jobs:
                fn(job)
                bar.update(per_job)
            return
        from concurrent.futures import ThreadPoolExecutor

        # Threads, not processes: numpy and the encoder release the GIL for the
        # heavy parts, and threads need no ``if __name__ == "__main__"`` guard
        # in the caller's script, nor pickling, nor process start-up.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(fn, jobs):
                bar.update(per_job)
    finally:
        bar.close()
