"""data.cache: memory -- each video decoded once, clips cut from RAM exactly as from the file."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidlab.data.datasets import FrameCache, VideoListDataset, make_dataset
from vidlab.data.transforms import ClipTransform
from vidlab.engine.config import ConfigError, from_dict
from vidlab.engine.trainer import ShapedDataset, dataset_options
from vidlab.io import VideoReader


def _train_ds(data, **kw):
    tf = ClipTransform(train=True, crop_size=24, min_scale=28, max_scale=36, flip=0.5)
    return VideoListDataset(data / "train.csv", mode="train", num_frames=4, sampling_rate=3, transform=tf, seed=7, **kw)


def _video_bytes(path):
    with VideoReader(path) as r:
        i = r.info
        return i.num_frames * i.height * i.width * 3


def _count_decodes(monkeypatch):
    calls = []
    original = VideoReader.get_frames

    def counting(self, indices):
        calls.append(self.path)
        return original(self, indices)

    monkeypatch.setattr(VideoReader, "get_frames", counting)
    return calls


def test_cached_clips_equal_the_decoded_ones_and_the_file_is_read_once(tiny_synth, monkeypatch):
    plain, cached = _train_ds(tiny_synth), _train_ds(tiny_synth, cache_bytes=1 << 30)
    calls = _count_decodes(monkeypatch)
    n = len(plain)
    for epoch in (0, 1, 2):  # new random starts, crops and flips every epoch
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(n):
            a, la, ia = plain[i]
            b, lb, ib = cached[i]
            assert torch.equal(a, b) and int(la) == int(lb) and ia == ib
    # the plain dataset decodes on every read; the cached one once per video
    cached_calls = [p for p in calls if p in cached.frame_cache]
    assert len(cached_calls) == 3 * n + n
    assert len(cached.frame_cache) == n
    assert cached.frame_cache.used == sum(_video_bytes(r.path) for r in cached.records)
    for path, video in cached.frame_cache.videos.items():
        assert video.frames.dtype == np.uint8
        with VideoReader(path) as r:  # the whole stored array equals a per-index decode
            assert np.array_equal(video.frames, r.get_frames(np.arange(r.info.num_frames)))


def test_test_mode_views_equal_too(tiny_synth):
    tf = ClipTransform(train=False, crop_size=24, test_scale=28, spatial_crops=3)
    kw = dict(mode="test", num_frames=4, sampling_rate=2, transform=tf, num_views=3)
    plain = VideoListDataset(tiny_synth / "test.csv", **kw)
    cached = VideoListDataset(tiny_synth / "test.csv", cache_bytes=1 << 30, **kw)
    for i in range(len(plain)):
        for _ in range(2):  # the fill, then a hit
            assert torch.equal(plain[i][0], cached[i][0])


def test_past_the_budget_videos_are_decoded_from_the_file(tiny_synth, monkeypatch):
    one = _video_bytes(_train_ds(tiny_synth).records[0].path)
    plain, cached = _train_ds(tiny_synth), _train_ds(tiny_synth, cache_bytes=int(2.5 * one))
    for i in range(len(plain)):
        assert torch.equal(plain[i][0], cached[i][0])
    cache = cached.frame_cache
    assert len(cache) == 2 and cache.used == 2 * one <= cache.max_bytes
    first_two = [r.path for r in cached.records[:2]]
    assert sorted(cache.videos) == sorted(first_two)
    # the rest keep coming from the file, still equal, and the cache does not grow
    calls = _count_decodes(monkeypatch)
    cached.set_epoch(1)
    plain.set_epoch(1)
    for i in range(len(plain)):
        assert torch.equal(plain[i][0], cached[i][0])
    from_cache = [r.path for r in cached.records if r.path in cache]
    assert len(cache) == 2 and cache.used == 2 * one
    assert len(calls) == len(plain) + (len(plain) - len(from_cache))


def test_a_video_that_does_not_decode_fully_is_read_from_the_file(tiny_synth, monkeypatch):
    from vidlab.io import VideoDecodeError

    plain, cached = _train_ds(tiny_synth), _train_ds(tiny_synth, cache_bytes=1 << 30)
    broken = cached.records[1].path
    original = VideoReader.get_frames

    def truncated_tail(self, indices):  # as a truncated file: clips decode, the last frames do not
        if self.path == broken and max(indices) >= self.info.num_frames - 2:
            raise VideoDecodeError(self.path, "truncated: expected 16 frames, decoded 13")
        return original(self, indices)

    monkeypatch.setattr(VideoReader, "get_frames", truncated_tail)
    plain.sampling_rate = cached.sampling_rate = 1  # short clips that stay clear of the tail
    for i in range(len(plain)):
        assert torch.equal(plain[i][0], cached[i][0])
    assert broken not in cached.frame_cache and len(cached.frame_cache) == len(cached) - 1


def test_an_unreadable_video_raises_as_without_a_cache(tmp_path):
    from vidlab.io import VideoDecodeError

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    cache = FrameCache(1 << 30)
    with pytest.raises(VideoDecodeError):
        cache.open(str(bad))
    assert len(cache) == 0 and cache.used == 0


def test_multigrid_shapes_share_one_cache(tiny_synth):
    plain, cached = ShapedDataset(_train_ds(tiny_synth), 24), ShapedDataset(_train_ds(tiny_synth, cache_bytes=1 << 30), 24)
    for item in [(0, 2, 16, 6), (1, 4, 24, 3), (0, 4, 24, 3), (2, 1, 16, 12), 3]:
        assert torch.equal(plain[item][0], cached[item][0])
    assert len(cached.ds.frame_cache) == 4  # videos 0..3, each decoded once whatever the shape
    assert all(v.frame_cache is cached.ds.frame_cache for v in cached._variants.values())


def test_filled_in_the_main_process_the_cache_serves_loader_workers(tiny_synth, monkeypatch):
    plain, cached = _train_ds(tiny_synth), _train_ds(tiny_synth, cache_bytes=1 << 30)
    assert cached.fill_cache().cached == len(cached)
    # the workers must not open any file: make the reader fail

    def no_decoding(self, indices):
        raise AssertionError(f"{self.path} decoded in a worker")

    monkeypatch.setattr(VideoReader, "get_frames", no_decoding)
    loader = DataLoader(cached, batch_size=4, num_workers=2, multiprocessing_context="fork")
    got = torch.cat([b[0] for b in loader])
    monkeypatch.undo()
    want = torch.stack([plain[i][0] for i in range(len(plain))])
    assert torch.equal(got, want)


def _data_cfg(data, **over):
    d = {"train": str(data / "train.csv"), "val": str(data / "val.csv"), "labels": str(data / "classes.txt"),
         "num_frames": 4, "sampling_rate": 2, "crop_size": 24, "train_scale": [28, 32], **over}
    return from_dict({"data": d}).data


def test_config_key_gives_the_training_split_a_cache(tiny_synth):
    kw = dict(num_classes=10, num_frames=4, sampling_rate=2, crop_size=24, mean=(0.5,) * 3, std=(0.5,) * 3)

    def make(d, split):
        return make_dataset(split, **dataset_options(d, split), **kw)

    train = make(_data_cfg(tiny_synth, cache="memory", cache_mb=3), "train")
    assert train.dataset.frame_cache.max_bytes == 3 * 2**20
    assert make(_data_cfg(tiny_synth, cache="memory"), "val").dataset.frame_cache is None
    assert make(_data_cfg(tiny_synth), "train").dataset.frame_cache is None
    with pytest.raises(ConfigError, match="data.cache"):
        _data_cfg(tiny_synth, cache="disk")
    with pytest.raises(ConfigError, match="cache_mb"):
        _data_cfg(tiny_synth, cache="memory", cache_mb=0)
