"""Architecture registry: names -> builders plus the input each model expects."""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, cast

import torch
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
    # what forward takes (see example_inputs): "clip" (B, C, T, H, W) with C = len(mean);
    # "rgb+flow" [rgb (B,3,T,H,W), flow (B,2,T,H,W)]; "frame+flow" [rgb (B,3,1,H,W),
    # flow (B,2,num_frames,H,W)]; "clip+boxes" (clip, (N, 5) boxes); "bank" (short, long, mask)
    inputs: str = "clip"

    def preprocessing(self) -> dict:
        d = asdict(self)
        for k in ("builder", "name", "family", "description", "aliases", "num_classes", "inputs"):
            d.pop(k)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


class UnknownModelError(VidlabError, KeyError):
    """No architecture of that name."""

    def __str__(self) -> str:
        return str(self.args[0])


class ModelArgumentError(VidlabError, TypeError):
    """A builder argument the architecture does not take."""


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


INPUT_KINDS = ("clip", "rgb+flow", "frame+flow", "clip+boxes", "bank")


def register(spec: ModelSpec) -> ModelSpec:
    if spec.inputs not in INPUT_KINDS:
        raise ValueError(f"{spec.name}: inputs must be one of {INPUT_KINDS}, got {spec.inputs!r}")
    for key in (spec.name, *spec.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"model name {key!r} registered twice")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def register_model(name: str, **spec_fields: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering the builder below it under ``name`` (``spec_fields``: the
    :class:`ModelSpec` fields: ``family``, ``num_frames``, ``sampling_rate``, ``crop_size``, ...)."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        register(ModelSpec(name, builder, **spec_fields))
        return builder

    return decorate


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


# ``weights=TAG`` in build(): a function (arch, tag) -> local vidlab checkpoint path, registered by
# vidlab.hub when it is imported (models/ never imports the hub: build() imports it by name, through
# importlib, only when a tag is asked for and no resolver is set yet).
WeightsResolver = Callable[[str, str], "str | os.PathLike"]
WEIGHTS_RESOLVER_MODULE = "vidlab.hub"
_weights_resolver: WeightsResolver | None = None


def set_weights_resolver(resolver: WeightsResolver | None) -> None:
    """Register ``resolver(arch, tag) -> checkpoint path``, used by ``build(..., weights=TAG)``."""
    global _weights_resolver
    _weights_resolver = resolver


def is_weights_path(weights: "str | os.PathLike") -> bool:
    """Whether ``build``'s ``weights`` is a file path (a path object, a string with a folder separator or a
    ``.safetensors``/``.json`` suffix) rather than a published tag (``DEFAULT``, ``kinetics400``...)."""
    if isinstance(weights, os.PathLike):
        return True
    return "/" in weights or os.sep in weights or weights.endswith((".safetensors", ".json"))


def weights_path(arch: str, weights: "str | os.PathLike") -> Path:
    """The local vidlab checkpoint for ``build(arch, weights=...)``: a path as given, or a tag resolved
    (downloaded and converted once, then cached) by the registered resolver."""
    if is_weights_path(weights):
        return Path(weights)
    if _weights_resolver is None:
        importlib.import_module(WEIGHTS_RESOLVER_MODULE)  # registers its resolver on import
    if _weights_resolver is None:
        raise ModelArgumentError(f"weights={weights!r} names published weights, and no weights resolver is "
                                 f"registered ({WEIGHTS_RESOLVER_MODULE} registers one)")
    return Path(_weights_resolver(get_spec(arch).name, str(weights)))


def build(name: str, num_classes: int | None = None, weights: "str | os.PathLike | None" = None,
          **overrides) -> nn.Module:
    """Build an architecture by name (or alias) with freshly initialised weights, or with ``weights``.

    ``overrides`` go to the builder as plain keyword arguments (``dropout=0.2``,
    ``width=32``...). ``weights``: None (random initialisation), a published tag (``"DEFAULT"``, the
    architecture's first hub entry, or e.g. ``"kinetics400"``; downloaded once into ``$VIDLAB_HOME/hub``)
    or the path of a vidlab checkpoint. With weights the model is returned as :func:`vidlab.models.load`
    returns it (eval mode, ``.meta`` set); ``num_classes`` other than the checkpoint's gives a fresh
    classifier of that size (``reset_classifier``) on top of the loaded features.
    """
    spec = get_spec(name)
    if weights is not None:
        return _build_with_weights(spec, num_classes, weights, overrides)
    check_arguments(spec, overrides)
    try:
        model = spec.builder(num_classes=spec.num_classes if num_classes is None else num_classes, **overrides)
    except TypeError as e:  # an argument the signatures did not reveal (a builder that forwards **kwargs on)
        bad = [k for k in overrides if f"argument '{k}'" in str(e)]
        if not bad:
            raise
        if "multiple values" in str(e):
            raise ModelArgumentError(f"{spec.name} sets {bad[0]!r} itself; it cannot be overridden") from None
        raise ModelArgumentError(_no_such_argument(spec, bad[0])) from None
    setattr(model, "arch", spec.name)  # a plain attribute (the stubs type Module attributes as Tensor | Module)
    return model


def _build_with_weights(spec: ModelSpec, num_classes: int | None, weights: "str | os.PathLike",
                        overrides: dict) -> nn.Module:
    from vidlab.models.checkpoint import CheckpointError, load, load_into, load_state_dict, read_meta

    path = weights_path(spec.name, weights)
    meta = read_meta(path)
    if get_spec(str(meta.get("arch"))).name != spec.name:
        raise CheckpointError(f"{path}: a {meta.get('arch')} checkpoint, not {spec.name}")
    stored = meta.get("num_classes")
    if not overrides and num_classes in (None, stored):
        return load(path)
    if (meta.get("compression") or {}).get("method") not in (None, "fp16", "bf16"):
        raise CheckpointError(f"{path}: a compressed checkpoint loads only as it is (no num_classes or overrides)")
    model = build(spec.name, num_classes=stored, **{**meta.get("model_kwargs", {}), **overrides})
    load_into(model, load_state_dict(path), str(path))
    if num_classes is not None and num_classes != stored:
        cast(Any, model).reset_classifier(num_classes)
        # a new classifier: not the published one (its hub entry), nor known to be multi-label
        pre = {k: v for k, v in (meta.get("preprocessing") or {}).items() if k != "multi_label"}
        meta = {k: v for k, v in meta.items() if k != "hub_entry"}
        meta = {**meta, "num_classes": num_classes, "labels": None, "preprocessing": pre}
    setattr(model, "meta", meta)
    return model.eval()


def builder_arguments(spec: ModelSpec) -> list[str] | None:
    """The keyword arguments ``build(spec.name, ...)`` takes besides ``num_classes``, sorted; None when
    a builder passes ``**kwargs`` to something whose arguments cannot be read off."""
    import inspect

    names: set[str] = set()
    fn: Callable[..., object] = spec.builder
    for _ in range(3):  # builder -> the model class it returns (-> its base, rarely)
        sig = inspect.signature(fn)
        names |= {n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            names.discard("self")
            names.discard("num_classes")
            return sorted(names)
        ret = sig.return_annotation
        if isinstance(ret, str):
            ret = getattr(inspect.getmodule(fn), ret, None)
        if not isinstance(ret, type):
            return None
        fn = getattr(ret, "__init__")
    return None


def check_arguments(spec: ModelSpec, overrides: dict) -> None:
    """Refuse builder arguments ``spec``'s architecture does not take, naming the ones it does."""
    known = builder_arguments(spec)
    if known is None:
        return
    for key in overrides:
        if key not in known:
            raise ModelArgumentError(_no_such_argument(spec, key))


def check_fixed_arguments(spec: ModelSpec, overrides: dict) -> None:
    """Refuse ``overrides`` that ``spec``'s builder sets itself (e.g. ``stage_blocks`` of a named ResNet
    depth), which its signature cannot show: the builder is tried on the ``meta`` device (no memory, no
    initialisation cost). Other failures of that trial are left to the real build."""
    if not overrides:
        return
    try:
        with torch.device("meta"):
            spec.builder(num_classes=spec.num_classes, **overrides)
    except TypeError as e:
        bad = [k for k in overrides if f"argument '{k}'" in str(e)]
        if bad and "multiple values" in str(e):
            raise ModelArgumentError(f"{spec.name} sets {bad[0]!r} itself; it cannot be overridden") from None
    except Exception:  # noqa: BLE001 - a value the real build judges (with its own message), or a meta-only limit
        return


def _no_such_argument(spec: ModelSpec, key: str) -> str:
    known = builder_arguments(spec)
    takes = f"; it takes {', '.join(known)}" if known else ("; it takes no arguments besides num_classes"
                                                              if known == [] else "")
    return f"{spec.name} has no argument {key!r}{takes}"


def example_inputs(spec: ModelSpec, model: nn.Module, *, batch: int = 2, size: int = 32,
                   generator: torch.Generator | None = None) -> tuple:
    """Positional arguments of a valid forward call at a small size, from the spec's ``inputs``
    kind (``num_frames`` frames of ``size`` x ``size``), e.g. for tests and benchmarks."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    t = spec.num_frames

    def clip(channels: int, frames: int) -> torch.Tensor:
        return torch.randn(batch, channels, frames, size, size, generator=g)

    if spec.inputs == "clip":
        return (clip(len(spec.mean), t),)
    if spec.inputs == "rgb+flow":
        return ([clip(3, t), clip(2, t)],)
    if spec.inputs == "frame+flow":
        return ([clip(3, 1), clip(2, t)],)
    if spec.inputs == "clip+boxes":
        lo, hi = 0.1 * size, 0.8 * size
        boxes = torch.tensor([[i, lo, lo, hi, hi] for i in range(batch)], dtype=torch.float32)
        return clip(3, t), boxes
    # "bank": a short-term feature and a window of 5 long-term ones, the last one masked out
    window = 5
    dim_short, dim_long = cast(int, model.dim_short), cast(int, model.dim_long)  # an LFBHead's int widths
    short = torch.randn(batch, dim_short, generator=g)
    long = torch.randn(batch, window, dim_long, generator=g)
    mask = torch.ones(batch, window, dtype=torch.bool)
    mask[:, -1] = False
    return short, long, mask
