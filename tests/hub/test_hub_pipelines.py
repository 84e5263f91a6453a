"""The pipelines' own weights through the hub: the COCO person detector of `vidlab detect` and RAFT of
`vidlab flow --method raft --raft-weights download` are fetched once from a (loopback) hub, checked and cached;
offline, one line says what to do."""

from __future__ import annotations

import io

import pytest
import torch

from vidlab import hub


def _serve(server, register, name, state, file):
    buf = io.BytesIO()
    torch.save(state, buf)
    server.files[file] = buf.getvalue()
    published = hub.get_entry(name)
    # the published entry, at the loopback URL, without the hash prefix (these weights are random)
    fields = {**published.__dict__, "urls": (server.url(file),), "sha256_prefix": None}
    return register(type(published)(**fields))


def test_the_person_detector_comes_from_the_hub_once(server, register, hub_home, tmp_path, monkeypatch):
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    from vidlab.detect.person import HUB_ENTRY, PersonDetector

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))  # not in torchvision's cache
    torch.manual_seed(1)
    state = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    _serve(server, register, HUB_ENTRY, state, "fasterrcnn_test.pth")
    det = PersonDetector()
    assert det.weights.startswith(str(hub_home)) and len(server.gets("fasterrcnn_test.pth")) == 1
    got = det.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    PersonDetector()  # the cache's checked copy: no second request
    assert len(server.gets("fasterrcnn_test.pth")) == 1


def test_raft_download_comes_from_the_hub(server, register, hub_home):
    from torchvision.models import optical_flow

    from vidlab.flow.methods import RaftFlow

    torch.manual_seed(2)
    state = optical_flow.raft_small(weights=None).state_dict()
    _serve(server, register, "raft_small", state, "raft_small_test.pth")
    flow = RaftFlow("download", model="small", device="cpu")
    assert flow.weights.startswith(str(hub_home)) and len(server.gets("raft_small_test.pth")) == 1


def test_offline_the_pipelines_say_where_to_put_the_files(hub_home, tmp_path, monkeypatch):
    from vidlab.detect.person import DetectorWeightsError, resolve_weights
    from vidlab.flow.methods import FlowMethodError, RaftFlow

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(tmp_path / "empty_mirror"))  # no network: a mirror without files
    with pytest.raises(DetectorWeightsError, match="--detector-weights.*fasterrcnn_resnet50_fpn_coco-258fb6c6.pth "
                                                   "is not in the mirror folder"):
        resolve_weights(None)
    with pytest.raises(FlowMethodError, match="cannot fetch the RAFT small weights: .*raft_small_C_T_V2-01064c6d.pth"):
        RaftFlow("download", model="small")
