"""`vidlab explain`: the files, the JSON, SlowFast's per-pathway maps and ablation, and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import run_cli
from vidlab import models
from vidlab.data.sampling import linspace_indices
from vidlab.data.synthetic import generate_clip
from vidlab.io import VideoReader, write_video

LABELS = ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    video = write_video(root / "clip.mp4", generate_clip(0, 3, size=64, num_frames=40), fps=25)
    torch.manual_seed(0)
    i3d = models.build("i3d_r10_tiny", num_classes=3)
    ck = models.save(i3d, root / "i3d", labels=LABELS, preprocessing=models.get_spec("i3d_r10_tiny").preprocessing())
    torch.manual_seed(0)
    sf = models.build("slowfast_r50_8x8", num_classes=3, width=8)
    sf_pre = {"num_frames": 16, "sampling_rate": 2, "crop_size": 32, "test_crop_size": 32,
              "mean": [0.45] * 3, "std": [0.225] * 3}
    sf_ck = models.save(sf, root / "sf", labels=LABELS, preprocessing=sf_pre, model_kwargs={"width": 8})
    return root, str(video), str(ck), str(sf_ck)


def test_explain_writes_the_video_sheet_and_json(env, capsys):
    root, video, ck, _ = env
    out = root / "out"
    code, stdout, err = run_cli(["explain", video, "--checkpoint", ck, "--out", str(out), "--json", "--topk", "2"],
                                capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc == json.loads((out / "clip_explain.json").read_text())
    assert len(doc["top"]) == 2 and doc["top"][0]["label"] in LABELS and doc["top"][0]["score"] >= doc["top"][1]["score"]
    assert doc["class"]["index"] == doc["top"][0]["index"] and doc["class"]["chosen"] == "top-1"
    assert doc["layers"] == ["s5"] and doc["arch"] == "i3d_r10_tiny" and "ablation" not in doc
    # classify's first window: 8 frames x sampling rate 4 = 32 source frames, PySlowFast's linspace rule
    assert doc["window"]["clip_shape"] == [3, 8, 56, 56]
    assert doc["window"]["source_frames"] == linspace_indices(0, 31, 8, 40).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    (m,) = doc["maps"]
    assert Path(m["video"]) == out / "clip_gradcam.mp4" and Path(m["sheet"]) == out / "clip_gradcam.png"
    with VideoReader(m["video"]) as r:  # the 56-pixel crop, drawn at 224, one frame per clip frame
        assert (r.info.num_frames, r.info.width, r.info.height) == (8, 224, 224)
    from PIL import Image

    with Image.open(m["sheet"]) as im:
        assert im.format == "PNG" and im.width > 400
    # the same window and class give the same map: the peak is reproducible
    code, stdout, _ = run_cli(["explain", video, "-c", ck, "--out", str(root / "again"), "--json",
                               "--class", doc["class"]["label"]], capsys)
    again = json.loads(stdout)
    assert code == 0 and again["class"]["chosen"] == "given" and again["maps"][0]["peak"] == m["peak"]


def test_class_by_name_or_index_layer_and_start(env, capsys):
    root, video, ck, _ = env
    code, stdout, err = run_cli(["explain", video, "-c", ck, "--out", str(root / "o2"), "--json", "--class", "GAMMA",
                                 "--layer", "s4", "--start", "0.5"], capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["class"]["index"] == 2 and doc["class"]["label"] == "gamma" and doc["layers"] == ["s4"]
    assert doc["window"]["start_sec"] == 0.32  # 0.5 s moved back to the last full window (40 - 32 frames)
    code, stdout, _ = run_cli(["explain", video, "-c", ck, "--out", str(root / "o3"), "--class", "1"], capsys)
    assert code == 0 and "explaining 'beta'" in stdout and "json " in stdout


def test_slowfast_maps_per_pathway_and_the_ablation(env, capsys):
    root, video, _, sf_ck = env
    out = root / "sf_out"
    code, stdout, err = run_cli(["explain", video, "-c", sf_ck, "--out", str(out), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    slow, fast = doc["maps"]
    assert (slow["pathway"], fast["pathway"]) == ("slow", "fast")
    assert slow["frames"] == [0, 5, 10, 15] and fast["frames"] == list(range(16))
    assert doc["layers"] == ["s5.pathway0_res2", "s5.pathway1_res2"]
    for name in ("clip_gradcam_slow.mp4", "clip_gradcam_fast.mp4", "clip_gradcam_slow.png", "clip_gradcam_fast.png"):
        assert (out / name).is_file(), name
    with VideoReader(out / "clip_gradcam_slow.mp4") as r:
        assert r.info.num_frames == 4
    rows = {r["variant"]: r for r in doc["ablation"]["rows"]}
    assert set(rows) == {"full", "no_fast", "no_slow", "no_lateral", "slow_only"}
    assert doc["ablation"]["class_index"] == doc["class"]["index"]
    assert rows["full"]["class_prob"] == pytest.approx(doc["class"]["prob"], abs=1e-5)


@pytest.mark.parametrize("extra, message", [
    (["--layer", "s9"], "no layer 's9' in i3d_r10_tiny; close names: "),
    (["--layer", "head.projection"], "layer 'head.projection' gives a (1, 3) output"),
    (["--class", "delta"], "--class 'delta' is not a label of this model"),
    (["--class", "3"], "--class 3 is out of range: the model has 3 classes (0..2)"),
    (["--start", "9"], "--start 9 s is past the end of the video (1.60 s)"),
])
def test_bad_input_is_one_line_and_exit_2(env, capsys, extra, message):
    root, video, ck, _ = env
    out = root / "bad"
    code, stdout, err = run_cli(["explain", video, "-c", ck, "--out", str(out), *extra], capsys)
    assert code == 2 and not stdout
    assert err.count("\n") == 1 and err.startswith("vidlab: error: ") and message in err, err
    assert not (out / "clip_explain.json").exists()


def test_missing_video_and_checkpoint(env, capsys, tmp_path):
    root, video, ck, _ = env
    code, _, err = run_cli(["explain", str(tmp_path / "none.mp4"), "-c", ck, "--out", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "none.mp4: file not found" in err
    code, _, err = run_cli(["explain", video, "--out", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "--checkpoint" in err


def test_the_overlay_blends_the_colour_map():
    """A frame blended with the colour map (alpha 0.5): where the map is 0 the jet colour is dark blue, so
    the red channel is half the frame's; where it is 1, dark red."""
    from vidlab.explain import overlay

    frames = np.full((1, 4, 4, 3), 200, np.uint8)
    blended = overlay(frames, np.zeros((1, 4, 4)))
    assert np.all(np.abs(blended[..., 0].astype(int) - 100) <= 1) and np.all(blended[..., 2] > 150)
    hot = overlay(frames, np.ones((1, 4, 4)))
    assert np.all(hot[..., 0] > 150) and np.all(np.abs(hot[..., 2].astype(int) - 100) <= 1)


def test_a_real_clip_with_a_converted_pyslowfast_checkpoint(real_dir, tmp_path, capsys):
    """The acceptance path: a PySlowFast ``.pyth`` (``model_state``, PySlowFast's keys) of the tiny SlowFast,
    converted with `vidlab convert`, explained on a real KTH clip: overlay videos, contact sheets and the
    ablation table."""
    video = real_dir / "kth" / "handwaving" / "person01_handwaving_d2_uncomp.avi"
    torch.manual_seed(0)
    model = models.build("slowfast_tiny", num_classes=3)
    torch.save({"model_state": model.state_dict(), "cur_epoch": 1}, tmp_path / "sf.pyth")
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{n}\n" for n in LABELS))
    code, _, err = run_cli(["convert", str(tmp_path / "sf.pyth"), str(tmp_path / "sf"), "--from", "pyslowfast",
                            "--arch", "slowfast_tiny", "--labels", str(labels)], capsys)
    assert code == 0, err
    out = tmp_path / "out"
    code, stdout, err = run_cli(["explain", str(video), "-c", str(tmp_path / "sf.safetensors"), "--out", str(out),
                                 "--json"], capsys)
    assert code == 0, err
    doc = json.loads(stdout)
    stem = video.stem
    for suffix in ("slow.mp4", "fast.mp4", "slow.png", "fast.png"):
        assert (out / f"{stem}_gradcam_{suffix}").stat().st_size > 1000, suffix
    rows = {r["variant"]: r for r in doc["ablation"]["rows"]}
    assert set(rows) == {"full", "no_fast", "no_slow", "no_lateral", "slow_only"}
    # the converted weights are the model's: the full row is the model's own probability on the window
    assert rows["full"]["class_prob"] == pytest.approx(doc["class"]["prob"], abs=1e-5)
    assert doc["class"]["label"] in LABELS
