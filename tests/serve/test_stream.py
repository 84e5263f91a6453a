"""`vidlab stream`: online windows equal offline classification, smoothing is the
mean of the last windows, memory stays bounded, and the command's outputs."""

from __future__ import annotations

import functools
import http.server
import json
import math
import threading

import numpy as np
import pytest
import torch

from helpers import run_cli
from vidlab import models
from vidlab.engine.inference import classify_video
from vidlab.stream import OnlineRecognizer, PyAVSource, open_source, run_stream

RUNNING = "kth/running/person09_running_d1_uncomp.avi"  # 325 frames, 25 fps, 160x120




def feed(rec, path):
    updates = []
    with PyAVSource(str(path)) as src:
        for i, get in src.frames():
            updates += rec.push(i, get)
    return updates


@pytest.mark.parametrize("target_fps", [None, 15.0])
def test_windows_equal_classify_video(tiny_checkpoint, real_dir, target_fps):
    """Stride = one span, no smoothing: each online window is the offline window that
    starts at the same frame (15 fps on a 25 fps file: a span of 53.3 frames)."""
    model = models.load(tiny_checkpoint)
    model.meta["preprocessing"] = {**model.meta["preprocessing"], "target_fps": target_fps}
    video = real_dir / RUNNING
    ref = classify_video(model, str(video), topk=5)
    rec = OnlineRecognizer(model, 25.0, smooth=1, topk=5)
    rec.stride = rec.span
    assert rec.span == pytest.approx(32 * (25 / target_fps if target_fps else 1))
    updates = feed(rec, video)
    # offline adds a last window aligned to the end; online windows stop at the last full one
    full = [w for w in ref["windows"] if math.isclose((w["start_sec"] * 25) / rec.span,
                                                      round(w["start_sec"] * 25 / rec.span), abs_tol=1e-3)]
    assert len(updates) == len(full) == int((325 - rec.span) // rec.span) + 1
    for u, w in zip(updates, full):
        assert u.start == pytest.approx(w["start_sec"], abs=1e-3)
        assert [t["label"] for t in u.raw_top] == [t["label"] for t in w["top"]]
        np.testing.assert_allclose([t["score"] for t in u.raw_top], [t["score"] for t in w["top"]], atol=2e-6)
        assert u.latency_ms >= 0


def test_a_multi_label_model_streams_the_sigmoids_classify_gives(tiny_checkpoint, real_dir):
    model = models.load(tiny_checkpoint)
    model.meta["preprocessing"] = {**model.meta["preprocessing"], "multi_label": True}
    video = real_dir / RUNNING
    ref = classify_video(model, str(video), topk=5)
    rec = OnlineRecognizer(model, 25.0, smooth=1, topk=5)
    rec.stride = rec.span
    updates = feed(rec, video)
    assert rec.activation == ref["activation"] == "sigmoid" and len(updates) == len(ref["windows"]) - 1
    for u, w in zip(updates, ref["windows"]):
        assert u.start == pytest.approx(w["start_sec"], abs=1e-3)
        got, want = ({t["index"]: t["score"] for t in top} for top in (u.raw_top, w["top"]))
        assert got.keys() == want.keys() == set(range(5))
        np.testing.assert_allclose([got[i] for i in range(5)], [want[i] for i in range(5)], atol=2e-6)
    assert max(abs(sum(t["score"] for t in u.raw_top) - 1.0) for u in updates) > 0.1  # not a softmax


def test_smoothing_is_the_mean_of_the_last_windows(tiny_model, real_dir):
    raw = OnlineRecognizer(tiny_model, 25.0, smooth=1, topk=5)
    smoothed = OnlineRecognizer(tiny_model, 25.0, smooth=3, topk=5)
    a, b = feed(raw, real_dir / RUNNING), feed(smoothed, real_dir / RUNNING)
    assert len(a) == len(b) > 10
    assert raw.stride == pytest.approx(raw.span / 4)  # default: four windows per span

    def vec(top):
        v = np.zeros(5)
        for t in top:
            v[t["index"]] = t["score"]
        return v

    for i, u in enumerate(b):
        expect = np.mean([vec(x.top) for x in a[max(0, i - 2): i + 1]], axis=0)
        np.testing.assert_allclose(vec(u.top), expect, atol=2e-6)
        np.testing.assert_allclose(vec(u.raw_top), vec(a[i].top), atol=2e-6)


def test_only_sampled_frames_are_converted_and_kept(tiny_model, real_dir):
    rec = OnlineRecognizer(tiny_model, 25.0, stride=2.0)  # windows 50 frames apart, 32-frame span
    converted, most = [], 0
    with PyAVSource(str(real_dir / RUNNING)) as src:
        for i, get in src.frames():
            rec.push(i, lambda i=i, get=get: (converted.append(i), get())[1])
            most = max(most, len(rec._frames))
    # 8 frames per window, windows do not overlap: 8 conversions per window started, never more kept
    starts = [k * 50 for k in range(7)]  # windows starting at or before frame 324
    sampled = set()
    for s in starts:
        sampled |= {int(x) for x in torch.linspace(s, s + 31, 8).long()}
    assert set(converted) == {i for i in sampled if i < 325}
    assert most <= 8


def test_run_stream_summary_and_overlay(tiny_model, real_dir, tmp_path):
    from vidlab.io import probe_video

    seen = []
    out = tmp_path / "live.mp4"
    s = run_stream(tiny_model, str(real_dir / RUNNING), max_seconds=4.0, out=out,
                   on_update=lambda u, stats: seen.append((u, stats)))
    assert s["frames"] == 100 and s["fps"] == 25.0
    assert s["windows"] == len(seen) == 1 + (100 - 32) // 8  # span 32, stride 8, frames 0..99
    assert s["processed_fps"] > 0 and s["realtime_factor"] == pytest.approx(s["processed_fps"] / 25, rel=1e-2)
    assert s["last"]["label"] == seen[-1][0].label and s["latency_ms"]["max"] >= s["latency_ms"]["p50"]
    assert probe_video(out).num_frames == 100


def test_cli_json_lines(tiny_checkpoint, real_dir, capsys):
    code, out, err = run_cli(["stream", str(real_dir / RUNNING), "-c", str(tiny_checkpoint), "--json",
                              "--max-seconds", "2", "--smooth", "2"], capsys)
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    windows, summary = lines[:-1], lines[-1]
    assert summary["type"] == "summary" and summary["frames"] == 50 and summary["smooth"] == 2
    assert [w["type"] for w in windows] == ["window"] * summary["windows"]
    assert all(w["label"] in ("boxing", "handwaving", "jogging", "running", "walking") for w in windows)
    assert all(w["latency_ms"] >= 0 and w["processed_fps"] > 0 for w in windows)


def test_cli_text_output(tiny_checkpoint, real_dir, capsys):
    code, out, err = run_cli(["stream", str(real_dir / RUNNING), "-c", str(tiny_checkpoint),
                              "--max-seconds", "3"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "latency" in lines[0] and " fps" in lines[0]
    assert lines[-1].startswith("75 frames in ") and "real time at 25 fps" in lines[-1]


@pytest.mark.parametrize("source", ["/no/such/video.mp4", "7"])
def test_cli_bad_source_is_one_error_line(tiny_checkpoint, tmp_path, capsys, source):
    code, _, err = run_cli(["stream", source, "-c", str(tiny_checkpoint)], capsys)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vidlab: error: "), err
    assert "Traceback" not in err


def test_corrupt_file_is_a_decode_error(tmp_path):
    from vidlab.io import VideoDecodeError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(10_000))
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        open_source(str(bad))


def test_network_source_equals_the_file(tiny_model, real_dir):
    """An http:// URL (served on loopback) goes through the same decoder as the file
    and gives the same windows; network sources are marked live (never paced)."""
    video = real_dir / RUNNING
    handler = functools.partial(_QuietHandler, directory=str(video.parent))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/{video.name}"
        src = open_source(url)
        assert src.live and src.fps == 25.0 and src.size == (160, 120)
        net = run_stream(tiny_model, src, max_seconds=6)
    finally:
        srv.shutdown()
        thread.join(10)
    local = run_stream(tiny_model, str(video), max_seconds=6)
    assert net["frames"] == local["frames"] == 150 and net["windows"] == local["windows"]
    assert net["last"]["top"] == local["last"]["top"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
