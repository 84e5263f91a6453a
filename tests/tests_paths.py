"""Where the shared reference data lives, and what a test does when it is missing
(importable from test modules and conftest files: tests/ is on sys.path)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared"))
REAL = SHARED / "data" / "real"
FIXTURES = SHARED / "fixtures"

#: ``VIDLAB_REQUIRE_SHARED=1`` (set by .ci/run): missing reference data fails the test instead of skipping it.
REQUIRE_SHARED_ENV = "VIDLAB_REQUIRE_SHARED"


def shared_required() -> bool:
    return os.environ.get(REQUIRE_SHARED_ENV) == "1"


def need_shared(path: Path) -> Path:
    """``path`` if it exists; else skip the test with the reason, or fail it under ``VIDLAB_REQUIRE_SHARED=1``."""
    path = Path(path)
    if not path.exists():
        reason = f"reference data not available: {path} (the ../shared folder beside the repo)"
        if shared_required():
            pytest.fail(f"{REQUIRE_SHARED_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def shared_available(path: Path) -> bool:
    """Whether ``path`` exists, for tests that do a part only with the reference data;
    under ``VIDLAB_REQUIRE_SHARED=1`` a missing path fails the test."""
    if Path(path).exists():
        return True
    if shared_required():
        need_shared(path)  # fails
    return False
