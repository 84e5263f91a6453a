"""YouTube-8M (Abu-El-Haija et al. 2016) and its segment-rated 2019 release: features only.

YouTube-8M publishes no videos, only pre-extracted features in TFRecord
files; this module reads them without TensorFlow (a small TFRecord framing
reader and a protobuf wire-format decoder for ``tf.train.Example`` /
``tf.train.SequenceExample``).

What is supported:

- **video-level** files (``train*.tfrecord``, ``validate*.tfrecord``,
  ``test*.tfrecord`` of the video-level release): ``tf.train.Example`` with
  ``id`` (bytes), ``labels`` (int64 list), ``mean_rgb`` (1024 floats),
  ``mean_audio`` (128 floats). :class:`YouTube8MVideos` yields
  ``(features (1152,), multi-hot (num_classes,), index)``.
- **frame-level** files, including the **segment-rated** validation/test
  files of the 2019 challenge: ``tf.train.SequenceExample`` with context
  ``id``, ``labels`` and, when rated, ``segment_labels``,
  ``segment_start_times`` (frame = second index of a 5-second segment),
  ``segment_scores`` (1 = the label is present in that segment, 0 = not); and
  feature lists ``rgb`` (one 1024-byte quantized vector per second) and
  ``audio`` (128 bytes). :func:`dequantize` maps bytes to floats
  (``[-2, 2]`` range, the starter code's rule). :class:`YouTube8MSegments`
  yields one item per rated segment:
  ``(features (5, 1152), class, score, index)``.
- ``vocabulary.csv`` (``Index,TrainVideoCount,KnowledgeGraphId,Name,...``)
  gives class names (3,862 classes; the segment task rates 1,000 of them).
- ``vidlab data stats --format youtube8m --annotations DIR``: videos per split,
  rated segments, classes. CRCs are checked on every record header and, with
  ``verify=True``, on the data too.

What is not: the videos themselves (only YouTube ids, which are obfuscated
4-character ids since 2018, not downloadable clips), so ``data check`` /
``data prepare`` and the video datasets do not apply; no segment-level
MAP@K evaluator (use :mod:`vidlab.evaluation.multilabel` for video-level mAP /
per-class AP; the challenge's MAP@100,000 is not implemented); no PCA
un-whitening (the features stay as released).

IG-Kinetics / IG-65M: the Instagram videos were never released, so there is
no dataset to read; only the pretrained weights exist (the IG-65M R(2+1)D-34
port converts with ``vidlab convert --from torchvision --arch r2plus1d_34``).
"""

from __future__ import annotations

import csv
import glob
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlab.data.datasets.registry import DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

NUM_CLASSES = 3862
SEGMENT_SECONDS = 5
RGB_DIM, AUDIO_DIM = 1024, 128

# ----------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as TFRecord uses it
_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ----------------------------------------------------------------------------------
# TFRecord framing: uint64 length, uint32 masked crc(length), data, uint32 masked crc(data)
def read_tfrecord(path: str | os.PathLike, *, verify: bool = False) -> Iterator[bytes]:
    """Yield the records of a TFRecord file (uncompressed); a damaged file raises DataError naming it."""
    path = Path(path)
    with open(path, "rb") as f:
        k = 0
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise DataError(f"{path}: record {k}: truncated header")
            length, = struct.unpack("<Q", head[:8])
            if struct.unpack("<I", head[8:])[0] != masked_crc32c(head[:8]):
                raise DataError(f"{path}: record {k}: header CRC mismatch (not an uncompressed TFRecord file?)")
            data = f.read(length)
            tail = f.read(4)
            if len(data) < length or len(tail) < 4:
                raise DataError(f"{path}: record {k}: truncated data")
            if verify and struct.unpack("<I", tail)[0] != masked_crc32c(data):
                raise DataError(f"{path}: record {k}: data CRC mismatch")
            yield data
            k += 1


def write_tfrecord(path: str | os.PathLike, records: Iterable[bytes]) -> Path:
    """Write records as an (uncompressed) TFRecord file, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as f:
        for data in records:
            head = struct.pack("<Q", len(data))
            f.write(head + struct.pack("<I", masked_crc32c(head)) + data + struct.pack("<I", masked_crc32c(data)))
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------
# protobuf wire format (only what tf.train.Example / SequenceExample need)
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _varint(buf, pos)
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            v, pos = buf[pos:pos + ln], pos + ln
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        if pos > n:
            raise ValueError("truncated field")
        yield num, wt, v


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_feature(buf: bytes):
    """A ``tf.train.Feature``: list of bytes, float32 array or int64 list."""
    for num, wt, v in _fields(buf):
        if num == 1:  # BytesList
            return [bytes(x) for n2, _, x in _fields(v) if n2 == 1]
        if num == 2:  # FloatList (packed or not)
            parts = [np.frombuffer(x, "<f4") for n2, w2, x in _fields(v) if n2 == 1]
            return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        if num == 3:  # Int64List (packed or not)
            out = []
            for n2, w2, x in _fields(v):
                if n2 != 1:
                    continue
                if w2 == 2:
                    pos = 0
                    while pos < len(x):
                        val, pos = _varint(x, pos)
                        out.append(_int64(val))
                else:
                    out.append(_int64(x))
            return out
    return []


def _features(buf: bytes) -> dict:
    out = {}
    for num, _, entry in _fields(buf):
        if num != 1:
            continue
        key, value = None, b""
        for n2, _, x in _fields(entry):
            if n2 == 1:
                key = bytes(x).decode("utf-8")
            elif n2 == 2:
                value = x
        if key is not None:
            out[key] = parse_feature(value)
    return out


def parse_example(buf: bytes) -> dict:
    """``tf.train.Example`` -> ``{name: value}``."""
    for num, _, v in _fields(buf):
        if num == 1:
            return _features(v)
    return {}


def parse_sequence_example(buf: bytes) -> tuple[dict, dict]:
    """``tf.train.SequenceExample`` -> ``(context {name: value}, feature_lists {name: [value per step]})``."""
    context, lists = {}, {}
    for num, _, v in _fields(buf):
        if num == 1:
            context = _features(v)
        elif num == 2:
            for n2, _, entry in _fields(v):
                if n2 != 1:
                    continue
                key, steps = None, []
                for n3, _, x in _fields(entry):
                    if n3 == 1:
                        key = bytes(x).decode("utf-8")
                    elif n3 == 2:
                        steps = [parse_feature(f) for n4, _, f in _fields(x) if n4 == 1]
                if key is not None:
                    lists[key] = steps
    return context, lists


def _is_sequence(buf: bytes) -> bool:
    return any(num == 2 for num, _, _ in _fields(buf))


# -- encoding (fixtures, small exports) ------------------------------------------------
def _enc_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _enc_field(num: int, payload: bytes) -> bytes:
    return _enc_varint(num << 3 | 2) + _enc_varint(len(payload)) + payload


def encode_feature(value) -> bytes:
    """bytes / list of bytes -> BytesList; floats (ndarray float) -> FloatList; ints -> Int64List."""
    if isinstance(value, (bytes, str)):
        value = [value]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        inner = _enc_field(1, value.astype("<f4").tobytes())
        return _enc_field(2, inner)
    value = list(value)
    if value and isinstance(value[0], (bytes, str)):
        inner = b"".join(_enc_field(1, v.encode() if isinstance(v, str) else v) for v in value)
        return _enc_field(1, inner)
    if value and isinstance(value[0], float):
        return _enc_field(2, _enc_field(1, np.asarray(value, "<f4").tobytes()))
    inner = _enc_field(1, b"".join(_enc_varint(int(v)) for v in value))
    return _enc_field(3, inner)


def _enc_features(feats: dict) -> bytes:
    return b"".join(_enc_field(1, _enc_field(1, k.encode()) + _enc_field(2, encode_feature(v))) for k, v in feats.items())


def encode_example(features: dict) -> bytes:
    return _enc_field(1, _enc_features(features))


def encode_sequence_example(context: dict, feature_lists: dict) -> bytes:
    lists = b"".join(
        _enc_field(1, _enc_field(1, k.encode()) + _enc_field(2, b"".join(_enc_field(1, encode_feature(s)) for s in steps)))
        for k, steps in feature_lists.items()
    )
    return _enc_field(1, _enc_features(context)) + _enc_field(2, lists)


# ----------------------------------------------------------------------------------
def dequantize(x: np.ndarray, max_quantized_value: float = 2.0, min_quantized_value: float = -2.0) -> np.ndarray:
    """uint8 quantized features -> float32 (the YouTube-8M starter code's mapping)."""
    rng = max_quantized_value - min_quantized_value
    return (np.asarray(x, np.float32) * (rng / 255.0) + (rng / 512.0 + min_quantized_value)).astype(np.float32)


@dataclass
class YT8MVideo:
    """One video's record. Frame-level: ``rgb (T, 1024)`` / ``audio (T, 128)`` uint8.
    Video-level: ``mean_rgb (1024,)`` / ``mean_audio (128,)`` float32."""

    id: str
    labels: list[int]
    rgb: np.ndarray | None = None
    audio: np.ndarray | None = None
    mean_rgb: np.ndarray | None = None
    mean_audio: np.ndarray | None = None
    segment_labels: list[int] = field(default_factory=list)
    segment_start_times: list[int] = field(default_factory=list)
    segment_scores: list[float] = field(default_factory=list)

    @property
    def frame_level(self) -> bool:
        return self.rgb is not None


def _steps(steps: list, dim: int, where: str) -> np.ndarray:
    if not steps:
        return np.zeros((0, dim), np.uint8)
    rows = []
    for t, s in enumerate(steps):
        b = s[0] if isinstance(s, list) and s else b""
        if len(b) != dim:
            raise DataError(f"{where}: frame {t} has {len(b)} bytes, expected {dim}")
        rows.append(np.frombuffer(b, np.uint8))
    return np.stack(rows)


def parse_video(buf: bytes, where: str = "record") -> YT8MVideo:
    try:
        if _is_sequence(buf):
            ctx, lists = parse_sequence_example(buf)
            seq = True
        else:
            ctx, lists, seq = parse_example(buf), {}, False
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{where}: not a tf.train.Example/SequenceExample ({e})") from None
    vid = ctx.get("id", [b""])
    vid = vid[0].decode("utf-8", "replace") if vid and isinstance(vid[0], bytes) else ""
    v = YT8MVideo(vid, [int(x) for x in ctx.get("labels", [])])
    if seq:
        v.rgb = _steps(lists.get("rgb", []), RGB_DIM, f"{where} ({vid}) rgb")
        v.audio = _steps(lists.get("audio", []), AUDIO_DIM, f"{where} ({vid}) audio")
    else:
        if "mean_rgb" in ctx:
            v.mean_rgb = np.asarray(ctx["mean_rgb"], np.float32)
        if "mean_audio" in ctx:
            v.mean_audio = np.asarray(ctx["mean_audio"], np.float32)
    v.segment_labels = [int(x) for x in ctx.get("segment_labels", [])]
    v.segment_start_times = [int(x) for x in ctx.get("segment_start_times", [])]
    v.segment_scores = [float(x) for x in ctx.get("segment_scores", [])]
    if not len(v.segment_labels) == len(v.segment_start_times) == len(v.segment_scores):
        raise DataError(f"{where} ({vid}): segment_labels/start_times/scores differ in length")
    return v


def read_videos(paths: str | os.PathLike | Iterable, *, verify: bool = False) -> Iterator[YT8MVideo]:
    """Every video record of the given TFRecord files (a path, a glob or a list)."""
    for p in _expand(paths):
        for k, buf in enumerate(read_tfrecord(p, verify=verify)):
            yield parse_video(buf, f"{p}: record {k}")


def _expand(paths) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        p = str(paths)
        if os.path.isdir(p):
            return sorted(glob.glob(os.path.join(p, "*.tfrecord")))
        return sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else [p]
    return [str(x) for x in paths]


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """``vocabulary.csv`` -> names by ``Index`` (gaps named by their index)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "Index" not in reader.fieldnames:
            raise DataError(f"{path}:1: expected a header with Index,...,Name")
        names = {}
        for row in reader:
            try:
                names[int(row["Index"])] = (row.get("Name") or "").strip() or row["Index"]
            except ValueError:
                raise DataError(f"{path}:{reader.line_num}: Index must be an integer") from None
    n = max(max(names, default=-1) + 1, 0)
    return [names.get(i, str(i)) for i in range(n)]


# ----------------------------------------------------------------------------------
class YouTube8MVideos(Dataset):
    """Video-level features: ``(concat(mean_rgb, mean_audio) (1152,), multi-hot (C,), index)``."""

    def __init__(self, paths, num_classes: int = NUM_CLASSES):
        self.videos = [v for v in read_videos(paths) if v.mean_rgb is not None or v.rgb is not None]
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int):
        v = self.videos[index]
        if v.mean_rgb is not None:
            x = np.concatenate([v.mean_rgb, v.mean_audio if v.mean_audio is not None else np.zeros(AUDIO_DIM, np.float32)])
        else:  # frame-level file: average the dequantized frames
            x = np.concatenate([dequantize(v.rgb).mean(0), dequantize(v.audio).mean(0)])
        y = torch.zeros(self.num_classes)
        for c in v.labels:
            if 0 <= c < self.num_classes:
                y[c] = 1.0
        return torch.from_numpy(x), y, index


class YouTube8MSegments(Dataset):
    """Rated 5-second segments of the frame-level 2019 files:
    ``(features (5, 1152) float, class, score (1 positive / 0 negative), index)``;
    frames past the video's end are zero."""

    def __init__(self, paths, segment_seconds: int = SEGMENT_SECONDS):
        self.items: list[tuple[int, int, int, float]] = []
        self.videos: list[YT8MVideo] = []
        for v in read_videos(paths):
            if not v.frame_level:
                raise DataError(f"video {v.id}: segment datasets need frame-level files")
            for c, t, s in zip(v.segment_labels, v.segment_start_times, v.segment_scores):
                self.items.append((len(self.videos), c, t, s))
            self.videos.append(v)
        self.segment_seconds = segment_seconds

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        vi, c, t, s = self.items[index]
        v = self.videos[vi]
        n = self.segment_seconds
        x = np.zeros((n, RGB_DIM + AUDIO_DIM), np.float32)
        rgb, audio = v.rgb[t:t + n], v.audio[t:t + n]
        x[: len(rgb), :RGB_DIM] = dequantize(rgb)
        x[: len(audio), RGB_DIM:] = dequantize(audio)
        return torch.from_numpy(x), c, float(s), index


# ----------------------------------------------------------------------------------
def load(path: Path, split: int = 1) -> DatasetIndex:
    """Counts for ``vidlab data stats``: one record per video (path ``file#k``)."""
    files = _expand(path)
    if not files:
        raise DataError(f"{path}: no .tfrecord files here")
    folder = path if path.is_dir() else path.parent
    vocab = folder / "vocabulary.csv"
    classes = read_vocabulary(vocab) if vocab.is_file() else [str(i) for i in range(NUM_CLASSES)]
    splits: dict[str, list[VideoRecord]] = {"train": [], "val": [], "test": []}
    rated = positive = frames = 0
    for f in files:
        name = os.path.basename(f).lower()
        s = "train" if name.startswith("train") else "test" if name.startswith("test") else "val"
        for k, buf in enumerate(read_tfrecord(f)):
            v = parse_video(buf, f"{f}: record {k}")
            label = tuple(v.labels) if len(v.labels) != 1 else v.labels[0]
            splits[s].append(VideoRecord(f"{f}#{k}", label if v.labels else -1, video_id=v.id))
            rated += len(v.segment_labels)
            positive += sum(1 for x in v.segment_scores if x > 0)
            frames += 0 if v.rgb is None else len(v.rgb)
    stats = {"rated_segments": rated, "positive_segments": positive, "frames": frames, "files": len(files)}
    return DatasetIndex("youtube8m", classes, splits, multi_label=True, stats=stats,
                        sources=[str(f) for f in files] + ([str(vocab)] if vocab.is_file() else []))
