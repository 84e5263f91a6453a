"""Reading foreign checkpoint files into plain ``{name: tensor}`` dicts.

* PySlowFast ``.pyth`` (and any torch pickle: ``.pth``, ``.pt``, ``.ckpt``):
  ``torch.load(weights_only=True)``; the state dict is unwrapped from
  ``model_state`` (PySlowFast), ``state_dict`` (MMAction2, Lightning) or
  ``model``; a DDP ``module.`` prefix is removed.
* Caffe2 ``.pkl`` (the PySlowFast/Detectron model zoo's original files): a
  plain Python pickle of ``{"blobs": {name: numpy array}}``. It is read with a
  restricted unpickler that only rebuilds numpy arrays and builtin containers,
  the same guarantee as ``weights_only=True``; anything else is refused. A
  ``.pkl`` that holds a torch file instead (a zip archive, or the pre-1.6 format
  that opens with torch's magic number) is read as one: PySlowFast publishes
  some PyTorch checkpoints under ``.pkl`` names (its SSv2 / Charades / multigrid
  SlowFasts, which its configs load with the default ``TEST.CHECKPOINT_TYPE:
  pytorch``; a plain ``pickle.load`` of such a file returns only that number).
* ``.safetensors``.
* A Hugging Face model folder (``config.json`` + ``model.safetensors``, or
  ``pytorch_model.bin`` read with ``weights_only=True``; sharded checkpoints
  through their ``*.index.json``): the tensors, and in ``info`` the parsed
  ``config.json`` (``hf_config``) and the class names from its ``id2label``
  (``labels``, in index order), which ``convert_checkpoint`` stores unless
  labels are given.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from vidlab.convert.registry import ConversionError

# Caffe2 blobs that are optimiser or bookkeeping state, not model weights.
CAFFE2_NON_MODEL_SUFFIXES = ("_momentum", "_m", "_v")
CAFFE2_NON_MODEL_NAMES = {"lr", "model_iter", "lr_x", "weight_order"}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles store bytes (array data)
    ("__builtin__", "set"),
    ("builtins", "set"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy") and name in ("_reconstruct", "scalar"):
            return getattr(_multiarray(), name)
        return super().find_class(module.replace("__builtin__", "builtins"), name)


#: how torch.save's pre-1.6 format opens: pickle protocol 2, then a 10-byte int, torch's magic number
_TORCH_LEGACY_HEAD = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def is_torch_file(path: str | os.PathLike) -> bool:
    """True for a file torch.save wrote (a zip archive, or the legacy format), whatever its suffix."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return f.read(len(_TORCH_LEGACY_HEAD)) == _TORCH_LEGACY_HEAD


def read_caffe2_pickle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``blobs`` of a Caffe2 ``.pkl`` checkpoint, read without arbitrary unpickling."""
    data = Path(path).read_bytes()
    try:
        obj = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ConversionError(f"{path}: not a Caffe2 blob pickle, or it holds more than arrays ({e})") from None
    blobs = obj.get("blobs", obj) if isinstance(obj, dict) else None
    if not isinstance(blobs, dict):
        raise ConversionError(f"{path}: no 'blobs' dict inside")
    return blobs


def caffe2_model_blobs(blobs: dict) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Split blobs into model tensors and the optimiser/bookkeeping names skipped."""
    tensors, skipped = {}, []
    for name, value in blobs.items():
        if name in CAFFE2_NON_MODEL_NAMES or name.endswith(CAFFE2_NON_MODEL_SUFFIXES):
            skipped.append(name)
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiub":
            raise ConversionError(f"blob {name} has dtype {arr.dtype}, not numbers")
        tensors[name] = torch.from_numpy(np.ascontiguousarray(arr))
    return tensors, skipped


def _multiarray() -> ModuleType:
    """numpy's ``multiarray`` module (``numpy._core`` since numpy 2, ``numpy.core`` before)."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # pragma: no cover - numpy 1.x
        return importlib.import_module("numpy.core.multiarray")


def _numpy_globals() -> list:
    ma = _multiarray()
    dtypes = {type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG"}
    return [ma._reconstruct, ma.scalar, np.ndarray, np.dtype, *dtypes]


HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json")


def hf_labels(config: dict) -> list[str] | None:
    """Class names from a Hugging Face ``config.json``'s ``id2label`` (keys are indices, as strings),
    in index order; ``None`` when absent or only the library's placeholders ``LABEL_0``, ``LABEL_1``..."""
    raw = config.get("id2label")
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        pairs = sorted((int(k), str(v)) for k, v in raw.items())
    except (TypeError, ValueError):
        raise ConversionError(f"config.json: id2label keys must be integers, got {list(raw)[:3]}") from None
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise ConversionError(f"config.json: id2label indices are not 0..{len(pairs) - 1}")
    names = [v for _, v in pairs]
    return None if names == [f"LABEL_{i}" for i in range(len(names))] else names


def read_hf_folder(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, info)`` from a Hugging Face model folder (see the module docstring)."""
    import json

    p = Path(folder)
    try:
        config = json.loads((p / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ConversionError(f"{p / 'config.json'}: unreadable ({e})") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{p / 'config.json'}: not a JSON object")
    found = next((p / n for n in HF_WEIGHT_FILES if (p / n).is_file()), None)
    if found is None:
        raise ConversionError(f"{p}: no weights (expected one of {', '.join(HF_WEIGHT_FILES)})")
    if found.name.endswith(".index.json"):
        try:
            shards = sorted(set(json.loads(found.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConversionError(f"{found}: not a shard index ({e})") from None
        tensors: dict[str, torch.Tensor] = {}
        for shard in shards:
            if Path(shard).name != shard:
                raise ConversionError(f"{found}: shard name {shard!r} is not a file in the folder")
            tensors.update(read_checkpoint(p / shard)[0])
    else:
        tensors = read_checkpoint(found)[0]
    info = {"file": str(p), "format": "huggingface", "weights_file": found.name, "hf_config": config,
            "hf_architectures": config.get("architectures"), "labels": hf_labels(config)}
    return tensors, info


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, info)`` from any supported file; ``info`` says what was unwrapped or skipped."""
    p = Path(path)
    if not p.exists():
        raise ConversionError(f"{p}: file not found")
    if p.is_dir():
        if (p / "config.json").is_file():
            return read_hf_folder(p)
        raise ConversionError(f"{p}: is a directory (a Hugging Face model folder needs a config.json)")
    info: dict = {"file": str(p), "format": None}
    if p.suffix == ".pkl" and not is_torch_file(p):
        blobs = read_caffe2_pickle(p)
        tensors, skipped = caffe2_model_blobs(blobs)
        info.update(format="caffe2-pkl", skipped=sorted(skipped))
        return tensors, info
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p)), {**info, "format": "safetensors"}
        except (SafetensorError, OSError, ValueError) as e:
            raise ConversionError(f"{p}: corrupt safetensors file ({e})") from None
    try:
        # numpy scalars/arrays may sit in a checkpoint's metadata (older MMAction2
        # "meta"): allow rebuilding them, nothing else beyond weights_only's set
        with torch.serialization.safe_globals(_numpy_globals()):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ConversionError(
            f"{p}: refused or unreadable: vidlab reads torch pickles with weights_only=True and never "
            f"unpickles arbitrary objects ({first})"
        ) from None
    info["format"] = "torch-pickle"
    for key in ("model_state", "state_dict", "model", "module"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            info["unwrapped"] = key
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ConversionError(f"{p}: holds a {type(obj).__name__}, not a state dict")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    others = sorted(k for k in obj if k not in tensors)
    if others:
        raise ConversionError(f"{p}: entries that are not tensors: {others[:5]}")
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
        info["stripped_prefix"] = "module."
    return tensors, info
