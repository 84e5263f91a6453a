"""Training/evaluation configuration: YAML files plus ``key=value`` overrides.

The config is a tree of small dataclasses. Every field has a default, so a
YAML file only names what differs; an unknown key is an error that names it
(a typo must never be silently ignored). Overrides use dotted keys and YAML
values: ``solver.lr=0.05 data.flip=0 model.kwargs.width=32``.

Every field declares its type (the annotation) and, with :func:`fld`, a one-line
help and where obvious a range or choices; :func:`schema` lists them all.
Values are converted to the declared type or refused with one line naming the key
(``data.batch_size: expected an integer, got 'eight'``):

- ``int``: an int, an integral float (``8.0``, ``1e3``) or a string of one
  (``'8'``, ``'1e3'``); not a bool, not ``1.5``.
- ``float``: an int or float, or a decimal/scientific string (``'1e-4'``,
  ``'1E-3'``, ``'-2.5e+2'``); not a bool, not ``'abc'``.
- ``bool``: a bool, 0/1, or a YAML word true/false/yes/no/on/off (any case), '1'/'0'.
- ``str``: a string (or a path). In YAML files and overrides a string field takes
  its value's text as written, so ``train.amp=off``, ``amp: off`` and
  ``out_dir: 2024`` are the strings 'off' and '2024', not a bool and an int.
- ``X | None``: null, ``~`` or an empty value is None, anything else is an X.
- ``list[X]``: a list (or tuple) whose every element is an X.
- ``dict`` (``model.kwargs``): a free mapping of builder arguments; strings in it
  that read as scientific floats (``'1e-4'``) become floats.
- a section (``model``, ``data``, ...): a mapping (empty or null: all defaults).

YAML is read by PyYAML's safe loader plus YAML 1.2's floats without a dot or an
exponent sign (``1e-4``, ``1E3``), which YAML 1.1 would leave as strings; PyYAML
itself is not changed.

The config stays at the engine level: models receive plain arguments
(``model.arch`` + ``model.kwargs``), never this object.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from vidlab.errors import VidlabError


class ConfigError(VidlabError, ValueError):
    """A config file or override is malformed."""


# --------------------------------------------------------------------------
# YAML: the safe loader plus YAML 1.2 floats (1e-4), without touching PyYAML's own classes

_YAML_SCI_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4``, ``1E3``, ``.5e-2`` as floats (YAML 1.2)."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes strings :class:`_Loader` would read as floats."""


for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver(_FLOAT_TAG, _YAML_SCI_FLOAT, list("-+0123456789."))


# --------------------------------------------------------------------------
# field declarations

def fld(default: Any = dataclasses.MISSING, *, help: str = "", ge: float | None = None, gt: float | None = None,
        le: float | None = None, lt: float | None = None, choices: tuple | None = None, length: int | None = None):
    """A dataclass field with a one-line help and optional checks (kept in its metadata).

    ``ge``/``gt``/``le``/``lt``: bounds of a number; ``choices``: the allowed values;
    ``length``: the number of items of a list. None always passes for ``X | None`` fields.
    A list or dict default is copied for every instance.
    """
    meta = {"help": help}
    for name, value in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt), ("choices", choices), ("length", length)):
        if value is not None:
            meta[name] = tuple(value) if name == "choices" else value
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelCfg:
    arch: str = fld("i3d_r10_tiny", help="architecture (any of `vidlab models`)")
    num_classes: int | None = fld(None, ge=1, help="output classes (None: from the dataset's label list)")
    kwargs: dict[str, Any] = fld({}, help="extra arguments of the model builder (e.g. width; the transformers' "
                                         "stochastic depth: drop_path_rate, 0.2 in PySlowFast's MViTv2-S recipe)")
    init: str | None = fld(None, help="vidlab checkpoint to start from")
    init_head: str = fld("auto", choices=("auto", "keep", "reset"),
                         help="with model.init: the checkpoint's classifier is loaded (keep), replaced by a new "
                              "one (reset), or replaced only when its size differs (auto)")
    freeze: str | None = fld(None, help="'backbone' (train the classifier only: a linear probe) or a module name: "
                                        "the parameters before it are frozen (e.g. s4 for the ResNets)")


@dataclass
class DataCfg:
    format: str = fld("video_list", help="dataset format: any of `vidlab data formats` (ucf101, hmdb51, kinetics400, kth, ...)")
    root: str | None = fld(None, help="videos are resolved against this folder (default: each list's folder)")
    annotations: str | None = fld(None, help="official annotation file/folder (formats other than video_list)")
    split: int = fld(1, ge=1, help="official split / fold of the format")
    train: str | None = fld(None, help="training list")
    val: str | None = fld(None, help="validation list")
    test: str | None = fld(None, help="test list")
    labels: str | None = fld(None, help="label map file (one name per line, ...)")
    num_frames: int | None = fld(None, ge=1, help="frames per clip (None: from the model spec)")
    sampling_rate: int | None = fld(None, ge=1, help="take every n-th frame (None: from the model spec)")
    target_fps: float | None = fld(None, gt=0, help="resample videos to this rate (None: take videos at their own rate)")
    crop_size: int | None = fld(None, ge=1, help="square crop side (None: from the model spec)")
    train_scale: list[int] = fld([256, 320], length=2, help="training short-side jitter [min, max]")
    test_scale: int | None = fld(None, ge=1, help="short side at test (None: crop_size)")
    flip: float = fld(0.5, ge=0, le=1, help="probability of a horizontal flip in training")
    mean: list[float] | None = fld(None, help="per-channel input mean (None: from the model spec)")
    std: list[float] | None = fld(None, help="per-channel input std (None: from the model spec)")
    test_views: int = fld(1, ge=1, help="temporal views per video at test time")
    test_crops: int = fld(1, choices=(1, 3), help="spatial crops per view at test time")
    batch_size: int = fld(8, ge=1, help="global batch (all processes together)")
    num_workers: int = fld(0, ge=0, help="data loader worker processes")
    backend: str = fld("pyav", choices=("pyav", "torchcodec", "auto"), help="video decoding backend")
    # memory: decode each training video once and keep its frames (uint8) in RAM, up to
    # cache_mb per process; videos past the budget are decoded from the file each time
    cache: str | None = fld(None, choices=("memory", "none"), help="memory: decode each training video once and keep its frames in RAM")
    cache_mb: float = fld(2048.0, gt=0, help="RAM budget of the memory cache per process (MiB)")
    # two-stream / TSN inputs (vidlab.data.datasets.flow_clips): None = clips of num_frames x sampling_rate
    modality: str | None = fld(None, choices=("rgb", "flow", "rgb_diff", "rgb+flow"),
                               help="TSN / two-stream snippet input (None: clips of num_frames x sampling_rate)")
    num_segments: int = fld(3, ge=1, help="TSN segments (1 for a single snippet)")
    test_segments: int | None = fld(None, ge=1, help="snippets per video at test time (None: num_segments)")
    new_length: int | None = fld(None, ge=1, help="snippet length (None: 1 RGB frame, 5 flow fields / differences)")
    rgb_length: int = fld(1, ge=1, help="RGB frames per snippet for rgb+flow")
    flow_method: str = fld("farneback", choices=("farneback", "tvl1", "raft"),
                           help="optical flow computed on the fly when the lists name videos, not rawframes")
    flow_scale: float = fld(20.0, gt=0, help="flow pixels are divided by this (the jpg cache bound)")
    out_of_bound: str = fld("error", choices=("error", "repeat_last", "loop"), help="videos too short for a snippet")
    min_frames: int | None = fld(None, ge=0, help="a video shorter than this is bad (None: the clip's num_frames)")
    robust: bool = fld(True, help="skip, substitute and report unreadable/too-short videos")
    max_bad_fraction: float = fld(0.05, ge=0, le=1, help="stop training when more of the training videos are bad")
    # training-time regularisation (PySlowFast MIXUP.* / AUG.*; vidlab.data.mix, vidlab.data.video_augment)
    mixup_alpha: float = fld(0.0, ge=0, help="mixup: Beta(a, a) blend of each batch with its reverse (0: off; MViT recipe 0.8)")
    cutmix_alpha: float = fld(0.0, ge=0, help="CutMix: Beta(a, a) box, the same on every frame (0: off; MViT recipe 1.0)")
    mix_prob: float = fld(1.0, ge=0, le=1, help="probability that a batch is mixed (mixup/CutMix on)")
    mix_switch_prob: float = fld(0.5, ge=0, le=1, help="probability of CutMix rather than mixup when both are on")
    rand_augment: str | None = fld(None, help="RandAugment policy, timm/PySlowFast string (e.g. rand-m7-n4-mstd0.5-inc1): "
                                              "same ops on every frame of a training clip")
    random_erasing: float = fld(0.0, ge=0, le=1, help="probability of erasing one box (same on every frame) of a "
                                                      "normalised training clip (MViT recipe 0.25)")
    random_erasing_mode: str = fld("pixel", choices=("pixel", "rand", "const"),
                                   help="erased pixels: per-pixel noise, one random colour, or 0")


@dataclass
class SolverCfg:
    optimizer: str = fld("sgd", choices=("sgd", "adamw"), help="optimizer")
    lr: float = fld(0.1, gt=0, help="peak learning rate (after warmup)")
    momentum: float = fld(0.9, ge=0, help="SGD momentum")
    nesterov: bool = fld(True, help="Nesterov momentum (SGD)")
    weight_decay: float = fld(1e-4, ge=0, help="weight decay")
    epochs: int = fld(10, ge=1, help="training epochs")
    schedule: str = fld("cosine", choices=("cosine", "steps", "constant"), help="learning-rate schedule after warmup")
    steps: list[float] = fld([], help="epochs where the learning rate drops (steps schedule)")
    gamma: float = fld(0.1, gt=0, help="learning-rate factor at each step (steps schedule)")
    final_lr: float = fld(0.0, ge=0, help="learning rate at the end of the cosine schedule")
    warmup_epochs: float = fld(0.0, ge=0, help="epochs of linear warmup")
    warmup_start_lr: float = fld(0.01, ge=0, help="learning rate at the start of warmup")
    clip_grad: float | None = fld(None, gt=0, help="max global gradient norm (None: no clipping)")
    label_smoothing: float = fld(0.0, ge=0, le=1, help="label smoothing of the cross-entropy loss (with mixup/CutMix: "
                                                       "of the soft targets)")
    layer_decay: float | None = fld(None, gt=0, le=1, help="layer-wise lr decay for transformers: lr * d^(L + 1 - "
                                                           "layer), layer 0 the stem, L + 1 the head (None or 1: off)")
    zero_wd_1d: bool = fld(True, help="no weight decay on 1-D parameters (biases, norm weights)")
    zero_wd_pos: bool = fld(False, help="no weight decay on cls/pos tokens and relative-position tables")
    accumulate: int = fld(1, ge=1, help="split each global batch into this many sequential micro-batches")
    backbone_lr_scale: float = fld(1.0, gt=0, help="learning-rate factor of everything but the classifier "
                                                  "(fine-tuning: e.g. 0.1)")


@dataclass
class TrainCfg:
    out_dir: str = fld("runs/default", help="checkpoints, logs and config.yaml go here")
    seed: int = fld(0, help="random seed")
    deterministic: bool = fld(True, help="deterministic algorithms (same numbers on every run)")
    device: str = fld("auto", help="auto | cpu | cuda | cuda:N | mps")
    amp: str = fld("auto", choices=("auto", "off", "bf16", "fp16"), help="mixed precision (auto: on for CUDA, off on CPU)")
    eval_every: int = fld(1, ge=1, help="evaluate on data.val every n epochs (and after the last)")
    tensorboard: bool = fld(True, help="write TensorBoard logs")
    progress: bool = fld(True, help="progress bars")
    # seconds; if the epochs would not fit, the schedule is shortened (so the
    # learning rate still decays fully), and a spent budget stops the run
    time_budget: float | None = fld(None, gt=0, help="seconds; the run is re-planned each epoch to the epochs that fit, a spent budget stops the run")
    threads: int | None = fld(None, ge=0, help="torch CPU threads (None or 0: torch's default)")
    # BN statistics over fixed groups of this many clips (PySlowFast's sub-batch
    # BN); None: the whole per-process batch. Same group = same numbers on 1 or N processes.
    bn_batch: int | None = fld(None, ge=2, help="BN statistics over fixed groups of this many clips (None: the per-process batch)")
    sync_bn: bool = fld(False, help="SyncBatchNorm across processes (CUDA only)")
    precise_bn: int = fld(0, ge=0, help="recompute BN statistics over this many batches before each evaluation")
    ema: float | None = fld(None, ge=0, le=1, help="decay of an exponential moving average of the weights (e.g. 0.999)")
    checkpoint_every: int = fld(0, ge=0, help="also write a resume point every n steps (0: at epoch ends only)")
    keep_resume: int = fld(2, ge=1, help="resume points kept")
    log_steps: bool = fld(False, help="write out_dir/steps.jsonl (loss and lr per step)")
    dist_backend: str = fld("auto", choices=("auto", "gloo", "nccl"), help="process group backend (auto: gloo on CPU, nccl on CUDA)")


@dataclass
class MultigridCfg:
    """Multigrid training (Wu et al. 2020) with PySlowFast's schedule."""

    long_cycle: bool = fld(False, help="multigrid long cycle (needs solver.schedule=steps)")
    short_cycle: bool = fld(False, help="multigrid short cycle")
    long_cycle_factors: list[list[float]] = fld([[0.25, 0.5 ** 0.5], [0.5, 0.5 ** 0.5], [0.5, 1.0], [1.0, 1.0]],
                                                help="(T factor, S factor) of the long cycle's shapes, smallest first")
    short_cycle_factors: list[float] = fld([0.5, 0.5 ** 0.5], help="spatial factors of the short cycle's smaller shapes")
    epoch_factor: float = fld(1.5, gt=0, help="PySlowFast's multigrid epoch factor")
    # PySlowFast: a long-cycle clip with t < T frames draws its sampling rate uniformly from
    # [tau, tau * T // t], so some clips span the default clip's time and others a shorter one;
    # false: always tau * T // t (every clip spans the default time)
    random_sampling_rate: bool = fld(True, help="long-cycle clips draw their sampling rate (false: always span the default time)")


@dataclass
class Config:
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    solver: SolverCfg = field(default_factory=SolverCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    multigrid: MultigridCfg = field(default_factory=MultigridCfg)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------
# types

_NoneType = type(None)
_NULL_WORDS = ("null", "Null", "NULL", "~")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")
_NUMBER = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_SCI_NUMBER = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$")


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _optional_of(tp):
    """X for ``X | None``, else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not _NoneType]
        if len(rest) == 1 and len(rest) < len(args):
            return rest[0]
    return None


def _admits_str(tp) -> bool:
    return tp is str or _optional_of(tp) is str


def _type_name(tp) -> str:
    inner = _optional_of(tp)
    if inner is not None:
        return f"{_type_name(inner)} | None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is dict or tp is dict:
        return "dict"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def _show(value) -> str:
    """A value as it reads in a message (YAML spelling for bools and null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _number(value) -> int | float | None:
    """An int/float, or a string that reads as a decimal or scientific number; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip()
        return int(text) if re.fullmatch(r"[-+]?[0-9]+", text) else float(text)
    return None


def _convert(value, tp, key: str):
    """``value`` as type ``tp``, or a ConfigError naming ``key``."""
    inner = _optional_of(tp)
    if inner is not None:
        if value is None or (isinstance(value, str) and (value.strip() == "" or (inner is not str and value.strip() in _NULL_WORDS))):
            return None
        return _convert(value, inner, key)
    if tp is Any:
        return _free(value)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise ConfigError(f"{key}: expected a string, got {_show(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
            return value.strip().lower() in _TRUE_WORDS
        raise ConfigError(f"{key}: expected true or false, got {_show(value)}")
    if tp is int:
        num = _number(value)
        if isinstance(num, int):
            return num
        if isinstance(num, float) and math.isfinite(num) and num.is_integer():
            return int(num)
        raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
    if tp is float:
        num = _number(value)
        if num is None:
            raise ConfigError(f"{key}: expected a number, got {_show(value)}")
        return float(num)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_show(value)}")
        item = args[0] if args else Any
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_kind(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: _convert(v, item, f"{key}.{k}") for k, v in value.items()}
    raise TypeError(f"{key}: unsupported config type {tp!r}")  # a declaration bug, not bad input


def _free(value):
    """A free value (model.kwargs): lists for tuples, floats for scientific strings."""
    if isinstance(value, Mapping):
        return {k: _free(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_free(v) for v in value]
    if isinstance(value, str) and _SCI_NUMBER.match(value.strip()):
        return float(value)
    return value


def _fmt_bound(x) -> str:
    return repr(x) if isinstance(x, float) and not x.is_integer() else str(int(x) if isinstance(x, float) else x)


def _range_text(meta: Mapping) -> str:
    parts = []
    lo = ("[", meta["ge"]) if "ge" in meta else ("(", meta["gt"]) if "gt" in meta else None
    hi = ("]", meta["le"]) if "le" in meta else (")", meta["lt"]) if "lt" in meta else None
    if lo and hi:
        parts.append(f"{lo[0]}{_fmt_bound(lo[1])}, {_fmt_bound(hi[1])}{hi[0]}")
    elif lo:
        parts.append(f"{'>=' if lo[0] == '[' else '>'} {_fmt_bound(lo[1])}")
    elif hi:
        parts.append(f"{'<=' if hi[0] == ']' else '<'} {_fmt_bound(hi[1])}")
    if "choices" in meta:
        parts.append(" | ".join(str(c) for c in meta["choices"]))
    if "length" in meta:
        parts.append(f"{meta['length']} values")
    return "; ".join(parts)


def _or(choices) -> str:
    names = [str(c) for c in choices]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _check_range(value, meta: Mapping, key: str) -> None:
    if value is None:
        return
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{key}: must be {_or(meta['choices'])}, got {_show(value)}")
    if "length" in meta and len(value) != meta["length"]:
        raise ConfigError(f"{key}: must have {meta['length']} values, got {list(value)!r}")
    bounds = {k: meta[k] for k in ("ge", "gt", "le", "lt") if k in meta}
    if not bounds:
        return
    ok = (value >= bounds.get("ge", value) and value <= bounds.get("le", value)
          and ("gt" not in bounds or value > bounds["gt"]) and ("lt" not in bounds or value < bounds["lt"]))
    if not ok:  # (nan fails every comparison)
        text = _range_text(bounds)
        raise ConfigError(f"{key}: must be {'in ' if text[0] in '[(' else ''}{text}, got {_show(value)}")


# --------------------------------------------------------------------------
# the schema

class SchemaRow(NamedTuple):
    key: str  # dotted, e.g. "data.batch_size"
    type: str  # e.g. "int", "float | None", "list[list[float]]"
    default: Any
    range: str  # e.g. ">= 1", "[0, 1]", "sgd | adamw", "2 values"; "" when free
    help: str


def schema() -> list[SchemaRow]:
    """Every config field: (key, type name, default, range/choices text, help), in declaration order."""
    rows: list[SchemaRow] = []

    def walk(cls, prefix: str) -> None:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if _is_section(tp):
                walk(tp, f"{prefix}{f.name}.")
                continue
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            rows.append(SchemaRow(prefix + f.name, _type_name(tp), default, _range_text(f.metadata),
                                  f.metadata.get("help", "")))

    walk(Config, "")
    return rows


def _show_default(value) -> str:
    if isinstance(value, str):
        return value if value else "''"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_show_default(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else repr(value)
    return _show(value)


def schema_text() -> str:
    """The schema as aligned plain text: one line per key (``vidlab train --help-config``)."""
    rows = [(r.key, r.type, _show_default(r.default), r.range or "-", r.help) for r in schema()]
    head = ("key", "type", "default", "range", "help")
    widths = [max(min(len(x[i]), 28) for x in [head, *rows]) for i in range(4)]  # a longer value overflows
    lines = []
    for row in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def schema_markdown() -> str:
    """The schema as a Markdown table (the README's config table is this text)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| key | type | default | range | help |", "|---|---|---|---|---|"]
    for r in schema():
        lines.append(f"| `{r.key}` | {cell(r.type)} | `{_show_default(r.default)}` | {cell(r.range) or '-'} | "
                     f"{cell(r.help)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# building and checking

def _from_dict(cls, data, where: str):
    if data is None:
        data = {}  # an empty section (`model:` with nothing under it): the defaults
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where.rstrip('.') or 'config'}: expected a mapping, got {_kind(data)}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown config key {where + str(key)!r}; known: {', '.join(names)}")
        tp = hints[key]
        kwargs[key] = _from_dict(tp, value, f"{where}{key}.") if _is_section(tp) else _convert(value, tp, where + key)
    return cls(**kwargs)


def from_dict(data: dict | None) -> Config:
    cfg = _from_dict(Config, data, "")
    validate(cfg)
    return cfg


def _check_section(obj, cls, where: str) -> None:
    if not isinstance(obj, cls):
        raise ConfigError(f"{where.rstrip('.')}: expected a mapping, got {_kind(obj)}")
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp, key = hints[f.name], where + f.name
        if _is_section(tp):
            _check_section(getattr(obj, f.name), tp, key + ".")
            continue
        value = _convert(getattr(obj, f.name), tp, key)
        _check_range(value, f.metadata, key)
        setattr(obj, f.name, value)


def validate(cfg: Config) -> None:
    """Check every field against its declaration (normalising it to its type in place), then the
    checks between fields."""
    _check_section(cfg, Config, "")
    _check_model(cfg.model)
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", cfg.train.device):
        raise ConfigError(f"train.device: must be auto, cpu, cuda, cuda:N or mps, got {_show(cfg.train.device)}")
    if cfg.solver.steps != sorted(cfg.solver.steps) or any(s <= 0 for s in cfg.solver.steps):
        raise ConfigError(f"solver.steps: must be increasing epochs > 0, got {cfg.solver.steps!r}")
    if cfg.data.cache == "memory" and cfg.data.cache_mb <= 0:
        raise ConfigError(f"data.cache_mb: must be > 0 with data.cache=memory, got {_show(cfg.data.cache_mb)}")
    if cfg.data.cache == "memory" and cfg.data.modality:
        raise ConfigError("data.cache: memory caches clip datasets; snippet inputs (data.modality) read their own caches")
    if cfg.data.rand_augment:
        from vidlab.data.video_augment import AugmentSpecError, VideoRandAugment

        try:
            VideoRandAugment.parse(cfg.data.rand_augment)
        except AugmentSpecError as e:
            raise ConfigError(f"data.rand_augment: {e}") from None
    if cfg.data.modality and (cfg.data.rand_augment or cfg.data.random_erasing):
        raise ConfigError("data.rand_augment and data.random_erasing augment clips; snippet inputs (data.modality) "
                          "do not take them")
    if cfg.multigrid.long_cycle and cfg.solver.schedule != "steps":
        raise ConfigError("multigrid.long_cycle follows PySlowFast's step schedule: set solver.schedule=steps and solver.steps")


def _check_model(model: ModelCfg) -> None:
    """``model.arch`` is registered and takes every ``model.kwargs`` key (and sets none of them itself)."""
    from vidlab.models.registry import (
        ModelArgumentError,
        UnknownModelError,
        check_arguments,
        check_fixed_arguments,
        get_spec,
    )

    try:
        spec = get_spec(model.arch)
    except UnknownModelError as e:
        raise ConfigError(f"model.arch: {e}") from None
    try:
        check_arguments(spec, model.kwargs)
        check_fixed_arguments(spec, model.kwargs)
    except ModelArgumentError as e:
        raise ConfigError(f"model.kwargs: {e}") from None


# --------------------------------------------------------------------------
# files and overrides

def _construct(loader: _Loader, node, cls):
    """A YAML node as Python data; under a section, a string field takes a plain scalar's text."""
    if cls is None or not isinstance(node, yaml.MappingNode):
        return loader.construct_object(node, deep=True)
    loader.flatten_mapping(node)  # `<<: *anchor` merges
    hints = _hints(cls)
    out = {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        if not isinstance(key, (str, int, float, bool, _NoneType)):
            raise ConfigError(f"line {knode.start_mark.line + 1}: a config key must be a name, got {_show(key)}")
        tp = hints.get(key) if isinstance(key, str) else None
        if tp is not None and _is_section(tp):
            out[key] = _construct(loader, vnode, tp)
        elif (tp is not None and _admits_str(tp) and isinstance(vnode, yaml.ScalarNode) and vnode.style is None
              and vnode.tag != _NULL_TAG):
            out[key] = vnode.value  # `amp: off`, `out_dir: 2024`: the text, not a bool or an int
        else:
            out[key] = loader.construct_object(vnode, deep=True)
    return out


def _load_yaml(text: str):
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _construct(loader, node, Config)
    finally:
        loader.dispose()


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (relative data paths resolve against its folder), then apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = _load_yaml(p.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a text file") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping, got {_kind(data)}")
        section = data.get("data")
        if isinstance(section, dict):
            for key in ("root", "annotations", "train", "val", "test", "labels"):
                v = section.get(key)
                if isinstance(v, str) and v and not os.path.isabs(v):
                    section[key] = str((p.parent / v).resolve())
    for item in overrides or []:
        apply_override(data, item)
    return from_dict(data)


def _declared_type(parts: list[str]):
    """The declared type at a dotted key, or None (unknown, a section, or inside a free dict)."""
    cls = Config
    for i, part in enumerate(parts):
        tp = _hints(cls).get(part)
        if tp is None:
            return None
        if _is_section(tp):
            cls = tp
            continue
        return tp if i == len(parts) - 1 else None
    return None


def _parse_value(raw: str, tp):
    text = raw.strip()
    if text == "":
        return None
    if tp is not None and _admits_str(tp) and text[0] not in "'\"":
        return None if text in _NULL_WORDS and tp is not str else text
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def apply_override(data: dict, item: str) -> None:
    """Set ``key=value`` in ``data`` (the value is YAML; a string field takes the text as written)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"override {item!r}: {key!r} is not a dotted config key")
    value = _parse_value(raw, _declared_type(parts))
    node = data
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part} is not a section")
    node[parts[-1]] = value


def dump_config(cfg: Config, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.dump(cfg.to_dict(), Dumper=_Dumper, sort_keys=False))
