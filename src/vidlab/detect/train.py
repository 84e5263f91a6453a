"""Train and evaluate an action detector on an AVA-format set (the synthetic one on a CPU).

Recipe (:func:`train_detector`): keyframe clips of ``num_frames`` frames
``sampling_rate`` apart, short side jittered in ``train_scale`` and a random
square crop, optional box jitter, no flip (the synthetic classes are not
flip-invariant), sigmoid binary cross-entropy over the actions of every box,
SGD (momentum 0.9, Nesterov, weight decay 1e-4) with one warmup epoch and
cosine decay, gradient-norm clip 5; the epoch count shrinks to fit
``minutes``. Evaluation (:func:`evaluate_detector`) scores every test box
(ground-truth boxes unless proposals are given) and computes frame mAP@0.5
with :mod:`vidlab.evaluation.ava`.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidlab.engine.budget import BudgetSchedule, epoch_pace
from vidlab.errors import VidlabError


def dataset_config(root: str | os.PathLike) -> dict:
    """The clock and files of a dataset folder: the synthetic set's ``meta.json`` or AVA defaults."""
    root = Path(root)
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise VidlabError(f"{root}: not a synthetic detection set (no meta.json); "
                          "`vidlab detect-data --out DIR` writes one")
    meta = json.loads(meta_path.read_text())
    return {"fps": meta["fps"], "start_second": meta.get("start_second", 900), "seconds": None,
            "size": meta["size"], "labelmap": str(root / "annotations" / "action_list.pbtxt"),
            "videos": str(root / "videos"), "annotations": str(root / "annotations"), "classes": meta["classes"]}


def make_dataset(root, split: str, *, mode: str, num_frames: int, sampling_rate: int, mean, std,
                 crop_size: int | None = None, box_jitter: float = 0.0, proposals: bool = False, seed: int = 0,
                 cache_videos: bool = True):
    from vidlab.data.datasets.ava import AvaDataset

    cfg = dataset_config(root)
    size = cfg["size"]
    ann = Path(cfg["annotations"])
    return AvaDataset(
        ann / f"{split}.csv", cfg["labelmap"], cfg["videos"], mode=mode, num_frames=num_frames,
        sampling_rate=sampling_rate, fps=cfg["fps"], start_second=cfg["start_second"], seconds=cfg["seconds"],
        proposals=(ann / f"{split}_predicted_boxes.csv") if proposals else None,
        exclusions=ann / f"{split}_excluded_timestamps.csv", train_scale=(size, int(size * 1.125)),
        crop_size=crop_size or size, test_scale=size, flip=False, box_jitter=box_jitter, mean=mean, std=std,
        seed=seed, cache_videos=cache_videos,
    )


def _batches(n: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def _lr(base: float, epoch: float, epochs: int, warmup: float = 1.0) -> float:
    if epoch < warmup:
        end = base * (math.cos(math.pi * warmup / epochs) + 1) / 2
        return base * 0.1 + (end - base * 0.1) * epoch / warmup
    return base * (math.cos(math.pi * epoch / epochs) + 1) / 2


def train_detector(data_root: str | os.PathLike, out: str | os.PathLike, *, arch: str = "i3d_r10_tiny_detection",
                   epochs: int = 12, minutes: float | None = None, batch_size: int = 8, lr: float = 0.1,
                   weight_decay: float = 1e-4, box_jitter: float = 0.05, proposals: bool = False,
                   max_train: int | None = None, num_frames: int | None = None, sampling_rate: int | None = None,
                   split: str = "train", seed: int = 0, progress: bool = True, log=print) -> dict:
    """Train ``arch`` on ``data_root``'s ``split`` (default train), save ``out/model.safetensors``, return metrics.

    ``num_frames`` / ``sampling_rate`` replace the architecture's clip (stored in the
    checkpoint's preprocessing, so evaluation and the feature bank use the same clip).
    Another ``split`` trains a feature-bank detector on videos that stage 2 never sees
    (``vidlab.detect.lfb``: then the bank rows of stage 2's training videos are as new to
    the detector as the test videos' rows)."""
    from tqdm.auto import tqdm

    from vidlab import models
    from vidlab.data.datasets.ava import collate_detection

    start = time.perf_counter()
    torch.manual_seed(seed)
    spec = models.get_spec(arch)
    cfg = dataset_config(data_root)
    model = models.build(arch, num_classes=len(cfg["classes"]))
    pre = spec.preprocessing()
    pre["num_frames"] = int(num_frames or spec.num_frames)
    pre["sampling_rate"] = int(sampling_rate or spec.sampling_rate)
    ds = make_dataset(data_root, split, mode="train", num_frames=pre["num_frames"],
                      sampling_rate=pre["sampling_rate"], mean=spec.mean, std=spec.std, box_jitter=box_jitter,
                      proposals=proposals, seed=seed)
    n = len(ds) if max_train is None else min(len(ds), max_train)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0}],
                          lr=lr, momentum=0.9, nesterov=True)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)
    steps = math.ceil(n / batch_size)
    plan, history = BudgetSchedule(int(epochs)), []
    epoch = 0
    while epoch < plan.end:
        t0, c0 = time.perf_counter(), time.process_time()
        ds.set_epoch(epoch)
        model.train()
        total, count = 0.0, 0
        bar = tqdm(total=steps, desc=f"train {epoch + 1}/{plan.end}", unit="batch", leave=False, disable=not progress)
        step_seconds = []
        for it, idx in enumerate(_batches(n, batch_size, rng)):
            t_step = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = _lr(lr, plan.position(epoch + it / steps), plan.planned)
            batch = collate_detection([ds[int(i)] for i in idx])
            logits = model(batch["clip"], batch["boxes"])
            loss = loss_fn(logits, batch["labels"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step_seconds.append(time.perf_counter() - t_step)
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            bar.update()
            bar.set_postfix(loss=f"{total / count:.4f}")
        bar.close()
        dt = time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "loss": total / max(count, 1), "seconds": dt,
                        "cpu_seconds": time.process_time() - c0})
        log(f"epoch {epoch + 1}/{plan.end}  loss {total / max(count, 1):.4f}  {dt:.1f} s")
        epoch += 1
        # fit the run into the budget, re-planned every epoch at the measured pace (the load
        # varies; fewer or more epochs, never more than asked: see vidlab.engine.budget); the first
        # epoch also decodes every video into the cache, so the estimate starts with the second
        if minutes is not None and epoch >= 2 and epoch < plan.end:
            budget = minutes * 60 * 0.92 - (time.perf_counter() - start)
            before = plan.end
            if budget <= 0:
                plan.stop_at(epoch)  # spent: stop here
            else:
                plan.replan(epoch, budget, epoch_pace(dt, step_seconds, steps))
            if plan.end != before:
                log(f"time budget: {before} -> {plan.end} epochs")
    out = Path(out)
    ckpt = models.save(model, out / "model.safetensors", arch=arch, labels=cfg["classes"],
                       preprocessing=pre, task="detection",
                       provenance={"data": str(data_root), "split": split, "epochs": len(history), "seed": seed})
    return {"checkpoint": str(ckpt), "epochs": len(history), "train_keyframes": n, "history": history,
            "train_seconds": time.perf_counter() - start}


@torch.no_grad()
def predict(model: nn.Module, ds, *, batch_size: int = 8, progress: bool = True, features: bool = False):
    """Scores (sigmoid) for every box of every item: ``[(video_id, second, box_norm (4,), scores (C,))]``
    (plus the RoI feature per box with ``features=True``)."""
    from tqdm.auto import tqdm

    from vidlab.data.datasets.ava import collate_detection
    from vidlab.models.lfb import roi_features

    model.eval()
    out = []
    for idx in tqdm(list(_batches(len(ds), batch_size, None)), desc="score", unit="batch", leave=False,
                    disable=not progress):
        batch = collate_detection([ds[int(i)] for i in idx])
        if features:
            feats = roi_features(model, batch["clip"], batch["boxes"])
            scores = model.forward_head(feats).sigmoid()
        else:
            scores = model(batch["clip"], batch["boxes"]).sigmoid()
        k = 0
        for i in idx:
            vid, sec, boxes, _, _ = ds.items[int(i)]
            for b in boxes:
                row = (vid, sec, b, scores[k].numpy())
                out.append(row + ((feats[k].numpy(),) if features else ()))
                k += 1
    return out


def write_detections_csv(path: str | os.PathLike, rows, class_ids: list[int], *, min_score: float = 0.0) -> Path:
    """AVA detection csv ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` (one row per box and class)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for vid, sec, box, scores, *_ in rows:
            b = ",".join(f"{v:.4f}" for v in box)
            for cid, s in zip(class_ids, scores):
                if s >= min_score:
                    f.write(f"{vid},{int(sec):04d},{b},{cid},{float(s):.6f}\n")
    return path


def evaluate_detector(checkpoint_or_model, data_root: str | os.PathLike, out: str | os.PathLike, *,
                      split: str = "test", proposals: bool = False, progress: bool = True) -> dict:
    """Frame mAP@0.5 of a detector on ``split`` (ground-truth boxes unless ``proposals``)."""
    from vidlab import models
    from vidlab.evaluation.ava import evaluate_files


    model = models.load(checkpoint_or_model) if isinstance(checkpoint_or_model, (str, os.PathLike)) \
        else checkpoint_or_model
    spec = models.get_spec(model.meta["arch"]) if hasattr(model, "meta") else None
    pre = (model.meta.get("preprocessing") if hasattr(model, "meta") else None) or spec.preprocessing()
    ds = make_dataset(data_root, split, mode="test", num_frames=pre["num_frames"], sampling_rate=pre["sampling_rate"],
                      mean=pre["mean"], std=pre["std"], proposals=proposals)
    rows = predict(model, ds, progress=progress)
    cfg = dataset_config(data_root)
    det = write_detections_csv(Path(out) / f"{split}_detections.csv", rows, ds.class_ids)
    ann = Path(cfg["annotations"])
    res = evaluate_files(ann / f"{split}.csv", det, cfg["labelmap"], ann / f"{split}_excluded_timestamps.csv")
    res["detections"] = str(det)
    res["boxes"] = "proposals" if proposals else "groundtruth"
    return res
