"""`vidlab data stats` on the official annotation files in ../shared/data/real (published counts)."""

import json

import pytest

from vidlab.apps.cli import main


def stats(capsys, *argv):
    code = 0
    try:
        main(["data", "stats", *argv, "--json"])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code in (0, None), err
    return json.loads(out)


@pytest.mark.parametrize("split,train,test", [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_ucf101_splits(real_dir, capsys, split, train, test):
    s = stats(capsys, "--format", "ucf101", "--annotations", str(real_dir / "ucf101/annotations"), "--split", str(split))
    assert (s["classes"], s["train"], s["val"], s["test"]) == (101, train, 0, test)


def test_hmdb51_split1(real_dir, capsys):
    s = stats(capsys, "--format", "hmdb51", "--annotations", str(real_dir / "hmdb51/annotations"))
    assert (s["classes"], s["train"], s["test"], s["unused"]) == (51, 3570, 1530, 1666)
    # the class order is MMAction2's label map
    from vidlab.data.datasets.registry import load_index

    names = (real_dir / "hmdb51/annotations/label_map_mmaction2.txt").read_text().split()
    assert load_index("hmdb51", real_dir / "hmdb51/annotations").classes == names


def test_kinetics400_val_csv(real_dir, capsys):
    s = stats(capsys, "--format", "kinetics400", "--annotations", str(real_dir / "kinetics/annotations/kinetics-400_val.csv"))
    assert (s["classes"], s["val"], s["train"], s["test"]) == (400, 19906, 0, 0)
    # the folder: val + the unlabelled test csv, classes in the official label-map order
    s = stats(capsys, "--format", "k400", "--annotations", str(real_dir / "kinetics/annotations"))
    assert (s["classes"], s["val"], s["test"], s["unlabelled"]) == (400, 19906, 38685, 38685)


def test_charades_test_csv(real_dir, capsys):
    s = stats(capsys, "--format", "charades", "--annotations", str(real_dir / "charades/annotations"))
    assert (s["classes"], s["test"], s["videos_with_actions"], s["action_instances"]) == (157, 1863, 1814, 16691)
    assert s["multi_label"] is True


def test_ssv2_classes(real_dir, capsys):
    s = stats(capsys, "--format", "ssv2", "--annotations", str(real_dir / "sthv2/annotations"))
    assert s["classes"] == 174


def test_kth_sequences(real_dir, capsys):
    s = stats(capsys, "--format", "kth", "--annotations", str(real_dir / "kth/annotations/00sequences.txt"))
    assert (s["videos"], s["segments"], s["classes"]) == (599, 2391, 6)
    assert s["listed_without_segments"] == ["person13_handclapping_d3"]
    # the standard person split covers every segment once
    assert s["train"] + s["val"] + s["test"] == 2391
    assert (s["train_videos"], s["val_videos"], s["test_videos"]) == (191, 192, 216)
    # with --root: the 15 clips of the shared folder are found, the other 584 are missing
    s = stats(capsys, "--format", "kth", "--annotations", str(real_dir / "kth/annotations"), "--root", str(real_dir / "kth"))
    assert (s["present"], s["missing"]) == (15, 584)


def test_bad_input_is_one_line(real_dir, tmp_path, capsys):
    bad = tmp_path / "trainlist01.txt"
    (tmp_path / "classInd.txt").write_text("1 A\n2 B\n")
    bad.write_text("A/v_A_g01_c01.avi 1\nB/v_B_g01_c01.avi 1\n")
    code = 0
    try:
        main(["data", "stats", "--format", "ucf101", "--annotations", str(tmp_path), "--json"])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("vidlab: error: ") and "trainlist01.txt:2:" in lines[0]
