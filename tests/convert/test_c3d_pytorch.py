"""c3d-pytorch -> vidlab: DavideA/c3d-pytorch's ``c3d.pickle`` (the PyTorch port of the Caffe Sports-1M C3D).

The file is a ``torch.save``d state dict with the port's keys (``conv1`` ... ``fc8``). Here a random one in
that layout is written as ``c3d.pickle``, converted through the CLI, and the converted model's logits are
compared with the port's own computation written out below from the state dict (``torch.nn.functional``,
the port's layers in its order), fed the way the Caffe weights were trained: BGR, 0-255, minus the Sports-1M
channel means. vidlab's model gets the same frames as RGB in [0, 1], normalised by its spec, and flips them
to BGR in front of conv1 itself.
"""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from helpers import run_cli
from vidlab import models
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.convert.c3d_pytorch import KEYS, LAYERS
from vidlab.convert.sources import read_checkpoint
from vidlab.hub import label_names

PREFIX = "vidlab: error: "
# the port's layer shapes (out, in) and the Sports-1M channel means in BGR order, 0-255 (vidlab.models.c3d)
CONVS = {"conv1": (64, 3), "conv2": (128, 64), "conv3a": (256, 128), "conv3b": (256, 256), "conv4a": (512, 256),
         "conv4b": (512, 512), "conv5a": (512, 512), "conv5b": (512, 512)}
FCS = {"fc6": (4096, 8192), "fc7": (4096, 4096), "fc8": (487, 4096)}
POOLED_AFTER = {"conv1": ((1, 2, 2), 0), "conv2": ((2, 2, 2), 0), "conv3b": ((2, 2, 2), 0), "conv4b": ((2, 2, 2), 0),
                "conv5b": ((2, 2, 2), (0, 1, 1))}
MEAN_BGR_255 = (90.25, 97.66, 101.41)


@pytest.fixture(scope="module")
def port_state() -> dict[str, torch.Tensor]:
    """A random state dict in the port's layout (fan-in scaled, so the 0-255 input gives sane activations)."""
    g = torch.Generator().manual_seed(487)
    state: dict[str, torch.Tensor] = {}
    for name, (c_out, c_in) in CONVS.items():
        state[f"{name}.weight"] = torch.randn(c_out, c_in, 3, 3, 3, generator=g) * (2 / (c_in * 27)) ** 0.5
        state[f"{name}.bias"] = torch.randn(c_out, generator=g) * 0.1
    for name, (n_out, n_in) in FCS.items():
        state[f"{name}.weight"] = torch.randn(n_out, n_in, generator=g) * (2 / n_in) ** 0.5
        state[f"{name}.bias"] = torch.randn(n_out, generator=g) * 0.1
    assert tuple(state) == KEYS
    return state


def port_logits(state: dict[str, torch.Tensor], bgr: torch.Tensor) -> torch.Tensor:
    """The port's forward (eval: dropout off), before its softmax, on a BGR 0-255 mean-subtracted clip."""
    h = bgr
    for name in CONVS:
        h = F.relu(F.conv3d(h, state[f"{name}.weight"], state[f"{name}.bias"], padding=1))
        if name in POOLED_AFTER:
            kernel, padding = POOLED_AFTER[name]
            h = F.max_pool3d(h, kernel, kernel, padding)
    h = h.reshape(-1, 8192)
    h = F.relu(F.linear(h, state["fc6.weight"], state["fc6.bias"]))
    h = F.relu(F.linear(h, state["fc7.weight"], state["fc7.bias"]))
    return F.linear(h, state["fc8.weight"], state["fc8.bias"])


@pytest.fixture(scope="module")
def clip_rgb() -> torch.Tensor:
    """Frames as vidlab reads them: RGB in [0, 1], (B, C, T, H, W) = (1, 3, 16, 112, 112); smooth enough to
    be image-like, with distinct channels so that a swapped channel order shows."""
    g = torch.Generator().manual_seed(16)
    base = torch.rand(1, 3, 16, 28, 28, generator=g)
    return F.interpolate(base, size=(16, 112, 112), mode="trilinear", align_corners=False).clamp(0, 1)


def _as_caffe_input(rgb01: torch.Tensor) -> torch.Tensor:
    """What the Caffe weights were trained on: OpenCV BGR frames in 0-255 minus the Sports-1M means."""
    bgr255 = 255 * rgb01[:, [2, 1, 0]]
    return bgr255 - torch.tensor(MEAN_BGR_255).view(1, 3, 1, 1, 1)


def _as_vidlab_input(rgb01: torch.Tensor, preprocessing: dict) -> torch.Tensor:
    mean = torch.tensor(preprocessing["mean"]).view(1, 3, 1, 1, 1)
    std = torch.tensor(preprocessing["std"]).view(1, 3, 1, 1, 1)
    return (rgb01 - mean) / std


def _convert(argv, capsys):
    code, out, err = run_cli(["convert", "--from", "c3d-pytorch", "--arch", "c3d", *argv], capsys)
    return code, out, err.strip().splitlines()


def test_registered():
    assert supported()["c3d-pytorch"] == ["c3d"]
    assert get_mapper("c3d-pytorch", "c3d_sports1m") is get_mapper("c3d-pytorch", "c3d")  # by alias
    with pytest.raises(ConversionError, match="c3d-pytorch converters exist for: c3d$"):
        get_mapper("c3d-pytorch", "r3d_18")


def test_the_cli_converts_c3d_pickle_to_the_ports_logits(port_state, clip_rgb, tmp_path, capsys):
    src = tmp_path / "c3d.pickle"
    torch.save(port_state, src)
    labels = tmp_path / "sports1m.txt"
    labels.write_text("\n".join(label_names("sports1m")) + "\n", encoding="utf-8")
    code, out, err = _convert([str(src), str(tmp_path / "out.safetensors"), "--labels", str(labels)], capsys)
    assert code == 0, err
    assert "c3d, 487 classes, from c3d-pytorch" in out
    model = models.load(tmp_path / "out.safetensors")
    assert model.meta["arch"] == "c3d" and model.meta["num_classes"] == 487
    assert model.meta["labels"] == label_names("sports1m")
    # 1:1: every tensor is the file's, unchanged (conv1 too: the model flips its input, not the weights)
    mine = model.state_dict()
    assert set(mine) == set(KEYS) and all(torch.equal(mine[k], port_state[k]) for k in KEYS)
    pre = model.meta["preprocessing"]
    caffe = _as_caffe_input(clip_rgb)
    with torch.no_grad():
        got = model(_as_vidlab_input(clip_rgb, pre))
        want = port_logits(port_state, caffe)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    # not vacuous: the clip's channels differ, so conv1 answers BGR and RGB (the port's predict.py) otherwise
    conv1 = {o: F.conv3d(x, port_state["conv1.weight"], port_state["conv1.bias"], padding=1)
             for o, x in (("bgr", caffe), ("rgb", caffe[:, [2, 1, 0]]))}
    assert (conv1["bgr"] - conv1["rgb"]).abs().mean() > 0.1 * conv1["bgr"].abs().mean()


def test_a_dataparallel_file_converts_too(port_state, tmp_path, capsys):
    src = tmp_path / "c3d.pickle"
    torch.save({f"module.{k}": v for k, v in port_state.items()}, src)
    code, out, err = _convert([str(src), str(tmp_path / "dp"), "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["stripped_prefix"] == "module." and info["arch"] == "c3d" and info["num_classes"] == 487
    mine = load_file(str(tmp_path / "dp.safetensors"))
    assert set(mine) == set(KEYS) and all(torch.equal(mine[k], port_state[k]) for k in KEYS)
    # the mapper itself strips the prefix as well (a state dict handed over without the reader)
    tiny = {f"module.{k}": torch.zeros(1) for k in KEYS}
    assert list(get_mapper("c3d-pytorch", "c3d")(tiny, "c3d")) == list(KEYS)


def _tiny(keys) -> dict[str, torch.Tensor]:  # the mapper looks at the key set before any shape
    return {k: torch.zeros(2) for k in keys}


@pytest.mark.parametrize("change, named", [
    (lambda s: s.pop("fc8.bias"), ["missing 1 [fc8.bias]"]),
    (lambda s: s.update({"fc9.weight": torch.zeros(1)}), ["unexpected 1 [fc9.weight]"]),
    (lambda s: (s.pop("conv3a.weight"), s.update({"conv3.weight": torch.zeros(1)})),
     ["missing 1 [conv3a.weight]", "unexpected 1 [conv3.weight]"]),
])
def test_another_key_set_is_refused_in_one_line_naming_the_keys(change, named, tmp_path, capsys):
    state = _tiny(KEYS)
    change(state)
    torch.save(state, tmp_path / "c3d.pickle")
    code, out, err = _convert([str(tmp_path / "c3d.pickle"), str(tmp_path / "x")], capsys)
    assert code == 2 and out == "" and len(err) == 1, err
    assert err[0].startswith(PREFIX + "c3d-pytorch -> c3d: not the c3d.pickle key set")
    assert all(n in err[0] for n in named), err[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_another_layout_is_refused_with_its_keys(capsys, tmp_path):
    # MMAction2's C3D names the same layers otherwise: nothing of it is taken
    mma = {f"backbone.{n}a.conv.{p}": torch.zeros(1) for n in ("conv1", "conv2") for p in ("weight", "bias")}
    with pytest.raises(ConversionError, match=r"missing 22 \[conv1\.weight.*\+16 more\]; unexpected 4 "
                                              r"\[backbone\.conv1a\.conv\.bias"):
        get_mapper("c3d-pytorch", "c3d")(mma, "c3d")
    with pytest.raises(ConversionError, match=f"the 22 weights and biases of {', '.join(LAYERS)}"):
        get_mapper("c3d-pytorch", "c3d")({}, "c3d")


def test_a_legacy_format_file_reads_with_weights_only(tmp_path):
    # a file saved by the PyTorch of 2017 (before the zip format) reads through the same weights_only path
    path = tmp_path / "c3d.pickle"
    torch.save(_tiny(KEYS), path, _use_new_zipfile_serialization=False)
    tensors, info = read_checkpoint(path)
    assert list(tensors) == list(KEYS) and info["format"] == "torch-pickle"


class _Payload:
    """Unpickling this runs code: ``os.mkdir(path)``."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_pickle_with_code_is_refused_and_nothing_runs(writer, tmp_path, capsys):
    marker = tmp_path / "ran"
    state: dict = {**_tiny(KEYS), "fc8.extra": _Payload(str(marker))}
    path = tmp_path / "c3d.pickle"
    if writer == "torch.save":
        torch.save(state, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(state, f, protocol=2)
    code, out, err = _convert([str(path), str(tmp_path / "x")], capsys)
    assert code == 2 and out == "" and len(err) == 1, err
    assert err[0].startswith(PREFIX) and "refused or unreadable" in err[0] and "weights_only=True" in err[0]
    assert not marker.exists() and not (tmp_path / "x.safetensors").exists()
