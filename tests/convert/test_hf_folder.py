"""Reading Hugging Face model folders: config.json + weights (single file or sharded), labels from id2label."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from vidlab.convert.registry import ConversionError
from vidlab.convert.sources import hf_labels, read_checkpoint


def _folder(tmp_path, config, tensors, name="model.safetensors"):
    (tmp_path / "config.json").write_text(json.dumps(config))
    if name.endswith(".safetensors"):
        save_file(tensors, str(tmp_path / name))
    else:
        torch.save(tensors, tmp_path / name)
    return tmp_path


def test_safetensors_folder_and_labels_in_index_order(tmp_path):
    t = {"a.weight": torch.arange(6.0).reshape(2, 3)}
    folder = _folder(tmp_path, {"id2label": {"1": "b", "0": "a", "2": "c"}, "architectures": ["X"]}, t)
    tensors, info = read_checkpoint(folder)
    assert torch.equal(tensors["a.weight"], t["a.weight"])
    assert info["format"] == "huggingface" and info["weights_file"] == "model.safetensors"
    assert info["labels"] == ["a", "b", "c"] and info["hf_architectures"] == ["X"]


def test_bin_folder_read_with_weights_only(tmp_path):
    folder = _folder(tmp_path, {}, {"w": torch.ones(2)}, name="pytorch_model.bin")
    tensors, info = read_checkpoint(folder)
    assert torch.equal(tensors["w"], torch.ones(2)) and info["labels"] is None


def test_sharded_folder(tmp_path):
    save_file({"x": torch.zeros(1)}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({"y": torch.ones(1)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}))
    (tmp_path / "config.json").write_text("{}")
    tensors, _ = read_checkpoint(tmp_path)
    assert set(tensors) == {"x", "y"}


def test_placeholder_labels_are_not_labels():
    assert hf_labels({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}) is None
    with pytest.raises(ConversionError, match="not 0..1"):
        hf_labels({"id2label": {"0": "a", "2": "b"}})


@pytest.mark.parametrize("case, match", [
    ("no_config", "needs a config.json"),
    ("no_weights", "no weights"),
    ("bad_json", "unreadable"),
])
def test_bad_folders_are_one_sentence(tmp_path, case, match):
    if case == "no_weights":
        (tmp_path / "config.json").write_text("{}")
    if case == "bad_json":
        (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConversionError, match=match):
        read_checkpoint(tmp_path)
