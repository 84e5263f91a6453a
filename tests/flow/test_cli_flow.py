"""`vidlab flow`: outputs per format, stride, visualisation, resuming, one-line errors."""

import json

import numpy as np
import pytest

from helpers import run_cli
from vidlab.data.datasets.video_list import read_video_list
from vidlab.flow import end_point_error, storage
from vidlab.io import VideoReader

run = run_cli


@pytest.fixture(scope="module")
def videos(tiny_synth):
    return [r.path for r in read_video_list(tiny_synth / "train.csv")][:2]


def test_jpg_layout_and_sidecar(videos, tmp_path, capsys):
    code, out, err = run(["flow", *videos, "--method", "farneback", "--out", str(tmp_path), "--json", "--quiet"],
                         capsys)
    assert code == 0, err
    res = json.loads(out)
    assert [r["skipped"] for r in res] == [False, False]
    d = tmp_path / res[0]["dir"].split("/")[-1]
    names = sorted(p.name for p in d.iterdir())
    assert names.count("flow.json") == 1
    assert sum(n.startswith("img_") for n in names) == 16
    assert sum(n.startswith("x_") for n in names) == sum(n.startswith("y_") for n in names) == 15
    meta = storage.read_sidecar(d)
    assert meta["bound"] == 20.0 and meta["num_flows"] == 15 and meta["method"] == "farneback" and meta["complete"]
    assert (meta["width"], meta["height"]) == (32, 32)


def test_npy_stride_and_visualisation(videos, tmp_path, capsys):
    code, out, err = run(["flow", videos[0], "-m", "farneback", "-f", "npy", "--stride", "3", "--no-rgb",
                          "--visualize", "-o", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    d = next(p for p in tmp_path.iterdir() if p.is_dir())
    flow = np.load(d / "flow.npy")
    assert flow.shape == (5, 2, 32, 32) and flow.dtype == np.float32  # frames 0,3,...,15: 6 kept, 5 fields
    assert not any(p.name.startswith("img_") for p in d.iterdir())
    with VideoReader(d / "flow.mp4") as r:
        assert r.info.num_frames == 5
    assert storage.read_sidecar(d)["stride"] == 3


def test_resume_skips_finished_and_redoes_partial(videos, tmp_path, capsys):
    args = ["flow", *videos, "-m", "farneback", "-o", str(tmp_path), "--json", "--quiet"]
    assert run(args, capsys)[0] == 0
    first = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    # an interrupted run: a partial folder beside a finished one
    (tmp_path / f".{first[1].name}.partial").mkdir()
    import shutil

    shutil.rmtree(first[1])
    code, out, _ = run(args, capsys)
    assert code == 0
    assert [r["skipped"] for r in json.loads(out)] == [True, False]
    assert not list(tmp_path.glob(".*.partial"))
    # other settings: refused without --overwrite
    code, _, err = run(["flow", videos[0], "-m", "farneback", "--bound", "10", "-o", str(tmp_path), "--quiet"],
                       capsys)
    assert code == 2 and "other settings" in err and "--overwrite" in err  # the only video failed
    code, _, _ = run(["flow", videos[0], "-m", "farneback", "--bound", "10", "-o", str(tmp_path), "--quiet",
                      "--overwrite"], capsys)
    assert code == 0 and storage.read_sidecar(first[0])["bound"] == 10.0


def test_bad_inputs_are_one_line(videos, tmp_path, capsys):
    code, out, err = run(["flow", str(tmp_path / "missing.mp4"), videos[0], "-m", "farneback", "-o",
                          str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [f"vidlab: error: {tmp_path / 'missing.mp4'}: file not found"]
    assert "15 flow fields" in out  # the good video was done
    for argv, msg in ((["-m", "brox"], "--method must be one of"), (["-m", "raft"], "RAFT needs weights"),
                      (["-m", "raft", "--raft-weights", str(tmp_path / "w.pth")], "weights file not found"),
                      (["-m", "farneback", "-f", "png"], "--format must be one of")):
        code, _, err = run(["flow", videos[0], "-o", str(tmp_path / "o2"), "--quiet", *argv], capsys)
        assert code == 2 and err.startswith("vidlab: error: ") and msg in err and "Traceback" not in err


def test_cached_flow_matches_ground_truth_motion(tmp_path, capsys):
    """End to end: H.264 clip -> `vidlab flow` -> jpg cache -> EPE against the generator's motion."""
    from vidlab.data.datasets.rawframes import FrameDirectory
    from vidlab.data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "s", train_per_class=1, val_per_class=0, test_per_class=0, size=48,
                            num_frames=6, seed=1, motion=True, progress=False)
    rel = "train/move_right/train_move_right_0000"
    code, _, err = run(["flow", str(tmp_path / "s/videos" / f"{rel}.mp4"), "-m", "tvl1", "-o", str(tmp_path / "f"),
                        "--quiet"], capsys)
    assert code == 0, err
    cached = FrameDirectory(tmp_path / "f" / rel.split("/")[-1]).get_flows(range(5))
    gt = np.load(tmp_path / "s/motion" / f"{rel}.npy").astype(np.float32)
    assert end_point_error(cached, gt) < 0.5
