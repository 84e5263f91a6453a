import json
import pickle

import pytest
import torch

from vidlab import models
from vidlab.models.checkpoint import CheckpointError, checkpoint_paths


def _model():
    torch.manual_seed(0)
    return models.build("c2d_r10_tiny", num_classes=4, dropout=0.0)


def test_round_trip_same_outputs_and_sidecar(tmp_path):
    m = _model().eval()
    path = models.save(m, tmp_path / "ck", labels=["a", "b", "c", "d"], model_kwargs={"dropout": 0.0},
                       preprocessing={"num_frames": 8})
    assert path == tmp_path / "ck.safetensors"
    side = json.loads((tmp_path / "ck.json").read_text())
    assert side["arch"] == "c2d_r10_tiny" and side["num_classes"] == 4 and side["labels"] == ["a", "b", "c", "d"]
    assert side["format"] == "vidlab-checkpoint" and len(side["sha256"]) == 64
    for p in (tmp_path / "ck", tmp_path / "ck.safetensors", tmp_path / "ck.json"):
        loaded = models.load(p)
        assert not loaded.training and loaded.meta["labels"][1] == "b"
        x = torch.randn(1, 3, 8, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), m(x), rtol=0, atol=0)
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]


def test_missing_and_incomplete_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        models.load(tmp_path / "nothing.safetensors")
    models.save(_model(), tmp_path / "ck")
    (tmp_path / "ck.json").unlink()
    with pytest.raises(CheckpointError, match="no sidecar"):
        models.load(tmp_path / "ck.safetensors")


def test_corrupt_weights_are_refused(tmp_path):
    models.save(_model(), tmp_path / "ck")
    (tmp_path / "ck.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        models.load(tmp_path / "ck")


def test_mismatched_keys_are_named(tmp_path):
    m = _model()
    models.save(m, tmp_path / "ck")
    side = json.loads((tmp_path / "ck.json").read_text())
    side["num_classes"] = 5
    (tmp_path / "ck.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=r"shape mismatch \[head.projection.weight"):
        models.load(tmp_path / "ck")
    side["arch"] = "i3d_r10_tiny"
    side["num_classes"] = 4
    (tmp_path / "ck.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        models.load(tmp_path / "ck")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_need_weights_only(tmp_path):
    good = tmp_path / "good.pyth"
    torch.save({"model_state": _model().state_dict(), "epoch": 3}, good)
    state = models.load_state_dict(good)
    assert "head.projection.weight" in state
    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        pickle.dump({"model_state": Evil()}, f)
    with pytest.raises(CheckpointError, match="never unpickles arbitrary"):
        models.load_state_dict(bad)


def test_paths():
    assert checkpoint_paths("a/b.safetensors") == checkpoint_paths("a/b") == checkpoint_paths("a/b.json")
