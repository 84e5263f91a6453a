"""Diagnostic tasks: synthetic clip sets built so that one SlowFast component is necessary.

Each task draws on the demo's synthetic set (:mod:`vidlab.data.synthetic`: its
backgrounds and pixel noise; ``blink`` its objects and motions) and writes the demo set's
layout (``videos/{split}/{class}/*.mp4``, ``{train,val,test}.csv``, ``classes.txt``,
``meta.json``), so ``vidlab train`` reads it unchanged. ``vidlab data synth --task
NAME`` writes one; ``benchmarks/bench_mechanisms.py`` trains the model with and
without the component on it.

``blink`` -- the Fast pathway
    One object, moving as in the demo set (any of its motions: a nuisance), whose
    brightness switches between *on* (its texture) and *off* (darkened) over time.
    Classes: ``steady`` (on for the whole clip with probability 0.4, else off) and
    two patterns of period 5 frames, on in 2 of the 5: ``blink_11000`` (two on
    frames in a row) and ``blink_10100`` (apart), each at a random phase. The Slow
    pathway of a SlowFast whose Fast pathway takes 16 consecutive frames (alpha 4)
    sees Fast frames ``linspace(0, 15, 4)`` = every 5th frame, so it sees the same
    state in all its frames, *on* with probability 0.4 whatever the class: its
    input is identically distributed for the three classes and a Slow-only model
    given the same frames is at chance (1/3) by construction. The Fast pathway sees
    the pattern. (PySlowFast's sampling, which vidlab follows, takes
    ``linspace(start, start + T * tau - 1, T)``: the stride is exactly 5 for
    T = 4, tau = 4 and exactly 1 for T = 16, tau = 1; other settings give
    fractional strides that alias the pattern into the Slow view.)

``detail`` -- the Slow pathway (spatial detail at a low frame rate)
    One filled square (half-size 10-12 px at 64 px) drifting slowly (at most 0.15
    px/frame), two random colours; it shows one of six fixed 5 x 5 glyphs (cells of
    about 4 px, any two glyphs at least 7 cells apart): the class. Nothing moves
    that matters, so 4 frames are as good as 16; what the task needs is spatial
    detail, which SlowFast gives its heavy, low-frame-rate Slow pathway and not its
    light Fast pathway (beta = 1/8 of the channels). Unlike the other tasks this
    is no construction argument that the Fast pathway alone cannot solve it, only
    the capacity split the SlowFast paper chose; the suite measures it.

``relation`` -- non-local blocks
    Two filled squares (half-size 7-8 px) in opposite corners of a 96 x 96 frame
    (top-left/bottom-right or top-right/bottom-left), wandering slowly (at most
    0.1 px/frame, no class signal), each in one of six hues. Class ``same``: both
    squares have the same hue; ``different``: the second has one of the other five
    (uniform). Each square alone is uniformly coloured in both classes, so only the
    relation between two places 41+ pixels apart on each axis tells the class. A
    convolutional net whose receptive field is smaller than that gap and that pools
    its features globally before a linear classifier scores a clip as a sum of two
    per-object terms, ``a(top colour) + b(bottom colour)``; a threshold on such a
    sum that accepts two same-colour pairs ``(i, i)`` and ``(j, j)`` also accepts
    ``(i, j)`` or ``(j, i)`` (their sums add up to the same total), so the best
    linear read-out is right on at most 0.75 of the clips (e.g. ``a(c) = c``,
    ``b(c) = -c`` and a threshold just below 0: all ``same`` clips and half of the
    ``different`` ones), 0.65 when ``a = b``, and only after learning colour features that carry no
    class signal on their own. A non-local block gives every position what the
    other places hold, and the layers after it can compare that with the
    position's own colour. (A first version asked whether two objects move the
    same way or opposite ways; the single-stage baseline net did not even learn one
    object's direction in the suite's budget, so neither row got past chance:
    benchmarks/RESULTS.md.)

The tasks are deterministic in ``seed`` like the demo set: clip ``i`` of a split
has its own seed, independent streams per split.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from vidlab.data import synthetic as _syn

__all__ = ["TASKS", "render_task_clip", "write_task_dataset"]

_SPLITS = ("train", "val", "test")

#: task -> (class names, defaults of size / frames / fps)
TASKS: dict[str, dict] = {
    "blink": {"classes": ["steady", "blink_11000", "blink_10100"], "size": 64, "num_frames": 32, "fps": 16.0},
    "relation": {"classes": ["same", "different"], "size": 96, "num_frames": 24, "fps": 16.0},
    "detail": {"classes": [f"glyph_{i}" for i in range(6)], "size": 64, "num_frames": 32, "fps": 16.0},
}

# blink: the on/off pattern of one period per class; steady is on for the whole clip with the same probability
_BLINK = {1: (1, 1, 0, 0, 0), 2: (1, 0, 1, 0, 0)}
_ON_FRACTION = 0.4
_OFF_GAIN = 0.45  # brightness of an "off" object, relative to its texture
_RELATION_COLOURS = 6  # hues of the relation task's palette
# detail: the 5 x 5 glyph of each class (rows top to bottom; 1 = foreground), 9-16 cells on, any two
# glyphs at least 7 cells apart
_SOLID = np.ones((1, 1), np.float32)  # relation: a plain square, one cell on
_GLYPHS = np.array([[[int(c) for c in row] for row in glyph.split()] for glyph in (
    "01101 00000 01010 01111 01000", "11001 01011 01101 10000 00100", "00000 10101 11110 00101 10010",
    "11011 10011 01110 10001 00010", "11010 00100 11100 10011 01110", "10010 10000 00111 00010 01010")],
    dtype=np.float32)


def _check(task: str) -> dict:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task]


def _compose(background: np.ndarray, layers, noise: np.ndarray) -> np.ndarray:
    """``noise + background`` with each ``(premult, alpha, gain)`` layer blended over it, as uint8."""
    frames = noise * _syn.NOISE_STD
    frames += background
    for premult, alpha, gain in layers:
        frames -= alpha[..., None] * background
        frames += premult * np.asarray(gain, dtype=np.float32).reshape(-1, 1, 1, 1)
    np.rint(frames, out=frames)
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8)


def blink_gains(label: int, rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Per-frame brightness gain (1 on, ``_OFF_GAIN`` off) of a ``blink`` clip of class ``label``."""
    if label == 0:
        on = np.full(num_frames, rng.uniform() < _ON_FRACTION)
    else:
        pattern = np.asarray(_BLINK[label], dtype=bool)
        phase = int(rng.integers(len(pattern)))
        on = pattern[(np.arange(num_frames) + phase) % len(pattern)]
    return np.where(on, 1.0, _OFF_GAIN).astype(np.float32)


def class_rng(seed: int, label: int) -> np.random.Generator:
    """The stream of a ``blink`` clip's class pattern (separate from its scene's)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0xB11C, 1, label]))


def _render_blink(label: int, seed: int, size: int, num_frames: int, gains: np.ndarray | None = None) -> np.ndarray:
    """A ``blink`` clip; ``gains`` replaces the class's brightness pattern (for tests)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB11C]))
    background = _syn.render_background(rng, size)
    texture = _syn.object_texture(rng, background.reshape(-1, 3).mean(0))
    pair = int(rng.integers(len(_syn.PAIR_KINDS)))
    affines = _syn.object_trajectory(rng, _syn.PAIR_KINDS[pair], _syn.PAIR_DIRECTIONS.get(pair), size, num_frames)
    if rng.uniform() < 0.5:
        affines = affines[::-1]
    noise = rng.standard_normal((num_frames, size, size, 3), dtype=np.float32)
    # the class enters last, from its own stream: the scene is the same for every class
    if gains is None:
        gains = blink_gains(label, class_rng(seed, label), num_frames)
    premult, alpha = _syn.sample_object(texture, affines, size)
    return _compose(background, [(premult, alpha, gains)], noise)


def _translation(centre: np.ndarray, velocity: np.ndarray, theta: float, half: float, num_frames: int) -> np.ndarray:
    """Affines ``(T, 2, 3)`` of an object of half-size ``half`` turned by ``theta``, moving at ``velocity``."""
    t = np.arange(num_frames) - (num_frames - 1) / 2.0
    affines = np.empty((num_frames, 2, 3))
    c, s = math.cos(theta) * half, math.sin(theta) * half
    affines[:, 0, 0], affines[:, 0, 1], affines[:, 1, 0], affines[:, 1, 1] = c, -s, s, c
    affines[:, :, 2] = centre[None] + t[:, None] * velocity[None]
    return affines


def relation_palette(count: int = _RELATION_COLOURS) -> list[np.ndarray]:
    """The ``relation`` task's colours: ``count`` hues evenly spaced, saturation and value 0.9, RGB 0..255."""
    return [255.0 * np.array(colorsys.hsv_to_rgb(i / count, 0.9, 0.9)) for i in range(count)]


def relation_colours(label: int, rng: np.random.Generator) -> tuple[int, int]:
    """Palette indices of the two objects of a ``relation`` clip of class ``label``, drawn from ``rng``
    (the scene's stream, the same draws for both classes): the first uniform; the second the same
    (``same``) or one of the others, uniform (``different``)."""
    first = int(rng.integers(_RELATION_COLOURS))
    shift = 1 + int(rng.integers(_RELATION_COLOURS - 1))
    return first, first if label == 0 else (first + shift) % _RELATION_COLOURS


def _render_relation(label: int, seed: int, size: int, num_frames: int, masks: bool = False):
    """A ``relation`` clip; with ``masks``, also each object's coverage ``(T, H, W)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x2E1B]))
    background = _syn.render_background(rng, size)
    unit = size / 96.0
    lo, hi = 0.17 * (size - 1), 0.83 * (size - 1)
    corners = [np.array([lo, lo]), np.array([hi, hi])] if rng.uniform() < 0.5 else \
        [np.array([hi, lo]), np.array([lo, hi])]
    if rng.uniform() < 0.5:  # which of the two holds the first colour: top or bottom
        corners.reverse()
    palette = relation_palette()
    colours = relation_colours(label, rng)
    layers = []
    for corner, colour in zip(corners, colours):
        centre = corner + rng.uniform(-2.0, 2.0, size=2) * unit
        drift = rng.uniform(-0.1, 0.1, size=2) * unit  # px/frame: a slow wander, no class signal
        half = rng.uniform(7.0, 8.0) * unit
        premult, alpha = _syn.sample_object(_glyph_texture(_SOLID, palette[colour], palette[colour]),
                                            _translation(centre, drift, 0.0, half, num_frames), size)
        layers.append((premult, alpha, np.ones(num_frames, np.float32)))
    noise = rng.standard_normal((num_frames, size, size, 3), dtype=np.float32)
    frames = _compose(background, layers, noise)
    return (frames, [alpha for _, alpha, _ in layers]) if masks else frames


def _glyph_texture(glyph: np.ndarray, foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA texture (the layout of :func:`vidlab.data.synthetic.object_texture`): a filled
    square showing ``glyph`` (k x k cells, 1 = ``foreground``) in two colours."""
    n = _syn.TEX
    cells = (np.arange(n) * glyph.shape[0]) // n
    on = glyph[cells[:, None], cells[None, :]][..., None]
    texture = np.zeros((n + 2, n + 2, 4), np.float32)
    texture[1:-1, 1:-1, :3] = on * foreground + (1.0 - on) * background
    texture[1:-1, 1:-1, 3] = 1.0
    return texture


def _render_detail(label: int, seed: int, size: int, num_frames: int, masks: bool = False):
    """A ``detail`` clip: one square (half-size 10-12 px at 64 px) showing the class's glyph; with
    ``masks``, also the square's coverage ``(T, H, W)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDE7A]))
    background = _syn.render_background(rng, size)
    for _ in range(20):  # two colours far enough apart that the glyph's cells show
        foreground, back = _syn.random_colour(rng), _syn.random_colour(rng)
        if np.abs(foreground - back).mean() > 60:
            break
    unit = size / 64.0
    centre = rng.uniform(0.35, 0.65, size=2) * (size - 1)
    drift = rng.uniform(-0.15, 0.15, size=2) * unit  # px/frame: a slow wander, no class signal
    half = rng.uniform(10.0, 12.0) * unit
    premult, alpha = _syn.sample_object(_glyph_texture(_GLYPHS[label], foreground, back),
                                        _translation(centre, drift, 0.0, half, num_frames), size)
    noise = rng.standard_normal((num_frames, size, size, 3), dtype=np.float32)
    frames = _compose(background, [(premult, alpha, np.ones(num_frames, np.float32))], noise)
    return (frames, alpha) if masks else frames


_RENDER = {"blink": _render_blink, "relation": _render_relation, "detail": _render_detail}


def render_task_clip(task: str, label: int, seed: int, *, size: int | None = None,
                     num_frames: int | None = None) -> np.ndarray:
    """One ``(T, size, size, 3)`` uint8 RGB clip of class ``label`` of ``task``.

    The scene (background, objects, their motion, the noise) depends on ``seed``
    only; the class changes only what the task is about (the brightness pattern of
    ``blink``; the second square's colour of ``relation``; the glyph of ``detail``).
    """
    spec = _check(task)
    label = int(label)
    if not 0 <= label < len(spec["classes"]):
        raise ValueError(f"class index must be in [0, {len(spec['classes'])}) for task {task!r}, got {label}")
    seed = _syn.check_seed(seed)
    size = int(size or spec["size"])
    num_frames = int(num_frames or spec["num_frames"])
    return _RENDER[task](label, seed, size, num_frames)


def _write_clip(job: tuple) -> None:
    from vidlab.io.writer import write_video

    task, path, label, seed, size, num_frames, fps, crf = job
    frames = render_task_clip(task, label, seed, size=size, num_frames=num_frames)
    # all-intra, as the demo set: no frame is coded differently for its position in time
    write_video(path, frames, fps, crf=crf, gop=1)


def write_task_dataset(out_dir: str | os.PathLike, task: str, *, train_per_class: int = 100,
                       val_per_class: int = 10, test_per_class: int = 40, size: int | None = None,
                       num_frames: int | None = None, fps: float | None = None, seed: int = 0,
                       progress: bool = True, crf: int = 15, workers: int | None = None) -> dict:
    """Write diagnostic task ``task`` under ``out_dir`` in the demo set's layout.

    Clip ``i`` of a split has the same seed for every class (as in the demo set):
    the classes of a split show the same scenes and differ only in what the task
    isolates. Returns the paths (``root``, ``csv`` per split, ``classes``,
    ``meta``), ``counts`` per split, ``num_clips`` and ``seconds``.
    """
    spec = _check(task)
    classes = spec["classes"]
    size = int(size or spec["size"])
    num_frames = int(num_frames or spec["num_frames"])
    fps = float(fps or spec["fps"])
    seed = _syn.check_seed(seed)
    counts = {"train": int(train_per_class), "val": int(val_per_class), "test": int(test_per_class)}
    if any(n < 0 for n in counts.values()):
        raise ValueError(f"clip counts must be >= 0, got {counts}")
    if size < 32 or num_frames < 8:
        raise ValueError(f"need size >= 32 and num_frames >= 8, got {size}, {num_frames}")
    start = time.perf_counter()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    seeds = {s: [_syn.clip_seed_for(seed, s, i) for i in range(n)] for s, n in counts.items()}
    rows = {s: [] for s in _SPLITS}
    jobs = []
    for split in _SPLITS:
        for label, name in enumerate(classes):
            for i, clip_seed in enumerate(seeds[split]):
                rel = f"videos/{split}/{name}/{split}_{name}_{i:04d}.mp4"
                rows[split].append(f"{rel} {label}\n")
                jobs.append((task, str(root / rel), label, clip_seed, size, num_frames, fps, int(crf)))
    _syn.run_jobs(jobs, workers, progress, _write_clip, desc=f"{task} clips", per_job=1)
    csv = {}
    for split in _SPLITS:
        csv[split] = root / f"{split}.csv"
        csv[split].write_text("".join(rows[split]))
    (root / "classes.txt").write_text("".join(f"{n}\n" for n in classes))
    meta = {"generator": "vidlab.data.synthetic_tasks", "task": task, "seed": seed, "size": size,
            "num_frames": num_frames, "fps": fps, "crf": int(crf), "codec": "h264 all-intra (gop=1), yuv420p",
            "classes": classes, "per_class": counts, "counts": {s: n * len(classes) for s, n in counts.items()},
            "clip_seeds": seeds}
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"root": str(root), "task": task, "csv": {s: str(p) for s, p in csv.items()},
            "classes": str(root / "classes.txt"), "meta": str(root / "meta.json"), "counts": meta["counts"],
            "num_clips": sum(meta["counts"].values()), "seconds": time.perf_counter() - start}
