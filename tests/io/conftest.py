"""Fixtures for the I/O tests: the real clips in ../shared and small videos made here."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests_paths import REAL, need_shared, shared_available

_ROW = re.compile(
    r"^\| `(?P<path>[^`]+\.(?:avi|mp4|mkv|gif|webm))` \| [\d,]+ B \| (?P<codec>\w+) (?P<w>\d+)x(?P<h>\d+), "
    r"(?P<fps>[\d.]+) fps, (?P<frames>\d+) frames decoded, (?P<dur>[\d.]+) s(?P<audio>, has audio)?"
)


def real_path(rel: str) -> Path:
    """A file under shared/data/real; skips the test (with the reason) when absent
    (fails it under ``VIDLAB_REQUIRE_SHARED=1``)."""
    return need_shared(REAL / rel)


def parse_manifest() -> dict[str, dict]:
    """Every video row of shared/data/real/MANIFEST.md: decoded frames, fps, size, audio."""
    manifest = REAL / "MANIFEST.md"
    rows: dict[str, dict] = {}
    if not manifest.exists():
        return rows
    for line in manifest.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows[m["path"]] = {
                "codec": m["codec"],
                "width": int(m["w"]),
                "height": int(m["h"]),
                "fps": float(m["fps"]),
                "frames": int(m["frames"]),
                "duration": float(m["dur"]),
                "has_audio": bool(m["audio"]),
            }
    return rows


@pytest.fixture(scope="session")
def manifest() -> dict[str, dict]:
    need_shared(REAL / "MANIFEST.md")
    rows = parse_manifest()
    assert rows, f"{REAL / 'MANIFEST.md'}: no video rows recognised (has its table format changed?)"
    return rows


def moving_frames(n: int, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth moving gradients plus a moving square: easy to encode, every frame distinct."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        out[t, ..., 0] = (xx * 3 + 7 * t) % 256
        out[t, ..., 1] = (yy * 4 + 3 * t) % 256
        out[t, ..., 2] = ((xx + yy) * 2 + 11 * t) % 256
        y0, x0 = (2 * t) % (h - 8), (3 * t) % (w - 8)
        out[t, y0:y0 + 8, x0:x0 + 8] = 255
    return out


def encode_mp4(path: Path, frames: np.ndarray, fps: float, *, gop: int = 12, bframes: int = 3,
               faststart: bool = False) -> Path:
    """H.264 mp4 with PyAV: GOP ``gop``, ``bframes`` B-frames, optional moov-at-front."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": "18", "preset": "veryfast",
                     "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="session")
def gop_mp4(tmp_path_factory) -> Path:
    """120 frames, 25 fps, GOP 12 with B-frames (so seeking and reordering matter)."""
    return encode_mp4(tmp_path_factory.mktemp("video") / "gop12.mp4", moving_frames(120), 25.0)


@pytest.fixture(scope="session")
def intra_faststart_mp4(tmp_path_factory) -> Path:
    """60 all-intra frames with the moov atom in front, so a truncated copy still opens."""
    return encode_mp4(tmp_path_factory.mktemp("video") / "intra.mp4", moving_frames(60, seed=1), 25.0,
                      gop=1, bframes=0, faststart=True)


@pytest.fixture(scope="session")
def real():
    """``real("kth/...avi") -> Path``; skips when ../shared is not there."""
    return real_path


@pytest.fixture(scope="session")
def make_frames():
    return moving_frames


@pytest.fixture(scope="session")
def make_mp4():
    return encode_mp4


@pytest.fixture(scope="session")
def have_real() -> bool:
    """Whether ../shared is there (the broken-input test adds a truncated real file then);
    under ``VIDLAB_REQUIRE_SHARED=1`` its absence fails the test."""
    return shared_available(REAL)
