"""Checkpoint import from PySlowFast, pytorchvideo, torchvision, MMAction2, Hugging Face and c3d-pytorch.

``vidlab.convert.core.convert(source, arch, path)`` reads a foreign checkpoint
and loads it strictly into a vidlab model; the per-ecosystem key mappers live
in this package and register themselves when it is imported.
"""

from vidlab.convert.registry import (
    SOURCES,
    ConversionError,
    get_mapper,
    register,
    supported,
)

# mapper modules (each registers its (source, arch) pairs)
from vidlab.convert import c3d_pytorch, mmaction2, mvit, ptv_csn, ptv_resnet, ptv_x3d, pyslowfast, swin3d, timesformer, torchvision, videomae  # noqa: E402,F401  isort: skip

__all__ = ["SOURCES", "ConversionError", "get_mapper", "register", "supported"]
