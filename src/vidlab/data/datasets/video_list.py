"""The generic video-list format (MMAction2's ``VideoDataset`` lists).

One clip per line: ``relative/or/absolute/path.mp4 label``. Fields are
separated by whitespace (or a comma); ``#`` starts a comment; a label may be
several integers for multi-label lists. Relative paths are resolved against
``root`` (default: the list file's folder).

:class:`VideoRecord` also carries what the benchmark formats add: a segment
of the video (``start``/``end`` in frames or seconds: KTH repetitions,
ActivityNet segments, untrimmed Kinetics videos), the annotation's name for
the video, a group (the person, for person-disjoint splits) and timed action
intervals (Charades: the multi-label target of a training clip is the set of
actions under its frames).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlab.data.datasets.protocol import CacheFill, ClipDatasetMixin
from vidlab.data.sampling import (
    FRAME_LIST_RULES,
    clip_indices,
    draw_sampling_rate,
    frame_list_view_indices,
    mmaction2_view_indices,
    plan_views,
    uniform_view_indices,
)
from vidlab.data.transforms import ClipTransform
from vidlab.errors import DataError
from vidlab.io.errors import VideoDecodeError


@dataclass(frozen=True)
class VideoRecord:
    """One clip: a video file (or a segment of one) and its label.

    ``label`` is a class index, a tuple of class indices (multi-label) or -1
    (unlabelled). ``start``/``end`` bound the segment to sample from, in
    ``unit`` ("frame": 0-based indices, end exclusive; "second"); ``None``
    means the start/end of the video. ``intervals`` are ``(class, start_s,
    end_s)`` action instances (Charades).
    """

    path: str
    label: int | tuple[int, ...]
    start: float | None = None
    end: float | None = None
    unit: str = "frame"
    video_id: str | None = None
    group: str | None = None
    intervals: tuple = ()


class TooShortError(VideoDecodeError):
    """A video (or the segment of it that a record names) has fewer frames than a clip needs."""


class _CachedVideo:
    """A decoded video held in RAM, with the part of :class:`~vidlab.io.VideoReader`'s API a dataset uses."""

    def __init__(self, info, frames: np.ndarray):
        self.info = info
        self.frames = frames  # (N, H, W, 3) uint8, N = info.num_frames

    def get_frames(self, indices) -> np.ndarray:
        return self.frames[np.asarray(indices, dtype=np.int64)]  # fancy indexing: a copy, the cache stays intact

    def __enter__(self) -> _CachedVideo:
        return self

    def __exit__(self, *exc) -> None:
        """Nothing to release: the frames belong to the cache."""


class FrameCache:
    """Decode each video once and keep its frames (``uint8`` RGB) in RAM, up to ``max_bytes``.

    :meth:`open` returns what :class:`~vidlab.io.VideoReader` would (a context
    manager with ``info`` and ``get_frames``). The first time a video is
    opened, all ``info.num_frames`` frames are decoded with the reader's own
    ``get_frames`` (so frame ``i`` is exactly the frame a per-clip decode gives
    for index ``i``) and stored if they fit in what is left of the budget;
    later opens serve slices of that array without touching the file. A video
    that does not fit, or whose full decode fails (a truncated or corrupt
    file: the per-clip decode then decides, as without a cache), is read from
    the file every time.

    The cache lives in the process that reads: with DataLoader workers each
    worker has its own, unless the main process filled it before the workers
    started (:meth:`VideoListDataset.fill_cache`; with the ``fork`` start
    method the workers then share those pages copy-on-write).
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.used = 0
        self.videos: dict[str, _CachedVideo] = {}
        self._uncached: set[str] = set()  # too big for what was left, or not fully decodable

    def __len__(self) -> int:
        return len(self.videos)

    def __contains__(self, path: str) -> bool:
        return str(path) in self.videos

    def open(self, path: str, *, backend: str = "pyav", threads: int = 1):
        from vidlab.io import VideoReader

        path = str(path)
        hit = self.videos.get(path)
        if hit is not None:
            return hit
        reader = VideoReader(path, backend=backend, threads=threads)
        if path in self._uncached:
            return reader
        info = reader.info
        size = info.num_frames * info.height * info.width * 3
        if info.num_frames < 1 or self.used + size > self.max_bytes:
            self._uncached.add(path)
            return reader
        try:
            frames = reader.get_frames(np.arange(info.num_frames))
        except (VideoDecodeError, IndexError):
            # a fresh reader for the clip: the failed full decode may have changed this one's mode
            reader.close()
            self._uncached.add(path)
            return VideoReader(path, backend=backend, threads=threads)
        reader.close()
        self.used += frames.nbytes
        self.videos[path] = _CachedVideo(info, frames)
        return self.videos[path]

    def fill(self, paths, *, backend: str = "pyav", threads: int = 1) -> int:
        """Decode ``paths`` into the cache now (while the budget lasts); the number of videos cached.

        Unreadable videos are skipped: reading one of their clips reports them as usual."""
        for path in dict.fromkeys(map(str, paths)):
            try:
                video = self.open(path, backend=backend, threads=threads)
            except (VideoDecodeError, OSError):
                continue
            if not isinstance(video, _CachedVideo):
                video.close()
        return len(self)


def read_video_list(list_file: str | os.PathLike, root: str | os.PathLike | None = None) -> list[VideoRecord]:
    """Parse a ``path label`` list; errors name the file and line."""
    list_file = Path(list_file)
    if not list_file.exists():
        raise DataError(f"{list_file}: video list not found")
    base = Path(root) if root is not None else list_file.parent
    records = []
    try:
        text = list_file.read_text()
    except UnicodeDecodeError:
        raise DataError(f"{list_file}: not a text file (a video list has one 'path label' per line)") from None
    except IsADirectoryError:
        raise DataError(f"{list_file}: a folder, not a video list file") from None
    for n, line in enumerate(text.splitlines(), 1):
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


#: Temporal test-view rules of :class:`VideoListDataset` (``view_rule``).
VIEW_RULES = ("pyslowfast", "mmaction2", *FRAME_LIST_RULES)


class VideoListDataset(ClipDatasetMixin, Dataset):
    """Clips from a video list, PySlowFast-style.

    ``mode="train"``: one clip per video with a random temporal start and
    random spatial augmentation; item = ``(clip (C,T,H,W), label, index)``.
    ``mode="test"``: ``num_views`` uniform temporal views x ``transform.spatial_crops``
    crops, all cut from a single decode of the video; item =
    ``(views (V,C,T,H,W), label, index)`` with views ordered temporal-major.
    ``view_rule`` picks the temporal test views: ``"pyslowfast"`` (default,
    :func:`~vidlab.data.sampling.uniform_view_indices`) or ``"mmaction2"``
    (MMAction2 1.x ``SampleFrames`` in test mode,
    :func:`~vidlab.data.sampling.mmaction2_view_indices`: clip offsets spread
    from the first frame to the last, every ``sampling_rate``-th frame, indices
    past the end wrapped; ``vidlab eval --protocol source`` on an MMAction2
    checkpoint) or a frame-list rule of PySlowFast's SSv2 / Charades loaders
    (``"pyslowfast_ssv2"``, ``"pyslowfast_charades"``, ``"pytorchvideo_charades"``:
    :func:`~vidlab.data.sampling.frame_list_view_indices`, the video counted as
    a frame list at ``target_fps``). Training clips do not depend on it.

    Each video is decoded with ``threads`` decoder threads (default 1: short
    clips decode fastest single-threaded; parallelism comes from loader
    workers). Randomness is drawn from ``seed``, the epoch (:meth:`set_epoch`) and the
    item index, so results do not depend on worker count or order.

    Records with a segment (``start``/``end``) are sampled inside it (test
    views spread over the segment). ``min_frames``: a video or segment with
    fewer decodable frames raises :class:`TooShortError` (default 1).
    ``multi_label=True`` (with ``num_classes``) makes the label a float
    multi-hot vector; in training, a record with ``intervals`` gets the
    classes whose intervals contain one of the clip's frames.

    ``cache_bytes``: keep decoded videos in RAM up to this many bytes
    (:class:`FrameCache`; ``data.cache: memory``): each video is decoded once
    and later items are cut from its frames, identical to decoding them from
    the file. Copies of the dataset (``copy.copy``, as multigrid's reshaped
    variants from :meth:`with_shape` are) share one cache.

    It is a :class:`~vidlab.data.datasets.protocol.TrainDataset`.
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
        min_frames: int = 1,
        multi_label: bool = False,
        num_classes: int | None = None,
        cache_bytes: int | None = None,
        view_rule: str = "pyslowfast",
    ):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if view_rule not in VIEW_RULES:
            raise ValueError(f"view_rule must be one of {', '.join(VIEW_RULES)}, got {view_rule!r}")
        self.records = read_video_list(records, root) if isinstance(records, (str, os.PathLike)) else list(records)
        self.mode = mode
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.max_sampling_rate: int | None = None  # multigrid: see sampling.draw_sampling_rate
        self.transform = transform
        self.target_fps = target_fps
        self.num_views = num_views
        self.view_rule = view_rule
        self.seed = seed
        self.backend = backend
        self.threads = threads
        self.min_frames = max(int(min_frames), 1)
        self.multi_label = multi_label
        self.num_classes = num_classes
        if multi_label and not num_classes:
            raise ValueError("multi_label=True needs num_classes")
        self.epoch = 0
        self.frame_cache = FrameCache(cache_bytes) if cache_bytes else None

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def labels(self) -> list:
        return [r.label for r in self.records]

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def window(self, rec: VideoRecord, num_frames: int, fps: float) -> tuple[int, int]:
        """The frame range ``[lo, hi)`` a record samples from, clamped to the video."""
        lo, hi = 0, num_frames
        if rec.start is not None or rec.end is not None:
            scale = fps if rec.unit == "second" else 1.0
            if rec.start is not None:
                lo = max(int(round(rec.start * scale)), 0)
            if rec.end is not None:
                hi = min(int(round(rec.end * scale)), num_frames)
        if hi - lo < self.min_frames:
            what = f"segment [{lo}, {hi}) of a {num_frames}-frame video" if (lo, hi) != (0, num_frames) \
                else f"{num_frames} frames"
            raise TooShortError(rec.path, f"too short: {what}, need at least {self.min_frames}")
        return lo, hi

    def _open(self, path: str):
        if self.frame_cache is not None:
            return self.frame_cache.open(path, backend=self.backend, threads=self.threads)
        from vidlab.io import VideoReader

        return VideoReader(path, backend=self.backend, threads=self.threads)

    def fill_cache(self, progress: bool = False) -> CacheFill | None:
        """Decode every video into the frame cache now (until its budget is spent); what it holds
        then, or None without a cache.

        Unreadable videos are skipped here: reading the item reports them as usual.
        ``progress`` shows a progress bar (on stderr)."""
        cache = self.frame_cache
        if cache is None:
            return None
        from tqdm.auto import tqdm

        paths = list(dict.fromkeys(r.path for r in self.records))
        bar = tqdm(paths, desc="data.cache: decoding", disable=not progress, leave=False, file=sys.stderr,
                   dynamic_ncols=True)
        n = cache.fill(bar, backend=self.backend, threads=self.threads)
        return CacheFill(cached=n, videos=len(paths), used_bytes=cache.used, max_bytes=cache.max_bytes)

    def __getitem__(self, index: int):
        rec = self.records[index]
        with self._open(rec.path) as reader:
            info = reader.info
            fps = info.fps if self.target_fps else None
            lo, hi = self.window(rec, info.num_frames, info.fps)
            if self.mode == "train":
                rng = self._rng(index)
                rate = draw_sampling_rate(self.sampling_rate, self.max_sampling_rate, rng)
                idx = lo + clip_indices(hi - lo, self.num_frames, rate, clip_idx=-1,
                                        video_fps=fps, target_fps=self.target_fps, rng=rng)
                frames = reader.get_frames(idx)
                clip = self.transform(frames, rng=rng)
                label = rec.label
                if rec.intervals and self.multi_label:
                    times = idx / info.fps
                    label = tuple(sorted({c for c, a, b in rec.intervals if ((times >= a) & (times <= b)).any()}))
                return clip, self._target(label), index
            if self.view_rule == "mmaction2":
                views = mmaction2_view_indices(hi - lo, self.num_frames, self.sampling_rate, self.num_views,
                                               video_fps=fps, target_fps=self.target_fps)
            elif self.view_rule in FRAME_LIST_RULES:
                views = frame_list_view_indices(self.view_rule, hi - lo, self.num_frames, self.sampling_rate,
                                                self.num_views, video_fps=fps, list_fps=self.target_fps)
            else:
                views = uniform_view_indices(hi - lo, self.num_frames, self.sampling_rate, self.num_views,
                                             video_fps=fps, target_fps=self.target_fps)
            plan = plan_views([lo + v for v in views])
            decoded = reader.get_frames(plan.frames)
        clips = []
        for v in plan.views:
            clips.extend(self.transform.views(decoded[v]))
        return torch.stack(clips), self._target(rec.label), index

    def _target(self, label) -> torch.Tensor:
        if not self.multi_label:
            return _label_tensor(label)
        target = torch.zeros(self.num_classes, dtype=torch.float32)
        labels = label if isinstance(label, tuple) else (label,)
        for c in labels:
            if c >= 0:
                target[c] = 1.0
        return target

    def placeholder(self, index: int):
        """An all-zero item shaped like ``self[index]`` (for a video that cannot be read)."""
        t, c = self.num_frames, self.transform.crop_size
        if self.mode == "train":
            x = torch.zeros(3, t, c, c)
        else:
            x = torch.zeros(self.num_views * self.transform.spatial_crops, 3, t, c, c)
        return x, self._target(self.records[index].label), index


def _label_tensor(label) -> torch.Tensor:
    return torch.tensor(label, dtype=torch.long)
