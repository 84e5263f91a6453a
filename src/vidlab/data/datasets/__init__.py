"""Dataset formats, one module each."""

from vidlab.data.datasets.video_list import (
    VideoListDataset,
    VideoRecord,
    read_video_list,
)

__all__ = ["VideoListDataset", "VideoRecord", "read_video_list"]
