"""Dense optical flow estimators: Farneback, TV-L1 (OpenCV) and RAFT (torchvision).

Every estimator maps a pair of RGB ``uint8`` frames ``(H, W, 3)`` to the
forward flow ``(2, H, W)`` float32 in pixels, channel 0 the x (column) and
channel 1 the y (row) displacement: frame ``t`` pixel ``p`` moves to
``p + flow[:, p]`` in frame ``t + 1`` (OpenCV's and torchvision's convention,
the synthetic set's ground truth too). :meth:`FlowEstimator.video` runs it over
consecutive frames: ``(T, H, W, 3)`` -> ``(T - 1, 2, H, W)``.

OpenCV is imported lazily (``opencv-contrib-python-headless``: TV-L1 lives in
the contrib module ``cv2.optflow``); RAFT needs only torchvision, and its
weights come from a file (nothing is downloaded unless asked for).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from vidlab.errors import VidlabError

__all__ = [
    "METHODS",
    "FlowEstimator",
    "FarnebackFlow",
    "TVL1Flow",
    "RaftFlow",
    "FlowMethodError",
    "get_estimator",
]

METHODS = ("farneback", "tvl1", "raft")

_OPENCV_HINT = "install OpenCV with the contrib modules: pip install opencv-contrib-python-headless"


class FlowMethodError(VidlabError, RuntimeError):
    """A flow method cannot run here (missing OpenCV, missing RAFT weights, ...)."""


def _cv2(need_contrib: bool = False):
    try:
        import cv2
    except ImportError:
        raise FlowMethodError(f"OpenCV is not installed; {_OPENCV_HINT}") from None
    if need_contrib and not hasattr(getattr(cv2, "optflow", None), "DualTVL1OpticalFlow_create"):
        raise FlowMethodError(
            f"TV-L1 needs OpenCV's contrib module cv2.optflow (OpenCV {cv2.__version__} lacks it); {_OPENCV_HINT}"
        )
    return cv2


def _gray(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.dtype} {frame.shape}")
    # ITU-R BT.601 luma, as cv2.cvtColor(RGB2GRAY) computes it
    return _cv2().cvtColor(frame, _cv2().COLOR_RGB2GRAY)


class FlowEstimator:
    """Base class: ``estimator(prev, next) -> (2, H, W)``; ``estimator.video(frames)``."""

    name = "base"

    def params(self) -> dict:
        """The settings that determine the output (stored in the flow sidecar)."""
        return {}

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pairs(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Flow of every consecutive pair of a frame stream (one frame in memory)."""
        prev = None
        for frame in frames:
            if prev is not None:
                yield self(prev, frame)
            prev = frame

    def video(self, frames: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
        """``(T, H, W, 3)`` frames -> ``(T - 1, 2, H, W)`` float32 flow."""
        flows = list(self.pairs(frames))
        if not flows:
            raise ValueError("optical flow needs at least 2 frames")
        return np.stack(flows)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@dataclass(repr=False)
class FarnebackFlow(FlowEstimator):
    """Gunnar Farneback's polynomial-expansion flow (``cv2.calcOpticalFlowFarneback``)
    on the BT.601 luma of both frames.

    Defaults are OpenCV's sample settings (pyramid scale 0.5, 3 levels, 15x15
    window, 3 iterations, poly_n 5, sigma 1.2), which are also what the
    two-stream literature's extraction scripts pass.
    """

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    gaussian: bool = False
    name = "farneback"

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("pyr_scale", "levels", "winsize", "iterations", "poly_n",
                                              "poly_sigma", "gaussian")}

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if self.gaussian else 0
        flow = cv2.calcOpticalFlowFarneback(_gray(prev), _gray(nxt), None, self.pyr_scale, self.levels,
                                            self.winsize, self.iterations, self.poly_n, self.poly_sigma, flags)
        return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


@dataclass(repr=False)
class TVL1Flow(FlowEstimator):
    """Zach-Pock-Bischof TV-L1 flow (OpenCV contrib ``cv2.optflow.DualTVL1OpticalFlow``)
    on the BT.601 luma; the defaults are OpenCV's (those of the denseflow tool
    that TSN/MMAction2 caches were made with)."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
    _impl: object = field(default=None, init=False, compare=False)
    name = "tvl1"

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("tau", "lambda_", "theta", "nscales", "warps", "epsilon",
                                              "inner_iterations", "outer_iterations", "scale_step", "gamma",
                                              "median_filtering")}

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        if self._impl is None:
            cv2 = _cv2(need_contrib=True)
            self._impl = cv2.optflow.DualTVL1OpticalFlow_create(
                tau=self.tau, lambda_=self.lambda_, theta=self.theta, nscales=self.nscales, warps=self.warps,
                epsilon=self.epsilon, innnerIterations=self.inner_iterations,
                outerIterations=self.outer_iterations, scaleStep=self.scale_step, gamma=self.gamma,
                medianFiltering=self.median_filtering,
            )
        flow = self._impl.calc(_gray(prev), _gray(nxt), None)
        return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


class RaftFlow(FlowEstimator):
    """RAFT (Teed & Deng 2020) through torchvision's ``raft_small`` / ``raft_large``.

    ``weights``: a path to a state dict of the torchvision model (``.pth``/``.pt``
    read with ``torch.load(weights_only=True)``, or ``.safetensors``), e.g. the
    file torchvision downloads for ``Raft_Large_Weights.C_T_SKHT_V2``
    (``raft_large_C_T_SKHT_V2-ff5fadd5.pth``); ``"download"`` fetches
    torchvision's default weights through vidlab's hub (entries ``raft_large`` /
    ``raft_small``: cached in ``$VIDLAB_HOME/hub``, hash prefix checked,
    ``$VIDLAB_HUB_MIRROR`` honoured; one clear error offline); ``"random"`` keeps the random initialisation (for
    tests only: the flow is meaningless). Frames are scaled to [-1, 1] as
    torchvision's transforms do and padded (replicate) to a multiple of 8;
    the flow is cropped back; frames smaller than 128 px (RAFT's correlation
    pyramid needs 16x16 feature maps) are upsampled bilinearly first and the
    flow is resized and scaled back. Runs on CUDA when available.
    """

    name = "raft"

    def __init__(self, weights: str | os.PathLike | None = None, *, model: str = "large",
                 num_flow_updates: int = 12, device: str | None = None):
        if model not in ("small", "large"):
            raise ValueError(f"RAFT model must be 'small' or 'large', got {model!r}")
        if weights is None:
            raise FlowMethodError(
                f"RAFT needs weights: pass the path of a torchvision raft_{model} state dict "
                f"(--raft-weights PATH; e.g. the Raft_{model.title()}_Weights file from torchvision's model zoo, "
                "copied here by hand), or 'download' where the internet is reachable"
            )
        import torch
        from torchvision.models import optical_flow

        self.model_name = model
        self.num_flow_updates = int(num_flow_updates)
        self.weights = str(weights)
        builder = optical_flow.raft_small if model == "small" else optical_flow.raft_large
        net = builder(weights=None, progress=False)
        if self.weights == "download":  # torchvision's DEFAULT weights, through vidlab's hub (cache, mirror)
            from vidlab import hub

            try:
                path = hub.download(hub.get_entry(f"raft_{model}"), progress=False)
            except hub.HubError as e:
                raise FlowMethodError(f"cannot fetch the RAFT {model} weights: {e}; or pass the file's path") from None
            self.weights = str(path)
            net.load_state_dict(_read_state_dict(self.weights, net))
        elif self.weights != "random":
            net.load_state_dict(_read_state_dict(self.weights, net))
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = net.eval().to(self.device)

    def params(self) -> dict:
        return {"model": self.model_name, "weights": Path(self.weights).name, "num_flow_updates": self.num_flow_updates}

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return self.batch([prev], [nxt])[0]

    def batch(self, prevs, nexts) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        a = torch.as_tensor(np.stack(prevs)).permute(0, 3, 1, 2).float()
        b = torch.as_tensor(np.stack(nexts)).permute(0, 3, 1, 2).float()
        h, w = a.shape[-2:]
        x = torch.cat([a, b]).div_(127.5).sub_(1.0)
        # RAFT's correlation pyramid needs feature maps of >= 16 (frames of >= 128 px):
        # smaller frames are upsampled (bilinear) and the flow scaled back
        scale = max(1.0, _RAFT_MIN_SIDE / min(h, w))
        if scale > 1.0:
            x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear", align_corners=False)
        sh, sw = x.shape[-2:]
        ph, pw = (-sh) % 8, (-sw) % 8
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = x.to(self.device)
        n = a.shape[0]
        with torch.no_grad():
            flows = self.net(x[:n], x[n:], num_flow_updates=self.num_flow_updates)[-1]
        flows = flows[..., :sh, :sw].float().cpu()
        if scale > 1.0:
            flows = F.interpolate(flows, size=(h, w), mode="bilinear", align_corners=False)
            flows[:, 0] *= w / sw
            flows[:, 1] *= h / sh
        return flows.numpy()

    def pairs(self, frames: Iterable[np.ndarray], batch_size: int = 8) -> Iterator[np.ndarray]:
        prev, buf_a, buf_b = None, [], []
        for frame in frames:
            if prev is not None:
                buf_a.append(prev)
                buf_b.append(frame)
                if len(buf_a) == batch_size:
                    yield from self.batch(buf_a, buf_b)
                    buf_a, buf_b = [], []
            prev = frame
        if buf_a:
            yield from self.batch(buf_a, buf_b)


_RAFT_MIN_SIDE = 128


def _read_state_dict(path: str, net) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FlowMethodError(f"{p}: RAFT weights file not found")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            import torch

            state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:
        raise FlowMethodError(f"{p}: cannot read RAFT weights ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise FlowMethodError(
            f"{p}: not a torchvision RAFT state dict for this model size "
            f"({len(missing)} missing keys, e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})"
        )
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if bad:
        raise FlowMethodError(f"{p}: shape mismatch for {bad[:3]} (raft_small vs raft_large?)")
    return state


def get_estimator(method: str, **options) -> FlowEstimator:
    """An estimator by name: ``farneback``, ``tvl1`` or ``raft`` (options go to its constructor)."""
    method = method.lower()
    if method == "farneback":
        _cv2()
        return FarnebackFlow(**options)
    if method == "tvl1":
        _cv2(need_contrib=True)
        return TVL1Flow(**options)
    if method == "raft":
        return RaftFlow(**options)
    raise FlowMethodError(f"unknown flow method {method!r}; choose one of {', '.join(METHODS)}")
