#!/usr/bin/env python
"""A tiny video transformer trained from scratch on the synthetic action set: it must learn frame order.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_tiny_transformer.py [--minutes 10]
        [--arch vit|mvit] [--threads 2] [--out DIR] [--runs ordered,shuffled] [--json OUT]

The recorded run that reaches the >= 0.95 goal (RESULTS.md, fourteenth session: ordered
top-1 0.975, shuffled within-pair 0.531; about 50 minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_tiny_transformer.py --runs ordered,shuffled --minutes 54 \
        --epochs 75 --frames 8 --patch 4 --tubelet 4 --warmup 3 --lr 1e-3 --mixup 0.2 --label-smoothing 0.1

Data: ``vidlab demo``'s synthetic set (:data:`vidlab.apps.demo.DATA_SETTINGS`:
10 classes in 5 pairs whose two members are exact time reversals of each other;
800 training, 80 validation, 200 test videos of 32 frames at 64 px, 16 fps),
written under ``--out``/data (reused when its meta.json matches) and the demo's
clip (:data:`vidlab.apps.demo.CLIP`: short side jittered in [64, 72], random 56
crop, no flips, since mirroring swaps move_left and move_right) with
``--frames`` frames spanning the whole video (default 4 every 8th, the demo's
short-budget ``FAST_CLIP``; 8 every 4th is its full recipe). Test: 1 temporal
view x 1 centre crop per video.

Model (``--arch vit``, the default): the registered ``videomae_vit_s_16x4`` built with small
``model.kwargs`` (:data:`TINY_VIT`): a plain ViT in VideoMAE's layout, 4 blocks of width
``--width`` (default 96) with 4 heads over 2 x 8 x 8 tubelets (a clip of 8 frames at 56 px is
4 x 7 x 7 = 196 tokens), fixed sinusoidal position embeddings (time order is in the input from
the first step), mean pooling + fc_norm, head initialised at full scale (VideoMAE's 0.001 is
for fine-tuning).

Model (``--arch mvit``): the registered ``mvitv2_s_16x4`` built with small ``model.kwargs``
(:data:`TINY_MVIT`; every MViTv2 rule kept: the 3x7x7 / stride 2x4x4 patch
stem, conv-pooled attention with the adaptive k/v stride, decomposed
relative position biases, residual pooling, a cls token) at 4 blocks, width
32 -> 64 -> 128, heads 1 -> 2 -> 4, q pooled 1x2x2 at blocks 1 and 3, k/v pooled
1x2x2 in block 0 (the full model's 7 x 7 k/v grid at this crop), tables for the
clip, the mean of the tokens as the feature (``--no-mean-pool``: the cls token):
0.32 M parameters. Training: ``vidlab.engine.trainer.Trainer``
from ``vidlab.engine.config.from_dict`` (AdamW, linear warmup then cosine to
0, gradient clipping, batch 16, frames cached in memory, ``--mixup``: mixup of whole clips,
off by default), ``train.time_budget``
keeping each run inside its share of ``--minutes``.

Two runs, same network, recipe and seed:

- ``ordered``: the clips as they are;
- ``shuffled``: the frames of every clip in a random order, drawn per clip and
  per forward pass, in training and at test. vidlab's data pipeline has no
  frame-shuffling option, so a forward pre-hook on the model permutes the time
  axis of its input ``(B, C, T, H, W)`` (a per-clip random permutation of ``T``);
  that is the same as feeding shuffled frames. A shuffled clip and its time
  reversal are then equally likely, so the network can name the pair but not
  the member: top-1 near 0.5, pair accuracy high, within-pair accuracy near 0.5.

Figures: test top-1, pair accuracy (the prediction names the right pair,
class // 2), within-pair accuracy (top-1 / pair accuracy), epochs run,
training seconds, the load average. ``OMP_WAIT_POLICY`` defaults to ``PASSIVE``
as in the ``vidlab`` CLI (spinning OpenMP threads on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads libgomp

import numpy as np  # noqa: E402
import torch  # noqa: E402

ARCHS = {"vit": "videomae_vit_s_16x4", "mvit": "mvitv2_s_16x4", "swin": "swin3d_t"}
TINY_VIT = {
    "depth": 4, "embed_dim": 96, "num_heads": 4, "patch_size": 8, "tubelet_size": 2, "mlp_ratio": 4.0,
    "drop_path_rate": 0.1, "dropout": 0.0, "num_frames": 8, "crop_size": 56, "head_init_scale": 1.0,
}
# 4 blocks with MViTv2's rules: width and heads double where q is pooled (blocks 1 and 3).
TINY_MVIT = {
    "depth": 4, "embed_dim": 32, "num_heads": 1,
    "dim_mul": [[1, 2.0], [3, 2.0]], "head_mul": [[1, 2.0], [3, 2.0]],
    "pool_q_stride": [[i, 1, 2, 2] if i in (1, 3) else [i, 1, 1, 1] for i in range(4)],
    # k/v pooled 1x2x2 in block 0 (then 1x1x1 after the two q pools): at a 56 crop the token grid is
    # 14 x 14, a quarter of 224's, so this keeps the full model's 7 x 7 k/v grid (its 1x8x8 would
    # leave 2 x 2)
    "pool_kv_stride_adaptive": [1, 2, 2],
    "drop_path_rate": 0.1, "dropout": 0.0, "num_frames": 8, "crop_size": 56,
}
# Video Swin's rules (2x4x4 patches, shifted 3D windows with relative position biases, patch merging) at
# 3 stages of 2 blocks, width 32 -> 64 -> 128, heads 2 -> 4 -> 8; windows 4x7x7 (a clip of 8 frames at
# 56 px is 4 x 14 x 14 tokens: 4 windows in stage 0, one from stage 1 on)
TINY_SWIN = {
    "embed_dim": 32, "depths": [2, 2, 2], "num_heads": [2, 4, 8], "patch_size": [2, 4, 4],
    "window_size": [4, 7, 7], "drop_path_rate": 0.1, "head_dropout": 0.0,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic_set(data_dir: Path, seed: int) -> dict:
    """The demo's synthetic set in ``data_dir`` (reused when its meta.json says it is that set)."""
    from vidlab.apps.demo import DATA_SETTINGS
    from vidlab.data import synthetic

    meta_path = data_dir / "meta.json"
    if meta_path.exists() and (data_dir / "test.csv").exists():
        meta = json.loads(meta_path.read_text())
        have = {**meta, **{f"{k}_per_class": v for k, v in meta.get("per_class", {}).items()}}
        if meta.get("generator_version") == synthetic.GENERATOR_VERSION and \
                all(have.get(k) == v for k, v in {**DATA_SETTINGS, "seed": seed}.items()):
            log(f"reusing the synthetic set in {data_dir}")
            return meta
    log(f"writing the synthetic set to {data_dir}")
    synthetic.write_synthetic_dataset(data_dir, seed=seed, progress=False, **DATA_SETTINGS)
    return json.loads(meta_path.read_text())


class ShuffleFrames:
    """Forward pre-hook: permute the time axis of ``(B, C, T, H, W)`` by a fresh random
    permutation per clip (its own seeded generator, so the run's other random streams are
    those of the ordered run)."""

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, module, args):
        x = args[0]
        single = isinstance(x, (list, tuple))
        clip = x[0] if single else x
        b, c, t, h, w = clip.shape
        order = torch.argsort(torch.rand(b, t, generator=self.gen), dim=1).to(clip.device)
        clip = torch.gather(clip, 2, order[:, None, :, None, None].expand(b, c, t, h, w))
        return ([clip], *args[1:]) if single else (clip, *args[1:])


def pair_accuracy(cm) -> float:
    """Share of test videos whose prediction names the right pair (class // 2)."""
    cm = np.asarray(cm)
    n = cm.shape[0] // 2 * 2
    same = sum(cm[i, j] for i in range(n) for j in range(n) if i // 2 == j // 2)
    return float(same / max(cm[:n, :n].sum(), 1))


def config(data_dir: Path, out_dir: Path, a: argparse.Namespace, budget: float):
    from vidlab.apps.demo import CLIP
    from vidlab.engine.config import from_dict

    base = {"vit": TINY_VIT, "mvit": TINY_MVIT, "swin": TINY_SWIN}[a.arch]
    if a.arch == "vit":
        base = {**base, "patch_size": a.patch or base["patch_size"], "num_heads": a.heads or base["num_heads"],
                "tubelet_size": a.tubelet or base["tubelet_size"]}
    width = a.width or base["embed_dim"]
    drop_path = base["drop_path_rate"] if a.drop_path is None else a.drop_path
    return from_dict({
        "model": {"arch": ARCHS[a.arch], "kwargs": {
            **base, "embed_dim": width, "drop_path_rate": drop_path,
            **({} if a.arch == "swin" else {"num_frames": a.frames, "use_mean_pooling": a.mean_pool})}},
        "data": {
            "train": str(data_dir / "train.csv"), "val": str(data_dir / "val.csv"),
            "test": str(data_dir / "test.csv"), "labels": str(data_dir / "classes.txt"),
            # the clip spans the whole 32-frame video whatever the frame count
            **CLIP, "num_frames": a.frames, "sampling_rate": 32 // a.frames, "target_fps": 16.0, "flip": 0.0, "test_views": 1, "test_crops": 1,
            "batch_size": a.batch, "num_workers": 0, "cache": "memory", "mixup_alpha": a.mixup,
        },
        "solver": {"optimizer": "adamw", "lr": a.lr, "weight_decay": a.weight_decay, "epochs": a.epochs,
                   "schedule": "cosine", "final_lr": 0.0, "warmup_epochs": a.warmup,
                   "warmup_start_lr": a.lr / 100, "clip_grad": 1.0, "label_smoothing": a.label_smoothing},
        "train": {"out_dir": str(out_dir), "seed": a.seed, "deterministic": True, "progress": False,
                  "time_budget": budget, "tensorboard": False, "eval_every": a.eval_every,
                  "threads": a.threads},
    })


def run(name: str, data_dir: Path, a: argparse.Namespace, budget: float) -> dict:
    from vidlab.engine.trainer import Trainer

    cfg = config(data_dir, Path(a.out) / "runs" / name, a, budget)
    t0 = time.time()
    trainer = Trainer(cfg, log=lambda m: log(f"[{name}] {m}"))
    if name == "shuffled":
        trainer.model.register_forward_pre_hook(ShuffleFrames(a.seed + 1))
    hist = trainer.fit()
    train_s = time.time() - t0
    test = trainer.evaluate("test")
    pair = pair_accuracy(test["confusion_matrix"])
    return {"run": name, "top1": test["top1"], "pair_accuracy": pair, "within_pair": test["top1"] / max(pair, 1e-9),
            "epochs": len(hist), "planned_epochs": a.epochs, "train_seconds": round(train_s, 1),
            "test_seconds": round(time.time() - t0 - train_s, 1),
            "val_top1": [round(r["val_top1"], 3) for r in hist if "val_top1" in r],
            "params": sum(p.numel() for p in trainer.model.parameters()), "load_avg": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="budget for both runs together (data included)")
    ap.add_argument("--runs", default="ordered,shuffled")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/vidlab_tiny_transformer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40, help="planned epochs (the time budget shortens the schedule)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=1.0, help="warmup epochs")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--mixup", type=float, default=0.0, help="data.mixup_alpha: Beta(a, a) blend of clips (0: off)")
    ap.add_argument("--frames", type=int, default=4, choices=(4, 8, 16), help="frames per clip (every 32/n-th)")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="vit", help="the tiny ViT (VideoMAE layout), MViTv2 or Video Swin")
    ap.add_argument("--width", type=int, default=None, help="embed_dim (of block 0 for mvit); default: the arch's")
    ap.add_argument("--drop-path", type=float, default=None, help="default: the arch's (0.1)")
    ap.add_argument("--patch", type=int, default=None, help="vit: patch size (default 8)")
    ap.add_argument("--heads", type=int, default=None, help="vit: attention heads (default 4)")
    ap.add_argument("--tubelet", type=int, default=None, help="vit: frames per token (default 2)")
    ap.add_argument("--mean-pool", action=argparse.BooleanOptionalAction, default=True,
                    help="feature = mean of the tokens (MViTConfig.use_mean_pooling) instead of the cls token")
    ap.add_argument("--eval-every", type=int, default=5, help="validation every n epochs (and after the last)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    names = [r.strip() for r in a.runs.split(",") if r.strip()]
    if not names or any(r not in ("ordered", "shuffled") for r in names):
        ap.error("--runs takes ordered and/or shuffled")
    t_start = time.time()
    data_dir = Path(a.out) / "data"
    synthetic_set(data_dir, a.seed)
    results = []
    for i, name in enumerate(names):
        left = a.minutes * 60 - (time.time() - t_start)
        # an equal share of what is left for each remaining run; ~8% of it kept for its test pass
        budget = max(left / (len(names) - i) * 0.92, 10.0)
        log(f"{name}: training budget {budget:.0f} s")
        results.append(run(name, data_dir, a, budget))
        r = results[-1]
        log(f"{name}: test top-1 {r['top1']:.3f}, pair {r['pair_accuracy']:.3f}, {r['epochs']} epochs, "
            f"{r['train_seconds']:.0f} s")
    total = time.time() - t_start
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    shape = f"width {a.width or 'default'}, patch {a.patch or 'default'}, heads {a.heads or 'default'}, " \
            f"tubelet {a.tubelet or 'default'}"
    print(f"{time.strftime('%Y-%m-%d %H:%M')} | {ARCHS[a.arch]} tiny ({shape}, "
          f"{results[0]['params']:,} parameters) | AdamW lr {a.lr:g} wd {a.weight_decay:g}, warmup {a.warmup:g} "
          f"+ cosine, batch {a.batch}{f', mixup {a.mixup:g}' if a.mixup else ''}"
          f"{f', label smoothing {a.label_smoothing:g}' if a.label_smoothing else ''} | {a.threads} threads | "
          f"{total:.0f} s in all | load average {load}\n")
    print("| run | test top-1 | pair accuracy | within-pair accuracy | epochs (planned) | train s | val top-1 "
          "(every few epochs) | load at end |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['run']} | {r['top1']:.3f} | {r['pair_accuracy']:.3f} | {r['within_pair']:.3f} | "
              f"{r['epochs']} ({r['planned_epochs']}) | {r['train_seconds']:.0f} | "
              f"{', '.join(f'{v:.2f}' for v in r['val_top1'])} | {r['load_avg'][0]:.2f} |")
    if a.json:
        a.json.write_text(json.dumps({"settings": vars(a) | {"json": str(a.json)}, "results": results,
                                      "seconds": total}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
