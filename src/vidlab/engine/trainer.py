"""The training loop and evaluation.

``Trainer(cfg).fit()`` trains a registered architecture on video lists with
SGD (or AdamW), warmup + cosine (or step) learning rate, gradient clipping
and accumulation, mixed precision, optional EMA weights and precise BN,
the transformer recipe (layer-wise lr decay and weight-decay exemptions,
:mod:`vidlab.engine.param_groups`; mixup/CutMix, :mod:`vidlab.data.mix`;
RandAugment and random erasing, :mod:`vidlab.data.video_augment`),
multigrid shapes, on one process or many (torchrun + DDP, see
:mod:`vidlab.engine.distributed`). It writes TensorBoard scalars, user-facing
checkpoints (``checkpoints/last`` every epoch, ``best`` on validation top-1)
and crash-safe resume points (:mod:`vidlab.engine.resume`) at every epoch
end, every ``train.checkpoint_every`` steps and on SIGTERM.

``fit(resume=True)`` continues exactly: weights, optimizer, AMP scaler, the
position inside the epoch, history and every process's RNG are restored, and
data randomness is keyed by (seed, epoch, clip index) while batches are cut
from a seeded global order (:mod:`vidlab.engine.sampler`), so a resumed run
reproduces an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vidlab import models
from vidlab.data.datasets import make_dataset
from vidlab.data.datasets.protocol import TrainDataset
from vidlab.data.datasets.registry import SnippetOptions, dataset_classes
from vidlab.data.datasets.registry import has_split as format_has_split
from vidlab.data.mix import VideoMix, soft_cross_entropy
from vidlab.engine import distributed as dist
from vidlab.engine import transfer
from vidlab.engine.bn import precise_bn, set_bn_group
from vidlab.engine.budget import BudgetSchedule, epoch_pace
from vidlab.engine.config import Config, ConfigError, DataCfg, dump_config
from vidlab.engine.conv_pad import pad_time_explicitly
from vidlab.engine.multigrid import MultigridPlan
from vidlab.engine.param_groups import LayerDecayError, param_groups
from vidlab.engine.resume import ResumeStore
from vidlab.engine.sampler import GlobalBatchSampler, ShardSampler
from vidlab.engine.schedules import lr_at_epoch
from vidlab.errors import DataError
from vidlab.evaluation.metrics import aggregate_views, classification_report, row_normalised


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


def dataset_options(d: DataCfg, split: str) -> dict[str, Any]:
    """The :func:`~vidlab.data.datasets.make_dataset` arguments that ``data.*`` sets for ``split``
    (the clip shape, normalisation, classes and seed come from the :class:`Trainer`, which
    fills in the model's defaults). ``data.cache: memory`` caches the training split only."""
    snippets = None
    if d.modality:
        snippets = SnippetOptions(d.modality, num_segments=d.num_segments, test_segments=d.test_segments,
                                  new_length=d.new_length, rgb_length=d.rgb_length, flow_method=d.flow_method,
                                  flow_scale=d.flow_scale, out_of_bound=d.out_of_bound)
    cache = split == "train" and d.cache == "memory"
    return {"format": d.format or "video_list", "list_file": getattr(d, split), "annotations": d.annotations,
            "fold": d.split or 1, "root": d.root, "train_scale": tuple(d.train_scale), "test_scale": d.test_scale,
            "flip": d.flip, "test_views": d.test_views, "test_crops": d.test_crops, "target_fps": d.target_fps,
            "backend": d.backend, "min_frames": d.min_frames,
            "cache_bytes": int(float(d.cache_mb) * 2**20) if cache else None, "snippets": snippets,
            "robust": d.robust is not False, "rand_augment": d.rand_augment, "random_erasing": d.random_erasing,
            "random_erasing_mode": d.random_erasing_mode}


class TrainingInterrupted(RuntimeError):
    """SIGTERM arrived; a resume point was written before stopping."""


class ShapedDataset(torch.utils.data.Dataset):
    """Serves items requested as ``(index, num_frames, crop, sampling_rate)`` (multigrid)
    by a copy of the dataset in that shape (:meth:`TrainDataset.with_shape`, made once per
    shape); plain ints pass through.

    With ``random_rate`` (PySlowFast's long cycle), a shape whose sampling rate is
    above the dataset's own makes each clip draw its rate between the two
    (:func:`vidlab.data.sampling.draw_sampling_rate`); otherwise every clip takes it.
    ``default_crop`` is accepted for existing callers: datasets scale their jitter from their own crop."""

    def __init__(self, ds: TrainDataset, default_crop: int | None = None, random_rate: bool = False):
        self.ds = ds
        self.random_rate = random_rate
        self._variants: dict[tuple[int, int, int], TrainDataset] = {}

    def __len__(self) -> int:
        return len(self.ds)

    def variant(self, t: int, s: int, tau: int) -> TrainDataset:
        key = (t, s, tau)
        if key not in self._variants:
            self._variants[key] = self.ds.with_shape(t, s, tau, self.random_rate)
        return self._variants[key]

    def __getitem__(self, item):
        if isinstance(item, tuple):
            index, t, s, tau = item
            return self.variant(t, s, tau)[index]
        return self.ds[item]


class Trainer:
    """Train/evaluate one model described by a :class:`Config`.

    Started by ``torchrun`` (``WORLD_SIZE > 1``) it trains with
    DistributedDataParallel: ``data.batch_size`` is the *global* batch, split
    evenly over the processes; only rank 0 writes checkpoints, logs and
    reports; evaluation is sharded and gathered.

    ``clock`` (seconds, default :func:`time.monotonic`) times epochs and ``train.time_budget``.
    """

    def __init__(self, cfg: Config, *, log: Callable[[str], None] = _stderr,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self.out_dir = Path(cfg.train.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.device = resolve_device(cfg.train.device)
        self.dist = dist.init(self.device.type, cfg.train.dist_backend)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.log = log if self.dist.is_main else (lambda m: None)
        if cfg.data.batch_size % self.dist.world_size:
            raise ConfigError(f"data.batch_size={cfg.data.batch_size} is the global batch: it must divide evenly "
                              f"over {self.dist.world_size} processes")
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        self.amp_dtype = resolve_amp(cfg.train.amp, self.device)
        self.spec = models.get_spec(cfg.model.arch)
        d = cfg.data
        # benchmark formats name their classes (the annotations, or a split's file in their place)
        classes = None if d.labels else dataset_classes(d.format, d.annotations or d.train or d.val or d.test, d.split)
        self.labels = classes if classes is not None else read_labels(cfg.data.labels, cfg.model.num_classes)
        self.num_classes = cfg.model.num_classes or len(self.labels)
        if len(self.labels) != self.num_classes:
            raise ConfigError(f"label map has {len(self.labels)} names but model.num_classes={self.num_classes}")
        d = cfg.data
        self.num_frames = d.num_frames or self.spec.num_frames
        self.sampling_rate = d.sampling_rate or self.spec.sampling_rate
        self.crop_size = d.crop_size or self.spec.crop_size
        self.mean = tuple(d.mean or self.spec.mean)
        self.std = tuple(d.std or self.spec.std)
        # identical initial weights on every process (DDP also broadcasts rank 0's)
        self.model = models.build(cfg.model.arch, num_classes=self.num_classes, **cfg.model.kwargs)
        if cfg.model.init:
            state = models.load_state_dict(cfg.model.init)
            state, _ = transfer.init_state(self.model, state, cfg.model.init_head, self.log)
            models.checkpoint.load_into(self.model, state, cfg.model.init)
        frozen = transfer.freeze(self.model, cfg.model.freeze)
        if frozen:
            trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
            self.log(f"model.freeze={cfg.model.freeze}: {len(frozen)} parameter tensors frozen, "
                     f"{trainable:,} parameters trained")
        self._frozen_norms = transfer.frozen_norms(self.model)
        self.local_batch = cfg.data.batch_size // self.dist.world_size
        if d.modality:  # snippet models fix their stack length: the data follows it
            model_len = getattr(self.model, "new_length", None)
            if d.modality != "rgb" and model_len is not None:
                if d.new_length is not None and d.new_length != model_len:
                    raise ConfigError(f"data.new_length={d.new_length}, but {cfg.model.arch} stacks {model_len}")
                d.new_length = model_len
        self.multigrid = self._multigrid_plan()
        self.last_validation: dict | None = None  # the latest validation report (the training report uses it)
        bn_group = cfg.train.bn_batch
        if bn_group is None and self.multigrid is not None:
            bn_group = self.local_batch  # multigrid keeps the BN batch of the default shape
        if bn_group:
            set_bn_group(self.model, bn_group)
        if self.device.type == "cpu":  # the same function; oneDNN's fast kernels for clips shorter than a kernel
            pad_time_explicitly(self.model)
        self.model.to(self.device)
        if cfg.train.sync_bn and self.dist.enabled:
            if self.device.type != "cuda":
                raise ConfigError("train.sync_bn needs CUDA; on CPU use train.bn_batch (fixed BN groups)")
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.net = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # BN running statistics stay per process and are averaged when used
            # (sync_bn_buffers): averaging per-process moving averages equals the
            # moving average of the averaged batch statistics, which is what one
            # process with the same BN groups computes.
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids, broadcast_buffers=False)
        # every process its own stream for dropout and the like
        torch.manual_seed(cfg.train.seed * 1000003 + self.dist.rank)
        self.optimizer = self._make_optimizer()
        self.mix = None  # mixup / CutMix of training batches (data.mixup_alpha, data.cutmix_alpha)
        if d.mixup_alpha > 0 or d.cutmix_alpha > 0:
            self.mix = VideoMix(self.num_classes, mixup_alpha=d.mixup_alpha, cutmix_alpha=d.cutmix_alpha,
                                mix_prob=d.mix_prob, switch_prob=d.mix_switch_prob,
                                label_smoothing=cfg.solver.label_smoothing)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ema = None
        if cfg.train.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema), use_buffers=True)
        self.store = ResumeStore(self.ckpt_dir / "resume", keep=cfg.train.keep_resume)
        self.history: list[dict] = []
        self.best_top1 = -1.0
        self.start_epoch = 0
        self.schedule = BudgetSchedule(cfg.solver.epochs)  # train.time_budget re-plans it
        self._t_start: float | None = None  # clock at the start of training, less the time before a resume
        self._elapsed_before = 0.0  # training seconds of the run before it was resumed
        self.start_batch = 0
        self.global_step = 0
        self._epoch_acc = (0.0, 0, 0)
        self._step_seconds: list[float] = []  # optimizer steps of the current epoch, in seconds
        self._steps_per_epoch = 0
        self._tb = None
        self._stop = False

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

    def has_split(self, split: str) -> bool:
        d = self.cfg.data
        if getattr(d, split):
            return True
        if d.format == "video_list" or not d.annotations:
            return False
        try:
            return format_has_split(d.format, d.annotations or getattr(d, split), split, d.split)
        except DataError as e:
            raise ConfigError(str(e)) from None

    def dataset(self, split: str):
        """The split's dataset for ``data.format`` (see :func:`vidlab.data.datasets.make_dataset`).

        Unless ``data.robust`` is false, unreadable or too-short training videos are
        replaced by other clips and listed in ``bad_files.json``; in evaluation they
        are left out of the score (and listed)."""
        d = self.cfg.data
        if not getattr(d, split) and not (d.annotations and d.format != "video_list"):
            raise ConfigError(f"data.{split} is not set")
        try:
            return make_dataset(split, **dataset_options(d, split), num_classes=self.num_classes,
                                num_frames=self.num_frames, sampling_rate=self.sampling_rate,
                                crop_size=self.crop_size, mean=self.mean, std=self.std, seed=self.cfg.train.seed,
                                log_dir=self.out_dir / "bad_files")
        except DataError as e:
            raise ConfigError(str(e)) from None

    def _fill_frame_cache(self, ds: TrainDataset) -> None:
        """``data.cache: memory``: decode the training videos into the cache in this process before
        training starts. Loader workers (forked every epoch) then share it instead of each filling
        a cache of its own that dies with it at the epoch's end, and the first epoch takes as long
        as the others, so ``train.time_budget`` judges the pace from a representative epoch."""
        t0 = self.clock()
        filled = ds.fill_cache(progress=self.cfg.train.progress and self.dist.is_main)
        if filled is not None:
            self.log(f"data.cache: {filled}, {self.clock() - t0:.1f}s")

    def _train_loader(self, ds: TrainDataset, epoch: int, start_batch: int) -> DataLoader:
        shapes = None
        if self.multigrid is not None:
            plan = self.multigrid
            shapes = lambda i: plan.batch_shape(epoch, i)  # noqa: E731
        sampler = GlobalBatchSampler(
            len(ds), self.cfg.data.batch_size, epoch=epoch, seed=self.cfg.train.seed,
            world_size=self.dist.world_size, rank=self.dist.rank, start_batch=start_batch, shapes=shapes,
            drop_last=len(ds) >= self.cfg.data.batch_size,
        )
        random_rate = self.multigrid is not None and self.cfg.multigrid.random_sampling_rate
        return DataLoader(ShapedDataset(ds, random_rate=random_rate), batch_sampler=sampler,
                          num_workers=self.cfg.data.num_workers, generator=torch.Generator().manual_seed(0))

    def _eval_loader(self, ds) -> DataLoader:
        sampler = ShardSampler(len(ds), self.local_batch, self.dist.world_size, self.dist.rank)
        return DataLoader(ds, batch_sampler=sampler, num_workers=self.cfg.data.num_workers,
                          generator=torch.Generator().manual_seed(0))

    def _multigrid_plan(self) -> MultigridPlan | None:
        mg = self.cfg.multigrid
        if not (mg.long_cycle or mg.short_cycle):
            return None
        s = self.cfg.solver
        plan = MultigridPlan(
            steps=s.steps if mg.long_cycle else [s.epochs], max_epoch=s.epochs, gamma=s.gamma,
            num_frames=self.num_frames, crop_size=self.crop_size, sampling_rate=self.sampling_rate,
            batch_size=self.cfg.data.batch_size,
            long_factors=mg.long_cycle_factors if mg.long_cycle else [[1.0, 1.0]],
            short_cycle=mg.short_cycle, short_factors=mg.short_cycle_factors,
            epoch_factor=mg.epoch_factor if mg.long_cycle else 1.0,
        )
        return plan

    # -- optimisation ------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        """SGD/AdamW over :func:`~vidlab.engine.param_groups.param_groups` (by default: no weight
        decay on norms and biases; with ``solver.layer_decay``, one group per layer with its
        ``lr_scale``)."""
        s = self.cfg.solver
        try:
            groups = param_groups(self.model, s.weight_decay, s.layer_decay, zero_wd_1d=s.zero_wd_1d,
                                  zero_wd_pos=s.zero_wd_pos)
        except LayerDecayError as e:
            raise ConfigError(f"{e} (model.arch={self.cfg.model.arch})") from None
        groups = transfer.scale_backbone_lr(groups, self.model, s.backbone_lr_scale)
        if s.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0)
        return torch.optim.AdamW(groups, lr=s.lr)

    def lr_at(self, epoch: float) -> float:
        s = self.cfg.solver
        if self.multigrid is not None and self.cfg.multigrid.long_cycle:
            if epoch < s.warmup_epochs:
                end = s.lr * self.multigrid.lr_multiplier(s.warmup_epochs)
                return s.warmup_start_lr + (end - s.warmup_start_lr) * epoch / s.warmup_epochs
            return s.lr * self.multigrid.lr_multiplier(epoch)
        return lr_at_epoch(s, min(self.schedule.position(epoch), s.epochs))  # past its end it stays there

    @property
    def total_epochs(self) -> int:
        if self.multigrid is not None and self.cfg.multigrid.long_cycle:
            return self.multigrid.max_epoch
        return self.schedule.end

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- checkpoints -------------------------------------------------------
    def save(self, tag: str, epoch: int) -> Path | None:
        """A user-facing vidlab checkpoint (rank 0 only): ``checkpoints/<tag>``."""
        if not self.dist.is_main:
            return None
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        return models.save(
            self.model, self.ckpt_dir / tag, arch=self.spec.name, num_classes=self.num_classes,
            model_kwargs=self.cfg.model.kwargs, labels=self.labels, preprocessing=self.preprocessing(),
            provenance={"trained_by": "vidlab train", "epoch": epoch + 1, "config": self.cfg.to_dict()},
        )

    def sync_bn_buffers(self) -> None:
        """Average BN running statistics over processes (collective; no-op on one)."""
        if not dist.active():
            return
        world = torch.distributed.get_world_size()
        for m in self.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                for buf in (m.running_mean, m.running_var):
                    dist.all_reduce_sum(buf)
                    buf /= world

    def save_resume(self, epoch: int, batch: int) -> None:
        """A resume point after ``batch`` global batches of ``epoch`` (collective: every rank calls it)."""
        self.sync_bn_buffers()
        rngs = dist.all_gather_objects(_rng_state())
        if self.dist.is_main:
            state = {
                "epoch": epoch, "batch": batch, "global_step": self.global_step,
                "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "history": self.history, "best_top1": self.best_top1, "epoch_acc": list(self._epoch_acc),
                "rng": rngs, "world_size": self.dist.world_size, "schedule": self.schedule.state_dict(),
                "elapsed": self._elapsed_before if self._t_start is None else self.clock() - self._t_start,
            }
            if self.ema is not None:
                state["ema"] = self.ema.state_dict()
            self.store.save(f"e{epoch:04d}-b{batch:06d}", self.model.state_dict(), state)
        dist.barrier()

    def _resume(self) -> bool:
        point = self.store.latest()
        if point is None:
            self.log(f"nothing to resume in {self.store.root}; starting from scratch")
            return False
        weights, state = self.store.load(point)
        models.checkpoint.load_into(self.model, weights, str(point))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        self.history = list(state["history"])
        self.best_top1 = float(state["best_top1"])
        self.start_epoch, self.start_batch = int(state["epoch"]), int(state["batch"])
        self.global_step = int(state["global_step"])
        if "schedule" in state:
            saved = BudgetSchedule.from_state(state["schedule"])
            if saved.planned == self.cfg.solver.epochs:
                self.schedule = saved
            else:  # as PySlowFast's MAX_EPOCH: a resumed run follows the config's (longer or shorter) schedule
                self.log(f"solver.epochs is {self.cfg.solver.epochs} now, {saved.planned} in the run resumed: "
                         f"the learning rate follows the new schedule from epoch {self.start_epoch + 1}")
        self._elapsed_before = float(state.get("elapsed", 0.0))  # train.time_budget counts the whole run
        acc = state["epoch_acc"]
        self._epoch_acc = (float(acc[0]), int(acc[1]), int(acc[2]))
        rngs = state["rng"]
        if int(state["world_size"]) == self.dist.world_size:
            _set_rng_state(rngs[self.dist.rank])
        else:  # another world size: the per-process streams cannot continue; reseed them
            self.log(f"resuming {state['world_size']} processes' run on {self.dist.world_size}: "
                     "data order is kept, per-process random streams are reseeded")
            torch.manual_seed(self.cfg.train.seed * 1000003 + self.dist.rank + 7919 * (self.start_epoch + 1))
        if self.dist.is_main and self.cfg.train.log_steps:
            _truncate_steps(self.out_dir / "steps.jsonl", self.global_step)
        self.log(f"resumed from {point} (epoch {self.start_epoch + 1}, batch {self.start_batch})")
        return True

    # -- loops -------------------------------------------------------------
    def fit(self, resume: bool = False) -> list[dict]:
        cfg = self.cfg
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            dump_config(cfg, self.out_dir / "config.yaml")
        dist.barrier()
        if resume:
            self._resume()
        if self.multigrid is not None:
            for line in self.multigrid.describe():
                self.log("multigrid: " + line)
        # train.time_budget counts from here: filling the frame cache is part of the run's time
        t_start = self._t_start = self.clock() - self._elapsed_before
        train_ds = self.dataset("train")
        self._fill_frame_cache(train_ds)
        val_ds = self.dataset("val") if self.has_split("val") else None
        if cfg.train.tensorboard and self.dist.is_main:
            self._tb = _summary_writer(self.out_dir / "tb", self.log)
        old_handler = _install_sigterm(self)
        epoch = self.start_epoch
        try:
            while epoch < self.total_epochs:  # not a range: train.time_budget may shorten the schedule
                t0 = self.clock()
                start_batch = self.start_batch if epoch == self.start_epoch else 0
                stats = self.train_epoch(train_ds, epoch, start_batch)
                if stats is None:  # SIGTERM: a resume point was written
                    raise TrainingInterrupted(f"stopped by SIGTERM; resume with --resume from {self.store.root}")
                row = {"epoch": epoch + 1, **stats, "seconds": self.clock() - t0}
                if cfg.train.precise_bn:
                    precise_bn(self.model, iter(self._train_loader(train_ds, epoch + 10_000, 0)),
                               cfg.train.precise_bn, self.device)
                self.sync_bn_buffers()
                last = epoch + 1 == self.total_epochs
                if val_ds is not None and ((epoch + 1) % cfg.train.eval_every == 0 or last):
                    res = self.evaluate_dataset(val_ds, desc=f"val {epoch + 1}")
                    row["val_top1"] = res["top1"]
                    row["val_loss"] = res["loss"]
                    row["val_mean_class_accuracy"] = res["mean_class_accuracy"]
                    self._log_validation(res, epoch + 1)
                    self.last_validation = res
                self.history.append(row)
                self._log_scalars(row, epoch + 1)
                if row.get("val_top1", -1.0) > self.best_top1 or val_ds is None:
                    self.best_top1 = row.get("val_top1", self.best_top1)
                    self.save("best", epoch)
                self.save("last", epoch)
                if self.ema is not None and self.dist.is_main:
                    models.save(self.ema.module, self.ckpt_dir / "ema", arch=self.spec.name,
                                num_classes=self.num_classes, model_kwargs=cfg.model.kwargs, labels=self.labels,
                                preprocessing=self.preprocessing())
                self._epoch_acc = (0.0, 0, 0)
                self.log(_format_row(row))
                stop = False
                if cfg.train.time_budget and not last:
                    now = self.clock()
                    stop = self._fit_budget(epoch, now - t_start, now - t0) if self.dist.is_main else False
                    stop, plan = dist.broadcast_object((stop, self.schedule.state_dict()))
                    self.schedule = BudgetSchedule.from_state(plan)
                self.save_resume(epoch + 1, 0)  # after the budget: a resumed run keeps the re-planned schedule
                if stop:
                    break
                epoch += 1
        finally:
            _restore_sigterm(old_handler)
            if self._tb is not None:
                self._tb.close()
        return self.history

    def _fit_budget(self, epoch: int, elapsed: float, last_epoch: float | None = None) -> bool:
        """Keep the run inside ``train.time_budget``: re-plan the epochs that fit at the measured
        pace (:class:`vidlab.engine.budget.BudgetSchedule`: fewer or, if the machine got faster,
        more again, up to ``solver.epochs``; the learning rate still decays to its end and never
        rises) or, when the budget is already spent, stop. True = stop."""
        cfg = self.cfg
        budget = cfg.train.time_budget
        mean_epoch = elapsed / max(epoch + 1 - self.start_epoch, 1)
        per_epoch = max(self._epoch_pace(mean_epoch if last_epoch is None else last_epoch), 1e-6)
        if elapsed >= budget:
            self.log(f"time budget of {budget:.0f}s spent after epoch {epoch + 1}; stopping")
            return True  # the plan is left as it was: a resumed run (a new budget) goes on from here
        if self.multigrid is not None:
            return False
        before = self.schedule.end
        after = self.schedule.replan(epoch + 1, budget - elapsed, per_epoch)
        if after != before:
            self.log(f"time budget of {budget:.0f}s: {per_epoch:.1f}s per epoch, the run now ends after "
                     f"epoch {after} instead of {before} (the schedule's {self.schedule.planned} epochs "
                     "are spread over them)")
        return False

    def _epoch_pace(self, last_epoch: float) -> float:
        """Seconds the next epoch should take (:func:`vidlab.engine.budget.epoch_pace`;
        ``last_epoch``: the last one's, evaluation and checkpoints included)."""
        return epoch_pace(last_epoch, self._step_seconds, self._steps_per_epoch)

    def train_epoch(self, ds: TrainDataset, epoch: int, start_batch: int = 0) -> dict | None:
        """One epoch (from global batch ``start_batch``); None if SIGTERM stopped it."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        ds.set_epoch(epoch)
        loader = self._train_loader(ds, epoch, start_batch)
        n_iter = loader.batch_sampler.num_batches
        self._step_seconds, self._steps_per_epoch = [], n_iter
        self.net.train()
        for m in self._frozen_norms:  # frozen layers keep their statistics
            m.eval()
        total_loss, total_correct, total_seen = self._epoch_acc
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.total_epochs}",
                   disable=not (cfg.train.progress and self.dist.is_main), leave=False, file=sys.stderr,
                   dynamic_ncols=True, initial=start_batch, total=n_iter)
        lr = cfg.solver.lr
        for it, (clips, labels, _) in enumerate(bar, start=start_batch):
            lr = self.lr_at(epoch + it / n_iter)
            for group in self.optimizer.param_groups:  # layer-wise decay scales its groups
                scale = group.get("lr_scale")
                group["lr"] = lr if scale is None else lr * scale
            t_step = self.clock()
            loss_value, correct = self._step(_to_device(clips, self.device), labels.to(self.device),
                                             epoch, it)
            self._step_seconds.append(self.clock() - t_step)
            b = labels.shape[0]
            # global figures: every process contributes its share
            stats = dist.all_reduce_sum(torch.tensor([loss_value * b, correct, b], dtype=torch.float64))
            total_loss += float(stats[0])
            total_correct += int(stats[1])
            total_seen += int(stats[2])
            self._epoch_acc = (total_loss, total_correct, total_seen)
            self.global_step += 1
            if cfg.train.log_steps and self.dist.is_main:
                _append_step(self.out_dir / "steps.jsonl", {
                    "step": self.global_step, "epoch": epoch + 1, "batch": it + 1,
                    "loss": float(stats[0] / stats[2]), "lr": lr, "batch_size": int(stats[2])})
            bar.set_postfix(loss=f"{total_loss / max(total_seen, 1):.3f}", lr=f"{lr:.4f}")
            done = it + 1
            stop = dist.broadcast_object(self._stop) if dist.active() else self._stop
            if stop or (cfg.train.checkpoint_every and done % cfg.train.checkpoint_every == 0 and done < n_iter):
                self.save_resume(epoch, done)
                if stop:
                    self.log(f"SIGTERM: resume point written at epoch {epoch + 1}, batch {done}")
                    return None
        bar.close()
        stats = {"train_loss": total_loss / max(total_seen, 1), "train_top1": total_correct / max(total_seen, 1),
                 "lr": lr}
        # a robust dataset reports its bad videos and stops past data.max_bad_fraction
        report = self.out_dir / "bad_files.json" if self.dist.is_main else None
        try:
            bad = ds.end_epoch(epoch, report=report, max_bad_fraction=cfg.data.max_bad_fraction)
        except DataError as e:
            raise ConfigError(str(e)) from None
        if bad.get("bad_files_total"):
            stats.update(bad)
            self.log(f"{bad['bad_files']} unusable training videos this epoch ({bad['bad_files_total']} so far): "
                     f"see {self.out_dir / 'bad_files.json'}")
        return stats

    def _step(self, clips, labels: torch.Tensor, epoch: int, it: int) -> tuple[float, int]:
        """Forward/backward over ``solver.accumulate`` micro-batches, then one optimizer step.

        ``clips`` is a tensor, or a list of tensors for multi-input models (two-stream ``[rgb, flow]``)."""
        cfg = self.cfg
        n = labels.shape[0]
        k = min(cfg.solver.accumulate, n)
        targets = None  # soft targets (mixup / CutMix), else the class indices are the targets
        if self.mix is not None:  # the whole per-process batch, before it is cut into micro-batches
            rng = np.random.default_rng([cfg.train.seed % 2**32, 0x6D6978, epoch, it, self.dist.rank])
            clips, targets = self.mix(clips, labels, rng)
        if isinstance(clips, (list, tuple)):
            parts = list(zip(*[c.chunk(k) for c in clips]))
            chunks = [(list(p), y) for p, y in zip(parts, labels.chunk(k))]
        else:
            chunks = list(zip(clips.chunk(k), labels.chunk(k)))
        soft = targets.chunk(k) if targets is not None else [None] * len(chunks)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, correct = 0.0, 0
        for i, ((x, y), t) in enumerate(zip(chunks, soft)):
            sync = i == len(chunks) - 1
            ctx = self.net.no_sync() if (self.dist.enabled and not sync) else nullcontext()
            with ctx:
                with self._autocast():
                    logits = self.net(x)
                    if t is None:
                        loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.solver.label_smoothing)
                    else:  # mixed batch: train top-1 counts the label with the larger share
                        loss = soft_cross_entropy(logits.float(), t)
                        y = t.argmax(1)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch + 1} iteration {it}; "
                                             "lower solver.lr")
                self.scaler.scale(loss * (y.shape[0] / n)).backward()
            loss_sum += loss.item() * y.shape[0]
            correct += int((logits.argmax(1) == y).sum())
        if cfg.solver.clip_grad:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.solver.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss_sum / n, correct

    @torch.no_grad()
    def predict(self, ds, desc: str = "eval") -> tuple[torch.Tensor, np.ndarray]:
        """Per-view logits ``(N, V, C)`` and labels in dataset order, gathered from every process."""
        model = self.ema.module if self.ema is not None else self.model
        loader = self._eval_loader(ds)
        logits, labels, index = predict(model, loader, self.device, self.amp_dtype, desc=desc,
                                        progress=self.cfg.train.progress and self.dist.is_main, with_index=True)
        if dist.active():
            mine = loader.batch_sampler.indices
            parts = dist.all_gather_objects((mine, logits, labels, index))
            order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
            logits = torch.cat([p[1] for p in parts])[order]
            labels = np.concatenate([p[2] for p in parts])[order]
            index = np.concatenate([p[3] for p in parts])[order]
        keep = index >= 0  # a robust dataset marks videos it could not read with index -1
        if not keep.all():
            self.log(f"{int((~keep).sum())} of {len(keep)} videos could not be read and are left out of the score")
            logits, labels = logits[torch.from_numpy(keep)], labels[keep]
        return logits, labels

    def evaluate_dataset(self, ds, desc: str = "eval") -> dict:
        view_logits, labels = self.predict(ds, desc)
        video_scores = aggregate_views(view_logits)
        report = classification_report(video_scores, labels, self.num_classes, view_scores=view_logits)
        report["loss"] = float(F.nll_loss(video_scores.clamp_min(1e-12).log(), torch.as_tensor(labels)))
        report["scores"] = video_scores
        report["labels"] = labels
        return report

    def evaluate(self, split: str = "test") -> dict:
        return self.evaluate_dataset(self.dataset(split), desc=split)

    def _log_validation(self, res: dict, step: int) -> None:
        """TensorBoard: each class's validation accuracy (``val_class/NAME``) and the row-normalised
        confusion matrix as an image (``val/confusion``)."""
        if self._tb is None:
            return
        for name, acc in zip(self.labels, res["per_class_accuracy"]):
            if acc is not None and math.isfinite(acc):
                self._tb.add_scalar(f"val_class/{name}", acc, step)
        self._tb.add_image("val/confusion", confusion_image(row_normalised(res["confusion_matrix"])), step,
                           dataformats="HWC")

    def _log_scalars(self, row: dict, step: int) -> None:
        if self._tb is None:
            return
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self._tb.add_scalar(key.replace("_", "/", 1), value, step)
        self._tb.flush()


def _install_sigterm(trainer: "Trainer"):
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        trainer._stop = True

    return signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(old) -> None:
    import signal

    if old is not None:
        signal.signal(signal.SIGTERM, old)


def _to_device(x, device: torch.device):
    if isinstance(x, (list, tuple)):
        return [t.to(device, non_blocking=True) for t in x]
    return x.to(device, non_blocking=True)


def _append_step(path: Path, row: dict) -> None:
    import json

    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _truncate_steps(path: Path, global_step: int) -> None:
    """Drop step log lines written after the resume point (they will be redone)."""
    import json

    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= global_step]
    path.write_text("".join(line + "\n" for line in keep))


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device, amp_dtype=None, *, desc="eval", progress=True,
            with_index: bool = False):
    """Per-view logits ``(N, V, C)`` and labels (and, ``with_index``, each item's returned index)."""
    from tqdm.auto import tqdm

    model.eval()
    outs, labels, indices = [], [], []
    for views, y, idx in tqdm(loader, desc=desc, disable=not progress, leave=False, file=sys.stderr, dynamic_ncols=True):
        if isinstance(views, (list, tuple)):  # multi-input models: one (B, V, ...) tensor per input
            b, v = views[0].shape[:2]
            x = [t.flatten(0, 1).to(device) for t in views]
        else:
            b, v = views.shape[:2]
            x = views.flatten(0, 1).to(device)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with ctx:
            logits = model(x).float()
        outs.append(logits.view(b, v, -1).cpu())
        labels.append(y.numpy())
        indices.append(np.asarray(idx).reshape(-1))
    if with_index:
        return torch.cat(outs), np.concatenate(labels), np.concatenate(indices)
    return torch.cat(outs), np.concatenate(labels)


def confusion_image(norm: np.ndarray, cell: int = 0) -> np.ndarray:
    """A row-normalised confusion matrix as an ``(H, W, 3)`` uint8 heat map (white 0 -> dark blue 1),
    each cell a square of ``cell`` pixels (default: about 256 pixels in all)."""
    n = max(norm.shape[0], 1)
    cell = cell or max(256 // n, 2)
    v = np.clip(np.kron(norm, np.ones((cell, cell))), 0.0, 1.0)[..., None]
    white, blue = np.array([255.0, 255.0, 255.0]), np.array([8.0, 48.0, 107.0])
    return (white + (blue - white) * v).round().astype(np.uint8)


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
