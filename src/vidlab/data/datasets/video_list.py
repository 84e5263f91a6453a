"""The generic video-list format (MMAction2's ``VideoDataset`` lists).

One clip per line: ``relative/or/absolute/path.mp4 label``. Fields are
separated by whitespace (or a comma); ``#`` starts a comment; a label may be
several integers for multi-label lists. Relative paths are resolved against
``root`` (default: the list file's folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlab.data.sampling import clip_indices, plan_views, uniform_view_indices
from vidlab.data.transforms import ClipTransform
from vidlab.errors import DataError


@dataclass(frozen=True)
class VideoRecord:
    path: str
    label: int | tuple[int, ...]


def read_video_list(list_file: str | os.PathLike, root: str | os.PathLike | None = None) -> list[VideoRecord]:
    """Parse a ``path label`` list; errors name the file and line."""
    list_file = Path(list_file)
    if not list_file.exists():
        raise DataError(f"{list_file}: video list not found")
    base = Path(root) if root is not None else list_file.parent
    records = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 2:
            raise DataError(f"{list_file}:{n}: expected 'path label', got {line!r}")
        try:
            labels = tuple(int(x) for x in parts[1:])
        except ValueError:
            raise DataError(f"{list_file}:{n}: label must be an integer, got {' '.join(parts[1:])!r}") from None
        path = parts[0] if os.path.isabs(parts[0]) else str(base / parts[0])
        records.append(VideoRecord(path, labels[0] if len(labels) == 1 else labels))
    if not records:
        raise DataError(f"{list_file}: no clips listed")
    return records


class VideoListDataset(Dataset):
    """Clips from a video list, PySlowFast-style.

    ``mode="train"``: one clip per video with a random temporal start and
    random spatial augmentation; item = ``(clip (C,T,H,W), label, index)``.
    ``mode="test"``: ``num_views`` uniform temporal views x ``transform.spatial_crops``
    crops, all cut from a single decode of the video; item =
    ``(views (V,C,T,H,W), label, index)`` with views ordered temporal-major.

    Each video is decoded with ``threads`` decoder threads (default 1: short
    clips decode fastest single-threaded; parallelism comes from loader
    workers). Randomness is drawn from ``seed``, the epoch (:meth:`set_epoch`) and the
    item index, so results do not depend on worker count or order.
    """

    def __init__(
        self,
        records: list[VideoRecord] | str | os.PathLike,
        *,
        mode: str,
        num_frames: int,
        sampling_rate: int,
        transform: ClipTransform,
        target_fps: float | None = None,
        num_views: int = 1,
        seed: int = 0,
        backend: str = "pyav",
        threads: int = 1,
        root: str | os.PathLike | None = None,
    ):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        self.records = read_video_list(records, root) if isinstance(records, (str, os.PathLike)) else list(records)
        self.mode = mode
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.transform = transform
        self.target_fps = target_fps
        self.num_views = num_views
        self.seed = seed
        self.backend = backend
        self.threads = threads
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def labels(self) -> list:
        return [r.label for r in self.records]

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int):
        from vidlab.io import VideoReader

        rec = self.records[index]
        with VideoReader(rec.path, backend=self.backend, threads=self.threads) as reader:
            info = reader.info
            fps = info.fps if self.target_fps else None
            if self.mode == "train":
                rng = self._rng(index)
                idx = clip_indices(info.num_frames, self.num_frames, self.sampling_rate, clip_idx=-1,
                                   video_fps=fps, target_fps=self.target_fps, rng=rng)
                frames = reader.get_frames(idx)
                clip = self.transform(frames, rng=rng)
                return clip, _label_tensor(rec.label), index
            views = uniform_view_indices(info.num_frames, self.num_frames, self.sampling_rate, self.num_views,
                                         video_fps=fps, target_fps=self.target_fps)
            plan = plan_views(views)
            decoded = reader.get_frames(plan.frames)
        clips = []
        for v in plan.views:
            clips.extend(self.transform.views(decoded[v]))
        return torch.stack(clips), _label_tensor(rec.label), index


def _label_tensor(label) -> torch.Tensor:
    return torch.tensor(label, dtype=torch.long)
