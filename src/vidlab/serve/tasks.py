"""What the web app's jobs do: classify a video, cartoonize a photo.

Both are thin layers over the Python API (``vidlab.engine.inference`` and
``vidlab.cartoon``); they add the progress reports, the timeline the page
plots, the annotated video and the files a job leaves in its folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.serve.jobs import Job, JobFailed

# Share of the progress bar given to classification when an annotated video follows.
_CLASSIFY_SHARE = 0.7


def classify_task(job: Job, model: Any, *, topk: int, stride: float | None, annotate: bool,
                  max_side: int, heatmap: bool = False) -> dict:
    """Sliding-window classification of ``job.files['input']`` with a timeline and an annotated video."""
    from vidlab.engine.inference import classify_video
    from vidlab.io import VideoDecodeError

    meta = getattr(model, "meta", {}) or {}
    labels = list(meta.get("labels") or [])
    num_classes = len(labels) or int(meta.get("num_classes") or 0)
    share = _CLASSIFY_SHARE if annotate else 1.0

    def on_window(done: int, total: int) -> None:
        job.report(share * done / max(total, 1), f"classifying: window {done} of {total}")

    job.report(0.0, "decoding")
    try:
        # every class per window, so the timeline can follow the video's top classes
        res = classify_video(model, str(job.files["input"]), topk=max(num_classes, topk), stride=stride,
                             on_window=on_window)
    except VideoDecodeError as e:  # name the upload, not the server's copy
        raise JobFailed(f"{job.name}: {e.reason}") from None
    result = summarize(res, topk)
    result["name"] = job.name
    result["model"] = {"arch": meta.get("arch") or getattr(model, "arch", None), "num_classes": num_classes}
    if annotate:
        job.report(share, "drawing the annotated video")
        path = job.dir / "annotated.mp4"
        annotated_video(job, job.files["input"], result, path, max_side=max_side, start=share)
        job.files["video"] = path
        result["video_url"] = f"/api/jobs/{job.id}/video"
    if heatmap:
        job.report(0.97, "Grad-CAM of the top window")
        result.update(heatmap_video(job, model, result))
    result["json_url"] = f"/api/jobs/{job.id}/result.json"
    out = job.dir / "result.json"
    out.write_text(json.dumps(result, indent=2))
    job.files["json"] = out
    return result


def heatmap_video(job: Job, model: Any, result: dict) -> dict:
    """Grad-CAM (:func:`vidlab.explain.explain_video`) of the window where the video's top class
    scores highest, for that class: ``{"heatmap_url", "heatmap": {...}}``, or ``{"heatmap_error":
    reason}`` when the model cannot be explained (a compressed or exported model, another input kind).

    The explanation runs on a copy of the model: its hooks must not see other jobs' forwards."""
    import copy

    from vidlab.errors import VidlabError
    from vidlab.explain import explain_video

    if not result["top"] or not result["windows"]:
        return {"heatmap_error": "no window to explain"}
    label = result["top"][0]["label"]
    best = max(result["windows"], key=lambda w: next((t["score"] for t in w["top"] if t["label"] == label), 0.0))
    try:
        twin = copy.deepcopy(model)
        doc = explain_video(twin, job.files["input"], job.dir / "explain", class_index=label,
                            start=float(best["start_sec"]))
    except (VidlabError, RuntimeError, TypeError, ValueError) as e:  # e.g. an int8 or scripted model has no grads
        return {"heatmap_error": f"no Grad-CAM for this model: {' '.join(str(e).split())[:200]}"}
    first = doc["maps"][0]
    job.files["heatmap"] = Path(first["video"])
    return {"heatmap_url": f"/api/jobs/{job.id}/heatmap",
            "heatmap": {"label": doc["class"]["label"], "prob": doc["class"]["prob"], "layer": first["layer"],
                        "pathway": first["pathway"], "start_sec": doc["window"]["start_sec"],
                        "end_sec": doc["window"]["end_sec"]}}


def summarize(res: dict, topk: int) -> dict:
    """Trim ``classify_video``'s all-class windows to ``topk`` and add the timeline:
    window centres (s) and, for each of the video's top-k classes, its score per window."""
    top = res["top"][:topk]
    times, series = [], {t["label"]: [] for t in top}
    windows = []
    for w in res["windows"]:
        times.append(round((w["start_sec"] + w["end_sec"]) / 2, 3))
        scores = {t["label"]: t["score"] for t in w["top"]}
        for label, values in series.items():
            values.append(round(scores.get(label, 0.0), 6))
        windows.append({**w, "top": w["top"][:topk]})
    return {
        "fps": res["fps"], "num_frames": res["num_frames"], "duration": res["duration"],
        "activation": res.get("activation", "softmax"), "top": top, "windows": windows,
        "timeline": {"times": times, "series": [{"label": k, "scores": v} for k, v in series.items()]},
    }


def annotated_video(job: Job, src: Path, result: dict, dst: Path, *, max_side: int, start: float) -> Path:
    """The input with the current window's top classes drawn on every frame (H.264 mp4)."""
    from PIL import Image

    from vidlab.evaluation.visualize import annotate_frame
    from vidlab.io import VideoReader, write_video

    windows = result["windows"]
    centres = np.array([(w["start_sec"] + w["end_sec"]) / 2 for w in windows])
    fps = float(result["fps"]) or 25.0
    total = max(int(result["num_frames"]), 1)

    def lines_at(t: float):
        w = windows[int(np.abs(centres - t).argmin())]
        out = [(f"{w['top'][0]['label']}  {w['top'][0]['score']:.2f}", (255, 255, 80))]
        out += [(f"{x['label']}  {x['score']:.2f}", (235, 235, 235)) for x in w["top"][1:3]]
        return out

    def frames():
        with VideoReader(src) as reader:
            for i, frame in enumerate(reader.iter_frames()):
                if i % 16 == 0:
                    job.report(start + (1 - start) * min(i / total, 1.0), "drawing the annotated video")
                h, w = frame.shape[:2]
                scale = 1
                if max(h, w) > max_side:  # large inputs shrink so the file stays small
                    f = max_side / max(h, w)
                    frame = np.asarray(Image.fromarray(frame).resize((max(2, round(w * f)), max(2, round(h * f))),
                                                                     Image.BILINEAR))
                elif max(h, w) * 2 <= max_side:  # tiny ones grow so the text is readable
                    scale = max_side // max(h, w)
                yield annotate_frame(frame, lines_at(i / fps), scale)

    return write_video(dst, frames(), fps, crf=23)


def cartoonize_task(job: Job, cartoonize, *, style: str, weights: Any, load_size: int, max_pixels: int) -> dict:
    """Stylize ``job.files['input']``; writes ``cartoon.png``."""
    from PIL import Image

    job.report(0.05, "reading the photo")
    rgb = read_photo(job.files["input"], max_pixels)
    job.report(0.1, f"cartoonizing ({style})")
    out = cartoonize(rgb, style=style, weights=weights, load_size=load_size)
    out = np.asarray(out)
    if out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
        raise RuntimeError(f"cartoonizer returned {out.dtype} {out.shape}, expected (H, W, 3) uint8")
    job.report(0.95, "saving")
    path = job.dir / "cartoon.png"
    Image.fromarray(out).save(path, format="PNG")
    job.files["image"] = path
    return {
        "name": job.name, "style": style,
        "input_size": [int(rgb.shape[1]), int(rgb.shape[0])], "output_size": [int(out.shape[1]), int(out.shape[0])],
        "image_url": f"/api/jobs/{job.id}/image", "original_url": f"/api/jobs/{job.id}/original",
    }


def read_photo(path: Path, max_pixels: int) -> np.ndarray:
    """RGB uint8 of an uploaded photo, upright (EXIF orientation applied); JobFailed on bad input."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise JobFailed(f"image too large: {w}x{h} pixels (at most {max_pixels:,})", status=413)
                im = ImageOps.exif_transpose(im)
                return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise JobFailed(f"not a readable image ({type(e).__name__})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise JobFailed(f"corrupt or unsupported image: {e}") from None
