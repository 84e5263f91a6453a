"""Person boxes for ``vidlab detect``: read from files, link into tracks.

Supported files:

* AVA csv (``video_id,timestamp,x1,y1,x2,y2[,action[,person_id|score]]``):
  boxes normalised to [0, 1] on whole-second keyframes. The rows of the
  video (``video_id`` given, or the only one in the file, or the video's file
  stem) are used; timestamp ``s`` is frame ``round((s - start_second) * fps)``,
  where ``start_second`` is 900 when every timestamp is >= 900 but the video is
  shorter than 900 s (an AVA 15-minute cut), else 0. Rows of one box merge; the
  8th column is a person id when it is an integer (ground truth), else a score.
* tube JSON (the UCF101-24 tubes of ``../shared``, and what ``vidlab detect``
  writes): ``{"tubes": [{"sf": first, "ef": end (exclusive), "boxes": [[x, y, w, h],
  ...]}]}`` in pixels, ``boxes[i]`` on frame ``sf + i``.
* frame JSON: ``{"frames": {"<frame>": [[x1, y1, x2, y2(, score)], ...]}}`` in pixels.

Everything becomes :class:`Track` objects: an id and per-frame pixel
``x1, y1, x2, y2`` boxes with a score. Detections without identities are
linked frame to frame by :func:`link_tracks` (greedy, highest IoU first).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidlab.errors import VidlabError


@dataclass
class Track:
    track_id: int
    boxes: dict = field(default_factory=dict)  # frame -> np.ndarray (4,) x1,y1,x2,y2 pixels
    scores: dict = field(default_factory=dict)  # frame -> float

    @property
    def frames(self) -> list[int]:
        return sorted(self.boxes)

    def span(self) -> tuple[int, int]:
        f = self.frames
        return f[0], f[-1] + 1

    def box_at(self, frame: int) -> np.ndarray | None:
        """The box on ``frame``: stored, else linearly interpolated between the nearest stored frames."""
        if frame in self.boxes:
            return self.boxes[frame]
        f = self.frames
        if not f or frame < f[0] or frame > f[-1]:
            return None
        j = int(np.searchsorted(f, frame))
        a, b = f[j - 1], f[j]
        w = (frame - a) / (b - a)
        return (1 - w) * self.boxes[a] + w * self.boxes[b]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def link_tracks(detections: dict[int, np.ndarray], *, iou: float = 0.3, max_gap: int | None = None) -> list[Track]:
    """Link per-frame detections ``{frame: (K, 5) x1,y1,x2,y2,score}`` into tracks.

    Frames are visited in order; each detection joins the live track whose last
    box overlaps it most (IoU >= ``iou``, each track at most once per frame,
    best pairs first), else starts a new track. A track not extended for more
    than ``max_gap`` frames (default: never) is closed.
    """
    tracks: list[Track] = []
    last: dict[int, int] = {}
    for frame in sorted(detections):
        det = np.asarray(detections[frame], float).reshape(-1, 5)
        live = [t for t in tracks if max_gap is None or frame - last[t.track_id] <= max_gap]
        taken_t, taken_d = set(), set()
        if live and len(det):
            ious = iou_matrix(det[:, :4], np.stack([t.boxes[last[t.track_id]] for t in live]))
            for flat in np.argsort(-ious, axis=None):
                d, k = np.unravel_index(flat, ious.shape)
                if ious[d, k] < iou:
                    break
                if d in taken_d or k in taken_t:
                    continue
                taken_d.add(d)
                taken_t.add(k)
                live[k].boxes[frame], live[k].scores[frame] = det[d, :4], float(det[d, 4])
                last[live[k].track_id] = frame
        for d in range(len(det)):
            if d not in taken_d:
                t = Track(len(tracks), {frame: det[d, :4]}, {frame: float(det[d, 4])})
                tracks.append(t)
                last[t.track_id] = frame
    return tracks


def _is_int(s: str) -> bool:
    try:
        int(s)
        return True
    except ValueError:
        return False


def read_boxes(path: str | os.PathLike, *, fps: float, width: int, height: int, num_frames: int,
               video_id: str | None = None, video_path: str | os.PathLike | None = None,
               start_second: float | None = None) -> list[Track]:
    """Person tracks of one video from an AVA csv or a JSON file (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise VidlabError(f"{path}: person box file not found")
    if path.suffix.lower() == ".json":
        return _read_json(path, num_frames)
    return _read_csv(path, fps=fps, width=width, height=height, num_frames=num_frames, video_id=video_id,
                     video_path=video_path, start_second=start_second)


def _read_json(path: Path, num_frames: int) -> list[Track]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise VidlabError(f"{path}: not a JSON file ({e})") from None
    tracks = []
    if isinstance(doc, dict) and "tubes" in doc:
        for n, tube in enumerate(doc["tubes"]):
            try:
                sf, ef, boxes = int(tube["sf"]), int(tube["ef"]), np.asarray(tube["boxes"], float)
            except (KeyError, TypeError, ValueError):
                raise VidlabError(f"{path}: tube {n} needs sf, ef and boxes [[x, y, w, h], ...]") from None
            if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != ef - sf:
                raise VidlabError(f"{path}: tube {n} has {len(boxes)} boxes for frames [{sf}, {ef})")
            t = Track(int(tube.get("id", n)))
            for i, (x, y, w, h) in enumerate(boxes):
                if 0 <= sf + i < num_frames:
                    t.boxes[sf + i] = np.array([x, y, x + w, y + h], float)
                    t.scores[sf + i] = float(tube.get("person_score", 1.0))
            if t.boxes:
                tracks.append(t)
    elif isinstance(doc, dict) and "frames" in doc:
        dets = {}
        for k, rows in doc["frames"].items():
            arr = np.asarray(rows, float)
            if arr.ndim != 2 or arr.shape[1] not in (4, 5):
                raise VidlabError(f"{path}: frame {k}: boxes must be [[x1, y1, x2, y2(, score)], ...]")
            if arr.shape[1] == 4:
                arr = np.concatenate([arr, np.ones((len(arr), 1))], 1)
            if 0 <= int(k) < num_frames:
                dets[int(k)] = arr
        tracks = link_tracks(dets)
    else:
        raise VidlabError(f'{path}: expected {{"tubes": [...]}} or {{"frames": {{...}}}}')
    if not tracks:
        raise VidlabError(f"{path}: no boxes inside the video's {num_frames} frames")
    return tracks


def _read_csv(path: Path, *, fps, width, height, num_frames, video_id, video_path, start_second) -> list[Track]:
    rows = []
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) < 6:
                raise VidlabError(f"{path}:{n}: expected video_id,timestamp,x1,y1,x2,y2[,action[,person_id|score]]")
            try:
                rows.append((row[0], float(row[1]), [float(v) for v in row[2:6]],
                             row[7].strip() if len(row) > 7 else ""))
            except ValueError:
                raise VidlabError(f"{path}:{n}: malformed row {','.join(row)!r}") from None
    if not rows:
        raise VidlabError(f"{path}: no boxes")
    vids = sorted({r[0] for r in rows})
    if video_id is None:
        stem = Path(video_path).stem if video_path is not None else None
        if len(vids) == 1:
            video_id = vids[0]
        elif stem in vids:
            video_id = stem
        else:
            raise VidlabError(f"{path}: boxes of {len(vids)} videos; pass --video-id (one of {', '.join(vids[:5])}...)")
    rows = [r for r in rows if r[0] == video_id]
    if not rows:
        raise VidlabError(f"{path}: no boxes for video {video_id!r}")
    if start_second is None:
        start_second = 900.0 if min(r[1] for r in rows) >= 900 and num_frames / fps < 900 else 0.0
    with_ids = all(_is_int(r[3]) for r in rows)
    by_frame: dict[int, dict] = {}
    for vid, ts, box, last in rows:
        frame = round((ts - start_second) * fps)
        if not 0 <= frame < num_frames:
            continue
        px = np.array(box) * np.array([width, height, width, height])
        key = int(last) if with_ids else tuple(np.round(box, 4))
        score = 1.0 if with_ids or not last else float(last)
        by_frame.setdefault(frame, {})[key] = (px, score)
    if not by_frame:
        raise VidlabError(f"{path}: no box of {video_id!r} falls inside the video (start second {start_second:g}, "
                          f"{num_frames} frames at {fps:g} fps)")
    if with_ids:
        tracks: dict[int, Track] = {}
        for frame, d in by_frame.items():
            for pid, (px, score) in d.items():
                t = tracks.setdefault(pid, Track(pid))
                t.boxes[frame], t.scores[frame] = px, score
        return [tracks[k] for k in sorted(tracks)]
    return link_tracks({f: np.array([[*px, s] for px, s in d.values()]) for f, d in by_frame.items()})
