#!/usr/bin/env python
"""Fuzzing vidlab's video decoder with damaged copies of the real clips.

Each case takes one clip of ``shared/data/real`` (or an MPEG-TS / Matroska remux of one, made at start-up
without re-encoding), damages it with one mutation picked by a seeded RNG -- byte and bit flips, truncation,
zeroed headers and ranges, chunk swaps / copies / deletions, inserted or appended garbage, extreme values in
integer fields and next to container tags, a splice of two clips, a wrong file extension, or several of these
at once -- and decodes it through vidlab's public API: open a ``VideoReader``, read ``info``, stream every
frame with ``iter_frames``, then one ``get_frames`` batch and a few single indices in ``[0, num_frames)``
(half the cases with FFmpeg's decoder threads, ``threads=0``, half with ``threads=1``).
Every frame must have ``info``'s size (the module's "Frame size" rule).

Cases run in a few long-lived worker processes that read one request per line on stdin and answer one JSON
line on stdout. A worker limits its own address space (``resource.setrlimit(RLIMIT_AS)``); the parent kills
and restarts a worker whose case runs past the time limit, or restarts one that died.

Outcomes: ``ok``; ``decode_error`` (vidlab's ``VideoDecodeError``: the expected answer for a broken file);
``exception`` (any other exception, or a frame that breaks the contract: a bug); ``memory`` (``MemoryError``
under the limit); ``crash`` (the worker died: a signal, or an exit); ``hang`` (past the time limit).

Usage::

    python benchmarks/fuzz.py --cases 10000 --seed 0 [--workers 2] [--out results.json]
        [--timeout 20] [--mem-mb 2048] [--save-failures DIR] [--clips default|all]
    python benchmarks/fuzz.py --seed 0 --case 1234        # replay one case

The same case number and seed always give the same file. ``tests/io/test_fuzz.py`` runs 300 cases of it in
the default test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared")) / "data" / "real"

OUTCOMES = ("ok", "decode_error", "exception", "memory", "crash", "hang")
OUTCOME_TITLES = {
    "ok": "ok",
    "decode_error": "VideoDecodeError",
    "exception": "other exception",
    "memory": "memory",
    "crash": "crash",
    "hang": "hang",
}
#: Outcomes that are bugs (``ok`` and ``decode_error`` are the two acceptable answers).
FAILURES = ("exception", "memory", "crash", "hang")

#: Seed clips: one of each container / codec path of the decoder, each decoding in about 0.1 s.
CLIPS = (
    "kth/jogging/person10_jogging_d4_uncomp.avi",  # AVI, MPEG-4 Part 2, 160x120, 363 frames
    "ucf101/videos/Shotput/v_Shotput_g05_c02.avi",  # AVI with packed B-frames (decoded from the start)
    "hmdb51/videos/golf/Golf_Tips_-_Hit_The_Driver_300_Yards_golf_f_nm_np1_fr_med_0.avi",  # frame-skip markers
    "ucf101/videos/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",  # AVI with an audio stream
    "hmdb51/videos/dive/BASE_Jumping_Compilation_-_Brilliant_dive_f_cm_np1_le_bad_3.mp4",  # MP4, MPEG-4 Part 2
    "kinetics/videos/tai_chi__stgcn_ta_chi.mp4",  # MP4, H.264 with B-frames
    "asl_gestures/milk.mkv",  # Matroska, H.264, 640x480 (a scanned count)
    "asl_gestures/brother.mkv",  # Matroska with a dropped frame (a timestamp table)
    "people_demo/people-detection.gif",  # GIF (decoded from the start)
    "ucf101/gif/v_CricketShot_g04_c01_rgb.gif",
)
#: Remuxed copies (packets copied, nothing re-encoded) for containers the real set lacks.
REMUXES = (
    ("kinetics/videos/tai_chi__stgcn_ta_chi.mp4", "mpegts", ".ts"),  # H.264 (start codes added)
    ("ucf101/videos/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "mpegts", ".ts"),  # MPEG-4 Part 2
    ("kth/jogging/person10_jogging_d4_uncomp.avi", "matroska", ".mkv"),
)
VIDEO_EXTS = (".avi", ".mp4", ".mkv", ".gif", ".webm", ".mov")
WRONG_EXTS = (".mp4", ".avi", ".mkv", ".gif", ".ts", ".webm", ".flv", ".mov", ".txt", ".jpg", "")

# ---------------------------------------------------------------------------------------------------------
# mutations: (data, rng, other clip's data) -> damaged data
# ---------------------------------------------------------------------------------------------------------
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
# MP4 boxes, AVI chunks, Matroska element ids (EBML, Segment, Tracks, Cluster, PixelWidth/Height), GIF blocks,
# MPEG-4 VOS/VOP and H.264 SPS/PPS start codes, an MPEG-TS packet start
TAGS = (
    b"moov", b"mvhd", b"trak", b"tkhd", b"mdhd", b"stsd", b"stts", b"stss", b"stsz", b"stsc", b"stco", b"ctts",
    b"avcC", b"esds", b"avih", b"strh", b"strf", b"idx1", b"movi", b"LIST",
    b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67", b"\x16\x54\xae\x6b", b"\x1f\x43\xb6\x75", b"\xb0\x82", b"\xba\x82",
    b"GIF89a", b"NETSCAPE2.0", b"\x21\xf9\x04", b"\x00\x00\x01\xb0", b"\x00\x00\x01\xb6",
    b"\x00\x00\x00\x01\x67", b"\x00\x00\x00\x01\x68", b"\x47\x40\x00",
)


def _span(rng: random.Random, n: int, lo: int = 16, hi: int = 65536) -> int:
    """A chunk length for a file of ``n`` bytes (log-uniform in [lo, hi], at most n // 4)."""
    hi = max(1, min(hi, n // 4))
    lo = min(lo, hi)
    return int(round(lo * (hi / lo) ** rng.random()))


def _int_bytes(rng: random.Random) -> bytes:
    value = rng.choice(INTERESTING)
    width = rng.choice((1, 2, 4))
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, rng.choice(("big", "little")))


def byte_flip(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Flip 1-32 random bytes anywhere."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 32)):
        b[rng.randrange(len(b))] ^= rng.randint(1, 255)
    return bytes(b)


def header_bit_flip(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Flip 1-8 single bits in the first 4 KiB (headers, sample tables at the front)."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(min(len(b), 4096))] ^= 1 << rng.randrange(8)
    return bytes(b)


def truncate(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Keep a prefix: anywhere in the file, or (one case in three) only its first 1-4096 bytes."""
    if len(data) < 2:
        return data[:0] + b"\0"
    if rng.random() < 1 / 3:
        return data[: rng.randint(1, min(4096, len(data) - 1))]
    return data[: rng.randint(1, len(data) - 1)]


def zero_header(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Zero the first 4-4096 bytes."""
    n = min(len(data), rng.choice((4, 8, 16, 64, 256, 1024, 4096)))
    return bytes(n) + data[n:]


def zero_range(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Zero one chunk (16 B - 64 KiB) somewhere in the file."""
    n = _span(rng, len(data))
    at = rng.randrange(len(data) - n + 1)
    return data[:at] + bytes(n) + data[at + n:]


def chunk_swap(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Swap two chunks of equal length."""
    n = _span(rng, len(data))
    a, b = sorted(rng.randrange(len(data) - n + 1) for _ in range(2))
    if b < a + n:
        b = min(a + n, len(data) - n)
    if b < a + n:
        return data[::-1]  # too small to hold two chunks: reverse it instead
    return data[:a] + data[b:b + n] + data[a + n:b] + data[a:a + n] + data[b + n:]


def chunk_duplicate(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Insert a copy of one chunk somewhere else."""
    n = _span(rng, len(data))
    src = rng.randrange(len(data) - n + 1)
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[src:src + n] + data[at:]


def chunk_delete(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Cut one chunk out."""
    n = _span(rng, len(data))
    at = rng.randrange(len(data) - n + 1)
    return data[:at] + data[at + n:]


def insert_random(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Insert 1-4096 random bytes somewhere."""
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.randint(1, 4096)) + data[at:]


def append_garbage(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Append random bytes, or a second copy of the file's start."""
    if rng.random() < 0.5:
        return data + rng.randbytes(rng.randint(1, 65536))
    return data + data[: rng.randint(1, len(data))]


def int_fields(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Overwrite 1-8 random places with extreme 1/2/4-byte integers (sizes, counts, offsets)."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        v = _int_bytes(rng)
        at = rng.randrange(max(1, len(b) - len(v)))
        b[at:at + len(v)] = v
    return bytes(b)


def tag_fields(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """Extreme integers right after a container tag (box / chunk / element header, start code)."""
    found = [t for t in TAGS if t in data]
    if not found:
        return int_fields(data, rng, other)
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        tag = rng.choice(found)
        hits, at = [], data.find(tag)
        while at >= 0 and len(hits) < 64:
            hits.append(at)
            at = data.find(tag, at + 1)
        pos = rng.choice(hits) + len(tag) + rng.randrange(0, 24)
        v = _int_bytes(rng)
        b[pos:pos + len(v)] = v
    return bytes(b[: max(len(data), 1)])


def splice(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """The start of this clip, then the rest of another one."""
    return data[: rng.randint(1, len(data))] + other[rng.randrange(len(other)):]


def wrong_extension(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """The bytes unchanged (the case gets another file extension)."""
    return data


def multi(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """2-4 of the other mutations, one after the other."""
    kinds = [k for k in MUTATORS if k not in ("multi", "wrong_extension")]
    for kind in rng.sample(kinds, rng.randint(2, 4)):
        data = MUTATORS[kind](data, rng, other) or b"\0"
    return data


Mutator = Callable[[bytes, random.Random, bytes], bytes]
MUTATORS: dict[str, Mutator] = {
    f.__name__: f
    for f in (byte_flip, header_bit_flip, truncate, zero_header, zero_range, chunk_swap, chunk_duplicate,
              chunk_delete, insert_random, append_garbage, int_fields, tag_fields, splice, wrong_extension, multi)
}
KINDS = tuple(MUTATORS)


# ---------------------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """A clip to damage: its label (path under shared/data/real, plus the remux), bytes and extension."""

    name: str
    data: bytes
    ext: str


@dataclass
class Case:
    index: int
    kind: str
    source: str
    path: Path
    decode_seed: int
    threads: int = 0
    size: int = 0


@dataclass
class Result:
    case: int
    kind: str
    source: str
    outcome: str
    type: str = ""
    message: str = ""
    seconds: float = 0.0
    frames: int | None = None
    num_frames: int | None = None
    file: str = ""


def make_case(index: int, seed: int, sources: list[Source], work_dir: Path) -> Case:
    """Case ``index`` of run ``seed``: picks a clip and a mutation, writes the damaged file."""
    rng = random.Random(f"vidlab-fuzz:{seed}:{index}")
    src = rng.choice(sources)
    kind = rng.choice(KINDS)
    other = rng.choice(sources)
    data = MUTATORS[kind](src.data, rng, other.data) or b"\0"
    ext = rng.choice([e for e in WRONG_EXTS if e != src.ext]) if kind == "wrong_extension" else src.ext
    path = Path(work_dir) / f"case{index:06d}{ext}"
    path.write_bytes(data)
    # half the cases decode with FFmpeg's threads (the default), half on one thread (cheaper on few cores)
    return Case(index, kind, src.name, path, rng.randrange(1 << 31), rng.choice((0, 1)), len(data))


def clip_list(real_dir: Path, which: str = "default") -> list[str]:
    """The seed clips: :data:`CLIPS`, or every video under ``real_dir`` (``which="all"``)."""
    if which == "all":
        return sorted(str(p.relative_to(real_dir)) for p in Path(real_dir).rglob("*") if p.suffix in VIDEO_EXTS)
    return list(CLIPS)


def load_sources(real_dir: Path, clips: Iterable[str], pool: "WorkerPool | None" = None,
                 work_dir: Path | None = None) -> tuple[list[Source], list[str]]:
    """The clips' bytes, plus the :data:`REMUXES` of those among them (made by a worker of ``pool``, so that
    FFmpeg never runs in this process). Returns the sources and notes on what could not be made."""
    clips = list(clips)
    sources = [Source(rel, (Path(real_dir) / rel).read_bytes(), Path(rel).suffix) for rel in clips]
    notes: list[str] = []
    if pool is None or work_dir is None:
        return sources, notes
    jobs = []
    for k, (rel, fmt, ext) in enumerate(REMUXES):
        if rel in clips:
            dst = Path(work_dir) / f"remux{k}{ext}"
            jobs.append(((rel, fmt, dst), {"op": "remux", "src": str(Path(real_dir) / rel), "dst": str(dst),
                                           "format": fmt}))
    for (rel, fmt, dst), reply in pool.run(jobs):
        if reply.get("outcome") == "ok" and dst.exists() and dst.stat().st_size > 0:
            sources.append(Source(f"{rel} (remux: {fmt})", dst.read_bytes(), dst.suffix))
        else:
            notes.append(f"remux of {rel} to {fmt} failed: {reply.get('type')}: {reply.get('message')}")
    return sources, notes


# ---------------------------------------------------------------------------------------------------------
# the worker process
# ---------------------------------------------------------------------------------------------------------
class ContractViolation(AssertionError):
    """A decode that returned, but broke the documented contract (frame size, dtype, count)."""


def decode_check(path: str, seed: int, threads: int = 0) -> dict[str, Any]:
    """Decode one file the way a user would; raise :class:`ContractViolation` on a wrong answer."""
    import numpy as np

    from vidlab.io import VideoReader
    from vidlab.io.video import CLAMP_TOLERANCE

    rng = np.random.default_rng(seed)
    with VideoReader(path, threads=threads) as reader:
        info = reader.info
        shape = (info.height, info.width, 3)
        if info.width <= 0 or info.height <= 0 or info.num_frames < 0 or not info.fps > 0:
            raise ContractViolation(f"implausible info {info}")
        n = 0
        for frame in reader.iter_frames():
            if frame.shape != shape or frame.dtype != np.uint8:
                raise ContractViolation(f"iter_frames frame {n}: {frame.shape} {frame.dtype}, info says {shape}")
            n += 1
        if n < info.num_frames - CLAMP_TOLERANCE:
            raise ContractViolation(f"iter_frames ended after {n} of {info.num_frames} frames without an error")
        total = info.num_frames
        if total > 0:
            batch_idx = np.unique(np.concatenate([[0, total - 1], rng.integers(0, total, 4)]))
            batch = reader.get_frames(batch_idx)
            if batch.shape != (len(batch_idx),) + shape or batch.dtype != np.uint8:
                raise ContractViolation(f"get_frames({batch_idx.tolist()}): {batch.shape}, info says {shape}")
            for i in rng.integers(0, total, 3).tolist():
                one = reader.get_frames([i])
                if one.shape != (1,) + shape:
                    raise ContractViolation(f"get_frames([{i}]): {one.shape}, info says {shape}")
    return {"frames": n, "num_frames": total}


def remux(src: str, dst: str, fmt: str) -> dict[str, Any]:
    """Copy the video packets of ``src`` into a ``fmt`` container (no re-encoding; H.264/HEVC from MP4 or
    Matroska get the start codes MPEG-TS needs, DivX packed B-frames are unpacked)."""
    import av
    from av.bitstream import BitStreamFilterContext

    with av.open(src, metadata_errors="ignore") as inp, av.open(dst, mode="w", format=fmt) as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        name = vin.codec_context.name
        bsf = None
        if fmt == "mpegts" and name in ("h264", "hevc") and (vin.codec_context.extradata or b"")[:1] == b"\x01":
            bsf = BitStreamFilterContext(f"{name}_mp4toannexb", vin)
        elif name == "mpeg4":  # DivX packed B-frames belong in AVI only
            bsf = BitStreamFilterContext("mpeg4_unpack_bframes", vin)

        def mux(packets: Iterable[Any]) -> None:
            for packet in packets:
                if packet.dts is None and packet.pts is None:
                    continue
                packet.stream = vout
                out.mux(packet)

        for packet in inp.demux(vin):
            mux(bsf.filter(packet) if bsf is not None and packet.size else [packet])
        if bsf is not None:
            mux(bsf.filter(None))
    return {}


def _selftest(action: str) -> dict[str, Any]:
    """Misbehave on purpose (tests of the runner's crash / hang / memory accounting)."""
    if action == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif action == "exit":
        os._exit(3)
    elif action == "hang":
        time.sleep(3600)
    elif action == "memory":
        return {"size": len(bytearray(1 << 40))}
    elif action == "raise":
        raise ValueError("selftest")
    return {}


def _one_line(text: str, path: str | None = None) -> str:
    line = (text.strip().splitlines() or [""])[0]
    if path:
        line = line.replace(path, "<file>")
    return line[:300]


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """One request -> a reply with its outcome (never raises)."""
    from vidlab.io import VideoDecodeError

    op = request.get("op")
    path = request.get("path")
    t0 = time.perf_counter()
    try:
        if op == "decode":
            reply = decode_check(request["path"], int(request.get("seed", 0)), int(request.get("threads", 0)))
        elif op == "remux":
            reply = remux(request["src"], request["dst"], request["format"])
        elif op == "selftest":
            reply = _selftest(request["action"])
        else:
            raise ValueError(f"unknown op {op!r}")
        reply["outcome"] = "ok"
    except VideoDecodeError as e:
        reply = {"outcome": "decode_error", "type": "VideoDecodeError", "message": _one_line(e.reason, path)}
    except MemoryError as e:
        reply = {"outcome": "memory", "type": type(e).__name__, "message": _one_line(str(e), path)}
    except Exception as e:
        tb = e.__traceback__
        where = ""
        while tb is not None:
            where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
            tb = tb.tb_next
        reply = {"outcome": "exception", "type": type(e).__name__,
                 "message": _one_line(str(e), path) + (f" [{where}]" if where else "")}
    reply["seconds"] = round(time.perf_counter() - t0, 4)
    return reply


def worker_main(mem_mb: int) -> None:
    """Serve requests, one JSON line each on stdin, one JSON line each on stdout."""
    import faulthandler
    import resource

    if mem_mb > 0:
        limit = mem_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    faulthandler.enable()  # a C-level crash prints the Python stack to stderr (the worker's log)
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to the log, not into the protocol
    import numpy  # noqa: F401

    import vidlab.io  # noqa: F401

    # FFmpeg's messages go straight to stderr, the log. (Not through av.logging: a Python log callback
    # can deadlock against FFmpeg's decoder threads when a container is closed -- a PyAV caveat.) The log
    # is emptied before each request, so it holds what the last one printed: what a crash left behind.
    replies.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if line.strip():
            _clear_log()
            replies.write(json.dumps(handle(json.loads(line))) + "\n")


def _clear_log() -> None:
    try:
        os.ftruncate(2, 0)
        os.lseek(2, 0, os.SEEK_SET)
    except OSError:  # stderr is not a file
        pass


# ---------------------------------------------------------------------------------------------------------
# the parent: a pool of workers with time limits
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Worker:
    slot: int
    generation: int
    proc: subprocess.Popen
    log: Path
    buf: bytes = b""
    ready: bool = False
    job: Any = None
    deadline: float = 0.0


class WorkerPool:
    """``workers`` decoding processes; :meth:`run` sends requests and yields ``(key, reply)`` as they finish.

    A reply of a worker that dies is ``{"outcome": "crash", ...}`` (``"memory"`` when its log shows an
    allocation failure), one past ``timeout`` seconds ``{"outcome": "hang"}``; the worker is restarted.
    """

    STARTUP_TIMEOUT = 120.0

    def __init__(self, workers: int = 2, timeout: float = 20.0, mem_mb: int = 2048, log_dir: Path | None = None):
        self.n = max(1, int(workers))
        self.timeout = float(timeout)
        self.mem_mb = int(mem_mb)
        self._own_log_dir = log_dir is None
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="vidlab-fuzz-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.restarts = 0
        self._sel = selectors.DefaultSelector()
        self._workers: dict[int, _Worker] = {}
        self._generation = 0

    # -- processes ----------------------------------------------------------------------------------------
    def _spawn(self, slot: int) -> _Worker:
        self._generation += 1
        log = self.log_dir / f"worker{slot}-{self._generation}.log"
        # few malloc arenas: each thread's arena reserves 64 MiB of address space, which would count
        # against RLIMIT_AS on a machine with many cores (FFmpeg starts a decoder thread per core)
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", "--mem-mb", str(self.mem_mb)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=str(REPO), env=env,
            )
        os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]
        w = _Worker(slot, self._generation, proc, log)
        w.deadline = time.monotonic() + self.STARTUP_TIMEOUT
        self._sel.register(proc.stdout, selectors.EVENT_READ, w)  # type: ignore[arg-type]
        self._workers[slot] = w
        return w

    def _retire(self, w: _Worker, kill: bool) -> int:
        self._sel.unregister(w.proc.stdout)  # type: ignore[arg-type]
        if kill and w.proc.poll() is None:
            w.proc.kill()
        try:
            w.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            rc = w.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            rc = w.proc.wait()
        w.proc.stdout.close()  # type: ignore[union-attr]
        self._workers.pop(w.slot, None)
        return rc

    def close(self) -> None:
        for w in list(self._workers.values()):
            self._retire(w, kill=w.job is not None)
        self._sel.close()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def _log_tail(log: Path, limit: int = 1500) -> str:
        try:
            data = log.read_bytes()[-limit:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()

    def _death(self, w: _Worker, rc: int) -> dict[str, Any]:
        tail = self._log_tail(w.log)
        if rc < 0:
            try:
                what = signal.Signals(-rc).name
            except ValueError:
                what = f"signal {-rc}"
        else:
            what = f"exit status {rc}"
        outcome = "memory" if re.search(r"MemoryError|bad_alloc|Cannot allocate memory|out of memory", tail) \
            else "crash"
        last = " | ".join(tail.splitlines()[-4:])
        return {"outcome": outcome, "type": what, "message": f"worker died ({what}); log: {last[-600:]}"}

    # -- requests -----------------------------------------------------------------------------------------
    def run(self, jobs: Iterable[tuple[Any, dict[str, Any]]]) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Run ``(key, request)`` pairs on the workers; yields ``(key, reply)`` in completion order."""
        pending = iter(jobs)
        exhausted = False
        for slot in range(self.n):
            if slot not in self._workers:
                self._spawn(slot)
        while True:
            # hand out work
            for w in list(self._workers.values()):
                if w.ready and w.job is None and not exhausted:
                    nxt = next(pending, None)
                    if nxt is None:
                        exhausted = True
                        break
                    key, request = nxt
                    w.job = (key, request, time.monotonic())
                    w.deadline = time.monotonic() + self.timeout
                    try:
                        w.proc.stdin.write((json.dumps(request) + "\n").encode())  # type: ignore[union-attr]
                        w.proc.stdin.flush()  # type: ignore[union-attr]
                    except (BrokenPipeError, OSError):
                        pass  # it died: the EOF below reports it
            busy = [w for w in self._workers.values() if w.job is not None or not w.ready]
            if exhausted and not any(w.job is not None for w in self._workers.values()):
                return
            now = time.monotonic()
            wait = max(0.0, min(w.deadline for w in busy) - now) if busy else 0.05
            for sel_key, _ in self._sel.select(timeout=min(wait, 1.0)):
                w = sel_key.data
                try:
                    chunk = os.read(sel_key.fileobj.fileno(), 1 << 16)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                if not chunk:  # the worker is gone
                    rc = self._retire(w, kill=False)
                    self.restarts += 1
                    if w.job is None and not w.ready:
                        raise RuntimeError(f"fuzz worker failed to start: {self._death(w, rc)['message']}")
                    if w.job is not None:
                        key, request, t0 = w.job
                        reply = self._death(w, rc)
                        reply["seconds"] = round(time.monotonic() - t0, 4)
                        yield key, reply
                    self._spawn(w.slot)
                    continue
                w.buf += chunk
                while b"\n" in w.buf:
                    line, w.buf = w.buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    reply = json.loads(line)
                    if reply.get("ready"):
                        w.ready = True
                        w.deadline = 0.0
                    elif w.job is not None:
                        key = w.job[0]
                        w.job = None
                        yield key, reply
            # time limits
            now = time.monotonic()
            for w in list(self._workers.values()):
                if w.job is not None and now > w.deadline:
                    key, request, t0 = w.job
                    self._retire(w, kill=True)
                    self.restarts += 1
                    yield key, {"outcome": "hang", "type": "timeout",
                                "message": f"no answer in {self.timeout:g} s (worker killed)",
                                "seconds": round(now - t0, 4)}
                    self._spawn(w.slot)
                elif not w.ready and now > w.deadline:
                    self._retire(w, kill=True)
                    raise RuntimeError(f"fuzz worker did not start in {self.STARTUP_TIMEOUT:g} s")


# ---------------------------------------------------------------------------------------------------------
# a run
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Report:
    seed: int
    cases: int
    workers: int
    seconds: float
    results: list[Result]
    sources: list[str]
    notes: list[str] = field(default_factory=list)
    restarts: int = 0

    def counts(self) -> Counter:
        return Counter(r.outcome for r in self.results)

    def by_kind(self) -> dict[str, Counter]:
        table: dict[str, Counter] = {k: Counter() for k in KINDS}
        for r in self.results:
            table.setdefault(r.kind, Counter())[r.outcome] += 1
        return table

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.outcome in FAILURES]

    def groups(self, outcomes: Iterable[str]) -> list[tuple[tuple[str, str, str], int]]:
        """(outcome, type, message with numbers as N) -> count, commonest first."""
        wanted = set(outcomes)
        c = Counter((r.outcome, r.type, re.sub(r"\d+", "N", r.message)[:160]) for r in self.results
                    if r.outcome in wanted)
        return c.most_common()

    def markdown(self) -> str:
        cols = OUTCOMES
        lines = ["| mutation | cases | " + " | ".join(OUTCOME_TITLES[c] for c in cols) + " |",
                 "|---|---:|" + "---:|" * len(cols)]
        total: Counter = Counter()
        for kind, c in self.by_kind().items():
            n = sum(c.values())
            total.update(c)
            lines.append(f"| {kind} | {n} | " + " | ".join(str(c[o]) for o in cols) + " |")
        lines.append(f"| **all** | **{sum(total.values())}** | " + " | ".join(f"**{total[o]}**" for o in cols) + " |")
        return "\n".join(lines)

    def summary(self) -> str:
        n = max(len(self.results), 1)
        worker_s = sum(r.seconds for r in self.results)
        out = [
            f"vidlab decoder fuzz: {len(self.results)} cases, seed {self.seed}, {self.workers} workers, "
            f"{len(self.sources)} source clips",
            f"wall {self.seconds:.1f} s = {self.seconds / n * 1000:.1f} ms per case "
            f"(worker time {worker_s / n * 1000:.1f} ms per case; {self.restarts} worker restarts)",
            "",
            "outcomes: " + ", ".join(f"{OUTCOME_TITLES[o]} {self.counts()[o]}" for o in OUTCOMES),
            "",
            self.markdown(),
        ]
        bad = self.groups(FAILURES)
        if bad:
            out += ["", "failures (outcome, type, first message line: count):"]
            out += [f"  {o} {t}: {m} -- {k}" for (o, t, m), k in bad[:40]]
            out += ["", f"failing cases (replay one: python benchmarks/fuzz.py --seed {self.seed} --case N):"]
            out += [f"  case {r.case} ({r.kind} of {r.source}): {r.outcome} {r.type}: {r.message}"
                    + (f" -> {r.file}" if r.file else "") for r in self.failures()[:40]]
        reasons = self.groups(["decode_error"])
        if reasons:
            out += ["", "commonest VideoDecodeError reasons:"]
            out += [f"  {k:5d}  {m}" for (_, _, m), k in reasons[:12]]
        if self.notes:
            out += ["", "notes:"] + [f"  {x}" for x in self.notes]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "cases": self.cases, "workers": self.workers, "seconds": round(self.seconds, 3),
            "seconds_per_case": round(self.seconds / max(len(self.results), 1), 5), "restarts": self.restarts,
            "sources": self.sources, "notes": self.notes, "counts": dict(self.counts()),
            "by_kind": {k: dict(v) for k, v in self.by_kind().items()},
            "failures": [asdict(r) for r in self.failures()],
            "results": [asdict(r) for r in self.results],
        }


def run_fuzz(cases: int = 300, seed: int = 0, workers: int = 2, *, real_dir: Path = REAL, clips: str = "default",
             timeout: float = 20.0, mem_mb: int = 2048, work_dir: Path | None = None,
             save_failures: Path | None = None, progress: bool = False,
             only: Iterable[int] | None = None) -> Report:
    """Run cases ``0 .. cases - 1`` (or just the case numbers in ``only``); damaged files are deleted as they
    finish (failing ones are copied to ``save_failures`` when given)."""
    numbers = list(only) if only is not None else list(range(cases))
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="vidlab-fuzz-", dir=work_dir))
    try:
        with WorkerPool(workers, timeout, mem_mb, log_dir=tmp / "logs") as pool:
            sources, notes = load_sources(Path(real_dir), clip_list(Path(real_dir), clips), pool, tmp)
            made: dict[int, Case] = {}

            def jobs() -> Iterator[tuple[int, dict[str, Any]]]:
                for i in numbers:
                    case = make_case(i, seed, sources, tmp)
                    made[i] = case
                    yield i, {"op": "decode", "path": str(case.path), "seed": case.decode_seed,
                              "threads": case.threads}

            results: list[Result] = []
            for i, reply in pool.run(jobs()):
                case = made.pop(i)
                res = Result(case.index, case.kind, case.source, reply.get("outcome", "crash"),
                             reply.get("type", ""), reply.get("message", ""), float(reply.get("seconds", 0.0)),
                             reply.get("frames"), reply.get("num_frames"))
                if res.outcome in FAILURES and save_failures is not None:
                    Path(save_failures).mkdir(parents=True, exist_ok=True)
                    kept = Path(save_failures) / f"seed{seed}-{case.path.name}"
                    shutil.copyfile(case.path, kept)
                    res.file = str(kept)
                case.path.unlink(missing_ok=True)
                results.append(res)
                if progress and len(results) % 100 == 0:
                    c = Counter(r.outcome for r in results)
                    print(f"  {len(results)}/{len(numbers)} cases, {time.monotonic() - t0:.0f} s: "
                          + ", ".join(f"{k} {v}" for k, v in sorted(c.items())), file=sys.stderr, flush=True)
            restarts = pool.restarts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results.sort(key=lambda r: r.case)
    return Report(seed, len(numbers), workers, time.monotonic() - t0, results, [s.name for s in sources], notes,
                  restarts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--mem-mb", type=int, default=2048, help="address-space limit of a worker (RLIMIT_AS)")
    ap.add_argument("--clips", choices=("default", "all"), default="default",
                    help="the seed clips: a fast, varied set (default) or every video in shared/data/real")
    ap.add_argument("--real", type=Path, default=REAL, help="shared/data/real")
    ap.add_argument("--out", type=Path, help="write every case's result as JSON here")
    ap.add_argument("--save-failures", type=Path, help="copy the files of failing cases here")
    ap.add_argument("--case", type=int, action="append", help="run only this case number (repeatable): a replay")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args.mem_mb)
        return 0
    if not args.real.is_dir():
        print(f"no real clips at {args.real} (set VIDLAB_SHARED or --real)", file=sys.stderr)
        return 2
    report = run_fuzz(args.cases, args.seed, args.workers, real_dir=args.real, clips=args.clips,
                      timeout=args.timeout, mem_mb=args.mem_mb, save_failures=args.save_failures, progress=True,
                      only=args.case)
    print(report.summary())
    if args.out:
        args.out.write_text(json.dumps(report.to_json(), indent=1))
        print(f"\nresults: {args.out}")
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
