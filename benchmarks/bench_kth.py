#!/usr/bin/env python
"""A small real benchmark: a 3D CNN trained from scratch on KTH, tested on unseen people.

Data: the 15 KTH videos in ``shared/data/real/kth`` (5 classes x 3 videos:
boxing, handwaving, jogging, running, walking; 10 different persons), cut
into their action repetitions by the official ``00sequences.txt`` (60
segments, one sample each) through ``vidlab.data.datasets.kth``.

Protocol: person-disjoint cross-validation. ``--folds 3`` (default): three
folds whose test persons never appear in their training set, and every
video is tested exactly once::

    fold 1 tests person01, person09                      (5 videos, one per class)
    fold 2 tests person02, person08, person11            (5 videos)
    fold 3 tests person03, person05, person10, person14, person16  (5 videos)

``--folds lopo``: leave-one-person-out (10 folds; longer).

Training: ``vidlab.engine.trainer.Trainer`` (config from a dict, its
``dataset()`` overridden to return the KTH fold: the engine change proposed
for ``data.format``), the registered ``i3d_r10_tiny`` from scratch, 8 frames
every 4th (1.3 s at 25 fps) from a random point inside a segment, short side
jittered in [64, 80], random 56 crop, flip 0.5 (KTH actions are mirror
symmetric), SGD + cosine, batch 8. Each epoch draws ``--repeats`` clips per
training segment. Training goes through ``RobustDataset`` (bad files would be
skipped and reported).

Testing: 3 uniform temporal views per segment, centre 56 crop of the short
side 64; segment (clip-level) accuracy from the mean softmax of its views,
video-level accuracy from the mean softmax of its segments' views. The same
evaluation on each fold's training segments (``train_segment_top1``) shows
how well the fold was fitted: the gap to the test figure is the person /
scenario shift that 2 training persons per class cannot cover (the standard
KTH protocol trains on 8 persons x 4 scenarios). ``--input motion`` feeds
frames minus the clip's temporal mean (static background and clothing removed).
``--threads 1`` (default): on a small shared CPU, torch's intra-op threads
cost more than they bring for these tiny tensors.

Output: accuracy (segment and video level), confusion matrices, per-class
accuracy, times, machine and date; ``--json`` prints it all as JSON,
``--out FILE`` writes it.

Usage::

    python benchmarks/bench_kth.py [--epochs 12] [--folds 3|lopo] [--json] [--out kth.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from vidlab.data.datasets.kth import person_folds  # noqa: E402
from vidlab.data.datasets.registry import load_index, locate  # noqa: E402
from vidlab.data.datasets.robust import RobustDataset  # noqa: E402
from vidlab.data.datasets.video_list import VideoListDataset  # noqa: E402
from vidlab.data.transforms import ClipTransform  # noqa: E402
from vidlab.engine.config import from_dict  # noqa: E402
from vidlab.engine.trainer import Trainer  # noqa: E402
from vidlab.evaluation.multilabel import markdown_table, single_label_report  # noqa: E402

CLASSES = ["boxing", "handwaving", "jogging", "running", "walking"]
FOLDS_3 = [["person01", "person09"], ["person02", "person08", "person11"],
           ["person03", "person05", "person10", "person14", "person16"]]


@dataclasses.dataclass
class MotionTransform(ClipTransform):
    """``ClipTransform``, then the clip's temporal mean is subtracted from every frame
    (``--input motion``): what stays still (background, clothes) is removed, what moves
    remains. With 2-3 people per class, the raw frames let a from-scratch network
    recognise the person and the place instead of the action."""

    def __call__(self, frames, rng=None, spatial_idx: int = 1):
        clip = super().__call__(frames, rng=rng, spatial_idx=spatial_idx)
        return clip - clip.mean(dim=1, keepdim=True)

    def views(self, frames):
        return [v - v.mean(dim=1, keepdim=True) for v in super().views(frames)]


class FoldTrainer(Trainer):
    """The engine's Trainer on one KTH fold (``dataset`` picks the fold's records)."""

    def __init__(self, cfg, records: dict, motion_input: bool = False, **kw):
        self.fold_records = records
        self.motion_input = motion_input
        super().__init__(cfg, **kw)

    def dataset(self, split: str):
        d = self.cfg.data
        train = split == "train"
        tf = (MotionTransform if self.motion_input else ClipTransform)(train=train, crop_size=self.crop_size, min_scale=d.train_scale[0],
                           max_scale=d.train_scale[1], test_scale=d.test_scale, flip=d.flip, mean=self.mean,
                           std=self.std, spatial_crops=1)
        ds = VideoListDataset(self.fold_records[split], mode="train" if train else "test",
                              num_frames=self.num_frames, sampling_rate=self.sampling_rate, transform=tf,
                              num_views=d.test_views, seed=self.cfg.train.seed, min_frames=self.num_frames)
        return RobustDataset(ds, log_dir=self.out_dir / "bad_files") if train else ds

    def train_epoch(self, ds, epoch, start_batch=0):
        stats = super().train_epoch(ds, epoch, start_batch)
        if stats is not None:
            stats.update(ds.end_epoch(epoch, report=self.out_dir / "bad_files.json", max_bad_fraction=0.1))
        return stats


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import av

    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "pyav": av.__version__,
            "load_average": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "real" / "kth"))
    ap.add_argument("--arch", default="i3d_r10_tiny")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2, help="clips per training segment per epoch")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--crop", type=int, default=56, help="crop size (short side jittered in [crop+8, crop*10/7] in training)")
    ap.add_argument("--sampling-rate", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--folds", default="3", choices=["3", "lopo"])
    ap.add_argument("--input", default="motion", choices=["motion", "rgb"],
                    help="motion: frames minus the clip's temporal mean; rgb: plain frames")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a small shared CPU, intra-op threads cost more than they give)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    t_all = time.time()
    root = Path(args.root)
    index = load_index("kth", root / "annotations")
    index, missing = locate(index, root)
    index = index.subset(CLASSES)
    records = [r for s in ("train", "val", "test") for r in index.splits[s]]
    persons = sorted({r.group for r in records})
    test_groups = FOLDS_3 if args.folds == "3" else [[p] for p in persons]
    folds = person_folds(records, test_groups)

    all_logits, all_labels, all_videos, fold_rows = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench_kth_") as tmp:
        for k, (train_recs, test_recs) in enumerate(folds):
            assert not {r.group for r in train_recs} & {r.group for r in test_recs}
            cfg = from_dict({
                "model": {"arch": args.arch, "num_classes": len(CLASSES)},
                "data": {"num_frames": 8, "sampling_rate": args.sampling_rate, "crop_size": args.crop,
                         "train_scale": [args.crop + 8, max(args.crop + 8, args.crop * 10 // 7)],
                         "test_scale": args.crop + 8, "flip": 0.5, "test_views": args.views, "test_crops": 1,
                         "batch_size": args.batch_size, "num_workers": args.workers},
                "solver": {"lr": args.lr, "epochs": args.epochs, "warmup_epochs": 1, "warmup_start_lr": 0.005,
                           "weight_decay": 1e-4, "clip_grad": 5.0},
                "train": {"out_dir": f"{tmp}/fold{k + 1}", "seed": args.seed + k, "progress": False,
                          "tensorboard": False, "threads": args.threads},
            })
            trainer = FoldTrainer(cfg, {"train": train_recs * args.repeats, "test": test_recs},
                                  motion_input=args.input == "motion",
                                  log=lambda m: print(m, file=sys.stderr))
            t0 = time.time()
            history = trainer.fit()
            t_train = time.time() - t0
            t0 = time.time()
            logits, labels = trainer.predict(trainer.dataset("test"), desc="test")
            t_test = time.time() - t0
            # the same evaluation on the training segments: how well the fold was fitted
            trainer.fold_records["fit"] = train_recs
            fit_logits, fit_labels = trainer.predict(trainer.dataset("fit"), desc="fit")
            fit_top1 = float((fit_logits.softmax(-1).mean(1).argmax(1).numpy() == fit_labels).mean())
            all_logits.append(logits)
            all_labels.append(labels)
            all_videos += [r.video_id for r in test_recs]
            fold_rep = single_label_report(logits, labels, [r.video_id for r in test_recs], len(CLASSES), CLASSES)
            fold_rows.append({"fold": k + 1, "test_persons": ",".join(test_groups[k]),
                              "train_segments": len(train_recs), "test_segments": len(test_recs),
                              "segment_top1": fold_rep["clip"]["top1"], "video_top1": fold_rep["video"]["top1"],
                              "train_segment_top1": fit_top1,
                              "final_train_loss": history[-1]["train_loss"], "train_s": round(t_train, 1),
                              "test_s": round(t_test, 1)})
            print(f"fold {k + 1}: segment top-1 {fold_rep['clip']['top1']:.3f}  video top-1 "
                  f"{fold_rep['video']['top1']:.3f}  train {t_train:.0f}s  test {t_test:.0f}s", file=sys.stderr)

    logits = torch.cat(all_logits)
    labels = np.concatenate(all_labels)
    rep = single_label_report(logits, labels, all_videos, len(CLASSES), CLASSES)
    result = {
        "benchmark": "KTH person-disjoint cross-validation",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "args": vars(args),
        "classes": CLASSES,
        "videos": len(set(all_videos)),
        "segments": len(all_videos),
        "persons": persons,
        "folds": fold_rows,
        "segment_top1": rep["clip"]["top1"],
        "train_segment_top1": float(np.mean([r["train_segment_top1"] for r in fold_rows])),
        "segment_mean_class_accuracy": rep["clip"]["mean_class_accuracy"],
        "video_top1": rep["video"]["top1"],
        "segment_confusion_matrix": rep["clip"]["confusion_matrix"],
        "video_confusion_matrix": rep["video"]["confusion_matrix"],
        "per_class": rep["per_class"],
        "per_class_segments": [{"class": c, "accuracy": a} for c, a in zip(CLASSES, rep["clip"]["per_class_accuracy"])],
        "chance": 1 / len(CLASSES),
        "seconds_total": round(time.time() - t_all, 1),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"KTH, {result['videos']} videos / {result['segments']} segments, {len(folds)} person-disjoint folds, "
              f"{args.arch} from scratch, {args.epochs} epochs")
        print(markdown_table(fold_rows))
        print(f"\nsegment top-1 {result['segment_top1']:.3f} (mean class {result['segment_mean_class_accuracy']:.3f}), "
              f"video top-1 {result['video_top1']:.3f}, chance {result['chance']:.2f}")
        print("\nsegment confusion matrix (rows: true, columns: predicted)")
        print(markdown_table([{"true": c, **{p: n for p, n in zip(CLASSES, row)}}
                              for c, row in zip(CLASSES, result["segment_confusion_matrix"])]))
        print(f"\ntotal {result['seconds_total']:.0f} s on {result['machine']['cpu']} "
              f"({result['machine']['cores']} cores), {result['date']}")
    return result


if __name__ == "__main__":
    main()
