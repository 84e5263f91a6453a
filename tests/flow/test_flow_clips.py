"""Snippet datasets (two-stream, TSN): layouts per modality, cached vs on-the-fly flow,
geometry applied to flow vectors, and the short-video rules."""

import numpy as np
import pytest
import torch

from vidlab.data.datasets.flow_clips import SnippetDataset, SnippetTransform, VideoFlowSource
from vidlab.data.datasets.rawframes import RawframeRecord
from vidlab.data.datasets.video_list import read_video_list
from vidlab.errors import DataError
from vidlab.flow import storage
from vidlab.flow.extract import extract_flows


@pytest.fixture(scope="module")
def cache(tiny_synth, tmp_path_factory):
    """tiny_synth's train videos (32x32, 16 frames) with a Farneback jpg cache."""
    records = read_video_list(tiny_synth / "train.csv")[::4]
    out = tmp_path_factory.mktemp("flowcache")
    res = extract_flows([r.path for r in records], out, "farneback", progress=False)
    raw = [RawframeRecord(r["dir"], r["num_frames"], rec.label) for r, rec in zip(res, records)]
    return records, raw


def tf(train, **kw):
    return SnippetTransform(train=train, crop_size=24, min_scale=28, max_scale=32, test_scale=32, **kw)


@pytest.mark.parametrize("modality, k, length, shape", [
    ("rgb", 3, 1, (3, 3, 24, 24)),
    ("flow", 3, 5, (2, 15, 24, 24)),
    ("rgb_diff", 2, 4, (3, 10, 24, 24)),
])
def test_layouts(cache, modality, k, length, shape):
    _, raw = cache
    ds = SnippetDataset(raw, mode="train", modality=modality, transform=tf(True), num_segments=k, new_length=length)
    x, y, i = ds[0]
    assert tuple(x.shape) == shape and i == 0 and int(y) == raw[0].label
    test = SnippetDataset(raw, mode="test", modality=modality, transform=tf(False, spatial_crops=3),
                          num_segments=k, test_segments=4, new_length=length)
    x, _, _ = test[0]
    per = shape[1] // k
    assert tuple(x.shape) == (3, shape[0], 4 * per, 24, 24)


def test_rgb_plus_flow_and_collate(cache):
    _, raw = cache
    ds = SnippetDataset(raw, mode="train", modality="rgb+flow", transform=tf(True), num_segments=2, new_length=3)
    (rgb, flow), _, _ = ds[0]
    assert rgb.shape == (3, 2, 24, 24) and flow.shape == (2, 6, 24, 24)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert [t.shape[0] for t in batch[0]] == [2, 2]
    views, _, _ = SnippetDataset(raw, mode="test", modality="rgb+flow", transform=tf(False), num_segments=2,
                                 new_length=3, rgb_length=4)[0]
    assert views[0].shape == (1, 3, 8, 24, 24) and views[1].shape == (1, 2, 6, 24, 24)


def test_cached_equals_on_the_fly_up_to_quantisation(cache):
    videos, raw = cache
    kw = dict(mode="test", modality="flow", transform=tf(False, flow_scale=1.0), num_segments=3, new_length=4)
    cached, _, _ = SnippetDataset(raw[:1], **kw)[0]
    fly, _, _ = SnippetDataset(videos[:1], estimator="farneback", **kw)[0]
    assert cached.shape == fly.shape
    err = (cached - fly).abs()
    assert float(err.mean()) < 0.05 and float(err.max()) < 0.5  # pixels: quantisation (0.08) + jpg


def test_video_flow_source_matches_the_estimator(cache):
    from vidlab.flow import FarnebackFlow
    from vidlab.io import VideoReader

    videos, _ = cache
    with VideoFlowSource(videos[0].path) as src:
        got = src.get_flows([3, 0, 3])
        with VideoReader(videos[0].path) as r:
            frames = r.get_frames([0, 1, 3, 4])
    est = FarnebackFlow()
    np.testing.assert_allclose(got[0], est(frames[2], frames[3]), atol=1e-5)
    np.testing.assert_allclose(got[1], est(frames[0], frames[1]), atol=1e-5)
    np.testing.assert_array_equal(got[0], got[2])


def test_geometry_scales_and_flips_flow_vectors():
    flows = np.zeros((1, 2, 16, 16), np.float32)
    flows[:, 0], flows[:, 1] = 1.0, -2.0
    t = SnippetTransform(train=True, crop_size=16, min_scale=32, max_scale=32, flip=1.0, flow_scale=1.0)
    _, f = t(None, flows, rng=np.random.default_rng(0))
    # upscaled 2x: displacements double; flipped: x negated
    np.testing.assert_allclose(f[0].numpy(), -2.0, atol=1e-5)
    np.testing.assert_allclose(f[1].numpy(), -4.0, atol=1e-5)
    _, f = SnippetTransform(train=False, crop_size=8, test_scale=8, flow_scale=20.0)(None, flows)
    np.testing.assert_allclose(f[0].numpy(), 0.5 / 20, atol=1e-5)  # halved, then / bound
    with pytest.raises(DataError, match="differ in size"):
        t(np.zeros((1, 8, 8, 3), np.uint8), flows)


def test_short_video_error_and_padding_rules(tmp_path):
    folder = tmp_path / "short"
    storage.write_frames_jpg(folder, [np.full((16, 16, 3), 30 * i, np.uint8) for i in range(4)])
    flows = np.stack([np.full((2, 16, 16), k + 1, np.float32) for k in range(3)])
    storage.write_flow_jpg(folder, flows)
    rec = [RawframeRecord(str(folder), 4, 0)]
    kw = dict(mode="train", modality="flow", transform=SnippetTransform(train=False, crop_size=16, flow_scale=1.0),
              num_segments=1, new_length=5)
    with pytest.raises(DataError, match="4 frame\\(s\\), too short for a flow snippet of a stack of 5 flow fields"):
        SnippetDataset(rec, **kw)[0]
    x, _, _ = SnippetDataset(rec, out_of_bound="repeat_last", **kw)[0]
    np.testing.assert_allclose(x[0].mean((1, 2)).numpy(), [1, 2, 3, 3, 3], atol=0.1)
    x, _, _ = SnippetDataset(rec, out_of_bound="loop", **kw)[0]
    np.testing.assert_allclose(x[0].mean((1, 2)).numpy(), [1, 2, 3, 1, 2], atol=0.1)
    # a missing flow file is always an error, whatever the padding rule
    (folder / "y_00002.jpg").unlink()
    with pytest.raises(DataError, match="y_00002.jpg: missing file"):
        SnippetDataset(rec, out_of_bound="repeat_last", **kw)[0]
    with pytest.raises(DataError, match="y_00002.jpg: missing file"):
        SnippetDataset(rec, check_files=True, **kw)
