"""Video and label I/O."""

from vidlab.io.errors import VideoDecodeError
from vidlab.io.labels import read_label_map
from vidlab.io.video import VideoInfo, VideoReader, probe_video, torchcodec_status
from vidlab.io.writer import write_video

__all__ = [
    "VideoDecodeError",
    "VideoInfo",
    "VideoReader",
    "probe_video",
    "read_label_map",
    "torchcodec_status",
    "write_video",
]
