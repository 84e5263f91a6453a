"""Long-term feature banks (Wu et al., CVPR 2019), stored memory-mapped.

A bank holds one RoI feature per person box per second of every video, taken
from a trained baseline detector (stage 1). On disk (a folder)::

    features.f32   float32 rows (count, dim), row-major, no header: np.memmap
    boxes.f32      float32 rows (count, 4): the box of each row (normalised x1,y1,x2,y2)
    index.json     {"format": "vidlab-lfb", "version": 1, "dim", "count",
                    "videos": {video_id: {"<second>": [first_row, num_rows], ...}}, "source": {...}}

Rows of one video are contiguous and ordered by second, then by box, so the
rows of a second are ``first_row .. first_row + num_rows - 1``. Writing
appends row blocks to the files (the AVA bank is several GB: it never has to
fit in memory, and nothing is pickled); reading maps them with
``numpy.memmap``.

:meth:`FeatureBank.window_rows` gives the rows of the seconds ``t - N .. t + N``
of a video, in that order (at most ``max_per_second`` rows a second);
:meth:`FeatureBank.windows` pads a batch of windows into ``(B, L, dim)`` with
a mask, what :class:`~vidlab.models.lfb.LFBHead` takes.

Two-stage workflow (``vidlab lfb build`` / ``vidlab lfb train``):

1. train a baseline detector (``vidlab detect-train``);
2. :func:`build_bank`: run it over every keyframe of every split, store the
   per-box features;
3. :func:`train_lfb_head`: train ``[S, FBO(S, L)] -> actions`` where ``S`` is a
   box's short-term feature (its own bank row: the baseline's backbone is
   frozen, a simplification of the paper, which retrains the short-term
   model) and ``L`` the window of the bank around it; evaluate frame mAP.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidlab.errors import VidlabError

FORMAT = "vidlab-lfb"


class FeatureBank:
    """A memory-mapped feature bank (see the module docstring). ``FeatureBank.open(dir)`` to read,
    ``FeatureBank.create(dir, dim)`` + :meth:`append` + :meth:`close` to write."""

    def __init__(self, folder: str | os.PathLike, index: dict, mode: str):
        self.folder = Path(folder)
        self.index = index
        self.dim = int(index["dim"])
        self.mode = mode
        self._features = None
        self._boxes = None
        self._fh = None

    # -- writing ---------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | os.PathLike, dim: int, source: dict | None = None) -> FeatureBank:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        bank = cls(folder, {"format": FORMAT, "version": 1, "dim": int(dim), "count": 0, "videos": {},
                            "source": source or {}}, "w")
        # kept open until close(): rows are appended block by block
        bank._fh = (open(folder / "features.f32", "wb"), open(folder / "boxes.f32", "wb"))  # noqa: SIM115
        return bank

    def append(self, video_id: str, second: int, features: np.ndarray, boxes: np.ndarray | None = None) -> range:
        """Store the rows of one (video, second); seconds of a video must come in increasing order."""
        if self.mode != "w":
            raise VidlabError(f"{self.folder}: bank opened read-only")
        f = np.ascontiguousarray(features, dtype=np.float32).reshape(-1, self.dim)
        b = np.zeros((len(f), 4), np.float32) if boxes is None else np.ascontiguousarray(boxes, np.float32).reshape(-1, 4)
        secs = self.index["videos"].setdefault(video_id, {})
        key = str(int(second))
        if secs and int(second) <= max(int(s) for s in secs):
            raise VidlabError(f"bank: seconds of {video_id} must be appended in increasing order ({second})")
        start = self.index["count"]
        secs[key] = [start, len(f)]
        self._fh[0].write(f.tobytes())
        self._fh[1].write(b.tobytes())
        self.index["count"] = start + len(f)
        return range(start, start + len(f))

    def close(self) -> None:
        if self._fh is not None:
            for fh in self._fh:
                fh.close()
            self._fh = None
            tmp = self.folder / ".index.json.tmp"
            tmp.write_text(json.dumps(self.index) + "\n")
            os.replace(tmp, self.folder / "index.json")
            self.mode = "r"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- reading ---------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | os.PathLike) -> FeatureBank:
        folder = Path(folder)
        try:
            index = json.loads((folder / "index.json").read_text())
        except OSError:
            raise VidlabError(f"{folder}: not a feature bank (no index.json)") from None
        except ValueError as e:
            raise VidlabError(f"{folder}/index.json: unreadable ({e})") from None
        if index.get("format") != FORMAT:
            raise VidlabError(f"{folder}/index.json: not a vidlab feature bank")
        size = (folder / "features.f32").stat().st_size if (folder / "features.f32").exists() else -1
        if size != index["count"] * index["dim"] * 4:
            raise VidlabError(f"{folder}/features.f32: {size} bytes, the index says {index['count']} x "
                              f"{index['dim']} float32 (incomplete bank?)")
        return cls(folder, index, "r")

    @property
    def features(self) -> np.ndarray:
        if self._features is None:
            n = max(self.index["count"], 1)
            self._features = np.memmap(self.folder / "features.f32", np.float32, "r", shape=(n, self.dim)) \
                if self.index["count"] else np.zeros((0, self.dim), np.float32)
        return self._features

    @property
    def boxes(self) -> np.ndarray:
        if self._boxes is None:
            self._boxes = np.memmap(self.folder / "boxes.f32", np.float32, "r", shape=(self.index["count"], 4)) \
                if self.index["count"] else np.zeros((0, 4), np.float32)
        return self._boxes

    def __len__(self) -> int:
        return int(self.index["count"])

    def rows(self, video_id: str, second: int) -> range:
        """The rows of one second (empty if the bank has none)."""
        start, n = self.index["videos"].get(video_id, {}).get(str(int(second)), (0, 0))
        return range(start, start + n)

    def window_rows(self, video_id: str, second: int, half_width: int, max_per_second: int | None = None) -> np.ndarray:
        """Rows of seconds ``second - half_width .. second + half_width`` (in that order)."""
        out = []
        for s in range(int(second) - half_width, int(second) + half_width + 1):
            r = self.rows(video_id, s)
            out.extend(r if max_per_second is None else r[:max_per_second])
        return np.asarray(out, dtype=np.int64)

    def window(self, video_id: str, second: int, half_width: int, max_per_second: int | None = None) -> np.ndarray:
        return np.asarray(self.features[self.window_rows(video_id, second, half_width, max_per_second)])

    def windows(self, keys, half_width: int, max_per_second: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded windows for ``keys = [(video_id, second), ...]``: ``(B, L, dim)`` float and ``(B, L)`` mask."""
        rows = [self.window_rows(v, s, half_width, max_per_second) for v, s in keys]
        length = max([len(r) for r in rows] + [1])
        out = np.zeros((len(keys), length, self.dim), np.float32)
        mask = np.zeros((len(keys), length), bool)
        for i, r in enumerate(rows):
            out[i, :len(r)] = self.features[r]
            mask[i, :len(r)] = True
        return torch.from_numpy(out), torch.from_numpy(mask)


# ----------------------------------------------------------------------------------
# the two-stage workflow
def build_bank(checkpoint: str | os.PathLike, data_root: str | os.PathLike, out: str | os.PathLike, *,
               splits=("train", "val", "test"), proposals: bool = False, batch_size: int = 8,
               progress: bool = True) -> dict:
    """Stage 1 -> bank: the baseline's RoI feature of every box of every keyframe of ``splits``."""
    from vidlab import models
    from vidlab.detect.train import make_dataset, predict

    start = time.perf_counter()
    model = models.load(checkpoint)
    pre = model.meta["preprocessing"]
    per_video: dict[str, dict[int, list]] = {}
    for split in splits:
        try:
            ds = make_dataset(data_root, split, mode="test", num_frames=pre["num_frames"],
                              sampling_rate=pre["sampling_rate"], mean=pre["mean"], std=pre["std"],
                              proposals=proposals)
        except VidlabError as e:
            if "no keyframes" in str(e):
                continue
            raise
        for vid, sec, box, _, feat in predict(model, ds, batch_size=batch_size, progress=progress, features=True):
            per_video.setdefault(vid, {}).setdefault(int(sec), []).append((box, feat))
    if not per_video:
        raise VidlabError(f"{data_root}: no keyframes to put in the bank")
    dim = len(next(iter(next(iter(per_video.values())).values()))[0][1])
    with FeatureBank.create(out, dim, {"checkpoint": str(checkpoint), "data": str(data_root),
                                       "splits": list(splits), "boxes": "proposals" if proposals else "groundtruth"}) as bank:
        for vid in sorted(per_video):
            for sec in sorted(per_video[vid]):
                rows = per_video[vid][sec]
                bank.append(vid, sec, np.stack([f for _, f in rows]), np.stack([b for b, _ in rows]))
    return {"bank": str(out), "rows": bank.index["count"], "dim": dim, "videos": len(per_video),
            "seconds": time.perf_counter() - start}


def _bank_samples(bank: FeatureBank, data_root, split: str):
    """``(keys, short (N, D), labels (N, C), boxes)`` of a split's ground-truth boxes, from the bank rows."""
    from vidlab.detect.train import dataset_config

    cfg = dataset_config(data_root)
    ann = Path(cfg["annotations"])
    ds_full = _annotations_only(ann / f"{split}.csv", cfg)
    keys, short, labels, boxes = [], [], [], []
    for vid, sec, bxs, lbl, _ in ds_full.items:
        rows = bank.rows(vid, sec)
        if len(rows) != len(bxs):
            raise VidlabError(f"bank {bank.folder}: {len(rows)} rows for {vid} {sec}, the annotations have "
                              f"{len(bxs)} boxes (build the bank with ground-truth boxes)")
        for k, r in enumerate(rows):
            keys.append((vid, sec))
            short.append(bank.features[r])
            labels.append(lbl[k])
            boxes.append(bxs[k])
    return keys, torch.from_numpy(np.stack(short)), torch.from_numpy(np.stack(labels)), np.stack(boxes), ds_full


def _annotations_only(csv_path, cfg):
    from vidlab.data.datasets.ava import AvaDataset

    class _NoVideos(AvaDataset):
        @staticmethod
        def _find_videos(videos, video_ids):
            return {}

    return _NoVideos(csv_path, cfg["labelmap"], cfg["videos"], mode="test", fps=cfg["fps"],
                     start_second=cfg["start_second"], seconds=cfg["seconds"])


def train_lfb_head(bank_dir: str | os.PathLike, data_root: str | os.PathLike, out: str | os.PathLike, *,
                   fbo: str = "nl", half_width: int = 2, max_per_second: int | None = None, epochs: int = 30,
                   lr: float = 1e-3, batch_size: int = 64, seed: int = 0, progress: bool = True) -> dict:
    """Stage 2: train :class:`~vidlab.models.lfb.LFBHead` on the bank; evaluate test frame mAP.

    ``fbo="none"`` trains the same head without a bank window (a linear
    classifier on the short-term feature): the fair baseline.
    """
    from tqdm.auto import tqdm

    from vidlab import models
    from vidlab.detect.train import dataset_config, write_detections_csv
    from vidlab.evaluation.ava import evaluate_files
    from vidlab.models.lfb import LFBHead

    torch.manual_seed(seed)
    bank = FeatureBank.open(bank_dir)
    keys, short, labels, _, _ = _bank_samples(bank, data_root, "train")
    cfg = dataset_config(data_root)
    num_classes = labels.shape[1]
    if fbo == "none":
        head: nn.Module = nn.Sequential(nn.Dropout(0.2), nn.Linear(bank.dim, num_classes))
    else:
        head = LFBHead(num_classes, dim_short=bank.dim, dim_long=bank.dim, fbo=fbo)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)

    def forward(idx, key_list, s):
        if fbo == "none":
            return head(s[idx])
        long, mask = bank.windows([key_list[i] for i in idx], half_width, max_per_second)
        return head(s[idx], long, mask)

    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"lfb {fbo}", unit="epoch", disable=not progress, leave=False):
        head.train()
        order = rng.permutation(len(keys))
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = loss_fn(forward(idx, keys, short), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    train_seconds = time.perf_counter() - start
    # evaluate on the test split
    tkeys, tshort, _, tboxes, _ = _bank_samples(bank, data_root, "test")
    head.eval()
    with torch.no_grad():
        scores = torch.cat([forward(np.arange(i, min(i + 256, len(tkeys))), tkeys, tshort).sigmoid()
                            for i in range(0, len(tkeys), 256)]).numpy()
    out = Path(out)
    rows = [(v, s, b, sc) for (v, s), b, sc in zip(tkeys, tboxes, scores)]
    from vidlab.data.datasets.ava import read_label_map

    det = write_detections_csv(out / f"test_detections_{fbo}.csv", rows, list(read_label_map(cfg["labelmap"])))
    ann = Path(cfg["annotations"])
    res = evaluate_files(ann / "test.csv", det, cfg["labelmap"], ann / "test_excluded_timestamps.csv")
    result = {"fbo": fbo, "half_width": half_width, "mAP": res["mAP"], "per_class": res["per_class"],
              "train_boxes": len(keys), "test_boxes": len(tkeys), "train_seconds": train_seconds}
    if fbo != "none":
        ckpt = models.save(head, out / f"lfb_{fbo}.safetensors", arch="lfb_head", num_classes=num_classes,
                           model_kwargs={"dim_short": bank.dim, "dim_long": bank.dim, "fbo": fbo},
                           labels=cfg["classes"], lfb={"bank": str(bank_dir), "half_width": half_width,
                                                       "max_per_second": max_per_second})
        result["checkpoint"] = str(ckpt)
    return result
