"""Training on a folder with 5% broken videos: it trains to the end and the report names exactly those files."""

import io
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidlab.data.datasets.registry import build_dataset, load_index
from vidlab.data.datasets.robust import BadDataError, RobustDataset
from vidlab.data.datasets.video_list import TooShortError, VideoListDataset, VideoRecord
from vidlab.data.transforms import ClipTransform


def break_files(root, names):
    """Truncated, zero-length, wrong content for the extension (a JPEG named .mp4: one frame), random bytes."""
    from PIL import Image

    paths = [root / n for n in names]
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) // 2])
    paths[1].write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, "JPEG")
    paths[2].write_bytes(buf.getvalue())
    paths[3].write_bytes(np.random.default_rng(0).bytes(4000))
    return sorted(str(p) for p in paths)


@pytest.fixture(scope="module")
def broken_set(tmp_path_factory):
    from vidlab.data.synthetic import write_synthetic_dataset

    out = tmp_path_factory.mktemp("broken")
    write_synthetic_dataset(out, train_per_class=8, val_per_class=1, test_per_class=1, size=32, num_frames=16,
                            fps=16.0, seed=5, progress=False)
    lines = (out / "train.csv").read_text().split()
    names = [lines[i] for i in (2, 22, 50, 78)]  # 4 of the 80 training clips = 5%
    return out, break_files(out, names)


def _tf():
    return ClipTransform(train=True, crop_size=24, min_scale=28, max_scale=32, flip=0.0)


def test_trainer_trains_to_the_end_and_reports_exactly_the_broken_files(broken_set, tmp_path):
    from vidlab.engine.config import from_dict
    from vidlab.engine.trainer import Trainer

    root, broken = broken_set
    cfg = from_dict({
        "model": {"arch": "c2d_r10_tiny", "num_classes": 10, "kwargs": {"width": 8}},
        "data": {"train": str(root / "train.csv"), "num_frames": 4, "sampling_rate": 2, "crop_size": 24,
                 "train_scale": [28, 32], "flip": 0.0, "batch_size": 16, "num_workers": 2, "min_frames": 4,
                 "max_bad_fraction": 0.1},
        "solver": {"lr": 0.05, "epochs": 2},
        "train": {"out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })
    history = Trainer(cfg, log=lambda m: None).fit()
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["bad_files"] == 4 and r["bad_files_total"] == 4 for r in history)
    report = json.loads((tmp_path / "run" / "bad_files.json").read_text())
    assert sorted(b["path"] for b in report["bad_files"]) == broken
    assert report["num_files"] == 80 and report["bad_fraction"] == pytest.approx(0.05)
    kinds = {b["path"].rsplit("/", 1)[1]: b["kind"] for b in report["bad_files"]}
    assert sorted(kinds.values()) == ["empty", "too_short", "unreadable", "unreadable"]
    assert all(b["epochs"] == [0, 1] for b in report["bad_files"])


def test_substitutes_are_deterministic_across_worker_counts(broken_set):
    root, broken = broken_set
    index = load_index("video_list", root / "train.csv")
    ds = build_dataset(index, "train", num_frames=4, sampling_rate=2, transform=_tf(), min_frames=4, seed=3)
    assert isinstance(ds, RobustDataset)
    ds.set_epoch(1)
    runs = []
    for workers in (0, 2):
        batches = list(DataLoader(ds, batch_size=20, num_workers=workers))
        runs.append((torch.cat([b[0] for b in batches]), torch.cat([b[2] for b in batches])))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    bad_idx = [i for i, r in enumerate(ds.records) if r.path in broken]
    used = runs[0][1]
    assert all(int(used[i]) != i for i in bad_idx)  # another clip was drawn for each broken one
    assert sum(int(used[i]) == i for i in range(len(ds))) == len(ds) - len(bad_idx)
    assert sorted(b["path"] for b in ds.bad_files(epoch=1)) == broken


def test_threshold_stops_with_one_line(broken_set, tmp_path):
    root, broken = broken_set
    index = load_index("video_list", root / "train.csv")
    ds = build_dataset(index, "train", num_frames=4, sampling_rate=2, transform=_tf(), min_frames=4)
    for i in range(len(ds)):
        ds[i]
    assert ds.end_epoch(0, report=tmp_path / "r.json", max_bad_fraction=0.05) == {"bad_files": 4, "bad_files_total": 4}
    with pytest.raises(BadDataError) as e:
        ds.end_epoch(0, report=tmp_path / "r.json", max_bad_fraction=0.04)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("4 of 80 videos (5.0%) could not be used") and "r.json" in msg


def test_placeholder_policy_and_mostly_broken_sets(tmp_path):
    recs = [VideoRecord(str(tmp_path / f"none{i}.mp4"), i % 2) for i in range(3)]
    tf = ClipTransform(train=False, crop_size=16, test_scale=16)
    inner = VideoListDataset(recs, mode="test", num_frames=4, sampling_rate=1, transform=tf, num_views=2)
    x, y, i = RobustDataset(inner, policy="placeholder")[1]
    assert x.shape == (2, 3, 4, 16, 16) and not x.any() and int(y) == 1 and i == -1
    with pytest.raises(BadDataError, match="videos in a row could not be read"):
        RobustDataset(inner, max_attempts=5)[0]
    with pytest.raises(TypeError):  # bugs are not swallowed
        RobustDataset(inner)["x"]


def test_segments_windows_and_multilabel_targets(tiny_synth):
    from vidlab.data.datasets.registry import load_index as li

    rec = li("video_list", tiny_synth / "train.csv").splits["train"][0]
    path = str(tiny_synth / rec.path)
    tf = ClipTransform(train=True, crop_size=24, min_scale=28, max_scale=32, flip=0.0)
    seg = VideoRecord(path, (1, 2), start=4, end=12, intervals=((1, 0.0, 0.4), (2, 0.75, 2.0)))
    ds = VideoListDataset([seg], mode="train", num_frames=4, sampling_rate=2, transform=tf, multi_label=True,
                          num_classes=3)
    clip, target, _ = ds[0]
    assert clip.shape == (3, 4, 24, 24) and target.dtype == torch.float32 and target.shape == (3,)
    assert ds.window(seg, 16, 16.0) == (4, 12)
    # frames 4..11 at 16 fps span 0.25-0.69 s: only class 1 (0-0.4 s) can be under them, never class 2
    assert target[2] == 0 and target[0] == 0
    sec = VideoRecord(path, 0, start=0.5, end=0.75, unit="second")
    assert ds.window(sec, 16, 16.0) == (8, 12)
    ds.min_frames = 5
    with pytest.raises(TooShortError, match="too short: segment"):
        ds.window(sec, 16, 16.0)


def test_evaluation_leaves_unreadable_videos_out_of_the_score(broken_set, tmp_path):
    from vidlab.engine.config import from_dict
    from vidlab.engine.trainer import Trainer

    root, broken = broken_set
    lines = (root / "train.csv").read_text().splitlines()
    bad = {p.rsplit("/", 1)[1] for p in broken}
    test_list = tmp_path / "test.csv"  # 6 good videos and the 4 broken ones
    test_list.write_text("\n".join([ln for ln in lines if ln.split()[0].rsplit("/", 1)[-1] not in bad][:6]
                                   + [ln for ln in lines if ln.split()[0].rsplit("/", 1)[-1] in bad]) + "\n")
    (tmp_path / "videos").symlink_to(root / "videos")
    cfg = from_dict({
        "model": {"arch": "c2d_r10_tiny", "num_classes": 10, "kwargs": {"width": 8}},
        "data": {"train": str(root / "train.csv"), "test": str(test_list), "num_frames": 4, "sampling_rate": 2,
                 "crop_size": 24, "test_scale": 24, "batch_size": 4, "min_frames": 4},
        "train": {"out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })
    logs = []
    res = Trainer(cfg, log=logs.append).evaluate("test")
    assert len(res["labels"]) == 6 and res["scores"].shape == (6, 10)
    assert any("4 of 10 videos could not be read" in m for m in logs)
