"""A synthetic *untrimmed* set for temporal action localization, in ActivityNet format.

Each video is a long shot (default 40 s at 8 fps, 64x64) of a slowly panning
textured background in which several *action instances* happen at random
times, separated by background segments where nothing but the background
moves. An instance is an object of the synthetic action set
(:mod:`vidlab.data.synthetic`: shape, texture and motion drawn by the same
public parts, :func:`~vidlab.data.synthetic.object_texture`,
:func:`~vidlab.data.synthetic.object_trajectory`,
:func:`~vidlab.data.synthetic.sample_object`) that appears, performs one of
the ten motion classes for the instance's whole duration and disappears;
partner classes are still exact time reversals of each other.

Timeline of a video (all draws from ``np.random.default_rng`` seeded with
``(seed, video index)``, so a video does not change when others are added):
a background gap of ``gap`` seconds (uniform in ``[min_gap, max_gap]``), an
instance of ``length`` seconds (uniform in ``[min_instance, max_instance]``,
class uniform over the ten), another gap, ... as long as an instance and a
closing gap of ``min_gap`` still fit. Boundaries are rounded to whole frames:
an instance covering frames ``f0 .. f1 - 1`` is annotated
``[f0 / fps, f1 / fps]`` seconds, and the object is visible in exactly those
frames.

Background: a static low-frequency texture (:func:`~vidlab.data.synthetic.render_background`)
twice the frame size with grey detail every ``size / 16`` pixels (amplitude
10 - 16), seen through a frame-sized window that pans at 0.5 - 1.0 px/frame
(at size 64) in a random direction (bilinear sub-pixel shifts, bouncing off
the texture's edges), plus independent pixel noise of
:data:`~vidlab.data.synthetic.NOISE_STD` per frame: the background moves in
every frame, actions or not, so motion alone does not reveal an action; the
object does (its colours stand out from the background's, as in the trimmed
set). :meth:`UntrimmedVideo.frames` with ``objects=False`` renders the very
same frames without the instances (same background, same noise).

Layout written by :func:`write_untrimmed_dataset`::

    out/videos/{video_id}.mp4          H.264, yuv420p, crf 12
    out/activity_net_synth.json        ground truth, ActivityNet v1.3 format:
        {"version": "VERSION 1.3", "taxonomy": [...10 leaves under "Root"...],
         "database": {video_id: {"subset": "training" | "validation", "duration": s,
                                 "url": "", "resolution": "64x64", "fps": f,
                                 "annotations": [{"segment": [start, end], "label": name}, ...]}}}
    out/training.txt, out/validation.txt   the videos of each subset, one path per line
                                           (``vidlab features --list``)
    out/classes.txt                    line i = name of class i
    out/meta.json                      generator, seed, sizes, counts

Video ids are ``synth_{i:05d}``, so feature files (``{stem}.npy``) and
annotation keys agree. The last quarter of the videos (at least one when
there are two or more) is the validation subset.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.data import synthetic as _syn

__all__ = ["GT_FILE", "Instance", "UntrimmedVideo", "plan_video", "video_plans", "write_untrimmed_dataset"]

#: Ground-truth file name (the ActivityNet loader also finds ``activity_net*.json``).
GT_FILE = "activity_net_synth.json"
GENERATOR_VERSION = 1
VAL_SHARE = 0.25
_PLAN, _PAN, _NOISE, _OBJECT = 0x7A1, 0xBA6, 0x0015E, 0x0B7


@dataclass(frozen=True)
class Instance:
    """One action instance: class index and frames ``start .. end - 1``."""

    label: int
    start: int
    end: int

    @property
    def name(self) -> str:
        return _syn.CLASSES[self.label]


@dataclass(frozen=True)
class UntrimmedVideo:
    """A planned video; :meth:`frames` renders it (deterministic in the fields)."""

    seed: int
    size: int
    fps: float
    num_frames: int
    instances: tuple[Instance, ...]

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def segments(self) -> list[dict]:
        """The ActivityNet annotations: ``[{"segment": [start_s, end_s], "label": name}]``."""
        return [{"segment": [round(i.start / self.fps, 6), round(i.end / self.fps, 6)], "label": i.name}
                for i in self.instances]

    def frames(self, *, objects: bool = True) -> Iterator[np.ndarray]:
        """The ``(size, size, 3)`` uint8 RGB frames in order (``objects=False``: without the
        instances, otherwise identical)."""
        size, n = self.size, self.num_frames
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _PAN]))
        canvas = _syn.render_background(rng, 2 * size)
        canvas += _smooth_noise(rng, 2 * size, cell=max(4, size // 16)) * rng.uniform(10.0, 16.0)
        bg_mean = canvas.reshape(-1, 3).mean(0)
        speed = rng.uniform(0.5, 1.0) * size / 64.0
        angle = rng.uniform(0.0, 2 * math.pi)
        origin = rng.uniform(0.0, size, size=2)
        noise = np.random.default_rng(np.random.SeedSequence([self.seed, _NOISE]))
        todo = list(self.instances) if objects else []
        current: tuple[Instance, np.ndarray, np.ndarray] | None = None
        for t in range(n):
            travel = origin + t * speed * np.array([math.cos(angle), math.sin(angle)])
            frame = _pan(canvas, _bounce(travel, size), size)
            if current is None and todo and todo[0].start == t:
                inst = todo.pop(0)
                current = (inst, *_render_instance(self.seed, inst, size, bg_mean))
            if current is not None:
                inst, premult, alpha = current
                j = t - inst.start
                frame = premult[j] + (1.0 - alpha[j, ..., None]) * frame
                if t == inst.end - 1:
                    current = None
            frame = frame + _syn.NOISE_STD * noise.standard_normal((size, size, 3), dtype=np.float32)
            yield np.clip(np.rint(frame), 0, 255).astype(np.uint8)

    def read(self, *, objects: bool = True) -> np.ndarray:
        """All frames, ``(num_frames, size, size, 3)``."""
        return np.stack(list(self.frames(objects=objects)))


def _smooth_noise(rng: np.random.Generator, size: int, cell: int) -> np.ndarray:
    """``(size, size, 1)`` values in [-1, 1]: uniform draws on a grid every ``cell`` pixels,
    bilinearly interpolated (the grey detail that makes the panning visible)."""
    g = size // cell + 2
    grid = rng.uniform(-1.0, 1.0, size=(g, g))
    pos = np.arange(size) / cell
    rows = np.stack([np.interp(pos, np.arange(g), grid[:, j]) for j in range(g)], 1)  # (size, g)
    return np.stack([np.interp(pos, np.arange(g), r) for r in rows])[..., None].astype(np.float32)


def _bounce(p: np.ndarray, limit: float) -> np.ndarray:
    """Reflect positions into ``[0, limit]`` (a triangle wave)."""
    q = np.mod(p, 2 * limit)
    return np.where(q > limit, 2 * limit - q, q)


def _pan(canvas: np.ndarray, offset: np.ndarray, size: int) -> np.ndarray:
    """The ``size x size`` window of ``canvas`` at the sub-pixel ``offset`` (x, y), bilinear."""
    x0, y0 = (min(int(v), canvas.shape[1] - size - 1) for v in offset)
    ax, ay = float(offset[0]) - x0, float(offset[1]) - y0

    def crop(dx: int, dy: int) -> np.ndarray:
        return canvas[y0 + dy: y0 + dy + size, x0 + dx: x0 + dx + size]

    return ((1 - ay) * ((1 - ax) * crop(0, 0) + ax * crop(1, 0))
            + ay * ((1 - ax) * crop(0, 1) + ax * crop(1, 1)))


def _render_instance(seed: int, inst: Instance, size: int, bg_mean: np.ndarray):
    """Premultiplied RGB ``(L, H, W, 3)`` and coverage ``(L, H, W)`` of one instance."""
    pair = inst.label // 2
    rng = np.random.default_rng(np.random.SeedSequence([seed, _OBJECT, inst.start, inst.label]))
    texture = _syn.object_texture(rng, bg_mean)
    affines = _syn.object_trajectory(rng, _syn.PAIR_KINDS[pair], _syn.PAIR_DIRECTIONS.get(pair), size,
                                     max(inst.end - inst.start, 2))
    premult, alpha = _syn.sample_object(texture, affines, size)
    if inst.label % 2 == 1:
        premult, alpha = premult[::-1], alpha[::-1]
    return premult, alpha


def plan_video(seed: int, *, seconds: float = 40.0, fps: float = 8.0, size: int = 64,
               instance_seconds: tuple[float, float] = (3.0, 8.0),
               gap_seconds: tuple[float, float] = (2.0, 6.0)) -> UntrimmedVideo:
    """The timeline of one video (see the module docstring); ``seed`` is the video's own."""
    lo, hi = instance_seconds
    glo, ghi = gap_seconds
    if not (0 < lo <= hi and 0 < glo <= ghi):
        raise ValueError(f"need 0 < min <= max for instance and gap seconds, got {instance_seconds}, {gap_seconds}")
    if not fps > 0 or size < 16:
        raise ValueError(f"need fps > 0 and size >= 16, got {fps}, {size}")
    if seconds < glo + lo + glo:
        raise ValueError(f"{seconds:g} s is too short for one instance: need at least {glo + lo + glo:g} s "
                         f"(gap + instance + gap)")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PLAN]))
    n = int(round(seconds * fps))
    t = rng.uniform(glo, ghi)
    instances = []
    while True:
        length = rng.uniform(lo, hi)
        label = int(rng.integers(_syn.NUM_CLASSES))
        if t + length + glo > seconds:
            break
        f0, f1 = int(round(t * fps)), int(round((t + length) * fps))
        if f1 - f0 >= 2:
            instances.append(Instance(label, f0, min(f1, n)))
        t += length + rng.uniform(glo, ghi)
    if not instances:  # the first draw did not fit (seconds close to the minimum): one shortest instance
        f0 = int(round(glo * fps))
        instances.append(Instance(int(rng.integers(_syn.NUM_CLASSES)), f0, f0 + max(2, int(round(lo * fps)))))
    return UntrimmedVideo(int(seed), int(size), float(fps), n, tuple(instances))


def _video_seed(seed: int, index: int) -> int:
    state = np.random.SeedSequence([seed, 0x0A7E7, index]).generate_state(2)
    return int(state[0]) << 31 | int(state[1]) >> 1


def video_plans(seed: int = 0, videos: int = 8, **plan: Any) -> dict[str, UntrimmedVideo]:
    """``{video_id: plan}`` of the set :func:`write_untrimmed_dataset` writes with the same arguments
    (``plan``: :func:`plan_video`'s keywords); video ``i`` depends on ``seed`` and ``i`` only."""
    return {f"synth_{i:05d}": plan_video(_video_seed(int(seed), i), **plan) for i in range(videos)}


def _write_one(job: tuple) -> None:
    from vidlab.io.writer import write_video

    path, video, crf = job
    write_video(path, video.frames(), video.fps, crf=crf)


def write_untrimmed_dataset(
    out_dir: str | os.PathLike,
    *,
    videos: int = 8,
    seconds: float = 40.0,
    fps: float = 8.0,
    size: int = 64,
    seed: int = 0,
    instance_seconds: tuple[float, float] = (3.0, 8.0),
    gap_seconds: tuple[float, float] = (2.0, 6.0),
    crf: int = 12,
    progress: bool = True,
    workers: int | None = None,
) -> dict:
    """Write the untrimmed set under ``out_dir`` (layout in the module docstring).

    Deterministic in its arguments (the json byte for byte; the mp4 bytes as
    far as libx264 is). ``workers`` threads encode in parallel (``None``: up to 2).
    Returns the paths, the counts and the seconds it took.
    """
    from tqdm import tqdm

    if videos < 1:
        raise ValueError(f"videos must be >= 1, got {videos}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    start = time.perf_counter()
    root = Path(out_dir)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    n_val = 0 if videos < 2 else max(1, int(round(videos * VAL_SHARE)))
    plans = video_plans(seed, videos, seconds=seconds, fps=fps, size=size, instance_seconds=instance_seconds,
                        gap_seconds=gap_seconds)
    subsets = {vid: "validation" if i >= videos - n_val else "training" for i, vid in enumerate(plans)}
    jobs = [(root / "videos" / f"{vid}.mp4", v, crf) for vid, v in plans.items()]
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    bar = tqdm(total=len(jobs), desc="untrimmed videos", unit="video", disable=not progress)
    try:
        if workers <= 1 or len(jobs) < 2:
            for job in jobs:
                _write_one(job)
                bar.update(1)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_write_one, jobs):
                    bar.update(1)
    finally:
        bar.close()

    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [{"nodeId": i + 1, "nodeName": c, "parentId": 0, "parentName": "Root"}
                 for i, c in enumerate(_syn.CLASSES)]
    database = {vid: {"subset": subsets[vid], "duration": round(v.duration, 6), "url": "",
                      "resolution": f"{size}x{size}", "fps": float(fps), "annotations": v.segments()}
                for vid, v in plans.items()}
    gt = {"version": "VERSION 1.3", "taxonomy": taxonomy, "database": database}
    gt_path = root / GT_FILE
    gt_path.write_text(json.dumps(gt, indent=1) + "\n")
    lists = {}
    for subset in ("training", "validation"):
        lists[subset] = root / f"{subset}.txt"
        lists[subset].write_text("".join(f"videos/{vid}.mp4\n" for vid in plans if subsets[vid] == subset))
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in _syn.CLASSES))
    counts = {s: sum(1 for x in subsets.values() if x == s) for s in ("training", "validation")}
    instances = sum(len(v.instances) for v in plans.values())
    meta = {"generator": "vidlab.data.synthetic_untrimmed", "generator_version": GENERATOR_VERSION,
            "seed": seed, "videos": videos, "seconds": float(seconds), "fps": float(fps), "size": int(size),
            "instance_seconds": list(instance_seconds), "gap_seconds": list(gap_seconds), "crf": crf,
            "classes": _syn.CLASSES, "counts": counts, "instances": instances}
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"root": str(root), "annotations": str(gt_path), "lists": {k: str(p) for k, p in lists.items()},
            "classes": str(root / "classes.txt"), "counts": counts, "instances": instances,
            "seconds": time.perf_counter() - start}
