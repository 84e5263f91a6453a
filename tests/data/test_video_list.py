import numpy as np
import pytest
import torch

from vidlab.data.datasets import VideoListDataset, read_video_list
from vidlab.data.sampling import uniform_view_indices
from vidlab.data.transforms import ClipTransform
from vidlab.errors import DataError
from vidlab.io import VideoReader


def test_read_video_list_formats_and_errors(tmp_path):
    (tmp_path / "a.csv").write_text("# comment\nvideos/x.mp4 3\n/abs/y.avi,4\n\nz.mp4 1 5 7\n")
    recs = read_video_list(tmp_path / "a.csv")
    assert [r.label for r in recs] == [3, 4, (1, 5, 7)]
    assert recs[0].path == str(tmp_path / "videos/x.mp4") and recs[1].path == "/abs/y.avi"
    assert read_video_list(tmp_path / "a.csv", root="/data")[0].path == "/data/videos/x.mp4"
    (tmp_path / "b.csv").write_text("x.mp4 cat\n")
    with pytest.raises(DataError, match=r"b.csv:1: label must be an integer"):
        read_video_list(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("only_a_path.mp4\n")
    with pytest.raises(DataError, match=r"c.csv:1: expected 'path label'"):
        read_video_list(tmp_path / "c.csv")
    with pytest.raises(DataError, match="not found"):
        read_video_list(tmp_path / "none.csv")


def test_multiview_decodes_once_and_matches_per_view_decoding(tiny_synth, monkeypatch):
    calls = []
    original = VideoReader.get_frames

    def counting(self, indices):
        calls.append(len(indices))
        return original(self, indices)

    monkeypatch.setattr(VideoReader, "get_frames", counting)
    tf = ClipTransform(train=False, crop_size=24, test_scale=28, mean=(0.5,) * 3, std=(0.25,) * 3, spatial_crops=3)
    ds = VideoListDataset(tiny_synth / "test.csv", mode="test", num_frames=4, sampling_rate=2, transform=tf, num_views=5)
    views, label, index = ds[3]
    assert views.shape == (15, 3, 4, 24, 24) and index == 3 and int(label) == ds.records[3].label
    assert len(calls) == 1  # every view cut from one decode
    # the same views decoded one by one
    monkeypatch.setattr(VideoReader, "get_frames", original)
    with VideoReader(ds.records[3].path) as r:
        per_view = uniform_view_indices(r.info.num_frames, 4, 2, 5)
        expected = [v for idx in per_view for v in tf.views(r.get_frames(idx))]
    torch.testing.assert_close(views, torch.stack(expected), rtol=0, atol=0)


def test_training_items_are_seeded_by_epoch_and_index(tiny_synth):
    tf = ClipTransform(train=True, crop_size=24, min_scale=28, max_scale=32, flip=0.0)
    ds = VideoListDataset(tiny_synth / "train.csv", mode="train", num_frames=4, sampling_rate=2, transform=tf, seed=5)
    a, la, _ = ds[2]
    b, _, _ = ds[2]
    assert a.shape == (3, 4, 24, 24) and torch.equal(a, b)
    ds.set_epoch(1)
    c, lc, _ = ds[2]
    assert not torch.equal(a, c) and int(la) == int(lc)


def test_test_mode_on_a_real_avi(real_dir):
    path = real_dir / "ucf101/videos/Basketball/v_Basketball_g01_c01.avi"
    tf = ClipTransform(train=False, crop_size=112, test_scale=128)
    from vidlab.data.datasets import VideoRecord

    ds = VideoListDataset([VideoRecord(str(path), 7)], mode="test", num_frames=8, sampling_rate=8, transform=tf,
                          num_views=3, target_fps=30)
    views, label, _ = ds[0]
    assert views.shape == (3, 3, 8, 112, 112) and int(label) == 7
    assert np.isfinite(views.numpy()).all()
