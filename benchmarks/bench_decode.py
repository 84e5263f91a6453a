#!/usr/bin/env python
"""Decoding benchmark: vidlab's VideoReader against pytorchvideo 0.1.5 (PyAV decoder).

What it measures (all on one ~10 s 340x256 H.264 mp4 made at run time):

(a) "8x8 sampling", the training-time access pattern of Slow/SlowFast 8x8:
    32 frames at stride 2 out of a 64-frame window starting at a random frame.
    Every clip opens the file, as a dataset's ``__getitem__`` does. Methods,
    run interleaved over the same windows:

    - ``vidlab``      ``VideoReader(path).get_frames(indices)`` (threads=0)
    - ``vidlab-1t``   the same with ``threads=1`` (one decoder thread)
    - ``pyav-window`` ablation, a careful hand-written PyAV loop: seek, decode
      the 64-frame window, RGB-convert all 64 (single-threaded swscale), keep 32
    - ``pytorchvideo`` ``EncodedVideo.from_path(path, decoder="pyav")`` +
      ``get_clip(start/fps, (start+64)/fps)``, then every 2nd of the 64 frames
    - ``torchcodec``  ``VideoDecoder(path).get_frames_at(indices)`` (only when
      torchcodec imports; exact seek mode, one thread as its default)

(b) multi-view testing, 10 temporal x 3 spatial views (PySlowFast rule: clip
    span 64 frames, view k starts at ``delta * k / 10``, 32 frames by
    ``linspace`` truncated to int; 3 crops 256x256 left/centre/right):

    - ``decode-once``     one ``get_frames`` for the union of all indices, then
      the 30 views are cut out of it
    - ``decode-per-view`` 30 x (open + ``get_frames`` + crop)

The test video is a transcode of ``shared/data/real/people_demo/basketball_gym__
mmaction2_test_video_structuralize.mp4`` (426x240, 29.97 fps, 300 frames)
resized to 340x256 with libx264 at its defaults (CRF 23, preset medium,
3 B-frames, keyint 250 with scene-cut detection: the "typical Kinetics
encode", one GOP for the whole 10 s) and, for comparison, with ``keyint=12``.

pytorchvideo 0.1.5 is only needed here (vidlab lists it under the optional
``bench`` extra). Its import of ``torchvision.transforms.functional_tensor``
(removed in torchvision 0.17+) is shimmed if needed: a module of that name is
put into ``sys.modules`` that re-exports ``torchvision.transforms.functional``
(see ``_import_pytorchvideo``). No pytorchvideo code is changed.

Usage::

    python benchmarks/bench_decode.py [--clips 60] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import types
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from vidlab.io import VideoReader, probe_video, torchcodec_status  # noqa: E402

SHARED = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared"))
SOURCE = SHARED / "data" / "real" / "people_demo" / "basketball_gym__mmaction2_test_video_structuralize.mp4"
SIZE = (340, 256)
SPAN, T, TAU = 64, 32, 2
VIEWS, CROPS, CROP = 10, 3, 256


# ----------------------------------------------------------------------------------
def make_video(src: Path, dst: Path, keyint: int | None) -> Path:
    """Transcode ``src`` to 340x256 H.264 (x264 defaults; ``keyint`` overrides the GOP)."""
    import av

    with av.open(str(src)) as ic, av.open(str(dst), "w") as oc:
        ist = ic.streams.video[0]
        rate = Fraction(ist.average_rate)
        ost = oc.add_stream("libx264", rate=rate)
        ost.width, ost.height, ost.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        if keyint is not None:
            ost.options = {"x264-params": f"keyint={keyint}:min-keyint={keyint}"}
        for i, frame in enumerate(ic.decode(ist)):
            out = frame.reformat(width=SIZE[0], height=SIZE[1], format="yuv420p")
            out.pts, out.time_base = i, 1 / rate
            for p in ost.encode(out):
                oc.mux(p)
        for p in ost.encode():
            oc.mux(p)
    return dst


def exact_fps(path: Path) -> Fraction:
    import av

    with av.open(str(path)) as c:
        return Fraction(c.streams.video[0].average_rate)


def keyframes(path: Path) -> list[int]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps, tb = Fraction(s.average_rate), s.time_base
        return sorted(round((p.pts - (s.start_time or 0)) * tb * fps) for p in c.demux(s) if p.size and p.is_keyframe)


def _import_pytorchvideo():
    """``EncodedVideo`` from pytorchvideo 0.1.5, shimming a torchvision module it may import."""
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401
    except ImportError:
        import torchvision.transforms.functional as F

        shim = types.ModuleType("torchvision.transforms.functional_tensor")
        shim.__dict__.update({k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
        sys.modules["torchvision.transforms.functional_tensor"] = shim
    from pytorchvideo.data.encoded_video import EncodedVideo

    return EncodedVideo


# ----------------------------------------------------------------------------------
def clip_vidlab(path: str, start: int, threads: int = 0) -> np.ndarray:
    with VideoReader(path, threads=threads) as r:
        return r.get_frames(np.arange(start, start + SPAN, TAU))


def clip_pyav_window(path: str, start: int) -> np.ndarray:
    """Ablation: a careful hand-written PyAV loop -- seek, decode the 64-frame window,
    convert all 64 frames to RGB (single-threaded swscale), keep every 2nd."""
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        fps, tb, t0 = Fraction(s.average_rate), s.time_base, s.start_time or 0
        c.seek(int(t0 + Fraction(start) / fps / tb), stream=s, backward=True, any_frame=False)
        frames = []
        for f in c.decode(s):
            i = round((f.pts - t0) * tb * fps)
            if i >= start + SPAN:
                break
            if i >= start:
                frames.append(f.to_ndarray(format="rgb24", threads=1))
    return np.stack(frames[::TAU])


def make_clip_pytorchvideo(EncodedVideo, fps: Fraction):
    def clip(path: str, start: int) -> np.ndarray:
        video = EncodedVideo.from_path(path, decoder="pyav")
        try:
            # Fractions, as get_clip's docstring advises: with float seconds the
            # window can slip by a frame
            data = video.get_clip(Fraction(start) / fps, Fraction(start + SPAN) / fps)["video"]  # (C,T,H,W) float
        finally:
            video.close()
        picked = data[:, 0:SPAN:TAU]  # 32 of the 64 frames
        return picked.permute(1, 2, 3, 0).to(dtype=__import__("torch").uint8).numpy()

    return clip


def clip_torchcodec(path: str, start: int) -> np.ndarray:
    from torchcodec.decoders import VideoDecoder

    dec = VideoDecoder(path, dimension_order="NHWC")
    return dec.get_frames_at(list(range(start, start + SPAN, TAU))).data.numpy()


def bench_sampling(path: Path, clips: int, seed: int, methods: dict) -> dict:
    info = probe_video(path)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, info.num_frames - SPAN + 1, clips)
    names = list(methods)
    times = {m: [] for m in names}
    cpu = {m: [] for m in names}
    max_diff = {m: 0 for m in names}
    for m in names:  # warm-up (imports, caches)
        methods[m](str(path), int(starts[0]))
    ref_reader = VideoReader(path)
    ref_all = ref_reader.read_all()
    ref_reader.close()
    for k, s in enumerate(starts):
        order = names[k % len(names):] + names[: k % len(names)]  # rotate who goes first
        for m in order:
            c0, t0 = time.process_time(), time.perf_counter()
            out = methods[m](str(path), int(s))
            times[m].append(time.perf_counter() - t0)
            cpu[m].append(time.process_time() - c0)
            want = ref_all[np.arange(s, s + SPAN, TAU)]
            if out.shape != want.shape:
                raise RuntimeError(f"{m}: got {out.shape}, expected {want.shape} for start {s}")
            max_diff[m] = max(max_diff[m], int(np.abs(out.astype(np.int16) - want.astype(np.int16)).max()))
    rows = {}
    for m in names:
        t = np.asarray(times[m])
        rows[m] = {
            "clips_per_s": round(len(t) / t.sum(), 2),
            "median_ms": round(float(np.median(t)) * 1000, 1),
            "p90_ms": round(float(np.percentile(t, 90)) * 1000, 1),
            "median_cpu_ms": round(float(np.median(cpu[m])) * 1000, 1),
            "max_abs_diff_vs_sequential_decode": max_diff[m],
        }
    return {"clips": clips, "rows": rows}


# ----------------------------------------------------------------------------------
def view_indices(n: int) -> list[np.ndarray]:
    """PySlowFast's uniform test views (vidlab.data.sampling when it is there)."""
    inline = []
    delta = max(n - SPAN, 0)
    for k in range(VIEWS):
        start = delta * k / VIEWS
        idx = np.linspace(start, start + SPAN - 1, T, dtype=np.float32)
        inline.append(np.clip(idx, 0, n - 1).astype(np.int64))
    try:
        from vidlab.data.sampling import uniform_view_indices

        shared = [np.asarray(v, np.int64) for v in uniform_view_indices(n, T, TAU, VIEWS)]
        if all(np.array_equal(a, b) for a, b in zip(shared, inline)):
            return shared
    except Exception:
        pass
    return inline


def crops(clip: np.ndarray) -> list[np.ndarray]:
    """PySlowFast's ``uniform_crop`` for spatial_idx 0, 1, 2: CROP x CROP squares at
    the start, centre and end of the long side."""
    h, w = clip.shape[1:3]
    out = []
    for i in range(CROPS):
        y, x = -(-(h - CROP) // 2), -(-(w - CROP) // 2)  # ceil, centre
        if h > w:
            y = {0: 0, 1: y, 2: h - CROP}[i]
        else:
            x = {0: 0, 1: x, 2: w - CROP}[i]
        out.append(clip[:, y:y + CROP, x:x + CROP])
    return out


def views_once(path: str, views: list[np.ndarray]) -> list[np.ndarray]:
    union = np.unique(np.concatenate(views))
    pos = {int(i): j for j, i in enumerate(union)}
    with VideoReader(path) as r:
        frames = r.get_frames(union)
    out = []
    for v in views:
        clip = frames[[pos[int(i)] for i in v]]
        out.extend(crops(clip))
    return out


def views_per_view(path: str, views: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for v in views:
        for c in range(CROPS):
            with VideoReader(path) as r:
                clip = r.get_frames(v)
            out.append(crops(clip)[c])
    return out


def bench_multiview(path: Path, rounds: int) -> dict:
    n = probe_video(path).num_frames
    views = view_indices(n)
    a, b = views_once(str(path), views), views_per_view(str(path), views)  # warm-up + check
    assert len(a) == len(b) == VIEWS * CROPS and all(np.array_equal(x, y) for x, y in zip(a, b))
    t_once, t_per = [], []
    for k in range(rounds):
        for name in (("once", "per") if k % 2 == 0 else ("per", "once")):
            t0 = time.perf_counter()
            (views_once if name == "once" else views_per_view)(str(path), views)
            (t_once if name == "once" else t_per).append(time.perf_counter() - t0)
    once, per = float(np.median(t_once)), float(np.median(t_per))  # medians: robust to other load
    return {
        "rounds": rounds,
        "unique_frames": int(np.unique(np.concatenate(views)).size),
        "decode_once_ms": round(once * 1000, 1),
        "decode_per_view_ms": round(per * 1000, 1),
        "videos_per_s_once": round(1 / once, 2),
        "videos_per_s_per_view": round(1 / per, 2),
        "speedup": round(per / once, 2),
    }


# ----------------------------------------------------------------------------------
def environment() -> dict:
    import av

    env = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "cpus": os.cpu_count(),
    }
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        env["cpu"] = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except Exception:
        env["cpu"] = platform.processor() or "?"
    for mod in ("torch", "torchvision", "pytorchvideo", "torchcodec"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:
            env[mod] = None
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=60, help="random windows per GOP setting in (a)")
    ap.add_argument("--rounds", type=int, default=7, help="repetitions of (b)")
    ap.add_argument("--keyints", default="250,12", help="GOP settings: 250 = x264 default; comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pytorchvideo", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)

    if not SOURCE.exists():
        print(f"error: source clip not found: {SOURCE} (the ../shared folder beside the repo)", file=sys.stderr)
        return 2
    env = environment()
    env["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    methods: dict = {"vidlab": clip_vidlab, "vidlab-1t": lambda p, s: clip_vidlab(p, s, threads=1),
                     "pyav-window": clip_pyav_window}
    results: dict = {"environment": env, "sampling_8x8": {}, "multiview_10x3": {}}
    with tempfile.TemporaryDirectory(prefix="vidlab_bench_") as tmp:
        for keyint in [int(k) for k in args.keyints.split(",") if k]:
            path = make_video(SOURCE, Path(tmp) / f"bench_k{keyint}.mp4", None if keyint == 250 else keyint)
            info = probe_video(path)
            m = dict(methods)
            if not args.no_pytorchvideo:
                try:
                    m["pytorchvideo"] = make_clip_pytorchvideo(_import_pytorchvideo(), exact_fps(path))
                except ImportError as e:
                    print(f"note: pytorchvideo not importable ({e}); `pip install pytorchvideo==0.1.5`",
                          file=sys.stderr)
            if torchcodec_status()[0]:
                m["torchcodec"] = clip_torchcodec
            key = f"keyint{keyint}"
            res = bench_sampling(path, args.clips, args.seed, m)
            res["video"] = {"width": info.width, "height": info.height, "fps": round(info.fps, 3),
                            "frames": info.num_frames, "bytes": path.stat().st_size,
                            "keyframes": keyframes(path),
                            "gop": "x264 default (keyint 250, scenecut 40)" if keyint == 250 else f"keyint {keyint}"}
            rows = res["rows"]
            for other in ("pytorchvideo", "pyav-window", "torchcodec"):
                if other in rows:
                    res[f"speedup_vs_{other}"] = {
                        "throughput": round(rows["vidlab"]["clips_per_s"] / rows[other]["clips_per_s"], 2),
                        "median": round(rows[other]["median_ms"] / rows["vidlab"]["median_ms"], 2),
                    }
            results["sampling_8x8"][key] = res
            results["multiview_10x3"][key] = bench_multiview(path, args.rounds)
    env["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_tables(results)
    return 0


def print_tables(results: dict) -> None:
    env = results["environment"]
    print(f"# vidlab decode benchmark  {env['date']}")
    print(f"machine: {env['cpu']}, {env['cpus']} CPUs; load average {env['loadavg_start']} -> {env['loadavg_end']}")
    print("versions: " + ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "torchvision", "av",
                                                             "ffmpeg_libavcodec", "numpy", "pytorchvideo",
                                                             "torchcodec")))
    print()
    print("(a) 8x8 sampling: 32 frames at stride 2 from a random 64-frame window, file opened per clip")
    print(f"{'GOP':<10} {'method':<13} {'clips/s':>8} {'median ms':>10} {'p90 ms':>8} {'cpu ms':>7} "
          f"{'max|diff|':>9}")
    for key, res in results["sampling_8x8"].items():
        label = key
        for name, row in res["rows"].items():
            print(f"{label:<10} {name:<13} {row['clips_per_s']:>8.2f} {row['median_ms']:>10.1f} "
                  f"{row['p90_ms']:>8.1f} {row['median_cpu_ms']:>7.1f} {row['max_abs_diff_vs_sequential_decode']:>9d}")
            label = ""
        for other in ("pytorchvideo", "pyav-window", "torchcodec"):
            sp = res.get(f"speedup_vs_{other}")
            if sp:
                print(f"{'':<10} vidlab vs {other}: {sp['throughput']}x clips/s, {sp['median']}x median")
    print("video: " + "; ".join(
        f"{k}: {r['video']['width']}x{r['video']['height']}, {r['video']['frames']} frames, {r['video']['gop']}, "
        f"keyframes at {r['video']['keyframes'][:6]}{'...' if len(r['video']['keyframes']) > 6 else ''}"
        for k, r in results["sampling_8x8"].items()))
    print()
    print("(b) 10 temporal x 3 spatial test views (32 frames each), per video")
    print(f"{'video':<16} {'decode-once ms':>15} {'per-view ms':>12} {'speedup':>8} {'unique frames':>14}")
    for key, res in results["multiview_10x3"].items():
        print(f"{key:<16} {res['decode_once_ms']:>15.1f} {res['decode_per_view_ms']:>12.1f} "
              f"{res['speedup']:>7.2f}x {res['unique_frames']:>14d}")


if __name__ == "__main__":
    sys.exit(main())
