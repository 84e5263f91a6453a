"""`vidlab tal detect` on raw videos: features computed with the checkpoint's recorded settings give
the same detections as `vidlab features` then `tal detect --features`; timeline plots; bad input."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import run_cli
from vidlab import models


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny extractor, three synthetic untrimmed videos, their features and a TAL checkpoint trained
    for two epochs on them."""
    import contextlib
    import io

    from vidlab.apps.cli import main
    from vidlab.data.synthetic_untrimmed import write_untrimmed_dataset

    root = tmp_path_factory.mktemp("taldv")
    data = root / "data"
    write_untrimmed_dataset(data, videos=3, seconds=10.0, fps=8.0, size=32, seed=0, progress=False, workers=1)
    torch.manual_seed(0)
    pre = {**models.get_spec("c2d_r10_tiny").preprocessing(), "crop_size": 16, "test_crop_size": 16}
    ext = models.save(models.build("c2d_r10_tiny", num_classes=10), root / "ext", preprocessing=pre)
    videos = sorted((data / "videos").glob("*.mp4"))
    feats = root / "feats"

    def cli(argv):
        stdout, stderr = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(argv)
            except SystemExit as e:
                code = e.code
        assert code == 0, stderr.getvalue()

    cli(["features", *map(str, videos), "-c", str(ext), "--window", "8", "--stride", "4", "--out", str(feats),
         "--device", "cpu", "--quiet"])
    ckpt = root / "tal"
    cli(["tal", "train", "--features", str(feats), "--groundtruth", str(data / "activity_net_synth.json"), "--out",
         str(ckpt), "--epochs", "2", "--warmup-epochs", "0", "--crop-ratio", "none", "--embed-dim", "16",
         "--device", "cpu", "--quiet"])
    return root, ext, videos, feats, ckpt


def test_video_mode_equals_features_mode(setup, capsys):
    root, ext, videos, feats, ckpt = setup
    doc = json.loads((ckpt / "model.json").read_text())
    # what tal train records about the features, and what the video mode reads back
    f = doc["features"]
    assert f["window"]["frames"] == 8 and f["stride"]["frames"] == 4 and f["fps"] == 8.0
    assert f["model"]["checkpoint"] == str(ext)
    video = videos[-1]
    a, b = root / "from_feats.json", root / "from_video.json"
    code, _, err = run_cli(["tal", "detect", "-c", str(ckpt), "--features", str(feats), "--videos", video.stem,
                            "--out", str(a), "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    # the extractor recorded in model.json is used when none is given
    code, stdout, err = run_cli(["tal", "detect", "-c", str(ckpt), str(video), "--out", str(b), "--plot",
                                 str(root / "plots"), "--show", "3", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert rb["results"] == ra["results"] and len(rb["results"][video.stem]) > 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith(f"{len(rb['results'][video.stem])} detections in 1 videos")
    best = rb["results"][video.stem][0]
    fields = lines[0].split()
    assert fields[0] == video.stem and fields[3] == best["label"] and float(fields[4]) == pytest.approx(
        best["score"], abs=5e-4)
    assert float(fields[1]) == pytest.approx(best["segment"][0], abs=5e-3)
    png = root / "plots" / f"{video.stem}.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --extractor given explicitly, --json summary: the same detections
    code, stdout, err = run_cli(["tal", "detect", "-c", str(ckpt), str(video), "--extractor", str(ext), "--json",
                                 "--show", "2", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["predictions"] is None and res["num_videos"] == 1
    assert res["detections"][video.stem] == ra["results"][video.stem][:2]
    assert res["features"]["window"] == 8 and res["features"]["stride"] == 4 and res["features"]["fps"] == 8.0


def _one_line(code, stdout, err, text):
    assert code == 2 and not stdout and err.count("\n") == 1 and err.startswith("vidlab: error:"), err
    assert text in err, err


def test_bad_input_is_one_line(setup, tmp_path, capsys):
    root, ext, videos, feats, ckpt = setup
    base = ["tal", "detect", "-c", str(ckpt), "--device", "cpu", "--quiet"]
    _one_line(*run_cli([*base, str(videos[0]), "--features", str(feats), "--out", str(tmp_path / "p.json")], capsys),
              "one of the two")
    _one_line(*run_cli([*base, "--out", str(tmp_path / "p.json")], capsys), "one of the two")
    _one_line(*run_cli([*base, "--features", str(feats)], capsys), "'--out'")
    _one_line(*run_cli([*base, "--features", str(feats), "--out", str(tmp_path / "p.json"), "--extractor", str(ext)],
                       capsys), "'--extractor'")
    # an extractor of another feature dimension
    torch.manual_seed(1)
    pre = {**models.get_spec("x3d_xs").preprocessing(), "crop_size": 16, "test_crop_size": 16}
    other = models.save(models.build("x3d_xs", num_classes=10), tmp_path / "other", preprocessing=pre)
    dim = json.loads((ckpt / "model.json").read_text())["features"]["feature_dim"]
    code, stdout, err = run_cli([*base, str(videos[0]), "--extractor", str(other)], capsys)
    _one_line(code, stdout, err, f"takes {dim}-d features")
    # a checkpoint that does not record its extractor: --extractor is required
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes())
    doc = json.loads((ckpt / "model.json").read_text())
    doc["features"]["model"] = {"arch": "c2d_r10_tiny"}
    (bare / "model.json").write_text(json.dumps(doc))
    _one_line(*run_cli(["tal", "detect", "-c", str(bare), str(videos[0]), "--device", "cpu", "--quiet"], capsys),
              "--extractor CKPT")
    # a video that cannot be read
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    code, stdout, err = run_cli([*base, str(bad)], capsys)
    assert code == 2 and not stdout and str(bad) in err and err.count("\n") == 1


def test_the_recorded_crops_are_used_again():
    """Features averaged over 3 crops at training are computed with 3 crops again from videos."""
    from vidlab.apps.cli_localize import video_feature_config

    meta = {"features": {"window": {"frames": 8}, "stride": {"frames": 4}, "fps": 8.0,
                         "preprocessing": {"crops": 3}}}
    assert video_feature_config(meta).crops == 3
    meta["features"]["preprocessing"] = {"crops": 1}
    assert video_feature_config(meta).crops == 1
    del meta["features"]["preprocessing"]
    assert video_feature_config(meta).crops == 1  # older checkpoints: the default
