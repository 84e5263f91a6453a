"""What every ``vidlab`` command prints, and where.

Results go to stdout (``--json``: one JSON document, see :func:`print_json`);
progress and notes go to stderr (:func:`log`); bad input is one
``vidlab: error: ...`` line on stderr (:func:`error`) and exit status
:data:`EXIT_BAD_INPUT`. ``vidlab.apps.cli`` and every ``cli_*`` module use
these, so the commands agree on the format.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["EXIT_BAD_INPUT", "error", "json_default", "log", "print_json"]

#: Exit status for bad input (a missing file, a wrong option value...).
EXIT_BAD_INPUT = 2


def error(msg: str) -> None:
    """One ``vidlab: error: MSG`` line on stderr."""
    print(f"vidlab: error: {msg}", file=sys.stderr, flush=True)


def log(msg: str) -> None:
    """A progress or information line on stderr (stdout stays machine-readable)."""
    print(msg, file=sys.stderr, flush=True)


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout; numpy/torch numbers and arrays and paths are converted."""
    sys.stdout.write(json.dumps(obj, indent=2, default=json_default) + "\n")
    sys.stdout.flush()


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars/arrays, tensors and paths."""
    import numpy as np
    import torch

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (np.ndarray, torch.Tensor)):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
