"""``convert``: a foreign checkpoint -> a vidlab model/checkpoint, strictly.

The source file is read (:mod:`vidlab.convert.sources`), its keys are mapped by
the registered mapper for (source, architecture), the number of classes is
read from the mapped classifier, and the tensors are loaded with a strict
check that names every missing, unexpected or mis-shaped key. Nothing is
ever partially loaded.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from vidlab import models
from vidlab.convert.registry import ConversionError, get_mapper, unmapped_error
from vidlab.convert.sources import read_checkpoint
from vidlab.models.checkpoint import CheckpointError, load_into


def class_dependent_keys(arch: str) -> list[str]:
    """State-dict keys whose shape depends on ``num_classes`` (the classifier)."""
    with torch.device("meta"):
        a = models.build(arch, num_classes=1231).state_dict()
        b = models.build(arch, num_classes=1237).state_dict()
    return [k for k in a if a[k].shape != b[k].shape]


def infer_num_classes(arch: str, state: dict[str, torch.Tensor]) -> int | None:
    for key in class_dependent_keys(arch):
        if key in state:
            return int(state[key].shape[0])
    return None


def has_pyslowfast_layout(arch: str) -> bool:
    """Whether ``arch`` uses PySlowFast's parameter names (``s1.pathway0_stem...``), so its importer maps it.

    Not the ``*_mmaction2`` architectures: MMAction2's variants of PySlowFast networks
    (I3D with temporal strides in the stem, SlowFast with bare laterals) share the names
    but not the function, and PySlowFast never published weights for them."""
    if models.get_spec(arch).name.endswith("_mmaction2"):
        return False
    with torch.device("meta"):
        keys = models.build(arch).state_dict().keys()
    return any(k.startswith("s1.pathway0_stem.") for k in keys)


def map_state(source: str, arch: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    try:
        mapper = get_mapper(source, arch)
    except ConversionError:
        if source == "pyslowfast" and has_pyslowfast_layout(arch):
            from vidlab.convert.pyslowfast import from_pyslowfast

            mapper = from_pyslowfast
        else:
            raise
    return mapper(state, models.get_spec(arch).name)


def shape_kwargs(arch: str, state: dict[str, torch.Tensor]) -> dict:
    """Builder arguments that a checkpoint's tensor shapes fix (a model says so with a
    ``kwargs_for_state(state)`` method: MViT's position tables record the clip and crop
    they were made for); ``{}`` for every other architecture."""
    with torch.device("meta"):
        probe = models.build(arch)
    hook = getattr(probe, "kwargs_for_state", None)
    return dict(hook(state)) if hook is not None else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(source: str, arch: str, src: str | os.PathLike, *, num_classes: int | None = None) -> tuple[nn.Module, dict]:
    """Build ``arch`` and load ``src`` (a ``source`` checkpoint) into it, strictly."""
    spec = models.get_spec(arch)
    from vidlab.convert.registry import SOURCES

    if source not in SOURCES:
        raise ConversionError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    state, info = read_checkpoint(src)
    mapped = map_state(source, spec.name, state)
    found = infer_num_classes(spec.name, mapped)
    if num_classes is not None and found is not None and found != num_classes:
        raise ConversionError(f"{src}: the classifier has {found} classes, not {num_classes}")
    n = num_classes or found or spec.num_classes
    from vidlab.convert.registry import build_kwargs

    kwargs = {**build_kwargs(source, spec.name), **shape_kwargs(spec.name, mapped)}
    model = models.build(spec.name, num_classes=n, **kwargs)
    # BN step counters are bookkeeping, absent from Caffe2 files and some
    # exports: fill them with zeros (recorded), never other missing keys.
    filled = [k for k in model.state_dict() if k.endswith("num_batches_tracked") and k not in mapped]
    for k in filled:
        mapped[k] = torch.zeros((), dtype=torch.long)
    if filled:
        info["filled_num_batches_tracked"] = len(filled)
    try:
        load_into(model, mapped, f"{src} ({source} -> {spec.name})")
    except CheckpointError as e:
        raise ConversionError(str(e)) from None
    info.update(source=source, arch=spec.name, num_classes=n, model_kwargs=kwargs,
                sha256=_sha256(Path(src) / info["weights_file"] if Path(src).is_dir() else Path(src)))
    return model.eval(), info


def source_preprocessing(source: str, arch: str) -> dict:
    """The preprocessing a converted checkpoint records before what its publisher states: the architecture's
    (:meth:`~vidlab.models.ModelSpec.preprocessing`), with the source's own normalisation constants where it
    has them (MMAction2: ImageNet's for the ResNets)."""
    spec = models.get_spec(arch)
    pre = spec.preprocessing()
    if source == "mmaction2":
        from vidlab.convert.mmaction2 import PREPROCESSING

        pre.update({k: list(v) for k, v in PREPROCESSING.get(spec.name, {}).items()})
    return pre


def with_target_fps(pre: dict) -> dict:
    """``pre`` with ``target_fps`` set to a stated ``fps`` (the rate the publisher sampled its clips at), unless
    it has one: classify, stream and eval then resample a video to that rate, as the source's test does."""
    if pre.get("fps") and not pre.get("target_fps"):
        pre = {**pre, "target_fps": pre["fps"]}
    return pre


def convert_checkpoint(source: str, arch: str, src, dst, *, labels: list[str] | None = None,
                       num_classes: int | None = None, preprocessing: dict | None = None,
                       meta: dict | None = None) -> tuple[Path, dict]:
    """Convert and write a vidlab checkpoint (safetensors + sidecar) at ``dst``.

    The sidecar's ``preprocessing`` is the architecture's (:meth:`~vidlab.models.ModelSpec.preprocessing`),
    with the source's normalisation where it has its own (MMAction2), updated with ``preprocessing``: what
    the published checkpoint states (``fps``, ``multi_label``, ...; its ``mean``/``std`` only where given).
    A stated ``fps`` (the rate the source's clips were sampled at) becomes ``target_fps`` unless one is given.
    ``meta``: further sidecar keys (the hub records ``hub_entry``), under the ones written here."""
    model, info = convert(source, arch, src, num_classes=num_classes)
    if labels is None and info.get("labels"):  # a Hugging Face folder's id2label
        labels = list(info["labels"])
    if labels is not None and len(labels) != info["num_classes"]:
        raise ConversionError(f"{len(labels)} labels given for a {info['num_classes']}-class classifier")
    spec = models.get_spec(arch)
    pre = with_target_fps({**source_preprocessing(source, arch), **(preprocessing or {})})
    doc = {**(meta or {}), "arch": spec.name, "num_classes": info["num_classes"], "labels": labels,
           "model_kwargs": info.get("model_kwargs", {}), "preprocessing": pre, "provenance": {"converted_from": info}}
    path = models.save(model, dst, **doc)
    return path, info


__all__ = ["convert", "convert_checkpoint", "source_preprocessing", "with_target_fps", "class_dependent_keys", "has_pyslowfast_layout", "infer_num_classes",
           "map_state", "shape_kwargs", "unmapped_error"]
