"""Published checkpoints as data, and a download cache that converts them once.

``vidlab.hub.list_entries()`` lists the table (:mod:`vidlab.hub.table`: URLs, checksums, label sets,
preprocessing, published accuracy, licence); ``get_entry("r3d_18")`` (an architecture's DEFAULT, its
first entry) or ``get_entry("r3d_18", "kinetics400")`` / ``get_entry("r3d_18.kinetics400")`` picks one;
``download(entry)`` fetches, checks and converts it once into ``$VIDLAB_HOME/hub`` (see
:mod:`vidlab.hub.download`), and ``load_checkpoint_path(arch, tag)`` gives the local vidlab checkpoint.

Importing this package registers the resolver behind ``vidlab.models.build(name, weights=TAG)``;
nothing here touches the network until a file is asked for and missing from the cache.
"""

from vidlab.hub.download import (
    ChecksumError,
    checkpoint_path,
    download,
    fetch_file,
    home,
    is_cached,
    load_checkpoint_path,
    read_records,
)
from vidlab.hub.table import (
    HubEntry,
    HubError,
    get_entry,
    label_names,
    list_entries,
    register_entry,
    remove_entry,
)
from vidlab.models.registry import set_weights_resolver


def _resolve_weights(arch: str, tag: str) -> str:
    return str(load_checkpoint_path(arch, tag))


set_weights_resolver(_resolve_weights)

__all__ = [
    "ChecksumError",
    "HubEntry",
    "HubError",
    "checkpoint_path",
    "download",
    "fetch_file",
    "get_entry",
    "home",
    "is_cached",
    "label_names",
    "list_entries",
    "load_checkpoint_path",
    "read_records",
    "register_entry",
    "remove_entry",
]
