"""Clips for calibration, fine-tuning and accuracy checks, read with the model's own preprocessing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from vidlab.errors import VidlabError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".gif", ".flv", ".wmv"}


class CalibrationError(VidlabError, ValueError):
    """The calibration / evaluation data cannot be read."""


def resolve_videos(data: str | os.PathLike, *, check: bool = True) -> list:
    """Records of a folder of videos (recursive; label -1) or a video list, all checked to open.

    Raises :class:`CalibrationError` before any model work when the set is
    missing, empty or holds a file that cannot be opened as a video.
    """
    from vidlab.data.datasets.video_list import VideoRecord, read_video_list
    from vidlab.io import probe_video

    p = Path(data)
    if not p.exists():
        raise CalibrationError(f"{p}: calibration/evaluation data not found")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file())
        records = [VideoRecord(path=str(f), label=-1) for f in files]
    else:
        try:
            records = read_video_list(p)
        except Exception as e:  # noqa: BLE001
            raise CalibrationError(f"{p}: not a readable video list ({e})") from None
    if not records:
        raise CalibrationError(f"{p}: no videos in it")
    if check:
        for r in records:
            try:
                info = probe_video(r.path)
            except Exception as e:  # noqa: BLE001
                raise CalibrationError(f"{r.path}: cannot be read as a video ({str(e).splitlines()[0][:160]})") from None
            if not info.num_frames:
                raise CalibrationError(f"{r.path}: no frames")
    return records


def preprocessing_of(model_or_meta) -> object:
    """The :class:`~vidlab.engine.inference.Preprocessing` of a model or of a checkpoint's sidecar dict."""
    from vidlab.engine.inference import Preprocessing

    if isinstance(model_or_meta, dict):
        holder = nn.Module()
        holder.meta = model_or_meta
        holder.arch = model_or_meta.get("arch")
        return Preprocessing.from_model(holder)
    return Preprocessing.from_model(model_or_meta)


def dataset(records, meta: dict, *, train: bool, spatial_crops: int = 1, seed: int = 0):
    from vidlab.data.datasets.video_list import VideoListDataset
    from vidlab.data.transforms import ClipTransform

    pre = preprocessing_of(meta)
    if train:
        tf = ClipTransform(train=True, crop_size=pre.crop_size, min_scale=pre.test_scale,
                           max_scale=round(pre.test_scale * 1.125), flip=0.0, mean=pre.mean, std=pre.std)
    else:
        tf = ClipTransform(train=False, crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean,
                           std=pre.std, spatial_crops=spatial_crops)
    return VideoListDataset(records, mode="train" if train else "test", num_frames=pre.num_frames,
                            sampling_rate=pre.sampling_rate, transform=tf, target_fps=pre.target_fps, seed=seed)


def calibration_batches(records, meta: dict, *, max_clips: int = 16, batch_size: int = 1) -> Iterator[tuple]:
    """Yield ``(clips,)`` test-style centre clips of up to ``max_clips`` videos."""
    ds = dataset(records[:max_clips], meta, train=False)
    buf = []
    for i in range(len(ds)):
        views, _, _ = ds[i]
        buf.append(views[0])
        if len(buf) == batch_size:
            yield (torch.stack(buf),)
            buf = []
    if buf:
        yield (torch.stack(buf),)


@torch.no_grad()
def evaluate_top1(model: nn.Module, records, meta: dict, *, spatial_crops: int = 3,
                  on_item: Callable[[int, int], None] | None = None) -> dict:
    """Video top-1 on labelled records: softmax averaged over ``spatial_crops`` centre-clip crops."""
    ds = dataset(records, meta, train=False, spatial_crops=spatial_crops)
    correct, n, probs_all = 0, 0, []
    for i in range(len(ds)):
        views, label, _ = ds[i]
        probs = model(views).float().softmax(-1).mean(0)
        probs_all.append(probs)
        correct += int(int(probs.argmax()) == int(label))
        n += 1
        if on_item:
            on_item(i + 1, len(ds))
    return {"top1": correct / max(n, 1), "videos": n, "probs": torch.stack(probs_all) if probs_all else None}


def finetune(model: nn.Module, records, meta: dict, *, epochs: int = 1, lr: float = 0.01, batch_size: int = 16,
             seed: int = 0, on_step: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """A short SGD fine-tune (momentum 0.9, wd 1e-4, cosine to 0) of ``model`` in place; returns it in eval mode."""
    import math

    from torch.utils.data import DataLoader

    ds = dataset(records, meta, train=True, seed=seed)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g, drop_last=len(ds) > batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    total = max(epochs * len(loader), 1)
    step = 0
    model.train()
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for clips, labels, _ in loader:
            for group in opt.param_groups:
                group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / total))
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if on_step:
                on_step(step, total, float(loss))
    return model.eval()
