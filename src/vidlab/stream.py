"""Online action recognition over a live source: a webcam, an RTSP/HTTP stream or a file.

Frames arrive one at a time. :class:`OnlineRecognizer` keeps only the frames
that a coming window will sample, already scaled, cropped and normalised, so
memory stays at a few clips whatever the input size. Windows have the
model's own clip span (``num_frames * sampling_rate`` frames at its
``target_fps``, as in ``vidlab classify``) and start ``stride`` seconds apart
(default: a quarter span); each window is classified as soon as its last frame
has arrived, and the reported action is the mean of the last ``smooth``
windows' probabilities (temporal smoothing, ``smooth=1``: none). Scores are
softmax probabilities, or per-class sigmoids for a multi-label checkpoint
(:func:`vidlab.models.is_multi_label`), as in ``vidlab classify``.

A window samples the same frames and runs the same transform as
:func:`vidlab.engine.inference.classify_video` would for a window starting at
the same frame, so on a file the two give the same per-window scores.

Latency is measured from the moment the window's last frame came out of the
decoder to the moment its prediction is ready (preprocessing of that frame,
the forward pass and smoothing).

The frame-buffer bookkeeping (which frame a coming window samples, when a
window is complete, when a frame can be dropped) is :class:`SlidingWindows`,
shared with the feature extractor of :mod:`vidlab.localize.features`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidlab.engine.inference import Preprocessing, activation_of, class_scores
from vidlab.errors import VidlabError


@dataclass
class StreamUpdate:
    """One classified window."""

    window: int  # 0-based window number
    frame: int  # index of the window's last frame
    time: float  # seconds into the stream of that frame
    start: float  # seconds: the window's first frame
    top: list[dict]  # smoothed top-k ``{"label", "index", "score"}``
    raw_top: list[dict]  # this window alone
    latency_ms: float

    @property
    def label(self) -> str:
        return self.top[0]["label"]

    @property
    def score(self) -> float:
        return self.top[0]["score"]

    def as_dict(self) -> dict:
        return {"window": self.window, "frame": self.frame, "time": round(self.time, 3),
                "start": round(self.start, 3), "label": self.label, "score": round(self.score, 6),
                "top": self.top, "raw_top": self.raw_top, "latency_ms": round(self.latency_ms, 3)}


@dataclass
class Window:
    """One sliding window: its number, first source frame (a float) and the frames it samples."""

    k: int
    start: float
    indices: np.ndarray
    needed: set = field(default_factory=set)


class SlidingWindows:
    """Sliding windows over frames that arrive one by one, in order, keeping only what they need.

    Window ``k`` starts at source frame ``k * stride`` (a float) and samples
    ``num_samples`` frames, ``linspace(start, start + span - 1)`` truncated to
    integers (:func:`vidlab.data.sampling.linspace_indices`, PySlowFast's
    rule, as :func:`vidlab.engine.inference.classify_video` samples its
    windows). A window is opened when its first frame arrives, a frame is
    converted (``frame()`` when it is a callable) and ``transform``-ed only if
    an open window samples it, and it is dropped once no open window needs
    it: memory holds the frames of the windows that overlap the current one,
    whatever the length of the input. :meth:`add` returns the windows that a
    frame completes, each with its frames stacked along dim 1 (``(C, T, ...)``
    for a ``(C, ...)`` transform); :meth:`flush` ends the input.
    """

    def __init__(self, span: float, stride: float, num_samples: int,
                 transform: Callable[[np.ndarray], torch.Tensor]):
        from vidlab.data.sampling import linspace_indices

        self.span, self.stride, self.num_samples = float(span), float(stride), int(num_samples)
        self.transform = transform
        self._linspace = linspace_indices
        self._frames: dict[int, torch.Tensor] = {}
        self._open: deque[Window] = deque()
        self._next_k = 0
        self._last: tuple[int, np.ndarray | Callable[[], np.ndarray]] | None = None

    def window_start(self, k: int) -> float:
        return k * self.stride

    @property
    def buffered(self) -> int:
        """How many transformed frames are held now."""
        return len(self._frames)

    def needs(self, index: int) -> bool:
        """Whether frame ``index`` is sampled by any window (call before decoding it to RGB)."""
        self._open_windows(index)
        return any(index in w.needed for w in self._open)

    def add(self, index: int, frame: np.ndarray | Callable[[], np.ndarray]) -> list[tuple[Window, torch.Tensor]]:
        """Give frame ``index`` (an RGB array, or a callable returning one, called only when
        the frame is needed); returns the windows it completes (usually none or one)."""
        if self.needs(index):
            self._frames[index] = self.transform(frame() if callable(frame) else frame)
        self._last = (index, frame)
        done = []
        while self._open and int(self._open[0].indices.max()) <= index:
            w = self._open.popleft()
            done.append((w, self._stack(w.indices)))
        if done:
            keep = min((int(w.indices.min()) for w in self._open), default=index + 1)
            for j in [j for j in self._frames if j < keep]:
                del self._frames[j]
        return done

    def flush(self) -> list[tuple[Window, torch.Tensor]]:
        """End of input: the windows still open (their first frame arrived, their last did
        not), each padded by repeating the last frame given; the buffer is emptied."""
        out: list[tuple[Window, torch.Tensor]] = []
        if self._last is not None:
            last, frame = self._last
            while self._open:
                w = self._open.popleft()
                idx = np.minimum(w.indices, last)
                if last not in self._frames:
                    self._frames[last] = self.transform(frame() if callable(frame) else frame)
                out.append((w, self._stack(idx)))
        self._frames.clear()
        self._last = None
        return out

    def _stack(self, indices: np.ndarray) -> torch.Tensor:
        return torch.stack([self._frames[int(i)] for i in indices], dim=1)

    def _open_windows(self, index: int) -> None:
        # a window may sample frame floor(start) (indices truncate), so open it by then
        while math.floor(self.window_start(self._next_k)) <= index:
            s = self.window_start(self._next_k)
            idx = self._linspace(s, s + self.span - 1, self.num_samples, 2**62)
            self._open.append(Window(self._next_k, s, idx, {int(i) for i in idx}))
            self._next_k += 1


class OnlineRecognizer(SlidingWindows):
    """Sliding-window classification of frames pushed one by one.

    ``fps`` is the source's frame rate (it converts the model's clip span and
    the stride to frames). ``stride`` is in seconds (default: a quarter of the
    clip span); ``smooth`` is how many recent windows are averaged.
    """

    def __init__(self, model: nn.Module, fps: float, *, stride: float | None = None, smooth: int = 3,
                 topk: int = 3, labels: list[str] | None = None, device: torch.device | str = "cpu"):
        from vidlab.data.sampling import clip_size

        if smooth < 1:
            raise VidlabError(f"smooth must be at least 1, got {smooth}")
        if fps is None or not math.isfinite(fps) or fps <= 0:
            raise VidlabError(f"the source reports no usable frame rate ({fps})")
        self.model = model.eval()
        self.device = torch.device(device)
        self.pre = pre = Preprocessing.from_model(model)
        meta = getattr(model, "meta", {}) or {}
        n = int(meta.get("num_classes") or 0)
        self.labels = labels or meta.get("labels") or [str(i) for i in range(max(n, 1))]
        self.activation = activation_of(meta)  # "sigmoid" for a multi-label checkpoint
        self.fps = float(fps)
        span = clip_size(pre.num_frames, pre.sampling_rate, self.fps, pre.target_fps)  # source frames, >= 1
        super().__init__(span, float(stride) * self.fps if stride else span / 4, pre.num_frames, self.preprocess)
        if self.stride <= 0:
            raise VidlabError(f"stride must be positive, got {stride}")
        self.topk = topk
        self.smooth = smooth
        self._recent: deque[torch.Tensor] = deque(maxlen=smooth)
        self.windows_done = 0

    # -- frames ----------------------------------------------------------------------
    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """One ``(H, W, 3)`` uint8 frame -> ``(C, crop, crop)``: the test transform of
        :class:`vidlab.data.transforms.ClipTransform` applied to a single frame."""
        from vidlab.data.transforms import (
            normalize,
            short_side_scale,
            to_float_tchw,
            uniform_crop,
        )

        x = to_float_tchw(np.asarray(rgb)[None])
        x = short_side_scale(x, self.pre.test_scale or self.pre.crop_size)
        x = uniform_crop(x, self.pre.crop_size, 1)
        return normalize(x, self.pre.mean, self.pre.std)[0]

    def push(self, index: int, frame: np.ndarray | Callable[[], np.ndarray], arrived: float | None = None
             ) -> list[StreamUpdate]:
        """Give frame ``index`` (an RGB array, or a callable returning one, called only when
        the frame is needed). Returns the windows completed by it (usually none or one)."""
        arrived = time.perf_counter() if arrived is None else arrived
        return [self._classify(w, clip, index, arrived) for w, clip in self.add(index, frame)]

    @torch.no_grad()
    def _classify(self, w: Window, clip: torch.Tensor, index: int, arrived: float) -> StreamUpdate:
        # clip: (C, T, H, W)
        logits = self.model(clip[None].to(self.device)).float()
        probs = class_scores(logits, self.activation)[0].cpu()
        self._recent.append(probs)
        smoothed = torch.stack(list(self._recent)).mean(0)
        latency = (time.perf_counter() - arrived) * 1000
        self.windows_done += 1
        return StreamUpdate(window=w.k, frame=index, time=index / self.fps, start=w.start / self.fps,
                            top=_top(smoothed, self.labels, self.topk), raw_top=_top(probs, self.labels, self.topk),
                            latency_ms=latency)


def _top(p: torch.Tensor, labels: list[str], k: int) -> list[dict]:
    k = min(k, p.numel())
    v, i = p.topk(k)
    return [{"label": labels[int(j)], "index": int(j), "score": round(float(s), 6)} for s, j in zip(v, i)]


# ----------------------------------------------------------------------------------
# Sources
class FrameSource:
    """Frames of a video source: ``fps``, ``live`` and an iterator of
    ``(index, get_rgb)`` where ``get_rgb()`` converts the frame to RGB uint8."""

    name: str = ""
    fps: float = 0.0
    live: bool = False
    size: tuple[int, int] = (0, 0)

    def frames(self) -> Iterator[tuple[int, Callable[[], np.ndarray]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PyAVSource(FrameSource):
    """A file or a network stream (rtsp://, http(s)://, ...) decoded with PyAV."""

    def __init__(self, source: str, *, timeout: float = 10.0):
        import av

        from vidlab.io import VideoDecodeError

        self.name = source
        self.live = "://" in source
        options = {"rtsp_transport": "tcp"} if source.lower().startswith(("rtsp://", "rtsps://")) else {}
        if not self.live and not Path(source).exists():
            raise VideoDecodeError(source, "file not found")
        try:
            self._container = av.open(source, mode="r", options=options, timeout=timeout if self.live else None,
                                      metadata_errors="ignore")
        except av.error.InvalidDataError:
            raise VideoDecodeError(source, "not a video, or a corrupt/unsupported container (FFmpeg: invalid data)"
                                   ) from None
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoDecodeError(source, f"cannot open ({getattr(e, 'strerror', None) or e})") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoDecodeError(source, "no video stream")
        self._stream = st = self._container.streams.video[0]
        st.thread_type = "AUTO"
        rate = st.average_rate or st.guessed_rate or st.base_rate
        self.fps = float(rate) if rate else 25.0
        self.size = (st.codec_context.width, st.codec_context.height)

    def frames(self):
        import av

        from vidlab.io import VideoDecodeError
        from vidlab.io.video import frame_to_rgb

        i = 0
        try:
            for frame in self._container.decode(self._stream):
                # the decoder's rule: every frame at the stream's size at open (a size change is resized)
                yield i, (lambda f=frame: frame_to_rgb(f, size=self.size))
                i += 1
        except av.FFmpegError as e:
            if i == 0:
                raise VideoDecodeError(self.name, f"no frame decodes ({getattr(e, 'strerror', None) or e})") from None
            raise VideoDecodeError(self.name, f"decoding stopped after {i} frames "
                                              f"({getattr(e, 'strerror', None) or e})") from None
        if i == 0:
            raise VideoDecodeError(self.name, "no frames could be decoded")

    def close(self) -> None:
        c = getattr(self, "_container", None)
        if c is not None:
            c.close()
            self._container = None


class CameraSource(FrameSource):
    """A local camera by index, through OpenCV."""

    def __init__(self, index: int):
        try:
            import cv2
        except ImportError:
            raise VidlabError("reading a camera needs OpenCV: pip install opencv-python-headless") from None
        self.name = f"camera {index}"
        self.live = True
        # OpenCV logs its backends' failed attempts on stderr; the error below says it in one line
        level = _set_cv2_log_level(cv2, "SILENT")
        try:
            self._cap = cv2.VideoCapture(index)
        finally:
            _set_cv2_log_level(cv2, level)
        if not self._cap.isOpened():
            self._cap.release()
            raise VidlabError(f"cannot open camera {index} (no such device, or it is busy)")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._cv2 = cv2

    def frames(self):
        i = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                return
            yield i, (lambda b=bgr: self._cv2.cvtColor(b, self._cv2.COLOR_BGR2RGB))
            i += 1

    def close(self) -> None:
        self._cap.release()


def _set_cv2_log_level(cv2, level):
    """Set OpenCV's log level (a name or a previous value); returns the previous one."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        return None
    previous = log.getLogLevel()
    if level is not None:
        log.setLogLevel(getattr(log, f"LOG_LEVEL_{level}") if isinstance(level, str) else level)
    return previous


def open_source(source: str | int) -> FrameSource:
    """A camera index (``0``), an RTSP/HTTP URL or a video file."""
    s = str(source).strip()
    if s.isdigit():
        return CameraSource(int(s))
    return PyAVSource(s)


# ----------------------------------------------------------------------------------
def _returning(value):
    """A function of no arguments that returns ``value`` (a frame converted once)."""
    return lambda: value


def run_stream(
    model: nn.Module,
    source: str | int | FrameSource,
    *,
    stride: float | None = None,
    smooth: int = 3,
    topk: int = 3,
    realtime: bool = False,
    max_seconds: float | None = None,
    out: str | Path | None = None,
    on_update: Callable[[StreamUpdate, dict], None] | None = None,
) -> dict:
    """Run the recognizer over ``source`` until it ends (or ``max_seconds`` of it).

    ``realtime=True`` paces a file at its frame rate, as a camera would deliver
    it. ``out`` writes the frames with the current action and latency drawn on
    them. ``on_update(update, stats)`` is called for every window. Returns a
    summary: frames, wall seconds, processed frames/s and its ratio to the
    source's frame rate, latency statistics and the last prediction.
    """
    src = source if isinstance(source, FrameSource) else open_source(source)
    rec = OnlineRecognizer(model, src.fps, stride=stride, smooth=smooth, topk=topk)
    latencies: list[float] = []
    last: StreamUpdate | None = None
    writer = _Overlay(out, src.fps) if out else None
    frames = 0
    t0 = time.perf_counter()
    interrupted = False
    try:
        for index, get_rgb in src.frames():
            if max_seconds is not None and index >= max_seconds * src.fps:
                break
            if realtime and not src.live:
                due = t0 + index / src.fps
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            arrived = time.perf_counter()
            if writer is not None:
                get_rgb = _returning(get_rgb())  # convert once: the recognizer and the writer share it
            for u in rec.push(index, get_rgb, arrived):
                latencies.append(u.latency_ms)
                last = u
                if on_update is not None:
                    elapsed = time.perf_counter() - t0
                    on_update(u, {"frames": index + 1, "fps": (index + 1) / elapsed if elapsed > 0 else 0.0})
            if writer is not None:
                writer.add(get_rgb(), last)
            frames = index + 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        src.close()
        if writer is not None:
            writer.close()
    wall = time.perf_counter() - t0
    lat = np.array(latencies) if latencies else np.zeros(1)
    return {
        "source": src.name, "fps": round(src.fps, 3), "frames": frames, "seconds": round(wall, 3),
        "processed_fps": round(frames / wall, 2) if wall > 0 else 0.0,
        "realtime_factor": round(frames / wall / src.fps, 3) if wall > 0 else 0.0,
        "windows": rec.windows_done, "span_frames": round(rec.span, 3), "stride_frames": round(rec.stride, 3),
        "smooth": smooth, "activation": rec.activation,
        "latency_ms": {"mean": round(float(lat.mean()), 3), "p50": round(float(np.percentile(lat, 50)), 3),
                       "p90": round(float(np.percentile(lat, 90)), 3), "max": round(float(lat.max()), 3)},
        "last": last.as_dict() if last else None,
        "interrupted": interrupted,
        "out": str(out) if out else None,
    }


class _Overlay:
    """Frames with the current action drawn on them, encoded as they come."""

    def __init__(self, path: str | Path, fps: float):
        import queue
        import threading

        from vidlab.io import write_video

        self._q: queue.Queue = queue.Queue(maxsize=64)
        self._error: list[BaseException] = []

        def gen():
            while (item := self._q.get()) is not None:
                yield item

        def run():
            try:
                write_video(path, gen(), fps, crf=23)
            except BaseException as e:  # noqa: BLE001  (reported by close())
                self._error.append(e)
                while self._q.get() is not None:
                    pass

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def add(self, rgb: np.ndarray, u: StreamUpdate | None) -> None:
        from vidlab.evaluation.visualize import annotate_frame

        if u is None:
            lines = [("waiting for the first window", (235, 235, 235))]
        else:
            lines = [(f"{u.label}  {u.score:.2f}", (255, 255, 80)), (f"latency {u.latency_ms:.0f} ms", (235, 235, 235))]
        h, w = rgb.shape[:2]
        scale = max(1, 360 // max(1, min(h, w)))
        self._q.put(annotate_frame(rgb, lines, scale))

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        if self._error:
            raise self._error[0]
