"""Datasets for two-stream networks and TSN: segments of snippets of RGB frames,
RGB differences or stacked optical flow, read from a flow cache or computed on
the fly.

Sampling (TSN, Wang et al. 2016; MMAction2 ``SampleFrames(clip_len=1,
num_clips=K)`` over snippet starts): a video is split into ``num_segments``
(K) equal parts and one *snippet* is taken from each, at a random start in
training and at the centre in testing (``test_segments`` at test time, e.g.
25 as in TSN and Simonyan & Zisserman). A snippet of ``new_length`` (L) is

- ``"rgb"``: L consecutive frames (1: a single frame);
- ``"flow"``: L consecutive flow fields (frames s..s+L), stacked;
- ``"rgb_diff"``: L + 1 consecutive frames, from which the model takes L
  differences (TSN's RGB difference);
- ``"rgb+flow"``: ``rgb_length`` frames starting at s (1 by default: the
  spatial stream's frame is the first frame of the flow stack) *and* the L
  flow fields starting at s, for fused two-stream models.

Items, with K segments (``test_segments`` in testing) and crop size S:

- ``"rgb"``: ``(3, K*L, S, S)``; ``"rgb_diff"``: ``(3, K*(L+1), S, S)``;
  ``"flow"``: ``(2, K*L, S, S)``, snippets in segment order, frames in time
  order inside each, so ``x.view(C, K, L, S, S)`` recovers them;
- ``"rgb+flow"``: ``[rgb (3, K*rgb_length, S, S), flow (2, K*L, S, S)]``;
- test mode adds a leading views axis (the spatial crops, 1 or 3), like
  :class:`~vidlab.data.datasets.VideoListDataset`.

Item = ``(x, label, index)``.

Flow values are pixels (x then y) divided by ``flow_scale`` (20 by default:
the jpg cache's bound, so a cached field lands in [-1, 1] like MMAction2's
mean 128 / std 128 normalisation); spatial resizing rescales the vectors and
a horizontal flip negates x, so augmentation never makes a wrong field.

Sources. A list in rawframes format (``frame_dir total_frames label``) reads
the cache (``img_%05d.jpg``, ``x_/y_%05d.jpg`` or ``flow.npy``: see
:mod:`vidlab.data.datasets.rawframes`); a video list (``path label``)
decodes the frames and computes the flow on the fly with ``estimator``
(``"farneback"`` by default; only the fields a snippet needs are computed).

Short videos (fewer snippet starts than 1: e.g. 4 frames for a 5-field flow
stack) follow ``out_of_bound``: ``"error"`` (default) raises a
:class:`~vidlab.errors.DataError` that names the video and the counts;
``"repeat_last"`` repeats the last frame / last flow field to fill the
snippet; ``"loop"`` wraps indices around (MMAction2's ``SampleFrames``
default). A missing cache file is always an error naming it.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vidlab.data.datasets.protocol import ClipDatasetMixin, rescaled_transform
from vidlab.data.datasets.rawframes import FrameDirectory, RawframeRecord, read_rawframe_list
from vidlab.data.datasets.video_list import read_video_list
from vidlab.data.sampling import segment_indices
from vidlab.data.transforms import KINETICS_MEAN, KINETICS_STD, normalize_to_cthw, to_float_tchw
from vidlab.errors import DataError

__all__ = [
    "MODALITIES",
    "SnippetTransform",
    "VideoFlowSource",
    "SnippetDataset",
    "snippet_frames",
    "read_any_list",
]

MODALITIES = ("rgb", "flow", "rgb_diff", "rgb+flow")
DEFAULT_NEW_LENGTH = {"rgb": 1, "flow": 5, "rgb_diff": 5, "rgb+flow": 5}
OUT_OF_BOUND = ("error", "repeat_last", "loop")


# --------------------------------------------------------------------------
# joint RGB + flow transform


def _scaled_size(h: int, w: int, size: int) -> tuple[int, int]:
    """PySlowFast's short-side rule (as :func:`vidlab.data.transforms.short_side_scale`)."""
    if (w <= h and w == size) or (h <= w and h == size):
        return h, w
    if w < h:
        return int(np.floor(float(h) / w * size)), size
    return size, int(np.floor(float(w) / h * size))


def _crop_box(h: int, w: int, size: int, spatial_idx: int) -> tuple[int, int]:
    """PySlowFast's ``uniform_crop`` offsets (0/1/2 = start/centre/end of the longer side)."""
    if h < size or w < size:
        raise ValueError(f"crop {size} larger than frame {h}x{w}")
    y, x = int(np.ceil((h - size) / 2)), int(np.ceil((w - size) / 2))
    if h > w:
        y = {0: 0, 1: y, 2: h - size}[spatial_idx]
    else:
        x = {0: 0, 1: x, 2: w - size}[spatial_idx]
    return y, x


@dataclass
class SnippetTransform:
    """One geometry for RGB frames and flow fields of a sample.

    Training: short side drawn in ``[min_scale, max_scale]``, random
    ``crop_size`` crop, horizontal flip with probability ``flip`` (the draws
    are those of :class:`~vidlab.data.transforms.ClipTransform`, in the same
    order). Testing: short side ``test_scale`` (default ``crop_size``), crop
    ``spatial_idx`` (0/1/2). RGB is normalised with ``mean``/``std``; flow is
    resized with its vectors scaled by the resize factors, x negated on a
    flip, and divided by ``flow_scale``.
    """

    train: bool
    crop_size: int = 224
    min_scale: int = 256
    max_scale: int = 320
    test_scale: int | None = None
    flip: float = 0.0
    mean: tuple = KINETICS_MEAN
    std: tuple = KINETICS_STD
    flow_scale: float = 20.0
    spatial_crops: int = 1

    def __call__(self, frames: np.ndarray | None, flows: np.ndarray | None, rng: np.random.Generator | None = None,
                 spatial_idx: int = 1) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``frames (N, H, W, 3)`` uint8 and/or ``flows (M, 2, H, W)`` pixels ->
        ``(rgb (3, N, S, S) | None, flow (2, M, S, S) | None)``."""
        shapes = set()
        if frames is not None:
            shapes.add(tuple(np.shape(frames)[1:3]))
        if flows is not None:
            shapes.add(tuple(np.shape(flows)[2:4]))
        if len(shapes) != 1:
            raise DataError(f"frames and flow fields differ in size: {sorted(shapes)}")
        h, w = shapes.pop()
        if self.train:
            rng = rng if rng is not None else np.random.default_rng()
            size = int(round(rng.uniform(self.min_scale, self.max_scale)))
            nh, nw = _scaled_size(h, w, size)
            if nh < self.crop_size or nw < self.crop_size:
                raise ValueError(f"crop {self.crop_size} larger than frame {nh}x{nw}")
            y = int(rng.integers(0, nh - self.crop_size + 1))
            x = int(rng.integers(0, nw - self.crop_size + 1))
            flip = self.flip > 0 and rng.random() < self.flip
        else:
            nh, nw = _scaled_size(h, w, self.test_scale or self.crop_size)
            y, x = _crop_box(nh, nw, self.crop_size, spatial_idx)
            flip = False
        s = self.crop_size
        rgb = flow = None
        if frames is not None:
            clip = to_float_tchw(frames)
            if (nh, nw) != (h, w):
                clip = F.interpolate(clip, size=(nh, nw), mode="bilinear", align_corners=False)
            clip = clip[..., y:y + s, x:x + s]
            if flip:
                clip = clip.flip(-1)
            rgb = normalize_to_cthw(clip, self.mean, self.std)
        if flows is not None:
            f = torch.as_tensor(np.asarray(flows, dtype=np.float32))
            if (nh, nw) != (h, w):
                f = F.interpolate(f, size=(nh, nw), mode="bilinear", align_corners=False)
                f = f * torch.tensor([nw / w, nh / h]).view(1, 2, 1, 1)
            f = f[..., y:y + s, x:x + s]
            if flip:
                f = f.flip(-1) * torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1)
            flow = (f / self.flow_scale).permute(1, 0, 2, 3).contiguous()
        return rgb, flow

    def crops(self) -> list[int]:
        if self.spatial_crops == 1:
            return [1]
        if self.spatial_crops == 3:
            return [0, 1, 2]
        raise ValueError(f"spatial_crops must be 1 or 3, got {self.spatial_crops}")


# --------------------------------------------------------------------------
# sources


class VideoFlowSource:
    """A video file as a flow source: frames decoded with
    :class:`~vidlab.io.VideoReader`, flow computed on the fly (only the fields asked for)."""

    def __init__(self, path: str | os.PathLike, estimator="farneback", *, backend: str = "pyav", threads: int = 1):
        from vidlab.flow.methods import get_estimator
        from vidlab.io import VideoReader

        self.path = str(path)
        self.estimator = get_estimator(estimator) if isinstance(estimator, str) else estimator
        self._reader = VideoReader(self.path, backend=backend, threads=threads)
        self.num_frames = self._reader.info.num_frames

    @property
    def num_flows(self) -> int:
        return self.num_frames - 1

    def get_frames(self, indices) -> np.ndarray:
        return self._reader.get_frames(np.asarray(indices, dtype=np.int64))

    def get_flows(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_flows):
            raise IndexError(f"{self.path}: flow index out of range (0..{self.num_flows - 1})")
        uniq, inverse = np.unique(idx, return_inverse=True)
        need = np.unique(np.concatenate([uniq, uniq + 1]))
        frames = dict(zip(need.tolist(), self._reader.get_frames(need)))
        flows = np.stack([self.estimator(frames[k], frames[k + 1]) for k in uniq.tolist()])
        return flows[inverse]

    def close(self) -> None:
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_any_list(list_file: str | os.PathLike, root: str | os.PathLike | None = None):
    """A rawframe list (``dir total label``) or a video list (``path label``),
    told apart by the field count of the first line."""
    p = Path(list_file)
    if not p.exists():
        raise DataError(f"{p}: list not found")
    for line in p.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            fields = line.replace(",", " ").split()
            looks_raw = len(fields) >= 3 and Path(fields[0]).suffix.lower() not in (".mp4", ".avi", ".mkv", ".webm",
                                                                                     ".mov", ".gif")
            return read_rawframe_list(p, root) if looks_raw else read_video_list(p, root)
    raise DataError(f"{p}: no entries")


# --------------------------------------------------------------------------
# the dataset


def snippet_frames(modality: str, new_length: int) -> int:
    """Frames a snippet spans (a flow stack of L fields spans L + 1 frames)."""
    return new_length if modality == "rgb" else new_length + 1


class SnippetDataset(ClipDatasetMixin, Dataset):
    """TSN / two-stream samples (see the module docstring for the layout).

    Args:
        records: a list file (rawframes or video list) or records
            (:class:`RawframeRecord`: cached; :class:`VideoRecord`: on the fly).
        mode: ``"train"`` (random snippet in each segment, random
            augmentation) or ``"test"`` (centre snippets, ``spatial_crops``).
        modality: ``"rgb"``, ``"flow"``, ``"rgb_diff"`` or ``"rgb+flow"``.
        num_segments: K in training (and testing unless ``test_segments``).
        new_length: L (default: 1 RGB frame, 5 flow fields, 5 differences).
        rgb_length: RGB frames per snippet for ``"rgb+flow"`` (1: Simonyan's
            spatial frame; L: an RGB clip aligned with the flow, for I3D).
        transform: a :class:`SnippetTransform`.
        estimator: flow method for the on-the-fly path (name or estimator).
        out_of_bound: ``"error"`` | ``"repeat_last"`` | ``"loop"`` for videos
            too short for one snippet.
        check_files: verify every cache folder at construction.

    It is a :class:`~vidlab.data.datasets.protocol.TrainDataset`.
    """

    def __init__(
        self,
        records,
        *,
        mode: str,
        modality: str,
        transform: SnippetTransform,
        num_segments: int = 3,
        new_length: int | None = None,
        test_segments: int | None = None,
        rgb_length: int = 1,
        estimator="farneback",
        out_of_bound: str = "error",
        seed: int = 0,
        root: str | os.PathLike | None = None,
        img_tmpl: str | None = None,
        flow_tmpl: str | None = None,
        start_index: int = 1,
        backend: str = "pyav",
        check_files: bool = False,
    ):
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if out_of_bound not in OUT_OF_BOUND:
            raise ValueError(f"out_of_bound must be one of {OUT_OF_BOUND}, got {out_of_bound!r}")
        if num_segments < 1 or (test_segments is not None and test_segments < 1):
            raise ValueError("num_segments and test_segments must be >= 1")
        self.records = read_any_list(records, root) if isinstance(records, (str, os.PathLike)) else list(records)
        self.mode, self.modality, self.transform = mode, modality, transform
        self.num_segments = num_segments
        self.test_segments = test_segments or num_segments
        self.new_length = int(new_length or DEFAULT_NEW_LENGTH[modality])
        self.rgb_length = int(rgb_length)
        if self.new_length < 1 or self.rgb_length < 1:
            raise ValueError("new_length and rgb_length must be >= 1")
        if modality == "rgb+flow" and self.rgb_length > self.new_length + 1:
            raise ValueError("rgb_length can be at most new_length + 1 (the frames the flow stack spans)")
        self.estimator = estimator
        self.out_of_bound = out_of_bound
        self.seed, self.epoch = seed, 0
        from vidlab.flow import storage

        self.dir_kw = dict(img_tmpl=img_tmpl or storage.IMG_TMPL, flow_tmpl=flow_tmpl or storage.FLOW_TMPL,
                           start_index=start_index)
        self.backend = backend
        if check_files:
            for r in self.records:
                if isinstance(r, RawframeRecord):
                    FrameDirectory(r.path, num_frames=r.num_frames, **self.dir_kw).check(
                        rgb=modality != "flow", flow=modality in ("flow", "rgb+flow"))

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def with_shape(self, num_frames: int, crop_size: int, sampling_rate: int,
                   random_rate: bool = False) -> SnippetDataset:
        """A copy cropping ``crop_size``: only the spatial shape changes (a sample's frames are
        set by ``num_segments`` and ``new_length``)."""
        v = copy.copy(self)
        v.transform = rescaled_transform(self.transform, crop_size)
        return v

    @property
    def labels(self) -> list:
        return [r.label for r in self.records]

    # -- sources -----------------------------------------------------------
    def open(self, rec):
        if isinstance(rec, RawframeRecord):
            return FrameDirectory(rec.path, num_frames=rec.num_frames, **self.dir_kw)
        if self.modality == "rgb" or self.modality == "rgb_diff":
            from vidlab.io import VideoReader

            reader = VideoReader(rec.path, backend=self.backend, threads=1)
            reader.num_frames = reader.info.num_frames  # the source interface
            return reader
        return VideoFlowSource(rec.path, self.estimator, backend=self.backend)

    # -- sampling ----------------------------------------------------------
    def snippet_starts(self, num_frames: int, path: str, rng: np.random.Generator | None) -> tuple[np.ndarray, int]:
        """Start frame of each segment's snippet, and the count of valid starts."""
        span = snippet_frames(self.modality, self.new_length)
        n_starts = num_frames - span + 1
        k = self.num_segments if self.mode == "train" else self.test_segments
        if n_starts < 1:
            if self.out_of_bound == "error":
                what = {"rgb": f"{self.new_length} frame(s)", "flow": f"a stack of {self.new_length} flow fields",
                        "rgb_diff": f"{self.new_length} RGB differences",
                        "rgb+flow": f"a stack of {self.new_length} flow fields"}[self.modality]
                raise DataError(f"{path}: {num_frames} frame(s), too short for a {self.modality} snippet of "
                                f"{what} ({span} frames); use out_of_bound='repeat_last' or 'loop' to pad")
            return np.zeros(k, dtype=np.int64), n_starts
        return segment_indices(n_starts, k, test_mode=self.mode == "test", rng=rng), n_starts

    def _fit(self, idx: np.ndarray, count: int) -> np.ndarray:
        if self.out_of_bound == "loop":
            return np.mod(idx, count)
        return np.minimum(idx, count - 1)  # "repeat_last"; "error" never gets here out of range

    def __getitem__(self, index: int):
        rec = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.mode == "train" else None
        src = self.open(rec)
        try:
            n = int(src.num_frames)
            starts, _ = self.snippet_starts(n, str(rec.path), rng)
            frames = flows = None
            L = self.new_length
            if self.modality in ("rgb", "rgb_diff"):
                span = snippet_frames(self.modality, L)
                frames = src.get_frames(self._fit((starts[:, None] + np.arange(span)).ravel(), n))
            elif self.modality == "flow":
                if n < 2:
                    raise DataError(f"{rec.path}: {n} frame(s), no flow field")
                flows = src.get_flows(self._fit((starts[:, None] + np.arange(L)).ravel(), n - 1))
            else:
                if n < 2:
                    raise DataError(f"{rec.path}: {n} frame(s), no flow field")
                frames = src.get_frames(self._fit((starts[:, None] + np.arange(self.rgb_length)).ravel(), n))
                flows = src.get_flows(self._fit((starts[:, None] + np.arange(L)).ravel(), n - 1))
        finally:
            close = getattr(src, "close", None)
            if close is not None:
                close()
        label = torch.tensor(rec.label)
        if self.mode == "train":
            return self._pack(*self.transform(frames, flows, rng=rng)), label, index
        views = [self._pack(*self.transform(frames, flows, spatial_idx=i)) for i in self.transform.crops()]
        if self.modality == "rgb+flow":
            return [torch.stack([v[0] for v in views]), torch.stack([v[1] for v in views])], label, index
        return torch.stack(views), label, index

    def _pack(self, rgb, flow):
        if self.modality == "rgb+flow":
            return [rgb, flow]
        return flow if self.modality == "flow" else rgb
