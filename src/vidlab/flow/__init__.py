"""Optical flow: estimators (Farneback, TV-L1, RAFT), storage (quantised JPEG
pairs or ``flow.npy`` with a JSON sidecar), colour-wheel visualisation and
end-point error (its evaluation on the synthetic set:
:func:`vidlab.evaluation.flow.evaluate_on_synthetic`).

Convention everywhere: a flow field is ``(2, H, W)`` float32 in pixels,
channel 0 = x (columns), channel 1 = y (rows), forward (frame t -> t + 1); a
video's flow is ``(T - 1, 2, H, W)``.
"""

from vidlab.flow.methods import (
    METHODS,
    FarnebackFlow,
    FlowEstimator,
    FlowMethodError,
    RaftFlow,
    TVL1Flow,
    get_estimator,
)
from vidlab.flow.metrics import end_point_error, epe_map
from vidlab.flow.storage import (
    DEFAULT_BOUND,
    dequantize_flow,
    load_flow_npy,
    quantize_flow,
    read_flow_jpg,
    read_sidecar,
    save_flow_npy,
    write_flow_jpg,
)
from vidlab.flow.visualize import flow_to_rgb, write_flow_video

__all__ = [
    "DEFAULT_BOUND",
    "METHODS",
    "FarnebackFlow",
    "FlowEstimator",
    "FlowMethodError",
    "RaftFlow",
    "TVL1Flow",
    "dequantize_flow",
    "end_point_error",
    "epe_map",
    "extract_flows",
    "extract_video_flow",
    "flow_to_rgb",
    "get_estimator",
    "load_flow_npy",
    "quantize_flow",
    "read_flow_jpg",
    "read_sidecar",
    "save_flow_npy",
    "write_flow_jpg",
    "write_flow_video",
]


def __getattr__(name):  # extraction pulls in the video reader: import it on demand
    if name in ("extract_flows", "extract_video_flow"):
        from vidlab.flow import extract

        return getattr(extract, name)
    raise AttributeError(name)
