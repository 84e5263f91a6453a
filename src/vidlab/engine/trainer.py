"""The training loop and evaluation.

``Trainer(cfg).fit()`` trains a registered architecture on video lists with
SGD (or AdamW), warmup + cosine (or step) learning rate, optional gradient
clipping and mixed precision, writes TensorBoard scalars and checkpoints
(``out_dir/checkpoints/last`` every epoch, ``best`` on validation top-1), and
resumes exactly with ``fit(resume=True)``: weights, optimizer, AMP scaler,
epoch, history and every RNG are restored, and data randomness is keyed by
(seed, epoch, index), so a resumed run reproduces an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from vidlab import models
from vidlab.data.datasets import VideoListDataset, read_video_list
from vidlab.data.transforms import ClipTransform
from vidlab.engine.config import Config, ConfigError, dump_config
from vidlab.engine.schedules import lr_at_epoch
from vidlab.evaluation.metrics import aggregate_views, classification_report
from vidlab.models.checkpoint import _atomic_write_bytes


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available")
    return torch.device(name)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision."""
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type == "cpu":
        raise ConfigError("train.amp=fp16 is for CUDA; use bf16 on CPU")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), np_state[2], np_state[3], np_state[4]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), py[-1]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def read_labels(path: str | None, num_classes: int | None) -> list[str]:
    if path:
        from vidlab.io import read_label_map

        return read_label_map(path)
    if num_classes is None:
        raise ConfigError("set data.labels (a label map file) or model.num_classes")
    return [str(i) for i in range(num_classes)]


class Trainer:
    """Train/evaluate one model described by a :class:`Config`."""

    def __init__(self, cfg: Config, *, log: Callable[[str], None] = _stderr):
        self.cfg = cfg
        self.log = log
        self.out_dir = Path(cfg.train.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        self.device = resolve_device(cfg.train.device)
        self.amp_dtype = resolve_amp(cfg.train.amp, self.device)
        self.spec = models.get_spec(cfg.model.arch)
        self.labels = read_labels(cfg.data.labels, cfg.model.num_classes)
        self.num_classes = cfg.model.num_classes or len(self.labels)
        if len(self.labels) != self.num_classes:
            raise ConfigError(f"label map has {len(self.labels)} names but model.num_classes={self.num_classes}")
        d = cfg.data
        self.num_frames = d.num_frames or self.spec.num_frames
        self.sampling_rate = d.sampling_rate or self.spec.sampling_rate
        self.crop_size = d.crop_size or self.spec.crop_size
        self.mean = tuple(d.mean or self.spec.mean)
        self.std = tuple(d.std or self.spec.std)
        self.model = models.build(cfg.model.arch, num_classes=self.num_classes, **cfg.model.kwargs)
        if cfg.model.init:
            state = models.load_state_dict(cfg.model.init)
            models.checkpoint.load_into(self.model, state, cfg.model.init)
        self.model.to(self.device)
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.history: list[dict] = []
        self.best_top1 = -1.0
        self.start_epoch = 0
        self._tb = None

    # -- data -------------------------------------------------------------
    def preprocessing(self) -> dict:
        d = self.cfg.data
        return {
            "num_frames": self.num_frames,
            "sampling_rate": self.sampling_rate,
            "target_fps": d.target_fps,
            "crop_size": self.crop_size,
            "test_scale": d.test_scale or self.crop_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def dataset(self, split: str) -> VideoListDataset:
        d = self.cfg.data
        path = getattr(d, split)
        if not path:
            raise ConfigError(f"data.{split} is not set")
        records = read_video_list(path, d.root)
        bad = [r for r in records if any(l < 0 or l >= self.num_classes for l in np.atleast_1d(r.label))]
        if bad:
            raise ConfigError(f"{path}: label {bad[0].label} of {bad[0].path} outside [0, {self.num_classes})")
        train = split == "train"
        tf = ClipTransform(
            train=train, crop_size=self.crop_size, min_scale=d.train_scale[0], max_scale=d.train_scale[1],
            test_scale=d.test_scale, flip=d.flip, mean=self.mean, std=self.std,
            spatial_crops=1 if split == "val" else d.test_crops,
        )
        return VideoListDataset(
            records, mode="train" if train else "test", num_frames=self.num_frames,
            sampling_rate=self.sampling_rate, transform=tf, target_fps=d.target_fps,
            num_views=1 if split == "val" else d.test_views, seed=self.cfg.train.seed, backend=d.backend,
        )

    def _loader(self, ds: VideoListDataset, train: bool, epoch: int = 0) -> DataLoader:
        d = self.cfg.data
        sampler = None
        if train:
            g = torch.Generator().manual_seed(self.cfg.train.seed * 100003 + epoch)
            sampler = RandomSampler(ds, generator=g)
        return DataLoader(
            ds, batch_size=d.batch_size, sampler=sampler, shuffle=False, num_workers=d.num_workers,
            drop_last=train and len(ds) > d.batch_size, persistent_workers=False,
        )

    # -- optimisation ------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        s = self.cfg.solver
        decay, no_decay = [], []
        for _name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 else decay).append(p)  # no weight decay on norms and biases
        groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if s.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0)
        return torch.optim.AdamW(groups, lr=s.lr)

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- checkpoints -------------------------------------------------------
    def save(self, tag: str, epoch: int) -> Path:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = models.save(
            self.model, self.ckpt_dir / tag, arch=self.spec.name, num_classes=self.num_classes,
            model_kwargs=self.cfg.model.kwargs, labels=self.labels, preprocessing=self.preprocessing(),
            provenance={"trained_by": "vidlab train", "epoch": epoch + 1, "config": self.cfg.to_dict()},
        )
        if tag == "last":
            state = {
                "epoch": epoch,
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "history": self.history,
                "best_top1": self.best_top1,
                "rng": _rng_state(),
            }
            import io

            buf = io.BytesIO()
            torch.save(state, buf)
            _atomic_write_bytes(self.ckpt_dir / "last.state.pt", buf.getvalue())
        return path

    def _resume(self) -> bool:
        state_path = self.ckpt_dir / "last.state.pt"
        if not state_path.exists():
            return False
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        weights = models.load_state_dict(self.ckpt_dir / "last")
        models.checkpoint.load_into(self.model, weights, str(self.ckpt_dir / "last"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.history = list(state["history"])
        self.best_top1 = float(state["best_top1"])
        self.start_epoch = int(state["epoch"]) + 1
        _set_rng_state(state["rng"])
        self.log(f"resumed from {state_path} at epoch {self.start_epoch + 1}")
        return True

    # -- loops -------------------------------------------------------------
    def fit(self, resume: bool = False) -> list[dict]:
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, self.out_dir / "config.yaml")
        if resume:
            self._resume()
        train_ds = self.dataset("train")
        val_ds = self.dataset("val") if cfg.data.val else None
        if cfg.train.tensorboard:
            self._tb = _summary_writer(self.out_dir / "tb", self.log)
        t_start = time.time()
        for epoch in range(self.start_epoch, cfg.solver.epochs):
            t0 = time.time()
            stats = self.train_epoch(train_ds, epoch)
            row = {"epoch": epoch + 1, **stats, "seconds": time.time() - t0}
            if val_ds is not None and ((epoch + 1) % cfg.train.eval_every == 0 or epoch + 1 == cfg.solver.epochs):
                res = self.evaluate_dataset(val_ds, desc=f"val {epoch + 1}")
                row["val_top1"] = res["top1"]
                row["val_loss"] = res["loss"]
            self.history.append(row)
            self._log_scalars(row, epoch + 1)
            if row.get("val_top1", -1.0) > self.best_top1 or val_ds is None:
                self.best_top1 = row.get("val_top1", self.best_top1)
                self.save("best", epoch)
            self.save("last", epoch)
            self.log(_format_row(row))
            if cfg.train.time_budget and epoch + 1 < cfg.solver.epochs and self._fit_budget(epoch, time.time() - t_start):
                break
        if self._tb is not None:
            self._tb.close()
        return self.history

    def _fit_budget(self, epoch: int, elapsed: float) -> bool:
        """Keep the run inside ``train.time_budget``: if the remaining epochs would
        not fit at the pace so far, shorten the schedule (the learning rate still
        decays to its end) or, when the budget is already spent, stop. True = stop."""
        cfg = self.cfg
        budget = cfg.train.time_budget
        done = epoch + 1 - self.start_epoch
        per_epoch = elapsed / max(done, 1)
        if elapsed >= budget:
            self.log(f"time budget of {budget:.0f}s spent after epoch {epoch + 1}; stopping")
            return True
        fits = epoch + 1 + int((budget - elapsed) // per_epoch)
        if fits < cfg.solver.epochs:
            self.log(f"time budget of {budget:.0f}s: {per_epoch:.1f}s per epoch, shortening the schedule "
                     f"from {cfg.solver.epochs} to {max(fits, epoch + 2)} epochs")
            cfg.solver.epochs = max(fits, epoch + 2)
        return False

    def train_epoch(self, ds: VideoListDataset, epoch: int) -> dict:
        from tqdm.auto import tqdm

        cfg = self.cfg
        ds.set_epoch(epoch)
        loader = self._loader(ds, train=True, epoch=epoch)
        self.model.train()
        n_iter = len(loader)
        total_loss, total_correct, total_seen = 0.0, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.solver.epochs}", disable=not cfg.train.progress,
                   leave=False, file=sys.stderr, dynamic_ncols=True)
        lr = cfg.solver.lr
        for it, (clips, labels, _) in enumerate(bar):
            lr = lr_at_epoch(cfg.solver, epoch + it / n_iter)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            clips, labels = clips.to(self.device, non_blocking=True), labels.to(self.device)
            with self._autocast():
                logits = self.model(clips)
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.solver.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch + 1} iteration {it}; lower solver.lr")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.solver.clip_grad:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.solver.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            b = labels.shape[0]
            total_loss += loss.item() * b
            total_correct += int((logits.argmax(1) == labels).sum())
            total_seen += b
            bar.set_postfix(loss=f"{total_loss / total_seen:.3f}", lr=f"{lr:.4f}")
        return {"train_loss": total_loss / max(total_seen, 1), "train_top1": total_correct / max(total_seen, 1), "lr": lr}

    @torch.no_grad()
    def predict(self, ds: VideoListDataset, desc: str = "eval") -> tuple[torch.Tensor, np.ndarray]:
        """Per-view logits ``(N, V, C)`` and labels, in dataset order."""
        return predict(self.model, self._loader(ds, train=False), self.device, self.amp_dtype,
                       desc=desc, progress=self.cfg.train.progress)

    def evaluate_dataset(self, ds: VideoListDataset, desc: str = "eval") -> dict:
        view_logits, labels = self.predict(ds, desc)
        video_scores = aggregate_views(view_logits)
        report = classification_report(video_scores, labels, self.num_classes, view_scores=view_logits)
        report["loss"] = float(F.nll_loss(video_scores.clamp_min(1e-12).log(), torch.as_tensor(labels)))
        report["scores"] = video_scores
        report["labels"] = labels
        return report

    def evaluate(self, split: str = "test") -> dict:
        return self.evaluate_dataset(self.dataset(split), desc=split)

    def _log_scalars(self, row: dict, step: int) -> None:
        if self._tb is None:
            return
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self._tb.add_scalar(key.replace("_", "/", 1), value, step)
        self._tb.flush()


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device, amp_dtype=None, *, desc="eval", progress=True):
    from tqdm.auto import tqdm

    model.eval()
    outs, labels = [], []
    for views, y, _ in tqdm(loader, desc=desc, disable=not progress, leave=False, file=sys.stderr, dynamic_ncols=True):
        b, v = views.shape[:2]
        x = views.flatten(0, 1).to(device)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with ctx:
            logits = model(x).float()
        outs.append(logits.view(b, v, -1).cpu())
        labels.append(y.numpy())
    return torch.cat(outs), np.concatenate(labels)


def _summary_writer(path: Path, log):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as e:  # tensorboard is optional at run time
        log(f"tensorboard unavailable ({e}); scalars not written")
        return None
    return SummaryWriter(str(path))


def _format_row(row: dict) -> str:
    parts = [f"epoch {row['epoch']}"]
    for key in ("train_loss", "train_top1", "val_top1", "lr", "seconds"):
        if key in row:
            parts.append(f"{key} {row[key]:.4g}")
    return "  ".join(parts)
