"""`vidlab eval-ava` against the two official AVA evaluators: golden outputs, hand-computed cases, refusals.

pyslowfast: PySlowFast slowfast/utils/ava_eval_helper.py (+ ava_evaluation/), the fixtures' top-level numbers.
activitynet: ActivityNet Evaluation/get_ava_performance.py, the fixtures' `crosschecks["activitynet_..."]`.
"""

import json
import math
import random

import pytest

from helpers import run_cli
from tests_paths import FIXTURES, need_shared
from vidlab.errors import DataError
from vidlab.evaluation.ava import evaluate_files, read_labelmap

# the golden cases shipped in ../shared (case_c_edge is described in its README;
# test_edge_cases rebuilds every behaviour it lists by hand)
CASES = sorted(p.name for p in (FIXTURES / "ava_eval").glob("case_*")) or ["case_a_small"]


_run = run_cli


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


@pytest.mark.parametrize("case", CASES)
def test_activitynet_golden_crosschecks(fixtures_dir, case):
    """The fixtures' ActivityNet numbers: the scorer as is (no exclusions) and on csvs with the excluded rows removed."""
    folder = fixtures_dir / "ava_eval" / case
    files = [folder / "groundtruth.csv", folder / "detections.csv", folder / "labelmap.pbtxt"]
    checks = json.loads((folder / "expected.json").read_text())["crosschecks"]
    as_is = checks["activitynet_get_ava_performance_as_is"]
    res = evaluate_files(*files, protocol="activitynet")
    assert res["protocol"] == "activitynet"
    assert res["mAP"] == as_is["mAP"] and res["per_class"] == as_is["per_class_ap"]
    removed = checks.get("activitynet_get_ava_performance_with_excluded_rows_removed", as_is)
    res = evaluate_files(*files, folder / "exclusions.csv", protocol="activitynet")
    assert res["mAP"] == removed["mAP"] and res["per_class"] == removed["per_class_ap"]
    if "activitynet_get_ava_performance_with_excluded_rows_removed" in checks:  # case b: the protocols differ
        assert as_is["mAP"] != json.loads((folder / "expected.json").read_text())["mAP"]


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


# --- where the two protocols differ, computed by hand -------------------------------------------------------

BOTH_LABELMAP = """item {
  name: "one"
  id: 1
}
item {
  name: "two"
  id: 2
}
item {
  name: "walk"
  id: 3
}
"""

BOTH_GT = """A,0902,0.1,0.1,0.4,0.4,1,0
A,0902,0.5,0.5,0.9,0.9,3,1
B,0902,0.1,0.1,0.4,0.4,1,0
D,0902,0.1,0.1,0.4,0.4,9,0
"""

BOTH_DET = ("""A,0902,0.5,0.5,0.9,0.9,3,0.700000
A,0902,0.5,0.5,0.9,0.9,3,0.750000
A,0902,0.1,0.1,0.4,0.4,1,0.600000
C,0902,0.1,0.1,0.4,0.4,1,0.990000
D,0902,0.1,0.1,0.4,0.4,1,0.950000
""" + "B,0902,0.6,0.6,0.7,0.7,2,0.800000\n" * 50 + "B,0902,0.1,0.1,0.4,0.4,1,0.800000\n")


def _write(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return [tmp_path / n for n in ("gt.csv", "det.csv", "lm.pbtxt")]


def test_protocols_differ_by_hand(tmp_path):
    """Input both evaluators accept, scored differently.

    one (1), 2 GT (A, B). Detections: A 0.60 (TP), C 0.99 (C is not in the GT csv), D 0.95 (D is in the GT csv
      through a class-9 row, but has no class-1 GT), and B 0.80 (TP), B's 51st row after 50 class-2 rows at 0.80.
      pyslowfast: every row counts: ranks 0.99 FP, 0.95 FP, 0.80 TP, 0.60 TP: precision 0, 0, 1/3, 1/2 at recall
        0, 0, .5, 1; envelope 1/2 at .5 and at 1: AP = .5 * .5 + .5 * .5 = 0.5
      activitynet: C ignored; D counts; B's 51st row does not beat the heap's smallest score (0.80 is not > 0.80)
        and is dropped: ranks 0.95 FP, 0.60 TP: precision 0, 1/2 at recall 0, .5: AP = .5 * .5 = 0.25
    two (2): no GT: NaN in both.
    walk (3), 1 GT: the identical boxes 0.70 (listed first) and 0.75.
      pyslowfast matches in file order: 0.70 TP, 0.75 FP: ranks FP, TP: AP = 1 * 1/2 = 0.5
      activitynet matches in score order: 0.75 TP, 0.70 FP: AP = 1.0
    mAP: pyslowfast (0.5 + 0.5) / 2 = 0.5; activitynet (0.25 + 1.0) / 2 = 0.625
    """
    files = _write(tmp_path, **{"gt.csv": BOTH_GT, "det.csv": BOTH_DET, "lm.pbtxt": BOTH_LABELMAP})
    res = evaluate_files(*files, protocol="pyslowfast")
    assert res["per_class"] == {"1": 0.5, "2": None, "3": 0.5} and res["mAP"] == 0.5
    assert res["num_detection_frames"] == 4  # A, B, C, D
    res = evaluate_files(*files, protocol="activitynet")
    assert res["per_class"] == {"1": 0.25, "2": None, "3": 1.0} and res["mAP"] == 0.625
    assert res["num_detection_frames"] == 3  # C is not in the ground-truth csv

    # excluding D,0902: pyslowfast skips D's detection: ranks 0.99 FP, 0.80 TP, 0.60 TP: precision 0, 1/2, 2/3
    #   at recall 0, .5, 1: envelope 2/3: AP(one) = .5 * 2/3 + .5 * 2/3 = 2/3; mAP = (2/3 + 0.5) / 2 = 7/12
    # activitynet drops D's rows from both files, so D is no longer in the GT csv: ranks 0.60 TP only:
    #   AP(one) = .5 * 1 = 0.5; mAP = (0.5 + 1.0) / 2 = 0.75
    (tmp_path / "ex.csv").write_text("D,902\n")
    res = evaluate_files(*files, tmp_path / "ex.csv", protocol="pyslowfast")
    assert math.isclose(res["per_class"]["1"], 2 / 3) and math.isclose(res["mAP"], 7 / 12)
    res = evaluate_files(*files, tmp_path / "ex.csv", protocol="activitynet")
    assert res["per_class"] == {"1": 0.5, "2": None, "3": 1.0} and res["mAP"] == 0.75


def test_activitynet_only_rows(tmp_path, capsys):
    """Rows only the ActivityNet scorer reads: a 2-field frame row, a decimal timestamp, a 7-field detection.

    The case above plus: GT row `C,0902` (frame C present, no boxes), walk detections written `A,902.0`
    (the same frame as A,0902), and `A,0902,0.1,0.1,0.4,0.4,1` (no score field: 1.0).
    activitynet: frame A in score order: one 1.0 (TP), walk 0.75 (TP), walk 0.70 (FP), one 0.60 (FP, GT taken).
      one: C's 0.99 now counts: ranks 1.0 TP, 0.99 FP, 0.95 FP, 0.60 FP (B's row still capped):
      precision 1 at recall .5, then lower at the same recall: AP = .5 * 1 = 0.5; walk 1.0; mAP 0.75
    pyslowfast refuses the 2-field row (and the others).
    """
    det = BOTH_DET.replace("A,0902,0.5,0.5,0.9,0.9,3", "A,902.0,0.5,0.5,0.9,0.9,3") + "A,0902,0.1,0.1,0.4,0.4,1\n"
    files = _write(tmp_path, **{"gt.csv": BOTH_GT + "C,0902\n", "det.csv": det, "lm.pbtxt": BOTH_LABELMAP})
    res = evaluate_files(*files, protocol="activitynet")
    assert res["per_class"] == {"1": 0.5, "2": None, "3": 1.0} and res["mAP"] == 0.75
    with pytest.raises(DataError, match=r"gt\.csv:5: expected 7 or 8 columns, got 2"):
        evaluate_files(*files, protocol="pyslowfast")
    files = _write(tmp_path, **{"gt.csv": BOTH_GT})
    with pytest.raises(DataError, match=r"det\.csv:1: malformed row 'A,902\.0,"):
        evaluate_files(*files, protocol="pyslowfast")


def _dense_case(label_ids, seed=7, videos=6, timestamps=range(902, 907)):
    """1-3 persons per frame with 1-3 evaluated labels (+1 of the 20 others); every detected box (the GT boxes
    jittered, plus one false positive per frame) scored on every evaluated class, rows in class order, as a
    detector writes them: 60 rows per box, so the ActivityNet cap of 50 rows per frame bites."""
    rng = random.Random(seed)
    others = [i for i in range(1, 81) if i not in label_ids]
    gt, det = [], []
    for v in range(videos):
        for t in timestamps:
            boxes = []
            for p in range(rng.randint(1, 3)):
                x1, y1 = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
                box = (x1, y1, x1 + rng.uniform(0.2, 0.5), y1 + rng.uniform(0.3, 0.5))
                labels = rng.sample(label_ids, rng.randint(1, 3)) + rng.sample(others, 1)
                boxes.append((box, labels))
                gt += [f"vid{v:02d},{t:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},{a},{p}" for a in labels]
            dets = [(tuple(c + rng.uniform(-0.03, 0.03) for c in b), labels) for b, labels in boxes]
            dets.append(((0.6, 0.1, 0.95, 0.9), []))
            for b, labels in dets:
                for a in label_ids:
                    s = rng.random() * 0.6 + (0.4 if a in labels else 0.0)
                    det.append(f"vid{v:02d},{t:04d},{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},{b[3]:.3f},{a},{s:.6f}")
    return "\n".join(gt) + "\n", "\n".join(det) + "\n"


def test_dense_60_classes_real_labelmap(real_dir, tmp_path):
    """Dense detections with the real 60-class AVA label map (ActivityNet's pbtxt, in ../shared/data/real).

    Expected values: the two reference scripts themselves (PySlowFast @287ec00 ava_eval_helper + ava_evaluation,
    ActivityNet @82304fa get_ava_performance.run_evaluation) run on these very files; both agree with vidlab
    to the last bit.
    """
    labelmap = need_shared(real_dir / "ava" / "annotations" / "ava_action_list_v2.1_for_activitynet_2018.pbtxt")
    _, ids = read_labelmap(labelmap)
    assert len(ids) == 60
    gt, det = _dense_case(sorted(ids))
    (tmp_path / "gt.csv").write_text(gt)
    (tmp_path / "det.csv").write_text(det)
    args = (tmp_path / "gt.csv", tmp_path / "det.csv", labelmap)
    assert evaluate_files(*args, protocol="pyslowfast")["mAP"] == 0.7031190218629938
    assert evaluate_files(*args, protocol="activitynet")["mAP"] == 0.7350625284301755


# --- what the official code refuses ----------------------------------------------------------------------------

REFUSALS = {
    # label map: ObjectDetectionEvaluator refuses ids < 1 and an empty map; the line parser needs a quote and an int
    "labelmap id 0": ({"lm.pbtxt": BOTH_LABELMAP.replace("id: 2", "id: 0")}, r"lm\.pbtxt:7: class id 0"),
    "labelmap id -1": ({"lm.pbtxt": BOTH_LABELMAP.replace("id: 2", "id: -1")}, r"lm\.pbtxt:7: class id -1"),
    "labelmap empty": ({"lm.pbtxt": "item {\n  name: \"a\"\n}\n"}, r"lm\.pbtxt: no classes found"),
    "labelmap unquoted name": ({"lm.pbtxt": BOTH_LABELMAP.replace('"two"', "two")}, r"lm\.pbtxt:6: name line"),
    "labelmap id not int": ({"lm.pbtxt": BOTH_LABELMAP.replace("id: 2", "id:2")}, r"lm\.pbtxt:7: malformed id"),
    # a ground-truth box with x2 < x1 (y2 < y1) on a frame with a detection of its class: np_box_list.BoxList
    "gt x2 < x1": ({"gt.csv": BOTH_GT.replace("A,0902,0.1,0.1,0.4,0.4,1", "A,0902,0.4,0.1,0.1,0.4,1")},
                   r"gt\.csv:1: ground-truth box with x2 < x1 \(0\.1 < 0\.4\) on frame A,"),
    "gt y2 < y1": ({"gt.csv": BOTH_GT.replace("A,0902,0.5,0.5,0.9,0.9,3", "A,0902,0.5,0.9,0.9,0.5,3")},
                   r"gt\.csv:2: ground-truth box with y2 < y1"),
    # rows: csv.reader gives a blank line as an empty row, which has the wrong field count
    "gt blank line": ({"gt.csv": BOTH_GT + "\n"}, r"gt\.csv:5: blank line"),
    "gt 9 fields": ({"gt.csv": BOTH_GT + "A,0902,0.1,0.1,0.4,0.4,1,0,0\n"}, r"gt\.csv:5: expected .*got 9"),
    "det bad coordinate": ({"det.csv": "A,0902,0.1,x,0.4,0.4,1,0.5\n"}, r"det\.csv:1: malformed row"),
    "det bad action": ({"det.csv": "A,0902,0.1,0.1,0.4,0.4,1.0,0.5\n"}, r"det\.csv:1: malformed row"),
    "det bad score": ({"det.csv": BOTH_DET + "A,0902,0.1,0.1,0.4,0.4,1,high\n"}, r"det\.csv:57: malformed"),
}


@pytest.mark.parametrize("protocol", ["pyslowfast", "activitynet"])
@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals(tmp_path, name, protocol):
    changed, message = REFUSALS[name]
    files = _write(tmp_path, **{"gt.csv": BOTH_GT, "det.csv": BOTH_DET, "lm.pbtxt": BOTH_LABELMAP, **changed})
    with pytest.raises(DataError, match=message) as e:
        evaluate_files(*files, protocol=protocol)
    assert "\n" not in str(e.value)


def test_pyslowfast_only_refusals(tmp_path):
    files = _write(tmp_path, **{"gt.csv": BOTH_GT, "det.csv": BOTH_DET + "A,0902,0.1,0.1,0.4,0.4,1\n",
                                "lm.pbtxt": BOTH_LABELMAP})
    with pytest.raises(DataError, match=r"det\.csv:57: detection row without a score"):
        evaluate_files(*files)
    (tmp_path / "ex.csv").write_text("A,0902\n\n")
    _write(tmp_path, **{"det.csv": BOTH_DET})
    with pytest.raises(DataError, match=r"ex\.csv:2: blank line"):
        evaluate_files(*files, tmp_path / "ex.csv")
    (tmp_path / "ex.csv").write_text("A,0902,x\n")
    with pytest.raises(DataError, match=r"ex\.csv:1: expected 2 columns 'video_id,timestamp', got 3"):
        evaluate_files(*files, tmp_path / "ex.csv")
    # the ActivityNet scorer reads field 8 of the ground truth too (as a score), PySlowFast never does.
    # pyslowfast: a third class-1 GT (a copy of A's): ranks 0.99 FP, 0.95 FP, 0.80 TP, 0.60 TP at recall
    #   0, 0, 1/3, 2/3, precision envelope 1/2: AP(one) = 2 * 1/3 * 1/2 = 1/3; mAP = (1/3 + 1/2) / 2 = 5/12
    _write(tmp_path, **{"gt.csv": BOTH_GT + "A,0902,0.1,0.1,0.4,0.4,1,p7\n"})
    assert math.isclose(evaluate_files(*files)["mAP"], 5 / 12)
    with pytest.raises(DataError, match=r"gt\.csv:5: malformed row"):
        evaluate_files(*files, protocol="activitynet")


def test_inverted_boxes_the_evaluator_never_checks(tmp_path):
    """As the official code: detection boxes with x2 <= x1 are dropped, and an inverted ground-truth box is only
    refused where matching compares it (a valid detection of its class on its frame)."""
    # B's class-1 GT inverted, but B's only class-1 detection is inverted too (dropped): B counts 1 GT, no TP.
    gt = BOTH_GT.replace("B,0902,0.1,0.1,0.4,0.4,1", "B,0902,0.4,0.1,0.1,0.4,1")
    det = BOTH_DET.replace("B,0902,0.1,0.1,0.4,0.4,1", "B,0902,0.4,0.1,0.1,0.4,1")
    files = _write(tmp_path, **{"gt.csv": gt, "det.csv": det, "lm.pbtxt": BOTH_LABELMAP})
    # pyslowfast, one: ranks 0.99 FP, 0.95 FP, 0.60 TP (2 GT): AP = .5 * 1/3 = 1/6
    res = evaluate_files(*files)
    assert math.isclose(res["per_class"]["1"], 1 / 6) and res["per_class"]["3"] == 0.5
    # excluded, the frame is never looked at
    (tmp_path / "ex.csv").write_text("B,0902\n")
    _write(tmp_path, **{"det.csv": BOTH_DET})
    assert evaluate_files(*files, tmp_path / "ex.csv")["per_class"]["3"] == 0.5
    with pytest.raises(DataError, match=r"gt\.csv:3: ground-truth box with x2 < x1"):
        evaluate_files(*files)


def test_cli_protocols_and_one_line_errors(tmp_path, capsys):
    files = _write(tmp_path, **{"gt.csv": BOTH_GT, "det.csv": BOTH_DET, "lm.pbtxt": BOTH_LABELMAP})
    argv = ["eval-ava", "--groundtruth", str(files[0]), "--detections", str(files[1]), "--labelmap", str(files[2])]
    code, out, err = run_cli(argv + ["--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["mAP"] == 0.5 and json.loads(out)["protocol"] == "pyslowfast"
    code, out, err = run_cli(argv + ["--protocol", "activitynet", "--json"], capsys)
    assert code == 0 and json.loads(out)["mAP"] == 0.625 and json.loads(out)["protocol"] == "activitynet"
    code, out, _ = run_cli(argv + ["--protocol", "activitynet"], capsys)
    assert code == 0 and "mAP@0.5 0.6250" in out and "activitynet protocol" in out
    code, _, err = run_cli(argv + ["--protocol", "tf"], capsys)
    assert code == 2 and err.count("\n") == 1 and "unknown AVA protocol 'tf'" in err

    (tmp_path / "lm.pbtxt").write_text(BOTH_LABELMAP.replace("id: 1", "id: 0"))
    for protocol in ("pyslowfast", "activitynet"):
        code, out, err = run_cli(argv + ["--protocol", protocol], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert err.startswith("vidlab: error: ") and f"{files[2]}:3: class id 0" in err
    (tmp_path / "lm.pbtxt").write_text(BOTH_LABELMAP)
    (tmp_path / "gt.csv").write_text(BOTH_GT.replace("A,0902,0.1,0.1,0.4,0.4,1", "A,0902,0.4,0.1,0.1,0.4,1"))
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"vidlab: error: {files[0]}:1: ground-truth box with x2 < x1")
