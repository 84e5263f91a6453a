"""Settings of the local web app: limits and accepted media types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Content types a browser or HTTP client sends for video files, with the suffix
# the server gives the stored copy (FFmpeg probes the content anyway; the
# suffix only helps it pick a demuxer first).
VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "video/x-m4v": ".m4v",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
    "video/avi": ".avi",
    "video/msvideo": ".avi",
    "video/x-matroska": ".mkv",
    "video/webm": ".webm",
    "video/mpeg": ".mpg",
    "video/ogg": ".ogv",
    "video/3gpp": ".3gp",
    "video/x-flv": ".flv",
    "video/mp2t": ".ts",
    "video/x-ms-wmv": ".wmv",
    "image/gif": ".gif",  # animated GIFs are short videos
}
IMAGE_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/x-ms-bmp": ".bmp",
    "image/tiff": ".tif",
}
# What a client that sends no specific type (``application/octet-stream``) may
# still upload, judged by the file name's suffix alone.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ogv", ".3gp", ".flv", ".ts",
                  ".wmv", ".gif"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


@dataclass
class ServeConfig:
    """What ``vidlab serve`` runs with. Sizes in bytes, times in seconds."""

    checkpoint: Path | None = None
    cartoon_weights: Path | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    max_video_seconds: float = 600.0
    max_image_pixels: int = 40_000_000
    job_timeout: float = 300.0
    queue_size: int = 8
    workers: int = 1
    retention: float = 3600.0
    work_dir: Path | None = None  # None: a fresh private temporary folder, removed at shutdown
    annotate_video: bool = True
    annotate_max_side: int = 640
    cartoon_load_size: int = 450
    default_topk: int = 5
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_upload_bytes <= 0:
            raise ValueError("max_upload_bytes must be positive")
        if self.queue_size < 1 or self.workers < 1:
            raise ValueError("queue_size and workers must be at least 1")
        if self.job_timeout <= 0 or self.retention <= 0:
            raise ValueError("job_timeout and retention must be positive")


def media_suffix(content_type: str | None, filename: str | None, kind: str) -> str | None:
    """The stored file's suffix for an upload, or None when its type is not accepted.

    ``kind`` is ``"video"`` or ``"image"``. A specific content type decides; a
    generic one (``application/octet-stream`` or none) falls back to the file
    name's suffix. Only the suffix of the client's name is looked at, and only
    to compare it with a fixed list: no part of it reaches a path.
    """
    types, suffixes = (VIDEO_TYPES, VIDEO_SUFFIXES) if kind == "video" else (IMAGE_TYPES, IMAGE_SUFFIXES)
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in types:
        return types[ctype]
    if ctype in GENERIC_TYPES:
        name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
        if suffix in suffixes:
            return {".jpeg": ".jpg", ".tiff": ".tif", ".mpeg": ".mpg"}.get(suffix, suffix)
    return None


def display_name(filename: str | None, limit: int = 80) -> str:
    """The client's file name reduced to something safe to show: the last path
    component, printable characters only, at most ``limit`` long."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "<>\"'`")
    name = name.strip().lstrip(".") or "upload"
    return name[:limit]
