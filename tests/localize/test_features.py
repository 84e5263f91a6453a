"""`vidlab features`: window features equal forward_features on windows cut by hand, the tail
rules, crops, resampling, presets, resuming after an interruption, failed videos, sharding and
bounded memory on an hour-long video."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from helpers import run_cli
from vidlab import models
from vidlab.data.transforms import ClipTransform, normalize_to_cthw, short_side_scale, to_float_tchw
from vidlab.errors import VidlabError
from vidlab.io import VideoReader, write_video
from vidlab.localize import features as F
from vidlab.models.contract import VideoClassifier

CROP = 16  # the checkpoint's crop and test scale: 64x48 frames -> 21x16 -> 16x16 crops


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = models.build("c2d_r10_tiny", num_classes=5)
    pre = {**models.get_spec("c2d_r10_tiny").preprocessing(), "crop_size": CROP, "test_crop_size": CROP}
    return models.save(model, tmp_path_factory.mktemp("ckpt") / "tiny", preprocessing=pre)


@pytest.fixture(scope="module")
def model(ckpt):
    return models.load(ckpt)


def _video(path, n, fps, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (48, 64, 3)).astype(np.int16)
    frames = [np.clip(base + 5 * t + rng.integers(-20, 20, (48, 64, 3)), 0, 255).astype(np.uint8) for t in range(n)]
    return write_video(path, np.stack(frames), fps, crf=12)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    return {"a": _video(d / "a.mp4", 30, 20.0, 1), "b": _video(d / "b.mp4", 22, 20.0, 2),
            "c": _video(d / "c.mp4", 26, 20.0, 3)}


def _decoded(path):
    with VideoReader(path) as r:
        return r.read_all()


@torch.no_grad()
def _reference(model, frames, windows, crops=1):
    """forward_features of hand-cut windows, preprocessed the checkpoint's way, crops averaged."""
    out = []
    for idx in windows:
        clip = frames[np.asarray(idx)]
        if crops == 1:
            views = [ClipTransform(train=False, crop_size=CROP, test_scale=CROP, mean=(0.5,) * 3, std=(0.25,) * 3)(clip)]
        elif crops == 3:
            views = ClipTransform(train=False, crop_size=CROP, test_scale=CROP, mean=(0.5,) * 3, std=(0.25,) * 3,
                                  spatial_crops=3).views(clip)
        else:  # 10: scaled to 21x16, 4 corners + centre (x offset ceil(5 / 2) = 3), then flipped
            x = short_side_scale(to_float_tchw(clip), CROP)
            assert x.shape[-2:] == (16, 21)
            five = [x[..., :, :16], x[..., :, 5:], x[..., :, :16], x[..., :, 5:], x[..., :, 3:19]]
            views = [normalize_to_cthw(v, (0.5,) * 3, (0.25,) * 3) for v in five + [v.flip(-1) for v in five]]
        out.append(model.forward_features(torch.stack(views)).mean(0))
    return torch.stack(out).numpy()


# 30 frames at 20 fps, features at 10 fps: windows of 4 target frames = 8 source frames every 4 source
# frames, sampled at linspace(4k, 4k + 7, 4) truncated = 4k + (0, 2, 4, 7)
HAND_DROP = [[0, 2, 4, 7], [4, 6, 8, 11], [8, 10, 12, 15], [12, 14, 16, 19], [16, 18, 20, 23], [20, 22, 24, 27]]
HAND_PAD = HAND_DROP + [[24, 26, 28, 29], [28, 29, 29, 29]]  # frames past 29 repeat the last one


@pytest.mark.parametrize("tail, hand", [("drop", HAND_DROP), ("pad", HAND_PAD)])
def test_features_equal_forward_features_on_hand_cut_windows(model, clips, tmp_path, tail, hand):
    cfg = F.resolve_config(window=4, stride=2, fps=10.0, tail=tail)
    assert [w.tolist() for w in F.window_indices(30, 20.0, cfg)] == hand
    res = F.extract_features([clips["a"]], tmp_path, model, cfg, progress=False)
    assert res["done"] == [str(clips["a"])] and res["failed"] == [] and res["shapes"] == {"a": [len(hand), 128]}
    got = np.load(tmp_path / "a.npy")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(model, _decoded(clips["a"]), hand), rtol=1e-5, atol=1e-5)
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["window"] == {"frames": 4, "seconds": 0.4, "source_frames": 8.0}
    assert meta["stride"] == {"frames": 2, "seconds": 0.2, "source_frames": 4.0}
    assert (meta["fps"], meta["source_fps"], meta["num_frames"], meta["duration"]) == (10.0, 20.0, 30, 1.5)
    stamps = [[round(0.2 * k, 6), round(min(0.2 * k + 0.4, 1.5), 6)] for k in range(len(hand))]
    np.testing.assert_allclose(meta["timestamps"], stamps, atol=1e-6)  # the last padded ones end at 1.5 s
    assert meta["num_features"] == len(hand) and meta["feature_dim"] == 128 and meta["tail"] == tail
    assert meta["model"]["arch"] == "c2d_r10_tiny" and meta["model"]["sha256"] == model.meta["sha256"]
    assert meta["vidlab_version"] and meta["preprocessing"]["crop_size"] == CROP
    assert meta["preprocessing"]["resize_short_side"] == CROP and meta["preprocessing"]["mean"] == [0.5] * 3


@pytest.mark.parametrize("crops", [3, 10])
def test_multi_crop_features_are_the_mean_of_the_crops(model, clips, tmp_path, crops):
    """At the video's own rate (no --fps) window k is frames 6k .. 6k + 4; 22 frames: 3 full windows."""
    hand = [list(range(6 * k, 6 * k + 5)) for k in range(3)]
    cfg = F.resolve_config(window=5, stride=6, crops=crops, batch_size=2)
    F.extract_features([clips["b"]], tmp_path, model, cfg, progress=False)
    got = np.load(tmp_path / "b.npy")
    np.testing.assert_allclose(got, _reference(model, _decoded(clips["b"]), hand, crops), rtol=1e-5, atol=1e-5)
    meta = json.loads((tmp_path / "b.json").read_text())
    assert meta["preprocessing"]["crops"] == crops and "mean" in meta["preprocessing"]["crop_aggregation"]


def test_short_video_gets_one_padded_window(model, clips, tmp_path):
    cfg = F.resolve_config(window=32, stride=8)  # 26 frames < one window
    F.extract_features([clips["c"]], tmp_path, model, cfg, progress=False)
    hand = [[int(i) for i in torch.linspace(0, 31, 32).long().clamp(max=25)]]
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), _reference(model, _decoded(clips["c"]), hand),
                               rtol=1e-5, atol=1e-5)


def test_resample_is_linear_interpolation_in_time(model, clips, tmp_path):
    f = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    centres = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3])
    got = F.resample_features(f, centres, 1.5, 10)
    t = (np.arange(10) + 0.5) * 0.15
    np.testing.assert_allclose(got, np.stack([np.interp(t, centres, f[:, j]) for j in range(5)], 1), atol=1e-6)
    # on a video: the resampled sequence of the unresampled one (window centres 0.2 k + 0.2 s)
    base = F.resolve_config(window=4, stride=2, fps=10.0)
    F.extract_features([clips["a"]], tmp_path / "raw", model, base, progress=False)
    F.extract_features([clips["a"]], tmp_path / "fixed", model, F.resolve_config(window=4, stride=2, fps=10.0,
                                                                                 resample=9), progress=False)
    raw = np.load(tmp_path / "raw" / "a.npy")
    fixed = np.load(tmp_path / "fixed" / "a.npy")
    t = (np.arange(9) + 0.5) * 1.5 / 9
    centres = 0.2 * np.arange(len(raw)) + 0.2
    expect = np.stack([np.interp(t, centres, raw[:, j]) for j in range(raw.shape[1])], 1)
    np.testing.assert_allclose(fixed, expect, rtol=1e-5, atol=1e-6)
    meta = json.loads((tmp_path / "fixed" / "a.json").read_text())
    assert meta["resampled"]["count"] == 9 and meta["resampled"]["from_features"] == 6
    np.testing.assert_allclose(meta["timestamps"], [[1.5 * i / 9, 1.5 * (i + 1) / 9] for i in range(9)], atol=1e-6)


def test_presets_and_overrides():
    c = F.resolve_config("i3d-thumos")
    assert (c.window, c.stride, c.fps, c.crops, c.tail, c.resample) == (16, 4, 30.0, 1, "drop", None)
    c = F.resolve_config("slowfast")
    assert (c.window, c.stride, c.fps) == (32, 16, 30.0)
    c = F.resolve_config("anet-fixed", resample=128)
    assert (c.window, c.stride, c.fps, c.resample) == (16, 16, None, 128)
    assert F.resolve_config("i3d-thumos", stride=8, crops=10).key()["stride"] == 8
    with pytest.raises(VidlabError, match="window is required"):
        F.resolve_config(stride=4)
    with pytest.raises(VidlabError, match="unknown preset"):
        F.resolve_config("thumos")
    with torch.device("meta"):
        assert models.build("slowfast_r50").feature_dim == 2304  # the slowfast preset's 2304-d


def test_two_stream_model_is_refused():
    m = models.build("two_stream_r10_tiny", num_classes=3)
    with pytest.raises(VidlabError, match="optical flow"):
        F.FeatureExtractor(m, F.resolve_config(window=4, stride=4))


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_resumable_after_an_interruption(model, clips, tmp_path, monkeypatch):
    cfg = F.resolve_config(window=4, stride=2, fps=10.0)
    videos = [clips["a"], clips["b"]]
    clean = tmp_path / "clean"
    F.extract_features(videos, clean, model, cfg, progress=False)
    out = tmp_path / "out"

    # run 1 is killed while b is being computed: a is done, b has nothing final
    real = F.FeatureExtractor._forward
    def dying(self, clips_):
        if self._video_name == "b":
            raise KeyboardInterrupt
        return real(self, clips_)
    real_extract = F.FeatureExtractor.extract
    def extract(self, path, **kw):
        self._video_name = os.path.basename(str(path))[:-4]
        return real_extract(self, path, **kw)
    monkeypatch.setattr(F.FeatureExtractor, "_forward", dying)
    monkeypatch.setattr(F.FeatureExtractor, "extract", extract)
    with pytest.raises(KeyboardInterrupt):
        F.extract_features(videos, out, model, cfg, progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npy"]
    # what a kill -9 in the middle of writing b leaves: partial temporary files, an array without its json
    (out / ".b.npy.tmp-12345").write_bytes(b"\x93NUMPY partial")
    (out / ".b.json.tmp-12345").write_bytes(b'{"num_fea')
    (out / "b.npy").write_bytes(b"\x93NUMPY garbage")
    a_time = (out / "a.npy").stat().st_mtime_ns

    res = F.extract_features(videos, out, model, cfg, progress=False)
    assert res["skipped"] == [str(clips["a"])] and res["done"] == [str(clips["b"])]
    assert (out / "a.npy").stat().st_mtime_ns == a_time
    assert _files(out) == _files(clean)  # the temporary files are gone, the results identical
    res = F.extract_features(videos, out, model, cfg, progress=False)
    assert res["done"] == [] and len(res["skipped"]) == 2
    # other settings: not taken for done
    res = F.extract_features(videos, out, model, F.resolve_config(window=4, stride=3, fps=10.0), progress=False)
    assert len(res["done"]) == 2 and res["skipped"] == []


def test_bad_videos_are_listed_and_the_others_done(ckpt, clips, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    missing = tmp_path / "missing.mp4"
    out = tmp_path / "out"
    code, stdout, err = run_cli(["features", str(clips["a"]), str(bad), str(missing), str(clips["b"]), "-c",
                                 str(ckpt), "--window", "4", "--stride", "4", "--out", str(out), "--json",
                                 "--quiet"], capsys)
    assert code == 1, err
    res = json.loads(stdout)
    assert sorted(f["video"] for f in res["failed"]) == sorted([str(bad), str(missing)])
    line = [ln for ln in err.splitlines() if ln.startswith("vidlab: error:")]
    assert len(line) == 1 and "2 of 4 videos could not be read" in line[0] and f"{bad}: not a video" in line[0]
    assert f"{missing}: file not found" in line[0] and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npy", "b.json", "b.npy"]
    code, _, err = run_cli(["features", str(bad), "-c", str(ckpt), "--window", "4", "--stride", "4",
                            "--out", str(out), "--quiet"], capsys)
    assert code == 2 and err == f"vidlab: error: {bad}: not a video, or a corrupt/unsupported container (FFmpeg: " \
                               "invalid data)\n"


def test_many_failures_are_one_line(ckpt, clips, tmp_path, capsys):
    bad = []
    for i in range(5):
        bad.append(tmp_path / f"bad{i}.mp4")
        bad[-1].write_text("x")
    argv = ["-c", str(ckpt), "--window", "4", "--stride", "4", "--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = run_cli(["features", *map(str, bad), *argv], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("vidlab: error: none of the 5 videos could be read: ") and "and 2 more" in err
    code, _, err = run_cli(["features", str(clips["c"]), *map(str, bad), *argv], capsys)
    assert code == 1 and len([ln for ln in err.splitlines() if ln.startswith("vidlab: error:")]) == 1
    assert "5 of 6 videos could not be read" in err and all(f"  {b}: " in err for b in bad)  # all listed


def test_list_file_and_usage_errors(ckpt, clips, tmp_path, capsys):
    lst = tmp_path / "videos.txt"
    lst.write_text(f"# videos\n{clips['a']} 3\n{os.path.relpath(clips['b'], tmp_path)}\n")
    out = tmp_path / "out"
    code, stdout, err = run_cli(["features", "--list", str(lst), "-c", str(ckpt), "--preset", "i3d-thumos",
                                 "--window", "4", "--out", str(out), "--quiet", "--json"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert len(res["done"]) == 2 and res["preset"] == "i3d-thumos"
    meta = json.loads((out / "b.json").read_text())
    assert (meta["window"]["frames"], meta["stride"]["frames"], meta["fps"]) == (4, 4, 30.0)
    # 20 fps -> 30: windows of 8/3 source frames every 8/3, linspace(8k/3, 8k/3 + 5/3, 4); the last
    # sampled frame, floor(8k/3 + 5/3), is <= 21 for k <= 7: 8 full windows of the 22 frames
    assert meta["num_frames"] == 22 and meta["num_features"] == 8
    assert meta["window"]["source_frames"] == pytest.approx(8 / 3)
    for argv, msg in [(["--window", "4"], "--window and --stride are required"),
                      (["--window", "4", "--stride", "4", "--crops", "5"], "must be 1, 3 or 10"),
                      (["--preset", "nope"], "must be one of i3d-thumos, slowfast, anet-fixed"),
                      (["--preset", "slowfast", "--modality", "flow"], "only rgb")]:
        code, _, err = run_cli(["features", str(clips["a"]), "-c", str(ckpt), "--out", str(out), *argv], capsys)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    code, stdout, _ = run_cli(["features", "--help"], capsys)
    assert code == 0
    for word in ("i3d-thumos", "slowfast", "anet-fixed", "2304-d", "MEAN of its crops"):
        assert word in " ".join(stdout.split()), word


def test_h5_without_h5py_is_one_line(ckpt, clips, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py -> ImportError
    code, _, err = run_cli(["features", str(clips["a"]), "-c", str(ckpt), "--window", "4", "--stride", "4",
                            "--out", str(tmp_path), "--format", "h5"], capsys)
    assert code == 2 and err.strip() == ("vidlab: error: --format h5 needs h5py, which vidlab does not install: "
                                         "pip install h5py (or use --format npy)")
    assert not list(tmp_path.iterdir())


def test_h5_one_file_with_a_dataset_per_video(model, clips, tmp_path):
    import h5py  # optional for users; a test dependency, so this runs in CI
    cfg = F.resolve_config(window=4, stride=2, fps=10.0)
    F.extract_features([clips["a"]], tmp_path / "npy", model, cfg, progress=False)
    F.extract_features([clips["a"]], tmp_path / "h5", model, cfg, fmt="h5", progress=False)
    res = F.extract_features([clips["a"], clips["b"]], tmp_path / "h5", model, cfg, fmt="h5", progress=False)
    assert res["skipped"] == [str(clips["a"])] and res["done"] == [str(clips["b"])]
    with h5py.File(tmp_path / "h5" / "features.h5", "r") as f:
        assert sorted(f) == ["a", "b"]
        np.testing.assert_array_equal(f["a"][()], np.load(tmp_path / "npy" / "a.npy"))
        assert json.loads(f["a"].attrs["meta"])["num_features"] == 6
    assert sorted(p.name for p in (tmp_path / "h5").iterdir()) == ["features.h5"]  # the staging folder is gone
    # a run stopped after staging c but before packing: the next run packs it without recomputing it
    F.extract_features([clips["c"]], tmp_path / "staged", model, cfg, progress=False)
    parts = tmp_path / "h5" / ".parts"
    parts.mkdir()
    for name in ("c.npy", "c.json"):
        (parts / name).write_bytes((tmp_path / "staged" / name).read_bytes())
    res = F.extract_features([clips["c"]], tmp_path / "h5", model, cfg, fmt="h5", progress=False)
    assert res["skipped"] == [str(clips["c"])] and res["done"] == []
    with h5py.File(tmp_path / "h5" / "features.h5", "r") as f:
        assert sorted(f) == ["a", "b", "c"]
        np.testing.assert_array_equal(f["c"][()], np.load(tmp_path / "staged" / "c.npy"))


def test_torchrun_ranks_shard_the_list(model, clips, tmp_path, monkeypatch):
    cfg = F.resolve_config(window=4, stride=4)
    videos = [clips["a"], clips["b"], clips["c"]]
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = F.extract_features(videos, tmp_path / "rank1", model, cfg, progress=False)
    assert res["done"] == [str(clips["b"])] and res["videos"] == 1 and (res["rank"], res["world_size"]) == (1, 2)
    assert sorted(p.name for p in (tmp_path / "rank1").iterdir()) == ["b.json", "b.npy"]


@pytest.mark.slow  # two spawned processes each import torch and load the model: ~10 s on 2 busy cores
def test_workers_share_the_list(ckpt, model, clips, tmp_path):
    cfg = F.resolve_config(window=4, stride=2, fps=10.0)
    videos = [clips["a"], clips["b"], clips["c"]]
    F.extract_features(videos, tmp_path / "one", model, cfg, progress=False)
    res = F.extract_features(videos, tmp_path / "two", ckpt, cfg, workers=2, device="cpu", progress=False)
    assert sorted(res["done"]) == sorted(map(str, videos))
    for s in "abc":
        np.testing.assert_allclose(np.load(tmp_path / "two" / f"{s}.npy"), np.load(tmp_path / "one" / f"{s}.npy"),
                                   rtol=1e-5, atol=1e-6)


class _MeanModel(VideoClassifier, nn.Module):
    """A contract model whose features are the clip's channel means: the memory test measures the
    extractor, not a network."""

    classifier_path = "fc"
    feature_dim = 3

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.meta = {"arch": "mean_probe", "preprocessing": {"num_frames": 4, "sampling_rate": 1, "crop_size": 32,
                                                             "mean": [0.5] * 3, "std": [0.25] * 3}}

    def forward_features(self, x):
        return x.mean((2, 3, 4))

    def forward_head(self, f):
        return self.fc(f)


def test_hour_long_video_in_bounded_memory(tmp_path):
    """One hour at 2 fps (7200 frames of 64x48): decoded once, never more than a window of frames
    held; resident memory grows by less than the frames would take (66 MB as uint8 RGB)."""
    def frames():
        f = np.zeros((48, 64, 3), np.uint8)
        for t in range(7200):
            f[:] = (t * 7) % 200
            f[10:20, (t * 3) % 56:(t * 3) % 56 + 8] = 255
            yield f
    path = write_video(tmp_path / "hour.mp4", frames(), 2.0, crf=30, preset="ultrafast")
    ex = F.FeatureExtractor(_MeanModel(), F.resolve_config(window=4, stride=8, batch_size=16))
    page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page / 2**20

    samples = []
    feats, meta = ex.extract(path, on_frames=lambda done, total: samples.append(rss_mb()))
    assert feats.shape == (900, 3) and meta["num_frames"] == 7200 and meta["duration"] == 3600.0
    assert meta["timestamps"][-1] == [3596.0, 3598.0]
    assert ex.peak_buffered <= 4
    assert len(samples) > 200 and max(samples) - samples[0] < 32, (samples[0], max(samples))
