"""Clip features of long, untrimmed videos: the input of temporal action localization.

:func:`extract_features` runs a video classifier over sliding windows of each
video and keeps, per window, the pooled features ``model.forward_features``
(the model contract, :mod:`vidlab.models.contract`): one ``(N, D)`` float32
array per video, the sequence that ActionFormer, BMN and the localizers of
:mod:`vidlab.localize` read.

Windows
-------
A window is ``window`` (T) frames at the target frame rate ``fps`` (F; default:
the video's own), and windows start every ``stride`` (S) target frames. A
video recorded at another rate is resampled by index mapping, as vidlab's
samplers do (:func:`vidlab.data.sampling.clip_size` and
:func:`~vidlab.data.sampling.linspace_indices`, PySlowFast's rule): window
``k`` starts at source frame ``s_k = k * S * src_fps / F``, spans
``T * src_fps / F`` source frames (at least one), and samples the source
frames ``linspace(s_k, s_k + span - 1, T)`` truncated to integers. At
``F == src_fps`` these are the frames ``k*S .. k*S + T - 1``.

The last, partial window (``tail``):

- ``"drop"`` (default): only full windows, i.e. every sampled frame exists;
  at the video's own rate that is ``floor((frames - T) / S) + 1`` features.
  This is the convention of the THUMOS14 I3D features ActionFormer uses
  (extracted with CMCS's ``pytorch-i3d-feature-extraction``: "(5094 - 16) / 4
  ~= 1269 feature points", actionformer_release issue #5). A video shorter
  than one window still gets one feature, its window padded as below.
- ``"pad"``: every window whose first frame exists; frames past the end are
  the last frame repeated.

Each feature's timestamps are ``[k*S/F, k*S/F + T/F]`` seconds, the end
clipped to the video's duration (decoded frames / source fps); ActionFormer's
feature centre ``(k*S + T/2) / F`` is their centre for full windows.

Preprocessing
-------------
The checkpoint's own (:class:`vidlab.engine.inference.Preprocessing`, as
``vidlab classify``): each frame's short side is resized to the test scale
(bilinear, ``align_corners=False``), cropped to the crop size, normalised
with the checkpoint's mean/std; the window is fed as one ``(C, T, h, w)``
clip whatever the model's training ``num_frames`` (T frames in; SlowFast
splits its pathways from them). ``crops``: 1 = the centre crop; 3 = the
left/centre/right (top/centre/bottom) crops along the longer side
(PySlowFast's ``uniform_crop``); 10 = the four corner crops and the centre
crop plus their horizontal flips (the C3D / I3D feature convention). With
several crops **the feature of a window is the mean of its crops' features**.

Presets (:data:`PRESETS`; explicit options override them)
----------------------------------------------------------
- ``i3d-thumos``: 16 frames, stride 4, 30 fps, centre crop, full windows:
  the ActionFormer / THUMOS14 convention. Its published features are
  two-stream I3D (RGB and optical-flow I3D, 1024 each, concatenated to
  2048); ``--modality rgb`` gives the RGB stream only, with the model's own
  dimension (e.g. 2048 for ``i3d_r50``); flow input is not computed here, so
  two-stream / flow checkpoints are refused (set the localizer's input
  dimension to the feature dimension written in the json).
- ``slowfast``: 32 frames, stride 16, 30 fps (SlowFast's Kinetics rate);
  2304-d (2048 slow + 256 fast) with ``slowfast_r50``.
- ``anet-fixed``: ActivityNet style (BMN, G-TAD): 16-frame windows every 16
  frames at the video's own rate, then each video's sequence is resampled to
  a fixed count (:data:`ANET_FIXED_COUNT` = 100 features) by linear
  interpolation in time: feature ``i`` is the window features interpolated at
  the centre ``(i + 1/2) * duration / M`` of the ``i``-th of M equal bins (from
  the window centres; held constant before the first and after the last),
  and its timestamps are that bin. ``resample`` sets M for any preset.

Streaming, outputs, resuming
----------------------------
Each video is decoded once, front to back, and only the frames the coming
windows sample are kept, already preprocessed
(:class:`vidlab.stream.SlidingWindows`, the bookkeeping of ``vidlab
stream``): memory is a few windows' frames plus the features, whatever the
length of the video. Windows are batched through the model
(``batch_size`` windows per forward pass).

Outputs in ``out_dir``: ``{stem}.npy`` ``(N, D)`` float32 and ``{stem}.json``
(window/stride in frames and seconds, fps, timestamps of every feature,
model, weights/checkpoint, preprocessing, vidlab version, the settings that
made it). Both are written to a temporary name and renamed (``os.replace``),
the json last: a video is done when its json names the same settings and its
array has the shape the json states. Done videos are skipped, so an
interrupted run continues where it stopped; temporary files of a killed run
are never read (they are removed when that video is written again).
``fmt="h5"`` writes one HDF5 file ``features.h5`` instead (needs ``h5py``,
not a vidlab dependency), one dataset per video named by its stem, its json
as the dataset's ``meta`` attribute: videos are staged as above in
``out_dir/.parts`` and packed into a new file that replaces the old one.

Parallelism: ``workers`` processes take videos from the list (spawned, each
loads the model once); under torchrun the list is first sharded by
``RANK`` / ``WORLD_SIZE`` (rank r takes every WORLD_SIZE-th video from r;
HDF5 then writes ``features-rank{r}-of-{world}.h5``). Videos that cannot be
decoded (:class:`vidlab.io.VideoDecodeError`) are listed in the summary and
the others done.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, cast

import numpy as np
import torch
from torch import nn

from vidlab.errors import VidlabError

__all__ = [
    "ANET_FIXED_COUNT",
    "CROPS",
    "FeatureConfig",
    "FeatureExtractor",
    "PRESETS",
    "Preset",
    "check_h5py",
    "extract_features",
    "is_complete",
    "resample_features",
    "resolve_config",
    "spatial_crops",
    "window_indices",
]

#: Features per video of the ``anet-fixed`` preset (BMN's temporal scale for ActivityNet).
ANET_FIXED_COUNT = 100
CROPS = (1, 3, 10)
TAILS = ("drop", "pad")
FORMATS = ("npy", "h5")
#: Bumped when the files' meaning changes, so older outputs are recomputed, not skipped.
FEATURES_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Preset:
    """Named extraction settings (``vidlab features --preset NAME``)."""

    window: int
    stride: int
    fps: float | None
    crops: int = 1
    tail: str = "drop"
    resample: int | None = None
    note: str = ""


PRESETS: dict[str, Preset] = {
    "i3d-thumos": Preset(16, 4, 30.0, note="ActionFormer/THUMOS14: 16 frames every 4 at 30 fps; the published "
                                           "features are two-stream I3D (RGB + flow, 2x1024), --modality rgb "
                                           "gives the RGB stream only (the model's own dimension)"),
    "slowfast": Preset(32, 16, 30.0, note="32 frames every 16 at 30 fps; 2304-d with slowfast_r50"),
    "anet-fixed": Preset(16, 16, None, resample=ANET_FIXED_COUNT,
                         note=f"ActivityNet style: 16 frames every 16 at the video's rate, then resampled to "
                              f"{ANET_FIXED_COUNT} features per video by linear interpolation in time"),
}


@dataclass(frozen=True)
class FeatureConfig:
    """How windows are cut and fed (see the module docstring)."""

    window: int
    stride: int
    fps: float | None = None
    crops: int = 1
    modality: str = "rgb"
    tail: str = "drop"
    resample: int | None = None
    batch_size: int = 8
    backend: str = "pyav"
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.window < 1 or self.stride < 1:
            raise VidlabError(f"window and stride must be >= 1 frame, got {self.window} and {self.stride}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise VidlabError(f"fps must be > 0, got {self.fps}")
        if self.crops not in CROPS:
            raise VidlabError(f"crops must be 1, 3 or 10, got {self.crops}")
        if self.modality != "rgb":
            raise VidlabError(f"modality {self.modality!r} is not supported: features are computed from RGB "
                              "frames (optical-flow features need a flow stream, not computed here)")
        if self.tail not in TAILS:
            raise VidlabError(f"tail must be 'drop' or 'pad', got {self.tail!r}")
        if self.resample is not None and self.resample < 1:
            raise VidlabError(f"resample must be >= 1 feature, got {self.resample}")
        if self.batch_size < 1:
            raise VidlabError(f"batch_size must be >= 1, got {self.batch_size}")

    def key(self) -> dict[str, Any]:
        """The settings that determine the outputs (compared when resuming)."""
        return {"window": self.window, "stride": self.stride, "fps": self.fps, "crops": self.crops,
                "modality": self.modality, "tail": self.tail, "resample": self.resample,
                "format_version": FEATURES_SCHEMA_VERSION}


def resolve_config(preset: str | None = None, **given: Any) -> FeatureConfig:
    """A :class:`FeatureConfig` from a preset name and explicit settings (``None`` = not given;
    explicit ones win). Without a preset, ``window`` and ``stride`` are required."""
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise VidlabError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        p = asdict(PRESETS[preset])
        p.pop("note")
        base.update(p)
    base.update({k: v for k, v in given.items() if v is not None})
    for k in ("window", "stride"):
        if base.get(k) is None:
            raise VidlabError(f"{k} is required (or a preset: {', '.join(PRESETS)})")
    return FeatureConfig(**base, preset=preset)


# ----------------------------------------------------------------------------------
# windows, crops, resampling


def _rates(config: FeatureConfig, src_fps: float) -> tuple[float, float, float]:
    """``(target fps, span, stride)``: span and stride in source frames."""
    from vidlab.data.sampling import clip_size

    fps = float(config.fps or src_fps)
    return fps, clip_size(config.window, 1, src_fps, fps), config.stride * src_fps / fps


def window_indices(num_frames: int, src_fps: float, config: FeatureConfig) -> list[np.ndarray]:
    """The source-frame indices of every window of a video of ``num_frames`` frames, computed
    from the frame count (the windows the streaming extractor cuts, for decoders that seek)."""
    from vidlab.data.sampling import linspace_indices

    _, span, stride = _rates(config, src_fps)
    out = []
    k = 0
    while math.floor(k * stride) <= num_frames - 1:
        s = k * stride
        idx = linspace_indices(s, s + span - 1, config.window, num_frames)
        full = int(linspace_indices(s, s + span - 1, config.window, 2**62).max()) <= num_frames - 1
        if full or config.tail == "pad" or k == 0:
            out.append(idx)
        if not full and config.tail == "drop":
            break
        k += 1
    return out


def spatial_crops(clip: torch.Tensor, size: int, crops: int) -> list[torch.Tensor]:
    """The ``crops`` views of a ``(C, T, H, W)`` clip already scaled (short side >= ``size``).

    1: the centre crop; 3: start/centre/end of the longer side (PySlowFast's
    ``uniform_crop``); 10: top-left, top-right, bottom-left, bottom-right and
    centre crops, then the same five flipped horizontally.
    """
    from vidlab.data.transforms import uniform_crop

    if crops == 1:
        return [uniform_crop(clip, size, 1)]
    if crops == 3:
        return [uniform_crop(clip, size, i) for i in range(3)]
    if crops != 10:
        raise VidlabError(f"crops must be 1, 3 or 10, got {crops}")
    h, w = clip.shape[-2:]
    five = [clip[..., :size, :size], clip[..., :size, w - size:], clip[..., h - size:, :size],
            clip[..., h - size:, w - size:], uniform_crop(clip, size, 1)]
    return five + [c.flip(-1) for c in five]


def resample_features(features: np.ndarray, centres: np.ndarray, duration: float, count: int) -> np.ndarray:
    """``(N, D)`` features at times ``centres`` -> ``(count, D)`` at the bin centres
    ``(i + 1/2) * duration / count``, linearly interpolated in time (``numpy.interp`` per
    dimension: constant before the first and after the last centre)."""
    f = np.asarray(features, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    t = (np.arange(count) + 0.5) * float(duration) / count
    if len(c) == 1:
        return np.repeat(f, count, axis=0).astype(np.float32)
    j = np.clip(np.searchsorted(c, t, side="right") - 1, 0, len(c) - 2)
    w = np.clip((t - c[j]) / np.maximum(c[j + 1] - c[j], 1e-12), 0.0, 1.0)[:, None]
    return (f[j] * (1.0 - w) + f[j + 1] * w).astype(np.float32)


# ----------------------------------------------------------------------------------
# the engine


class FeatureExtractor:
    """Features of one video at a time with one model (see the module docstring).

    ``model_info`` is recorded in every json (how the model was named: hub name
    and tag, or checkpoint path). ``threads``: decoder threads (0 = FFmpeg picks).
    """

    def __init__(self, model: nn.Module, config: FeatureConfig, *, device: str | torch.device = "cpu",
                 model_info: dict | None = None, threads: int = 0):
        from vidlab.engine.inference import Preprocessing

        if not callable(getattr(model, "forward_features", None)):
            raise VidlabError(f"{type(model).__name__} has no forward_features: features need a vidlab "
                              "classification model (the model contract)")
        meta = dict(getattr(model, "meta", {}) or {})
        self.arch = meta.get("arch") or getattr(model, "arch", None) or type(model).__name__
        inputs = _input_kind(self.arch)
        self.pre = Preprocessing.from_model(model)
        if inputs != "clip" or len(self.pre.mean) != 3:
            raise VidlabError(f"{self.arch} takes {inputs if inputs != 'clip' else 'non-RGB'} input; --modality rgb "
                              "needs a model of RGB clips (e.g. i3d_r50, slowfast_r50): two-stream and flow "
                              "models need optical flow, which feature extraction does not compute")
        self.config = config
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.threads = threads
        self.model_info = {"arch": self.arch, **(model_info or {})}
        if meta.get("sha256"):
            self.model_info.setdefault("sha256", meta["sha256"])
        self.peak_buffered = 0  # most preprocessed frames held at once (the last video)

    # -- preprocessing ---------------------------------------------------------------
    def frame_transform(self, rgb: np.ndarray) -> torch.Tensor:
        """One ``(H, W, 3)`` uint8 frame -> ``(C, h, w)``: short side to the test scale, the centre
        crop (``crops=1``; else kept whole for the crops), normalised."""
        from vidlab.data.transforms import normalize, short_side_scale, to_float_tchw, uniform_crop

        x = short_side_scale(to_float_tchw(np.asarray(rgb)[None]), self.pre.test_scale or self.pre.crop_size)
        if self.config.crops == 1:
            x = uniform_crop(x, self.pre.crop_size, 1)
        return normalize(x, self.pre.mean, self.pre.std)[0]

    def preprocessing(self) -> dict:
        p = self.pre
        return {"modality": self.config.modality, "resize_short_side": p.test_scale or p.crop_size,
                "interpolation": "bilinear (align_corners=False)", "crop_size": p.crop_size,
                "crops": self.config.crops,
                "crop_rule": {1: "centre", 3: "start/centre/end of the longer side (PySlowFast uniform_crop)",
                              10: "4 corners + centre, and their horizontal flips"}[self.config.crops],
                "crop_aggregation": "mean of the crops' features" if self.config.crops > 1 else None,
                "mean": list(p.mean), "std": list(p.std), "value_range": "RGB in [0, 1] before normalising",
                "frame_sampling": "linspace(s, s + span - 1, window) truncated (PySlowFast), in source frames"}

    @torch.inference_mode()
    def _forward(self, clips: list[torch.Tensor]) -> np.ndarray:
        n = self.config.crops
        views = [v for c in clips for v in (spatial_crops(c, self.pre.crop_size, n) if n > 1 else [c])]
        x = torch.stack(views).to(self.device)
        f = cast(Any, self.model).forward_features(x)  # the contract's method (nn.Module attributes type as Tensor)
        if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[0] != len(views):
            raise VidlabError(f"{self.arch}: forward_features returned {getattr(f, 'shape', type(f))}, "
                              f"expected ({len(views)}, D)")
        return f.float().view(len(clips), n, -1).mean(1).cpu().numpy()

    # -- one video -------------------------------------------------------------------
    def extract(self, path: str | os.PathLike, *, on_frames: Callable[[int, int], None] | None = None
                ) -> tuple[np.ndarray, dict]:
        """``(features (N, D) float32, metadata)`` of one video, decoding it once.
        ``on_frames(done, total)`` is called as frames are decoded."""
        from vidlab import __version__
        from vidlab.io import VideoReader
        from vidlab.stream import SlidingWindows

        cfg = self.config
        with VideoReader(path, backend=cfg.backend, threads=self.threads) as reader:
            info = reader.info
            src_fps = float(info.fps) if info.fps and math.isfinite(info.fps) and info.fps > 0 else 25.0
            fps, span, stride = _rates(cfg, src_fps)
            windows = SlidingWindows(span, stride, cfg.window, self.frame_transform)
            feats: list[np.ndarray] = []
            starts: list[int] = []
            pending: list[tuple[int, torch.Tensor]] = []

            def run() -> None:
                if pending:
                    feats.append(self._forward([c for _, c in pending]))
                    starts.extend(k for k, _ in pending)
                    pending.clear()

            n, peak = 0, 0
            for i, rgb in enumerate(reader.iter_frames()):
                pending.extend((w.k, clip) for w, clip in windows.add(i, rgb))
                peak = max(peak, windows.buffered)
                if len(pending) >= cfg.batch_size:
                    run()
                n = i + 1
                if on_frames is not None and n % 32 == 0:
                    on_frames(n, info.num_frames)
            tail = windows.flush()
            if cfg.tail == "pad":
                pending.extend((w.k, clip) for w, clip in tail)
            elif not feats and not pending and tail:  # shorter than one window: its first window, padded
                pending.append((tail[0][0].k, tail[0][1]))
            run()
            del tail
        self.peak_buffered = peak
        if on_frames is not None:
            on_frames(n, n)
        features = np.concatenate(feats).astype(np.float32, copy=False)
        duration = n / src_fps
        t0 = np.asarray(starts, dtype=np.float64) * cfg.stride / fps
        resampled = None
        if cfg.resample is not None:
            centres = t0 + cfg.window / (2.0 * fps)
            resampled = {"count": cfg.resample, "from_features": len(features),
                         "method": "linear interpolation in time: window centres -> centres of equal bins"}
            features = resample_features(features, centres, duration, cfg.resample)
            edges = np.arange(cfg.resample + 1) * duration / cfg.resample
            stamps = np.stack([edges[:-1], edges[1:]], 1)
        else:
            stamps = np.stack([t0, np.minimum(t0 + cfg.window / fps, duration)], 1)
        meta = {
            "video": str(path), "stem": Path(path).stem, "vidlab_version": __version__,
            "num_features": int(features.shape[0]), "feature_dim": int(features.shape[1]), "dtype": "float32",
            "fps": fps, "source_fps": src_fps, "num_frames": n, "duration": round(duration, 6),
            "window": {"frames": cfg.window, "seconds": cfg.window / fps, "source_frames": span},
            "stride": {"frames": cfg.stride, "seconds": cfg.stride / fps, "source_frames": stride},
            "tail": cfg.tail, "preset": cfg.preset, "resampled": resampled,
            "timestamps": np.round(stamps, 6).tolist(),
            "model": self.model_info, "preprocessing": self.preprocessing(),
            "config": {**cfg.key(), "model": _model_key(self.model_info)},
        }
        return features, meta


def _input_kind(arch: str) -> str:
    from vidlab.models import get_spec

    try:
        return get_spec(arch).inputs
    except VidlabError:  # a model built outside the registry: take it for a clip model
        return "clip"


def _model_key(info: dict) -> dict:
    """The model's identity in the resume check: its weights' sha256 (else the checkpoint path)."""
    ident = {"sha256": info["sha256"]} if info.get("sha256") else {"checkpoint": info.get("checkpoint")}
    return {"arch": info.get("arch"), **ident}


# ----------------------------------------------------------------------------------
# files


def _paths(folder: Path, stem: str) -> tuple[Path, Path]:
    return folder / f"{stem}.npy", folder / f"{stem}.json"


def is_complete(folder: str | os.PathLike, stem: str, config: dict) -> bool:
    """Whether ``{stem}.npy`` and ``{stem}.json`` hold a finished result made with ``config``
    (:meth:`FeatureConfig.key` plus the model, as written in the json)."""
    npy, js = _paths(Path(folder), stem)
    try:
        meta = json.loads(js.read_text())
        shape = np.load(npy, mmap_mode="r").shape
    except (OSError, ValueError):
        return False
    return meta.get("config") == config and shape == (meta.get("num_features"), meta.get("feature_dim"))


def _atomic(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(folder: Path, stem: str, features: np.ndarray, meta: dict) -> None:
    npy, js = _paths(folder, stem)
    for old in folder.glob(f".{stem}.*.tmp-*"):  # left by a killed run
        old.unlink(missing_ok=True)
    js.unlink(missing_ok=True)  # the json marks a result done: never next to another array
    _atomic(npy, lambda f: np.save(f, features))
    _atomic(js, lambda f: f.write((json.dumps(meta, indent=1) + "\n").encode()))


def check_h5py():
    try:
        import h5py
    except ImportError:
        raise VidlabError("--format h5 needs h5py, which vidlab does not install: pip install h5py "
                          "(or use --format npy)") from None
    return h5py


def _h5_done(path: Path, config: dict) -> set[str]:
    """Stems already packed in ``path`` with ``config``."""
    if not path.exists():
        return set()
    h5py = check_h5py()
    done = set()
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            try:
                if json.loads(ds.attrs["meta"]).get("config") == config:
                    done.add(name)
            except (KeyError, ValueError):
                continue
    return done


def _h5_pack(path: Path, parts: Path, stems: list[str]) -> None:
    """A new ``path`` = the old one's datasets + the staged ``stems``; the staged files are removed."""
    h5py = check_h5py()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as dst:
            if path.exists():
                with h5py.File(path, "r") as src:
                    for name in src:
                        if name not in stems:
                            src.copy(src[name], dst, name=name)
            for stem in stems:
                npy, js = _paths(parts, stem)
                ds = dst.create_dataset(stem, data=np.load(npy))
                ds.attrs["meta"] = js.read_text()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for stem in stems:
        for p in _paths(parts, stem):
            p.unlink(missing_ok=True)
    if not any(parts.iterdir()):
        parts.rmdir()


# ----------------------------------------------------------------------------------
# many videos


def _process(ex: FeatureExtractor, video: str, folder: Path, on_frames=None) -> dict:
    t = time.perf_counter()
    stem = Path(video).stem
    try:
        features, meta = ex.extract(video, on_frames=on_frames)
    except VidlabError as e:  # VideoDecodeError and the other bad-input errors name the file
        msg = " ".join(str(e).split())
        return {"video": video, "stem": stem, "status": "failed",
                "error": msg if video in msg else f"{video}: {msg}"}
    _write(folder, stem, features, meta)
    return {"video": video, "stem": stem, "status": "done", "shape": list(features.shape),
            "seconds": round(time.perf_counter() - t, 3)}


_WORKER: dict[str, Any] = {}


def _worker_init(model: Any, config: FeatureConfig, devices: Any, model_info: dict, threads: int,
                 folder: str) -> None:
    from vidlab import models

    torch.set_num_threads(threads)
    device = devices.get()
    m = models.load(model) if isinstance(model, (str, Path)) else model
    _WORKER["ex"] = FeatureExtractor(m, config, device=device, model_info=model_info, threads=1)
    _WORKER["folder"] = Path(folder)


def _worker_run(video: str) -> dict:
    return _process(_WORKER["ex"], video, _WORKER["folder"])


def _pick_device(device: str, k: int = 0) -> str:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{k % torch.cuda.device_count()}"
    return device


def extract_features(
    videos: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    model: nn.Module | str | os.PathLike,
    config: FeatureConfig,
    *,
    fmt: str = "npy",
    workers: int = 1,
    device: str = "auto",
    model_info: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Features of every video into ``out_dir`` (see the module docstring); returns a summary.

    ``model``: a loaded model, or a checkpoint path (each worker loads it).
    ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``;
    with several GPUs workers take them in turn. The summary lists ``done``,
    ``skipped`` (already complete) and ``failed`` videos (``{"video", "error"}``).
    """
    from tqdm.auto import tqdm

    from vidlab import models
    from vidlab.engine.distributed import env_info

    if fmt not in FORMATS:
        raise VidlabError(f"format must be npy or h5, got {fmt!r}")
    if workers < 1:
        raise VidlabError(f"workers must be >= 1, got {workers}")
    if fmt == "h5":
        check_h5py()
    start = time.perf_counter()
    dist = env_info()
    videos = [str(v) for v in videos][dist.rank::dist.world_size]
    stems: dict[str, list[str]] = {}
    for v in videos:
        stems.setdefault(Path(v).stem, []).append(v)
    dup = {s: vs for s, vs in stems.items() if len(vs) > 1}
    if dup:
        s, vs = next(iter(dup.items()))
        raise VidlabError(f"{len(dup)} file name(s) occur twice, and the outputs are named by them: {s!r} is "
                          f"{' and '.join(vs[:2])}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folder = out / ".parts" if fmt == "h5" else out
    folder.mkdir(exist_ok=True)
    h5_path = out / ("features.h5" if dist.world_size == 1 else
                     f"features-rank{dist.rank}-of-{dist.world_size}.h5")

    info = dict(model_info or {})
    if isinstance(model, (str, os.PathLike)):
        info.setdefault("checkpoint", str(model))
        loaded = models.load(model)
    else:
        loaded = model
    # check the model and the settings before any video (one line for a bad model, not one per video)
    ex = FeatureExtractor(loaded, config, device=_pick_device(device), model_info=info)
    key = {**config.key(), "model": _model_key(ex.model_info)}
    packed = _h5_done(h5_path, key) if fmt == "h5" else set()
    todo: list[str] = []
    skipped: list[str] = []
    for v in videos:
        stem = Path(v).stem
        (skipped if stem in packed or is_complete(folder, stem, key) else todo).append(v)
    if skipped and log:
        log(f"{len(skipped)} of {len(videos)} videos already done in {out}: skipped")

    results: list[dict] = []
    bar = tqdm(total=len(videos), initial=len(skipped), desc="features", unit="video", file=sys.stderr,
               dynamic_ncols=True, disable=None if progress else True)
    try:
        if workers == 1 or len(todo) <= 1:
            for v in todo:
                frames_bar = tqdm(desc=Path(v).name[:40], unit="frame", leave=False, file=sys.stderr,
                                  dynamic_ncols=True, disable=None if progress else True)

                def advance(done: int, total: int, b=frames_bar) -> None:
                    b.total = max(total, done)
                    b.update(done - b.n)

                try:
                    results.append(_process(ex, v, folder, advance))
                finally:
                    frames_bar.close()
                bar.update(1)
        else:
            results = _run_pool(todo, model if isinstance(model, (str, os.PathLike)) else loaded, config, ex,
                                workers, device, folder, bar)
    finally:
        bar.close()
    order = {v: i for i, v in enumerate(videos)}
    results.sort(key=lambda r: order[r["video"]])  # workers finish in any order
    done = [r for r in results if r["status"] == "done"]
    if fmt == "h5":
        # staged by this run, or by an earlier one that stopped before packing
        staged = [r["stem"] for r in done] + [Path(v).stem for v in skipped if Path(v).stem not in packed]
        if staged or not h5_path.exists():
            _h5_pack(h5_path, folder, staged)
    failed = [{"video": r["video"], "error": r["error"]} for r in results if r["status"] == "failed"]
    return {
        "out": str(h5_path if fmt == "h5" else out), "format": fmt, "videos": len(videos),
        "done": [r["video"] for r in done], "skipped": skipped, "failed": failed,
        "shapes": {r["stem"]: r["shape"] for r in done}, "feature_dim": None if not done else done[0]["shape"][1],
        "rank": dist.rank, "world_size": dist.world_size, "seconds": round(time.perf_counter() - start, 3),
        "config": config.key(), "preset": config.preset, "model": ex.model_info,
    }


def _run_pool(todo, model, config, ex, workers, device, folder, bar) -> list[dict]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no fork of a process holding torch's thread pools
    devices = ctx.Queue()
    for k in range(workers):
        devices.put(_pick_device(device, k))
    threads = max(1, (os.cpu_count() or 1) // workers)
    results = []
    with ctx.Pool(workers, initializer=_worker_init,
                  initargs=(model, config, devices, ex.model_info, threads, str(folder))) as pool:
        for r in pool.imap_unordered(_worker_run, todo):
            results.append(r)
            bar.update(1)
    return results
