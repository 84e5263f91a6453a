"""DavideA/c3d-pytorch -> vidlab: the ``c3d.pickle`` port of the Caffe Sports-1M C3D.

The port's README links the weights at ``http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle``:
a state dict saved with ``torch.save`` (its ``predict.py`` loads it with ``load_state_dict(torch.load(...))``),
plain tensors only, so :func:`vidlab.convert.sources.read_checkpoint` reads it with
``weights_only=True`` like every torch pickle. Its 22 keys are ``weight`` and ``bias`` of ``conv1``,
``conv2``, ``conv3a``, ``conv3b``, ``conv4a``, ``conv4b``, ``conv5a``, ``conv5b``, ``fc6``, ``fc7`` and
``fc8`` (487 Sports-1M classes; a fine-tuned copy may have another fc8 size, which sets
``num_classes``).

vidlab's ``c3d`` (:mod:`vidlab.models.c3d`) uses the port's parameter names, so the mapping is the
identity: nothing renamed, no tensor changed. In particular conv1 is *not* flipped: the Caffe weights
expect BGR input, and vidlab's ``c3d`` flips its RGB input to BGR in front of conv1
(``bgr_weights=True``), so conv1's weights stay the port's channel for channel. (MMAction2's C3D, fed
RGB, is the one whose conv1 is flipped on import: :mod:`vidlab.convert.mmaction2`.)

The mapper accepts exactly the port's key set (all of them prefixed ``module.``, as a DataParallel
wrapper saves them, is accepted and the prefix stripped); any other set is refused with one
:class:`~vidlab.convert.ConversionError` naming the missing and the unexpected keys. Shapes are checked
by the strict load that follows.
"""

from __future__ import annotations

from vidlab.convert.registry import ConversionError, StateDict, register

SOURCE = "c3d-pytorch"
LAYERS = ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b", "fc6", "fc7", "fc8")
#: The keys of the port's state dict, in its order.
KEYS = tuple(f"{layer}.{p}" for layer in LAYERS for p in ("weight", "bias"))
_PREFIX = "module."


def _shown(keys: list[str]) -> str:
    return ", ".join(keys[:6]) + (f", ... +{len(keys) - 6} more" if len(keys) > 6 else "")


@register(SOURCE, "c3d")
def from_c3d_pytorch(state: StateDict, arch: str) -> StateDict:
    """The port's state dict as vidlab ``c3d`` keys (the same names; a ``module.`` prefix stripped)."""
    if state and all(k.startswith(_PREFIX) for k in state):
        state = {k[len(_PREFIX):]: v for k, v in state.items()}
    missing = [k for k in KEYS if k not in state]
    unexpected = sorted(k for k in state if k not in KEYS)
    if missing or unexpected:
        parts = [f"missing {len(missing)} [{_shown(missing)}]" if missing else "",
                 f"unexpected {len(unexpected)} [{_shown(unexpected)}]" if unexpected else ""]
        raise ConversionError(
            f"{SOURCE} -> {arch}: not the c3d.pickle key set (the {len(KEYS)} weights and biases of "
            f"{', '.join(LAYERS)}): {'; '.join(p for p in parts if p)}")
    return {k: state[k] for k in KEYS}


__all__ = ["KEYS", "LAYERS", "SOURCE", "from_c3d_pytorch"]
