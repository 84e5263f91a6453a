"""`vidlab data check` and `vidlab data prepare` on small real and synthetic folders."""

import json
import shutil

import pytest

from helpers import run_cli
from vidlab.io import probe_video

run = run_cli


@pytest.fixture()
def kth_copy(real_dir, tmp_path):
    """Three real KTH videos: one intact, one truncated to 40%, one missing; plus the official annotations."""
    root = tmp_path / "kth"
    for rel in ("boxing/person02_boxing_d4_uncomp.avi", "running/person09_running_d1_uncomp.avi"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real_dir / "kth" / rel, root / rel)
    cut = root / "running/person09_running_d1_uncomp.avi"
    data = cut.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    return root, real_dir / "kth/annotations"


def test_check_finds_missing_truncated_and_short(kth_copy, tmp_path, capsys):
    root, ann = kth_copy
    report = tmp_path / "report.json"
    code, out, err = run(["data", "check", "--format", "kth", "--root", str(root), "--annotations", str(ann),
                          "--report", str(report), "--workers", "1", "--json"], capsys)
    res = json.loads(out)
    assert code == 1 and res["usable"] is False  # 597 of 599 videos are missing
    assert res["videos"] == 599 and res["ok"] == 1 and res["num_missing"] == 597
    assert [u["path"].rsplit("/", 1)[1] for u in res["unreadable"]] == ["person09_running_d1_uncomp.avi"]
    assert "truncated" in res["unreadable"][0]["reason"]
    assert json.loads(report.read_text())["missing"][0] == "boxing/person01_boxing_d1_uncomp.avi"


def test_check_folder_with_broken_files(tiny_synth, tmp_path, capsys):
    root = tmp_path / "set"
    shutil.copytree(tiny_synth / "videos", root)
    clips = sorted(root.rglob("*.mp4"))
    clips[0].write_bytes(b"")
    clips[1].write_bytes(b"not a video" * 100)
    code, out, _ = run(["data", "check", "--format", "folder", "--root", str(root), "--workers", "2",
                        "--min-frames", "20", "--report", str(tmp_path / "r.json"), "--json"], capsys)
    res = json.loads(out)
    assert code == 1 and res["videos"] == len(clips)
    assert sorted(u["path"] for u in res["unreadable"]) == sorted(map(str, clips[:2]))
    assert res["num_too_short"] == len(clips) - 2  # 16-frame clips, 20 asked for
    code, out, _ = run(["data", "check", "--format", "folder", "--root", str(root), "--workers", "1",
                        "--min-frames", "8", "--max-bad-fraction", "0.1", "--decode", "full",
                        "--report", str(tmp_path / "r.json"), "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and res["usable"] and res["bad"] == 2 and res["ok"] == len(clips) - 2


def test_prepare_resize_resume_and_never_overwrite_good_output(kth_copy, tmp_path, capsys):
    root, ann = kth_copy
    out = tmp_path / "small"
    argv = ["data", "prepare", "--format", "kth", "--root", str(root), "--annotations", str(ann), "--out", str(out),
            "--short-side", "64", "--workers", "1", "--json"]
    code, stdout, err = run(argv, capsys)
    res = json.loads(stdout)
    assert code == 1 and res["done"] == 1 and len(res["failed"]) == 1  # the truncated video fails
    assert "person09_running_d1_uncomp.avi" in res["failed"][0]["reason"]
    good = out / "boxing/person02_boxing_d4_uncomp.mp4"
    info = probe_video(good)
    assert (info.width, info.height, info.num_frames, info.has_audio) == (86, 64, 522, False)  # ffmpeg scale=-2:64 rounds 85.3 to 86
    assert not (out / "running/person09_running_d1_uncomp.mp4").exists()
    assert not [p for p in out.rglob(".*")]  # no temporary leftovers
    # resumable: the good output is skipped
    code, stdout, _ = run(argv, capsys)
    assert json.loads(stdout)["skipped"] == 1
    # a source that turns bad never replaces the good output, even with --overwrite
    before = good.read_bytes()
    (root / "boxing/person02_boxing_d4_uncomp.avi").write_bytes(b"garbage" * 100)
    code, stdout, _ = run(argv + ["--overwrite"], capsys)
    assert code == 1 and len(json.loads(stdout)["failed"]) == 2 and good.read_bytes() == before


def test_prepare_trim_and_rawframes(tmp_path, capsys):
    import numpy as np

    from vidlab.io.writer import write_video

    # an "untrimmed" Kinetics download: 4 s at 10 fps whose frame k has brightness 2 k
    src = tmp_path / "raw"
    frames = np.stack([np.full((48, 64, 3), 2 * k, np.uint8) for k in range(40)])
    write_video(src / "yt_id-1.mp4", frames, fps=10, gop=1)
    ann = tmp_path / "kinetics-400_val.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nair drumming,yt_id-1,1,3,val\n")
    out = tmp_path / "trimmed"
    code, stdout, err = run(["data", "prepare", "--format", "k400", "--annotations", str(ann), "--root", str(src),
                             "--out", str(out), "--trim", "--short-side", "0", "--workers", "1", "--json"], capsys)
    assert code == 0, err
    clip = out / "air_drumming/yt_id-1_000001_000003.mp4"
    info = probe_video(clip)
    assert info.num_frames == 20 and (info.width, info.height) == (64, 48)
    from vidlab.io import VideoReader

    with VideoReader(clip) as r:
        assert abs(int(r.get_frames([0])[0].mean()) - 20) <= 2  # starts at 1 s = frame 10
    assert (out / "val.csv").read_text() == "air_drumming/yt_id-1_000001_000003.mp4 0\n"
    # the trimmed folder is now found directly by the loader
    code, stdout, _ = run(["data", "stats", "--format", "k400", "--annotations", str(ann), "--root", str(out),
                           "--json"], capsys)
    assert json.loads(stdout)["present"] == 1
    # rawframes: img_00001.jpg ... (1-based), one folder per video
    code, stdout, err = run(["data", "prepare", "--format", "k400", "--annotations", str(ann), "--root", str(src),
                             "--out", str(tmp_path / "frames"), "--trim", "--rawframes", "--short-side", "32",
                             "--workers", "1", "--json"], capsys)
    assert code == 0, err
    folder = tmp_path / "frames/air_drumming/yt_id-1_000001_000003"
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == "img_00001.jpg" and names[-1] == "img_00020.jpg" and len(names) == 20
    from PIL import Image

    assert Image.open(folder / "img_00001.jpg").size == (42, 32)
    assert (tmp_path / "frames/val_rawframes.txt").read_text() == "air_drumming/yt_id-1_000001_000003 20 0\n"


def test_features_only_format_refuses_check(tmp_path, capsys):
    from vidlab.data.datasets.youtube8m import encode_example, write_tfrecord

    write_tfrecord(tmp_path / "train00.tfrecord", [encode_example({"id": b"ab", "labels": [1]})])
    code, _, err = run(["data", "check", "--format", "youtube8m", "--root", str(tmp_path),
                        "--annotations", str(tmp_path)], capsys)
    assert code == 2 and "ships features, not videos" in err


def test_rawframe_names_match_the_rawframes_format():
    from vidlab.data.prepare import FRAME_TEMPLATE
    from vidlab.flow import storage

    assert FRAME_TEMPLATE == storage.IMG_TMPL == "img_{:05d}.jpg"
