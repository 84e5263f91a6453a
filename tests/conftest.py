"""Shared test helpers: where ../shared is, and tiny synthetic data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# as the `vidlab` CLI does (apps/cli.py set_thread_wait_policy): libgomp's spinning threads make a
# loaded 2-core machine several times slower; the policy must be set before torch loads libgomp
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

# tests/ is on sys.path (see pyproject); need_shared skips, or fails under VIDLAB_REQUIRE_SHARED=1
from tests_paths import FIXTURES, REAL, SHARED, need_shared  # noqa: F401

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def real_dir() -> Path:
    return need_shared(REAL)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return need_shared(FIXTURES)


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A very small synthetic set (2 train / 1 val / 1 test clip per class, 32x32)."""
    from vidlab.data.synthetic import write_synthetic_dataset

    out = tmp_path_factory.mktemp("tiny_synth")
    write_synthetic_dataset(out, train_per_class=2, val_per_class=1, test_per_class=1, size=32, num_frames=16,
                            fps=16.0, seed=3, progress=False)
    return out


def fixture_tensor(key: str, shape, dtype=torch.float32):
    """The fixtures' weight rule (shared/fixtures/README.md): a tensor from the key and shape only."""
    import math
    import zlib

    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.long)
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=g)
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) == 1 and key.endswith("weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    if key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=g)
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
    return torch.randn(shape, generator=g) * math.sqrt(1.0 / fan_in)


@pytest.fixture(scope="session")
def weight_rule():
    return fixture_tensor
