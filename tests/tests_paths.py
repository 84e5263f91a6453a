"""Where the shared reference data lives (importable from test modules)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared"))
REAL = SHARED / "data" / "real"
FIXTURES = SHARED / "fixtures"
