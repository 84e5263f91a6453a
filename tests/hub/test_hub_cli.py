"""`vidlab hub list|info|download` and `--model NAME --weights TAG` on classify/eval, end to end."""

from __future__ import annotations

import json
import socket

import pytest

from helpers import run_cli
from vidlab import hub

ARCH = "i3d_r10_tiny"  # the tiny checkpoint of tests/hub/conftest.py
FILE = "I3D_TINY_8x4_R10.pyth"
PREFIX = "vidlab: error: "


def _clip(real_dir):
    return str(real_dir / "kinetics" / "videos" / "tai_chi__stgcn_ta_chi.mp4")


@pytest.mark.timeout(300)
def test_classify_a_real_clip_with_a_published_model(published, server, real_dir, capsys):
    code, out, err = run_cli(["classify", _clip(real_dir), "--model", ARCH, "--weights", "test", "--topk", "3",
                              "--json"], capsys)
    assert code == 0, err
    (res,) = json.loads(out)
    labels = hub.label_names("kinetics400")
    assert len(res["top"]) == 3 and all(t["label"] == labels[t["index"]] for t in res["top"])
    assert res["windows"] and len(server.gets(FILE)) == 1
    # the same checkpoint again, by entry name and without --weights: from the cache
    code, out, err = run_cli(["classify", _clip(real_dir), "--model", f"{ARCH}.test", "--topk", "3", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["top"] == res["top"] and len(server.gets(FILE)) == 1


@pytest.mark.timeout(300)
def test_eval_with_a_published_model(published, real_dir, tmp_path, capsys):
    video_list = tmp_path / "list.txt"
    video_list.write_text(f"{_clip(real_dir)} 346\n")  # K400 'tai chi'
    code, out, err = run_cli(["eval", "--model", ARCH, "--weights", "test", "--list", str(video_list), "--json"],
                             capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["num_videos"] == 1 and res["checkpoint"].endswith(f"{ARCH}.test.safetensors")


@pytest.mark.timeout(300)
def test_stream_with_a_published_model(published, real_dir, capsys):
    code, out, err = run_cli(["stream", _clip(real_dir), "--model", ARCH, "--weights", "test", "--max-seconds", "2",
                              "--json", "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["windows"] >= 1 and summary["last"]["label"] in hub.label_names("kinetics400")


@pytest.mark.parametrize("argv, says", [
    (["classify", "v.mp4"], "one of them is required"),
    (["classify", "v.mp4", "-c", "ck.safetensors", "--model", ARCH], "not both"),
    (["classify", "v.mp4", "-c", "ck.safetensors", "--weights", "test"], "it goes with --model, not with --checkpoint"),
    (["eval", "--list", "l.txt"], "one of them is required"),
    (["eval", "--list", "l.txt", "-c", "ck.safetensors", "--model", ARCH], "not both"),
    (["stream", "v.mp4", "-c", "ck.safetensors", "--model", ARCH], "not both"),
    (["serve", "-c", "ck.safetensors", "--model", ARCH], "not both"),
])
def test_checkpoint_xor_model_is_a_usage_error(argv, says, hub_home, capsys):
    code, out, err = run_cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith(PREFIX) and says in lines[0] and "--checkpoint" in lines[0] and "--help" in lines[0]


def test_an_unknown_model_or_tag_is_one_line(hub_home, capsys):
    code, _, err = run_cli(["classify", "v.mp4", "--model", "c2d_r10_tiny"], capsys)
    assert code == 2 and err.startswith(PREFIX + "no published weights for 'c2d_r10_tiny'") and err.count("\n") == 1
    code, _, err = run_cli(["classify", "v.mp4", "--model", "r3d_18", "--weights", "sports1m"], capsys)
    assert code == 2 and "r3d_18 has no weights tagged 'sports1m'; its tags: DEFAULT, kinetics400" in err


def test_hub_list(published, capsys):
    code, out, err = run_cli(["hub", "list"], capsys)
    assert code == 0, err
    assert "r3d_18.kinetics400" in out and "kinetics400 (DEFAULT)" in out and f"{ARCH}.test" in out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert " 61.68/86.92 " in lines["slowfast_r50_8x8.ssv2"]
    assert " mAP 37.24 " in lines["slowfast_r50_8x8.charades"]  # multi-label: the published mAP, not a top-1
    code, out, _ = run_cli(["hub", "list", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["r3d_18.kinetics400"]["urls"] == ["https://download.pytorch.org/models/r3d_18-b3b3357e.pth"]
    assert rows["r3d_18.kinetics400"]["default"] and not rows["raft_large.c_t_v2"]["default"]
    assert rows[f"{ARCH}.test"]["cached"] is False


def test_hub_info(published, capsys):
    code, out, err = run_cli(["hub", "info", "r2plus1d_18", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["name"] == "r2plus1d_18.kinetics400" and info["sha256_prefix"] == "91a641e6"
    assert info["num_labels"] == 400 and info["accuracy"]["top1"] == 67.463
    assert info["preprocessing"]["crop_size"] == 112 and info["preprocessing"]["resize_size"] == [128, 171]
    code, out, _ = run_cli(["hub", "info", "slow_r50_8x8.charades", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["num_labels"] == info["num_classes"] == 157 and info["accuracy"]["mAP"] == 34.72
    assert info["file"].endswith("charades_SLOW_8x8_R50.pyth") and info["preprocessing"]["multi_label"] is True
    code, out, _ = run_cli(["hub", "info", "r2plus1d_18"], capsys)
    assert code == 0 and "sha256_prefix" in out and "91a641e6" in out
    code, _, err = run_cli(["hub", "info", "nope"], capsys)
    assert code == 2 and err.startswith(PREFIX) and err.count("\n") == 1


def test_hub_download_json_and_to(published, source, server, hub_home, tmp_path, capsys):
    code, out, err = run_cli(["hub", "download", published.name, "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["path"].endswith(f"{ARCH}.test.safetensors") and res["sha256"] == source.sha256
    code, out, err = run_cli(["hub", "download", published.name, "--to", str(tmp_path / "m")], capsys)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "m" / FILE) and len(server.gets(FILE)) == 1  # copied from the cache


def test_hub_download_offline_is_one_line(register, make_entry, hub_home, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = register(make_entry(f"http://127.0.0.1:{port}/{FILE}"))
    code, out, err = run_cli(["hub", "download", entry.name], capsys)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(PREFIX + f"cannot download {entry.name}: http://127.0.0.1:{port}/{FILE}")
    assert f"put {FILE} in {hub_home / 'hub' / 'downloads'}" in line and "VIDLAB_HUB_MIRROR" in line
