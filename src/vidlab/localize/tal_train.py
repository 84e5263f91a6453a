"""Training, inference and post-processing of :class:`~vidlab.localize.actionformer.ActionFormer`
(``vidlab tal train|detect|eval``).

Training (:func:`train`, the official recipe unless said otherwise)
-------------------------------------------------------------------
AdamW (weight decay 0.05 on convolution weights only, none on biases, norms and scales), learning
rate with a linear warmup from 0 over ``warmup_epochs`` (5; at most a seventh of the schedule) then
a cosine decay to 0, per step; gradient clipping at L2 norm 1.0; loss
``(focal + DIoU) / normalizer`` with ``normalizer`` a moving average (momentum 0.9, start 100,
THUMOS'14) of the number of positive points per batch; an exponential moving average of the
weights (decay 0.999) is what is evaluated and saved. The official recipe is 30 + 5 epochs at
``lr`` 1e-4 and batch size 2 (THUMOS'14); vidlab's defaults (:class:`TrainConfig`: 30 epochs
including the warmup, ``lr`` 1e-3, batch size 2) suit the small CPU model. Differences, for short
runs: the EMA decay ramps up as ``min(decay, (1 + step) / (10 + step))`` so that a few hundred
steps already give a usable average; batches are padded to their own longest sequence (the model is
exact under padding), not to ``max_seq_len``. Sequences longer than ``max_seq_len`` (2304) and, with
``crop_ratio`` (0.9, 1.0), all sequences are randomly cropped (:func:`vidlab.localize.tal_data.random_crop`).

Time budget (``minutes``): after every epoch, the pace of the next one is measured
(:func:`vidlab.engine.budget.epoch_pace`) and the run re-planned to the epochs that still fit
(:class:`~vidlab.engine.budget.BudgetSchedule`: fewer, or more again up to ``epochs`` when the
machine gets faster; the planned warmup + cosine is spread over them, so the learning rate never
jumps or rises after the warmup); past the deadline inside an epoch, training stops after the
current step.

Inference (:func:`detect`)
--------------------------
Per video: the candidates of every level (:func:`vidlab.localize.actionformer.candidates`:
score > 0.001, 2000 best per level, longer than 0.05 grid steps), then per class Soft-NMS
(:func:`soft_nms`; Gaussian with sigma 0.5 as ActionFormer's THUMOS'14 config, or ``linear`` /
``hard`` with IoU threshold 0.1, or ``none``), scores below ``min_score`` (0.001) dropped, the
``max_segments`` (200) best of the video kept, and grid positions turned into seconds with the
features' grid (:class:`vidlab.localize.tal_data.FeatureGrid`: ``offset + g * step``), clipped to
``[0, duration]``. Output: the ActivityNet challenge format
``{"version", "results": {video: [{"label", "score", "segment": [start, end]}]}, "external_data"}``.

Soft-NMS (Bodla et al. 2017), on the segments of one class: repeatedly take the highest-scoring
remaining segment (ties: the earlier one), keep it with its current score, and multiply the score
of every other remaining segment by ``exp(-IoU^2 / sigma)`` (Gaussian), by ``1 - IoU`` where
``IoU >= iou_threshold`` (linear), or by 0 there (hard NMS); drop those that fall below
``min_score``. IoU is intersection over union of the intervals. Picks come in non-increasing score
order, so stopping after ``max_keep`` picks gives the same first ``max_keep`` as running to the end.

Checkpoints (:func:`save_checkpoint` / :func:`load_checkpoint`): a folder with
``model.safetensors`` (the weights) and ``model.json`` (format tag, model config, class names,
feature dimension and the features' settings, the training summary, the inference defaults),
each written to a temporary name and renamed, the json last.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidlab.errors import DataError, VidlabError
from vidlab.localize.actionformer import ActionFormer, ActionFormerConfig, candidates, detection_losses
from vidlab.localize.tal_data import TALDataset, collate

__all__ = ["TrainConfig", "PostConfig", "NMS_METHODS", "soft_nms", "batched_nms", "train", "detect",
           "evaluate", "save_checkpoint", "load_checkpoint", "check_features", "feature_notes", "features_info", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "vidlab-actionformer"
CHECKPOINT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
SIDECAR_FILE = "model.json"
NMS_METHODS = ("gaussian", "linear", "hard", "none")


@dataclass
class TrainConfig:
    """Training settings (see the module docstring for where each default comes from)."""

    epochs: int = 30
    warmup_epochs: int = 5
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 0.05
    clip_grad: float = 1.0
    init_loss_norm: float = 100.0
    loss_norm_momentum: float = 0.9
    reg_weight: float = 1.0
    ema_decay: float = 0.999
    max_seq_len: int = 2304
    trunc_thresh: float = 0.5
    crop_ratio: tuple[float, float] | None = (0.9, 1.0)
    seed: int = 0
    minutes: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_seq_len < 1:
            raise VidlabError("epochs, batch size and max_seq_len must be >= 1")
        if not self.lr > 0:
            raise VidlabError(f"learning rate must be > 0, got {self.lr}")
        if self.minutes is not None and not self.minutes > 0:
            raise VidlabError(f"minutes must be > 0, got {self.minutes}")


@dataclass
class PostConfig:
    """Inference and post-processing settings (ActionFormer's THUMOS'14 test config)."""

    pre_nms_thresh: float = 0.001
    pre_nms_topk: int = 2000
    duration_thresh: float = 0.05
    nms: str = "gaussian"
    sigma: float = 0.5
    iou_threshold: float = 0.1
    min_score: float = 0.001
    max_segments: int = 200

    def __post_init__(self) -> None:
        if self.nms not in NMS_METHODS:
            raise VidlabError(f"nms must be one of {', '.join(NMS_METHODS)}, got {self.nms!r}")
        if not self.sigma > 0:
            raise VidlabError(f"Soft-NMS sigma must be > 0, got {self.sigma}")
        if self.max_segments < 1 or self.pre_nms_topk < 1:
            raise VidlabError("max_segments and pre_nms_topk must be >= 1")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PostConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ------------------------------------------------------------------------------------------------
# post-processing


def _iou_one(seg: np.ndarray, others: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(seg[1], others[:, 1]) - np.maximum(seg[0], others[:, 0]), 0.0, None)
    union = (seg[1] - seg[0]) + (others[:, 1] - others[:, 0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def soft_nms(segments: Any, scores: Any, *, method: str = "gaussian", sigma: float = 0.5,
             iou_threshold: float = 0.1, min_score: float = 0.001,
             max_keep: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS of one class (module docstring): ``(indices into the input, their final scores)``,
    in pick order (non-increasing score). ``method``: gaussian, linear, hard or none (no suppression:
    all segments >= ``min_score`` by score)."""
    if method not in NMS_METHODS:
        raise ValueError(f"method must be one of {NMS_METHODS}, got {method!r}")
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1).copy()
    alive = np.nonzero(sc >= min_score)[0]
    if method == "none":
        order = alive[np.argsort(-sc[alive], kind="stable")][:max_keep]
        return order, sc[order]
    keep: list[int] = []
    kept: list[float] = []
    while len(alive) and (max_keep is None or len(keep) < max_keep):
        j = int(np.argmax(sc[alive]))
        p = int(alive[j])
        keep.append(p)
        kept.append(float(sc[p]))
        alive = np.delete(alive, j)
        if not len(alive):
            break
        iou = _iou_one(segs[p], segs[alive])
        if method == "gaussian":
            weight = np.exp(-(iou * iou) / sigma)
        elif method == "linear":
            weight = np.where(iou >= iou_threshold, 1.0 - iou, 1.0)
        else:
            weight = np.where(iou >= iou_threshold, 0.0, 1.0)
        sc[alive] *= weight
        alive = alive[sc[alive] >= min_score]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept, dtype=np.float64)


def batched_nms(segments: Any, scores: Any, labels: Any, post: PostConfig) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
    """Per-class :func:`soft_nms`, then the ``post.max_segments`` best over all classes:
    ``(segments (K, 2), scores (K,), labels (K,))`` by descending score."""
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    out_s, out_c, out_l = [], [], []
    for c in np.unique(lab):
        idx = np.nonzero(lab == c)[0]
        keep, new = soft_nms(segs[idx], sc[idx], method=post.nms, sigma=post.sigma, iou_threshold=post.iou_threshold,
                             min_score=post.min_score, max_keep=post.max_segments)
        out_s.append(segs[idx[keep]])
        out_c.append(new)
        out_l.append(np.full(len(keep), c, dtype=np.int64))
    if not out_s:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64)
    s, c, lab = np.concatenate(out_s), np.concatenate(out_c), np.concatenate(out_l)
    order = np.argsort(-c, kind="stable")[: post.max_segments]
    return s[order], c[order], lab[order]


# ------------------------------------------------------------------------------------------------
# training


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on convolution / linear weights only (the official ``make_optimizer`` split)."""
    decay, no_decay = [], []
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if name == "weight" and isinstance(mod, (nn.Conv1d, nn.Linear)):
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warmup from 0 over ``warmup`` steps, then cosine to 0 at ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, m in zip(ema.state_dict().values(), model.state_dict().values()):
        if e.dtype.is_floating_point:
            e.mul_(decay).add_(m.detach(), alpha=1.0 - decay)
        else:
            e.copy_(m)


def train(dataset: TALDataset, model_config: ActionFormerConfig, config: TrainConfig = TrainConfig(), *,
          device: str | torch.device = "cpu", progress: bool = True,
          log: Callable[[str], None] | None = None) -> tuple[ActionFormer, dict]:
    """Train an ActionFormer on ``dataset`` (built with ``training=True``); returns the model to use
    (the EMA weights when ``ema_decay > 0``, eval mode, on CPU) and a summary of the run."""
    from tqdm.auto import tqdm

    from vidlab.engine.budget import BudgetSchedule, epoch_pace

    if model_config.input_dim != dataset.feature_dim:
        raise DataError(f"the model takes {model_config.input_dim}-d features, the dataset has {dataset.feature_dim}")
    if len(dataset.classes) != model_config.num_classes:
        raise VidlabError(f"the model has {model_config.num_classes} classes, the dataset {len(dataset.classes)}")
    start = time.perf_counter()
    deadline = None if config.minutes is None else start + 60.0 * config.minutes
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    dev = torch.device(device)
    model = ActionFormer(model_config).to(dev).train()
    ema = copy.deepcopy(model).eval() if config.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    n = len(dataset)
    bs = min(config.batch_size, n)
    spe = -(-n // bs)
    plan = BudgetSchedule(config.epochs)
    warmup = min(config.warmup_epochs * spe, (plan.planned * spe) // 7)
    normalizer = config.init_loss_norm
    step = 0
    history: list[dict] = []
    stopped = None
    bar = tqdm(total=plan.end * spe, desc="tal train", unit="step", file=sys.stderr, dynamic_ncols=True,
               disable=None if progress else True)
    try:
        epoch = 0
        while epoch < plan.end:
            t_epoch = time.perf_counter()
            step_times: list[float] = []
            order = list(range(n))
            rng.shuffle(order)
            sums = {"loss": 0.0, "cls": 0.0, "reg": 0.0, "num_pos": 0.0}
            batches = 0
            for b in range(0, n, bs):
                t0 = time.perf_counter()
                lr = _lr_at(round(plan.position(epoch + batches / spe) * spe), plan.planned * spe, warmup, config.lr)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                batch = collate([dataset[i] for i in order[b:b + bs]], model_config.divisor)
                out = model(batch["feats"].to(dev), batch["mask"].to(dev))
                losses = detection_losses(out, batch["segments"], batch["labels"], model_config)
                num_pos = int(losses["num_pos"])
                m = config.loss_norm_momentum
                normalizer = m * normalizer + (1 - m) * max(num_pos, 1)
                cls, reg = losses["cls"] / normalizer, losses["reg"] / normalizer
                loss = cls + config.reg_weight * reg
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_grad > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
                optimizer.step()
                if ema is not None:
                    _ema_update(ema, model, min(config.ema_decay, (1.0 + step) / (10.0 + step)))
                step += 1
                batches += 1
                for k, v in (("loss", loss), ("cls", cls), ("reg", reg)):
                    sums[k] += float(v.detach())
                sums["num_pos"] += num_pos
                step_times.append(time.perf_counter() - t0)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.3f}", lr=f"{lr:.2e}")
                if deadline is not None and time.perf_counter() > deadline:
                    stopped = f"time budget reached in epoch {epoch + 1}"
                    break
            history.append({"epoch": epoch + 1, **{k: v / max(batches, 1) for k, v in sums.items()},
                            "seconds": time.perf_counter() - t_epoch})
            epoch += 1
            if stopped:
                break
            if deadline is not None and epoch < plan.end:
                pace = epoch_pace(time.perf_counter() - t_epoch, step_times, spe)
                before = plan.end
                plan.replan(epoch, deadline - time.perf_counter(), pace)
                if plan.end != before:
                    if log:
                        log(f"time budget: {plan.end} of {plan.planned} epochs fit (about {pace:.1f} s per epoch)")
                    bar.total = plan.end * spe
                    bar.refresh()
    finally:
        bar.close()
    final = (ema if ema is not None else model).cpu().eval()
    summary = {"epochs_planned": config.epochs, "epochs_done": len(history), "steps": step, "steps_per_epoch": spe,
               "seconds": round(time.perf_counter() - start, 3), "stopped": stopped, "ema": ema is not None,
               "final_loss": history[-1]["loss"] if history else None, "history": history,
               "num_videos": n, "config": asdict(config)}
    return final, summary


# ------------------------------------------------------------------------------------------------
# inference


@torch.no_grad()
def detect(model: ActionFormer, dataset: TALDataset, post: PostConfig = PostConfig(), *, batch_size: int = 1,
           device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Predictions of every video of ``dataset`` in the ActivityNet challenge format (module docstring)."""
    from tqdm.auto import tqdm

    check_features(model, dataset)
    classes = list(dataset.classes)
    dev = torch.device(device)
    model = model.to(dev).eval()
    order = sorted(range(len(dataset)), key=lambda i: dataset.items[i].num_features)
    results: dict[str, list[dict]] = {}
    bar = tqdm(total=len(order), desc="tal detect", unit="video", file=sys.stderr, dynamic_ncols=True,
               disable=None if progress else True)
    try:
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            items = [{"video_id": dataset.items[i].video_id, "feats": torch.from_numpy(dataset.features(i)),
                      "segments": torch.zeros(0, 2), "labels": torch.zeros(0, dtype=torch.long)} for i in idx]
            batch = collate(items, model.config.divisor)
            out = model(batch["feats"].to(dev), batch["mask"].to(dev))
            for k, i in enumerate(idx):
                it = dataset.items[i]
                segs, scores, labels = candidates(out, k, post.pre_nms_thresh, post.pre_nms_topk, post.duration_thresh)
                segs, scores, labels = batched_nms(segs.cpu().numpy(), scores.cpu().numpy(), labels.cpu().numpy(),
                                                   post)
                secs = np.clip(it.grid.to_seconds(segs).reshape(-1, 2), 0.0, it.duration)
                results[it.video_id] = [{"label": classes[int(c)], "score": float(s),
                                         "segment": [round(float(a), 6), round(float(e), 6)]}
                                        for (a, e), s, c in zip(secs, scores, labels)]
            bar.update(len(idx))
    finally:
        bar.close()
    order_ids = [it.video_id for it in dataset.items]
    return {"version": "VERSION 1.3", "results": {v: results[v] for v in order_ids},
            "external_data": {"used": False, "details": "vidlab ActionFormer on precomputed clip features"}}


def evaluate(model: ActionFormer, dataset: TALDataset, groundtruth: Any, subset: str | None,
             post: PostConfig = PostConfig(), *, batch_size: int = 1, device: str | torch.device = "cpu",
             progress: bool = True) -> tuple[dict, dict]:
    """Detect on ``dataset`` and score with :mod:`vidlab.localize.metrics` (ActivityNet rules) at the
    THUMOS'14 tIoUs 0.3:0.7 and the ActivityNet ones 0.5:0.95: ``(scores, predictions)``.

    ``groundtruth``: the ActivityNet json (path or dict) or a THUMOS'14 annotation folder. Videos of
    the subset without features have no predictions: their instances count as missed (a warning
    says how many).
    """
    from vidlab.localize import metrics

    preds = detect(model, dataset, post, batch_size=batch_size, device=device, progress=progress)
    source = metrics.read_thumos14(groundtruth) if isinstance(groundtruth, (str, Path)) and Path(
        groundtruth).is_dir() else groundtruth
    gt = metrics.load_groundtruth(source, subset)
    out: dict[str, Any] = {"subset": subset, "num_videos": len(dataset), "num_groundtruth_videos": len(gt.videos),
                           "num_predictions": sum(len(v) for v in preds["results"].values())}
    warnings: list[str] = []
    if dataset.missing:
        warnings.append(f"{len(dataset.missing)} video(s) of subset {subset!r} have no features (e.g. "
                        f"{dataset.missing[0]!r}): their instances count as missed")
    for name, tiou in (("0.3:0.7", metrics.THUMOS14_TIOU), ("0.5:0.95", metrics.ACTIVITYNET_TIOU)):
        res = metrics.evaluate_detection(gt, preds, tiou_thresholds=tiou, unknown_labels="ignore")
        out[f"tiou_{name}"] = {"tiou": [round(t, 6) for t in res.tiou_thresholds], "mAP": res.mAP.tolist(),
                               "average_mAP": res.average_mAP}
        warnings += [w for w in res.warnings if w not in warnings]
        if name == "0.5:0.95":
            out["per_class_ap@0.5"] = {c: float(res.ap[0, i]) for i, c in enumerate(res.classes)}
    out["mAP@0.5"] = out["tiou_0.5:0.95"]["mAP"][0]
    out["average_mAP_0.3:0.7"] = out["tiou_0.3:0.7"]["average_mAP"]
    out["average_mAP_0.5:0.95"] = out["tiou_0.5:0.95"]["average_mAP"]
    out["warnings"] = warnings
    return out, preds


# ------------------------------------------------------------------------------------------------
# checkpoints


def check_features(model: ActionFormer, dataset: TALDataset) -> None:
    """One error line when the features do not fit the model (dimension, classes)."""
    meta = getattr(model, "meta", {}) or {}
    where = f"checkpoint {meta['path']}" if meta.get("path") else "the model"
    if dataset.feature_dim != model.config.input_dim:
        raise DataError(f"{dataset.folder}: features are {dataset.feature_dim}-d, {where} takes "
                        f"{model.config.input_dim}-d features (extract them with the model it was trained on)")
    if len(dataset.classes) != model.config.num_classes:
        raise DataError(f"{where} has {model.config.num_classes} classes, the dataset {len(dataset.classes)}")


def feature_notes(model: ActionFormer, dataset: TALDataset) -> list[str]:
    """Notes when the features were made otherwise than the checkpoint's training features (another
    window, stride or extraction model): the grid is still read from each json, but the localizer
    learned on other inputs."""
    trained = (getattr(model, "meta", {}) or {}).get("features") or {}
    now = dataset.items[0].meta
    notes = []
    for key in ("window", "stride"):
        a, b = (trained.get(key) or {}).get("seconds"), (now.get(key) or {}).get("seconds")
        if a is not None and b is not None and abs(a - b) > 1e-9:
            notes.append(f"the features' {key} is {b:g} s, the checkpoint was trained on {a:g} s")
    a, b = (trained.get("model") or {}), (now.get("model") or {})
    if a.get("sha256") and b.get("sha256") and a["sha256"] != b["sha256"]:
        notes.append(f"the features come from another extraction model ({b.get('arch')}, sha256 "
                     f"{b['sha256'][:12]}) than the checkpoint's training features ({a.get('arch')}, "
                     f"{a['sha256'][:12]})")
    return notes


def features_info(dataset: TALDataset) -> dict:
    """What a checkpoint records about its training features: dimension, the first video's grid and
    extraction settings (fps, window, stride, preset, model)."""
    first = dataset.items[0]
    return {"feature_dim": dataset.feature_dim, "grid": asdict(first.grid), **first.meta}


def save_checkpoint(out_dir: str | Path, model: ActionFormer, classes: Sequence[str], *,
                    features: Mapping | None = None, training: Mapping | None = None,
                    post: PostConfig = PostConfig(), extra: Mapping | None = None) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/model.json`` (atomic, json last); returns ``out_dir``."""
    from safetensors.torch import save as st_save

    from vidlab import __version__
    from vidlab.models.checkpoint import atomic_write_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if len(classes) != model.config.num_classes:
        raise VidlabError(f"{len(classes)} class names for a model of {model.config.num_classes} classes")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = st_save(state, metadata={"format": CHECKPOINT_FORMAT})
    doc = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "arch": "actionformer",
           "model": model.config.to_dict(), "classes": list(classes), "features": dict(features or {}),
           "training": dict(training or {}), "inference": asdict(post), "weights": WEIGHTS_FILE,
           "weights_sha256": hashlib.sha256(data).hexdigest(), "vidlab_version": __version__, **dict(extra or {})}
    (out / SIDECAR_FILE).unlink(missing_ok=True)  # the json marks a finished checkpoint: never beside other weights
    atomic_write_bytes(out / WEIGHTS_FILE, data)
    atomic_write_bytes(out / SIDECAR_FILE, (json.dumps(doc, indent=1, default=_json_default) + "\n").encode())
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, (np.ndarray, torch.Tensor)):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_checkpoint(path: str | Path) -> ActionFormer:
    """An ActionFormer from a checkpoint folder (or its ``model.json`` / ``model.safetensors``), in eval
    mode; ``model.meta`` holds the sidecar (plus ``path``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    folder = p if p.is_dir() or not p.suffix else p.parent
    js, weights = folder / SIDECAR_FILE, folder / WEIGHTS_FILE
    if not folder.exists():
        raise VidlabError(f"{folder}: checkpoint not found")
    if not js.exists():
        raise VidlabError(f"{folder}: not an ActionFormer checkpoint (no {SIDECAR_FILE}; `vidlab tal train --out` "
                          "writes one)")
    try:
        doc = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VidlabError(f"{js}: cannot read the checkpoint description ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise VidlabError(f"{js}: not an ActionFormer checkpoint (format {doc.get('format') if isinstance(doc, dict) else None!r}"
                          f", expected {CHECKPOINT_FORMAT!r}); video classifiers are run with `vidlab classify`")
    if int(doc.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise VidlabError(f"{js}: checkpoint format {doc['format_version']} is newer than this vidlab reads "
                          f"({CHECKPOINT_VERSION})")
    try:
        config = ActionFormerConfig.from_dict(doc["model"])
        model = ActionFormer(config)
        state = load_file(str(weights))
        model.load_state_dict(state)
    except FileNotFoundError:
        raise VidlabError(f"{weights}: the checkpoint's weights are missing") from None
    except (SafetensorError, OSError) as e:
        raise VidlabError(f"{weights}: cannot read the weights ({e})") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        text = " ".join(str(e).split())[:200]
        raise VidlabError(f"{folder}: the weights do not match the model described in {SIDECAR_FILE} ({text})") from None
    if len(doc.get("classes") or []) != config.num_classes:
        raise VidlabError(f"{js}: {len(doc.get('classes') or [])} class names for {config.num_classes} classes")
    model.meta = {**doc, "path": str(folder)}
    return model.eval()
