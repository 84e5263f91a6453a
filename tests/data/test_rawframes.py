"""The rawframes format: list parsing, frame folders (img_/x_/y_ jpg or flow.npy),
clear errors for missing files, and the clip dataset over it."""

import numpy as np
import pytest
import torch

from vidlab.data.datasets.rawframes import (
    FrameDirectory,
    RawframeDataset,
    RawframeRecord,
    read_rawframe_list,
    write_rawframe_list,
)
from vidlab.data.transforms import ClipTransform
from vidlab.errors import DataError
from vidlab.flow import storage


def make_folder(path, num_frames=6, size=(24, 32), npy=False, seed=0):
    """A rawframes folder with known content: frame i is grey level 20 i, flow k is (k, -k) px."""
    path.mkdir(parents=True, exist_ok=True)
    h, w = size
    frames = [np.full((h, w, 3), 20 * i, np.uint8) for i in range(num_frames)]
    storage.write_frames_jpg(path, frames)
    flows = np.stack([np.stack([np.full((h, w), k, np.float32), np.full((h, w), -k, np.float32)])
                      for k in range(num_frames - 1)])
    if npy:
        storage.save_flow_npy(path / storage.FLOW_NPY, flows)
    else:
        storage.write_flow_jpg(path, flows)
    storage.write_sidecar(path, {"bound": 20.0, "num_frames": num_frames, "num_flows": num_frames - 1})
    return flows


def test_list_parsing(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nvids/a 10 3\n/abs/b 7 1 4\n\n")
    recs = read_rawframe_list(lst)
    assert recs[0] == RawframeRecord(str(tmp_path / "vids/a"), 10, 3)
    assert recs[1] == RawframeRecord("/abs/b", 7, (1, 4))
    out = write_rawframe_list(tmp_path / "again.txt", recs)
    assert read_rawframe_list(out) == recs
    for bad, msg in (("a 10", "expected"), ("a x 1", "integers"), ("a 0 1", ">= 1")):
        lst.write_text(bad + "\n")
        with pytest.raises(DataError, match=msg):
            read_rawframe_list(lst)
    with pytest.raises(DataError, match="not found"):
        read_rawframe_list(tmp_path / "nope.txt")


@pytest.mark.parametrize("npy", [False, True], ids=["jpg", "npy"])
def test_frame_directory_reads_frames_and_flow(tmp_path, npy):
    flows = make_folder(tmp_path / "v", npy=npy)
    d = FrameDirectory(tmp_path / "v")
    assert d.num_frames == 6 and d.num_flows == 5 and d.flow_format == ("npy" if npy else "jpg")
    frames = d.get_frames([0, 5, 5])
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8
    assert abs(int(frames[1].mean()) - 100) <= 2
    f = d.get_flows([4, 1])
    assert f.shape == (2, 2, 24, 32) and f.dtype == np.float32
    np.testing.assert_allclose(f, flows[[4, 1]], atol=0 if npy else 0.2)
    with pytest.raises(IndexError):
        d.get_flows([5])


def test_frame_count_without_sidecar_or_list(tmp_path):
    make_folder(tmp_path / "v", num_frames=4)
    (tmp_path / "v" / "flow.json").unlink()
    assert FrameDirectory(tmp_path / "v").num_frames == 4
    assert FrameDirectory(tmp_path / "v", num_frames=3).num_frames == 3  # the list wins


def test_missing_files_are_named(tmp_path):
    make_folder(tmp_path / "v")
    (tmp_path / "v" / "x_00003.jpg").unlink()
    (tmp_path / "v" / "img_00002.jpg").unlink()
    d = FrameDirectory(tmp_path / "v")
    with pytest.raises(DataError, match="x_00003.jpg: missing file"):
        d.get_flows([0, 1, 2])
    with pytest.raises(DataError, match="img_00002.jpg: missing file"):
        d.get_frames([1])
    with pytest.raises(DataError, match="img_00002.jpg: missing file"):
        d.check(rgb=True)
    with pytest.raises(DataError, match="x_00003.jpg: missing file"):
        d.check(rgb=False, flow=True)
    with pytest.raises(DataError, match="frame folder not found"):
        FrameDirectory(tmp_path / "nope")
    # a list claiming more frames than the folder holds fails on the first missing one
    make_folder(tmp_path / "w")
    with pytest.raises(DataError, match="img_00007.jpg: missing file"):
        RawframeDataset([RawframeRecord(str(tmp_path / "w"), 7, 0)], mode="train", num_frames=2, sampling_rate=1,
                        transform=ClipTransform(train=False, crop_size=16), check_files=True, modality="rgb")


def test_truncated_npy_is_an_error(tmp_path):
    make_folder(tmp_path / "v", npy=True)
    d = FrameDirectory(tmp_path / "v", num_frames=9)
    with pytest.raises(DataError, match="holds 5 flow fields"):
        d.get_flows([0])


def test_rgb_and_flow_datasets(tmp_path):
    for i in range(2):
        make_folder(tmp_path / f"v{i}", num_frames=8)
    lst = write_rawframe_list(tmp_path / "l.txt", [RawframeRecord(str(tmp_path / f"v{i}"), 8, i) for i in range(2)])
    tf = ClipTransform(train=True, crop_size=16, min_scale=24, max_scale=28, flip=0.0)
    ds = RawframeDataset(lst, mode="train", num_frames=4, sampling_rate=2, transform=tf)
    clip, label, idx = ds[1]
    assert clip.shape == (3, 4, 16, 16) and int(label) == 1 and idx == 1
    flow_ds = RawframeDataset(lst, mode="train", num_frames=4, sampling_rate=1, transform=tf, modality="flow",
                              flow_scale=1.0)
    flow, _, _ = flow_ds[0]
    assert flow.shape == (2, 4, 16, 16)
    # the x component is k px (k = the flow index), scaled by the resize factor of the jitter
    assert torch.all(flow[0] >= -0.3) and torch.all(flow[1] <= 0.3)
    test_tf = ClipTransform(train=False, crop_size=16, test_scale=24, spatial_crops=3)
    views, _, _ = RawframeDataset(lst, mode="test", num_frames=4, sampling_rate=1, transform=test_tf,
                                  modality="flow", num_views=2, flow_scale=1.0)[0]
    assert views.shape == (6, 2, 4, 16, 16)
    # test view 0 covers flows 0..3 (delta * 0 / 2): x = k * 24 / 24 px exactly up to jpg rounding
    np.testing.assert_allclose(views[0, 0].mean((1, 2)).numpy(), [0, 1, 2, 3], atol=0.2)
