"""Flow storage: the standard quantisation, jpg pairs, flow.npy, the sidecar."""

import numpy as np
import pytest

from vidlab.errors import DataError
from vidlab.flow import storage


def test_quantisation_is_the_denseflow_rule():
    f = np.array([-25.0, -20.0, -10.0, 0.0, 0.07, 10.0, 20.0, 30.0], np.float32)
    q = storage.quantize_flow(f, 20.0)
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, np.rint(255 * (np.clip(f, -20, 20) + 20) / 40).astype(np.uint8))
    assert q[0] == q[1] == 0 and q[-1] == q[-2] == 255  # clipped to +-bound
    back = storage.dequantize_flow(q, 20.0)
    inside = np.abs(f) <= 20
    assert np.abs(back[inside] - f[inside]).max() <= 20.0 / 255 + 1e-6  # half a level each side


def test_bound_changes_the_scale():
    f = np.linspace(-4, 4, 101, dtype=np.float32)
    for bound in (5.0, 20.0):
        err = np.abs(storage.dequantize_flow(storage.quantize_flow(f, bound), bound) - f).max()
        assert err <= bound / 255 + 1e-6
    with pytest.raises(ValueError):
        storage.quantize_flow(f, 0.0)


def test_jpg_pairs_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    # smooth fields: JPEG keeps them to within a grey level or two
    base = rng.uniform(-3, 3, (3, 2, 4, 4)).astype(np.float32)
    flows = np.kron(base, np.ones((1, 1, 8, 8), np.float32))
    n = storage.write_flow_jpg(tmp_path, flows)
    assert n == 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{c}_{i:05d}.jpg" for c in "xy" for i in (1, 2, 3)]
    back = storage.read_flow_jpg(tmp_path, [2, 0])
    assert back.shape == (2, 2, 32, 32) and back.dtype == np.float32
    assert np.abs(back - flows[[2, 0]]).max() < 3 * 40 / 255


def test_missing_flow_file_names_it(tmp_path):
    storage.write_flow_jpg(tmp_path, np.zeros((2, 2, 8, 8), np.float32))
    (tmp_path / "y_00002.jpg").unlink()
    with pytest.raises(DataError, match="y_00002.jpg: missing file"):
        storage.read_flow_jpg(tmp_path, [0, 1])


def test_npy_and_sidecar(tmp_path):
    flows = np.random.default_rng(1).normal(size=(4, 2, 6, 5)).astype(np.float32)
    storage.save_flow_npy(tmp_path / "flow.npy", flows)
    np.testing.assert_array_equal(storage.load_flow_npy(tmp_path / "flow.npy"), flows)
    with pytest.raises(ValueError):
        storage.save_flow_npy(tmp_path / "bad.npy", flows[:, :1])
    np.save(tmp_path / "bad.npy", flows[:, 0])
    with pytest.raises(DataError, match=r"\(T-1, 2, H, W\)"):
        storage.load_flow_npy(tmp_path / "bad.npy")
    assert storage.read_sidecar(tmp_path) is None
    storage.write_sidecar(tmp_path, {"bound": 20.0, "num_flows": 4})
    assert storage.read_sidecar(tmp_path) == {"bound": 20.0, "num_flows": 4, "complete": True}
    (tmp_path / "flow.json").write_text("{not json")
    with pytest.raises(DataError, match="malformed"):
        storage.read_sidecar(tmp_path)
