"""``vidlab finetune``: a published (or any vidlab) checkpoint trained further on your own class folders.

    vidlab finetune DATA --model NAME [--weights TAG] | --checkpoint CKPT | --arch NAME  --out DIR
                   [--linear-probe | --freeze-until MODULE] [--epochs N] [--minutes M] [--resume]

``DATA`` is ``{class}/{video}`` or ``{split}/{class}/{video}`` (``train``/``val``/``test``). Without
split folders the videos are split here (:func:`grouped_split`): deterministic for a seed, stratified
by class, and grouped by source where the file names show it (UCF101's ``_gNN_``, KTH's ``personNN``,
HMDB51's source-movie prefix), so clips cut from one source never straddle two splits. The lists,
the class names and each video's group are written to ``DIR/data`` (the run can be repeated with
``vidlab train``).

The model starts from the checkpoint with a new classifier for the folder's classes
(``model.init_head: reset``, through the contract's ``get_classifier``), the backbone at
``--backbone-lr-scale`` (0.1) of the head's learning rate, or frozen (``--linear-probe``: only the
classifier trains; ``--freeze-until s4``: everything before module ``s4``). Preprocessing (frames,
sampling rate, crop, mean/std, target fps) is the checkpoint's unless given. Outputs:
``DIR/model.safetensors`` (+ ``.json``: labels and preprocessing, ready for ``vidlab classify
--checkpoint``), ``DIR/report.html``/``.md`` (curves, confusion matrix, per-class accuracy),
``DIR/run`` (the trainer's folder: resume points, TensorBoard logs).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from vidlab.data.datasets.registry import DatasetIndex, VideoRecord, load_folder
from vidlab.engine.config import ConfigError

SPLIT_ORDER = ("train", "val", "test")

# (rule name, pattern on the file stem, group key): clips of one source share a key
_UCF = re.compile(r"^v_(?P<cls>.+)_g(?P<g>\d+)_c\d+$")
_KTH = re.compile(r"^(?P<p>person\d+)_")
# HMDB51: <source movie/video>_<action>_<visible body part>_<camera motion>_<number of people>_<view>_<quality>_<n>
_HMDB = re.compile(r"^(?P<src>.+?)_[a-z_]+_(?:[fhlu])_(?:cm|nm)_np\d_(?:ba|fr|le|ri)_(?:bad|goo|med)_\d+$")


def source_group(path: str, label: int) -> tuple[str, str]:
    """``(rule, key)``: the source a clip was cut from, as far as its file name shows it.

    UCF101 ``v_{Class}_g{NN}_c{NN}``: the class's group (25 groups per class, each one source);
    KTH ``person{NN}_...``: the person, across classes (the official split is by person); HMDB51
    ``{source}_{action}_{tags}_{n}``: the source video. Anything else is its own group."""
    stem = Path(path).stem
    if m := _UCF.match(stem):
        return "ucf101", f"{label}/g{m['g']}"
    if m := _KTH.match(stem):
        return "kth", m["p"]
    if m := _HMDB.match(stem):
        return "hmdb51", f"{label}/{m['src']}"
    return "file", path


def _order(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def grouped_split(records: Sequence[VideoRecord], num_classes: int, *, val: float = 0.15, test: float = 0.15,
                  seed: int = 0) -> tuple[dict[str, list[VideoRecord]], dict[str, str]]:
    """Split ``records`` into train/val/test: whole groups (:func:`source_group`), each class close to
    the fractions, deterministic for ``seed``. Returns the splits and each video's group key.

    Groups are placed largest first (ties in a seeded order), each in the split whose per-class
    shortfall it fills most; then every class that has videos keeps at least one in train."""
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise ConfigError(f"split fractions: val={val} and test={test} must be >= 0 and leave some for train")
    groups: dict[str, list[VideoRecord]] = {}
    of: dict[str, str] = {}
    for r in records:
        _, key = source_group(r.path, int(r.label))
        groups.setdefault(key, []).append(r)
        of[r.path] = key
    count = [0] * num_classes
    for r in records:
        count[int(r.label)] += 1
    frac = {"train": 1.0 - val - test, "val": val, "test": test}
    have = {s: [0] * num_classes for s in SPLIT_ORDER}
    placed: dict[str, str] = {}
    for key in sorted(groups, key=lambda k: (-len(groups[k]), _order(k, seed))):
        n = [0] * num_classes
        for r in groups[key]:
            n[int(r.label)] += 1

        def gain(s: str) -> float:
            return sum(n[c] * (frac[s] * count[c] - have[s][c]) / count[c] for c in range(num_classes) if n[c])

        best = max((s for s in SPLIT_ORDER if frac[s] > 0), key=gain)  # ties: the earlier split (train first)
        placed[key] = best
        for c in range(num_classes):
            have[best][c] += n[c]
    for c in range(num_classes):  # a class never seen in training cannot be learned
        if count[c] and not have["train"][c]:
            key = min((k for k in groups if any(int(r.label) == c for r in groups[k])), key=lambda k: len(groups[k]))
            for r in groups[key]:
                have[placed[key]][int(r.label)] -= 1
                have["train"][int(r.label)] += 1
            placed[key] = "train"
    splits: dict[str, list[VideoRecord]] = {s: [] for s in SPLIT_ORDER}
    for key, recs in groups.items():
        splits[placed[key]].extend(recs)
    for s in splits:
        splits[s].sort(key=lambda r: r.path)
    return splits, of


@dataclass
class Start:
    """Where the weights come from: ``source`` for the report, ``init`` the vidlab checkpoint (None:
    from scratch), ``meta`` its sidecar."""

    arch: str
    init: str | None
    source: str
    meta: dict


def _check_start(*given: object) -> None:
    if sum(1 for x in given if x) != 1:
        raise ConfigError("give one of --model NAME (a published checkpoint), --checkpoint CKPT or --arch NAME "
                          "(from scratch)")


def resolve_start(model: str | None, weights: str | None, checkpoint: str | Path | None, arch: str | None,
                  progress: bool = True) -> Start:
    from vidlab import models

    _check_start(model, checkpoint, arch)
    if arch:
        spec = models.get_spec(arch)
        return Start(spec.name, None, f"{spec.name} (random initialisation)", {})
    if model:
        from vidlab import hub

        entry = hub.get_entry(model, weights)
        path = hub.load_checkpoint_path(entry.name, None, progress=progress)
        meta = models.read_meta(path)
        return Start(meta["arch"], str(path), f"{entry.name} ({entry.source}, {entry.dataset})", meta)
    meta = models.read_meta(checkpoint)
    return Start(meta["arch"], str(checkpoint), str(checkpoint), meta)


def _write_lists(out: Path, index: DatasetIndex, splits: dict[str, list[VideoRecord]], groups: dict[str, str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("".join(c + "\n" for c in index.classes))
    files = {}
    for s, recs in splits.items():
        if recs:
            p = out / f"{s}.csv"
            p.write_text("".join(f"{r.path} {int(r.label)}\n" for r in recs))
            files[s] = str(p)
    doc = {s: [{"path": r.path, "label": index.classes[int(r.label)], "group": groups.get(r.path)} for r in recs]
           for s, recs in splits.items()}
    (out / "splits.json").write_text(json.dumps(doc, indent=1) + "\n")
    return files


def finetune(data: str | Path, out: str | Path, *, model: str | None = None, weights: str | None = None,
             checkpoint: str | Path | None = None, arch: str | None = None, linear_probe: bool = False,
             freeze_until: str | None = None, epochs: int = 10, minutes: float | None = None, lr: float | None = None,
             optimizer: str = "sgd", backbone_lr_scale: float = 0.1, batch_size: int = 8,
             num_frames: int | None = None, sampling_rate: int | None = None, crop_size: int | None = None,
             val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0, resume: bool = False,
             threads: int | None = None, cache: str = "none", progress: bool = True,
             log: Callable[[str], None] | None = None) -> dict:
    """Fine-tune on class folders; see the module docstring. Returns the summary (also ``DIR/summary.json``)."""
    from vidlab import models
    from vidlab.engine.config import from_dict
    from vidlab.engine.trainer import Trainer

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    _check_start(model, checkpoint, arch)  # the command line first: nothing is read for one that cannot run
    if linear_probe and freeze_until:
        raise ConfigError("--linear-probe freezes everything but the classifier: leave out --freeze-until")
    t0 = time.time()
    data, out = Path(data).resolve(), Path(out).resolve()
    index = load_folder(data)
    used = {int(r.label) for recs in index.splits.values() for r in recs}
    if len(used) < len(index.classes):  # e.g. an annotations/ folder beside the class folders
        empty = [c for i, c in enumerate(index.classes) if i not in used]
        log(f"data: folders without videos are not classes: {', '.join(empty)}")
        index = index.subset([c for i, c in enumerate(index.classes) if i in used])
    if len(index.classes) < 2:
        raise ConfigError(f"{data}: fine-tuning needs at least 2 class folders with videos, found {len(index.classes)}")
    given = {s: list(index.records(s)) for s in SPLIT_ORDER if index.records(s)}
    if set(given) == {"train"}:
        splits, groups = grouped_split(given["train"], len(index.classes), val=val_fraction, test=test_fraction,
                                       seed=seed)
        rules = sorted({source_group(r.path, int(r.label))[0] for r in given["train"]})
        how = f"split here (seed {seed}, grouped by {', '.join(rules)})"
    else:
        splits = {s: given.get(s, []) for s in SPLIT_ORDER}
        groups = {}
        how = "the folder's own split folders"
    if not splits["train"]:
        raise ConfigError(f"{data}: no training videos")
    lists = _write_lists(out / "data", index, splits, groups)
    counts = {s: len(v) for s, v in splits.items()}
    log(f"data: {len(index.classes)} classes; train {counts['train']}, val {counts['val']}, test {counts['test']} "
        f"videos ({how})")

    start = resolve_start(model, weights, checkpoint, arch, progress)
    pre = start.meta.get("preprocessing") or {}
    spec = models.get_spec(start.arch)
    clip = {
        "num_frames": num_frames or pre.get("num_frames") or spec.num_frames,
        "sampling_rate": sampling_rate or pre.get("sampling_rate") or spec.sampling_rate,
        "crop_size": crop_size or pre.get("crop_size") or spec.crop_size,
    }
    for k in ("mean", "std", "target_fps"):
        if pre.get(k) is not None:
            clip[k] = pre[k]
    frozen = "backbone" if linear_probe else freeze_until
    cfg = from_dict({
        "model": {"arch": start.arch, "kwargs": dict(start.meta.get("model_kwargs") or {}), "init": start.init,
                  "init_head": "reset", "freeze": frozen},
        "data": {
            "root": str(data), "labels": str(out / "data" / "classes.txt"),
            **{s: lists.get(s) for s in SPLIT_ORDER},
            **clip, "batch_size": batch_size, "num_workers": 0, "test_views": 3, "test_crops": 1, "cache": cache,
        },
        "solver": {"optimizer": optimizer, "lr": lr or (0.01 if optimizer == "sgd" else 1e-4),
                   "weight_decay": 1e-4 if optimizer == "sgd" else 0.05, "epochs": epochs, "schedule": "cosine",
                   "warmup_epochs": min(1.0, epochs / 5), "warmup_start_lr": 0.0 if optimizer == "adamw" else 0.001,
                   "backbone_lr_scale": 1.0 if linear_probe else backbone_lr_scale, "clip_grad": 5.0},
        "train": {"out_dir": str(out / "run"), "seed": seed, "progress": progress, "eval_every": 1,
                  "time_budget": minutes * 60.0 if minutes else None, "threads": threads},
    })
    log(f"fine-tuning {start.arch} from {start.source}"
        + (f", {'linear probe' if linear_probe else 'frozen before ' + str(freeze_until)}" if frozen else ""))
    trainer = Trainer(cfg, log=log)
    t1 = time.time()
    hist = trainer.fit(resume=resume)
    train_s = time.time() - t1
    test = trainer.evaluate("test") if splits["test"] else None
    if test is None and splits["val"]:
        test = trainer.evaluate("val")
    ckpt = models.save(
        trainer.model, out / "model", arch=start.arch, num_classes=trainer.num_classes, labels=list(index.classes),
        preprocessing=trainer.preprocessing(), model_kwargs=cfg.model.kwargs,
        provenance={"trained_by": "vidlab finetune", "from": start.source, "data": str(data), "seed": seed},
    )
    summary = {
        "data": str(data), "classes": list(index.classes), "videos": counts, "split": how,
        "from": start.source, "arch": start.arch, "frozen": frozen,
        "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "epochs": len(hist), "train_seconds": round(train_s, 1),
        "final_train_top1": hist[-1].get("train_top1") if hist else None,
        "evaluated_on": "test" if splits["test"] else ("val" if splits["val"] else None),
        "top1": test["top1"] if test else None, "mean_class_accuracy": test["mean_class_accuracy"] if test else None,
        "checkpoint": str(ckpt), "seconds": round(time.time() - t0, 1),
    }
    report = _report(out, summary, hist, test, list(index.classes))
    summary["report"] = str(report)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _report(out: Path, s: dict, hist: list[dict], test: dict | None, classes: list[str]) -> Path:
    from vidlab.evaluation.report import training_report

    v = s["videos"]
    intro = (f"{s['arch']} from {s['from']}, fine-tuned on {len(classes)} classes ({v['train']} training, "
             f"{v['val']} validation, {v['test']} test videos; {s['split']}). {s['trainable_params']:,} parameters "
             f"trained" + (f" (frozen: {s['frozen']})" if s["frozen"] else "") + f", {s['epochs']} epochs in "
             f"{s['train_seconds']:.0f} s.")
    return training_report(out, title=f"vidlab finetune: {s['arch']} on {Path(s['data']).name}", intro=intro,
                           histories={s["arch"]: hist}, result=test, classes=classes, scored_on=s["evaluated_on"],
                           bullets=[f"checkpoint: {s['checkpoint']} (try `vidlab classify VIDEO --checkpoint "
                                    f"{s['checkpoint']}`)", "split lists and each video's source group: data/",
                                    "trainer folder (resume points, TensorBoard logs): run/"])
