"""The decoder's rules for where a video starts and what size its frames are (module docstring of
vidlab.io.video: "Frame indices", "Frame size"), on small videos written here with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vidlab.io.video as video_mod
from vidlab.io import VideoDecodeError, VideoReader


# --- writers ---------------------------------------------------------------------------
def _configure(stream, codec: str, gop: int, bframes: int) -> None:
    if codec == "libx264":
        stream.options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"}
    else:
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes


def write_stream(path: Path, frames: np.ndarray, fmt: str, codec: str, *, gop: int = 5, bframes: int = 0,
                 drop_first_packets: int = 0, pts_offset: int = 0) -> Path:
    """Encode ``frames`` (25 fps) into container ``fmt``; the first ``drop_first_packets`` packets
    (decode order) are left out, which cuts the stream in the middle of its first GOP."""
    with av.open(str(path), mode="w", format=fmt) as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        _configure(s, codec, gop, bframes)
        k = 0
        for i, f in enumerate(list(frames) + [None]):
            vf = None
            if f is not None:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
                vf.pts, vf.time_base = pts_offset + i, Fraction(1, 25)
            for packet in s.encode(vf):
                if k >= drop_first_packets:
                    c.mux(packet)
                k += 1
    return path


def write_mjpeg_sizes(path: Path, fmt: str, segments: list[np.ndarray]) -> Path:
    """One MJPEG stream whose frames change size between ``segments`` (the header has the first size)."""
    with av.open(str(path), mode="w", format=fmt) as c:
        s = c.add_stream("mjpeg", rate=25)
        s.width, s.height, s.pix_fmt = segments[0].shape[2], segments[0].shape[1], "yuvj420p"
        i = 0
        for seg in segments:
            enc = av.CodecContext.create("mjpeg", "w")
            enc.width, enc.height, enc.pix_fmt = seg.shape[2], seg.shape[1], "yuvj420p"
            enc.time_base = Fraction(1, 25)
            for f in seg:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
                vf.pts, vf.time_base = i, enc.time_base
                for packet in enc.encode(vf):
                    packet.stream = s
                    packet.pts = packet.dts = i
                    packet.time_base = Fraction(1, 25)
                    c.mux(packet)
                i += 1
    return path


def _nearest(frame: np.ndarray, source: np.ndarray) -> int:
    """Index of the source frame that ``frame`` shows (smallest mean absolute difference)."""
    diff = np.abs(source.astype(np.int16) - frame.astype(np.int16)).mean(axis=(1, 2, 3))
    return int(diff.argmin())


def _all_paths(path: Path) -> tuple[VideoReader, dict[str, np.ndarray]]:
    """Every frame through each read path: streaming, read_all, one batch, single indices
    (forwards and backwards, so that seeks land everywhere)."""
    r = VideoReader(path)
    n = r.info.num_frames
    out = {
        "iter": np.stack(list(r.iter_frames())),
        "read_all": r.read_all(),
        "batch": r.get_frames(np.arange(n)),
        "single": np.stack([r.get_frames([i])[0] for i in range(n)]),
        "single_rev": np.stack([r.get_frames([i])[0] for i in reversed(range(n))])[::-1],
    }
    return r, out


# --- A1: a stream's first frame --------------------------------------------------------
TS_CASES = [("libx264", 3), ("libx264", 0), ("mpeg2video", 0), ("mpeg2video", 2), ("mpeg1video", 2)]


@pytest.mark.parametrize("codec,bframes", TS_CASES)
def test_mpegts_12_frames_all_decode(tmp_path, make_frames, codec, bframes):
    """A valid 12-frame MPEG-TS (GOP 5): FFmpeg's seek to its start lands on the second GOP,
    which once made frame 0 "precede the first decodable frame"; every index decodes now."""
    src = make_frames(12)
    path = write_stream(tmp_path / "clip.ts", src, "mpegts", codec, gop=5, bframes=bframes)
    r, got = _all_paths(path)
    with r:
        assert r.info.num_frames == 12
        for name, frames in got.items():
            assert frames.shape == (12, 48, 64, 3), name
            np.testing.assert_array_equal(frames, got["iter"], err_msg=name)
        assert [_nearest(f, src) for f in got["iter"]] == list(range(12))
        # seeks into the middle and back to the start, in one reader
        for idx in ([7, 8], [0], [11, 0, 5], [3]):
            np.testing.assert_array_equal(r.get_frames(idx), got["iter"][idx])


@pytest.mark.parametrize("gop", [12, 300])
def test_mpegts_random_access(tmp_path, make_frames, gop):
    """MPEG-TS seeks land on the keyframe *after* the target: random access still returns the frames of a
    full decode, for short GOPs (aiming earlier) and for one GOP over the whole clip (from the start)."""
    path = write_stream(tmp_path / "long.ts", make_frames(120), "mpegts", "libx264", gop=gop, bframes=2)
    with VideoReader(path) as r:
        ref = r.read_all()
        assert len(ref) == r.info.num_frames == 120
        rng = np.random.default_rng(gop)
        for idx in ([0], [119], [60, 61, 62], [13, 5, 100], rng.integers(0, 120, 8), [24], [0, 119]):
            np.testing.assert_array_equal(r.get_frames(idx), ref[np.asarray(idx)], err_msg=str(idx))


def test_seek_to_start_stays_a_seek(gop_mp4):
    """Frame 0 of an MP4 comes from a seek; only demuxers whose seek to the start lands late are reopened."""
    with VideoReader(gop_mp4) as r:
        first = r.get_frames([0, 1])
        np.testing.assert_array_equal(first, r.read_all()[:2])
        assert r._impl._reopen_to_start is False and r._impl._seek_back == 0


@pytest.mark.parametrize("fmt,ext", [("mpegts", "ts"), ("matroska", "mkv"), ("mp4", "mp4"), ("avi", "avi")])
@pytest.mark.parametrize("codec,bframes", [("libx264", 0), ("libx264", 2), ("mpeg2video", 2)])
def test_stream_cut_mid_gop(tmp_path, make_frames, fmt, ext, codec, bframes):
    """24 frames in GOPs of 12, the first 5 packets missing: the frames before the second keyframe
    cannot be decoded, so they are not counted and frame 0 is source frame 12."""
    src = make_frames(24)
    path = write_stream(tmp_path / f"cut.{ext}", src, fmt, codec, gop=12, bframes=bframes, drop_first_packets=5)
    r, got = _all_paths(path)
    with r:
        assert r.info.num_frames == 12
        for name, frames in got.items():
            assert len(frames) == 12, name
            np.testing.assert_array_equal(frames, got["iter"], err_msg=name)
        assert [_nearest(f, src) for f in got["iter"]] == list(range(12, 24))


def test_undecodable_start_not_probed_for_clean_files(gop_mp4, monkeypatch):
    """The first frame is decoded at open only when the first packets suggest a cut stream."""
    calls = []
    real = video_mod._PyAVDecoder._first_decoded_pts

    def spy(self):
        calls.append(self.path)
        return real(self)

    monkeypatch.setattr(video_mod._PyAVDecoder, "_first_decoded_pts", spy)
    with VideoReader(gop_mp4) as r:
        assert r.info.num_frames == 120
    assert calls == []


# --- A2: one frame size ------------------------------------------------------------------
def _size_change_file(kind: str, tmp_path: Path, make_frames) -> tuple[Path, np.ndarray, np.ndarray]:
    small, big = make_frames(6, h=48, w=64), make_frames(6, h=72, w=96, seed=1)
    if kind == "mjpeg-avi":
        return write_mjpeg_sizes(tmp_path / "sizes.avi", "avi", [small, big]), small, big
    if kind == "mjpeg-mkv":
        return write_mjpeg_sizes(tmp_path / "sizes.mkv", "matroska", [small, big]), small, big
    # two H.264 MPEG-TS files, one after the other (in-band SPS: the decoder switches size)
    a = write_stream(tmp_path / "a.ts", small, "mpegts", "libx264", gop=3, bframes=2)
    b = write_stream(tmp_path / "b.ts", big, "mpegts", "libx264", gop=3, bframes=2, pts_offset=6)
    path = tmp_path / "sizes.ts"
    path.write_bytes(a.read_bytes() + b.read_bytes())
    return path, small, big


@pytest.mark.parametrize("kind", ["mjpeg-avi", "mjpeg-mkv", "h264-ts-concat"])
def test_size_change_mid_stream(tmp_path, make_frames, kind):
    """64x48 frames, then 96x72 ones: every read path returns 64x48 (info's size), the larger
    frames resized with swscale's bilinear filter, identically in every path."""
    path, small, big = _size_change_file(kind, tmp_path, make_frames)
    with av.open(str(path)) as c:  # the file really changes size
        raw = list(c.decode(video=0))
        assert {(f.width, f.height) for f in raw} == {(64, 48), (96, 72)}
        expected = np.stack([video_mod.frame_to_rgb(f, size=(64, 48)) for f in raw])
    r, got = _all_paths(path)
    with r:
        assert (r.info.width, r.info.height, r.info.num_frames) == (64, 48, 12)
        for name, frames in got.items():
            assert frames.shape == (12, 48, 64, 3), name
            np.testing.assert_array_equal(frames, expected, err_msg=name)
        assert r.get_frames([]).shape == (0, 48, 64, 3)
    # and the resized frames show the source frames (not, e.g., a crop)
    for i in range(6):
        ref = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[i]), format="rgb24")
        ref_small = ref.to_ndarray(format="rgb24", width=64, height=48, interpolation="BILINEAR")
        assert np.abs(got["iter"][6 + i].astype(int) - ref_small.astype(int)).mean() < 12
        assert np.abs(got["iter"][i].astype(int) - small[i].astype(int)).mean() < 12


def test_frame_to_rgb_size(make_frames):
    """``size=`` resizes with RESIZE_INTERPOLATION in the conversion; the frame's own size is a no-op."""
    img = make_frames(1, h=72, w=96)[0]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    np.testing.assert_array_equal(video_mod.frame_to_rgb(frame, size=(96, 72)), img)
    out = video_mod.frame_to_rgb(frame, size=(64, 48))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    ref = frame.reformat(width=64, height=48, format="rgb24", interpolation=video_mod.RESIZE_INTERPOLATION)
    np.testing.assert_array_equal(out, ref.to_ndarray())
    assert video_mod.RESIZE_INTERPOLATION == "BILINEAR"


def test_resize_rgb():
    """The resize used for decoders without PyAV frames (torchcodec): shape, dtype, flat stays flat."""
    flat = np.full((2, 72, 96, 3), 77, np.uint8)
    out = video_mod.resize_rgb(flat, 64, 48)
    assert out.shape == (2, 48, 64, 3) and out.dtype == np.uint8
    assert (out == 77).all()
    ramp = np.tile(np.linspace(0, 255, 96).astype(np.uint8)[None, None, :, None], (1, 72, 1, 3))
    up = video_mod.resize_rgb(ramp, 192, 144)[0, 0, :, 0].astype(int)
    assert (np.diff(up) >= 0).all()  # monotone: an interpolation, not nearest-neighbour garbage


def test_implausible_header_size(gop_mp4, monkeypatch):
    monkeypatch.setattr(video_mod, "MAX_FRAME_PIXELS", 64 * 47)
    with pytest.raises(VideoDecodeError, match="implausible frame size 64x48"):
        VideoReader(gop_mp4)


def test_implausible_frame_side(gop_mp4, monkeypatch):
    """A side past MAX_FRAME_SIDE is refused even when the pixel count would pass (fuzz case: a GIF whose
    height field became 65504 decoded 79 frames of 224x65504, 8 s of work for garbage)."""
    monkeypatch.setattr(video_mod, "MAX_FRAME_SIDE", 63)
    with pytest.raises(VideoDecodeError, match="implausible frame size 64x48"):
        VideoReader(gop_mp4)
    monkeypatch.setattr(video_mod, "MAX_FRAME_SIDE", 64)
    VideoReader(gop_mp4).close()


def test_demuxer_index_error_ends_the_stream(gop_mp4, monkeypatch):
    """PyAV's demuxer raises IndexError on a packet of a stream that appeared after opening (fuzz: corrupt
    MPEG-TS); the decoder treats it as the end of the readable data: a VideoDecodeError or fewer frames."""
    import av

    real_demux = av.container.InputContainer.demux

    class Boom:
        def __init__(self, it):
            self.it, self.n = it, 0

        def __iter__(self):
            return self

        def __next__(self):
            self.n += 1
            if self.n > 3:
                raise IndexError("list index out of range")
            return next(self.it)

        def close(self):
            pass

    made = []

    def demux(self, *a, **k):
        made.append(Boom(real_demux(self, *a, **k)))
        return made[-1]

    monkeypatch.setattr(av.container.InputContainer, "demux", demux)
    try:
        with VideoReader(gop_mp4) as r:
            r.read_all()
    except VideoDecodeError:
        pass
    assert made and any(b.n > 3 for b in made)  # the IndexError was raised, and handled
