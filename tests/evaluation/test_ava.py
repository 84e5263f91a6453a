"""`vidlab eval-ava` against the official AVA evaluation's golden outputs and hand-made edge cases."""

import json
import math

import pytest

from vidlab.apps.cli import main
from vidlab.evaluation.ava import evaluate_files

from tests_paths import FIXTURES

# the golden cases shipped in ../shared (case_c_edge is described in its README;
# test_edge_cases rebuilds every behaviour it lists by hand)
CASES = sorted(p.name for p in (FIXTURES / "ava_eval").glob("case_*")) or ["case_a_small"]


def _run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES)
def test_official_golden_cases(fixtures_dir, case, capsys):
    folder = fixtures_dir / "ava_eval" / case
    argv = ["eval-ava", "--groundtruth", str(folder / "groundtruth.csv"), "--detections",
            str(folder / "detections.csv"), "--labelmap", str(folder / "labelmap.pbtxt"), "--json"]
    if (folder / "exclusions.csv").exists():
        argv += ["--exclusions", str(folder / "exclusions.csv")]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    got = json.loads(out)
    expected = json.loads((folder / "expected.json").read_text())
    assert abs(got["mAP"] - expected["mAP"]) <= 1e-12
    assert float.fromhex(expected["mAP_hex"]) == got["mAP"]  # bit for bit, in fact
    for row in expected["per_class_ap"]:
        ap = got["per_class"][str(row["id"])]
        if row["ap"] is None:
            assert ap is None
        else:
            assert abs(ap - row["ap"]) <= 1e-12, row


LABELMAP = """label {
  name: "one"
  label_id: 1
  label_type: PERSON_MOVEMENT
}
label {
  name: "two"
  label_id: 2
  label_type: PERSON_MOVEMENT
}
label {
  name: "walk"
  label_id: 3
  label_type: PERSON_MOVEMENT
}
label {
  name: "four"
  label_id: 4
  label_type: PERSON_MOVEMENT
}
label {
  name: "five"
  label_id: 5
  label_type: PERSON_MOVEMENT
}
label {
  name: "seven"
  label_id: 7
  label_type: PERSON_MOVEMENT
}
"""

# columns: video,timestamp,x1,y1,x2,y2,action,person
GT = """V1,0902,0.1,0.1,0.4,0.4,1,0
V1,0902,0.5,0.5,0.9,0.9,3,1
V1,0902,0.0,0.0,1.0,1.0,7,2
V1,0902,0.25,0.0,0.75,1.0,5,3
V1,0902,0.1,0.6,0.3,0.8,4,4
V1,0902,0.1,0.6,0.3,0.8,6,4
V1,903,0.0,0.0,0.5,0.5,5,5
V3,0902,0.1,0.1,0.4,0.4,1,0
"""

# columns: video,timestamp,x1,y1,x2,y2,action,score
DET = """V1,0902,0.1,0.1,0.4,0.4,1,0.900000
V1,0902,0.1,0.1,0.4,0.4,1,0.800000
V1,0902,0.3,0.3,0.3,0.6,1,0.950000
V1,0902,0.6,0.6,0.5,0.7,1,0.970000
V1,0902,0.5,0.5,0.9,0.9,3,0.700000
V1,0902,0.5,0.5,0.9,0.9,3,0.750000
V1,0902,0.0,0.0,1.0,1.0,7,0.600000
V1,0902,0.25,0.0,0.5,1.0,5,0.500000
V1,0902,0.2,0.2,0.3,0.3,2,0.400000
V1,0902,0.1,0.6,0.3,0.8,6,0.990000
V1,0903,0.0,0.0,0.5,0.249,5,0.450000
V2,0902,0.1,0.1,0.4,0.4,1,0.990000
V3,0902,0.1,0.1,0.4,0.4,1,0.300000
"""


def test_edge_cases(tmp_path):
    """Hand-computed APs for every behaviour the fixtures README lists.

    one   (1): GT only at V1 (V3,0902 excluded). Dets: 0.99 on a GT-less frame (FP), 0.97 inverted and
               0.95 zero-width (both dropped), 0.9 exact (TP), 0.8 duplicate (FP) -> ranks FP,TP,FP: AP 0.5
    two   (2): detections but no GT -> AP NaN (null), left out of the mean
    walk  (3): 0.70 comes first in the file and takes the GT; the identical 0.75 is an FP: AP 0.5
               (score-sorted matching would give 1.0)
    four  (4): GT, no detections -> AP 0.0
    five  (5): IoU exactly 0.5 at 0902 (TP, 0.5); IoU 0.498 at 903 == 0903 (FP, 0.45); 2 GT: AP 0.5
    seven (7): full-frame box, IoU 1: AP 1.0
    id 6 is not in the label map: dropped from GT and detections.
    mAP = mean(0.5, 0.5, 0.0, 0.5, 1.0) = 0.5
    """
    (tmp_path / "lm.pbtxt").write_text(LABELMAP)
    (tmp_path / "gt.csv").write_text(GT)
    (tmp_path / "det.csv").write_text(DET)
    (tmp_path / "ex.csv").write_text("V3,902\n")
    res = evaluate_files(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "lm.pbtxt", tmp_path / "ex.csv")
    assert res["per_class"] == {"1": 0.5, "2": None, "3": 0.5, "4": 0.0, "5": 0.5, "7": 1.0}
    assert res["mAP"] == 0.5
    # without the exclusion, V3's TP adds a second GT for class 1 and a low-scored TP
    res = evaluate_files(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "lm.pbtxt")
    # ranks: 0.99 FP, 0.9 TP, 0.8 FP, 0.3 TP (2 GT): precision envelope 0.5 at recall .5 and at recall 1
    assert res["per_class"]["1"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    assert math.isclose(res["mAP"], (0.5 + 0.5 + 0.0 + 0.5 + 1.0) / 5)


def test_bad_files_are_one_error_line(tmp_path, capsys):
    (tmp_path / "lm.pbtxt").write_text(LABELMAP)
    (tmp_path / "gt.csv").write_text("V1,0902,0.1,0.1\n")
    (tmp_path / "det.csv").write_text(DET)
    code, _, err = _run(["eval-ava", "--groundtruth", str(tmp_path / "gt.csv"), "--detections",
                         str(tmp_path / "det.csv"), "--labelmap", str(tmp_path / "lm.pbtxt")], capsys)
    assert code == 2 and err.count("\n") == 1 and "gt.csv:1: expected 7 or 8 columns" in err
    code, _, err = _run(["eval-ava", "--groundtruth", str(tmp_path / "nope.csv"), "--detections",
                         str(tmp_path / "det.csv"), "--labelmap", str(tmp_path / "lm.pbtxt")], capsys)
    assert code == 2 and "nope.csv: cannot read" in err
