"""Video and label I/O."""

from vidlab.io.errors import VideoDecodeError
from vidlab.io.writer import write_video

__all__ = ["VideoDecodeError", "write_video"]
