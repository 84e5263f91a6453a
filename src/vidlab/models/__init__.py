"""Model zoo: ``build(name, num_classes=...)``, ``list_models()``, ``load``/``save``.

Models are plain ``nn.Module``s built from plain arguments; building one
needs only torch. Every classifier answers one contract
(:mod:`vidlab.models.contract`: ``forward_features``, ``forward_head``,
``get_classifier``, ``reset_classifier``, ``num_classes``, ``feature_dim``).
"""

from vidlab.models import zoo  # noqa: F401  (imports every family: each registers its builders)
from vidlab.models.checkpoint import (
    CheckpointError,
    is_multi_label,
    load,
    load_state_dict,
    read_meta,
    register_loader,
    save,
)
from vidlab.models.contract import VideoClassifier
from vidlab.models.registry import (
    ModelSpec,
    build,
    example_inputs,
    get_spec,
    list_aliases,
    list_models,
    register,
    register_model,
)

__all__ = [
    "CheckpointError",
    "ModelSpec",
    "VideoClassifier",
    "build",
    "example_inputs",
    "get_spec",
    "is_multi_label",
    "list_aliases",
    "list_models",
    "load",
    "load_state_dict",
    "read_meta",
    "register",
    "register_loader",
    "register_model",
    "save",
]
