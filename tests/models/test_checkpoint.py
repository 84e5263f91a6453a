import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

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
    (tmp_path / "ck.json").unlink()  # the weights describe themselves: the sidecar is a convenience copy
    assert models.load(tmp_path / "ck.safetensors").meta["arch"] == "c2d_r10_tiny"


def test_corrupt_weights_are_refused(tmp_path):
    models.save(_model(), tmp_path / "ck")
    garbage = b"\x00garbage" * 10
    (tmp_path / "ck.safetensors").write_bytes(garbage)
    with pytest.raises(CheckpointError, match="sha256 differs"):
        models.load(tmp_path / "ck")
    # a sidecar that vouches for the garbage: the safetensors reader refuses it
    side = json.loads((tmp_path / "ck.json").read_text())
    side["sha256"] = hashlib.sha256(garbage).hexdigest()
    (tmp_path / "ck.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match="corrupt"):
        models.load(tmp_path / "ck")


def test_a_changed_byte_is_one_error_naming_the_file(tmp_path):
    weights = models.save(_model(), tmp_path / "ck")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight: still valid safetensors
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        models.load(tmp_path / "ck")
    msg = str(err.value)
    assert str(weights) in msg and "sha256" in msg and "\n" not in msg
    with pytest.raises(CheckpointError, match="sha256 differs"):
        models.load_state_dict(weights)  # the raw state dict is checked too


def test_one_place_writes_sidecars():
    """Only vidlab.models.checkpoint spells out the sidecar's format fields."""
    import vidlab

    root = Path(vidlab.__file__).parent
    writers = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
               if p.name != "checkpoint.py" and ("FORMAT_VERSION" in p.read_text() or '"vidlab-checkpoint"' in p.read_text())]
    assert writers == []


def test_compressed_loader_is_registered_not_imported(tmp_path):
    """models/ never imports compress/: a pruned checkpoint finds its loader through the
    ``vidlab.checkpoint_loaders`` entry point, in a fresh process that never imported compress."""
    from vidlab.compress.ckpt import save_state

    m = _model().eval()
    save_state(m, tmp_path / "pruned", {"arch": "c2d_r10_tiny", "num_classes": 4, "model_kwargs": {"dropout": 0.0}},
               {"method": "prune", "sparsity": 0.0})
    code = (
        "import sys, torch\n"
        "from vidlab import models\n"
        "assert 'vidlab.compress' not in sys.modules\n"
        f"m = models.load({str(tmp_path / 'pruned')!r})\n"
        "assert 'vidlab.compress.ckpt' in sys.modules\n"
        "print(m.num_classes)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"
    side = json.loads((tmp_path / "pruned.json").read_text())
    side["compression"]["method"] = "sparsify-9000"
    (tmp_path / "pruned.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match="no installed package registers a loader"):
        models.load(tmp_path / "pruned")


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
