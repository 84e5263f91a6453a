"""Key mappers from other ecosystems' state dicts to vidlab's.

A mapper turns a foreign state dict (already unwrapped from its checkpoint
container) into a state dict whose keys are vidlab's, without changing any
tensor values except where a layout really differs (documented per mapper).
Register one per (source, architecture) with :func:`register`::

    @register("pytorchvideo", "slow_r50_8x8", "c2d_r50")
    def from_ptv_resnet(state: dict[str, Tensor], arch: str) -> dict[str, Tensor]:
        ...

Sources: ``pyslowfast``, ``pytorchvideo``, ``torchvision``, ``mmaction2``, ``huggingface``, ``c3d-pytorch``
(DavideA/c3d-pytorch's ``c3d.pickle``, the PyTorch port of the Caffe Sports-1M C3D).
A mapper must not drop or invent keys silently: every source key is either
mapped or listed in an error (``vidlab.convert.ConversionError``); the strict
load that follows names any vidlab key left missing.
"""

from __future__ import annotations

from typing import Callable

import torch

from vidlab.errors import VidlabError

SOURCES = ("pyslowfast", "pytorchvideo", "torchvision", "mmaction2", "huggingface", "c3d-pytorch")

StateDict = dict[str, torch.Tensor]
Mapper = Callable[[StateDict, str], StateDict]

_MAPPERS: dict[tuple[str, str], Mapper] = {}
_WHY_NOT: dict[tuple[str, str], str] = {}
# builder arguments a source's network needs that no tensor shape shows (PyTorchVideo's AVA detector pools
# its boxes with RoIAlign(aligned=False)); recorded in the converted checkpoint's model_kwargs
_BUILD_KWARGS: dict[tuple[str, str], dict] = {}


class ConversionError(VidlabError, ValueError):
    """A foreign checkpoint cannot be mapped onto the requested architecture."""


def register(source: str, *archs: str, build_kwargs: dict | None = None) -> Callable[[Mapper], Mapper]:
    """Register a state-dict mapper from ``source`` onto vidlab's ``archs``; ``build_kwargs``: builder
    arguments the source's network always has and its tensors do not show (see :func:`build_kwargs`)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")

    def deco(fn: Mapper) -> Mapper:
        for arch in archs:
            key = (source, arch)
            if key in _MAPPERS:
                raise ValueError(f"mapper for {key} registered twice")
            _MAPPERS[key] = fn
            if build_kwargs:
                _BUILD_KWARGS[key] = dict(build_kwargs)
        return fn

    return deco


def get_mapper(source: str, arch: str) -> Mapper:
    from vidlab.models import get_spec

    name = get_spec(arch).name
    if source not in SOURCES:
        raise ConversionError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    if (source, name) not in _MAPPERS:
        reason = _WHY_NOT.get((source, name))
        if reason:
            raise ConversionError(f"no {source} converter for {name}: {reason}")
        have = sorted(a for s, a in _MAPPERS if s == source)
        raise ConversionError(f"no {source} converter for {name}; {source} converters exist for: {', '.join(have) or 'none'}")
    return _MAPPERS[(source, name)]


def build_kwargs(source: str, arch: str) -> dict:
    """The builder arguments ``source``'s network of ``arch`` needs beyond what its shapes fix ({} for most)."""
    from vidlab.models import get_spec

    return dict(_BUILD_KWARGS.get((source, get_spec(arch).name), {}))


def not_convertible(source: str, arch: str, reason: str) -> None:
    """Record why ``source``'s network called ``arch`` is not vidlab's (shown instead of a mapper)."""
    _WHY_NOT[(source, arch)] = reason


def supported() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in SOURCES}
    for s, a in sorted(_MAPPERS):
        out[s].append(a)
    return out


def unmapped_error(source: str, arch: str, keys: list[str]) -> ConversionError:
    shown = ", ".join(keys[:5]) + (f", ... +{len(keys) - 5} more" if len(keys) > 5 else "")
    return ConversionError(f"{source} -> {arch}: {len(keys)} source keys have no place in the model: [{shown}]")
