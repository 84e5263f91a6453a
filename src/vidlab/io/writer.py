"""Writing videos (H.264 mp4 by default) with PyAV."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from av.video.stream import VideoStream


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 18,
    gop: int | None = None,
    preset: str = "veryfast",
    pix_fmt: str = "yuv420p",
    odd_size: str = "pad",
) -> Path:
    """Encode RGB uint8 frames ``(H, W, 3)`` into a video file.

    ``frames`` is an array ``(T, H, W, 3)`` or any iterable of ``(H, W, 3)``
    arrays (so long videos can be streamed). yuv420p needs even dimensions, so
    for an odd width or height ``odd_size`` decides: ``"pad"`` (default) adds
    one edge pixel (the most widely playable file), ``"keep"`` keeps the exact
    size by encoding 4:4:4 chroma (``yuv444p``, H.264 High 4:4:4: full colour
    resolution, larger files, not every hardware player). ``gop=1``
    writes an all-intra stream (every frame a keyframe), which makes the coding
    of a frame independent of its position in the sequence. The file is
    written to a temporary name first and renamed, so a crash never leaves a
    truncated file under the final name.
    """
    import av

    if odd_size not in ("pad", "keep"):
        raise ValueError(f"odd_size must be 'pad' or 'keep', got {odd_size!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    container = av.open(str(tmp), mode="w")
    try:
        stream: VideoStream | None = None
        for frame in frames:
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"expected (H, W, 3) uint8 frames, got {frame.dtype} {frame.shape}")
            pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
            odd = (pad_h or pad_w) and pix_fmt == "yuv420p"
            if odd and odd_size == "pad":
                frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            if stream is None:
                added = container.add_stream(codec, rate=rate)
                if not isinstance(added, av.VideoStream):
                    raise ValueError(f"{codec!r} is not a video codec")
                stream = added
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv444p" if odd and odd_size == "keep" else pix_fmt
                options: dict[str, object] = {"crf": str(crf), "preset": preset} if codec == "libx264" else {}
                if gop is not None:
                    stream.codec_context.gop_size = gop
                    if codec == "libx264":
                        options["keyint"] = str(gop)
                        options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
                stream.options = options
            packet_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(packet_frame):
                container.mux(packet)
            count += 1
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    container.close()
    os.replace(tmp, path)
    return path
