"""Exceptions raised by vidlab's I/O layer."""

from __future__ import annotations

from vidlab.errors import VidlabError


class VideoDecodeError(VidlabError, RuntimeError):
    """A video could not be opened or decoded.

    The message always names the file, so one line on stderr is enough for a
    user to know which input is at fault.
    """

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
