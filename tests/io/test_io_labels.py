"""read_label_map on the real label files of ../shared and on small files made here."""

from __future__ import annotations

import json

import pytest

from vidlab.io import read_label_map


# --- real files -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "rel, n, first, last",
    [
        ("kinetics/annotations/label_map_k400.txt", 400, "abseiling", "zumba"),
        ("kinetics/annotations/label_map_k600.txt", 600, "abseiling", "zumba"),
        ("kinetics/annotations/label_map_k700.txt", 700, "abseiling", "zumba"),
        ("kinetics/annotations/kinetics_400_labels_slowfast.csv", 400, "abseiling", "zumba"),
        ("sthv2/annotations/label_map_sthv2__mmaction2.txt", 174, "Approaching something with your camera",
         "Wiping something off of something"),
        ("ucf101/annotations/classInd.txt", 101, "ApplyEyeMakeup", "YoYo"),
        ("hmdb51/annotations/hmdb51_classInd.txt", 51, "brush_hair", "wave"),
        ("hmdb51/annotations/class_list.txt", 51, "brush_hair", "wave"),
        ("hmdb51/annotations/label_map_mmaction2.txt", 51, "brush_hair", "wave"),
        ("ava/annotations/ava_80_classes__slowfast_ava.names", 80, "bend/bow (at the waist)", "watch (a person)"),
        ("ava/annotations/label_map_60__mmaction2.txt", 80, "bend/bow (at the waist)", "watch (a person)"),
        ("ava/annotations/ava_action_list_v2.1_for_activitynet_2018.pbtxt", 80, "bend/bow (at the waist)",
         "watch (a person)"),
        ("charades/annotations/Charades_v1_classes.txt", 157, "Holding some clothes", "Someone is eating something"),
    ],
)
def test_real_label_maps(rel, n, first, last, real):
    names = read_label_map(real(rel))
    assert len(names) == n
    assert names[0] == first and names[-1] == last
    assert all(name == name.strip() for name in names)  # no stray \r (classInd.txt has CRLF)


def test_kinetics_txt_and_slowfast_csv_agree(real):
    assert read_label_map(real("kinetics/annotations/label_map_k400.txt")) == read_label_map(
        real("kinetics/annotations/kinetics_400_labels_slowfast.csv")
    )


def test_ucf101_classind_is_one_based(real):
    names = read_label_map(real("ucf101/annotations/classInd.txt"))
    assert names[0] == "ApplyEyeMakeup"  # "1 ApplyEyeMakeup" -> class 0
    assert names[38] == "HeadMassage"  # "39 HeadMassage"


def test_ava_sparse_ids_keep_their_place(real):
    """AVA's 60 evaluated classes keep their 1-based ids: index = id - 1, gaps stay empty."""
    full = read_label_map(real("ava/annotations/ava_80_classes__slowfast_ava.names"))
    sixty = read_label_map(real("ava/annotations/label_map_60__mmaction2.txt"))
    pbtxt = read_label_map(real("ava/annotations/ava_action_list_v2.1_for_activitynet_2018.pbtxt"))
    assert sixty == pbtxt
    assert sum(1 for s in sixty if s) == 60
    assert sixty[1] == "" and full[1] == "crawl"  # id 2 is not evaluated
    assert all(s == full[i] for i, s in enumerate(sixty) if s)


def test_hmdb51_sources_disagree_on_order(real):
    """A fact worth knowing: the HMDB51 class lists in circulation are not in one order."""
    classind = read_label_map(real("hmdb51/annotations/hmdb51_classInd.txt"))
    mm = read_label_map(real("hmdb51/annotations/label_map_mmaction2.txt"))
    tsn = read_label_map(real("hmdb51/annotations/class_list.txt"))
    assert sorted(classind) == sorted(mm) == sorted(tsn)
    assert [i for i in range(51) if not classind[i] == mm[i] == tsn[i]] == [20, 21, 44, 45]


# --- small files ----------------------------------------------------------------------
def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "text",
    [
        "walk\nrun\njump\n",
        "walk\r\nrun\r\njump",  # CRLF, no final newline
        "# comment\nwalk\nrun\njump\n\n\n",
        "0 walk\n1 run\n2 jump\n",
        "1 walk\n2 run\n3 jump\n",  # 1-based
        "0: walk\n1: run\n2: jump\n",
        "0,walk\n1,run\n2,jump\n",
        "id,name\n0,walk\n1,run\n2,jump\n",
        "name,id\nwalk,0\nrun,1\njump,2\n",
        "0\twalk\n1\trun\n2\tjump\n",
        "2 jump\n0 walk\n1 run\n",  # filled by id, not by line
        "c000 walk\nc001 run\nc002 jump\n",
    ],
)
def test_text_formats(tmp_path, text):
    assert read_label_map(_write(tmp_path, "labels.txt", text)) == ["walk", "run", "jump"]


def test_names_with_separators_and_quotes(tmp_path):
    p = _write(tmp_path, "l.csv", 'id,name\n0,"pushing something, then letting go"\n1,plain name\n')
    assert read_label_map(p) == ["pushing something, then letting go", "plain name"]
    p = _write(tmp_path, "l.txt", "0: Putting something on a surface, then moving it\n1: b\n")
    assert read_label_map(p) == ["Putting something on a surface, then moving it", "b"]


def test_gaps_and_base(tmp_path):
    p = _write(tmp_path, "sparse.txt", "1: a\n3: c\n4: d\n")
    assert read_label_map(p) == ["a", "", "c", "d"]
    assert read_label_map(p, missing="<unused>") == ["a", "<unused>", "c", "d"]
    assert read_label_map(p, base=0) == ["", "a", "", "c", "d"]
    with pytest.raises(ValueError, match="below the first id 1"):
        read_label_map(_write(tmp_path, "z.txt", "0 a\n1 b\n"), base=1)


@pytest.mark.parametrize(
    "data, expected",
    [
        (["walk", "run", "jump"], ["walk", "run", "jump"]),
        ({"walk": 0, "run": 1, "jump": 2}, ["walk", "run", "jump"]),
        ({"walk": "0", "run": "1", "jump": "2"}, ["walk", "run", "jump"]),  # SSv2 labels.json style
        ({"0": "walk", "1": "run", "2": "jump"}, ["walk", "run", "jump"]),
        ({"1": "walk", "2": "run", "3": "jump"}, ["walk", "run", "jump"]),
    ],
)
def test_json(tmp_path, data, expected):
    assert read_label_map(_write(tmp_path, "labels.json", json.dumps(data))) == expected


def test_pbtxt_small(tmp_path):
    text = 'item {\n  name: "walk"\n  id: 1\n}\nitem {\n  name: "jump"\n  display_name: "Jump!"\n  id: 3\n}\n'
    assert read_label_map(_write(tmp_path, "m.pbtxt", text)) == ["walk", "", "Jump!"]


# --- malformed input: ValueError naming the file and the line ------------------------------
@pytest.mark.parametrize(
    "name, text, match",
    [
        ("a.txt", "0 walk\n1 run\njump\n", r"a\.txt:3: expected '<id> <name>'"),
        ("b.txt", "0 walk\n0 run\n", r"b\.txt:2: duplicate id 0 \(already used on line 1\)"),
        ("c.txt", "walk\n\nrun\n", r"c\.txt:2: empty line inside"),
        ("d.txt", "", r"d\.txt: no labels found"),
        ("e.txt", "\n# only a comment\n", r"e\.txt: no labels found"),
        ("f.json", '{"walk": 0, "run": [1]}', r"f\.json: JSON object must map names to integer ids"),
        ("g.json", '{"walk": 0,', r"g\.json:1: invalid JSON"),
        ("h.json", '["walk", 3]', r"h\.json: JSON list item 1"),
        ("i.pbtxt", 'item {\n  name: "walk"\n}\n', r"i\.pbtxt:1: item without an integer 'id'"),
        ("j.csv", "name,id\nwalk,zero\n", r"j\.csv:2: expected 'name,id'"),
        ("k.txt", "c000 walk\nd001 run\n", r"k\.txt:2: id prefix 'd' differs"),
    ],
)
def test_malformed(tmp_path, name, text, match):
    with pytest.raises(ValueError, match=match):
        read_label_map(_write(tmp_path, name, text))


def test_missing_and_binary_and_kind(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_label_map(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    with pytest.raises(ValueError, match=r"bin\.txt: not a UTF-8 text file"):
        read_label_map(tmp_path / "bin.txt")
    p = _write(tmp_path, "digits.txt", "3 legged race\nwalk\n")
    with pytest.raises(ValueError, match=r"digits\.txt:2: .*kind='names'"):
        read_label_map(p)
    assert read_label_map(p, kind="names") == ["3 legged race", "walk"]
    with pytest.raises(ValueError, match="unknown label map kind"):
        read_label_map(p, kind="yaml")
