"""PySlowFast checkpoints through `vidlab convert`: golden fixtures, Caffe2 blobs, refusals."""

import json
import os
import pickle

import numpy as np
import pytest
import torch

from tests_paths import FIXTURES
from vidlab import models
from vidlab.apps.cli import main
from vidlab.convert import ConversionError
from vidlab.convert.core import convert

# Every classification folder shipped in ../shared/fixtures/pyslowfast (the
# detection fixture belongs to the AVA head). Folder names are vidlab arch
# names or aliases, so each one is converted with `--arch <folder>`.
CLASSIFICATION_FIXTURES = sorted(
    p.name for p in (FIXTURES / "pyslowfast").glob("*")
    if (p / "meta.json").exists() and json.loads((p / "meta.json").read_text()).get("head_act") == "softmax"
) or ["c2d_r50_8x8"]  # without ../shared: one case, which then skips with the reason


def _fixture_inputs(meta):
    shapes = meta["input_shapes"]
    first = torch.randn(tuple(shapes[-1]), generator=torch.Generator().manual_seed(0))
    if len(shapes) == 1:
        return [first]
    t_fast, t_slow = shapes[1][2], shapes[0][2]
    return [first.index_select(2, torch.linspace(0, t_fast - 1, t_slow).long()), first]


def _run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("folder", CLASSIFICATION_FIXTURES)
def test_pyth_through_vidlab_convert_reproduces_pyslowfast(fixtures_dir, weight_rule, folder, tmp_path, capsys):
    path = fixtures_dir / "pyslowfast" / folder
    keys = [line.split("\t") for line in (path / "keys.tsv").read_text().splitlines()[1:]]
    state = {k: weight_rule(k, tuple(json.loads(shape))) for k, shape, _ in keys}
    pyth = tmp_path / f"{folder}.pyth"
    torch.save({"model_state": state, "cur_epoch": 196}, pyth)  # PySlowFast's checkpoint layout
    meta = json.loads((path / "meta.json").read_text())
    # MViT's position tables depend on the crop the fixture was built at (DATA.TRAIN_CROP_SIZE)
    kw = {"crop_size": meta["config_overrides"]["DATA.TRAIN_CROP_SIZE"]} if meta.get("arch") == "mvit" else {}
    with torch.device("meta"):
        own = models.build(folder, num_classes=400, **kw).state_dict()
    assert [(k, list(v.shape), str(v.dtype)) for k, v in own.items()] == [
        (k, json.loads(shape), dtype) for k, shape, dtype in keys
    ]  # PySlowFast's keys, shapes, dtypes and order
    code, out, err = _run(["convert", "--from", "pyslowfast", "--arch", folder, str(pyth), str(tmp_path / "ck"),
                           "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["unwrapped"] == "model_state"
    model = models.load(tmp_path / "ck")
    # recorded by the converter, read off the tables (MViT: the crop and the clip length)
    assert model.meta["model_kwargs"] == ({**kw, "num_frames": meta["input_shapes"][0][2]} if kw else {})
    ref = torch.load(path / "logits.pt", weights_only=True)["projection"].reshape(1, -1)
    with torch.no_grad():
        got = model(_fixture_inputs(meta))
    tol = 1e-4 * max(1.0, ref.abs().max().item())
    assert (got - ref).abs().max().item() <= tol


def _caffe2_name(key: str) -> str:
    """Inverse of PySlowFast's Caffe2 naming, for single-pathway ResNets (test helper)."""
    bn = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    parts = key.split(".")
    if key.startswith("head.projection."):
        return "pred_" + parts[-1][0]
    if key.startswith("s1.pathway0_stem.conv."):
        return "conv1_w"
    if key.startswith("s1.pathway0_stem.bn."):
        return "res_conv1_bn_" + bn[parts[-1]]
    stage, block = parts[0][1:], parts[1].split("res")[1]
    if parts[2] == "branch1":
        return f"res{stage}_{block}_branch1_w"
    if parts[2] == "branch1_bn":
        return f"res{stage}_{block}_branch1_bn_{bn[parts[-1]]}"
    layer = parts[3]
    if layer.endswith("_bn"):
        return f"res{stage}_{block}_branch2{layer[0]}_bn_{bn[parts[-1]]}"
    return f"res{stage}_{block}_branch2{layer}_w"


def test_caffe2_pkl_blobs(fixtures_dir, weight_rule, tmp_path):
    path = fixtures_dir / "pyslowfast" / "c2d_r50_8x8"
    keys = [line.split("\t") for line in (path / "keys.tsv").read_text().splitlines()[1:]]
    blobs = {}
    for k, shape, _ in keys:
        if k.endswith("num_batches_tracked"):
            continue  # Caffe2 has no such blob
        blobs[_caffe2_name(k)] = weight_rule(k, tuple(json.loads(shape))).numpy()
        if k.endswith(".weight") and not k.endswith("bn.weight"):
            blobs[_caffe2_name(k) + "_momentum"] = np.zeros(1, np.float32)
    blobs["lr"] = np.array([0.1], np.float32)
    blobs["model_iter"] = np.array([1000], np.int64)
    pkl = tmp_path / "C2D.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    model, info = convert("pyslowfast", "c2d_r50", pkl)
    assert info["format"] == "caffe2-pkl" and "lr" in info["skipped"] and info["filled_num_batches_tracked"] > 0
    ref = torch.load(path / "logits.pt", weights_only=True)["projection"].reshape(1, -1)
    x = torch.randn((1, 3, 8, 64, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_pkl_holding_a_torch_checkpoint_is_read_as_one(fixtures_dir, weight_rule, tmp_path, zipped):
    # PySlowFast's SSv2 / Charades zoo files are PyTorch checkpoints under .pkl names; a pickle.load of the
    # pre-1.6 format gives only torch's magic number, the zip format is no pickle at all
    path = fixtures_dir / "pyslowfast" / "c2d_r50_8x8"
    keys = [line.split("\t") for line in (path / "keys.tsv").read_text().splitlines()[1:]]
    state = {k: weight_rule(k, tuple(json.loads(shape))) for k, shape, _ in keys}
    pkl = tmp_path / "SLOWFAST_16x8_R50.pkl"
    torch.save({"model_state": state, "cur_epoch": 22}, pkl, _use_new_zipfile_serialization=zipped)
    model, info = convert("pyslowfast", "c2d_r50", pkl)
    assert (info["format"], info["unwrapped"]) == ("torch-pickle", "model_state")
    ref = torch.load(path / "logits.pt", weights_only=True)["projection"].reshape(1, -1)
    x = torch.randn((1, 3, 8, 64, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-4)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_torch_pkl_with_objects_is_refused(tmp_path):
    bad = tmp_path / "evil.pkl"
    torch.save({"model_state": {"a": Evil()}}, bad, _use_new_zipfile_serialization=False)
    with pytest.raises(ConversionError, match="refused"):
        convert("pyslowfast", "c2d_r50", bad)


@pytest.mark.parametrize("suffix", [".pkl", ".pyth"])
def test_pickles_with_objects_are_refused(tmp_path, suffix):
    bad = tmp_path / f"evil{suffix}"
    with open(bad, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": Evil()}, "model_state": {"a": Evil()}}, f)
    with pytest.raises(ConversionError, match="refus"):
        convert("pyslowfast", "c2d_r50", bad)


def test_wrong_architecture_is_one_line_naming_keys(tmp_path, capsys):
    torch.manual_seed(0)
    state = models.build("i3d_r50", num_classes=400).state_dict()
    torch.save({"model_state": state}, tmp_path / "i3d.pyth")
    code, out, err = _run(["convert", "--from", "pyslowfast", "--arch", "c2d_r50", str(tmp_path / "i3d.pyth"),
                           str(tmp_path / "x")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidlab: error:")
    assert "shape mismatch [s1.pathway0_stem.conv.weight (64, 3, 5, 7, 7) vs (64, 3, 1, 7, 7)" in lines[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_unknown_source_arch_and_missing_file(tmp_path, capsys):
    code, _, err = _run(["convert", "--from", "caffe", "--arch", "c2d_r50", "a.pyth", str(tmp_path / "x")], capsys)
    assert code == 2 and "unknown source" in err
    code, _, err = _run(["convert", "--from", "pyslowfast", "--arch", "nope", "a.pyth", str(tmp_path / "x")], capsys)
    assert code == 2 and "unknown model" in err
    code, _, err = _run(["convert", "--from", "pyslowfast", "--arch", "c2d_r50", str(tmp_path / "a.pyth"),
                         str(tmp_path / "x")], capsys)
    assert code == 2 and "file not found" in err


def test_missing_keys_are_named(tmp_path):
    state = models.build("c2d_r50", num_classes=10).state_dict()
    del state["s3.pathway0_res1.branch2.b.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ConversionError, match=r"missing keys \[s3.pathway0_res1.branch2.b.weight\]"):
        convert("pyslowfast", "c2d_r50", tmp_path / "partial.pth")
