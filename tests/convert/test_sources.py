import numpy as np
import pytest
import torch

from vidlab import models
from vidlab.convert import ConversionError
from vidlab.convert.core import convert, convert_checkpoint
from vidlab.convert.sources import read_checkpoint


def test_numpy_values_in_checkpoint_metadata_are_allowed(tmp_path):
    state = models.build("slow_r50_8x8", num_classes=5).state_dict()
    path = tmp_path / "mm.pth"
    torch.save({"meta": {"best_score": np.float64(0.73), "hist": np.arange(3)}, "state_dict": state}, path)
    tensors, info = read_checkpoint(path)
    assert info["unwrapped"] == "state_dict" and len(tensors) == len(state)


def test_ddp_prefix_is_stripped(tmp_path):
    state = {"module." + k: v for k, v in models.build("c2d_r10_tiny", num_classes=3).state_dict().items()}
    torch.save(state, tmp_path / "ddp.pt")
    model, info = convert("pyslowfast", "c2d_r10_tiny", tmp_path / "ddp.pt")
    assert info["stripped_prefix"] == "module." and info["num_classes"] == 3


def test_refusal_explains_a_different_network(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "i3d.pth")
    with pytest.raises(ConversionError, match="temporal stride 2"):
        convert("mmaction2", "i3d_r50", tmp_path / "i3d.pth")


def test_mmaction2_sidecar_keeps_mmaction2_normalisation(tmp_path):
    from vidlab.convert.mmaction2 import PREPROCESSING

    assert PREPROCESSING["slow_r50_8x8"]["mean"] == (0.485, 0.456, 0.406)
    state = models.build("c2d_r10_tiny", num_classes=2).state_dict()
    torch.save(state, tmp_path / "tiny.pth")
    path, _ = convert_checkpoint("pyslowfast", "c2d_r10_tiny", tmp_path / "tiny.pth", tmp_path / "out",
                                 labels=["a", "b"])
    meta = models.read_meta(path)
    assert meta["labels"] == ["a", "b"] and meta["provenance"]["converted_from"]["source"] == "pyslowfast"
    with pytest.raises(ConversionError, match="3 labels given for a 2-class"):
        convert_checkpoint("pyslowfast", "c2d_r10_tiny", tmp_path / "tiny.pth", tmp_path / "o2", labels=["a"] * 3)
