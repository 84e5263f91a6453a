"""Cartoonizing videos: batched frames, fps kept, audio copied, optional temporal stability.

Frames are decoded with :class:`vidlab.io.VideoReader`, resized by the ``load_size`` rule, run
through the generator in batches of ``batch`` frames, resized back to the input size and encoded
with :func:`vidlab.io.write_video` (H.264, the input's frame rate, the input's exact size: yuv420p
for even sides, 4:4:4 chroma for odd ones, which yuv420p cannot hold). The input's first audio stream is copied (re-encoded to AAC
when the codec does not fit an mp4).

Temporal stability (``temporal=True``). Instance norm makes every frame's colours depend on that
frame's own statistics, so small content changes (a person entering, noise) shift the colours of
the whole frame: flicker. With ``temporal=True`` each of the 21 norms uses an exponential moving
average over frames of its per-channel mean and variance (``momentum``, default 0.9; the first
frame and any frame after a scene cut start afresh, a cut being a mean absolute frame difference
above 30/255). For ``classic`` the colour palette is fitted on the first frame (and after cuts)
instead of on every frame.

Frames larger than one megapixel after the ``load_size`` resize (e.g. 1080p with
``load_size=0``) run one at a time through tiled inference, which takes its statistics from a
downscaled pass per frame; ``temporal`` then applies to neither (it needs the batched path).

Flicker measure (:class:`FlickerMeter`): the mean absolute change between consecutive *output*
frames (0-255 units) over the pixels whose *input* did not change (every channel within
``static_threshold``, default 3); an output that only changes where the input changes scores 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from typing_extensions import Self

from vidlab.cartoon.generator import (
    CartoonGenerator,
    InstanceNorm,
    postprocess,
    preprocess,
)
from vidlab.cartoon.tiling import set_norm_overrides

__all__ = ["FlickerMeter", "TemporalStats", "cartoonize_frames", "cartoonize_video", "scene_cut"]

SCENE_CUT = 30.0 / 255.0


def scene_cut(prev: np.ndarray | None, cur: np.ndarray, threshold: float = SCENE_CUT) -> bool:
    """True when ``cur`` starts a new shot: mean absolute difference (on 1/8-size copies) above
    ``threshold`` (a fraction of 255), or no previous frame."""
    if prev is None or prev.shape != cur.shape:
        return True
    a = prev[::8, ::8].astype(np.float32)
    b = cur[::8, ::8].astype(np.float32)
    return float(np.abs(a - b).mean()) / 255.0 > threshold


class TemporalStats:
    """Instance-norm statistics smoothed over frames (see the module doc); a context manager that
    takes over ``model``'s norms. Frames of one batch are taken in order.

    ``reset`` (a list of bools, one per frame of the next batch) marks frames that start afresh.
    """

    def __init__(self, model: CartoonGenerator, momentum: float = 0.9):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.model = model
        self.momentum = momentum
        self.state: dict[int, tuple[Tensor, Tensor]] = {}
        self.reset: list[bool] = []

    def _apply(self, i: int, mod: InstanceNorm, x: Tensor) -> Tensor:
        var, mean = torch.var_mean(x.float(), dim=(2, 3), unbiased=False)
        means, vars_ = [], []
        m = self.momentum
        for n in range(x.shape[0]):
            prev = self.state.get(i)
            if prev is None or (n < len(self.reset) and self.reset[n]):
                cur = (mean[n], var[n])
            else:
                cur = (m * prev[0] + (1 - m) * mean[n], m * prev[1] + (1 - m) * var[n])
            self.state[i] = cur
            means.append(cur[0])
            vars_.append(cur[1])
        return mod.normalize_with(x, torch.stack(means), torch.stack(vars_))

    def __enter__(self) -> Self:
        set_norm_overrides(self.model, self._apply)
        return self

    def __exit__(self, *exc: object) -> None:
        set_norm_overrides(self.model, None)


class FlickerMeter:
    """Streaming flicker measure (see the module doc). Call :meth:`update` with each input and
    output frame (RGB uint8, same size) in order; :meth:`result` gives the figures."""

    def __init__(self, static_threshold: int = 3):
        self.static_threshold = static_threshold
        self.prev: tuple[np.ndarray, np.ndarray] | None = None
        self.sum_static = 0.0
        self.n_static = 0
        self.sum_all = 0.0
        self.n_all = 0

    def update(self, frame_in: np.ndarray, frame_out: np.ndarray) -> None:
        a = frame_in.astype(np.int16)
        b = frame_out.astype(np.int16)
        if self.prev is not None and self.prev[0].shape == a.shape:
            din = np.abs(a - self.prev[0]).max(axis=2)
            dout = np.abs(b - self.prev[1]).mean(axis=2)
            static = din <= self.static_threshold
            self.sum_static += float(dout[static].sum())
            self.n_static += int(static.sum())
            self.sum_all += float(dout.sum())
            self.n_all += dout.size
        self.prev = (a, b)

    def result(self) -> dict[str, float]:
        return {
            "flicker": self.sum_static / self.n_static if self.n_static else 0.0,
            "mean_frame_change": self.sum_all / self.n_all if self.n_all else 0.0,
            "static_fraction": self.n_static / self.n_all if self.n_all else 0.0,
        }


def _batches(frames: Iterator[np.ndarray], n: int) -> Iterator[list[np.ndarray]]:
    buf: list[np.ndarray] = []
    for f in frames:
        buf.append(f)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf


def cartoonize_frames(frames: Iterator[np.ndarray], style: str = "classic", weights: os.PathLike | str | None = None,
                      load_size: int = 450, batch: int = 4, temporal: bool = False, momentum: float = 0.9,
                      model: CartoonGenerator | None = None) -> Iterator[np.ndarray]:
    """Yield the cartoonized RGB ``uint8`` frames (each of its input's size) of an iterable of frames.

    ``model``: a ready generator (overrides ``style``/``weights``; e.g. fixture weights in tests).
    """
    from vidlab.cartoon.api import (
        AUTO_TILE_PIXELS,
        get_generator,
        resize_rgb,
        run_generator,
    )
    from vidlab.cartoon.imageio import resize_to_load_size

    prev = None
    if model is None and style.lower() == "classic":
        from vidlab.cartoon.classic import classic_cartoon, fit_palette, smooth

        palette = None
        for f in frames:
            work = resize_to_load_size(f, load_size)
            if temporal:
                if scene_cut(prev, f):
                    palette = fit_palette(smooth(work))
                prev = f
            out = classic_cartoon(work, palette=palette if temporal else None)
            yield out if out.shape[:2] == f.shape[:2] else resize_rgb(out, f.shape[:2])
        return
    lock = None
    if model is None:
        model, lock = get_generator(style, weights)
    temporal_stats = TemporalStats(model, momentum) if temporal else None
    for group in _batches(iter(frames), max(1, batch)):
        works = [resize_to_load_size(f, load_size) for f in group]
        h, w = works[0].shape[:2]
        if lock is not None:
            lock.acquire()
        try:
            if h * w > AUTO_TILE_PIXELS:  # large frames: tiled, one at a time (no temporal statistics)
                outs = [run_generator(model, wk) for wk in works]
            else:
                with torch.inference_mode():
                    x = preprocess(np.stack(works))
                    if temporal_stats is not None:
                        temporal_stats.reset = []
                        for f in group:
                            temporal_stats.reset.append(scene_cut(prev, f))
                            prev = f
                        with temporal_stats:
                            y = model(x)
                    else:
                        y = model(x)
                    outs = list(postprocess(y))
        finally:
            if lock is not None:
                lock.release()
        for f, o in zip(group, outs):
            yield o if o.shape[:2] == f.shape[:2] else resize_rgb(o, f.shape[:2])


def _copy_audio(video_only: Path, src: Path, dst: Path) -> bool:
    """Mux ``video_only``'s video with ``src``'s first audio stream into ``dst``; False if no audio."""
    import av

    with av.open(str(src)) as a_in:
        if not a_in.streams.audio:
            return False
        with av.open(str(video_only)) as v_in:
            tmp = dst.with_name(f".{dst.name}.mux{dst.suffix}")
            try:
                with av.open(str(tmp), "w") as out:
                    vs, as_ = v_in.streams.video[0], a_in.streams.audio[0]
                    ov = out.add_stream_from_template(vs)
                    copy = as_.codec_context.name in ("aac", "mp3", "opus", "alac", "ac3", "flac")
                    oa = out.add_stream_from_template(as_) if copy else out.add_stream("aac", rate=as_.rate or 48000)
                    for pkt in v_in.demux(vs):
                        if pkt.dts is not None:
                            pkt.stream = ov
                            out.mux(pkt)
                    if copy:
                        for pkt in a_in.demux(as_):
                            if pkt.dts is not None:
                                pkt.stream = oa
                                out.mux(pkt)
                    else:
                        for frame in a_in.decode(as_):
                            frame.pts = None
                            out.mux(oa.encode(frame))
                        out.mux(oa.encode(None))
                os.replace(tmp, dst)
            finally:
                tmp.unlink(missing_ok=True)
    return True


def cartoonize_video(src: os.PathLike | str, dst: os.PathLike | str, style: str = "classic",
                     weights: os.PathLike | str | None = None, load_size: int = 450, batch: int = 4,
                     temporal: bool = False, momentum: float = 0.9, model: CartoonGenerator | None = None,
                     progress: Callable[[int], None] | None = None, measure_flicker: bool = True) -> dict:
    """Cartoonize the video ``src`` into ``dst`` (mp4); returns ``{"frames", "fps", "audio",
    "flicker", ...}``. Decoding errors raise :class:`vidlab.io.VideoDecodeError`."""
    from vidlab.io import VideoReader, write_video

    src, dst = Path(src), Path(dst)
    meter = FlickerMeter() if measure_flicker else None
    count = 0
    with VideoReader(src) as reader:
        info = reader.info
        fps = info.fps if info.fps and info.fps > 0 else 25.0

        def source() -> Iterator[np.ndarray]:
            yield from reader.iter_frames()

        inputs: list[np.ndarray] = []

        def tee() -> Iterator[np.ndarray]:
            for f in source():
                if meter is not None:
                    inputs.append(f)
                yield f

        def outputs() -> Iterator[np.ndarray]:
            nonlocal count
            for o in cartoonize_frames(tee(), style, weights, load_size, batch, temporal, momentum, model):
                if meter is not None:
                    meter.update(inputs.pop(0), o)
                count += 1
                if progress is not None:
                    progress(1)
                yield o

        video_only = dst.with_name(f".{dst.stem}.video{dst.suffix}") if info.has_audio else dst
        write_video(video_only, outputs(), fps, odd_size="keep")
    audio = False
    if info.has_audio:
        try:
            audio = _copy_audio(video_only, src, dst)
        finally:
            if video_only.exists() and video_only != dst:
                if not audio:
                    os.replace(video_only, dst)
                else:
                    video_only.unlink()
    res = {"frames": count, "fps": fps, "width": info.width, "height": info.height, "audio": audio}
    if meter is not None:
        res.update(meter.result())
    return res
