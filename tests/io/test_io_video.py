"""VideoReader / probe_video on the real clips of ../shared and on videos made here."""

from __future__ import annotations

import numpy as np
import pytest

import vidlab.io.video as video_mod
from vidlab.io import VideoDecodeError, VideoInfo, VideoReader, probe_video, write_video

# At least one file of each kind the brief names (KTH avi, UCF101 avi incl. one
# with packed B-frames, the UCF101 gif, HMDB51 avi with a frame-skip marker and
# an HMDB51 mp4, Kinetics mp4, ASL mkv incl. the one with a dropped frame, the
# people demo mp4 and a gif).
REQUIRED = [
    "kth/boxing/person05_boxing_d2_uncomp.avi",
    "ucf101/videos/HeadMassage/v_HeadMassage_g02_c05.avi",
    "ucf101/videos/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
    "ucf101/gif/v_CricketShot_g04_c01_rgb.gif",
    "hmdb51/videos/golf/Golf_Tips_-_Hit_The_Driver_300_Yards_golf_f_nm_np1_fr_med_0.avi",
    "hmdb51/videos/talk/Fellowship_4_talk_u_nm_np1_fr_med_0.mp4",
    "kinetics/videos/abseiling_k400.mp4",
    "kinetics/videos/tai_chi__stgcn_ta_chi.mp4",
    "asl_gestures/again.mkv",
    "asl_gestures/brother.mkv",
    "people_demo/basketball_gym__mmaction2_test_video_structuralize.mp4",
    "people_demo/classroom.gif",
]


@pytest.mark.parametrize("rel", REQUIRED)
def test_probe_matches_manifest(rel, real, manifest):
    path = real(rel)
    row = manifest[rel]
    info = probe_video(path)
    assert isinstance(info, VideoInfo)
    assert info.path == str(path)
    assert info.num_frames == row["frames"]
    assert info.fps == pytest.approx(row["fps"], abs=0.01)
    assert (info.width, info.height) == (row["width"], row["height"])
    assert info.codec == row["codec"]
    assert info.has_audio == row["has_audio"]
    assert info.duration == pytest.approx(row["duration"], abs=0.02)


def test_every_manifest_video_count(real, manifest):
    """The counting rule gives the MANIFEST's decoded count for every real clip."""
    wrong = {}
    for rel, row in manifest.items():
        info = probe_video(real(rel))
        if info.num_frames != row["frames"] or abs(info.fps - row["fps"]) > 0.01:
            wrong[rel] = (info.num_frames, row["frames"], info.fps, row["fps"])
    assert not wrong


# --- random access equals a full sequential decode ------------------------------------
SEEK_FILES = [
    "kth/boxing/person05_boxing_d2_uncomp.avi",  # AVI, 101 keyframes: timestamp seeking
    "hmdb51/videos/golf/Golf_Tips_-_Hit_The_Driver_300_Yards_golf_f_nm_np1_fr_med_0.avi",  # packed AVI
    "ucf101/videos/Shotput/v_Shotput_g05_c02.avi",  # packed B-frames
    "kinetics/videos/tai_chi__stgcn_ta_chi.mp4",  # H.264 with B-frames, 29.97 fps
    "asl_gestures/brother.mkv",  # a dropped frame: exact ranks from the scanned pts
    "ucf101/gif/v_CricketShot_g04_c01_rgb.gif",
]


def _check_random_access(path, rng):
    with VideoReader(path) as r:
        ref = r.read_all()
        n = len(ref)
        assert n == r.info.num_frames == len(r)
        mid = n // 2
        cases = [
            np.arange(mid, min(mid + 20, n), 2),  # seek into the middle, stride 2
            np.array([n - 1, 0, mid, mid, 3, n - 1]),  # any order, duplicates
            rng.integers(0, n, 16),
            np.arange(n - 5, n),  # the tail
            np.array([mid]),
        ]
        for idx in cases:
            got = r.get_frames(idx)
            assert got.dtype == np.uint8 and got.shape == (len(idx),) + ref.shape[1:]
            np.testing.assert_array_equal(got, ref[idx])


@pytest.mark.parametrize("rel", SEEK_FILES)
def test_get_frames_equals_sequential_decode(rel, real):
    _check_random_access(real(rel), np.random.default_rng(0))


def test_get_frames_gop_mp4(gop_mp4):
    """GOP 12 + B-frames: every window, including those starting just before a keyframe."""
    with VideoReader(gop_mp4) as r:
        ref = r.read_all()
        assert r.info.num_frames == 120 and r.info.fps == pytest.approx(25.0)
        for start in (0, 10, 11, 12, 13, 22, 23, 59, 60, 61, 100):
            idx = np.arange(start, min(start + 16, 120), 2)
            np.testing.assert_array_equal(r.get_frames(idx), ref[idx])
        # requests in descending order of position reuse one reader
        for start in (100, 50, 5):
            np.testing.assert_array_equal(r.get_frames([start, start + 1]), ref[[start, start + 1]])
    _check_random_access(gop_mp4, np.random.default_rng(1))


def test_get_frames_seeks_and_converts_only_requested(gop_mp4, monkeypatch):
    """A window in the middle decodes from the keyframe before it, not from frame 0,
    and converts to RGB exactly the frames asked for."""
    decoded = []
    converted = []
    real_iter = video_mod._PyAVDecoder._packets_to_frames
    real_rgb = video_mod.frame_to_rgb

    def counting_iter(self, container, skip=None):
        for f in real_iter(self, container, skip):
            decoded.append(f.pts)
            yield f

    def counting_rgb(frame):
        converted.append(frame.pts)
        return real_rgb(frame)

    monkeypatch.setattr(video_mod._PyAVDecoder, "_packets_to_frames", counting_iter)
    monkeypatch.setattr(video_mod, "frame_to_rgb", counting_rgb)
    with VideoReader(gop_mp4) as r:
        idx = [97, 99, 101, 99, 103]
        frames = r.get_frames(idx)
    assert frames.shape[0] == 5
    assert len(converted) == 4  # unique frames only
    # keyframe 96 .. 103 is at most 8 frames (+ decoder delay), never the 104 from frame 0
    assert 0 < len(decoded) <= 16


def test_skipping_never_changes_frames(gop_mp4):
    """Frame skipping (NONREF) on or off gives identical frames."""
    idx = np.arange(30, 90, 3)
    with VideoReader(gop_mp4) as a, VideoReader(gop_mp4) as b:
        b._impl._skip_ok = False
        np.testing.assert_array_equal(a.get_frames(idx), b.get_frames(idx))


def test_iter_frames_and_threads(real):
    path = real("ucf101/videos/Basketball/v_Basketball_g01_c01.avi")
    with VideoReader(path) as r:
        ref = r.read_all()
        streamed = list(r.iter_frames())
    assert len(streamed) == 141
    np.testing.assert_array_equal(np.stack(streamed), ref)
    with VideoReader(path, threads=1) as r1:
        np.testing.assert_array_equal(r1.get_frames([0, 70, 140]), ref[[0, 70, 140]])


def test_index_errors(gop_mp4):
    with VideoReader(gop_mp4) as r:
        with pytest.raises(IndexError):
            r.get_frames([-1])
        with pytest.raises(IndexError):
            r.get_frames([0, 120])
        with pytest.raises(TypeError):
            r.get_frames([0.5])
        assert r.get_frames([]).shape == (0, 48, 64, 3)


# --- writer round trip ----------------------------------------------------------------
def test_writer_round_trip(tmp_path, make_frames):
    frames = make_frames(30, 48, 64)
    out = write_video(tmp_path / "rt.mp4", frames, fps=12.5, gop=10)
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height) == (30, 64, 48)
    assert info.fps == pytest.approx(12.5)
    assert info.codec == "h264" and not info.has_audio
    with VideoReader(out) as r:
        back = r.read_all()
        assert back.shape == frames.shape
        err = np.abs(back.astype(np.int16) - frames.astype(np.int16))
        assert err.mean() < 4.0
        np.testing.assert_array_equal(r.get_frames([29, 5, 17]), back[[29, 5, 17]])


def test_writer_round_trip_odd_size_all_intra(tmp_path, make_frames):
    frames = make_frames(8, 33, 47)
    out = write_video(tmp_path / "odd.mp4", frames, fps=30, gop=1)
    with VideoReader(out) as r:
        assert (r.info.width, r.info.height, r.info.num_frames) == (48, 34, 8)  # padded to even
        back = r.read_all()[:, :33, :47]
    assert np.abs(back.astype(np.int16) - frames.astype(np.int16)).mean() < 4.0


def test_writer_keeps_odd_size_with_444_chroma(tmp_path, make_frames):
    frames = make_frames(6, 33, 47)
    out = write_video(tmp_path / "odd444.mp4", frames, fps=30, odd_size="keep")
    with VideoReader(out) as r:
        assert (r.info.width, r.info.height, r.info.num_frames) == (47, 33, 6)  # exact size
        back = r.read_all()
    assert back.shape == frames.shape
    assert np.abs(back.astype(np.int16) - frames.astype(np.int16)).mean() < 4.0
    even = write_video(tmp_path / "even.mp4", make_frames(2, 32, 48), fps=30, odd_size="keep")
    import av

    with av.open(str(even)) as c:  # even sizes keep the widely playable 4:2:0
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    with pytest.raises(ValueError, match="odd_size"):
        write_video(tmp_path / "x.mp4", frames, fps=30, odd_size="crop")


# --- truncation and the clamp rule -------------------------------------------------------
def _packet_sizes(path):
    import av

    with av.open(str(path)) as c:
        return [p.size for p in c.demux(c.streams.video[0]) if p.size]


def test_truncated_tail_within_tolerance_clamps(tmp_path, intra_faststart_mp4):
    sizes = _packet_sizes(intra_faststart_mp4)
    data = intra_faststart_mp4.read_bytes()
    cut = tmp_path / "minus1.mp4"
    cut.write_bytes(data[: len(data) - sizes[-1]])  # drop the last frame's bytes
    with VideoReader(intra_faststart_mp4) as full, VideoReader(cut) as r:
        assert r.info.num_frames == 60  # the container still says 60
        ref = full.get_frames([58])
        # frame 59 is gone: a shortfall of 1 frame is served by the last decoded one
        np.testing.assert_array_equal(r.get_frames([59, 58]), np.concatenate([ref, ref]))
        assert len(r.read_all()) == 59


def test_truncated_tail_beyond_tolerance_raises(tmp_path, intra_faststart_mp4):
    sizes = _packet_sizes(intra_faststart_mp4)
    data = intra_faststart_mp4.read_bytes()
    cut = tmp_path / "minus5.mp4"
    cut.write_bytes(data[: len(data) - sum(sizes[-5:])])
    with VideoReader(cut) as r:
        assert r.get_frames([0, 54]).shape[0] == 2  # what is there still decodes
        with pytest.raises(VideoDecodeError, match=r"truncated: expected 60 frames, decoded 55") as ei:
            r.get_frames([50, 58])
        assert str(cut) in str(ei.value)
        with pytest.raises(VideoDecodeError, match="truncated"):
            r.read_all()


def test_truncated_30_percent_faststart(tmp_path, intra_faststart_mp4):
    data = intra_faststart_mp4.read_bytes()
    cut = tmp_path / "thirty.mp4"
    cut.write_bytes(data[: int(len(data) * 0.3)])
    with VideoReader(cut) as r:
        with pytest.raises(VideoDecodeError, match=r"truncated: expected 60 frames, decoded \d+"):
            r.get_frames([40])


def test_truncated_real_avi(tmp_path, real):
    src = real("kth/boxing/person02_boxing_d4_uncomp.avi").read_bytes()
    cut = tmp_path / "kth_30.avi"
    cut.write_bytes(src[: int(len(src) * 0.3)])
    with VideoReader(cut) as r:
        assert r.get_frames([10]).shape == (1, 120, 160, 3)
        with pytest.raises(VideoDecodeError, match=r"truncated: expected 522 frames, decoded \d+"):
            r.get_frames([400])


# --- broken inputs ------------------------------------------------------------------------
def _bad_files(tmp_path, real_dir_ok: bool, real):
    import av

    files = {}
    files["missing"] = tmp_path / "nope.mp4"
    (tmp_path / "empty.mp4").write_bytes(b"")
    files["empty"] = tmp_path / "empty.mp4"
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 40)
    files["text named mp4"] = tmp_path / "text.mp4"
    (tmp_path / "notes.txt").write_text("plain text\nsecond line\n")
    files["plain text"] = tmp_path / "notes.txt"
    rng = np.random.default_rng(0)
    (tmp_path / "random.mp4").write_bytes(rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    files["random bytes"] = tmp_path / "random.mp4"
    import zipfile

    with zipfile.ZipFile(tmp_path / "archive.avi", "w") as z:
        z.writestr("a.txt", "zip, not a video" * 100)
    files["zip named avi"] = tmp_path / "archive.avi"
    (tmp_path / "a_dir.mp4").mkdir()
    files["directory"] = tmp_path / "a_dir.mp4"
    audio = tmp_path / "audio.m4a"
    with av.open(str(audio), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    files["audio only"] = audio
    if real_dir_ok:
        src = real("kinetics/videos/abseiling_k400.mp4").read_bytes()  # moov at the end
        (tmp_path / "trunc.mp4").write_bytes(src[: int(len(src) * 0.3)])
        files["truncated 30% (moov at end)"] = tmp_path / "trunc.mp4"
    return files


EXPECTED_REASON = {
    "missing": "file not found",
    "empty": "empty file",
    "text named mp4": "not a video",
    "plain text": "not a video",
    "random bytes": "not a video",
    "zip named avi": "not a video",
    "directory": "directory",
    "audio only": "no video stream",
    "truncated 30% (moov at end)": "not a video",
}


@pytest.mark.parametrize("backend", ["pyav", "torchcodec"])
def test_broken_inputs_raise_videodecodeerror(tmp_path, real, have_real, backend):
    import time

    if backend == "torchcodec" and not video_mod.torchcodec_status()[0]:
        pytest.skip(f"torchcodec not usable here: {video_mod.torchcodec_status()[1]}")
    for name, path in _bad_files(tmp_path, have_real, real).items():
        t0 = time.monotonic()
        with pytest.raises(VideoDecodeError) as ei:
            with VideoReader(path, backend=backend) as r:
                r.get_frames([0])
        msg = str(ei.value)
        assert str(path) in msg, name
        assert len(msg) < len(str(path)) + 160, msg  # one short line
        if backend == "pyav":
            assert EXPECTED_REASON[name] in msg, (name, msg)
        assert time.monotonic() - t0 < 10, name
        with pytest.raises(VideoDecodeError):
            probe_video(path, backend=backend)


def test_corrupt_middle_never_returns_garbage_silently(tmp_path, gop_mp4):
    """Random bytes over the middle of the data: frames still come back (FFmpeg conceals)
    or VideoDecodeError is raised; nothing else, and quickly."""
    import time

    data = bytearray(gop_mp4.read_bytes())
    rng = np.random.default_rng(3)
    a, b = len(data) // 3, len(data) // 3 + 4000
    data[a:b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    t0 = time.monotonic()
    try:
        with VideoReader(bad) as r:
            frames = r.get_frames(np.arange(0, 120, 7))
            assert frames.shape == (18, 48, 64, 3)
    except VideoDecodeError as e:
        assert str(bad) in str(e)
    assert time.monotonic() - t0 < 20


def test_decode_error_budget(gop_mp4, monkeypatch):
    """Past the error budget a file is reported as corrupt instead of being read on."""
    import av

    calls = {"n": 0}

    def failing_decode(cc, packet):
        calls["n"] += 1
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(video_mod, "_decode", failing_decode)
    with VideoReader(gop_mp4) as r:
        with pytest.raises(VideoDecodeError, match="corrupt: more than 32 decode errors") as ei:
            r.get_frames([100])
    assert str(gop_mp4) in str(ei.value)
    # the budget ends each pass; at most the seek pass plus one counting pass ran
    assert video_mod.MAX_DECODE_ERRORS < calls["n"] <= 2 * (video_mod.MAX_DECODE_ERRORS + 1)


# --- backends -----------------------------------------------------------------------------
def test_unknown_backend_and_torchcodec_unavailable(gop_mp4, monkeypatch):
    with pytest.raises(ValueError, match="unknown video backend"):
        VideoReader(gop_mp4, backend="opencv")
    monkeypatch.setattr(video_mod, "_TORCHCODEC_STATUS", (False, "ImportError: No module named 'torchcodec'"))
    with pytest.raises(VideoDecodeError, match=r"torchcodec backend unavailable: ImportError.*pip install torchcodec"):
        VideoReader(gop_mp4, backend="torchcodec")
    with VideoReader(gop_mp4, backend="auto") as r:
        assert r.backend == "pyav"
        assert r.get_frames([3]).shape == (1, 48, 64, 3)


TORCHCODEC_FILES = [
    "kinetics/videos/abseiling_k400.mp4",
    "kth/boxing/person05_boxing_d2_uncomp.avi",
    "asl_gestures/brother.mkv",
    "ucf101/gif/v_CricketShot_g04_c01_rgb.gif",
]


@pytest.mark.parametrize("rel", TORCHCODEC_FILES)
def test_torchcodec_matches_pyav(rel, real):
    ok, reason = video_mod.torchcodec_status()
    if not ok:
        pytest.skip(f"torchcodec backend not usable here ({reason}); install FFmpeg libs + `pip install torchcodec`")
    path = real(rel)
    with VideoReader(path, backend="pyav") as a, VideoReader(path, backend="torchcodec") as b:
        assert b.backend == "torchcodec"
        ia, ib = a.info, b.info
        assert ia.num_frames == ib.num_frames
        assert (ia.width, ia.height, ia.has_audio) == (ib.width, ib.height, ib.has_audio)
        n = ia.num_frames
        idx = np.array([n // 2, 0, 5, n // 2 + 1, n - 1, 5])
        fa, fb = a.get_frames(idx).astype(np.int16), b.get_frames(idx).astype(np.int16)
        assert fa.shape == fb.shape
        diff = np.abs(fa - fb)
        assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 3
        streamed = np.stack(list(b.iter_frames()))
        assert streamed.shape[0] == n


def test_auto_backend_picks_torchcodec_when_usable(gop_mp4):
    ok, _ = video_mod.torchcodec_status()
    with VideoReader(gop_mp4, backend="auto") as r:
        assert r.backend == ("torchcodec" if ok else "pyav")
        assert r.get_frames([0, 60]).shape == (2, 48, 64, 3)


def test_torchcodec_status_requires_a_working_decoder(monkeypatch):
    """torchcodec imports even without FFmpeg libraries; the status check decodes for real."""
    ok, reason = video_mod.torchcodec_status()
    if not ok:
        pytest.skip(f"torchcodec not importable/usable here: {reason}")
    import torchcodec.decoders

    class Broken:
        def __init__(self, *a, **k):
            raise RuntimeError("Could not load libtorchcodec. Likely causes: FFmpeg is not installed\nmore text")

    monkeypatch.setattr(torchcodec.decoders, "VideoDecoder", Broken)
    monkeypatch.setattr(video_mod, "_TORCHCODEC_STATUS", None)
    ok, reason = video_mod.torchcodec_status()
    assert not ok and reason == "RuntimeError: Could not load libtorchcodec. Likely causes: FFmpeg is not installed"


_FORK_AFTER_THREADED_SCALE = """
import multiprocessing as mp

import av
import numpy as np

from vidlab.io.video import frame_to_rgb

frame = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
frame.to_ndarray(format="rgb24", width=160, height=120)  # PyAV's default: swscale's own threads


def child(q):
    q.put(frame_to_rgb(frame, (80, 60)).shape)


ctx = mp.get_context("fork")
q = ctx.Queue()
p = ctx.Process(target=child, args=(q,))
p.start()
p.join(60)
if p.is_alive():
    p.kill()
    print("child hung")
else:
    print("child", q.get(timeout=10))
"""


def test_forked_worker_converts_after_a_threaded_conversion_in_the_parent():
    # PyAV keeps one scaler per thread; a DataLoader worker forked after the parent scaled a frame with
    # swscale's threads (here PyAV's default; `vidlab data prepare` did so) inherited that scaler without
    # its threads and hung for ever at its first conversion to another size.
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _FORK_AFTER_THREADED_SCALE], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "child (60, 80, 3)"
