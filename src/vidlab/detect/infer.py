"""``vidlab detect``: actions of every person in a video, as tubes.

1. Person tracks: from a box file (:mod:`vidlab.detect.boxes`) or from the
   person detector (:mod:`vidlab.detect.person`) run on keyframes and linked by
   IoU.
2. Keyframes: every ``keyframe_interval`` seconds (frame ``round(k * interval *
   fps)``) that some track covers, plus the middle frame of a track no keyframe
   falls in.
3. On each keyframe, the action model sees the clip of its ``num_frames``
   frames ``sampling_rate`` apart centred there (clamped to the video),
   resized so the short side is the model's ``test_crop_size``, with the
   tracks' boxes; sigmoid scores per box.
4. A tube is a track with its boxes on every frame of ``[sf, ef)`` (stored or
   linearly interpolated between keyframes) and the mean of its keyframe
   scores.

Outputs: ``tubes.json`` (boxes ``x, y, w, h`` in pixels, frames ``[sf, ef)``,
the same layout as the UCF101-24 tubes), an AVA detection csv
(``video_id,timestamp,x1,y1,x2,y2,action_id,score``, boxes normalised;
timestamp = keyframe second, action ids from the checkpoint's label ids or
1-based), and an annotated mp4.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidlab.detect.boxes import Track, link_tracks, read_boxes
from vidlab.errors import VidlabError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm")


def keyframes_for(tracks: list[Track], fps: float, num_frames: int, interval: float) -> list[int]:
    step = max(interval * fps, 1.0)
    grid = sorted({round(k * step) for k in range(int(num_frames / step) + 1)} & set(range(num_frames)))
    out = set()
    for t in tracks:
        a, b = t.span()
        inside = [f for f in grid if a <= f < b]
        out.update(inside if inside else [(a + b - 1) // 2])
    return sorted(out)


def _clip(frames: np.ndarray, size: int, mean, std) -> tuple[torch.Tensor, float, float]:
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255.0)
    h, w = x.shape[-2:]
    nh, nw = (size, int(w / h * size)) if h <= w else (int(h / w * size), size)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    x = (x - torch.tensor(mean).view(3, 1, 1, 1)) / torch.tensor(std).view(3, 1, 1, 1)
    return x, nw / w, nh / h


def detect_video(model: torch.nn.Module, video: str | os.PathLike, *, boxes: str | os.PathLike | None = None,
                 detector=None, keyframe_interval: float = 1.0, video_id: str | None = None,
                 start_second: float | None = None, link_iou: float = 0.3, progress: bool = True,
                 on_keyframe=None) -> dict:
    """Run the action detector on a video; returns the tubes document (see the module docstring)."""
    from tqdm.auto import tqdm

    from vidlab.io import VideoReader

    meta = getattr(model, "meta", {}) or {}
    pre = meta.get("preprocessing") or {}
    num_frames = int(pre.get("num_frames", 32))
    rate = int(pre.get("sampling_rate", 2))
    size = int(pre.get("test_crop_size", 256))
    mean, std = pre.get("mean", (0.45,) * 3), pre.get("std", (0.225,) * 3)
    labels = meta.get("labels") or [str(i) for i in range(model.num_classes)]
    label_ids = meta.get("label_ids") or list(range(1, len(labels) + 1))
    if boxes is None and detector is None:
        raise VidlabError("no person boxes: give a box file (--boxes) or detector weights (--detector-weights)")
    with VideoReader(video, threads=0) as reader:
        info = reader.info
        n, fps = info.num_frames, info.fps
        if boxes is not None:
            tracks = read_boxes(boxes, fps=fps, width=info.width, height=info.height, num_frames=n,
                                video_id=video_id, video_path=video, start_second=start_second)
            kfs = keyframes_for(tracks, fps, n, keyframe_interval)
        else:
            step = max(keyframe_interval * fps, 1.0)
            kfs = sorted({round(k * step) for k in range(int(n / step) + 1)} & set(range(n)))
            dets = {}
            for f, d in zip(kfs, _detect_keyframes(detector, reader, kfs, progress)):
                if len(d):
                    dets[f] = d
            tracks = link_tracks(dets, iou=link_iou)
            kfs = sorted(dets)
        scores: dict[int, dict[int, np.ndarray]] = {t.track_id: {} for t in tracks}
        bar = tqdm(kfs, desc=f"detect {Path(video).name[:30]}", unit="keyframe", disable=not progress, leave=False)
        model.eval()
        for done, f in enumerate(bar, 1):
            live = [(t, t.box_at(f)) for t in tracks]
            live = [(t, b) for t, b in live if b is not None]
            if not live:
                continue
            idx = np.clip(f + (np.arange(num_frames) - num_frames // 2) * rate, 0, n - 1)
            x, sx, sy = _clip(reader.get_frames(idx), size, mean, std)
            bx = torch.tensor([[0.0, b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] for _, b in live],
                              dtype=torch.float32)
            with torch.no_grad():
                s = model(x[None], bx).sigmoid().numpy()
            for (t, _), row in zip(live, s):
                scores[t.track_id][f] = row
            if on_keyframe is not None:
                on_keyframe(done, len(kfs))
        bar.close()
    tubes = []
    for t in tracks:
        if not scores[t.track_id]:
            continue
        sf, ef = t.span()
        mean_scores = np.mean(list(scores[t.track_id].values()), axis=0)
        order = np.argsort(-mean_scores)
        tubes.append({
            "id": t.track_id, "sf": sf, "ef": ef,
            "boxes": [[round(float(v), 2) for v in _xywh(t.box_at(f))] for f in range(sf, ef)],
            "label": int(order[0]), "label_name": labels[int(order[0])], "score": float(mean_scores[order[0]]),
            "scores": {labels[int(k)]: round(float(mean_scores[k]), 6) for k in order[:5]},
            "keyframes": [{"frame": f, "second": round(_nominal_second(f, fps, keyframe_interval) + (start_second or 0), 3),
                           "box": [round(float(v), 2) for v in _xywh(t.box_at(f))],
                           "scores": [round(float(v), 6) for v in scores[t.track_id][f]]}
                          for f in sorted(scores[t.track_id])],
        })
    return {"video": str(video), "video_id": video_id or Path(video).stem, "fps": fps, "width": info.width,
            "height": info.height, "num_frames": n, "labels": labels, "label_ids": label_ids,
            "checkpoint_arch": meta.get("arch"), "person_boxes": str(boxes) if boxes is not None else "detector",
            "keyframes": kfs, "keyframe_interval": keyframe_interval, "box_format": "x, y, w, h in pixels; boxes[i] belongs to frame sf + i, frames [sf, ef)",
            "tubes": tubes}


def _detect_keyframes(detector, reader, kfs, progress):
    from tqdm.auto import tqdm

    out = []
    for f in tqdm(kfs, desc="person detector", unit="keyframe", disable=not progress, leave=False):
        out.extend(detector(reader.get_frames([f])))
    return out


def _xywh(b) -> list[float]:
    return [b[0], b[1], b[2] - b[0], b[3] - b[1]]


def write_tubes(doc: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def write_csv(doc: dict, path: str | os.PathLike, *, min_score: float = 0.0, start_second: float = 0.0) -> Path:
    """AVA detection rows for every keyframe box and class with score >= ``min_score``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h, fps = doc["width"], doc["height"], doc["fps"]
    with open(path, "w") as f:
        for tube in doc["tubes"]:
            for kf in tube["keyframes"]:
                x, y, bw, bh = kf["box"]
                box = f"{max(x / w, 0):.4f},{max(y / h, 0):.4f},{min((x + bw) / w, 1):.4f},{min((y + bh) / h, 1):.4f}"
                sec = _nominal_second(kf["frame"], fps, doc.get("keyframe_interval", 1.0)) + start_second
                ts = f"{round(sec):04d}" if abs(sec - round(sec)) < 1e-6 else f"{sec:.3f}"
                for cid, s in zip(doc["label_ids"], kf["scores"]):
                    if s >= min_score:
                        f.write(f"{doc['video_id']},{ts},{box},{cid},{s:.6f}\n")
    return path


def _nominal_second(frame: int, fps: float, interval: float) -> float:
    """The keyframe's second on the keyframe grid (frame 30 at 29.97 fps is second 1), else frame / fps."""
    k = round(frame / (interval * fps))
    return k * interval if round(k * interval * fps) == frame else frame / fps


def write_annotated(doc: dict, out: str | os.PathLike, *, progress: bool = True) -> Path:
    """The video with every tube's box and its top action drawn (H.264 mp4)."""
    import cv2
    from tqdm.auto import tqdm

    from vidlab.io import VideoReader, write_video

    palette = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]

    def frames():
        with VideoReader(doc["video"]) as r:
            for i, fr in enumerate(tqdm(r.iter_frames(), total=doc["num_frames"], desc="draw", unit="frame",
                                        disable=not progress, leave=False)):
                fr = np.ascontiguousarray(fr)
                for k, t in enumerate(doc["tubes"]):
                    if t["sf"] <= i < t["ef"]:
                        x, y, w, h = t["boxes"][i - t["sf"]]
                        c = palette[k % len(palette)]
                        cv2.rectangle(fr, (int(x), int(y)), (int(x + w), int(y + h)), c, 2)
                        text = f"{t['label_name'][:24]} {t['score']:.2f}"
                        cv2.putText(fr, text, (int(x), max(int(y) - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1,
                                    cv2.LINE_AA)
                yield fr

    return write_video(out, frames(), doc["fps"])


def output_paths(out: str | os.PathLike, csv: str | os.PathLike | None) -> dict:
    """``--out DIR`` -> DIR/{tubes.json, detections.csv, annotated.mp4}; ``--out X.mp4`` -> X.mp4 with
    X.tubes.json and X.csv beside it. ``--csv`` overrides the csv path."""
    out = Path(out)
    if out.suffix.lower() in VIDEO_SUFFIXES:
        paths = {"video": out, "tubes": out.with_suffix(".tubes.json"), "csv": out.with_suffix(".csv")}
    else:
        if out.exists() and not out.is_dir():
            raise VidlabError(f"{out}: --out must be a folder or a .mp4 path")
        paths = {"video": out / "annotated.mp4", "tubes": out / "tubes.json", "csv": out / "detections.csv"}
    if csv is not None:
        paths["csv"] = Path(csv)
    return paths
