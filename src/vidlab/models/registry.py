"""Architecture registry: names -> builders plus the input each model expects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from torch import nn

from vidlab.errors import VidlabError

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """What a user needs to feed a model: clip shape, sampling and normalisation."""

    name: str
    builder: Callable[..., nn.Module] = field(repr=False)
    family: str
    num_frames: int
    sampling_rate: int
    crop_size: int
    test_crop_size: int
    num_classes: int = 400
    mean: tuple = KINETICS_MEAN
    std: tuple = KINETICS_STD
    description: str = ""
    aliases: tuple = ()

    def preprocessing(self) -> dict:
        d = asdict(self)
        for k in ("builder", "name", "family", "description", "aliases", "num_classes"):
            d.pop(k)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


class UnknownModelError(VidlabError, KeyError):
    """No architecture of that name."""

    def __str__(self) -> str:
        return str(self.args[0])


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec) -> ModelSpec:
    for key in (spec.name, *spec.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"model name {key!r} registered twice")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def get_spec(name: str) -> ModelSpec:
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; `vidlab models` lists the {len(_REGISTRY)} available")
    return _REGISTRY[key]


def list_models() -> list[str]:
    """Canonical architecture names, sorted."""
    return sorted(_REGISTRY)


def list_aliases() -> dict[str, str]:
    return dict(sorted(_ALIASES.items()))


def build(name: str, num_classes: int | None = None, **overrides) -> nn.Module:
    """Build an architecture by name (or alias) with freshly initialised weights.

    ``overrides`` go to the builder as plain keyword arguments (``dropout=0.2``,
    ``width=32``...).
    """
    spec = get_spec(name)
    model = spec.builder(num_classes=spec.num_classes if num_classes is None else num_classes, **overrides)
    model.arch = spec.name
    return model
