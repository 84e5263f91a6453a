"""Dataset formats, one module each.

``video_list`` (MMAction2 lists) and the benchmark formats (``kth``,
``weizmann``, ``ucf101``, ``hmdb51``, ``kinetics``, ``ssv2``, ``charades``,
``activitynet``, ``sports1m``, ``youtube8m``) register in
:mod:`~vidlab.data.datasets.registry`; :mod:`~vidlab.data.datasets.robust`
keeps training alive through bad videos.
"""

from vidlab.data.datasets.video_list import (
    FrameCache,
    TooShortError,
    VideoListDataset,
    VideoRecord,
    read_video_list,
)
from vidlab.data.datasets.registry import (  # noqa: E402  (registry builds on video_list)
    DatasetIndex,
    build_dataset,
    get_format,
    list_formats,
    load_index,
    locate,
    make_dataset,
)
from vidlab.data.datasets.robust import BadDataError, RobustDataset  # noqa: E402

__all__ = [
    "BadDataError",
    "DatasetIndex",
    "FrameCache",
    "RobustDataset",
    "TooShortError",
    "VideoListDataset",
    "VideoRecord",
    "build_dataset",
    "get_format",
    "list_formats",
    "load_index",
    "locate",
    "make_dataset",
    "read_video_list",
]
