"""Hugging Face model folders through the hub: config.json + weights fetched from a loopback server
in the Hub's URL form (``<repo>/resolve/main/<file>``), converted once, labels from id2label."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from test_videomae import _clip, _hf_config, _hf_logits, _hf_model  # noqa: E402  (the HF VideoMAE builders)

from vidlab import hub, models  # noqa: E402
from vidlab.hub.table import HubEntry, HubError  # noqa: E402

ARCH = "videomae_vit_s_16x4"
REPO = "org/videomae-small-test"


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A ViT-S-sized VideoMAE classifier (the registered architecture) with 5 named classes, saved."""
    hf = _hf_model(_hf_config(hidden=384, layers=12, heads=6, labels=5))
    out = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(out)
    buf = io.BytesIO()
    torch.save(hf.state_dict(), buf)
    return hf, {p.name: p.read_bytes() for p in out.iterdir()}, buf.getvalue()


def _entry(server, **kw):
    values = dict(name=f"{ARCH}.hftest", arch=ARCH, tag="hftest", dataset="random weights (tests)", source="huggingface",
                  urls=(f"http://127.0.0.1:{server.port}/{REPO}",), file_format="huggingface", converter="huggingface",
                  num_classes=5, licence="test data", verified=False, notes="test",
                  files=(("config.json",), ("model.safetensors", "pytorch_model.bin")))
    values.update(kw)
    return HubEntry(**values)


def _serve(server, files):
    for name, data in files.items():
        server.files[f"{REPO}/resolve/main/{name}"] = data


def test_folder_download_converts_once_with_id2label(server, hub_home, register, hf_folder):
    hf, files, _ = hf_folder
    _serve(server, files)
    entry = register(_entry(server))
    path = hub.download(entry, progress=False)
    model = models.load(path)
    assert model.meta["labels"] == [f"class_{i}" for i in range(5)]
    clip = _clip()
    with torch.no_grad():
        torch.testing.assert_close(model(clip), _hf_logits(hf, clip), rtol=1e-4, atol=1e-5)
    got = sorted(r.path for r in server.gets())
    assert got == [f"/{REPO}/resolve/main/config.json", f"/{REPO}/resolve/main/model.safetensors"]
    folder = hub_home / "hub" / "downloads" / "videomae-small-test"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["config.json",
                                                                                     "model.safetensors"]
    records = hub.read_records()
    assert len(records["videomae-small-test/model.safetensors"]["sha256"]) == 64
    before = len(server.requests)
    assert models.build(ARCH, weights="hftest").meta["labels"] == model.meta["labels"]  # from the cache
    assert len(server.requests) == before


def test_bin_when_the_safetensors_file_is_not_published(server, hub_home, register, hf_folder):
    hf, files, bin_bytes = hf_folder
    _serve(server, {"config.json": files["config.json"], "pytorch_model.bin": bin_bytes})
    entry = register(_entry(server))
    model = models.load(hub.download(entry, progress=False))
    clip = _clip()
    with torch.no_grad():
        torch.testing.assert_close(model(clip), _hf_logits(hf, clip), rtol=1e-4, atol=1e-5)
    assert [r.path.rsplit("/", 1)[-1] for r in server.gets()] == ["config.json", "model.safetensors",
                                                                  "pytorch_model.bin"]


def test_mirror_folder_and_offline_line(server, hub_home, register, hf_folder, tmp_path, monkeypatch):
    _, files, _ = hf_folder
    entry = register(_entry(server))
    with pytest.raises(HubError) as e:  # nothing served: one sentence naming the files and where to put them
        hub.download(entry, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "config.json" in msg and "VIDLAB_HUB_MIRROR" in msg and "--to DIR" in msg
    mirror = tmp_path / "mirror" / "videomae-small-test"
    mirror.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (mirror / name).write_bytes(files[name])
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(tmp_path / "mirror"))
    n = len(server.requests)
    model = models.load(hub.download(entry, progress=False))
    assert model.num_classes == 5 and len(server.requests) == n  # the mirror, not the network


def test_hub_download_to_writes_what_a_mirror_needs(server, hub_home, register, hf_folder, tmp_path):
    _, files, _ = hf_folder
    _serve(server, files)
    entry = register(_entry(server))
    out = hub.download(entry, to=tmp_path / "m", progress=False)
    assert out == tmp_path / "m" / "videomae-small-test"
    assert (out / "config.json").read_bytes() == files["config.json"]
    assert (out / "model.safetensors").read_bytes() == files["model.safetensors"]
