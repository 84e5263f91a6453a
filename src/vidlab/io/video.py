"""Video decoding: probing, frame-accurate random access and streaming.

Two backends share one interface (:class:`VideoReader`):

- ``"pyav"`` (default, always available): PyAV / FFmpeg.
- ``"torchcodec"``: torchcodec's public ``VideoDecoder``. It needs FFmpeg's
  shared libraries on the system and ``pip install torchcodec``; it is imported
  lazily and is never a hard dependency. ``"auto"`` picks it when it imports
  and decodes, else PyAV.

Frame indices
-------------
Frame ``i`` is the ``i``-th frame of the video in presentation order, counted
from 0 -- the frame that a full sequential decode returns at position ``i``.
Frame 0 is the first frame that *decodes*: a stream cut in the middle of a GOP
(an MPEG-TS recording, a trimmed file) starts with packets whose reference
frames are missing, which FFmpeg drops; they are neither counted nor indexed,
so every index in ``[0, num_frames)`` decodes. (At open, the first GOP's
packets are looked at -- demux only; when the first packet is no keyframe, or
open-GOP B-frames show before it, the first frame is decoded to find where the
video really starts, or, for a file decoded from the start and counted, the
frames that decode are counted.) How PyAV finds frame ``i``:

- Default (MP4/MOV, clean AVI, ...): from the frame's timestamp,
  ``round((pts - start_pts) * time_base * fps)`` with the stream's start time
  and average frame rate. Exact for constant-frame-rate files, and it lets
  :meth:`VideoReader.get_frames` seek to the keyframe before the first wanted
  frame. For a variable-frame-rate file whose container stores a frame count
  (so it is not scanned, see below) this is the frame's *time slot*: a slot
  that no frame starts in shows the frame before it, and when two frames fall
  in one slot the first one is used -- what a CFR resampler would show.
- Scanned containers (Matroska/WebM/FLV/TS... up to ``SCAN_LIMIT_BYTES``, see
  below) whose timestamps are off the CFR grid (dropped frames, VFR): the
  scanned packet timestamps, sorted, give every frame its exact rank, and
  seeking still works.
- Decoded from the start and counted (exact rank, no seeking): animated
  GIF/APNG/WebP (per-frame delays, no keyframe index); AVI files with packed
  B-frames or DivX/Xvid "frame skip" markers (AVI has no presentation
  timestamps and FFmpeg's guesses come out of order); any stream whose decoded
  timestamps turn out missing or out of order (found while decoding; the
  reader switches over by itself).

A seek that lands past the first wanted frame (B-frame reordering around a
keyframe; MPEG-TS seeks by decode timestamp and lands on the *next* keyframe)
is redone aiming 8, 32, 128, ... frames earlier, and in the end by decoding
from the start of the file -- freshly reopened, once a seek to the start has
landed late too (a seek to the start of an MPEG-TS can skip its first GOP).

Speed: between the seek point and the last wanted frame, packets of unwanted
frames are decoded with ``skip_frame=NONREF`` (non-reference frames, e.g.
most B-frames, are dropped undecoded), only the wanted frames are converted to
RGB (single-threaded swscale, which is 2-100x cheaper than letting swscale
pick its own threads next to a threaded decoder), and decoding uses FFmpeg's
frame+slice threading (``threads=0``: FFmpeg picks the count).

Frame counts (``VideoInfo.num_frames``)
---------------------------------------
The rule, cheapest first:

1. The container's own count (``nb_frames``: MP4/MOV sample tables, the AVI
   index) when it exists -- except for AVIs with packed B-frames / frame-skip
   markers, whose count includes 1-byte "frame skip" packets that decode to
   nothing; those are counted as in 2, without the 1-byte packets.
2. Containers without a count (Matroska/WebM, FLV, MPEG-TS, ...) up to
   ``SCAN_LIMIT_BYTES`` (64 MiB), and GIF/APNG of any size: the video packets
   are counted by demuxing the file (no decoding; 1-5 ms for a 10 s clip).
3. Larger files without a count: ``round(duration * fps)`` (for Matroska the
   duration is measured from the stream's first timestamp). This can be off by
   a frame or two, which the end-of-stream rule below absorbs.

In all three, frames that cannot be decoded at the start (see "Frame indices")
are left out. For all the clips in ``shared/data/real`` this gives the decoded
counts of its MANIFEST exactly.

Frame size
----------
Every frame that comes back -- from :meth:`VideoReader.get_frames` (batch or
single index), :meth:`VideoReader.iter_frames` and :meth:`VideoReader.read_all`
alike -- has ``VideoInfo``'s ``(width, height)``: the stream's size as FFmpeg
reports it at open (normally the first frame's). A frame of another size (a
stream whose resolution changes mid-way, e.g. concatenated MPEG-TS or MJPEG
with frames of varying size, or a damaged file whose frames disagree with its
header) is resized to it, ignoring the aspect ratio, with swscale's
**bilinear** filter (:data:`RESIZE_INTERPOLATION`) in the same pass as the RGB
conversion; the torchcodec backend uses torch's antialiased bilinear
(:func:`resize_rgb`). A header size above :data:`MAX_FRAME_PIXELS`, or a side
longer than :data:`MAX_FRAME_SIDE` (16384, past every video codec level in use;
e.g. a GIF whose height field was damaged to 65504), is refused as corrupt.

End of stream
-------------
If a requested index lies past the last frame that actually decodes (a
miscounted or truncated file), the request is served with the last decoded
frame only when the file's shortfall ``num_frames - decoded`` is at most
``CLAMP_TOLERANCE`` (2) frames; otherwise :class:`VideoDecodeError` is raised
with ``"truncated: expected N frames, decoded M"``. Negative indices and
indices past both ``num_frames`` and the last decoded frame raise
``IndexError``. Corrupt packets are skipped up to a budget
of ``MAX_DECODE_ERRORS`` errors per call, after which the file is reported as
corrupt: garbage never comes back as frames and nothing loops forever.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

import numpy as np

from vidlab.io.errors import VideoDecodeError

__all__ = [
    "CLAMP_TOLERANCE",
    "VideoInfo",
    "VideoReader",
    "frame_to_rgb",
    "probe_video",
    "resize_rgb",
    "torchcodec_status",
]

#: Largest shortfall (container count minus decoded frames) that is served by
#: repeating the last decoded frame instead of raising "truncated".
CLAMP_TOLERANCE = 2
#: Decode/demux errors tolerated in one call before the file counts as corrupt.
MAX_DECODE_ERRORS = 32
#: Files without a stored frame count are counted by demuxing up to this size.
SCAN_LIMIT_BYTES = 64 * 1024 * 1024
#: Larger frame sizes in a stream header are taken for corruption (8192 x 8192; 8K UHD is 33 Mpx).
MAX_FRAME_PIXELS = 8192 * 8192
MAX_FRAME_SIDE = 16384
#: How frames of another size than ``VideoInfo``'s are resized to it (swscale's flag).
RESIZE_INTERPOLATION = "BILINEAR"

_BACKENDS = ("pyav", "torchcodec", "auto")
BACKENDS = _BACKENDS  # public: the choices of every --backend option
# Demuxers whose frames carry per-frame delays and no keyframe index.
_SEQUENTIAL_FORMATS = {"gif", "apng", "webp_pipe", "gif_pipe"}
_SEQUENTIAL_CODECS = {"gif", "apng", "webp"}


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds. ``num_frames`` follows the module's counting rule."""

    path: str
    fps: float
    num_frames: int
    duration: float
    width: int
    height: int
    codec: str
    has_audio: bool


def probe_video(path: str | os.PathLike, backend: str = "pyav") -> VideoInfo:
    """Read a video's :class:`VideoInfo` without decoding its frames."""
    with VideoReader(path, backend=backend) as reader:
        return reader.info


class VideoReader:
    """Random access to the RGB frames of one video.

    ``VideoReader(path, backend="pyav" | "torchcodec" | "auto", threads=0)``;
    ``threads=0`` lets FFmpeg choose (frame + slice threading on all cores),
    ``threads=1`` decodes on one core (for many DataLoader workers).

    Use it as a context manager or call :meth:`close`. Frames are ``uint8``
    RGB arrays ``(H, W, 3)``; see the module docstring for what an index means
    and how the end of a stream is handled. Opening a file that is missing,
    empty, truncated, corrupt, unsupported or has no video stream raises
    :class:`~vidlab.io.VideoDecodeError`.
    """

    def __init__(self, path: str | os.PathLike, backend: str = "pyav", threads: int = 0):
        if backend not in _BACKENDS:
            raise ValueError(f"unknown video backend {backend!r}; choose one of {', '.join(_BACKENDS)}")
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        self.path = str(path)
        _check_file(self.path)
        if backend == "auto":
            backend = "torchcodec" if torchcodec_status()[0] else "pyav"
        self.backend = backend
        if backend == "pyav":
            self._impl: _PyAVDecoder | _TorchCodecDecoder = _PyAVDecoder(self.path, threads)
        else:
            self._impl = _TorchCodecDecoder(self.path, threads)

    # -- public API -----------------------------------------------------------------
    @property
    def info(self) -> VideoInfo:
        return self._impl.info

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at 0-based ``indices`` as ``(N, H, W, 3)`` uint8 RGB.

        Any order and repeats are allowed; frames come back in the order asked.
        Only the span ``min(indices) .. max(indices)`` is decoded (after seeking
        to the keyframe before it) and only the requested frames are converted
        to RGB.
        """
        idx = _as_indices(indices)
        if idx.size == 0:
            info = self.info
            return np.empty((0, info.height, info.width, 3), np.uint8)
        return self._impl.get_frames(idx)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Yield every frame ``(H, W, 3)`` in order, decoding as it goes."""
        return self._impl.iter_frames()

    def read_all(self) -> np.ndarray:
        """All frames as one ``(N, H, W, 3)`` array (N = frames decoded)."""
        frames = list(self.iter_frames())
        if not frames:
            raise VideoDecodeError(self.path, "no frames could be decoded")
        return np.stack(frames)

    def __len__(self) -> int:
        return self.info.num_frames

    def close(self) -> None:
        impl = getattr(self, "_impl", None)
        if impl is not None:
            impl.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"VideoReader({self.path!r}, backend={self.backend!r})"


# ----------------------------------------------------------------------------------
# helpers shared by the backends
# ----------------------------------------------------------------------------------
def _check_file(path: str) -> None:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoDecodeError(path, "file not found") from None
    except OSError as e:
        raise VideoDecodeError(path, f"cannot access file ({e.strerror or e})") from None
    if p.is_dir():
        raise VideoDecodeError(path, "is a directory, not a video file")
    if st.st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")


def _as_indices(indices: Sequence[int] | np.ndarray) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim == 0:
        idx = idx.reshape(1)
    if idx.ndim != 1:
        raise ValueError(f"frame indices must be 1-D, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        if np.issubdtype(idx.dtype, np.floating) and np.all(np.mod(idx, 1) == 0):
            idx = idx.astype(np.int64)
        else:
            raise TypeError(f"frame indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and idx.min() < 0:
        raise IndexError(f"negative frame index {int(idx.min())}")
    return idx


def _av_reason(err: BaseException) -> str:
    """A short reason from an FFmpeg/PyAV error (without errno and path)."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return str(reason).strip()


def _shortfall(path: str, expected: int, decoded: int, index: int) -> str:
    """Decide what a request past the last decoded frame gets: "clamp" or an error."""
    if index >= expected and index >= decoded:
        raise IndexError(f"{path}: frame index {index} out of range (video has {max(expected, decoded)} frames)")
    if expected - decoded <= CLAMP_TOLERANCE:
        return "clamp"
    raise VideoDecodeError(path, f"truncated: expected {expected} frames, decoded {decoded}")


def frame_to_rgb(frame: Any, size: tuple[int, int] | None = None, interpolation: str | None = None) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a decoded PyAV frame.

    ``size=(width, height)`` resizes it in the same swscale pass, with ``interpolation``
    (default :data:`RESIZE_INTERPOLATION`, bilinear). ``threads=1`` matters twice: by
    default swscale picks its own thread count per call, which costs 2-100x more than
    the conversion itself (0.05 ms for 340x256) and fights the decoder's threads for
    the cores; and PyAV keeps one scaler per thread, so a threaded scaler made here
    would be inherited by forked DataLoader workers without its threads (see
    :func:`_forget_inherited_scaler`).
    """
    global _RGB_KW
    kw: dict[str, Any] = {}
    if size is not None and (frame.width, frame.height) != tuple(size):
        kw = {"width": int(size[0]), "height": int(size[1]),
              "interpolation": interpolation or RESIZE_INTERPOLATION}
    try:
        return frame.to_ndarray(**_RGB_KW, **kw)
    except TypeError:  # PyAV without the ``threads`` argument
        _RGB_KW = {"format": "rgb24"}
        return frame.to_ndarray(**_RGB_KW, **kw)


_RGB_KW: dict[str, Any] = {"format": "rgb24", "threads": 1}


_INHERITED_SCALERS: list[Any] = []


def _forget_inherited_scaler() -> None:
    """In a forked child: give PyAV's per-thread scaler a fresh start, never freeing the old one.

    PyAV (18.1 here) caches one ``VideoReformatter`` per thread. If the parent converted a
    frame with swscale's own threading (PyAV's default, ``threads=0``: anyone's code, not
    only vidlab's), the child inherits that scaler without its worker threads, and the
    first conversion at another size frees it and waits forever for threads that the
    fork did not copy (a DataLoader worker hung so in ``sws_frame_setup``). The child
    therefore starts a new scaler; the old one is kept referenced, because freeing it
    is what waits.
    """
    import sys

    mod = sys.modules.get("av.video.frame")
    local = getattr(mod, "_thread_local", None)
    old = getattr(local, "reformatter", None)
    if old is not None:
        _INHERITED_SCALERS.append(old)
        local.reformatter = None  # type: ignore[union-attr]


os.register_at_fork(after_in_child=_forget_inherited_scaler)


def resize_rgb(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 frames resized to ``(N, height, width, 3)``, bilinear.

    Antialiased when shrinking, like swscale's bilinear filter (for decoders
    whose frames are not PyAV frames, e.g. torchcodec's).
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(int(height), int(width)), mode="bilinear", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _decode(cc: Any, packet: Any) -> list[Any]:
    """One packet through the decoder (a seam for tests that inject decode errors)."""
    return cc.decode(packet)


class _Restart(Exception):
    """Internal: the timestamp index cannot be trusted; redo sequentially."""


# ----------------------------------------------------------------------------------
# PyAV backend
# ----------------------------------------------------------------------------------
class _PyAVDecoder:
    def __init__(self, path: str, threads: int):
        import av  # noqa: F401  (imported here so that importing vidlab.io stays light)

        self.path = path
        self.threads = threads
        self._info: VideoInfo | None = None
        self._seq_gen: Iterator[tuple[int, Any]] | None = None
        self._seq_container = None
        self._seq_next = 0
        self._skip_ok = True  # skip unrequested non-reference frames while decoding
        self._seek_back = 0  # frames to aim a seek before the wanted one (learnt, see _collect_timed)
        self._reopen_to_start = False  # True once a seek to the start landed late: reopen instead
        self._decoded_count: int | None = None  # frames that really decode, once known
        self._count_exact = True  # False when num_frames is estimated from the duration
        self._lead_in = 0  # undecodable frames at the start of a file whose count is estimated
        self._container = self._open()
        try:
            self._analyse()
        except BaseException:
            self.close()
            raise

    # -- opening ----------------------------------------------------------------------
    def _open(self, configure: bool = True):
        import av

        try:
            container = av.open(self.path, mode="r", metadata_errors="ignore")
        except av.error.InvalidDataError:
            raise VideoDecodeError(
                self.path, "not a video, or a corrupt/unsupported container (FFmpeg: invalid data)"
            ) from None
        except av.error.FileNotFoundError:
            raise VideoDecodeError(self.path, "file not found") from None
        except av.error.PermissionError:
            raise VideoDecodeError(self.path, "permission denied") from None
        except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
            raise VideoDecodeError(self.path, f"cannot open ({_av_reason(e)})") from None
        if not configure:
            return container
        try:
            streams = container.streams.video
            if not streams:
                kinds = sorted({str(s.type) for s in container.streams})
                what = f" (it has: {', '.join(kinds)})" if kinds else ""
                raise VideoDecodeError(self.path, f"no video stream{what}")
            stream = streams[0]
            if stream.codec_context is None:
                raise VideoDecodeError(self.path, "unsupported video codec (no decoder in this FFmpeg build)")
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height:
                raise VideoDecodeError(self.path, "video stream has no frame size (corrupt or unsupported)")
            if width * height > MAX_FRAME_PIXELS or max(width, height) > MAX_FRAME_SIDE:
                raise VideoDecodeError(self.path, f"implausible frame size {width}x{height} (corrupt header?)")
            stream.thread_type = "AUTO"  # frame + slice threading
            stream.thread_count = self.threads
        except BaseException:
            container.close()
            raise
        return container

    def _analyse(self) -> None:
        c = self._container
        s = c.streams.video[0]
        self._stream = s
        # every frame comes back at this size (the stream header's), see "Frame size"
        self._size = (int(s.codec_context.width), int(s.codec_context.height))
        self._time_base = Fraction(s.time_base or Fraction(1, 1))
        rate = s.average_rate or s.guessed_rate or s.base_rate
        if not rate or rate <= 0:
            raise VideoDecodeError(self.path, "unknown frame rate (corrupt or unsupported stream)")
        self._rate = Fraction(rate)
        self._start_pts = int(s.start_time) if s.start_time is not None else 0
        # (pts - start) * time_base * fps == (pts - start) * _num / _den
        factor = self._time_base * self._rate
        self._num, self._den = factor.numerator, factor.denominator
        self._format = c.format.name
        self._sequential = (
            self._format in _SEQUENTIAL_FORMATS
            or s.codec_context.name in _SEQUENTIAL_CODECS
            or s.start_time is None
        )
        self._packed_avi = self._format == "avi" and not self._sequential and self._peek_packed_avi()
        if self._packed_avi:
            self._sequential = True
        # Containers without a stored count are scanned once (demux only): the
        # count is exact, and when the timestamps are off the CFR grid (dropped
        # or variable-rate frames) the scanned pts give each frame its exact rank.
        self._scanned: int | None = None
        self._pts_table: list[int] | None = None
        self._pts_rank: dict[int, int] | None = None
        stored = int(s.frames or 0)
        pts: list[int] | None = None
        if self._packed_avi:
            self._scanned, _ = self._scan_packets(min_size=2)
        elif self._sequential or (stored <= 0 and os.path.getsize(self.path) <= SCAN_LIMIT_BYTES):
            self._scanned, pts = self._scan_packets(min_size=1)
        if not self._sequential and pts and len(set(pts)) != len(pts):
            self._sequential = True  # repeated timestamps: count frames instead
        if self._sequential:
            if self._may_start_undecodable():
                # frames that do not decode at the start are not counted (see
                # "Frame indices"); a sequential index has no timestamps to tell
                # them by, so count what decodes (a damaged or cut file: rare)
                self._scanned = self._count_decoded() or self._scanned
            return
        pts = self._drop_undecodable_start(pts)
        if pts:
            pts.sort()
            if any(self._index_of(p) != k for k, p in enumerate(pts)):
                self._pts_table = pts
                self._pts_rank = {p: k for k, p in enumerate(pts)}

    def _drop_undecodable_start(self, pts: list[int] | None) -> list[int] | None:
        """Make the first frame that decodes frame 0 (timed mode).

        A stream cut in the middle of a GOP (an MPEG-TS recording, a trimmed
        file) starts with packets that reference frames it does not contain;
        FFmpeg drops them. They are not counted, and indices start at the first
        decoded frame. ``pts`` are the scanned packet timestamps (``None`` when
        the file was not scanned); returns those of the frames that count.
        """
        if not self._may_start_undecodable():
            return pts
        first = self._first_decoded_pts()
        if first is None or first <= self._start_pts:
            return pts
        if pts is None and int(self._stream.frames or 0) > 0:
            # a stored count: recount the packets without the dropped ones
            _, stored_pts = self._scan_packets(min_size=1)
            kept = [p for p in stored_pts if p >= first]
            if not kept or len(kept) == len(stored_pts):
                return None
            self._start_pts = first
            self._scanned = len(kept)
            return kept
        if pts is None:
            # a large file without a count: the estimate from the duration leaves out the lead-in
            if self._format != "matroska,webm":  # (its estimate runs from the start pts already)
                self._lead_in = max(self._index_of(first), 0)
            self._start_pts = first
            return None
        kept = [p for p in pts if p >= first]
        if not kept or len(kept) == len(pts):
            return pts
        self._start_pts = first
        self._scanned = len(kept)
        return kept

    def _may_start_undecodable(self) -> bool:
        """Whether the first GOP's packets suggest frames that cannot decode: the
        first packet is no keyframe, or a packet before the next keyframe shows
        earlier than the first one (open-GOP B-frames). Demux only; the main
        container is seeked or reopened before every decode, so reading from it
        here costs nothing later."""
        import av

        first_key: int | None = None
        seen = 0
        demux = self._container.demux(self._stream)
        try:
            for packet in demux:
                if not packet.size:
                    continue
                if packet.pts is None:
                    return False
                seen += 1
                if first_key is None:
                    if not packet.is_keyframe:
                        return True
                    first_key = int(packet.pts)
                elif packet.is_keyframe or seen > 64:
                    return False
                elif packet.pts < first_key:
                    return True
        except (av.FFmpegError, OSError, IndexError):  # IndexError: see next_packet in _packets_to_frames
            return False
        finally:
            demux.close()
        return False

    def _first_decoded_pts(self) -> int | None:
        """The timestamp of the first frame that decodes from the start of the file."""
        c = self._open(configure=False)
        frames = self._packets_to_frames(c)
        try:
            for frame in frames:
                return None if frame.pts is None else int(frame.pts)
            return None
        finally:
            frames.close()
            c.close()

    def _peek_packed_avi(self) -> bool:
        """AVI with packed B-frames or frame-skip markers (pts != dts, 1-byte packets)."""
        import av

        c = self._open(configure=False)
        try:
            n = 0
            for packet in c.demux(c.streams.video[0]):
                if packet.size == 0:
                    continue
                if packet.pts != packet.dts or packet.size <= 1:
                    return True
                n += 1
                if n >= 32:
                    break
        except (av.FFmpegError, IndexError):
            return True
        finally:
            c.close()
        return False

    def _scan_packets(self, min_size: int) -> tuple[int, list[int]]:
        """Count the video packets of at least ``min_size`` bytes (demux only); their pts."""
        import av

        c = self._open(configure=False)
        n = 0
        pts: list[int] = []
        try:
            demux = c.demux(c.streams.video[0])
            while True:
                try:
                    packet = next(demux)
                except StopIteration:
                    break
                except (av.FFmpegError, OSError, IndexError):
                    break  # unreadable from here on: count what came before
                if packet.size >= min_size:
                    n += 1
                    if packet.pts is not None:
                        pts.append(int(packet.pts))
        finally:
            c.close()
        if len(pts) != n:
            pts = []
        return n, pts

    # -- info -------------------------------------------------------------------------
    @property
    def info(self) -> VideoInfo:
        if self._info is None:
            self._info = self._make_info()
        return self._info

    def _make_info(self) -> VideoInfo:
        c, s = self._container, self._stream
        fps = float(self._rate)
        if c.duration is not None and c.duration > 0:
            duration = c.duration / 1_000_000
        elif s.duration is not None and s.duration > 0:
            duration = float(s.duration * self._time_base)
        else:
            duration = 0.0
        num = self._count_frames(duration)
        if duration <= 0 and num > 0:
            duration = num / fps
        cc = s.codec_context
        return VideoInfo(
            path=self.path,
            fps=fps,
            num_frames=int(num),
            duration=float(duration),
            width=self._size[0],
            height=self._size[1],
            codec=str(cc.name),
            has_audio=len(c.streams.audio) > 0,
        )

    def _count_frames(self, duration: float) -> int:
        if self._scanned:
            return self._scanned
        stored = int(self._stream.frames or 0)
        if stored > 0:
            return stored
        self._count_exact = False
        if duration > 0:
            # Matroska/WebM durations run from 0, not from the first timestamp
            start = float(self._start_pts * self._time_base) if self._format == "matroska,webm" else 0.0
            return max(int(round((duration - max(start, 0.0)) * float(self._rate))) - self._lead_in, 0)
        return 0

    # -- timestamps <-> indices -----------------------------------------------------------
    def _index_of(self, pts: int) -> int:
        if self._pts_rank is not None:
            rank = self._pts_rank.get(pts)
            if rank is None:
                raise _Restart
            return rank
        # round((pts - start) * num / den), halves up, in integers
        return ((pts - self._start_pts) * 2 * self._num + self._den) // (2 * self._den)

    def _seek_pts(self, index: int) -> int:
        """A pts at which a backward seek finds the keyframe at or before frame ``index``."""
        if self._pts_table is not None:
            return self._pts_table[min(max(index, 0), len(self._pts_table) - 1)]
        if index <= 0:
            return self._start_pts
        # 0.4 frame past the nominal pts, so that timestamp rounding still lands
        # on ``index`` itself when it is a keyframe
        return math.floor(self._start_pts + (Fraction(index) + Fraction(2, 5)) * self._den / self._num)

    # -- decoding core ----------------------------------------------------------------
    def _packets_to_frames(self, container, skip=None) -> Generator[Any, None, None]:
        """Decode the video stream of ``container`` from its current position.

        ``skip(pts) -> bool`` marks packets whose frame is not wanted: they are
        decoded with ``skip_frame=NONREF``, so that the non-reference frames
        among them are not decoded at all (reference frames still are, as later
        frames need them). Decode errors are skipped within the error budget; a
        demuxer error ends the stream (nothing after it can be read).
        """
        import av

        stream = container.streams.video[0]
        cc = stream.codec_context
        errors = 0
        skipping = False
        demux = container.demux(stream)

        def next_packet():
            try:
                return next(demux)
            except (StopIteration, av.FFmpegError, OSError, IndexError):
                # IndexError: PyAV's demuxer fails on a packet of a stream that appeared after the
                # file was opened (a corrupt MPEG-TS); like a read error, the stream ends there
                return None

        # An unwanted keyframe directly followed by another keyframe, in a
        # stream without frame reordering, is referenced by nothing: skip it
        # without decoding. This makes all-intra files (every frame a
        # keyframe) cost only the frames asked for.
        no_reorder = not getattr(cc, "has_b_frames", 1)
        upcoming = next_packet()
        try:
            while upcoming is not None:
                packet, upcoming = upcoming, next_packet()
                if (
                    skip is not None
                    and no_reorder
                    and packet.is_keyframe
                    and upcoming is not None
                    and upcoming.is_keyframe
                    and packet.size
                    and packet.pts is not None
                    and skip(packet.pts)
                ):
                    continue
                if skip is not None and packet.size and packet.pts is not None and not packet.is_keyframe:
                    want_skip = skip(packet.pts)
                    if want_skip != skipping:
                        cc.skip_frame = "NONREF" if want_skip else "DEFAULT"
                        skipping = want_skip
                elif skipping:
                    cc.skip_frame = "DEFAULT"
                    skipping = False
                try:
                    frames = _decode(cc, packet)
                except av.error.EOFError:
                    break
                except (av.FFmpegError, ValueError) as e:
                    errors += 1
                    if errors > MAX_DECODE_ERRORS:
                        raise VideoDecodeError(
                            self.path, f"corrupt: more than {MAX_DECODE_ERRORS} decode errors (last: {_av_reason(e)})"
                        ) from None
                    continue
                yield from frames
            if skipping:
                cc.skip_frame = "DEFAULT"
                skipping = False
            try:  # drain the decoder (no-op when the demuxer's flush packet already did)
                yield from cc.decode(None)
            except (av.FFmpegError, ValueError):
                pass
        finally:
            if skipping:
                try:
                    cc.skip_frame = "DEFAULT"
                except Exception:  # pragma: no cover
                    pass

    def _timed_frames(self, first: int, wanted: set[int] | None,
                      from_start: bool) -> Generator[tuple[int, Any], None, None]:
        """(index, frame) from the keyframe at or before ``first``; indices from timestamps."""
        import av

        if from_start and self._reopen_to_start:
            self._rewind()
        c, s = self._container, self._stream
        if not (from_start and self._reopen_to_start):
            try:
                c.seek(self._seek_pts(0 if from_start else first), stream=s, backward=True, any_frame=False)
            except (av.FFmpegError, OSError):
                raise _Restart from None  # not seekable: decode from the start instead
        skip = None
        if wanted is not None and self._skip_ok:
            index_of = self._index_of

            def skip(pts: int) -> bool:
                try:
                    return index_of(pts) not in wanted
                except _Restart:
                    return False

        last_pts = None
        for frame in self._packets_to_frames(c, skip):
            pts = frame.pts
            if pts is None or (last_pts is not None and pts <= last_pts):
                raise _Restart
            last_pts = pts
            yield self._index_of(pts), frame

    def _reopen(self):
        return self._open(configure=True)

    def _rewind(self) -> None:
        """Put the main container back at the start of the file (a fresh open)."""
        fresh = self._reopen()
        old, self._container, self._stream = self._container, fresh, fresh.streams.video[0]
        if old is not None:
            old.close()

    def _sequential_frames(self, first: int) -> Iterator[tuple[int, Any]]:
        """(index, frame) counted from the start; resumes the running pass when it can."""
        if self._seq_gen is None or first < self._seq_next:
            self._close_sequential()
            self._seq_container = self._reopen()
            self._seq_next = 0
            self._seq_gen = enumerate(self._packets_to_frames(self._seq_container))
        for idx, frame in self._seq_gen:
            self._seq_next = idx + 1
            yield idx, frame

    def _close_sequential(self) -> None:
        self._seq_gen = None
        if self._seq_container is not None:
            self._seq_container.close()
            self._seq_container = None

    def _count_decoded(self) -> int:
        """How many frames really decode (timed mode: the last index + 1); cached."""
        if self._decoded_count is None:
            c = self._reopen()
            try:
                last = -1
                for k, frame in enumerate(self._packets_to_frames(c)):
                    if self._sequential:
                        last = k
                    elif frame.pts is not None:
                        last = max(last, self._index_of(frame.pts))
                self._decoded_count = last + 1
            finally:
                c.close()
        return self._decoded_count

    # -- public operations ------------------------------------------------------------
    def get_frames(self, idx: np.ndarray) -> np.ndarray:
        wanted = [int(i) for i in np.unique(idx)]
        n = self.info.num_frames
        if self._count_exact and wanted[-1] >= n:
            raise IndexError(f"{self.path}: frame index {wanted[-1]} out of range (video has {n} frames)")
        found: dict[int, np.ndarray] | None = None
        if not self._sequential:
            try:
                found = self._collect_timed(wanted)
            except _Restart:
                # timestamps missing or out of order: count frames instead
                self._sequential = True
                self._decoded_count = None
        if found is None:
            found = self._collect_sequential(wanted)
        w, h = self._size
        out = np.empty((idx.size, h, w, 3), np.uint8)
        for j, i in enumerate(idx.tolist()):
            out[j] = found[i]
        return out

    def _rgb(self, frame: Any) -> np.ndarray:
        """RGB of a decoded frame at the stream's size (resized when the frame's differs)."""
        w, h = self._size
        if frame.width == w and frame.height == h:
            return frame_to_rgb(frame)
        return frame_to_rgb(frame, size=(w, h))

    def _collect_timed(self, wanted: list[int]) -> dict[int, np.ndarray]:
        want_set = set(wanted)
        back = self._seek_back  # how many frames before the first wanted one the seek aims
        late = 0
        for _ in range(12):
            seek_to = wanted[0] - back
            from_start = seek_to <= 0
            result = self._collect_timed_once(wanted, want_set, from_start, max(seek_to, 0))
            if result == "late":
                # the seek landed after the first wanted frame (B-frame reordering
                # around a keyframe; MPEG-TS seeks by decode timestamp and lands on
                # the next keyframe): aim earlier, and in the end decode from the start
                if from_start:
                    if self._reopen_to_start:
                        raise _Restart
                    # even a seek to the start landed late (an MPEG-TS can skip its
                    # first GOP): go to the start by reopening the file from now on
                    self._reopen_to_start = True
                    continue
                late += 1
                back = max(8, 4 * back)
            elif result == "skipped":
                # a wanted frame was not decoded while frames were being skipped:
                # stop skipping for this file and redo the request
                self._skip_ok = False
            else:
                if late >= 2 or (late and self._seek_back):
                    # this demuxer's seeks land late: aim that far back from now on
                    self._seek_back = max(self._seek_back, back)
                return result
        raise _Restart

    def _collect_timed_once(self, want: list[int], want_set: set[int], from_start: bool, seek_to: int):
        found: dict[int, np.ndarray] = {}
        n, ptr = len(want), 0
        prev_idx, prev_frame, prev_rgb = -(1 << 62), None, None
        gap_filled = False
        skipping = self._skip_ok
        gen = self._timed_frames(seek_to, want_set, from_start)
        try:
            for idx, frame in gen:
                if prev_frame is None and idx > want[0]:
                    # the first frame decoded lies past the first wanted index: the
                    # seek landed late (see _collect_timed)
                    if not (from_start and self._reopen_to_start):
                        return "late"
                    # the video's first frame: earlier slots show it (tiny lead-in only)
                    if idx - want[0] > CLAMP_TOLERANCE:
                        raise VideoDecodeError(self.path, f"frame {want[0]} precedes the first decodable frame ({idx})")
                    prev_rgb = self._rgb(frame)
                    while ptr < n and want[ptr] < idx:
                        found[want[ptr]] = prev_rgb
                        ptr += 1
                elif idx <= prev_idx:
                    continue  # a second frame in the same time slot: keep the first
                while ptr < n and want[ptr] < idx:
                    # no frame starts in this slot: the frame before it is on screen
                    if prev_rgb is None:
                        prev_rgb = self._rgb(prev_frame)
                    found[want[ptr]] = prev_rgb
                    gap_filled = True
                    ptr += 1
                if ptr == n:
                    break
                if prev_frame is not None:
                    prev_rgb = None  # (kept only for the lead-in frame, converted above)
                prev_idx, prev_frame = idx, frame
                if want[ptr] == idx:
                    if prev_rgb is None:
                        prev_rgb = self._rgb(frame)
                    found[idx] = prev_rgb
                    ptr += 1
                    if ptr == n:
                        break
        finally:
            gen.close()
        if gap_filled and skipping:
            return "skipped"
        if ptr == n:
            return found
        # the stream ended before the last wanted frames
        if prev_frame is None or skipping:
            decoded = self._count_decoded()
        else:
            decoded = max(prev_idx + 1, self._decoded_count or 0)
        if any(w < decoded for w in want[ptr:]):  # it exists, so it was skipped (or the decode stopped early)
            if skipping:
                return "skipped"
            raise _Restart
        return self._fill_past_end(found, want[ptr:], prev_frame, decoded, prev_rgb)

    def _fill_past_end(self, found: dict, tail: list[int], last_frame, decoded: int, last_rgb=None) -> dict:
        """Requests past the last decodable frame: the last frame if the shortfall is
        within :data:`CLAMP_TOLERANCE`, else :class:`VideoDecodeError`."""
        expected = self.info.num_frames
        for w in tail:
            _shortfall(self.path, expected, decoded, w)
            if last_frame is None:
                raise VideoDecodeError(self.path, f"truncated: expected {expected} frames, decoded {decoded}")
            if last_rgb is None:
                last_rgb = self._rgb(last_frame)
            found[w] = last_rgb
        return found

    def _collect_sequential(self, want: list[int]) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        n, ptr = len(want), 0
        last_frame = None
        for idx, frame in self._sequential_frames(want[0]):
            last_frame = frame
            if idx == want[ptr]:
                found[idx] = self._rgb(frame)
                ptr += 1
                if ptr == n:
                    break
        if ptr == n:
            return found
        decoded = self._seq_next
        self._decoded_count = decoded
        self._close_sequential()
        return self._fill_past_end(found, want[ptr:], last_frame, decoded)

    def iter_frames(self) -> Iterator[np.ndarray]:
        c = self._reopen()
        n = 0
        try:
            for frame in self._packets_to_frames(c):
                n += 1
                yield self._rgb(frame)
        finally:
            c.close()
        expected = self.info.num_frames
        if n == 0:
            raise VideoDecodeError(self.path, "no frames could be decoded")
        if expected - n > CLAMP_TOLERANCE:
            raise VideoDecodeError(self.path, f"truncated: expected {expected} frames, decoded {n}")

    def close(self) -> None:
        self._close_sequential()
        c = getattr(self, "_container", None)
        if c is not None:
            c.close()
            self._container = None


# ----------------------------------------------------------------------------------
# torchcodec backend
# ----------------------------------------------------------------------------------
_TORCHCODEC_STATUS: tuple[bool, str] | None = None
_TORCHCODEC_HINT = "install FFmpeg libs + `pip install torchcodec`"


def torchcodec_status() -> tuple[bool, str]:
    """``(usable, reason)`` for the torchcodec backend, checked once and lazily.

    Usable means: ``torchcodec`` imports *and* decodes a tiny video made here
    (torchcodec imports even when FFmpeg's shared libraries are missing; it
    fails only when a decoder is created).
    """
    global _TORCHCODEC_STATUS
    if _TORCHCODEC_STATUS is None:
        try:
            from torchcodec.decoders import VideoDecoder

            frame = VideoDecoder(_tiny_video(), dimension_order="NHWC").get_frame_at(0)
            if tuple(frame.data.shape) != (16, 16, 3):
                raise RuntimeError(f"decoded a frame of shape {tuple(frame.data.shape)}, expected (16, 16, 3)")
            _TORCHCODEC_STATUS = (True, "ok")
        except Exception as e:  # ImportError, FFmpeg libraries that fail to load, ...
            _TORCHCODEC_STATUS = (False, f"{type(e).__name__}: {_short(e)}")
    return _TORCHCODEC_STATUS


def _tiny_video() -> bytes:
    """A 2-frame 16x16 MPEG-4 Part 2 video in memory (for the torchcodec check)."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width = s.height = 16
        s.pix_fmt = "yuv420p"
        for i in range(2):
            img = np.full((16, 16, 3), 60 * i, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


class _TorchCodecDecoder:
    """The same interface over ``torchcodec.decoders.VideoDecoder`` (seek_mode="exact")."""

    def __init__(self, path: str, threads: int):
        ok, reason = torchcodec_status()
        if not ok:
            raise VideoDecodeError(path, f"torchcodec backend unavailable: {reason}; {_TORCHCODEC_HINT}")
        from torchcodec.decoders import VideoDecoder

        self.path = path
        try:
            self._dec = VideoDecoder(path, dimension_order="NHWC", num_ffmpeg_threads=threads, seek_mode="exact")
        except Exception as e:
            raise VideoDecodeError(path, f"cannot open with torchcodec ({_short(e, path)})") from None
        self._info: VideoInfo | None = None
        m = self._dec.metadata
        self._num = int(m.num_frames or 0)
        header = getattr(m, "num_frames_from_header", None)
        self._expected = max(self._num, int(header or 0))
        if self._num <= 0:
            raise VideoDecodeError(path, "no video frames (torchcodec)")

    @property
    def info(self) -> VideoInfo:
        if self._info is None:
            m = self._dec.metadata
            fps = float(m.average_fps or 0.0)
            self._info = VideoInfo(
                path=self.path,
                fps=fps,
                num_frames=self._num,
                duration=float(m.duration_seconds or (self._num / fps if fps else 0.0)),
                width=int(m.width),
                height=int(m.height),
                codec=str(m.codec),
                has_audio=self._has_audio(),
            )
        return self._info

    def _has_audio(self) -> bool:
        try:
            from torchcodec.decoders import get_container_metadata  # torchcodec >= 0.17

            meta = get_container_metadata(self.path)
            return any(getattr(s, "media_type", None) == "audio" for s in meta.streams if s is not None)
        except Exception:
            import av

            try:
                with av.open(self.path, metadata_errors="ignore") as c:
                    return len(c.streams.audio) > 0
            except Exception:
                return False

    def get_frames(self, idx: np.ndarray) -> np.ndarray:
        n = self._num
        over = idx >= n
        if over.any():
            w = int(idx[over].max())
            _shortfall(self.path, self._expected, n, w)
            idx = np.minimum(idx, n - 1)
        wanted, inverse = np.unique(idx, return_inverse=True)
        try:
            batch = self._dec.get_frames_at([int(i) for i in wanted])
        except Exception as e:
            raise VideoDecodeError(self.path, f"decode failed (torchcodec: {_short(e, self.path)})") from None
        data = self._fit(batch.data.numpy())
        return np.ascontiguousarray(data[inverse])

    def _fit(self, data: np.ndarray) -> np.ndarray:
        """A ``(N, H, W, 3)`` batch at info's size (see "Frame size")."""
        info = self.info
        if data.shape[1:3] == (info.height, info.width):
            return data
        return resize_rgb(data, info.width, info.height)

    def iter_frames(self) -> Iterator[np.ndarray]:
        chunk = 32
        for start in range(0, self._num, chunk):
            try:
                batch = self._dec.get_frames_in_range(start, min(start + chunk, self._num))
            except Exception as e:
                raise VideoDecodeError(self.path, f"decode failed (torchcodec: {_short(e, self.path)})") from None
            yield from self._fit(batch.data.numpy())

    def close(self) -> None:
        self._dec = None


def _short(err: BaseException, path: str | None = None) -> str:
    """First line of an error, without C++ source locations or a repeated path."""
    import re

    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    line = re.sub(r"\b\w+, /\S+\.(?:cpp|h|cu):\d+, ", "", line)
    if path:
        line = line.replace(f": {path} ", ": ").replace(path, "<file>")
    return line.strip()
