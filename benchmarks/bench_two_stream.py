#!/usr/bin/env python
"""Two-stream, TSN and CNN+LSTM on the synthetic action set (the pre-3D-CNN half).

The synthetic set's classes come in time-reversed pairs (move left / right,
rotate clockwise / counter-clockwise, grow / shrink...): single frames tell the
pair, never the member. So an RGB single-frame model is capped near 0.5 while
anything that sees motion (flow, frame differences, frame order) can be right.

Pipeline (all on CPU):

1. the synthetic set (``vidlab.data.synthetic``, 64x64, 32 frames at 16 fps);
2. a flow cache of every clip (``vidlab.flow``, Farneback, quantised jpg pairs
   + ``img_%05d.jpg`` frames: the rawframes layout) and rawframe lists;
3. models, each trained from scratch with the same small SGD loop (momentum
   0.9, Nesterov, cosine with 1 warmup epoch, weight decay 1e-4, gradient
   clip 5, batch 16), tested on the test split (centre crop):

   - spatial stream (``two_stream_r10_tiny_spatial``): one RGB frame per
     training sample, test = mean of 10 frames' scores;
   - temporal stream (``two_stream_r10_tiny_temporal``): 5 stacked flow
     fields, test = mean of 10 stacks;
   - their late fusion: average and 1 : 1.5 weighted (``fuse_scores``);
   - conv fusion (``two_stream_r10_tiny_conv``) initialised from the streams,
     fine-tuned on 3 snippets (optional, ``--conv-fusion``);
   - TSN RGB and TSN RGB-difference (3 segments; test 10 segments);
   - CNN+LSTM (``cnn_lstm_r10_tiny``) and conv pooling, 8 frames every 4th;
   - with ``--i3d``, two-stream I3D: ``i3d_r10_tiny`` on 8 RGB frames and with
     a 2-channel stem on 8 flow fields (every 4th), probabilities averaged;
4. the speed of one training epoch of the temporal stream reading the cache
   vs. computing Farneback (and TV-L1 on a subset) flow on the fly.

Usage::

    python benchmarks/bench_two_stream.py [--out /tmp/bench_two_stream] [--json] [--reduced]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FULL = dict(train_per_class=80, val_per_class=1, test_per_class=20, size=64, num_frames=32, crop=56,
            scale=(64, 72), epochs=12, lstm_epochs=15, batch=16, test_segments=10, timing_clips=160,
            tvl1_clips=8)
REDUCED = dict(train_per_class=24, val_per_class=1, test_per_class=8, size=48, num_frames=24, crop=40,
               scale=(48, 52), epochs=8, lstm_epochs=10, batch=16, test_segments=6, timing_clips=0,
               tvl1_clips=0)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# data


def make_data(out: Path, s: dict, seed: int = 0, progress: bool = True) -> dict:
    """The synthetic set + a Farneback jpg flow cache + rawframe lists; reused when present."""
    from vidlab.data.datasets.rawframes import RawframeRecord, write_rawframe_list
    from vidlab.data.datasets.video_list import read_video_list
    from vidlab.data.synthetic import write_synthetic_dataset
    from vidlab.flow.extract import extract_flows

    data = out / "data"
    if not (data / "test.csv").exists():
        write_synthetic_dataset(data, train_per_class=s["train_per_class"], val_per_class=s["val_per_class"],
                                test_per_class=s["test_per_class"], size=s["size"], num_frames=s["num_frames"],
                                seed=seed, progress=progress)
    lists = {}
    t0 = time.perf_counter()
    for split in ("train", "test"):
        records = read_video_list(data / f"{split}.csv")
        res = extract_flows([r.path for r in records], out / "flow" / split, "farneback", fmt="jpg", rgb=True,
                            progress=progress)
        raw = [RawframeRecord(r["dir"], r["num_frames"], rec.label) for r, rec in zip(res, records)]
        lists[split] = write_rawframe_list(out / f"{split}_rawframes.txt", raw)
        lists[f"{split}_videos"] = data / f"{split}.csv"
    lists["flow_seconds"] = time.perf_counter() - t0
    return lists


# --------------------------------------------------------------------------
# training and testing


def _to(x, device="cpu"):
    return [t.to(device) for t in x] if isinstance(x, (list, tuple)) else x.to(device)


def _flatten_views(x):
    if isinstance(x, (list, tuple)):
        return [t.flatten(0, 1) for t in x], x[0].shape[:2]
    return x.flatten(0, 1), x.shape[:2]


def train(model, ds, *, epochs: int, batch: int, lr: float = 0.05, seed: int = 0, desc: str = "",
          params=None, optimizer: str = "sgd") -> dict:
    """SGD (Nesterov momentum 0.9) or AdamW, 1 warmup epoch + cosine, weight decay 1e-4, grad clip 5."""
    from torch.utils.data import DataLoader, RandomSampler
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}]
    if optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr)
    else:
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        loader = DataLoader(ds, batch_size=batch, sampler=RandomSampler(ds, generator=g), drop_last=True)
        model.train()
        n_it = len(loader)
        seen = correct = 0
        loss_sum = 0.0
        for it, (x, y, _) in enumerate(tqdm(loader, desc=f"{desc} {epoch + 1}/{epochs}", leave=False,
                                            file=sys.stderr, dynamic_ncols=True, disable=not sys.stderr.isatty())):
            e = epoch + it / n_it
            cur = lr * (0.1 + 0.9 * e) if e < 1 else 0.5 * lr * (1 + math.cos(math.pi * (e - 1) / max(epochs - 1, 1e-9)))
            for grp in opt.param_groups:
                grp["lr"] = cur
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        log(f"  {desc} epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.3f} train top-1 {correct / seen:.3f}")
    return {"seconds": time.perf_counter() - t0, "train_top1": correct / max(seen, 1)}


@torch.no_grad()
def predict(model, ds, batch: int = 16) -> tuple[torch.Tensor, np.ndarray]:
    """Video-level class probabilities (mean softmax over views) and labels."""
    from torch.utils.data import DataLoader

    model.eval()
    probs, labels = [], []
    for x, y, _ in DataLoader(ds, batch_size=batch):
        flat, (b, v) = _flatten_views(x)
        probs.append(model(flat).float().softmax(-1).view(b, v, -1).mean(1))
        labels.append(y.numpy())
    return torch.cat(probs), np.concatenate(labels)


def top1(probs: torch.Tensor, labels: np.ndarray) -> float:
    return float((probs.argmax(1).numpy() == labels).mean())


def pair_top1(probs: torch.Tensor, labels: np.ndarray) -> float:
    return float(((probs.argmax(1).numpy() // 2) == (labels // 2)).mean())


# --------------------------------------------------------------------------
# the experiments


def run(out: Path, s: dict, *, conv_fusion: bool = True, i3d: bool = False, seed: int = 0, progress: bool = True,
        only: set | None = None) -> dict:
    from vidlab import models
    from vidlab.data.datasets.flow_clips import SnippetDataset, SnippetTransform
    from vidlab.data.datasets.rawframes import RawframeDataset
    from vidlab.data.transforms import ClipTransform
    from vidlab.models import cnn_lstm, tsn, two_stream  # noqa: F401  (registers the families)
    from vidlab.models.two_stream import ConvFusionTwoStream, fuse_scores

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lists = make_data(out, s, seed, progress)
    res: dict = {"settings": s, "flow_cache_seconds": lists["flow_seconds"], "data_seconds": time.perf_counter() - t0}
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    crop, (lo, hi), ts = s["crop"], s["scale"], s["test_segments"]

    def tf(train: bool) -> SnippetTransform:
        return SnippetTransform(train=train, crop_size=crop, min_scale=lo, max_scale=hi, test_scale=s["size"],
                                mean=mean, std=std, flow_scale=20.0)

    def snippets(split, modality, k, **kw):
        train_ = split == "train"
        return SnippetDataset(lists[split], mode="train" if train_ else "test", modality=modality, transform=tf(train_),
                              num_segments=k, test_segments=ts, seed=seed, **kw)

    def want(name):
        return only is None or name in only

    table = {}
    probs = {}

    def record(name, model, ds_train, ds_test, epochs, **kw):
        log(f"training {name} ({sum(p.numel() for p in model.parameters()):,} params)")
        info = train(model, ds_train, epochs=epochs, batch=s["batch"], seed=seed, desc=name, **kw)
        p, y = predict(model, ds_test)
        probs[name] = (p, y)
        table[name] = {"top1": top1(p, y), "pair_top1": pair_top1(p, y), "train_seconds": info["seconds"],
                       "epochs": epochs}
        log(f"  {name}: test top-1 {table[name]['top1']:.3f} (pair {table[name]['pair_top1']:.3f}), "
            f"{info['seconds']:.0f} s")
        return model

    nc = 10
    torch.manual_seed(seed)
    spatial = temporal = None
    if want("spatial") or want("fusion"):
        spatial = record("spatial", models.build("two_stream_r10_tiny_spatial", num_classes=nc),
                         snippets("train", "rgb", 1), snippets("test", "rgb", 1), s["epochs"])
    if want("temporal") or want("fusion"):
        temporal = record("temporal", models.build("two_stream_r10_tiny_temporal", num_classes=nc),
                          snippets("train", "flow", 1, new_length=5), snippets("test", "flow", 1, new_length=5),
                          s["epochs"])
    if spatial is not None and temporal is not None:
        (ps, y), (pt, _) = probs["spatial"], probs["temporal"]
        for name, w in (("fusion_average", (1.0, 1.0)), ("fusion_weighted", (1.0, 1.5))):
            fused = fuse_scores([ps.log(), pt.log()], w).softmax(-1)
            table[name] = {"top1": top1(fused, y), "pair_top1": pair_top1(fused, y), "weights": list(w)}
            log(f"  {name}: test top-1 {table[name]['top1']:.3f}")
        if conv_fusion and want("conv_fusion"):
            model = ConvFusionTwoStream.from_streams(spatial, temporal, nc, backbone="resnet10_tiny", dropout=0.2)
            record("conv_fusion", model, snippets("train", "rgb+flow", 3, new_length=5),
                   snippets("test", "rgb+flow", 3, new_length=5), max(2, s["epochs"] // 3))
    if want("tsn_rgb"):
        record("tsn_rgb", models.build("tsn_r10_tiny", num_classes=nc), snippets("train", "rgb", 3),
               snippets("test", "rgb", 3), s["epochs"])
    if want("tsn_rgbdiff"):
        record("tsn_rgbdiff", models.build("tsn_r10_tiny_rgbdiff", num_classes=nc),
               snippets("train", "rgb_diff", 3, new_length=5), snippets("test", "rgb_diff", 3, new_length=5),
               s["epochs"])
    clip_kw = dict(num_frames=8, sampling_rate=max(1, s["num_frames"] // 8))

    def clips(split):
        train_ = split == "train"
        t = ClipTransform(train=train_, crop_size=crop, min_scale=lo, max_scale=hi, test_scale=s["size"], flip=0.0,
                          mean=mean, std=std)
        return RawframeDataset(lists[split], mode="train" if train_ else "test", transform=t, seed=seed, **clip_kw)

    if want("cnn_lstm"):
        record("cnn_lstm", models.build(s.get("lstm_arch", "cnn_lstm_r10_tiny"), num_classes=nc), clips("train"), clips("test"),
               s["lstm_epochs"], lr=s.get("lstm_lr", 0.05))
    if want("conv_pooling"):
        record("conv_pooling", models.build("cnn_lstm_r10_tiny_convpool", num_classes=nc), clips("train"),
               clips("test"), s["epochs"])
    if i3d and (want("i3d") or only is None):
        # two-stream I3D: the demo's i3d_r10_tiny on RGB clips and with a 2-channel stem on flow clips
        # (8 frames / 8 flow fields every num_frames // 8), probabilities averaged
        rgb = record("i3d_rgb", models.build("i3d_r10_tiny", num_classes=nc), clips("train"), clips("test"),
                     s["lstm_epochs"])

        def flow_clips(split):
            train_ = split == "train"
            t = ClipTransform(train=train_, crop_size=crop, min_scale=lo, max_scale=hi, test_scale=s["size"],
                              flip=0.0)
            return RawframeDataset(lists[split], mode="train" if train_ else "test", transform=t, seed=seed,
                                   modality="flow", **clip_kw)

        flow = record("i3d_flow", models.build("i3d_r10_tiny", num_classes=nc, in_channels=2), flow_clips("train"),
                      flow_clips("test"), s["lstm_epochs"])
        (pr, y), (pf, _) = probs["i3d_rgb"], probs["i3d_flow"]
        fused = fuse_scores([pr.log(), pf.log()]).softmax(-1)
        table["i3d_fusion"] = {"top1": top1(fused, y), "pair_top1": pair_top1(fused, y), "weights": [1.0, 1.0]}
        del rgb, flow
    res["table"] = table
    if s.get("timing_clips"):
        res["epoch_timing"] = epoch_timing(lists, s, tf, seed)
    res["seconds"] = time.perf_counter() - t0
    return res


def epoch_timing(lists: dict, s: dict, tf, seed: int) -> dict:
    """One training epoch of the temporal stream (5-field stacks, K = 1, batch 16) over
    the same ``timing_clips`` training clips, reading the jpg cache vs. computing
    flow on the fly (Farneback; TV-L1 on ``tvl1_clips`` clips, scaled per clip)."""
    from vidlab import models
    from vidlab.data.datasets.flow_clips import SnippetDataset
    from vidlab.data.datasets.rawframes import read_rawframe_list
    from vidlab.data.datasets.video_list import read_video_list

    n = s["timing_clips"]
    raw = read_rawframe_list(lists["train"])
    vids = read_video_list(lists["train_videos"])
    step = max(1, len(raw) // n)
    raw, vids = raw[::step][:n], vids[::step][:n]
    assert [Path(r.path).name for r in raw] == [Path(v.path).stem for v in vids]
    out = {}
    for name, records, est, count in (("cached_jpg", raw, None, n), ("on_the_fly_farneback", vids, "farneback", n),
                                      ("on_the_fly_tvl1", vids[: s["tvl1_clips"]], "tvl1", s["tvl1_clips"])):
        if not count:
            continue
        ds = SnippetDataset(records, mode="train", modality="flow", transform=tf(True), num_segments=1,
                            new_length=5, seed=seed, estimator=est or "farneback")
        model = models.build("two_stream_r10_tiny_temporal", num_classes=10)
        t0 = time.perf_counter()
        train(model, ds, epochs=1, batch=min(16, count), seed=seed, desc=f"timing {name}")
        dt = time.perf_counter() - t0
        out[name] = {"clips": count, "seconds": dt, "seconds_per_clip": dt / count}
        log(f"  epoch timing {name}: {dt:.2f} s for {count} clips")
    base = out["cached_jpg"]["seconds_per_clip"]
    for k, v in out.items():
        v["ratio_to_cached"] = v["seconds_per_clip"] / base
    return out


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_two_stream"))
    ap.add_argument("--reduced", action="store_true", help="the small settings of the test")
    ap.add_argument("--no-conv-fusion", action="store_true")
    ap.add_argument("--i3d", action="store_true", help="also two-stream I3D (i3d_r10_tiny on RGB and on flow)")
    ap.add_argument("--only", default=None, help="comma-separated experiments")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (on a loaded shared machine 1 is far faster than 2: OpenMP threads spin)")
    ap.add_argument("--lstm-epochs", type=int, default=None, help="epochs of the CNN+LSTM runs (default 15)")
    ap.add_argument("--lstm-arch", default="cnn_lstm_r10_tiny",
                    help="CNN+LSTM variant (cnn_lstm_r10_tiny, cnn_lstm_r10_tiny_bi)")
    ap.add_argument("--lstm-lr", type=float, default=None, help="learning rate of the CNN+LSTM runs (default 0.05)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    s = dict(REDUCED if args.reduced else FULL)
    if args.lstm_epochs:
        s["lstm_epochs"] = args.lstm_epochs
    if args.lstm_lr:
        s["lstm_lr"] = args.lstm_lr
    s["lstm_arch"] = args.lstm_arch
    info = machine()
    res = run(args.out, s, conv_fusion=not args.no_conv_fusion, i3d=args.i3d, seed=args.seed,
              only=set(args.only.split(",")) if args.only else None)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    res["machine"] = info
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"# bench_two_stream: {info['date']}, {info['cpu']} x{info['cpus']}, torch {info['torch']} "
          f"({info['threads']} threads), load {info['load_average']} -> {info['load_average_after']}")
    print(f"# synthetic set {s['size']}x{s['size']}, {s['num_frames']} frames, {s['train_per_class']} train / "
          f"{s['test_per_class']} test clips per class; flow cache (Farneback jpg) {res['flow_cache_seconds']:.0f} s; "
          f"total {res['seconds']:.0f} s\n")
    print("| model | test top-1 | right pair | epochs | train s |")
    print("|---|---|---|---|---|")
    for name, r in res["table"].items():
        print(f"| {name} | {r['top1']:.3f} | {r['pair_top1']:.3f} | {r.get('epochs', '-')} | "
              f"{r['train_seconds']:.0f} |" if "train_seconds" in r else
              f"| {name} | {r['top1']:.3f} | {r['pair_top1']:.3f} | - | - |")
    if "epoch_timing" in res:
        print("\n| temporal-stream epoch | clips | seconds | s/clip | x cached |")
        print("|---|---|---|---|---|")
        for name, r in res["epoch_timing"].items():
            print(f"| {name} | {r['clips']} | {r['seconds']:.2f} | {r['seconds_per_clip']:.4f} | "
                  f"{r['ratio_to_cached']:.1f} |")


if __name__ == "__main__":
    main()
