"""`vidlab.localize.metrics` / `vidlab eval-tal` against the official ActivityNet detection evaluator.

data/anet_golden.json: inputs and the official outputs (per-class AP, mAP per tIoU) of ActivityNet
Evaluation/eval_detection.py @82304fa, written by scripts/make_tal_golden.py (hand-made cases for each
rule, 30 seeded random ones, two dense ones). Then cases computed by hand, a plain-loop re-statement of
the rules on a larger random set, THUMOS'14 files, refusals and the command line.
"""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from vidlab.errors import DataError
from vidlab.localize.metrics import (
    ACTIVITYNET_TIOU,
    THUMOS14_TIOU,
    average_precision_detection,
    evaluate_detection,
    interpolated_ap,
    load_predictions,
    parse_tiou,
    read_thumos14,
    segment_iou,
)

GOLDEN = Path(__file__).parent / "data" / "anet_golden.json"
DOC = json.loads(GOLDEN.read_text())
CASES = {c["name"]: c for c in DOC["cases"]}
PREFIX = "vidlab: error: "


def test_golden_file():
    assert DOC["source"]["commit"] == "82304fa9f4a7219421df13dae6347a445c4cf5bc"
    assert GOLDEN.stat().st_size < 300_000
    assert sum(n.startswith("random_") for n in CASES) >= 30
    # the machine-dependent tie order of numpy's default argsort shows up in some tie cases
    assert not all(c["default_sort_agrees"] for c in CASES.values())


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "expected" in c])
def test_official_golden(name):
    case = CASES[name]
    exp = case["expected"]
    res = evaluate_detection(case["groundtruth"], case["predictions"], tiou_thresholds=case["tiou"],
                             subset=case["subset"], blocked=case["blocked"])
    assert list(res.classes) == exp["classes"]  # also the official class order (first appearance)
    assert res.tiou_thresholds == tuple(case["tiou"])
    np.testing.assert_allclose(res.ap, np.array(exp["ap"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.mAP, exp["mAP"], rtol=0, atol=1e-9)
    assert abs(res.average_mAP - exp["average_mAP"]) <= 1e-9


def test_official_error_case_unknown_label():
    """The official code stops with KeyError on a prediction label that is no class of the subset."""
    case = CASES["class_without_gt_predicted"]
    assert case["expected_error"] == "KeyError"
    with pytest.raises(DataError, match=r"1 prediction\(s\) have a label that is not a class .*'Dance'"):
        evaluate_detection(case["groundtruth"], case["predictions"], tiou_thresholds=case["tiou"])
    res = evaluate_detection(case["groundtruth"], case["predictions"], tiou_thresholds=case["tiou"],
                             unknown_labels="ignore")
    assert res.classes == ("Run",) and res.average_mAP == 1.0 and res.num_prediction_rows == 1
    assert any("'Dance'" in w for w in res.warnings)


@pytest.mark.parametrize("name", ["duplicates", "zero_length", "blocked", "exact_thresholds_thumos", "random_07"])
def test_cli_json_equals_official(name, tmp_path, capsys):
    case = CASES[name]
    (tmp_path / "gt.json").write_text(json.dumps(case["groundtruth"]))
    (tmp_path / "pred.json").write_text(json.dumps(case["predictions"]))
    argv = ["eval-tal", "--groundtruth", str(tmp_path / "gt.json"), "--predictions", str(tmp_path / "pred.json"),
            "--subset", case["subset"], "--tiou", ",".join(repr(t) for t in case["tiou"]), "--json"]
    if case["blocked"]:
        (tmp_path / "blocked.txt").write_text("# withdrawn\n" + "\n".join(case["blocked"]) + "\n")
        argv += ["--blocked", str(tmp_path / "blocked.txt")]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    got = json.loads(out)
    exp = case["expected"]
    assert list(got["per_class"]) == exp["classes"]
    for i, cls in enumerate(exp["classes"]):
        np.testing.assert_allclose(got["per_class"][cls]["ap"], [row[i] for row in exp["ap"]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["mAP"], exp["mAP"], rtol=0, atol=1e-9)
    assert abs(got["average_mAP"] - exp["average_mAP"]) <= 1e-9


# --------------------------------------------------------------------------
# computed by hand


def gt_file(*videos):
    """{"database": ...} from (video, subset, [(start, end, label), ...])."""
    return {"database": {v: {"subset": s, "annotations": [{"segment": [a, b], "label": lab} for a, b, lab in anns]}
                         for v, s, anns in videos}}


def pred_file(**videos):
    """{"results": ...} from video=[(start, end, label, score), ...]."""
    return {"results": {v: [{"segment": [a, b], "label": lab, "score": sc} for a, b, lab, sc in dets]
                        for v, dets in videos.items()}}


def test_segment_iou():
    iou = segment_iou([0, 10], [[5, 15], [10, 20], [0, 10], [2, 4], [-5, 25]])
    np.testing.assert_allclose(iou, [5 / 15, 0, 1, 2 / 10, 10 / 30])  # touching segments overlap by 0
    assert segment_iou([[0, 10], [0, 4]], [[0, 5], [2, 8], [6, 7]]).shape == (2, 3)
    assert segment_iou([0, 4], [0, 10]) == 0.4
    # two zero-length segments: 0/0, NaN (the official value); zero length against a real segment: 0
    assert math.isnan(segment_iou([7, 7], [5, 5])) and math.isnan(segment_iou([5, 5], [5, 5]))
    assert segment_iou([5, 5], [0, 10]) == 0.0


def test_interpolated_ap_by_hand():
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: made monotone from the right 1, 2/3, 2/3;
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert interpolated_ap([1, 0.5, 2 / 3], [0.5, 0.5, 1.0]) == pytest.approx(5 / 6, abs=1e-15)
    # recall never reaches 1: the missing part counts 0
    assert interpolated_ap([1.0, 0.5], [0.25, 0.25]) == 0.25
    np.testing.assert_allclose(interpolated_ap([[1, 0.5, 2 / 3], [0, 0.5, 1 / 3]], [[0.5, 0.5, 1], [0, 0.5, 0.5]]),
                               [5 / 6, 0.25])


def test_hand_case_greedy_matching():
    """GT [0,10] and [20,30]. Ranked: p1 [0,10] .9 (tIoU 1 with g1), p2 [0,9] .8 (0.9 with the taken g1, 0 with
    g2), p3 [21,29] .7 (0.8 with g2), p4 [50,60] .6 (nothing).

    tIoU 0.5: TP FP TP FP; precision 1, 1/2, 2/3, 1/2 at recall 1/2, 1/2, 1, 1 -> AP = 1/2 + 1/2 * 2/3 = 5/6.
    tIoU 0.85: TP FP FP FP (p3's 0.8 is too low) -> precision 1 at recall 1/2, then no more recall -> AP = 1/2.
    """
    gt = gt_file(("a", "validation", [(0, 10, "X"), (20, 30, "X")]))
    pred = pred_file(a=[(0, 9, "X", 0.8), (50, 60, "X", 0.6), (0, 10, "X", 0.9), (21, 29, "X", 0.7)])
    res = evaluate_detection(gt, pred, tiou_thresholds=[0.5, 0.85])
    np.testing.assert_allclose(res.ap[:, 0], [5 / 6, 0.5], atol=1e-15)
    np.testing.assert_allclose(res.mAP, [5 / 6, 0.5], atol=1e-15)
    assert res.average_mAP == pytest.approx((5 / 6 + 0.5) / 2, abs=1e-15)


def test_hand_case_duplicate_falls_to_next_instance():
    """GT g1 [0,10], g2 [1,11]; two copies of [0,10] (.9, .8). The first takes g1 (tIoU 1); the second finds g1
    taken and tries g2 (tIoU 9/11 = 0.818): TP at 0.5 (AP 1), FP at 0.9 (precision 1 at recall 1/2: AP 1/2)."""
    gt = gt_file(("a", "validation", [(0, 10, "X"), (1, 11, "X")]))
    pred = pred_file(a=[(0, 10, "X", 0.9), (0, 10, "X", 0.8)])
    assert evaluate_detection(gt, pred, tiou_thresholds=[0.5, 0.9]).ap[:, 0].tolist() == [1.0, 0.5]


def test_hand_case_score_ties_later_first():
    """Equal scores: the later entry of the file ranks first. One GT [0,10]; a FP [50,60] and a TP [0,10] with
    the same score. TP first: precision 1 at recall 1, AP 1. FP first (the files swapped): AP 1/2."""
    gt = gt_file(("a", "validation", [(0, 10, "X")]))
    fp_then_tp = pred_file(a=[(50, 60, "X", 0.5), (0, 10, "X", 0.5)])
    tp_then_fp = pred_file(a=[(0, 10, "X", 0.5), (50, 60, "X", 0.5)])
    assert evaluate_detection(gt, fp_then_tp, tiou_thresholds=[0.5]).ap[0, 0] == 1.0
    assert evaluate_detection(gt, tp_then_fp, tiou_thresholds=[0.5]).ap[0, 0] == 0.5


def test_hand_case_unknown_video_and_class_without_predictions():
    """'v_a' is not 'a': its prediction (.9) is a FP; the one on 'a' (.8) a TP. Precision 0, 1/2 at recall 0, 1:
    AP(X) = 1/2. Class Y has ground truth and no prediction: AP 0. mAP = 1/4."""
    gt = gt_file(("a", "validation", [(0, 10, "X"), (20, 30, "Y")]))
    pred = pred_file(v_a=[(0, 10, "X", 0.9)], a=[(0, 10, "X", 0.8)])
    res = evaluate_detection(gt, pred, tiou_thresholds=[0.5])
    assert res.classes == ("X", "Y") and res.ap[0].tolist() == [0.5, 0.0] and res.mAP.tolist() == [0.25]
    assert res.num_predictions.tolist() == [2, 0] and res.num_groundtruth.tolist() == [1, 1]
    joined = " | ".join(res.warnings)
    assert "1 prediction(s) on 1 video(s) without ground truth" in joined and "'v_' prefix" in joined
    assert "1 of 2 classes have no predictions (AP 0): 'Y'" in joined


def test_hand_case_subset_and_zero_length():
    """Only 'validation' videos are ground truth; a perfect prediction on a 'training' video is a FP.
    A zero-length prediction [7,7] on a video whose only GT is zero-length [5,5] has tIoU NaN and matches
    (the official quirk). Ranked: t (.9, FP), a (.8, TP): AP = 1/2 as above."""
    gt = gt_file(("a", "validation", [(5, 5, "X")]), ("t", "training", [(0, 10, "X")]))
    pred = pred_file(t=[(0, 10, "X", 0.9)], a=[(7, 7, "X", 0.8)])
    res = evaluate_detection(gt, pred, tiou_thresholds=ACTIVITYNET_TIOU)
    assert res.ap[:, 0].tolist() == [0.5] * 10 and res.num_videos == 1
    assert "under another subset" in res.warnings[0]
    res = evaluate_detection(gt, pred, subset="training", tiou_thresholds=[0.5])
    assert res.ap[0, 0] == 1.0  # the prediction on 'a' is now the FP, ranked after the TP


def test_single_class_function():
    thr = [0.3, 0.7]
    ap = average_precision_detection(["a", "a"], [[0, 10], [20, 30]], ["a", "b", "a"], [[0, 6], [0, 10], [20, 30]],
                                     [0.9, 0.8, 0.7], tiou_thresholds=thr)
    # 0.3: TP FP TP -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> 5/6. 0.7: FP FP TP -> 1/3 at recall 1/2 -> 1/6
    np.testing.assert_allclose(ap, [5 / 6, 1 / 6], atol=1e-15)
    assert average_precision_detection(["a"], [[0, 1]], [], np.zeros((0, 2)), [], thr).tolist() == [0.0, 0.0]
    assert np.isnan(average_precision_detection([], np.zeros((0, 2)), ["a"], [[0, 1]], [0.5], thr)).all()


def test_thresholds():
    assert ACTIVITYNET_TIOU == tuple(np.linspace(0.5, 0.95, 10)) and ACTIVITYNET_TIOU[8] == 0.8999999999999999
    assert THUMOS14_TIOU == tuple(np.linspace(0.3, 0.7, 5)) and THUMOS14_TIOU[1] == 0.39999999999999997
    assert parse_tiou("0.5:0.95:0.05") == ACTIVITYNET_TIOU and parse_tiou("0.3:0.7:0.1") == THUMOS14_TIOU
    assert parse_tiou("thumos14") == THUMOS14_TIOU and parse_tiou("0.3, 0.5") == (0.3, 0.5)
    assert parse_tiou(0.5) == (0.5,) and parse_tiou("1") == (1.0,)
    for bad, msg in [("0.5:0.9:0.3", "not reached"), ("x", "expected a preset"), ("0.7:0.3:0.1", "start <= stop"),
                     ("1.5", r"\[0, 1\]"), ("nan", r"\[0, 1\]"), ([], "no tIoU")]:
        with pytest.raises(DataError, match=msg):
            parse_tiou(bad)


# --------------------------------------------------------------------------
# a larger random set against a plain loop that states the rules one prediction at a time


def iou_py(p, g):
    inter = max(0.0, min(p[1], g[1]) - max(p[0], g[0]))
    union = (g[1] - g[0]) + (p[1] - p[0]) - inter
    return inter / union if union else math.nan


def loop_reference(gt: dict, pred: dict, thresholds, subset="validation"):
    """The rules of the module docstring as a per-prediction loop (no vectorisation, no buckets)."""
    rows = [(v, a["label"], a["segment"]) for v, x in gt["database"].items() if x["subset"] == subset
            for a in x["annotations"]]
    classes = list(dict.fromkeys(lab for _, lab, _ in rows))
    preds = [(v, d["label"], d["segment"], d["score"]) for v, ds in pred["results"].items() for d in ds]
    ap = np.zeros((len(thresholds), len(classes)))
    for ci, cls in enumerate(classes):
        g = [(v, s) for v, lab, s in rows if lab == cls]
        p = [(i, v, s, sc) for i, (v, lab, s, sc) in enumerate(preds) if lab == cls]
        p.sort(key=lambda r: (-r[3], -r[0]))  # descending score, ties later-first
        tries = []  # per prediction: (gt index, tIoU) in the order they are tried
        for _, v, s, _ in p:
            cand = [(j, iou_py(s, gs)) for j, (gv, gs) in enumerate(g) if gv == v]
            cand.sort(key=lambda c: (0 if math.isnan(c[1]) else 1, -(0 if math.isnan(c[1]) else c[1]), -c[0]))
            tries.append(cand)
        for ti, thr in enumerate(thresholds):
            taken, tp = set(), []
            for cand in tries:
                hit = next((j for j, iou in cand if j not in taken and (math.isnan(iou) or iou >= thr)), None)
                if hit is not None:
                    taken.add(hit)
                tp.append(hit is not None)
            if p:
                tp_c = np.cumsum(tp)
                ap[ti, ci] = interpolated_ap(tp_c / np.arange(1, len(p) + 1), tp_c / len(g))
    return classes, ap


def test_vectorised_equals_the_plain_loop_on_a_larger_set():
    rng = random.Random(7)
    db, results = {}, {}
    for v in range(120):
        cls = [f"k{rng.randrange(6)}" for _ in range(2)]
        n = rng.choice([0, 1, 2, 3, 5, 9, 17, 40]) if v % 10 else 70  # groups of 1 up to 70 segments (bucket 128)
        anns = []
        for _ in range(n):
            s = round(rng.uniform(0, 300), 1)
            anns.append((s, round(s + rng.choice([0.0, rng.uniform(1, 20)]), 1), rng.choice(cls)))
        db[f"v{v}"] = ("validation" if rng.random() < 0.85 else "training", anns)
    for v, (_, anns) in db.items():
        dets = [(min(a, b), max(a, b), lab, round(rng.random(), 2))
                for s, e, lab in anns for a, b in [(s + rng.gauss(0, 1), e + rng.gauss(0, 1))] if rng.random() < 0.8]
        dets += [(s, s + rng.uniform(0, 30), f"k{rng.randrange(6)}", round(rng.random(), 2))
                 for s in (rng.uniform(0, 300) for _ in range(rng.randrange(12)))]
        results[v] = dets
    gt = gt_file(*((v, s, anns) for v, (s, anns) in db.items()))
    pred = pred_file(**results)
    classes, ap = loop_reference(gt, pred, THUMOS14_TIOU)
    res = evaluate_detection(gt, pred, tiou_thresholds=THUMOS14_TIOU)
    assert list(res.classes) == classes and sum(map(len, results.values())) > 1000
    np.testing.assert_allclose(res.ap, ap, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------
# THUMOS'14 annotation files


def write_thumos(root: Path) -> Path:
    ann = root / "annotation"
    ann.mkdir(parents=True)
    (ann / "Diving_test.txt").write_text("video_test_0000004 1.1 2.2\nvideo_test_0000004 10 20\n\n")
    (ann / "BaseballPitch_test.txt").write_text("video_test_0000007  3.0  4.5 \nvideo_test_0000009 0 1\n")
    (ann / "Ambiguous_test.txt").write_text("video_test_0000004 30 31\n")
    (ann / "Diving_val.txt").write_text("video_validation_0000001 5 6\n")
    (ann / "detclasslist.txt").write_text("7 BaseballPitch\n26 Diving\n")  # not an annotation file: ignored
    return ann


def test_read_thumos14(tmp_path):
    db = read_thumos14(write_thumos(tmp_path))["database"]
    assert list(db) == ["video_test_0000004", "video_test_0000007", "video_test_0000009", "video_validation_0000001"]
    assert db["video_test_0000004"] == {"subset": "test", "annotations": [{"segment": [1.1, 2.2], "label": "Diving"},
                                                                         {"segment": [10.0, 20.0], "label": "Diving"}]}
    assert db["video_validation_0000001"]["subset"] == "validation"
    assert db["video_test_0000007"]["annotations"] == [{"segment": [3.0, 4.5], "label": "BaseballPitch"}]


@pytest.mark.parametrize("text, msg", [("video_test_1 1.0\n", r"Diving_test.txt:1: expected 'video start end'"),
                                       ("video_test_1 1 2\nvideo_test_1 a b\n", r":2: start and end must be numbers"),
                                       ("video_test_1 5 2\n", r":1: bad segment \[5, 2\]")])
def test_thumos14_refusals(tmp_path, text, msg):
    (tmp_path / "Diving_test.txt").write_text(text)
    with pytest.raises(DataError, match=msg):
        read_thumos14(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no THUMOS'14 annotation files"):
        read_thumos14(tmp_path / "empty")


def test_cli_thumos_folder(tmp_path, capsys):
    """A folder is THUMOS'14: tIoU 0.3:0.7:0.1 and subset test by default.
    Diving: [1.1,2.2] .9 TP, [12,20] .8 (tIoU 0.8) TP -> AP 1; BaseballPitch: [0,1] TP, nothing on _0007 -> AP 1/2
    at every threshold. mAP 0.75."""
    ann = write_thumos(tmp_path)
    pred = pred_file(video_test_0000004=[(1.1, 2.2, "Diving", 0.9), (12, 20, "Diving", 0.8)],
                     video_test_0000009=[(0, 1, "BaseballPitch", 0.7)])
    (tmp_path / "p.json").write_text(json.dumps(pred))
    code, out, err = run_cli(["eval-tal", "--groundtruth", str(ann), "--predictions", str(tmp_path / "p.json"),
                              "--json"], capsys)
    assert code == 0 and not err
    got = json.loads(out)
    assert got["preset"] == "thumos14" and got["subset"] == "test" and got["tiou_thresholds"] == list(THUMOS14_TIOU)
    assert got["per_class"]["Diving"]["ap"] == [1.0] * 5 and got["per_class"]["BaseballPitch"]["ap"] == [0.5] * 5
    assert got["mAP"] == [0.75] * 5 and got["average_mAP"] == 0.75
    assert got["num_videos"] == 3 and got["num_groundtruth"] == 4 and got["num_predictions"] == 3
    code, out, err = run_cli(["eval-tal", "--groundtruth", str(ann), "--predictions", str(tmp_path / "p.json")],
                             capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("thumos14 rules, subset test: 3 videos, 4 ground-truth segments, "
                                             "2 classes, 3 predictions")
    assert lines[1:] == ["tIoU   mAP", "0.30   0.7500", "0.40   0.7500", "0.50   0.7500", "0.60   0.7500",
                         "0.70   0.7500", "avg    0.7500"]


# --------------------------------------------------------------------------
# refusals

GOOD_GT = gt_file(("a", "validation", [(0, 10, "X")]))
GOOD_PRED = pred_file(a=[(0, 10, "X", 0.9)])


def bad_pred(entry):
    return {"results": {"a": [entry]}}


@pytest.mark.parametrize("gt, pred, msg", [
    (GOOD_GT, bad_pred({"segment": [5, 3], "label": "X", "score": 1}), r"results\['a'\]\[0\]: segment end 3 < start 5"),
    (GOOD_GT, bad_pred({"segment": [0, 1], "label": "X", "score": "0.9"}), r"score must be a finite number, got \"0.9\""),
    (GOOD_GT, bad_pred({"segment": [0, 1], "label": "X", "score": True}), "score must be a finite number, got true"),
    (GOOD_GT, bad_pred({"segment": [0, 1], "label": "X", "score": float("nan")}), "score must be a finite number"),
    (GOOD_GT, bad_pred({"segment": [0, 1], "label": "X"}), r"\[0\]: no 'score'"),
    (GOOD_GT, bad_pred({"segment": [0, 1, 2], "label": "X", "score": 1}), r"segment must be \[start, end\]"),
    (GOOD_GT, bad_pred({"segment": ["0", "1"], "label": "X", "score": 1}), "two numbers"),
    (GOOD_GT, bad_pred({"segment": [0, float("inf")], "label": "X", "score": 1}), "is not finite"),
    (GOOD_GT, bad_pred({"segment": [0, 1], "label": 3, "score": 1}), "label must be a string"),
    (GOOD_GT, bad_pred({"label": "X", "score": 1}), "no 'segment'"),
    (GOOD_GT, bad_pred([0, 1]), "expected an object"),
    (GOOD_GT, {"result": {}}, "no 'results' object"),
    (GOOD_GT, {"results": []}, "'results' must be an object keyed by video id"),
    (GOOD_GT, {"results": {"a": {}}}, r"results\['a'\] must be a list"),
    (GOOD_GT, bad_pred({"segment": [0, 1], "label": "Y", "score": 1}), "not a class of the ground truth's subset"),
    ({"db": {}}, GOOD_PRED, "no 'database' object"),
    (gt_file(("a", "validation", [(9, 1, "X")])), GOOD_PRED, r"database\['a'\].annotations\[0\]: segment end 1 < start 9"),
    (gt_file(("a", "training", [(0, 1, "X")])), GOOD_PRED, r"no video of subset 'validation' \(the file has: 'training'\)"),
    (gt_file(("a", "validation", [])), GOOD_PRED, "have no annotations"),
    ({"database": {"a": {"annotations": []}}}, GOOD_PRED, "has no 'subset'"),
    ({"database": {"a": {"subset": "validation"}}}, GOOD_PRED, "'annotations' must be a list, got nothing"),
])
def test_refusals(gt, pred, msg):
    with pytest.raises(DataError, match=msg):
        evaluate_detection(gt, pred)


def test_entries_outside_the_subset_are_not_read():
    gt = gt_file(("a", "validation", [(0, 10, "X")]), ("t", "training", [(9, 1, "X")]))
    assert evaluate_detection(gt, GOOD_PRED).average_mAP == 1.0


def test_blocked_and_empty_predictions():
    gt = gt_file(("a", "validation", [(0, 10, "X")]), ("b", "validation", [(0, 10, "X")]))
    pred = pred_file(a=[(0, 10, "X", 0.5)], b=[(50, 60, "X", 0.9)])
    res = evaluate_detection(gt, pred, tiou_thresholds=[0.5], blocked=["b"])
    assert res.average_mAP == 1.0 and res.num_videos == 1 and res.num_prediction_rows == 1
    # the same on parsed Predictions (blocked applied to them too)
    assert evaluate_detection(gt, load_predictions(pred), tiou_thresholds=[0.5], blocked=["b"]).average_mAP == 1.0
    res = evaluate_detection(gt, {"results": {}}, tiou_thresholds=[0.5])
    assert res.ap.tolist() == [[0.0]] and "have no predictions" in res.warnings[0]


# --------------------------------------------------------------------------
# the command line's error contract


@pytest.fixture
def files(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps(GOOD_GT))
    (tmp_path / "pred.json").write_text(json.dumps(GOOD_PRED))
    (tmp_path / "bad.json").write_text('{"results": {"a": [{"segment": [0, 1], "label": "X", "score": "high"}]}}')
    (tmp_path / "notjson.json").write_text("{results: ")
    (tmp_path / "unknown.json").write_text(json.dumps(pred_file(a=[(0, 10, "X", 0.9), (0, 10, "Z", 0.8)])))
    return tmp_path


@pytest.mark.parametrize("args, msg", [
    (["--predictions", "bad.json"], "bad.json: results['a'][0]: score must be a finite number, got \"high\""),
    (["--predictions", "notjson.json"], "notjson.json: the predictions is not valid JSON"),
    (["--predictions", "missing.json"], "missing.json: cannot read the predictions (No such file or directory)"),
    (["--predictions", "gt.json"], "gt.json: not an ActivityNet predictions file: no 'results' object"),
    (["--predictions", "unknown.json"], "unknown.json: 1 prediction(s) have a label that is not a class"),
    (["--predictions", "pred.json", "--subset", "test"], "no video of subset 'test' (the file has: 'validation')"),
    (["--predictions", "pred.json", "--tiou", "0.5:2:0.5"], "tIoU thresholds must lie in [0, 1], got 1.5"),
    (["--predictions", "pred.json", "--preset", "coco"], "Invalid value for '--preset': must be activitynet or "),
])
def test_cli_bad_input_is_one_line(files, args, msg, capsys):
    argv = ["eval-tal", "--groundtruth", str(files / "gt.json")]
    argv += [str(files / a) if a.endswith(".json") else a for a in args]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith(PREFIX) and err.count("\n") == 1 and msg in err and "Traceback" not in err


def test_cli_ignore_unknown_labels_and_notes(files, capsys):
    code, out, err = run_cli(["eval-tal", "--groundtruth", str(files / "gt.json"), "--predictions",
                              str(files / "unknown.json"), "--ignore-unknown-labels", "--tiou", "0.5", "--json"],
                             capsys)
    assert code == 0 and json.loads(out)["mAP"] == [1.0]
    assert err == "note: 1 prediction(s) with labels that are not ground-truth classes were ignored: 'Z'\n"
