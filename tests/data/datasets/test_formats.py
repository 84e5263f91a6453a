"""Every format's parser on small annotation files written here: records, splits, errors with file:line."""

import json

import pytest

from vidlab.data.datasets.registry import FileIndex, get_format, list_formats, load_index, locate, presence
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_registry_names_and_aliases():
    assert {"kth", "weizmann", "ucf101", "hmdb51", "kinetics400", "kinetics600", "kinetics700", "ssv2", "charades",
            "activitynet", "sports1m", "youtube8m", "video_list", "folder"} <= set(list_formats())
    assert get_format("K400").name == "kinetics400" and get_format("sthv2").name == "ssv2"
    with pytest.raises(DataError, match="unknown dataset format 'nope'"):
        get_format("nope")
    with pytest.raises(DataError, match="split must be in 1..3"):
        load_index("ucf101", ".", split=4)


def test_kth_parse_and_errors(tmp_path):
    f = tmp_path / "00sequences.txt"
    f.write_text("person01_boxing_d1\t\tframes\t1-95, 96-185\r\n\nperson13_handclapping_d3\tframes  \r\n"
                 "person22_walking_d2 frames 10-20\n")
    idx = load_index("kth", tmp_path)
    assert idx.summary()["videos"] == 2 and idx.summary()["segments"] == 3
    r = idx.splits["val"][0]  # person01 is a validation person
    assert (r.path, r.label, r.start, r.end, r.group) == ("boxing/person01_boxing_d1_uncomp.avi", 0, 0, 95, "person01")
    assert [x.group for x in idx.splits["test"]] == ["person22"]
    f.write_text("person01_boxing_d1 frames 1-95\nperson01_boxing_d2 frames 95-1\n")
    with pytest.raises(DataError, match=r"00sequences.txt:2: bad frame range '95-1'"):
        load_index("kth", f)
    f.write_text("person01_kicking_d1 frames 1-95\n")
    with pytest.raises(DataError, match=r":1: unknown KTH action 'kicking'"):
        load_index("kth", f)


def test_weizmann_leave_one_person_out(tmp_path):
    for name in ("daria_bend", "lena_run1", "lena_run2", "ido_wave1", "ido_wave2", "eli_pjump"):
        touch(tmp_path / name.split("_")[1].rstrip("12") / f"{name}.avi")
    idx = load_index("weizmann", tmp_path, split=4)  # persons sorted: daria, eli, ido, lena
    assert idx.stats["test_person"] == "lena" and len(idx.splits["test"]) == 2
    assert {r.label for r in idx.splits["test"]} == {idx.classes.index("run")}
    assert sorted(idx.classes[r.label] for r in idx.splits["train"]) == ["bend", "pjump", "wave1", "wave2"]
    touch(tmp_path / "x" / "daria_kick.avi")
    with pytest.raises(DataError, match="daria_kick.avi: unknown Weizmann action 'kick'"):
        load_index("weizmann", tmp_path)


def test_ucf101_label_checks(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 HandstandPushups\n")
    (tmp_path / "trainlist01.txt").write_text("HandstandPushups/v_HandStandPushups_g08_c01.avi 2\n")
    (tmp_path / "testlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n")
    idx = load_index("ucf101", tmp_path / "testlist01.txt")
    assert idx.splits["train"][0].label == 1 and idx.splits["train"][0].group == "g08"
    assert idx.splits["test"][0].label == 0
    (tmp_path / "testlist01.txt").write_text("Nope/v_Nope_g01_c01.avi\n")
    with pytest.raises(DataError, match=r"testlist01.txt:1: class folder 'Nope' is not in classInd.txt"):
        load_index("ucf101", tmp_path)


def test_hmdb51_ids(tmp_path):
    d = tmp_path / "testTrainMulti_7030_splits"
    d.mkdir()
    (d / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (d / "climb_stairs_test_split1.txt").write_text("d.avi 2\n")
    idx = load_index("hmdb51", tmp_path)
    assert idx.classes == ["brush_hair", "climb_stairs"] and idx.stats["unused"] == 1
    assert [r.path for r in idx.splits["test"]] == ["brush_hair/b.avi", "climb_stairs/d.avi"]
    (d / "climb_stairs_test_split1.txt").write_text("d.avi 2\ne.avi 3\n")
    with pytest.raises(DataError, match=r"climb_stairs_test_split1.txt:2: expected 'video.avi 0\|1\|2'"):
        load_index("hmdb51", tmp_path)


def test_kinetics_csv_layouts_and_untrimmed_fallback(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "kinetics-400_train.csv").write_text(
        'label,youtube_id,time_start,time_end,split,is_cc\n"air drumming",abc_-123456,4,14,train,0\n'
        "abseiling,xyz,0,10,train,0\n")
    (ann / "kinetics-400_val.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,q_q,30,40,val\n")
    (ann / "kinetics-400_test.csv").write_text("youtube_id,time_start,time_end,split\nzzz,1,11,test\n")
    idx = load_index("kinetics400", ann)
    assert idx.classes == ["abseiling", "air drumming"]
    assert [len(idx.splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    assert idx.splits["train"][0].path == "air drumming/abc_-123456_000004_000014.mp4"
    assert idx.splits["test"][0].label == -1
    videos = tmp_path / "videos"
    touch(videos / "air_drumming" / "abc_-123456_000004_000014.mp4")  # underscore folder: found by name
    touch(videos / "raw" / "xyz.mkv")  # untrimmed download: read between the csv times
    found, missing = locate(idx, videos, splits=["train", "val"])
    a, b = found.splits["train"]
    assert a.path.endswith("air_drumming/abc_-123456_000004_000014.mp4") and a.start is None
    assert b.path.endswith("raw/xyz.mkv") and (b.start, b.end, b.unit) == (0.0, 10.0, "second")
    assert [r.video_id for r in missing] == ["q_q_000030_000040"]
    from vidlab.data.datasets.kinetics import write_missing

    write_missing(missing, idx.classes, tmp_path / "missing.csv")
    assert (tmp_path / "missing.csv").read_text().splitlines()[1].startswith("abseiling,q_q,30,40,")
    (ann / "kinetics-400_val.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,q,40,30,val\n")
    with pytest.raises(DataError, match=r"kinetics-400_val.csv:2: bad clip 'q'"):
        load_index("kinetics400", ann)


def test_ssv2_templates(tmp_path):
    labels = {f"Class {i}": str(i) for i in range(172)}
    labels.update({"Putting something on something": "172", "Holding something next to something": "173"})
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps(labels))
    (tmp_path / "something-something-v2-train.json").write_text(json.dumps([
        {"id": "78687", "label": "holding potato next to vicks", "template": "Holding [something] next to [something]",
         "placeholders": ["potato", "vicks"]}]))
    (tmp_path / "something-something-v2-validation.json").write_text(json.dumps([
        {"id": "1", "label": "x", "template": "Putting [something] on [something]", "placeholders": []}]))
    (tmp_path / "something-something-v2-test.json").write_text(json.dumps([{"id": "5"}]))
    idx = load_index("ssv2", tmp_path)
    assert idx.num_classes == 174
    assert (idx.splits["train"][0].path, idx.splits["train"][0].label) == ("78687.webm", 173)
    assert idx.splits["val"][0].label == 172 and idx.splits["test"][0].label == -1
    (tmp_path / "something-something-v2-train.json").write_text(json.dumps([{"id": "2", "template": "Juggling [x]"}]))
    with pytest.raises(DataError, match=r"train.json: item 0 \(id 2\): template 'Juggling \[x\]' is not a known class"):
        load_index("ssv2", tmp_path)


def test_charades_actions_and_errors(tmp_path):
    (tmp_path / "Charades_v1_classes.txt").write_text("".join(f"c{i:03d} action {i}\n" for i in range(157)))
    (tmp_path / "Charades_v1_train.csv").write_text(
        "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
        'AAA,S1,Kitchen,5,6,Yes,"a, b",cup,"d",c077 12.10 18.00;c003 0.0 4.5;c077 20 21,30.0\n'
        "BBB,S2,Hall,5,6,Yes,s,o,d,,10.0\n")
    idx = load_index("charades", tmp_path)
    a, b = idx.splits["train"]
    assert a.label == (3, 77) and a.intervals[0] == (77, 12.1, 18.0) and a.group == "S1"
    assert b.label == () and idx.stats == {"videos_with_actions": 1, "action_instances": 3, "classes_used": 2}
    (tmp_path / "Charades_v1_train.csv").write_text(
        "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
        "AAA,S1,K,5,6,Yes,s,o,d,c077 12.10,30.0\n")
    with pytest.raises(DataError, match=r"Charades_v1_train.csv:2: bad action 'c077 12.10'"):
        load_index("charades", tmp_path)


def test_activitynet_segments(tmp_path):
    data = {"version": "VERSION 1.3",
            "taxonomy": [{"nodeName": "Root", "parentName": None}, {"nodeName": "Sports", "parentName": "Root"},
                         {"nodeName": "Long jump", "parentName": "Sports"}, {"nodeName": "Archery", "parentName": "Sports"}],
            "database": {
                "vid1": {"subset": "training", "duration": 30.0, "annotations": [
                    {"segment": [1.5, 7.25], "label": "Long jump"}, {"segment": [10, 40], "label": "Archery"}]},
                "vid2": {"subset": "validation", "duration": 9.0, "annotations": [{"segment": [0, 3], "label": "Archery"}]},
                "vid3": {"subset": "testing", "duration": 5.0, "annotations": []}}}
    (tmp_path / "activity_net.v1-3.min.json").write_text(json.dumps(data))
    idx = load_index("activitynet", tmp_path)
    assert idx.classes == ["Archery", "Long jump"]
    a, b = idx.splits["train"]
    assert a.path == "Long jump/v_vid1_0001500_0007250.mp4" and a.label == 1
    assert b.video_id == "v_vid1_0010000_0030000"  # clipped to the video's duration
    assert idx.splits["test"][0].label == -1 and idx.stats["train_videos"] == 1
    root = tmp_path / "videos"
    touch(root / "v_vid1.mp4")
    touch(root / "Archery" / "v_vid2_0000000_0003000.mp4")  # already trimmed
    found, missing = locate(idx, root, splits=["train", "val"])
    assert [(r.start, r.end, r.unit) for r in found.splits["train"]] == [(1.5, 7.25, "second"), (10.0, 30.0, "second")]
    assert found.splits["val"][0].start is None and not missing
    data["database"]["vid2"]["annotations"][0]["label"] = "Dancing"
    (tmp_path / "activity_net.v1-3.min.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="video vid2: label 'Dancing' is not a class"):
        load_index("activitynet", tmp_path)


def test_sports1m_partitions(tmp_path):
    (tmp_path / "labels.txt").write_text("".join(f"sport {i}\n" for i in range(487)))
    (tmp_path / "original").mkdir()
    (tmp_path / "original/train_partition.txt").write_text(
        "https://www.youtube.com/watch?v=oHg5SJYRHA0 208,73\nhttp://www.youtube.com/watch?v=dQw4w9WgXcQ 5\n")
    (tmp_path / "original/test_partition.txt").write_text("https://www.youtube.com/watch?v=abcdefghijk 486\n")
    idx = load_index("sports1m", tmp_path)
    assert idx.multi_label and idx.splits["train"][0].label == (208, 73) and idx.splits["train"][1].label == 5
    assert idx.splits["test"][0].path == "abcdefghijk.mp4" and idx.num_classes == 487
    (tmp_path / "original/test_partition.txt").write_text("https://www.youtube.com/watch?v=abcdefghijk 487\n")
    with pytest.raises(DataError, match=r"test_partition.txt:1: labels '487' outside \[0, 487\)"):
        load_index("sports1m", tmp_path)


def test_video_list_and_folder_formats(tmp_path):
    touch(tmp_path / "v" / "a.mp4")
    (tmp_path / "train.csv").write_text("v/a.mp4 0\nv/b.mp4 1 2\n")
    (tmp_path / "classes.txt").write_text("x\ny\nz\n")
    idx = load_index("video_list", tmp_path)
    assert idx.multi_label and idx.classes == ["x", "y", "z"]
    assert presence(idx, None) == {"present": 1, "missing": 1, "train_present": 1, "train_missing": 1}
    touch(tmp_path / "f" / "train" / "cat" / "1.avi")
    touch(tmp_path / "f" / "val" / "dog" / "2.webm")
    idx = load_index("folder", tmp_path / "f")
    assert idx.classes == ["cat", "dog"] and idx.splits["val"][0] == VideoRecord("val/dog/2.webm", 1, video_id="2")


def test_file_index_prefers_the_class_folder(tmp_path):
    touch(tmp_path / "a" / "clip.avi")
    touch(tmp_path / "b" / "clip.mp4")
    files = FileIndex(tmp_path)
    assert files.find("b/clip.avi").endswith("b/clip.mp4")  # re-encoded: other extension, same stem
    assert files.find("a/clip.avi").endswith("a/clip.avi")
    assert files.find("c/other.avi") is None
