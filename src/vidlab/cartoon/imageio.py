"""Image files for cartoonization: reading with EXIF orientation, the port's resize, writing.

- :func:`read_image` decodes JPEG/PNG/WebP/BMP/TIFF (anything Pillow reads) to RGB ``uint8``
  ``(H, W, 3)`` and applies the EXIF orientation tag (a phone photo taken upright comes out
  upright; the upstream port ignored the tag). Alpha is dropped as by the port's
  ``convert("RGB")``.
- :func:`load_size_hw` / :func:`resize_to_load_size`: the port's ``--load_size`` rule: the
  longer side becomes ``N``, the other ``int(N / ratio)`` (truncated, as ``test.py``), with
  Pillow's bicubic filter; up- and down-scaling alike. ``N = 0`` keeps the size.
- :func:`write_image`: PNG by default (lossless); ``.jpg`` (quality 95) and ``.webp``
  (quality 95) on request. The ICC profile of the input is kept. The file is written under a
  temporary name and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidlab.errors import VidlabError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "load_size_hw",
    "read_image",
    "resize_to_load_size",
    "write_image",
]

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}


class ImageReadError(VidlabError):
    """An image file is missing, empty, truncated or not an image."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {reason}")


def read_image(path: os.PathLike | str, with_icc: bool = False):
    """RGB ``uint8`` ``(H, W, 3)`` with the EXIF orientation applied (``(array, icc)`` with
    ``with_icc=True``)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file")
    try:
        with Image.open(path) as im:
            icc = im.info.get("icc_profile")
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read (corrupt or unsupported format)") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated data, bad headers
        raise ImageReadError(path, f"cannot decode image ({e})") from None
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, str(e)) from None
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 2:
        raise ImageReadError(path, f"image too small ({rgb.shape[1]}x{rgb.shape[0]})")
    return (rgb, icc) if with_icc else rgb


def load_size_hw(h: int, w: int, load_size: int) -> tuple[int, int]:
    """The port's resize rule: the longer side becomes ``load_size`` (``0``: unchanged)."""
    if load_size <= 0:
        return h, w
    ratio = w * 1.0 / h
    if ratio > 1:
        new_w = load_size
        new_h = int(new_w * 1.0 / ratio)
    else:
        new_h = load_size
        new_w = int(new_h * ratio)
    return max(new_h, 2), max(new_w, 2)


def resize_to_load_size(rgb: np.ndarray, load_size: int) -> np.ndarray:
    """Resize ``(H, W, 3)`` uint8 by :func:`load_size_hw` with Pillow's bicubic filter (as the port)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    nh, nw = load_size_hw(h, w, load_size)
    if (nh, nw) == (h, w):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC))


def write_image(path: os.PathLike | str, rgb: np.ndarray, icc: bytes | None = None,
                quality: int = 95) -> Path:
    """Write RGB ``uint8`` ``(H, W, 3)``; the format follows the extension (PNG, JPEG, WebP...)."""
    from PIL import Image

    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise VidlabError(f"{path}: unsupported image extension {path.suffix!r} "
                          f"(use one of {', '.join(sorted(_WRITE_FORMATS))})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    kwargs = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if icc and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc
    try:
        Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format=fmt, **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
