"""Flow estimators: conventions (x first, forward, pixels), accuracy on the synthetic
set's ground truth, and RAFT's weight handling."""

import numpy as np
import pytest
import torch

from vidlab.data.synthetic import generate_clip
from vidlab.errors import VidlabError
from vidlab.flow import FarnebackFlow, FlowMethodError, RaftFlow, TVL1Flow, end_point_error, get_estimator


def _shifted_pair(dx: int, dy: int, size: int = 48):
    """A smooth random texture and the same texture moved by (dx, dy) pixels."""
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (size // 4 + 4, size // 4 + 4, 3)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None], scale_factor=4,
                                          mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    big = np.clip(big, 0, 255).astype(np.uint8)
    a = big[8:8 + size, 8:8 + size]
    b = big[8 - dy:8 - dy + size, 8 - dx:8 - dx + size]  # content moves by +dx, +dy
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


@pytest.mark.parametrize("est", [FarnebackFlow(), TVL1Flow(nscales=3, warps=3)], ids=["farneback", "tvl1"])
def test_convention_x_first_forward_pixels(est):
    a, b = _shifted_pair(2, -1)
    flow = est(a, b)
    assert flow.shape == (2, 48, 48) and flow.dtype == np.float32
    inner = flow[:, 12:-12, 12:-12]
    assert abs(float(np.median(inner[0])) - 2.0) < 0.25
    assert abs(float(np.median(inner[1])) + 1.0) < 0.25


@pytest.mark.parametrize("method", ["farneback", "tvl1"])
def test_epe_on_synthetic_translation(method):
    est = get_estimator(method)
    errors = []
    for label in (1, 8):  # move right, move up-right
        frames, motion = generate_clip(label, 5, size=48, num_frames=5, return_motion=True)
        pred = est.video(frames)
        assert pred.shape == motion.shape == (4, 2, 48, 48)
        errors.append(end_point_error(pred, motion))
    assert max(errors) < 0.5, errors


def test_video_needs_two_frames():
    with pytest.raises(ValueError, match="at least 2 frames"):
        FarnebackFlow().video(np.zeros((1, 16, 16, 3), np.uint8))


def test_unknown_method_is_a_clear_error():
    with pytest.raises(FlowMethodError, match="unknown flow method 'brox'"):
        get_estimator("brox")
    assert issubclass(FlowMethodError, VidlabError)


def test_raft_without_weights_says_what_to_do():
    with pytest.raises(FlowMethodError, match="RAFT needs weights"):
        get_estimator("raft")


def test_raft_download_offline_is_a_clear_error(monkeypatch, tmp_path):
    # "download" goes through vidlab's hub (tests/hub/test_hub_pipelines.py serves it); offline with a mirror
    # folder that lacks the file: one error naming the file
    monkeypatch.setenv("VIDLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(FlowMethodError, match="cannot fetch the RAFT small weights: .*raft_small_C_T_V2-01064c6d.pth"):
        RaftFlow("download", model="small")


def test_raft_weights_from_a_file(tmp_path):
    torch.manual_seed(0)
    est = RaftFlow("random", model="small", num_flow_updates=2)
    frames = generate_clip(0, 1, size=32, num_frames=3)  # small frames are upsampled to 128 px inside
    flow = est.video(frames)
    assert flow.shape == (2, 2, 32, 32) and np.isfinite(flow).all()
    path = tmp_path / "raft_small.pth"
    torch.save(est.net.state_dict(), path)
    again = get_estimator("raft", weights=str(path), model="small", num_flow_updates=2)
    np.testing.assert_allclose(again.video(frames), flow, atol=1e-5)
    with pytest.raises(FlowMethodError, match="not a torchvision RAFT state dict"):
        RaftFlow(str(path), model="large")
    with pytest.raises(FlowMethodError, match="not found"):
        RaftFlow(str(tmp_path / "nope.pth"), model="small")
