"""A synthetic spatio-temporal detection set in AVA format.

Every video shows several *actors* on one static textured background. An
actor is an object of the synthetic action set (:mod:`vidlab.data.synthetic`:
shape, texture and motion are drawn exactly as there) that performs one of the
ten motion classes for the whole video, inside its own cell of a ``grid x
grid`` layout (cells get a random shift of up to 1/8 of their size, so actors
do not sit on a fixed lattice). Its box in a frame is the tight box of the
pixels it covers (coverage >= 0.5), so the box track follows the motion
(translations move it, grow/shrink scale it, rotations reshape it).

Timestamps follow AVA: a video covers the seconds ``900 .. 900 + duration``
(the AVA movies are cut to 900..1800 s) and keyframes are the whole seconds
from ``902`` to ``900 + duration - 2`` (AVA: 902..1798), so the same dataset
code reads both. The keyframe of second ``s`` is frame ``(s - 900) * fps``.

Layout written by :func:`write_synthetic_detection`::

    out/videos/{video_id}.mp4                   H.264 (keyframe every 8 frames)
    out/annotations/{train,val,test}.csv        AVA ground truth:
        video_id,timestamp,x1,y1,x2,y2,action_id,person_id   (boxes in [0,1])
    out/annotations/action_list.pbtxt           label map, ids 1..10 (class + 1)
    out/annotations/{split}_excluded_timestamps.csv   (empty: nothing excluded)
    out/annotations/{split}_predicted_boxes.csv  simulated person detections:
        video_id,timestamp,x1,y1,x2,y2,,score     (jittered GT boxes + false alarms)
    out/frame_lists/{split}.csv                 video list (one line per video)
    out/meta.json                               sizes, seeds, classes, counts

Action ids are ``class index + 1`` with the class names of
:data:`vidlab.data.synthetic.CLASSES`. Partner classes are still exact time
reversals (an actor of class ``2k + 1`` is the reversed rendering of class
``2k`` with the same parameters), so a detector that ignores frame order cannot
separate them.

The *history* variant (``task="history"``, :data:`HISTORY_CLASSES`) is built so
that only a long-term feature bank can label most keyframes: one actor per
video performs one of the ten motions, and for :data:`MARK_FRAMES` frames
around the first keyframe (second 902) it lights up in a solid red or blue
(the colour is drawn independently of motion, texture and position). At 902
its label is what it does then, ``lit_red`` / ``lit_blue``; at every later
keyframe it is what it did then, ``was_red`` / ``was_blue``, which nothing in
the later clips reveals. A detector whose clip spans less than one second (8
frames at stride 1 at 8 fps: frames ``c - 4 .. c + 3`` around keyframe frame
``c``) sees the mark only at 902: it can learn the visible ``lit_*`` classes
there, and for ``was_*`` it can only guess, while a bank row stored at 902
still holds the colour.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from vidlab.data import synthetic as _syn

__all__ = ["AVA_START_SECOND", "HISTORY_CLASSES", "MARK_FRAMES", "mark_frames", "render_video", "write_label_map",
           "write_synthetic_detection"]

#: the AVA movies are cut to seconds 900..1800; keyframes start 2 s later
AVA_START_SECOND = 900
_SPLITS = ("train", "val", "test")
#: the history task's classes: lighting up now (keyframe 902), having lit up (903 and later)
HISTORY_CLASSES = ("lit_red", "lit_blue", "was_red", "was_blue")
_MARK_RGB = np.array([[230.0, 30.0, 30.0], [30.0, 70.0, 230.0]], np.float32)
#: frames of the mark: ``c - MARK_FRAMES // 2 .. c + MARK_FRAMES // 2 - 1`` around frame ``c`` of second 902
MARK_FRAMES = 4


def mark_frames(fps: int) -> range:
    """The frame indices where the history task's actor shows its colour (around second 902)."""
    c = 2 * int(fps)
    return range(c - MARK_FRAMES // 2, c + MARK_FRAMES // 2)


def _actor(seed: int, label: int, cell: int, num_frames: int, background_mean: np.ndarray):
    """Premultiplied RGB ``(T, c, c, 3)`` and coverage ``(T, c, c)`` of one actor in its cell."""
    pair = label // 2
    rng = np.random.default_rng(np.random.SeedSequence([seed, pair, 0xAC7]))
    texture = _syn.object_texture(rng, background_mean)
    affines = _syn.object_trajectory(rng, _syn.PAIR_KINDS[pair], _syn.PAIR_DIRECTIONS.get(pair), cell, num_frames)
    premult, alpha = _syn.sample_object(texture, affines, cell)
    if label % 2 == 1:
        premult, alpha = premult[::-1], alpha[::-1]
    return premult, alpha


def _tight_boxes(alpha: np.ndarray) -> np.ndarray:
    """``(T, 4)`` pixel boxes ``x1, y1, x2, y2`` (x2/y2 exclusive) of coverage >= 0.5."""
    out = np.zeros((alpha.shape[0], 4))
    for t, a in enumerate(alpha >= 0.5):
        ys, xs = np.nonzero(a)
        if len(xs) == 0:
            out[t] = np.nan
            continue
        out[t] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


def render_video(seed: int, *, size: int = 96, grid: int = 2, num_frames: int = 48,
                 actors: tuple[int, int] = (2, 4), classes: tuple[int, ...] | None = None,
                 history_fps: int | None = None):
    """Render one multi-actor video.

    Returns ``(frames, tracks)``: ``frames`` ``(T, size, size, 3)`` uint8 RGB;
    ``tracks`` a list (one per actor) of ``{"person_id", "label", "boxes"}``
    with ``boxes`` ``(T, 4)`` pixel ``x1, y1, x2, y2``. Deterministic in the
    arguments. ``actors = (lo, hi)``: between lo and hi actors (inclusive, at
    most ``grid**2``); ``classes``: the class indices actors draw from
    (default all ten). ``history_fps``: render the history task at that frame
    rate instead (the module docstring): each actor's motion is drawn from
    ``classes``, its label is its mark colour (0 red, 1 blue; the keyframe's
    class is ``label`` at 902 and ``label + 2`` later).
    """
    if grid < 1 or size // grid < 16:
        raise ValueError(f"need cells of at least 16 pixels, got size {size} / grid {grid}")
    lo, hi = int(actors[0]), min(int(actors[1]), grid * grid)
    if not 1 <= lo <= hi:
        raise ValueError(f"actors must be (lo, hi) with 1 <= lo <= hi <= grid**2, got {actors}")
    classes = tuple(range(_syn.NUM_CLASSES)) if classes is None else tuple(int(c) for c in classes)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xDE7EC7]))
    background = _syn.render_background(rng, size)
    noise = rng.standard_normal((num_frames, size, size, 3), dtype=np.float32) * _syn.NOISE_STD
    n = int(rng.integers(lo, hi + 1))
    cells = rng.choice(grid * grid, size=n, replace=False)
    cell = size // grid
    shift = cell // 8
    frames = noise + background
    tracks = []
    marked = [] if history_fps is None else [f for f in mark_frames(history_fps) if f < num_frames]
    for pid, c in enumerate(sorted(int(x) for x in cells)):
        label = int(classes[rng.integers(len(classes))])
        actor_seed = int(rng.integers(2**62))
        oy = int(np.clip((c // grid) * cell + rng.integers(-shift, shift + 1), 0, size - cell))
        ox = int(np.clip((c % grid) * cell + rng.integers(-shift, shift + 1), 0, size - cell))
        region = background[oy:oy + cell, ox:ox + cell]
        premult, alpha = _actor(actor_seed, label, cell, num_frames, region.reshape(-1, 3).mean(0))
        if history_fps is not None:
            label = int(rng.integers(2))  # the colour: independent of motion, texture and cell
            premult = premult.copy()
            premult[marked] = alpha[marked][..., None] * _MARK_RGB[label]
        view = frames[:, oy:oy + cell, ox:ox + cell]
        view -= alpha[..., None] * region
        view += premult
        boxes = _tight_boxes(alpha) + np.array([ox, oy, ox, oy], dtype=float)
        tracks.append({"person_id": pid, "label": label, "boxes": boxes})
    np.rint(frames, out=frames)
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8), tracks


def write_label_map(path: str | os.PathLike, names: list[str]) -> Path:
    """An AVA-style pbtxt: ``item { name: "..." id: N }`` with ids 1..len(names)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for i, n in enumerate(names, 1)))
    return path


def _video_seed(seed: int, split: str, index: int) -> int:
    state = np.random.SeedSequence([seed, 0xA7A, _SPLITS.index(split), index]).generate_state(2)
    return int(state[0]) << 31 | int(state[1]) >> 1


def _fmt(v: float) -> str:
    return f"{v:.4f}"


def _job(args):
    from vidlab.io.writer import write_video

    root, split, i, vseed, size, grid, num_frames, fps, actors, classes, history = args
    frames, tracks = render_video(vseed, size=size, grid=grid, num_frames=num_frames, actors=actors, classes=classes,
                                  history_fps=fps if history else None)
    vid = f"{split}{i:04d}"
    write_video(Path(root) / "videos" / f"{vid}.mp4", frames, fps, crf=12, gop=8)
    return vid, tracks


def write_synthetic_detection(
    out_dir: str | os.PathLike,
    *,
    train_videos: int = 160,
    val_videos: int = 10,
    test_videos: int = 40,
    size: int = 96,
    grid: int = 2,
    seconds: int = 6,
    fps: int = 8,
    actors: tuple[int, int] = (2, 4),
    classes: tuple[int, ...] | None = None,
    seed: int = 0,
    false_alarms: float = 0.3,
    task: str = "actions",
    progress: bool = True,
    workers: int | None = None,
) -> dict:
    """Write the synthetic detection set (see the module docstring for the layout).

    Keyframes are the seconds ``902 .. 900 + seconds - 2`` of every video
    (``seconds=6``: 902, 903, 904). ``false_alarms``: expected number of
    spurious boxes per keyframe in the simulated ``*_predicted_boxes.csv``
    (scores below 0.6; true actors get their box jittered by up to 5% of its
    size and a score in [0.75, 1)). ``task="history"``: the long-term
    feature bank task of the module docstring (classes
    :data:`HISTORY_CLASSES`; ``actors`` is usually ``(1, 1)``). Returns the
    paths and counts.
    """
    if task not in ("actions", "history"):
        raise ValueError(f"task must be 'actions' or 'history', got {task!r}")
    if seconds < 5:
        raise ValueError(f"seconds must be >= 5 (keyframes 902 .. 900 + seconds - 2), got {seconds}")
    start = time.perf_counter()
    root = Path(out_dir)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "frame_lists").mkdir(parents=True, exist_ok=True)
    num_frames = seconds * fps
    counts = {"train": int(train_videos), "val": int(val_videos), "test": int(test_videos)}
    keyframes = list(range(AVA_START_SECOND + 2, AVA_START_SECOND + seconds - 1))
    jobs = [(str(root), s, i, _video_seed(seed, s, i), size, grid, num_frames, fps, actors, classes,
             task == "history") for s in _SPLITS for i in range(counts[s])]
    results = _run(jobs, workers, progress)
    names = list(HISTORY_CLASSES if task == "history" else _syn.CLASSES)
    labelmap = write_label_map(root / "annotations" / "action_list.pbtxt", names)
    paths = {}
    n_boxes = {}
    for split in _SPLITS:
        gt, det, vids = [], [], []
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB0, _SPLITS.index(split)]))
        for (_, s, *_), (vid, tracks) in zip(jobs, results):
            if s != split:
                continue
            vids.append(vid)
            for ts in keyframes:
                f = (ts - AVA_START_SECOND) * fps
                for tr in tracks:
                    b = tr["boxes"][f]
                    if np.isnan(b).any():
                        continue
                    nb = np.clip(b / size, 0.0, 1.0)
                    action = tr["label"] + (2 if task == "history" and ts > AVA_START_SECOND + 2 else 0)
                    gt.append(f"{vid},{ts:04d},{','.join(_fmt(v) for v in nb)},{action + 1},{tr['person_id']}\n")
                    w, h = nb[2] - nb[0], nb[3] - nb[1]
                    jb = np.clip(nb + rng.uniform(-0.05, 0.05, 4) * np.array([w, h, w, h]), 0.0, 1.0)
                    det.append(f"{vid},{ts:04d},{','.join(_fmt(v) for v in jb)},,{rng.uniform(0.75, 1.0):.4f}\n")
                for _ in range(rng.poisson(false_alarms)):
                    x1, y1 = rng.uniform(0, 0.8, 2)
                    w, h = rng.uniform(0.1, 0.2, 2)
                    det.append(f"{vid},{ts:04d},{_fmt(x1)},{_fmt(y1)},{_fmt(x1 + w)},{_fmt(y1 + h)},,"
                               f"{rng.uniform(0.05, 0.6):.4f}\n")
        ann = root / "annotations"
        (ann / f"{split}.csv").write_text("".join(gt))
        (ann / f"{split}_predicted_boxes.csv").write_text("".join(det))
        (ann / f"{split}_excluded_timestamps.csv").write_text("")
        (root / "frame_lists" / f"{split}.csv").write_text("".join(f"videos/{v}.mp4\n" for v in vids))
        paths[split] = str(ann / f"{split}.csv")
        n_boxes[split] = len(gt)
    if task == "history":
        marks = mark_frames(fps)
        extra = {"mark_frames": [marks.start, marks.stop - 1], "mark_second": AVA_START_SECOND + 2}
    else:
        extra = {}
    meta = {
        "generator": "vidlab.data.synthetic_detection",
        "generator_version": _syn.GENERATOR_VERSION,
        "seed": int(seed), "size": int(size), "grid": int(grid), "seconds": int(seconds), "fps": int(fps),
        "num_frames": num_frames, "actors": list(actors), "start_second": AVA_START_SECOND, "task": task,
        "keyframes": keyframes, "classes": names,
        "class_subset": None if classes is None else [int(c) for c in classes],
        "videos": counts, "boxes": n_boxes, **extra,
    }
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"root": str(root), "csv": paths, "labelmap": str(labelmap), "meta": str(root / "meta.json"),
            "videos": counts, "boxes": n_boxes, "seconds": time.perf_counter() - start}


def _run(jobs, workers, progress):
    from tqdm import tqdm

    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    with tqdm(total=len(jobs), desc="synthetic detection videos", unit="video", disable=not progress) as bar:
        if workers <= 1 or len(jobs) < 4:
            out = []
            for j in jobs:
                out.append(_job(j))
                bar.update()
            return out
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            out = []
            for r in pool.map(_job, jobs):
                out.append(r)
                bar.update()
            return out
