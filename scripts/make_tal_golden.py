"""Write tests/localize/data/anet_golden.json: the official ActivityNet detection evaluator's numbers.

    .venv/bin/python scripts/make_tal_golden.py MIRROR [--out tests/localize/data/anet_golden.json]

MIRROR is the activitynet/ActivityNet repository: a checkout, or a bare git directory (then the
files are read with ``git show HEAD:Evaluation/...``). Needs numpy, pandas and joblib (the official
code's imports); not run by the tests, which only read the JSON it writes.

The official ``Evaluation/eval_detection.py`` and ``Evaluation/utils.py`` are Python 2. They are
copied into a temporary folder with the smallest edits that let Python 3 run them, each asserted to
apply exactly where expected (``PATCHES``): ``print`` statements, ``iteritems``, ``xrange``,
``urllib2``, and ``np.float`` (gone from numpy). Two more changes do not touch the scoring:
joblib's ``Parallel`` is replaced by a sequential loop (it would start one process per class), and
``get_blocked_videos`` (a request to the long-gone challenge server) returns the case's list.

Ties: the official ranking is ``argsort()[::-1]`` with numpy's default sort, whose order among equal
values depends on the machine (on AVX-512 CPUs numpy 2 returns five equal scores in no fixed order).
The golden numbers are made with ``argsort(kind="stable")`` there (the tie rule vidlab documents);
each case also records whether the unmodified sort gave the same numbers on this machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FILES = ("Evaluation/eval_detection.py", "Evaluation/utils.py")

# (file, pattern, replacement, number of replacements expected); patterns are regular expressions
PATCHES = [
    ("utils.py", r"^import urllib2$", "import urllib.request as urllib2", 1),
    ("utils.py", r"\bxrange\(", "range(", 1),
    ("eval_detection.py", r"^import urllib2\n", "", 1),
    ("eval_detection.py", r"\.iteritems\(\)", ".items()", 2),
    ("eval_detection.py", r"^(\s*)print (.+)$", r"\1print(\2)", 7),
    ("eval_detection.py", r"np\.float\)", "float)", 2),
]
STABLE = ("eval_detection.py", r"\.argsort\(\)", '.argsort(kind="stable")', 2)

ANET = np.linspace(0.5, 0.95, 10).tolist()
THUMOS = np.linspace(0.3, 0.7, 5).tolist()


def read_sources(mirror: Path) -> tuple[dict[str, str], str]:
    """The two files' text and the commit they come from."""
    if (mirror / "Evaluation").is_dir():
        texts = {Path(f).name: (mirror / f).read_text() for f in FILES}
        try:
            commit = subprocess.run(["git", "-C", str(mirror), "rev-parse", "HEAD"], capture_output=True, text=True,
                                    check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
        return texts, commit
    git = ["git", f"--git-dir={mirror}"]
    texts = {Path(f).name: subprocess.run(git + ["show", f"HEAD:{f}"], capture_output=True, text=True,
                                          check=True).stdout for f in FILES}
    commit = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return texts, commit


def patched(texts: dict[str, str], stable: bool) -> dict[str, str]:
    out = dict(texts)
    for name, pattern, repl, count in PATCHES + ([STABLE] if stable else []):
        out[name], n = re.subn(pattern, repl, out[name], flags=re.M)
        if n != count:
            raise SystemExit(f"patch {pattern!r} on {name}: {n} replacements, expected {count} (another version?)")
    return out


def _sequential(n_jobs=None, **_):
    """joblib.Parallel's call shape, run in this process."""
    return lambda jobs: [f(*args, **kwargs) for f, args, kwargs in jobs]


class Official:
    """The patched official module, imported from a temporary folder."""

    def __init__(self, texts: dict[str, str], folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (folder / name).write_text(text)
        for name in ("utils", "eval_detection"):
            sys.modules.pop(name, None)
        sys.path.insert(0, str(folder))
        try:
            self.module = importlib.import_module("eval_detection")
        finally:
            sys.path.remove(str(folder))
            sys.modules.pop("utils", None)
        sys.modules.pop("eval_detection", None)
        self.module.Parallel = _sequential
        self.folder = folder

    def run(self, case: dict) -> dict:
        gt, pred = self.folder / "gt.json", self.folder / "pred.json"
        gt.write_text(json.dumps(case["groundtruth"]))
        pred.write_text(json.dumps(case["predictions"]))
        blocked = list(case.get("blocked", []))
        self.module.get_blocked_videos = lambda: blocked
        try:
            ev = self.module.ANETdetection(str(gt), str(pred), tiou_thresholds=np.array(case["tiou"]),
                                           subset=case["subset"], verbose=False, check_status=bool(blocked))
            ev.evaluate()
        except Exception as e:  # noqa: BLE001  (recorded: the official outcome)
            return {"error": type(e).__name__}
        classes = sorted(ev.activity_index, key=ev.activity_index.get)
        return {"classes": classes, "ap": ev.ap.tolist(), "mAP": ev.mAP.tolist(),
                "average_mAP": float(ev.average_mAP)}


# --------------------------------------------------------------------------
# cases


def anet(database: dict, results: dict) -> tuple[dict, dict]:
    """Wrap into the official files' shape (it insists on these keys)."""
    return ({"version": "VERSION 1.3", "taxonomy": [], "database": database},
            {"version": "VERSION 1.3", "external_data": {}, "results": results})


def video(subset: str, *anns) -> dict:
    return {"subset": subset, "duration": 200.0, "annotations": [{"segment": list(s), "label": lab} for s, lab in anns]}


def det(label: str, score: float, s: float, e: float) -> dict:
    return {"label": label, "score": score, "segment": [s, e]}


def hand_cases() -> list[dict]:
    cases = []

    def add(name, database, results, tiou=ANET, subset="validation", blocked=(), note=""):
        gt, pred = anet(database, results)
        cases.append({"name": name, "note": note, "subset": subset, "tiou": list(tiou), "blocked": list(blocked),
                      "groundtruth": gt, "predictions": pred})

    add("ties_in_score",
        {"a": video("validation", ((0, 10), "Run"), ((20, 30), "Run")), "b": video("validation", ((5, 15), "Run"))},
        {"a": [det("Run", 0.5, 0, 10), det("Run", 0.5, 50, 60), det("Run", 0.5, 21, 30)],
         "b": [det("Run", 0.5, 5, 15), det("Run", 0.9, 100, 110), det("Run", 0.5, 6, 14)]},
        tiou=[0.5, 0.75, 0.9], note="equal scores within and across videos, TPs and FPs mixed")
    add("duplicates",
        {"a": video("validation", ((0, 10), "Jump"), ((2, 12), "Jump"), ((40, 50), "Jump"))},
        {"a": [det("Jump", 0.9, 0, 10), det("Jump", 0.8, 0, 10), det("Jump", 0.7, 0, 10), det("Jump", 0.6, 41, 50),
               det("Jump", 0.55, 40, 50)]},
        note="three copies of one detection: the second falls to the next-best free instance, the third is a FP")
    add("gt_tiou_ties",
        {"a": video("validation", ((0, 10), "Swim"), ((0, 10), "Swim"), ((10, 20), "Swim"), ((0, 20), "Swim"))},
        {"a": [det("Swim", 0.9, 5, 15), det("Swim", 0.8, 0, 10), det("Swim", 0.7, 0, 10), det("Swim", 0.6, 10, 20)]},
        tiou=[0.3, 0.5], note="duplicate ground truth and equal tIoUs to two instances")
    add("gt_tiou_ties_order",
        {"b": video("validation", ((0, 10), "Swim"), ((10, 20), "Swim")),
         "c": video("validation", ((10, 20), "Swim"), ((0, 10), "Swim"))},
        {"b": [det("Swim", 0.5, 5, 15), det("Swim", 0.4, 10, 20)], "c": [det("Swim", 0.3, 5, 15),
                                                                          det("Swim", 0.2, 10, 20)]},
        tiou=[0.3], note="a prediction equally close to two instances takes the later one (file order)")
    add("class_without_gt_in_subset",
        {"a": video("validation", ((0, 10), "Run")), "t": video("training", ((0, 10), "Dance"), ((5, 9), "Run"))},
        {"a": [det("Run", 0.9, 0, 10)], "t": [det("Run", 0.8, 5, 9)]},
        note="'Dance' has instances only in training: not a class; the training-video prediction is a FP")
    add("class_without_gt_predicted",
        {"a": video("validation", ((0, 10), "Run")), "t": video("training", ((0, 10), "Dance"))},
        {"a": [det("Run", 0.9, 0, 10), det("Dance", 0.8, 0, 10)]},
        note="a prediction label that is not a class: the official code stops with KeyError")
    add("class_without_predictions",
        {"a": video("validation", ((0, 10), "Run"), ((30, 40), "Walk")), "b": video("validation", ((1, 5), "Walk"))},
        {"a": [det("Run", 0.9, 0, 9)], "b": []},
        tiou=[0.5, 0.9], note="'Walk' has no predictions: AP 0, still in the mean")
    add("zero_length",
        {"a": video("validation", ((5, 5), "Clap"), ((10, 20), "Clap")), "b": video("validation", ((3, 3), "Clap"))},
        {"a": [det("Clap", 0.9, 7, 7), det("Clap", 0.8, 5, 5), det("Clap", 0.7, 12, 12), det("Clap", 0.6, 10, 20)],
         "b": [det("Clap", 0.5, 3, 3), det("Clap", 0.4, 3, 4)]},
        note="zero-length pairs have tIoU 0/0 = NaN, which the official matching takes as a match")
    add("unknown_videos",
        {"a": video("validation", ((0, 10), "Run")), "t": video("training", ((0, 10), "Run"))},
        {"v_a": [det("Run", 0.95, 0, 10)], "zzz": [det("Run", 0.9, 0, 10)], "t": [det("Run", 0.85, 0, 10)],
         "a": [det("Run", 0.5, 0, 10)]},
        note="predictions on unknown / other-subset / 'v_'-prefixed videos are FPs (no id normalisation)")
    add("exact_thresholds_anet",
        {"a": video("validation", ((0, 10), "Run"), ((100, 110), "Run"), ((200, 210), "Run"), ((300, 320), "Run"))},
        {"a": [det("Run", 0.9, 0, 9), det("Run", 0.8, 100, 105), det("Run", 0.7, 200, 207),
               det("Run", 0.6, 300, 317)]},
        note="tIoU exactly 0.9, 0.5, 0.7, 0.85 against linspace(0.5, 0.95, 10) (0.9 is 0.8999999999999999)")
    add("exact_thresholds_thumos",
        {"a": video("test", ((0, 10), "Dive"), ((100, 110), "Dive"), ((200, 210), "Dive"), ((300, 310), "Dive"))},
        {"a": [det("Dive", 0.9, 0, 4), det("Dive", 0.8, 100, 103), det("Dive", 0.7, 200, 206),
               det("Dive", 0.6, 300, 307)]},
        tiou=THUMOS, subset="test", note="tIoU exactly 0.4, 0.3, 0.6, 0.7 against linspace(0.3, 0.7, 5)")
    add("blocked",
        {"a": video("validation", ((0, 10), "Run")), "b": video("validation", ((0, 10), "Run"))},
        {"a": [det("Run", 0.5, 0, 10)], "b": [det("Run", 0.9, 50, 60)]},
        blocked=["b"], note="a blocked video leaves both files")
    add("no_predictions_at_all",
        {"a": video("validation", ((0, 10), "Run"), ((0, 10), "Walk"))}, {},
        note="empty results: every AP 0")
    add("training_subset",
        {"a": video("validation", ((0, 10), "Run")), "t": video("training", ((0, 10), "Run"), ((20, 40), "Jump"))},
        {"a": [det("Run", 0.9, 0, 10)], "t": [det("Run", 0.3, 1, 10), det("Jump", 0.8, 20, 35)]},
        tiou=[0.5, 0.7], subset="training", note="evaluating another subset")
    add("adjacent_and_negative_times",
        {"a": video("validation", ((-5, 5), "Run"), ((5, 10), "Run"))},
        {"a": [det("Run", 0.9, 5, 10), det("Run", 0.8, -5, 5), det("Run", 0.7, 10, 15), det("Run", 0.6, -4, 4.5)]},
        tiou=[0.1, 0.5, 0.8], note="touching segments overlap by 0; negative times are just numbers")
    return cases


def random_case(seed: int, n_videos: int | None = None, dense: bool = False) -> dict:
    rng = random.Random(seed)
    classes = [f"c{i}" for i in range(rng.randint(1, 4))]
    ties = seed % 3 == 0
    zero = seed % 5 == 0
    database, results = {}, {}
    nv = n_videos or rng.randint(2, 8)
    for v in range(nv):
        subset = "training" if rng.random() < 0.2 else "validation"
        anns = []
        for _ in range(rng.randint(0, 24 if dense else 4)):
            s = round(rng.uniform(0, 100), 1)
            d = 0.0 if zero and rng.random() < 0.2 else round(rng.uniform(0.5, 30), 1)
            anns.append(((s, round(s + d, 1)), rng.choice(classes)))
        database[f"vid{v}"] = video(subset, *anns)
    used = sorted({a["label"] for v in database.values() if v["subset"] == "validation" for a in v["annotations"]})
    if not used:
        database["vid0"] = video("validation", ((1.0, 9.0), classes[0]))
        used = [classes[0]]

    def score():
        return round(rng.random(), 1) if ties else rng.random()

    for vid, v in database.items():
        dets = []
        for a in v["annotations"]:
            if a["label"] not in used:
                continue
            for _ in range(rng.randint(0, 3)):
                s, e = a["segment"]
                js, je = round(s + rng.gauss(0, 2), 1), round(e + rng.gauss(0, 2), 1)
                dets.append(det(a["label"], score(), min(js, je), max(js, je)))
        for _ in range(rng.randint(0, 6 if dense else 3)):
            s = round(rng.uniform(0, 100), 1)
            dets.append(det(rng.choice(used), score(), s, round(s + rng.uniform(0, 20), 1)))
        rng.shuffle(dets)
        if dets or rng.random() < 0.5:
            results[vid] = dets
    if rng.random() < 0.5:
        results["unknown"] = [det(rng.choice(used), score(), 0.0, 10.0)]
    tiou = rng.choice([ANET, THUMOS, sorted(round(rng.uniform(0.05, 0.95), 2) for _ in range(3))])
    gt, pred = anet(database, results)
    return {"name": f"random_{seed:02d}", "note": f"seeded (ties={ties}, zero-length={zero})", "subset": "validation",
            "tiou": list(tiou), "blocked": [], "groundtruth": gt, "predictions": pred}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mirror", type=Path, help="activitynet/ActivityNet checkout or git directory")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/localize/data/"
                   "anet_golden.json")
    args = p.parse_args()
    texts, commit = read_sources(args.mirror)
    cases = hand_cases() + [random_case(s) for s in range(30)] + [random_case(100, n_videos=12, dense=True),
                                                                  random_case(101, n_videos=10, dense=True)]
    with tempfile.TemporaryDirectory() as tmp:
        stable = Official(patched(texts, stable=True), Path(tmp) / "stable")
        default = Official(patched(texts, stable=False), Path(tmp) / "default")
        agree = 0
        for case in cases:
            got = stable.run(case)
            other = default.run(case)
            case["default_sort_agrees"] = other == got
            agree += other == got
            if "error" in got:
                case["expected_error"] = got["error"]
            else:
                case["expected"] = got
            print(f"{case['name']:<28} {got.get('error') or 'average mAP %.6f' % got['average_mAP']}"
                  f"{'' if other == got else '  (default argsort differs here)'}")
    doc = {"source": {"repository": "activitynet/ActivityNet", "commit": commit, "files": list(FILES)},
           "generator": "scripts/make_tal_golden.py (official code, Python 3 edits, stable argsort)",
           "numpy": np.__version__, "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        f.write('{"source": %s, "generator": %s, "numpy": %s, "cases": [\n' % (
            json.dumps(doc["source"]), json.dumps(doc["generator"]), json.dumps(doc["numpy"])))
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, {len(cases)} cases, {agree} where the "
          "default argsort agrees)")


if __name__ == "__main__":
    main()
