"""Flow extraction from video files (what ``vidlab flow`` runs).

Each video gets a folder ``OUT/<stem>/`` (see :mod:`vidlab.flow.storage` for
its files). The folder is built under ``OUT/.<stem>.partial/`` and renamed
when complete, with the sidecar written last, so an interrupted run leaves no
half folder under the final name; running again skips the finished videos
(same method, parameters, format, stride and bound) and redoes the rest.

``stride`` N: the video's frames ``0, N, 2N, ...`` are kept and flow is
computed between consecutive kept frames, so flow k goes from frame ``k N``
to ``(k + 1) N``; ``img_{k+1}.jpg`` is frame ``k N``. A video of T frames
gives ``ceil(T / N)`` kept frames and one flow field fewer.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vidlab.errors import VidlabError
from vidlab.flow import storage
from vidlab.flow.methods import FlowEstimator, get_estimator

__all__ = ["FORMATS", "FlowExtractionError", "extract_video_flow", "extract_flows", "output_dir_for"]

FORMATS = ("jpg", "npy")


class FlowExtractionError(VidlabError, RuntimeError):
    """Flow could not be extracted (a bad video, a conflicting earlier output...)."""


def output_dir_for(video: str | os.PathLike, out_root: str | os.PathLike) -> Path:
    """``OUT/<video file stem>``."""
    return Path(out_root) / Path(video).stem


def _settings(estimator: FlowEstimator, fmt: str, stride: int, bound: float, rgb: bool) -> dict:
    return {"method": estimator.name, "params": estimator.params(), "format": fmt, "stride": int(stride),
            "bound": float(bound), "rgb_frames": bool(rgb)}


def _same_settings(meta: dict, settings: dict) -> bool:
    return all(meta.get(k) == v for k, v in settings.items())


def extract_video_flow(
    video: str | os.PathLike,
    out_dir: str | os.PathLike,
    estimator: FlowEstimator | str = "farneback",
    *,
    fmt: str = "jpg",
    stride: int = 1,
    bound: float = storage.DEFAULT_BOUND,
    rgb: bool = True,
    visualize: bool = False,
    overwrite: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> dict:
    """Compute and store the flow of one video in ``out_dir``; returns its sidecar.

    ``fmt="jpg"``: quantised ``x_/y_%05d.jpg`` pairs (and ``img_%05d.jpg``
    frames when ``rgb``); ``"npy"``: ``flow.npy`` (T-1, 2, H, W) float32 pixels
    (and the frames as JPEGs when ``rgb``). ``visualize`` adds ``flow.mp4``
    (colour wheel). An existing complete folder with the same settings is
    returned as is (``"skipped": True``); with other settings it is an error
    unless ``overwrite``. ``on_frame(done, total)`` reports progress.
    """
    from vidlab.io import VideoReader

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if isinstance(estimator, str):
        estimator = get_estimator(estimator)
    out_dir = Path(out_dir)
    settings = _settings(estimator, fmt, stride, bound, rgb)
    meta = storage.read_sidecar(out_dir) if out_dir.is_dir() else None
    if meta is not None and meta.get("complete"):
        if _same_settings(meta, settings) and (not visualize or (out_dir / "flow.mp4").exists()):
            return {**meta, "skipped": True}
        if not overwrite:
            raise FlowExtractionError(
                f"{out_dir}: holds flow made with other settings ({meta.get('method')}, format {meta.get('format')}, "
                f"stride {meta.get('stride')}); pass --overwrite or another --out"
            )
    elif out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FlowExtractionError(f"{out_dir}: exists and is not a flow folder (no complete {storage.SIDECAR}); "
                                  "pass --overwrite or another --out")

    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        with VideoReader(video) as reader:
            info = reader.info
            total = max(1, -(-info.num_frames // stride) - 1)
            flows_npy: list[np.ndarray] = []
            vis_flows: list[np.ndarray] = []
            n_frames = n_flows = 0
            prev = None
            for i, frame in enumerate(reader.iter_frames()):
                if i % stride:
                    continue
                if rgb:
                    storage.write_frames_jpg(tmp, [frame], start=n_frames + 1)
                n_frames += 1
                if prev is not None:
                    flow = estimator(prev, frame)
                    n_flows += 1
                    if fmt == "jpg":
                        storage.write_flow_jpg(tmp, flow[None], bound=bound, start=n_flows)
                    else:
                        flows_npy.append(flow)
                    if visualize:
                        vis_flows.append(flow.astype(np.float16))
                    if on_frame is not None:
                        on_frame(n_flows, total)
                prev = frame
        if n_flows == 0:
            raise FlowExtractionError(f"{video}: {n_frames} frame(s) kept at stride {stride}; flow needs at least 2")
        height, width = prev.shape[:2]
        if fmt == "npy":
            storage.save_flow_npy(tmp / storage.FLOW_NPY, np.stack(flows_npy))
        if visualize:
            from vidlab.flow.visualize import write_flow_video

            fps = info.fps / stride if info.fps else 25.0
            write_flow_video(tmp / "flow.mp4", np.stack(vis_flows).astype(np.float32), fps)
        meta = {
            **settings,
            "video": str(video),
            "num_frames": n_frames,
            "num_flows": n_flows,
            "height": int(height),
            "width": int(width),
            "fps": float(info.fps / stride) if info.fps else None,
            "start_index": 1,
            "img_tmpl": storage.IMG_TMPL if rgb else None,
            "flow_tmpl": storage.FLOW_TMPL if fmt == "jpg" else None,
            "flow_npy": storage.FLOW_NPY if fmt == "npy" else None,
            "quantization": "v = round(255 * (clip(f, -bound, bound) + bound) / (2 * bound)); "
                            "f = v * 2 * bound / 255 - bound" if fmt == "jpg" else None,
            "units": "pixels; x (columns) then y (rows); flow k maps kept frame k to k + 1",
            "seconds": round(time.perf_counter() - t0, 3),
        }
        storage.write_sidecar(tmp, meta)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return {**meta, "complete": True, "skipped": False}


def extract_flows(
    videos: Sequence[str | os.PathLike],
    out_root: str | os.PathLike,
    estimator: FlowEstimator | str = "farneback",
    *,
    fmt: str = "jpg",
    stride: int = 1,
    bound: float = storage.DEFAULT_BOUND,
    rgb: bool = True,
    visualize: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_error: Callable[[str, Exception], None] | None = None,
) -> list[dict]:
    """Extract many videos into ``out_root/<stem>/`` (resumable, see the module doc).

    Returns one dict per video: the sidecar plus ``"dir"`` and ``"skipped"``,
    or ``{"video", "error"}`` for a video that failed (``on_error`` is told and
    the others go on; without ``on_error`` the error is raised).
    """
    import sys

    from tqdm.auto import tqdm

    stems: dict[str, str] = {}
    for v in videos:
        s = Path(v).stem
        if s in stems and stems[s] != str(v):
            raise FlowExtractionError(f"two inputs would share the output folder {s!r}: {stems[s]} and {v}")
        stems[s] = str(v)
    if isinstance(estimator, str):
        estimator = get_estimator(estimator)
    Path(out_root).mkdir(parents=True, exist_ok=True)
    results = []
    # bars only on a terminal (disable=None): a log file or a pipe gets the result lines alone
    outer = tqdm(videos, desc=f"flow ({estimator.name})", unit="video", disable=None if progress else True,
                 file=sys.stderr, dynamic_ncols=True)
    for v in outer:
        inner = []

        def tick(done: int, total: int, inner=inner, name=Path(v).name[:30]) -> None:
            if not progress:
                return
            if not inner:
                inner.append(tqdm(total=total, desc=name, unit="field", leave=False, file=sys.stderr,
                                  dynamic_ncols=True, disable=None))
            inner[0].update(done - inner[0].n)

        out_dir = output_dir_for(v, out_root)
        try:
            res = extract_video_flow(v, out_dir, estimator, fmt=fmt, stride=stride, bound=bound, rgb=rgb,
                                     visualize=visualize, overwrite=overwrite, on_frame=tick)
            results.append({**res, "dir": str(out_dir)})
        except VidlabError as e:
            if on_error is None:
                raise
            on_error(str(v), e)
            results.append({"video": str(v), "error": str(e)})
        finally:
            for b in inner:
                b.close()
    return results
