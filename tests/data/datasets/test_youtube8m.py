"""YouTube-8M TFRecords read without TensorFlow: framing, CRCs, Example/SequenceExample, segments."""

import numpy as np
import pytest

from vidlab.data.datasets import youtube8m as y8
from vidlab.errors import DataError


def test_crc32c_known_values():
    assert y8.crc32c(b"") == 0
    assert y8.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert y8.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4


def frame_video(vid, labels, t, seg=None, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (t, 1024), dtype=np.uint8)
    audio = rng.integers(0, 256, (t, 128), dtype=np.uint8)
    ctx = {"id": vid.encode(), "labels": labels}
    if seg:
        ctx.update({"segment_labels": seg[0], "segment_start_times": seg[1],
                    "segment_scores": np.asarray(seg[2], np.float32)})
    rec = y8.encode_sequence_example(ctx, {"rgb": [[r.tobytes()] for r in rgb], "audio": [[a.tobytes()] for a in audio]})
    return rec, rgb, audio


def test_frame_level_segment_rated_roundtrip(tmp_path):
    rec1, rgb1, audio1 = frame_video("Ab12", [3, 3861], 12, seg=([3, 3861], [0, 10], [1.0, 0.0]))
    rec2, _, _ = frame_video("Zz99", [7], 4, seed=1)
    path = y8.write_tfrecord(tmp_path / "validate0000.tfrecord", [rec1, rec2])
    videos = list(y8.read_videos(path, verify=True))
    v = videos[0]
    assert v.id == "Ab12" and v.labels == [3, 3861] and v.frame_level
    assert np.array_equal(v.rgb, rgb1) and np.array_equal(v.audio, audio1)
    assert (v.segment_labels, v.segment_start_times, v.segment_scores) == ([3, 3861], [0, 10], [1.0, 0.0])
    seg = y8.YouTube8MSegments(tmp_path)
    assert len(seg) == 2
    x, c, score, _ = seg[1]  # starts at second 10 of a 12-second video: 2 frames, then zeros
    assert x.shape == (5, 1152) and c == 3861 and score == 0.0
    np.testing.assert_allclose(x[:2, :1024].numpy(), y8.dequantize(rgb1[10:12]))
    assert not x[2:].any()
    # the starter code's rule: x * 4/255 + (4/512 - 2)
    assert y8.dequantize(np.array([0, 255])).tolist() == pytest.approx([-2 + 4 / 512, 2 + 4 / 512], abs=1e-6)
    from vidlab.data.datasets.registry import load_index

    idx = load_index("youtube8m", tmp_path)
    s = idx.summary()
    assert (s["val"], s["rated_segments"], s["positive_segments"], s["frames"]) == (2, 2, 1, 16)


def test_video_level_examples(tmp_path):
    mean_rgb = np.linspace(-1, 1, 1024).astype(np.float32)
    rec = y8.encode_example({"id": b"x1", "labels": [0, 5], "mean_rgb": mean_rgb,
                             "mean_audio": np.zeros(128, np.float32)})
    y8.write_tfrecord(tmp_path / "train0001.tfrecord", [rec])
    (tmp_path / "vocabulary.csv").write_text("Index,TrainVideoCount,KnowledgeGraphId,Name\n0,10,/m/1,Game\n5,3,/m/2,Car\n")
    ds = y8.YouTube8MVideos(tmp_path / "train0001.tfrecord", num_classes=6)
    x, target, _ = ds[0]
    assert x.shape == (1152,) and np.allclose(x[:1024].numpy(), mean_rgb) and target.tolist() == [1, 0, 0, 0, 0, 1]
    assert y8.read_vocabulary(tmp_path / "vocabulary.csv") == ["Game", "1", "2", "3", "4", "Car"]


def test_damaged_files_name_the_record(tmp_path):
    rec, _, _ = frame_video("a", [1], 3)
    path = y8.write_tfrecord(tmp_path / "train.tfrecord", [rec, rec])
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # flip a byte inside the second record's data
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(data))
    assert len(list(y8.read_tfrecord(bad))) == 2  # header CRCs are fine
    with pytest.raises(DataError, match=r"bad.tfrecord: record 1: data CRC mismatch"):
        list(y8.read_tfrecord(bad, verify=True))
    bad.write_bytes(bytes(data[:-30]))
    with pytest.raises(DataError, match=r"record 1: truncated data"):
        list(y8.read_tfrecord(bad))
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(DataError, match=r"record 0: header CRC mismatch"):
        list(y8.read_tfrecord(bad))
