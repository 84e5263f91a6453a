"""The dataset-format registry and the annotation index every format returns.

A *format* turns the field's official annotation files into a
:class:`DatasetIndex`: the class names, and per split (``train``/``val``/
``test``) a list of :class:`~vidlab.data.datasets.video_list.VideoRecord`
whose ``path`` is the video's place in the format's canonical layout,
relative to the dataset root. :func:`locate` then finds the files under a
root (exact path first, then by file stem in any folder, with any video
extension), so renamed extensions (``.avi`` re-encoded to ``.mp4``) and flat
or class-folder layouts all work. :func:`build_dataset` turns a split into a
:class:`~vidlab.data.datasets.video_list.VideoListDataset` (optionally
wrapped in :class:`~vidlab.data.datasets.robust.RobustDataset`).

Formats are looked up by name (``vidlab data stats --format NAME``)::

    index = load_index("ucf101", "ucfTrainTestlist/", split=1)
    index.summary()          # {"classes": 101, "train": 9537, "val": 0, "test": 3783, ...}
    index, missing = locate(index, "/data/UCF-101")
    ds = build_dataset(index, "train", num_frames=8, sampling_rate=8, transform=tf)

Every loader raises :class:`~vidlab.errors.DataError` naming the file (and the
line) for malformed input.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from vidlab.data.datasets.protocol import TrainDataset
from vidlab.data.datasets.video_list import VideoRecord, read_video_list
from vidlab.errors import DataError

__all__ = [
    "SPLITS",
    "VIDEO_EXTENSIONS",
    "DatasetIndex",
    "FileIndex",
    "FormatSpec",
    "SnippetOptions",
    "build_dataset",
    "dataset_classes",
    "get_format",
    "list_formats",
    "load_index",
    "locate",
    "make_dataset",
    "read_labels_file",
]

SPLITS = ("train", "val", "test")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".flv", ".mpg", ".mpeg", ".gif", ".3gp",
                    ".ogv", ".wmv", ".ts")


# ----------------------------------------------------------------------------------
@dataclass
class DatasetIndex:
    """What a format's annotation files say: classes, and records per split.

    ``stats`` holds format-specific counts (HMDB51's unused clips, KTH's
    videos and segments, Charades' action instances, ...); ``sources`` the
    files read. ``multi_label`` marks datasets whose labels are tuples of
    class indices (Charades, Sports-1M, multi-label lists). A label of ``-1``
    means "no label" (Kinetics/SSv2 test sets).
    """

    format: str
    classes: list[str]
    splits: dict[str, list[VideoRecord]]
    multi_label: bool = False
    split: int = 1
    stats: dict = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    default_root: str | None = None  # where relative paths point when no root is given

    def records(self, split: str) -> list[VideoRecord]:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return list(self.splits.get(split, []))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> dict:
        """``{"format", "split", "classes", "train", "val", "test", ...stats}`` (plain JSON values)."""
        out = {"format": self.format, "split": self.split, "classes": len(self.classes)}
        for s in SPLITS:
            out[s] = len(self.splits.get(s, []))
        out.update(self.stats)
        out["multi_label"] = self.multi_label
        out["annotations"] = list(self.sources)
        return out

    def videos(self, splits: Iterable[str] = SPLITS) -> dict[str, list[VideoRecord]]:
        """Records grouped by video file (several segments of one video share a key)."""
        out: dict[str, list[VideoRecord]] = {}
        for s in splits:
            for r in self.splits.get(s, []):
                out.setdefault(r.path, []).append(r)
        return out

    def replace(self, **changes) -> "DatasetIndex":
        return dataclasses.replace(self, **changes)

    def subset(self, classes: Sequence[str]) -> "DatasetIndex":
        """Keep only ``classes`` (in that order), relabelling records 0..len-1."""
        pos = {c: i for i, c in enumerate(classes)}
        missing = [c for c in classes if c not in self.classes]
        if missing:
            raise DataError(f"{self.format}: unknown classes {missing}")
        remap = {self.classes.index(c): pos[c] for c in classes}
        splits = {}
        for s, recs in self.splits.items():
            kept = []
            for r in recs:
                labels = r.label if isinstance(r.label, tuple) else (r.label,)
                new = tuple(remap[c] for c in labels if c in remap)
                if not new:
                    continue
                label = new if isinstance(r.label, tuple) else new[0]
                ivs = tuple((remap[c], a, b) for c, a, b in r.intervals if c in remap)
                kept.append(dataclasses.replace(r, label=label, intervals=ivs))
            splits[s] = kept
        return self.replace(classes=list(classes), splits=splits)


# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FormatSpec:
    """One registered format: where its loader lives and how its data is laid out."""

    name: str
    loader: str  # "module:function"; called as fn(annotations: Path, split=N, **options)
    title: str
    annotations: str  # the official files the loader reads
    layout: str  # expected directory layout under --root
    prepare: str = ""  # the `vidlab data prepare` command for it
    options: dict = field(default_factory=dict)
    aliases: tuple = ()
    has_videos: bool = True  # False for feature-only datasets (YouTube-8M)
    splits: int = 1  # how many official splits/folds (--split 1..N)

    def load(self, annotations: str | os.PathLike, split: int = 1) -> DatasetIndex:
        module, fn = self.loader.split(":")
        func: Callable[..., DatasetIndex] = getattr(importlib.import_module(module), fn)
        path = Path(annotations)
        if not path.exists():
            raise DataError(f"{path}: annotation file or folder not found")
        if not 1 <= split <= self.splits:
            raise DataError(f"{self.name}: split must be in 1..{self.splits}, got {split}")
        index = func(path, split=split, **self.options)
        index.format = self.name
        index.split = split
        return index


_M = "vidlab.data.datasets."
_FORMATS: dict[str, FormatSpec] = {}
_ALIASES: dict[str, str] = {}


def _register(spec: FormatSpec) -> None:
    _FORMATS[spec.name] = spec
    for a in spec.aliases:
        _ALIASES[a] = spec.name


_register(FormatSpec(
    "video_list", _M + "registry:load_video_list", "video list (MMAction2 `path label...`, multi-label allowed)",
    "a list file `path label [label...]` (or a folder with train/val/test lists and classes.txt)",
    "videos where the list's relative paths point (default: the list's folder)",
    "vidlab data prepare --format video_list --annotations train.csv --root DIR --out OUT",
    aliases=("list", "multilabel_list")))
_register(FormatSpec(
    "folder", _M + "registry:load_folder", "class folders (`root/{class}/{video}`, optional train/val/test level)",
    "none (the folder names are the labels)", "`{class}/{video}.*` or `{train,val,test}/{class}/{video}.*`",
    "vidlab data prepare --format folder --root DIR --out OUT"))
_register(FormatSpec(
    "kth", _M + "kth:load", "KTH actions (6 classes, 25 persons)",
    "`00sequences.txt` (frame ranges of the 4 repetitions per video)",
    "`{action}/person{NN}_{action}_d{S}_uncomp.avi` (the per-action zips unpacked; flat also works)",
    "vidlab data prepare --format kth --annotations 00sequences.txt --root KTH --out KTH_small --short-side 120",
    aliases=("kth_actions",)))
_register(FormatSpec(
    "weizmann", _M + "weizmann:load", "Weizmann actions (10 classes, 9 persons; leave-one-person-out)",
    "none (file names `{person}_{action}.avi` are the labels)",
    "`{action}/{person}_{action}.avi` or flat", "vidlab data prepare --format weizmann --annotations DIR --root DIR --out OUT",
    splits=9))
_register(FormatSpec(
    "ucf101", _M + "ucf101:load", "UCF-101 (101 classes, 3 splits)",
    "`classInd.txt`, `trainlist0{1,2,3}.txt`, `testlist0{1,2,3}.txt` (ucfTrainTestlist)",
    "`{Class}/v_{Class}_gNN_cNN.avi` (UCF-101.rar unpacked)",
    "vidlab data prepare --format ucf101 --annotations ucfTrainTestlist --root UCF-101 --out ucf101_256 --short-side 256",
    splits=3, aliases=("ucf-101", "ucf")))
_register(FormatSpec(
    "hmdb51", _M + "hmdb51:load", "HMDB-51 (51 classes, 3 splits; 1=train 2=test 0=unused)",
    "`testTrainMulti_7030_splits/{class}_test_split{1,2,3}.txt`",
    "`{class}/{video}.avi` (each class .rar unpacked)",
    "vidlab data prepare --format hmdb51 --annotations testTrainMulti_7030_splits --root hmdb51 --out hmdb51_256 --short-side 256",
    splits=3, aliases=("hmdb-51", "hmdb")))
for _v in (400, 600, 700):
    _register(FormatSpec(
        f"kinetics{_v}", _M + "kinetics:load", f"Kinetics-{_v}",
        f"`kinetics-{_v}_{{train,val,test}}.csv` (or train.csv/validate.csv/test.csv): "
        "label,youtube_id,time_start,time_end,split",
        "`{label}/{youtube_id}_{start:06d}_{end:06d}.mp4` (trimmed; label folders with spaces or underscores; "
        "flat works) or untrimmed `{youtube_id}.mp4` (the segment is read from the csv)",
        f"vidlab data prepare --format kinetics{_v} --annotations k{_v}/ --root raw --out k{_v}_320 --trim --short-side 320",
        options={"version": _v}, aliases=(f"k{_v}", f"kinetics-{_v}", f"kinetics_{_v}")))
_register(FormatSpec(
    "kinetics", _M + "kinetics:load", "Kinetics (version from the files)", "as kinetics400/600/700", "as kinetics400",
    "vidlab data prepare --format kinetics ..."))
_register(FormatSpec(
    "ssv2", _M + "ssv2:load", "Something-Something v2 (174 classes)",
    "`something-something-v2-{labels,train,validation,test}.json` (or a 174-line label map)",
    "`{id}.webm` (the 20bn-something-something-v2 archive unpacked, flat)",
    "vidlab data prepare --format ssv2 --annotations labels/ --root 20bn-something-something-v2 --out ssv2_256 --short-side 256",
    aliases=("sthv2", "something-something-v2", "sth-sth-v2")))
_register(FormatSpec(
    "charades", _M + "charades:load", "Charades (157 classes, multi-label; mAP)",
    "`Charades_v1_classes.txt`, `Charades_v1_train.csv`, `Charades_v1_test.csv`",
    "`{id}.mp4` (Charades_v1_480, flat)",
    "vidlab data prepare --format charades --annotations Charades/ --root Charades_v1_480 --out charades_rawframes --rawframes"))
_register(FormatSpec(
    "activitynet", _M + "activitynet:load", "ActivityNet v1.3 (200 classes, untrimmed; segments as clips)",
    "`activity_net.v1-3.min.json`",
    "untrimmed `v_{youtube_id}.mp4` (segments read from the json) or trimmed "
    "`{label}/v_{id}_{start_ms:07d}_{end_ms:07d}.mp4` (`prepare --trim`)",
    "vidlab data prepare --format activitynet --annotations activity_net.v1-3.min.json --root videos --out anet_clips --trim --short-side 256",
    aliases=("anet", "activitynet13", "activitynet1.3")))
_register(FormatSpec(
    "sports1m", _M + "sports1m:load", "Sports-1M (487 classes; some videos multi-label)",
    "`labels.txt` + `train_partition.txt`/`test_partition.txt` (`URL label[,label...]`)",
    "`{youtube_id}.mp4` (flat or in any sub-folder)",
    "vidlab data prepare --format sports1m --annotations sports-1m-dataset/original --root videos --out s1m_128 --short-side 128",
    aliases=("sports-1m",)))
_register(FormatSpec(
    "youtube8m", _M + "youtube8m:load", "YouTube-8M (features only; video-level and segment-rated frame-level TFRecords)",
    "`{train,validate,test}*.tfrecord` (+ `vocabulary.csv`)", "features only: no videos",
    "(none: YouTube-8M ships features, not videos)", has_videos=False, aliases=("yt8m", "youtube-8m")))
_register(FormatSpec(
    "ava", _M + "ava:load", "AVA v2.x (spatio-temporal detection: 80 actions, 60 evaluated; keyframes 902..1798)",
    "`ava_{train,val}_v2.{1,2}.csv` + `ava_action_list_v2.{1,2}_for_activitynet_2018.pbtxt` "
    "(or a folder with train/val/test.csv + a label map, e.g. the synthetic set's annotations/)",
    "`{video_id}.{mp4,mkv,webm}` (the 15-minute cuts: frame 0 = second 900) or PySlowFast frame lists",
    "vidlab detect-data --out synth_ava   (AVA itself: download with the official scripts)",
    aliases=("ava2.1", "ava2.2", "ava_v2.2")))


def get_format(name: str) -> FormatSpec:
    key = name.lower().strip()
    key = _ALIASES.get(key, key)
    if key not in _FORMATS:
        raise DataError(f"unknown dataset format {name!r}; choose one of {', '.join(list_formats())}")
    return _FORMATS[key]


def list_formats() -> list[str]:
    return list(_FORMATS)


def load_index(format: str, annotations: str | os.PathLike, *, split: int = 1) -> DatasetIndex:
    """Parse a format's annotation files (a file or the folder holding them)."""
    return get_format(format).load(annotations, split=split)


# ----------------------------------------------------------------------------------
class FileIndex:
    """Every file under ``root``, walked once: exact relative paths, and video files by stem."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: video root folder not found")
        self.paths: set[str] = set()
        self.stems: dict[str, list[str]] = defaultdict(list)
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in filenames:
                if name.startswith("."):
                    continue  # hidden files, and our own partial outputs
                rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                self.paths.add(rel)
                stem, ext = os.path.splitext(name)
                if ext.lower() in VIDEO_EXTENSIONS:
                    self.stems[stem].append(rel)

    def find(self, rel: str, stem: str | None = None) -> str | None:
        """Absolute path of the file for canonical path ``rel`` (or its ``stem``), else None."""
        rel = rel.replace(os.sep, "/")
        if rel in self.paths:
            return str(self.root / rel)
        stem = stem if stem is not None else os.path.splitext(os.path.basename(rel))[0]
        cands = self.stems.get(stem)
        if not cands:
            return None
        if len(cands) > 1:
            parent = _norm(os.path.basename(os.path.dirname(rel)))
            same = [c for c in cands if _norm(os.path.basename(os.path.dirname(c))) == parent]
            cands = sorted(same or cands)
        return str(self.root / cands[0])


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def locate(index: DatasetIndex, root: str | os.PathLike | None, *, splits: Iterable[str] = SPLITS,
           files: FileIndex | None = None) -> tuple[DatasetIndex, list[VideoRecord]]:
    """Find every record's video under ``root``.

    Returns the index restricted to the records whose video exists (with
    absolute paths) and the records whose video is missing. A format module
    may define ``alternatives(record) -> [(stem, changes), ...]``: other file
    stems that hold the same clip (Kinetics/ActivityNet: the untrimmed video,
    with the segment to read from it), tried after the canonical name.
    With ``root=None`` the index's ``default_root`` is used (the list's
    folder for video lists), else the paths are taken as they are.
    """
    splits = [s for s in splits if s in index.splits]
    if root is None:
        root = index.default_root
    spec = _FORMATS.get(index.format)
    alternatives = None
    if spec is not None:
        module = importlib.import_module(spec.loader.split(":")[0])
        alternatives = getattr(module, "alternatives", None)
    if root is None:
        found_splits, missing = {}, []
        for s in splits:
            kept = []
            for r in index.splits[s]:
                (kept if os.path.isfile(r.path) else missing).append(r)
            found_splits[s] = kept
        return index.replace(splits=found_splits), missing
    files = files or FileIndex(root)
    cache: dict[str, tuple[str | None, dict]] = {}
    found_splits, missing = {}, []
    for s in splits:
        kept = []
        for r in index.splits[s]:
            key = r.path
            if key not in cache:
                if os.path.isabs(r.path):
                    hit, changes = (r.path if os.path.isfile(r.path) else None), {}
                else:
                    hit, changes = files.find(r.path), {}
                if hit is None and alternatives is not None:
                    for stem, ch in alternatives(r):
                        hit = files.find(stem, stem=stem)
                        if hit is not None:
                            changes = ch
                            break
                cache[key] = (hit, changes)
            hit, changes = cache[key]
            if hit is None:
                missing.append(r)
            else:
                kept.append(dataclasses.replace(r, path=hit, **changes))
        found_splits[s] = kept
    return index.replace(splits=found_splits), missing


def presence(index: DatasetIndex, root: str | os.PathLike | None, splits: Iterable[str] = SPLITS) -> dict:
    """``{"present": n, "missing": n}`` over distinct videos (and per split)."""
    splits = list(splits)
    found, missing = locate(index, root, splits=splits)
    vid = lambda r: r.video_id or r.path  # noqa: E731
    present_ids = {vid(r) for s in found.splits for r in found.splits[s]}
    missing_ids = {vid(r) for r in missing} - present_ids
    out = {"present": len(present_ids), "missing": len(missing_ids)}
    for s in splits:
        if index.splits.get(s):
            out[f"{s}_present"] = len(found.splits.get(s, []))
            out[f"{s}_missing"] = len(index.splits[s]) - len(found.splits.get(s, []))
    return out


# ----------------------------------------------------------------------------------
def build_dataset(index: DatasetIndex, split: str, *, root: str | os.PathLike | None = None, robust: bool | None = None,
                  robust_options: dict | None = None, **dataset_kwargs):
    """A :class:`VideoListDataset` over one split (``mode`` defaults to train for
    ``train``, test otherwise; multi-label datasets get multi-hot targets).

    The videos are located first (under ``root``, else the index's default
    root) and missing ones are left out: ``dataset.missing`` lists them, and
    the robust wrapper counts them as bad files. ``robust`` (default: on for training)
    wraps it in :class:`~vidlab.data.datasets.robust.RobustDataset` so a
    corrupt or too-short video is replaced by another clip and reported.
    """
    from vidlab.data.datasets.video_list import VideoListDataset

    if not index.splits.get(split):
        raise DataError(f"{index.format}: split {split!r} has no records")
    missing: list[VideoRecord] = []
    if root is not None or index.default_root is not None:
        index, missing = locate(index, root, splits=[split])
    records = [r for r in index.splits[split]]
    unlabelled = [r for r in records if r.label == -1]
    if unlabelled:
        raise DataError(f"{index.format}: {len(unlabelled)} {split} records have no label "
                        f"(e.g. {unlabelled[0].video_id or unlabelled[0].path}); they cannot be trained or scored")
    if not records:
        raise DataError(f"{index.format}: none of the {len(missing)} {split} videos were found under {root}")
    mode = dataset_kwargs.pop("mode", "train" if split == "train" else "test")
    if index.multi_label:
        dataset_kwargs.setdefault("multi_label", True)
        dataset_kwargs.setdefault("num_classes", index.num_classes)
    ds = VideoListDataset(records, mode=mode, **dataset_kwargs)
    ds.missing = missing
    ds.classes = list(index.classes)
    if robust is None:
        robust = mode == "train"
    if robust:
        from vidlab.data.datasets.robust import RobustDataset

        ds = RobustDataset(ds, **(robust_options or {}))
    return ds


# ----------------------------------------------------------------------------------
# what the engine calls (Trainer.dataset), with plain arguments
_INDEX_CACHE: dict = {}


def cached_index(format: str, annotations: str | os.PathLike, fold: int = 1) -> DatasetIndex:
    """:func:`load_index`, keeping the last index read (the trainer asks for each split in turn)."""
    key = (get_format(format).name, os.path.abspath(annotations), int(fold or 1))
    if key not in _INDEX_CACHE:
        _INDEX_CACHE.clear()  # one dataset at a time is plenty
        _INDEX_CACHE[key] = load_index(format, str(annotations), split=int(fold or 1))
    return _INDEX_CACHE[key]


def has_split(format: str, annotations: str | os.PathLike | None, split: str, fold: int = 1) -> bool:
    """Whether a benchmark format's annotations hold ``split`` (video lists: never; they name their lists)."""
    if get_format(format).name == "video_list" or not annotations:
        return False
    return bool(cached_index(format, annotations, fold).splits.get(split))


def dataset_classes(format: str, annotations: str | os.PathLike | None, fold: int = 1) -> list[str] | None:
    """Class names of a benchmark format's annotations (None for video lists: they come from data.labels)."""
    if get_format(format).name == "video_list" or not annotations:
        return None
    return list(cached_index(format, annotations, fold).classes)


@dataclass(frozen=True)
class SnippetOptions:
    """TSN / two-stream samples instead of clips (see
    :class:`~vidlab.data.datasets.flow_clips.SnippetDataset`, whose arguments these are)."""

    modality: str  # rgb | flow | rgb_diff | rgb+flow
    num_segments: int = 3
    test_segments: int | None = None
    new_length: int | None = None
    rgb_length: int = 1
    flow_method: str = "farneback"  # flow computed on the fly when the list names videos
    flow_scale: float = 20.0
    out_of_bound: str = "error"


def make_dataset(split: str, *, num_classes: int, num_frames: int, sampling_rate: int, crop_size: int,
                 mean: Sequence[float], std: Sequence[float], format: str = "video_list",
                 list_file: str | os.PathLike | None = None, annotations: str | os.PathLike | None = None,
                 fold: int = 1, root: str | os.PathLike | None = None, train_scale: Sequence[int] = (256, 320),
                 test_scale: int | None = None, flip: float = 0.5, test_views: int = 1, test_crops: int = 1,
                 target_fps: float | None = None, backend: str = "pyav", min_frames: int | None = None,
                 cache_bytes: int | None = None, snippets: SnippetOptions | None = None, robust: bool = True,
                 seed: int = 0, log_dir: str | os.PathLike | None = None, rand_augment: str | None = None,
                 random_erasing: float = 0.0, random_erasing_mode: str = "pixel") -> TrainDataset:
    """The ``split`` (train/val/test) dataset of any format, as ``Trainer.dataset(split)`` needs it.

    ``format="video_list"``: ``list_file`` is the split's list (paths resolved against
    ``root``, default the list's folder). Other formats: ``annotations`` (default
    ``list_file``) is the official annotation file/folder, ``fold`` the official split,
    the videos are under ``root``. Training clips are ``num_frames`` every
    ``sampling_rate`` frames (at ``target_fps`` if given), short side jittered in
    ``train_scale``, a ``crop_size`` crop, flipped with probability ``flip``;
    evaluation takes ``test_views`` temporal views x ``test_crops`` crops (``val``: one
    crop) at short side ``test_scale``. ``snippets`` makes TSN / two-stream samples
    from a rawframes or video list (``list_file``) instead.

    ``cache_bytes`` gives the dataset a
    :class:`~vidlab.data.datasets.video_list.FrameCache` of that many bytes (each video
    decoded once, its frames kept in RAM). A video, or a record's segment, with fewer
    than ``min_frames`` frames (default: ``num_frames``; 0 or 1: any decodable video)
    counts as too short. Unless ``robust`` is false, ``train`` is wrapped in
    :class:`~vidlab.data.datasets.robust.RobustDataset` (substitute), ``val``/``test``
    too with the placeholder policy (a bad video gives an all-zero item with index -1:
    drop those rows; snippet evaluation is not wrapped). ``log_dir`` keeps the
    bad-file log (default: a temporary folder). ``rand_augment`` (a RandAugment policy string)
    and ``random_erasing`` (a probability, ``random_erasing_mode`` pixel | rand | const) augment
    training clips (:class:`~vidlab.data.transforms.ClipTransform`); not for ``snippets``.
    """
    from vidlab.data.datasets.robust import RobustDataset
    from vidlab.data.datasets.video_list import VideoListDataset
    from vidlab.data.transforms import ClipTransform

    train = split == "train"
    augment = {}
    if train and (rand_augment or random_erasing):
        if snippets is not None:
            raise DataError("data.rand_augment / data.random_erasing augment clip datasets, not data.modality snippets")
        augment = {"rand_augment": rand_augment or None, "random_erasing": float(random_erasing),
                   "erasing_mode": random_erasing_mode}
        try:
            ClipTransform(train=True, **augment)  # a bad policy string: one clear error here
        except ValueError as e:
            raise DataError(f"data augmentation: {e}") from None
    if snippets is not None:
        return _snippet_dataset(split, snippets, list_file=list_file, root=root, crop_size=crop_size,
                                train_scale=train_scale, test_scale=test_scale, flip=flip, test_crops=test_crops,
                                mean=mean, std=std, backend=backend, robust=robust, seed=seed, log_dir=log_dir)
    tf = ClipTransform(train=train, crop_size=crop_size, min_scale=train_scale[0], max_scale=train_scale[1],
                       test_scale=test_scale, flip=flip, mean=tuple(mean), std=tuple(std),
                       spatial_crops=1 if split == "val" else test_crops, **augment)
    kwargs = dict(mode="train" if train else "test", num_frames=num_frames, sampling_rate=sampling_rate, transform=tf,
                  target_fps=target_fps, num_views=1 if split == "val" else test_views, seed=seed,
                  backend=backend, min_frames=_min_frames(min_frames, num_frames), cache_bytes=cache_bytes)
    if get_format(format).name == "video_list":
        if not list_file:
            raise DataError(f"data.{split} is not set")
        records = read_video_list(list_file, root)
        bad = [r for r in records if any(c < 0 or c >= num_classes for c in _labels(r))]
        if bad:
            raise DataError(f"{list_file}: label {bad[0].label} of {bad[0].path} outside [0, {num_classes})")
        multi = any(isinstance(r.label, tuple) for r in records)
        ds = VideoListDataset(records, multi_label=multi, num_classes=num_classes if multi else None, **kwargs)
        ds.missing = []
    else:
        ann = annotations or list_file
        if not ann:
            raise DataError(f"data.{split} is not set (for --format {format}: the annotation file or folder)")
        index = cached_index(format, str(ann), int(fold or 1))
        if index.num_classes != num_classes:
            raise DataError(f"{format}: the annotations have {index.num_classes} classes, the model {num_classes}")
        ds = build_dataset(index, split, root=root, robust=False, **kwargs)
    if not robust:
        return ds
    return RobustDataset(ds, policy="substitute" if train else "placeholder",
                         log_dir=None if log_dir is None else Path(log_dir) / split)


def _snippet_dataset(split: str, opts: SnippetOptions, *, list_file: str | os.PathLike | None,
                     root: str | os.PathLike | None, crop_size: int, train_scale: Sequence[int],
                     test_scale: int | None, flip: float, test_crops: int, mean: Sequence[float],
                     std: Sequence[float], backend: str, robust: bool, seed: int,
                     log_dir: str | os.PathLike | None) -> TrainDataset:
    """TSN / two-stream samples from a rawframes list (cached frames and flow) or a video
    list (flow computed on the fly)."""
    from vidlab.data.datasets.flow_clips import SnippetDataset, SnippetTransform, read_any_list
    from vidlab.data.datasets.robust import RobustDataset

    if not list_file:
        raise DataError(f"data.{split} is not set")
    train = split == "train"
    rgb_norm = {} if len(mean) != 3 else {"mean": tuple(mean), "std": tuple(std)}  # flow models: no RGB stats
    tf = SnippetTransform(train=train, crop_size=crop_size, min_scale=train_scale[0], max_scale=train_scale[1],
                          test_scale=test_scale, flip=flip, flow_scale=opts.flow_scale,
                          spatial_crops=1 if split == "val" else test_crops, **rgb_norm)
    try:
        ds = SnippetDataset(read_any_list(list_file, root), mode="train" if train else "test",
                            modality=opts.modality, transform=tf, num_segments=opts.num_segments,
                            new_length=opts.new_length, test_segments=opts.test_segments,
                            rgb_length=opts.rgb_length, estimator=opts.flow_method,
                            out_of_bound=opts.out_of_bound, seed=seed, backend=backend)
    except ValueError as e:
        raise DataError(f"data: {e}") from None
    if not train or not robust:
        return ds  # evaluation reads every video or stops with the error naming it
    return RobustDataset(ds, policy="substitute", log_dir=None if log_dir is None else Path(log_dir) / split)


def _min_frames(min_frames: int | None, num_frames: int) -> int:
    """``min_frames`` if set (0 or 1: any decodable video), else the clip's frame count."""
    return max(int(min_frames), 1) if min_frames is not None else int(num_frames)


# ----------------------------------------------------------------------------------
# the two generic formats
def read_labels_file(path: Path) -> list[str]:
    """:func:`vidlab.io.read_label_map`, with its errors as :class:`DataError`."""
    from vidlab.io import read_label_map

    try:
        return read_label_map(path)
    except (ValueError, OSError) as e:
        raise DataError(str(e)) from None


def _split_of(name: str) -> str | None:
    n = name.lower()
    if re.search(r"(^|[^a-z])(train|training)([^a-z]|$)", n):
        return "train"
    if re.search(r"(^|[^a-z])(val|valid|validate|validation)([^a-z]|$)", n):
        return "val"
    if re.search(r"(^|[^a-z])(test|testing)([^a-z]|$)", n):
        return "test"
    return None


def load_video_list(path: Path, split: int = 1) -> DatasetIndex:
    """A video list, or a folder holding ``{train,val,test}.{csv,txt}`` lists and ``classes.txt``."""
    if path.is_dir():
        lists = {}
        for p in sorted(path.iterdir()):
            s = _split_of(p.stem)
            if p.suffix.lower() in (".csv", ".txt", ".lst", ".list") and s and s not in lists:
                lists[s] = p
        if not lists:
            raise DataError(f"{path}: no train/val/test video lists in this folder")
        folder = path
    else:
        lists = {_split_of(path.stem) or "train": path}
        folder = path.parent
    # paths stay relative to the list's folder (the default root), so --root can move them
    splits = {s: read_video_list(p, root="") for s, p in lists.items()}
    multi = any(isinstance(r.label, tuple) for recs in splits.values() for r in recs)
    labels_file = next((folder / n for n in ("classes.txt", "labels.txt", "label_map.txt", "classInd.txt")
                        if (folder / n).is_file()), None)
    top = max((c for recs in splits.values() for r in recs for c in _labels(r)), default=-1)
    if labels_file is not None:
        classes = read_labels_file(labels_file)
        if top >= len(classes):
            raise DataError(f"{labels_file}: {len(classes)} classes, but the lists use label {top}")
    else:
        classes = [str(i) for i in range(top + 1)]
    return DatasetIndex("video_list", classes, splits, multi_label=multi, default_root=str(folder),
                        sources=[str(p) for p in lists.values()] + ([str(labels_file)] if labels_file else []))


def _labels(r: VideoRecord) -> tuple[int, ...]:
    return r.label if isinstance(r.label, tuple) else (r.label,)


def load_folder(path: Path, split: int = 1) -> DatasetIndex:
    """``root/{class}/{video}`` (all in ``train``) or ``root/{train,val,test}/{class}/{video}``."""
    if not path.is_dir():
        raise DataError(f"{path}: the folder format needs a folder (root/{{class}}/{{video}})")
    subdirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    split_dirs = {_split_of(d.name): d for d in subdirs if d.name.lower() in
                  ("train", "training", "val", "valid", "validation", "test", "testing")}
    roots = split_dirs if split_dirs else {"train": path}
    classes = sorted({c.name for r in roots.values() for c in r.iterdir() if c.is_dir() and not c.name.startswith(".")})
    if not classes:
        raise DataError(f"{path}: no class folders found")
    pos = {c: i for i, c in enumerate(classes)}
    splits: dict[str, list[VideoRecord]] = {}
    for s, r in roots.items():
        recs = []
        for c in sorted(d for d in r.iterdir() if d.is_dir() and not d.name.startswith(".")):
            for f in sorted(c.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in VIDEO_EXTENSIONS:
                    recs.append(VideoRecord(str(f.relative_to(path)).replace(os.sep, "/"), pos[c.name], video_id=f.stem))
        splits[s] = recs
    return DatasetIndex("folder", classes, splits, sources=[str(path)], default_root=str(path))
