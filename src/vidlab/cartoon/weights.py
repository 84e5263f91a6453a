"""Finding and loading the published CartoonGAN weights (``<Style>_net_G_float.pth``).

The four styles (Hayao, Hosoda, Paprika, Shinkai) were released by the CartoonGAN authors as
Torch models and converted to PyTorch state dicts by the CartoonGAN-Test-Pytorch-Torch port
(``pretrained_model/download_pth.sh``). vidlab never downloads them: the port's original links
are dead, so a user points vidlab at their own copy:

- ``--weights FILE`` (``.pth``/``.pt`` state dict, or ``.safetensors`` with the same keys), or
- ``--weights DIR`` / ``$VIDLAB_CARTOON_WEIGHTS`` / ``~/.cache/vidlab/cartoongan``: a folder
  holding ``<Style>_net_G_float.pth`` (the port's file names; ``hayao.pth`` and the fork's
  ``cartoongan-hayao.pth`` work too).

Pickles are read with ``torch.load(weights_only=True)``; the state dict must match the
generator exactly (94 keys, the port's names and shapes), otherwise the error names the keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from vidlab.cartoon.generator import CartoonGenerator
from vidlab.errors import VidlabError

__all__ = [
    "STYLES",
    "WeightsError",
    "default_weights_dirs",
    "find_weights",
    "load_generator",
    "load_state_dict",
    "weights_help",
]

#: The published styles, in the port's spelling (file names are ``<Style>_net_G_float.pth``).
STYLES = ("Hayao", "Hosoda", "Paprika", "Shinkai")
ENV_VAR = "VIDLAB_CARTOON_WEIGHTS"
ORIGINAL_URL = "http://vllab1.ucmerced.edu/~yli62/CartoonGAN/pytorch_pth/{style}_net_G_float.pth"
#: A maintained fork re-publishes the same state dicts as ``cartoongan-<style>.pth`` (its README lists
#: their SHA-256), e.g. .../releases/latest/download/cartoongan-hayao.pth.
MIRROR = "https://github.com/clibdev/CartoonGAN-Test-Pytorch-Torch/releases/latest/download/cartoongan-{style}.pth"


class WeightsError(VidlabError):
    """Weights are missing, unreadable or not a CartoonGAN generator."""


def canonical_style(style: str) -> str:
    for s in STYLES:
        if s.lower() == style.lower():
            return s
    raise WeightsError(f"unknown style {style!r}; choose one of {', '.join(STYLES)} (or classic)")


def default_weights_dirs() -> list[Path]:
    """Folders searched when no ``--weights`` is given: ``$VIDLAB_CARTOON_WEIGHTS``, then the cache."""
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path("~/.cache/vidlab/cartoongan").expanduser())
    return dirs


def weights_help(style: str) -> str:
    """Where the ``style`` weights are published and how to give them to vidlab (one line)."""
    return (f"{style} needs the converted CartoonGAN weights {style}_net_G_float.pth, published by the "
            f"CartoonGAN-Test-Pytorch-Torch port (pretrained_model/download_pth.sh; its original links "
            f"{ORIGINAL_URL.format(style=style)} are dead; a fork re-publishes them as "
            f"{MIRROR.format(style=style.lower())}); "
            f"pass --weights FILE_OR_DIR, or put the file in ${ENV_VAR} or ~/.cache/vidlab/cartoongan; "
            f"--style classic needs no weights")


def _candidates(folder: Path, style: str) -> list[Path]:
    names = [f"{style}_net_G_float.pth", f"{style.lower()}_net_G_float.pth", f"{style}.pth",
             f"{style.lower()}.pth", f"cartoongan-{style.lower()}.pth", f"{style}_net_G_float.safetensors",
             f"{style.lower()}.safetensors"]
    return [folder / n for n in names]


def find_weights(style: str, weights: os.PathLike | str | None = None) -> Path:
    """The weights file for ``style``: ``weights`` itself if it is a file, else searched in the
    folder ``weights`` (or the default folders). Raises :class:`WeightsError` with
    :func:`weights_help` when nothing is found."""
    style = canonical_style(style)
    if weights is not None:
        p = Path(weights).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            for c in _candidates(p, style):
                if c.is_file():
                    return c
            raise WeightsError(f"no {style}_net_G_float.pth in {p}. {weights_help(style)}")
        raise WeightsError(f"{p}: no such file or folder. {weights_help(style)}")
    for d in default_weights_dirs():
        for c in _candidates(d, style):
            if c.is_file():
                return c
    raise WeightsError(f"no weights given for style {style}. {weights_help(style)}")


def load_state_dict(path: os.PathLike | str) -> dict[str, Tensor]:
    """Read a state dict: ``torch.load(weights_only=True)`` for pickles, safetensors otherwise.

    A ``{"state_dict": ...}`` / ``{"model": ...}`` wrapper and a ``module.`` prefix (from
    ``DataParallel``) are accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if path.suffix == ".t7":
        raise WeightsError(f"{path}: a Torch7 (.t7) model; use the port's converted PyTorch file "
                           f"<Style>_net_G_float.pth instead")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (unpickling refused, truncated or not a weights file at all)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"{path}: not a readable weights file ({msg[:200]})") from None
    if isinstance(obj, dict):
        for k in ("state_dict", "model", "net_G", "generator"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: not a state dict (got {type(obj).__name__})")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _check_keys(state: dict[str, Tensor], path: object) -> None:
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in CartoonGenerator().state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} != {expected[k]}" for k in expected
              if k in state and tuple(state[k].shape) != expected[k]]

    def few(xs: list[str]) -> str:
        return ", ".join(xs[:4]) + (f" and {len(xs) - 4} more" if len(xs) > 4 else "")

    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({few(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} mis-shaped ({few(shapes)})")
        raise WeightsError(f"{path}: not a CartoonGAN generator state dict: " + "; ".join(parts))


def load_generator(style: str = "Hayao", weights: os.PathLike | str | None = None,
                   state_dict: dict[str, Tensor] | None = None) -> CartoonGenerator:
    """A :class:`CartoonGenerator` in eval mode with the ``style`` weights (see :func:`find_weights`),
    or with ``state_dict`` when given. Strict: every key, no extra, same shapes."""
    if state_dict is None:
        path = find_weights(style, weights)
        state_dict = load_state_dict(path)
    else:
        path = "state_dict"
    _check_keys(state_dict, path)
    model = CartoonGenerator()
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return model.eval().requires_grad_(False)
