"""Colour-wheel visualisation: torchvision's wheel with one radius for a whole video."""

import numpy as np

from vidlab.flow import flow_to_rgb, write_flow_video
from vidlab.io import VideoReader


def test_zero_flow_is_white_and_directions_differ():
    flow = np.zeros((2, 8, 8), np.float32)
    flow[0, :, 4:] = 3.0  # right half moves right
    img = flow_to_rgb(flow)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert (img[:, :4] == 255).all()
    left = flow.copy()
    left[0] *= -1
    assert not np.array_equal(flow_to_rgb(left)[:, 4:], img[:, 4:])


def test_one_radius_for_all_frames():
    slow = np.zeros((2, 4, 4), np.float32)
    slow[0] = 1.0
    fast = slow * 4
    both = flow_to_rgb(np.stack([slow, fast]), max_radius=4.0)
    # the same vector gets the same colour whether or not a faster frame is beside it
    np.testing.assert_array_equal(both[0], flow_to_rgb(slow, max_radius=4.0))
    assert not np.array_equal(both[0], both[1])  # slower is paler
    np.testing.assert_array_equal(flow_to_rgb(fast * 3, max_radius=4.0), both[1])  # clipped to the radius


def test_flow_video(tmp_path):
    flows = np.random.default_rng(0).normal(size=(5, 2, 16, 16)).astype(np.float32)
    path = write_flow_video(tmp_path / "f.mp4", flows, fps=8)
    with VideoReader(path) as r:
        assert r.info.num_frames == 5 and (r.info.width, r.info.height) == (16, 16)
