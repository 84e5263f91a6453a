"""`vidlab detect run --model NAME`: an AVA detector in PyTorchVideo's format, served by the loopback hub,
downloaded, converted (RoIAlign aligned=False recorded) and cached once."""

from __future__ import annotations

import io
import json

import torch

from helpers import run_cli
from vidlab import hub, models

ARCH = "slowfast_r50_8x8_detection"
FILE = "SLOWFAST_8x8_R50_DETECTION.pyth"


def test_detect_run_takes_a_published_detector_by_name(server, register, hub_home, make_entry, real_dir, tmp_path,
                                                       capsys):
    import pytorchvideo.models.hub as ptv

    torch.manual_seed(3)
    ref = ptv.slowfast_r50_detection(pretrained=False).eval()
    buf = io.BytesIO()
    torch.save({"model_state": ref.state_dict()}, buf)  # the zoo file's layout
    server.files[FILE] = buf.getvalue()
    entry = register(make_entry(server.url(FILE), name=f"{ARCH}.test", arch=ARCH, source="pytorchvideo",
                                converter="pytorchvideo", labels="ava80", num_classes=80))
    video = real_dir / "ucf101" / "videos" / "Basketball" / "v_Basketball_g01_c01.avi"
    tube = real_dir / "ucf101_24" / "annotations" / "v_Basketball_g01_c01_tube.json"
    argv = ["detect", "run", str(video), "--model", ARCH, "--weights", "test", "--boxes", str(tube), "--no-video",
            "--json", "--quiet"]
    code, out, err = run_cli(argv + ["--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    doc = json.loads(out)
    scores = doc["tubes"][0]["keyframes"][0]["scores"]
    assert len(scores) == 80 and all(0 < s < 1 for s in scores)
    assert doc["tubes"][0]["label_name"] in hub.label_names("ava80")
    assert len(server.gets(FILE)) == 1
    meta = models.read_meta(hub.download(entry, progress=False))
    assert meta["model_kwargs"] == {"aligned": False} and meta["hub_entry"] == entry.name
    # served from the cache the second time: no request, the same scores
    code, out, err = run_cli(argv + ["--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    assert json.loads(out)["tubes"][0]["keyframes"][0]["scores"] == scores
    assert len(server.gets(FILE)) == 1
    # one of the two, not both
    code, _, err = run_cli(["detect", "run", str(video), "--model", ARCH, "-c", str(tmp_path / "x.safetensors"),
                            "--boxes", str(tube)], capsys)
    assert code == 2 and "not both" in err
