"""The diagnostic suite's long-term feature bank task (``bench_mechanisms.py --task lfb``).

Data: the *history* detection set (:func:`vidlab.data.synthetic_detection.write_synthetic_detection`
with ``task="history"``): one actor per 10-second video lights up red or blue around second
902; its class is ``lit_red`` / ``lit_blue`` at keyframe 902 and ``was_red`` / ``was_blue`` at
903..908, where no clip shows the colour. Pipeline (:mod:`vidlab.detect`):

1. train ``i3d_r10_tiny_detection`` on 8-frame clips at stride 1 (one second: only the clip
   of keyframe 902 shows the mark) on the **val** split, videos that stage 2 never trains on:
   trained on stage 2's own videos it memorises each training actor's label from its
   appearance, and stage 2 then learns to trust that memorised short-term feature, which
   says nothing on new videos (measured: detector train mAP 1.000, test 0.55);
2. build the feature bank with it (one RoI feature per box per second) for train and test;
3. train stage-2 heads on the frozen features of the train split: ``none`` (short-term
   feature only, the fair baseline), ``avg``, ``max`` and ``nl`` (the paper's FBO) over a
   window of +-6 s, which reaches second 902 from every keyframe.

Metric: the official frame mAP@0.5 (ground-truth boxes) on the test split over the two
history classes ``was_red`` / ``was_blue`` (chance 0.5: they are balanced), next to the mAP
over all four classes.
"""

from __future__ import annotations

import time
from pathlib import Path

FULL = {"stage1_videos": 120, "train_videos": 120, "test_videos": 40, "seconds": 10, "epochs": 20,
        "head_epochs": 30, "half_width": 6, "fbos": ("none", "avg", "max", "nl")}
QUICK = {"stage1_videos": 8, "train_videos": 8, "test_videos": 4, "seconds": 10, "epochs": 1,
         "head_epochs": 2, "half_width": 6, "fbos": ("none", "max")}
FBO_NAMES = {"none": "head, no bank", "avg": "head + bank (avg FBO)", "max": "head + bank (max FBO)",
             "nl": "head + bank (non-local FBO)"}
HISTORY_IDS = ("3", "4")  # was_red, was_blue (action ids = class index + 1)


def history_map(per_class: dict) -> float:
    """Mean AP of the history classes (``was_*``)."""
    return sum(float(per_class[i]) for i in HISTORY_IDS) / len(HISTORY_IDS)


def run_lfb(out: Path, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    from vidlab.data.synthetic_detection import write_synthetic_detection
    from vidlab.detect.lfb import build_bank, train_lfb_head
    from vidlab.detect.train import evaluate_detector, train_detector

    s = QUICK if quick else FULL
    out = Path(out)
    data = out / "data"
    write_synthetic_detection(data, train_videos=s["train_videos"], val_videos=s["stage1_videos"],
                              test_videos=s["test_videos"], size=96, grid=2, seconds=s["seconds"], fps=8,
                              actors=(1, 1), seed=seed, task="history", progress=progress)
    t0 = time.perf_counter()
    det = train_detector(data, out / "detector", epochs=s["epochs"], num_frames=8, sampling_rate=1, split="val",
                         seed=seed, progress=progress, log=lambda m: None)
    train_s = time.perf_counter() - t0
    ev = evaluate_detector(det["checkpoint"], data, out / "detector", progress=progress)
    rows = [{"model": "detector (1 s clip)", "component": False, "metric": "history mAP",
             "value": history_map(ev["per_class"]), "all_classes": float(ev["mAP"]), "epochs": det["epochs"],
             "train_seconds": round(train_s, 1)}]
    build_bank(det["checkpoint"], data, out / "bank", splits=("train", "test"), progress=progress)
    for fbo in s["fbos"]:
        t0 = time.perf_counter()
        r = train_lfb_head(out / "bank", data, out / "lfb", fbo=fbo, half_width=s["half_width"],
                           epochs=s["head_epochs"], seed=seed, progress=progress)
        rows.append({"model": FBO_NAMES[fbo], "component": fbo != "none", "metric": "history mAP",
                     "value": history_map(r["per_class"]), "all_classes": float(r["mAP"]),
                     "epochs": s["head_epochs"], "train_seconds": round(time.perf_counter() - t0, 1)})
    return {"task": "lfb", "rows": rows, "chance": 0.5}
