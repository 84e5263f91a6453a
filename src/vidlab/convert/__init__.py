"""Checkpoint import from PySlowFast, pytorchvideo, torchvision and MMAction2."""

from vidlab.convert.registry import SOURCES, ConversionError, get_mapper, register, supported

__all__ = ["SOURCES", "ConversionError", "get_mapper", "register", "supported"]
