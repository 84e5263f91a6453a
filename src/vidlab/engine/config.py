"""Training/evaluation configuration: YAML files plus ``key=value`` overrides.

The config is a tree of small dataclasses. Every field has a default, so a
YAML file only names what differs; an unknown key is an error that names it
(a typo must never be silently ignored). Overrides use dotted keys and YAML
values: ``solver.lr=0.05 data.flip=0 model.kwargs.width=32``.

The config stays at the engine level: models receive plain arguments
(``model.arch`` + ``model.kwargs``), never this object.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidlab.errors import VidlabError


class ConfigError(VidlabError, ValueError):
    """A config file or override is malformed."""


@dataclass
class ModelCfg:
    arch: str = "i3d_r10_tiny"
    num_classes: int | None = None  # None: from the dataset's label list
    kwargs: dict = field(default_factory=dict)
    init: str | None = None  # vidlab checkpoint to start from


@dataclass
class DataCfg:
    format: str = "video_list"  # any of `vidlab data formats` (ucf101, hmdb51, kinetics400, kth, ...)
    root: str | None = None  # videos are resolved against this (default: each list's folder)
    annotations: str | None = None  # official annotation file/folder (formats other than video_list)
    split: int = 1  # official split / fold of the format
    train: str | None = None
    val: str | None = None
    test: str | None = None
    labels: str | None = None  # label map file (one name per line, ...)
    num_frames: int | None = None  # None: from the model spec
    sampling_rate: int | None = None
    target_fps: float | None = None  # None: take videos at their own rate
    crop_size: int | None = None
    train_scale: list = field(default_factory=lambda: [256, 320])  # short-side jitter [min, max]
    test_scale: int | None = None  # short side at test (None: crop_size)
    flip: float = 0.5
    mean: list | None = None
    std: list | None = None
    test_views: int = 1  # temporal views per video at test time
    test_crops: int = 1  # spatial crops (1 or 3)
    batch_size: int = 8
    num_workers: int = 0
    backend: str = "pyav"
    # memory: decode each training video once and keep its frames (uint8) in RAM, up to
    # cache_mb per process; videos past the budget are decoded from the file each time
    cache: str | None = None  # None | memory
    cache_mb: float = 2048.0
    # two-stream / TSN inputs (vidlab.data.datasets.flow_clips): None = clips of num_frames x sampling_rate
    modality: str | None = None  # rgb | flow | rgb_diff | rgb+flow
    num_segments: int = 3  # TSN segments (1 for a single snippet)
    test_segments: int | None = None  # snippets per video at test time (default num_segments)
    new_length: int | None = None  # snippet length L (default: 1 RGB frame, 5 flow fields / differences)
    rgb_length: int = 1  # RGB frames per snippet for rgb+flow
    flow_method: str = "farneback"  # flow computed on the fly when the lists name videos, not rawframes
    flow_scale: float = 20.0  # flow pixels are divided by this (the jpg cache bound)
    out_of_bound: str = "error"  # videos too short for a snippet: error | repeat_last | loop
    min_frames: int | None = None  # a video shorter than this is bad (None: the clip's num_frames)
    robust: bool = True  # skip, substitute and report unreadable/too-short videos
    max_bad_fraction: float = 0.05  # stop training when more of the training videos are bad


@dataclass
class SolverCfg:
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    epochs: int = 10
    schedule: str = "cosine"  # cosine | steps | constant
    steps: list = field(default_factory=list)  # epochs where lr drops (steps schedule)
    gamma: float = 0.1
    final_lr: float = 0.0
    warmup_epochs: float = 0.0
    warmup_start_lr: float = 0.01
    clip_grad: float | None = None  # max global grad norm
    label_smoothing: float = 0.0
    accumulate: int = 1  # split each global batch into this many sequential micro-batches


@dataclass
class TrainCfg:
    out_dir: str = "runs/default"
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto | off | bf16 | fp16 (auto: on for CUDA, off on CPU)
    eval_every: int = 1
    tensorboard: bool = True
    progress: bool = True
    # seconds; if the epochs would not fit, the schedule is shortened (so the
    # learning rate still decays fully), and a spent budget stops the run
    time_budget: float | None = None
    threads: int | None = None
    # BN statistics over fixed groups of this many clips (PySlowFast's sub-batch
    # BN); None: the whole per-process batch. Same group = same numbers on 1 or N processes.
    bn_batch: int | None = None
    sync_bn: bool = False  # SyncBatchNorm across processes (CUDA only)
    precise_bn: int = 0  # recompute BN statistics over this many batches before each evaluation
    ema: float | None = None  # decay of an exponential moving average of the weights (e.g. 0.999)
    checkpoint_every: int = 0  # also write a resume point every N steps (0: at epoch ends only)
    keep_resume: int = 2
    log_steps: bool = False  # write out_dir/steps.jsonl (loss and lr per step)
    dist_backend: str = "auto"  # auto (gloo on CPU, nccl on CUDA) | gloo | nccl


@dataclass
class MultigridCfg:
    """Multigrid training (Wu et al. 2020) with PySlowFast's schedule."""

    long_cycle: bool = False
    short_cycle: bool = False
    # (T factor, S factor) of the long cycle's shapes, smallest first
    long_cycle_factors: list = field(default_factory=lambda: [[0.25, 0.5 ** 0.5], [0.5, 0.5 ** 0.5], [0.5, 1.0], [1.0, 1.0]])
    short_cycle_factors: list = field(default_factory=lambda: [0.5, 0.5 ** 0.5])
    epoch_factor: float = 1.5
    # PySlowFast: a long-cycle clip with t < T frames draws its sampling rate uniformly from
    # [tau, tau * T // t], so some clips span the default clip's time and others a shorter one;
    # false: always tau * T // t (every clip spans the default time)
    random_sampling_rate: bool = True


@dataclass
class Config:
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    solver: SolverCfg = field(default_factory=SolverCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    multigrid: MultigridCfg = field(default_factory=MultigridCfg)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _from_dict(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown config key {where + key!r}; known: {', '.join(fields)}")
        ftype = fields[key].type
        sub = _SECTIONS.get(ftype if isinstance(ftype, str) else getattr(ftype, "__name__", ""))
        kwargs[key] = _from_dict(sub, value, f"{where}{key}.") if sub and isinstance(value, dict) else value
    return cls(**kwargs)


_SECTIONS = {"ModelCfg": ModelCfg, "DataCfg": DataCfg, "SolverCfg": SolverCfg, "TrainCfg": TrainCfg,
             "MultigridCfg": MultigridCfg}


def from_dict(data: dict | None) -> Config:
    cfg = _from_dict(Config, data or {}, "")
    validate(cfg)
    return cfg


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (relative data paths resolve against its folder), then apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
        data.setdefault("data", {})
        if isinstance(data["data"], dict):
            for key in ("root", "annotations", "train", "val", "test", "labels"):
                v = data["data"].get(key)
                if isinstance(v, str) and not os.path.isabs(v):
                    data["data"][key] = str((p.parent / v).resolve())
    for item in overrides or []:
        apply_override(data, item)
    return from_dict(data)


def apply_override(data: dict, item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not key=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part} is not a section")
    node[parts[-1]] = value


def validate(cfg: Config) -> None:
    if cfg.solver.optimizer not in ("sgd", "adamw"):
        raise ConfigError(f"solver.optimizer must be sgd or adamw, got {cfg.solver.optimizer!r}")
    if cfg.solver.schedule not in ("cosine", "steps", "constant"):
        raise ConfigError(f"solver.schedule must be cosine, steps or constant, got {cfg.solver.schedule!r}")
    if cfg.train.amp not in ("auto", "off", "bf16", "fp16"):
        raise ConfigError(f"train.amp must be auto, off, bf16 or fp16, got {cfg.train.amp!r}")
    if cfg.data.modality not in (None, "rgb", "flow", "rgb_diff", "rgb+flow"):
        raise ConfigError(f"data.modality must be rgb, flow, rgb_diff or rgb+flow, got {cfg.data.modality!r}")
    if cfg.data.cache not in (None, "none", "memory"):
        raise ConfigError(f"data.cache must be memory or none, got {cfg.data.cache!r}")
    if cfg.data.cache == "memory" and cfg.data.cache_mb <= 0:
        raise ConfigError("data.cache_mb must be > 0")
    if cfg.data.cache == "memory" and cfg.data.modality:
        raise ConfigError("data.cache: memory caches clip datasets; snippet inputs (data.modality) read their own caches")
    if cfg.data.test_crops not in (1, 3):
        raise ConfigError(f"data.test_crops must be 1 or 3, got {cfg.data.test_crops}")
    if len(cfg.data.train_scale) != 2:
        raise ConfigError("data.train_scale must be [min, max]")
    if cfg.solver.epochs < 1:
        raise ConfigError("solver.epochs must be >= 1")
    if cfg.data.batch_size < 1:
        raise ConfigError("data.batch_size must be >= 1")
    if cfg.solver.accumulate < 1:
        raise ConfigError("solver.accumulate must be >= 1")
    if cfg.train.bn_batch is not None and cfg.train.bn_batch < 2:
        raise ConfigError("train.bn_batch must be >= 2 (BN needs more than one clip)")
    if cfg.multigrid.long_cycle and cfg.solver.schedule != "steps":
        raise ConfigError("multigrid.long_cycle follows PySlowFast's step schedule: set solver.schedule=steps and solver.steps")


def dump_config(cfg: Config, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
