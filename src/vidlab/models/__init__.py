"""Model zoo: ``build(name, num_classes=...)``, ``list_models()``, ``load``/``save``.

Models are plain ``nn.Module``s built from plain arguments; building one
needs only torch.
"""

from vidlab.models import zoo as _zoo  # noqa: F401  (fills the registry)
from vidlab.models.checkpoint import (
    CheckpointError,
    load,
    load_state_dict,
    read_meta,
    save,
)
from vidlab.models.registry import (
    ModelSpec,
    build,
    get_spec,
    list_aliases,
    list_models,
    register,
)

__all__ = [
    "CheckpointError",
    "ModelSpec",
    "build",
    "get_spec",
    "list_aliases",
    "list_models",
    "load",
    "load_state_dict",
    "read_meta",
    "register",
    "save",
]
