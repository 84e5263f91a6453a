"""The rawframes format (MMAction2's ``RawframeDataset``, TSN's frame folders).

A video is a folder of JPEG frames and, optionally, quantised flow pairs::

    frame_dir/img_00001.jpg ... img_00T.jpg     RGB frames, 1-based
    frame_dir/x_00001.jpg   ... x_00{T-1}.jpg   flow k -> k+1, x (see vidlab.flow.storage)
    frame_dir/y_00001.jpg   ... y_00{T-1}.jpg
    frame_dir/flow.npy                          or float32 (T-1, 2, H, W) flow in pixels
    frame_dir/flow.json                         sidecar of `vidlab flow` (bound, counts)

and the annotation list has one line per video, MMAction2's format::

    frame_dir total_frames label [label ...]

``frame_dir`` relative to ``root`` (default: the list's folder). The
templates (``img_tmpl``, ``flow_tmpl``) and the first index (``start_index``,
1 as in MMAction2) are arguments, so folders written by denseflow
(``flow_x_00001.jpg``: ``flow_tmpl="flow_{}_{:05d}.jpg"``) or 0-based ones read
too. ``total_frames`` counts RGB frames; a folder holds one flow field fewer.

Missing files are never papered over: :class:`FrameDirectory` raises
:class:`~vidlab.errors.DataError` naming the first missing file, and
:meth:`FrameDirectory.check` (``RawframeDataset(check_files=True)``) verifies a
whole folder up front. Flow is dequantised with the bound from ``flow.json``
(20 px when a folder has no sidecar, the denseflow default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlab.data.datasets.protocol import ClipDatasetMixin
from vidlab.data.sampling import clip_indices, draw_sampling_rate, plan_views, uniform_view_indices
from vidlab.data.transforms import ClipTransform
from vidlab.errors import DataError
from vidlab.flow import storage

__all__ = [
    "RawframeRecord",
    "FrameDirectory",
    "RawframeDataset",
    "read_rawframe_list",
    "write_rawframe_list",
]


@dataclass(frozen=True)
class RawframeRecord:
    """One line of a rawframe list: folder, RGB frame count, label(s)."""

    path: str
    num_frames: int
    label: int | tuple[int, ...]


def read_rawframe_list(list_file: str | os.PathLike, root: str | os.PathLike | None = None) -> list[RawframeRecord]:
    """Parse ``frame_dir total_frames label [label ...]`` lines; errors name the file and line."""
    list_file = Path(list_file)
    if not list_file.exists():
        raise DataError(f"{list_file}: rawframe list not found")
    base = Path(root) if root is not None else list_file.parent
    records = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 3:
            raise DataError(f"{list_file}:{n}: expected 'frame_dir total_frames label', got {line!r}")
        try:
            total = int(parts[1])
            labels = tuple(int(x) for x in parts[2:])
        except ValueError:
            raise DataError(f"{list_file}:{n}: total_frames and labels must be integers, got {line!r}") from None
        if total < 1:
            raise DataError(f"{list_file}:{n}: total_frames must be >= 1, got {total}")
        path = parts[0] if os.path.isabs(parts[0]) else str(base / parts[0])
        records.append(RawframeRecord(path, total, labels[0] if len(labels) == 1 else labels))
    if not records:
        raise DataError(f"{list_file}: no videos listed")
    return records


def write_rawframe_list(path: str | os.PathLike, records: Sequence[RawframeRecord],
                        root: str | os.PathLike | None = None) -> Path:
    """Write a rawframe list (paths relative to ``root``, default the list's folder, when inside it)."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    lines = []
    for r in records:
        p = Path(r.path)
        try:
            p = p.resolve().relative_to(base.resolve())
        except ValueError:
            pass
        label = " ".join(str(x) for x in np.atleast_1d(r.label))
        lines.append(f"{p.as_posix()} {r.num_frames} {label}\n")
    path.write_text("".join(lines))
    return path


class FrameDirectory:
    """Random access to one rawframes folder: RGB frames and flow fields.

    Indices are 0-based (frame ``i`` is ``img_{i + start_index}``; flow ``k``
    maps frame ``k`` to ``k + 1`` and is ``x_/y_{k + start_index}``, or row k
    of ``flow.npy``). ``num_frames`` / ``num_flows`` come from the list
    (``num_frames``), else the sidecar, else by counting files.
    """

    def __init__(self, path: str | os.PathLike, *, num_frames: int | None = None, img_tmpl: str = storage.IMG_TMPL,
                 flow_tmpl: str = storage.FLOW_TMPL, start_index: int = 1, bound: float | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"{self.path}: frame folder not found")
        self.img_tmpl, self.flow_tmpl, self.start_index = img_tmpl, flow_tmpl, start_index
        self.meta = storage.read_sidecar(self.path) or {}
        self.bound = float(bound if bound is not None else self.meta.get("bound", storage.DEFAULT_BOUND))
        self._npy = None
        npy = self.path / storage.FLOW_NPY
        self.flow_format = "npy" if npy.is_file() else "jpg"
        if num_frames is None:
            num_frames = self.meta.get("num_frames") or self._count(img_tmpl.format) or None
        if num_frames is None:
            n_flow = self.meta.get("num_flows") or self._count(lambda i: flow_tmpl.format("x", i))
            num_frames = n_flow + 1 if n_flow else 0
        if not num_frames:
            raise DataError(f"{self.path}: no frames ({img_tmpl.format(start_index)}) and no flow found")
        self.num_frames = int(num_frames)

    def _count(self, name_of) -> int:
        n = 0
        while (self.path / name_of(self.start_index + n)).exists():
            n += 1
        return n

    @property
    def num_flows(self) -> int:
        return self.num_frames - 1

    def _check_range(self, idx: np.ndarray, n: int, what: str) -> None:
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx.max() if idx.max() >= n else idx.min())
            raise IndexError(f"{self.path}: {what} index {bad} out of range (0..{n - 1})")

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """RGB frames ``(N, H, W, 3)`` uint8."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        self._check_range(idx, self.num_frames, "frame")
        cache: dict[int, np.ndarray] = {}
        frames = []
        for i in idx.tolist():
            if i not in cache:
                cache[i] = storage.read_image(self.path / self.img_tmpl.format(i + self.start_index))
            frames.append(cache[i])
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise DataError(f"{self.path}: frames differ in size {sorted(shapes)}")
        return np.stack(frames)

    def get_flows(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Flow fields ``(N, 2, H, W)`` float32 in pixels (x first)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        self._check_range(idx, self.num_flows, "flow")
        if self.flow_format == "npy":
            if self._npy is None:
                self._npy = storage.load_flow_npy(self.path / storage.FLOW_NPY)
                if len(self._npy) < self.num_flows:
                    raise DataError(f"{self.path / storage.FLOW_NPY}: holds {len(self._npy)} flow fields, "
                                    f"the list/sidecar says {self.num_flows}")
            return np.array(self._npy[idx], dtype=np.float32)
        uniq, inverse = np.unique(idx, return_inverse=True)
        flows = storage.read_flow_jpg(self.path, uniq, bound=self.bound, start_index=self.start_index,
                                      tmpl=self.flow_tmpl)
        return flows[inverse]

    def check(self, rgb: bool = True, flow: bool = False) -> None:
        """Raise :class:`DataError` naming the first missing file of the folder."""
        if rgb:
            for i in range(self.num_frames):
                p = self.path / self.img_tmpl.format(i + self.start_index)
                if not p.is_file():
                    raise DataError(f"{p}: missing file ({self.path} should hold {self.num_frames} frames)")
        if flow:
            if self.flow_format == "npy":
                arr = storage.load_flow_npy(self.path / storage.FLOW_NPY)
                if len(arr) < self.num_flows:
                    raise DataError(f"{self.path / storage.FLOW_NPY}: holds {len(arr)} flow fields, expected "
                                    f"{self.num_flows}")
                return
            for k in range(self.num_flows):
                for c in "xy":
                    p = self.path / self.flow_tmpl.format(c, k + self.start_index)
                    if not p.is_file():
                        raise DataError(f"{p}: missing file ({self.path} should hold {self.num_flows} flow pairs)")

    def __repr__(self) -> str:
        return f"FrameDirectory({str(self.path)!r}, num_frames={self.num_frames}, flow={self.flow_format})"


class RawframeDataset(ClipDatasetMixin, Dataset):
    """Clips from a rawframe list, with :class:`~vidlab.data.datasets.VideoListDataset`'s
    sampling and items.

    ``modality="rgb"``: ``num_frames`` frames every ``sampling_rate``
    (PySlowFast rule, no fps resampling: folders hold what was extracted),
    through ``transform`` (a :class:`~vidlab.data.transforms.ClipTransform`);
    item = ``(clip (3, T, H, W), label, index)`` in training and
    ``(views (V, 3, T, H, W), label, index)`` in testing (``num_views``
    temporal views x the transform's crops, read once).

    ``modality="flow"``: the same sampling over the ``total - 1`` flow fields;
    the clip is ``(2, T, H, W)``: flow in pixels, rescaled with any spatial
    resize (a resize by ``s`` multiplies displacements by ``s``), x negated by
    a horizontal flip, then divided by ``flow_scale`` (default: the folder's
    bound, so the jpg range maps to [-1, 1] like MMAction2's mean 128 / std 128).
    For two-stream and TSN sampling (segments, stacked snippets) see
    :mod:`vidlab.data.datasets.flow_clips`.

    ``check_files=True`` opens every folder at construction and fails on the
    first missing file; otherwise a missing file fails the item that needs it
    (a :class:`DataError` naming it; never a silent wrong tensor).

    It is a :class:`~vidlab.data.datasets.protocol.TrainDataset`.
    """

    def __init__(
        self,
        records: list[RawframeRecord] | str | os.PathLike,
        *,
        mode: str,
        num_frames: int,
        sampling_rate: int,
        transform: ClipTransform,
        modality: str = "rgb",
        num_views: int = 1,
        seed: int = 0,
        root: str | os.PathLike | None = None,
        img_tmpl: str = storage.IMG_TMPL,
        flow_tmpl: str = storage.FLOW_TMPL,
        start_index: int = 1,
        flow_scale: float | None = None,
        check_files: bool = False,
    ):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if modality not in ("rgb", "flow"):
            raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
        self.records = (read_rawframe_list(records, root) if isinstance(records, (str, os.PathLike))
                        else list(records))
        self.mode, self.modality = mode, modality
        self.num_frames, self.sampling_rate = num_frames, sampling_rate
        self.max_sampling_rate: int | None = None  # multigrid: see sampling.draw_sampling_rate
        self.transform = transform
        self.num_views, self.seed, self.epoch = num_views, seed, 0
        self.dir_kw = dict(img_tmpl=img_tmpl, flow_tmpl=flow_tmpl, start_index=start_index)
        self.flow_scale = flow_scale
        if check_files:
            for r in self.records:
                self.directory(r).check(rgb=modality == "rgb", flow=modality == "flow")

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def labels(self) -> list:
        return [r.label for r in self.records]

    def directory(self, rec: RawframeRecord) -> FrameDirectory:
        return FrameDirectory(rec.path, num_frames=rec.num_frames, **self.dir_kw)

    def __getitem__(self, index: int):
        rec = self.records[index]
        d = self.directory(rec)
        n = d.num_frames if self.modality == "rgb" else d.num_flows
        if n < 1:
            raise DataError(f"{d.path}: {d.num_frames} frame(s), no flow field to sample")
        if self.mode == "train":
            rng = np.random.default_rng([self.seed, self.epoch, index])
            rate = draw_sampling_rate(self.sampling_rate, self.max_sampling_rate, rng)
            idx = clip_indices(n, self.num_frames, rate, clip_idx=-1, rng=rng)
            return self._clip(d, idx, rng), torch.tensor(rec.label), index
        views = uniform_view_indices(n, self.num_frames, self.sampling_rate, self.num_views)
        plan = plan_views(views)
        clips = []
        if self.modality == "rgb":
            decoded = d.get_frames(plan.frames)
            for v in plan.views:
                clips.extend(self.transform.views(decoded[v]))
        else:
            flows = d.get_flows(plan.frames)
            crops = range(3) if self.transform.spatial_crops == 3 else [1]
            for v in plan.views:
                clips.extend(_flow_clip(self.transform, flows[v], None, i, self._scale(d)) for i in crops)
        return torch.stack(clips), torch.tensor(rec.label), index

    def _scale(self, d: FrameDirectory) -> float:
        return float(self.flow_scale if self.flow_scale is not None else d.bound)

    def _clip(self, d: FrameDirectory, idx: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        if self.modality == "rgb":
            return self.transform(d.get_frames(idx), rng=rng)
        return _flow_clip(self.transform, d.get_flows(idx), rng, 1, self._scale(d))


def _flow_clip(tf: ClipTransform, flows: np.ndarray, rng, spatial_idx: int, scale: float) -> torch.Tensor:
    """``(T, 2, H, W)`` pixels -> ``(2, T, h, w)`` through a ClipTransform's geometry."""
    from vidlab.data.datasets.flow_clips import SnippetTransform

    st = SnippetTransform(train=tf.train, crop_size=tf.crop_size, min_scale=tf.min_scale, max_scale=tf.max_scale,
                          test_scale=tf.test_scale, flip=tf.flip, flow_scale=scale)
    _, flow = st(None, flows, rng=rng, spatial_idx=spatial_idx)
    return flow
