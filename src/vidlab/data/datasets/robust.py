"""Training that survives bad videos: skip, substitute deterministically, count, report, stop past a threshold.

:class:`RobustDataset` wraps any dataset whose items are ``(clip, label,
index)`` (``VideoListDataset`` and the format datasets built on it). When an
item cannot be produced because its video is missing, empty, truncated,
corrupt, unsupported or too short (``VideoDecodeError`` and its
``TooShortError``, or an I/O/decoding error), it

1. records the event (epoch, index, file, reason) in a small JSON-lines log
   in a folder shared by every process (``log_dir``; by default a temporary
   folder made when the wrapper is built, i.e. in the main process, so
   DataLoader workers, forked or spawned, write to the same place), and
2. draws another item with a generator keyed by ``(seed, epoch, index,
   attempt)``: the replacement never depends on worker count, order or
   timing, so a run stays reproducible. The sample comes back unchanged in
   shape (its third element is the index actually used).

The main process reads the log with :meth:`RobustDataset.bad_files` (or
:meth:`~RobustDataset.end_epoch`, which also writes the run's report and
enforces ``max_bad_fraction``). Nothing has to travel through the batches.

``policy="placeholder"`` (for evaluation, where substituting another video
would bias the score) returns an all-zero item with index ``-1`` instead, so
the caller drops rows whose index is negative.

Programming errors (``TypeError``, ``AttributeError``, ``KeyError``, ...)
are never swallowed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from vidlab.data.datasets.protocol import CacheFill
from vidlab.errors import DataError, VidlabError

__all__ = ["BadDataError", "RobustDataset", "bad_file_report"]

#: Exceptions that are bugs, not bad data: always re-raised.
_BUGS = (TypeError, AttributeError, NameError, KeyError, ImportError, NotImplementedError, AssertionError,
         ZeroDivisionError, RecursionError)
#: What a bad file raises while it is opened, decoded or sampled.
_BAD_DATA = (VidlabError, OSError, EOFError, IndexError, ValueError, RuntimeError, MemoryError)


class BadDataError(DataError):
    """Too many of a dataset's videos could not be used."""


def _kind(exc: BaseException) -> str:
    from vidlab.data.datasets.video_list import TooShortError

    if isinstance(exc, TooShortError):
        return "too_short"
    msg = str(exc).lower()
    if "not found" in msg or isinstance(exc, FileNotFoundError):
        return "missing"
    if "empty file" in msg:
        return "empty"
    if "truncated" in msg:
        return "truncated"
    return "unreadable"


def _cleanup(path: str, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


class RobustDataset(Dataset):
    """Skip unreadable items of ``dataset`` (see the module docstring).

    ``max_attempts``: replacements tried for one item before giving up with
    :class:`BadDataError` (the set is then mostly broken). ``seed`` defaults to
    the wrapped dataset's ``seed``. Attributes of the wrapped dataset
    (``records``, ``labels``, ``classes``, ...) are reachable through the wrapper.
    Wrapping a :class:`~vidlab.data.datasets.protocol.TrainDataset` gives one.
    """

    def __init__(self, dataset: Dataset, *, policy: str = "substitute", max_attempts: int = 32,
                 log_dir: str | os.PathLike | None = None, seed: int | None = None):
        if policy not in ("substitute", "placeholder"):
            raise ValueError(f"policy must be 'substitute' or 'placeholder', got {policy!r}")
        self.dataset = dataset
        self.policy = policy
        self.max_attempts = max(int(max_attempts), 1)
        self.seed = int(seed if seed is not None else getattr(dataset, "seed", 0))
        self.epoch = 0
        if log_dir is None:
            log_dir = tempfile.mkdtemp(prefix="vidlab-badfiles-")
            weakref.finalize(self, _cleanup, log_dir, os.getpid())
        self.log_dir = str(log_dir)
        Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        self._known_bad: dict[int, str] = {}  # per process: index -> reason (skips re-decoding a known-bad file)

    # -- Dataset protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.dataset)

    _OWN = frozenset({"dataset", "policy", "max_attempts", "seed", "epoch", "log_dir", "_known_bad"})

    def __getattr__(self, name: str):
        if name.startswith("__") or name in RobustDataset._OWN:
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __setattr__(self, name: str, value) -> None:
        # settings of the wrapped dataset (num_frames, transform, ...) go to it
        if name not in RobustDataset._OWN and "dataset" in self.__dict__ and hasattr(self.dataset, name):
            setattr(self.dataset, name, value)
        else:
            object.__setattr__(self, name, value)

    def __copy__(self) -> "RobustDataset":
        import copy

        new = object.__new__(RobustDataset)
        new.__dict__.update(self.__dict__)
        new.__dict__["dataset"] = copy.copy(self.dataset)
        new.__dict__["_known_bad"] = {}
        return new

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def with_shape(self, num_frames: int, crop_size: int, sampling_rate: int,
                   random_rate: bool = False) -> RobustDataset:
        """The wrapped dataset reshaped (its :meth:`~vidlab.data.datasets.protocol.TrainDataset.with_shape`),
        in a wrapper sharing this one's log, seed, epoch and policy."""
        import copy

        new = copy.copy(self)
        new.dataset = self.dataset.with_shape(num_frames, crop_size, sampling_rate, random_rate)
        return new

    def fill_cache(self, progress: bool = False) -> CacheFill | None:
        return self.dataset.fill_cache(progress)

    def path_of(self, index: int) -> str:
        recs = getattr(self.dataset, "records", None)
        return recs[index].path if recs is not None else f"item {index}"

    def _substitute(self, index: int, attempt: int) -> int:
        rng = np.random.default_rng([self.seed, self.epoch, index, attempt, 0x5EED])
        return int(rng.integers(0, len(self.dataset)))

    def __getitem__(self, index: int):
        tried = index
        for attempt in range(self.max_attempts):
            j = index if attempt == 0 else self._substitute(index, attempt)
            tried = j
            if j in self._known_bad:
                if attempt == 0:
                    self._log(index, j, self._known_bad[j], cached=True)
                if self.policy == "placeholder":
                    return self._placeholder(index)
                continue
            try:
                return self.dataset[j]
            except _BUGS:
                raise
            except _BAD_DATA as e:
                reason = getattr(e, "reason", None) or str(e) or type(e).__name__
                self._known_bad[j] = reason
                self._log(index, j, reason, kind=_kind(e))
                if self.policy == "placeholder":
                    return self._placeholder(index)
        raise BadDataError(f"item {index}: {self.max_attempts} videos in a row could not be read "
                           f"(last: {self.path_of(tried)}: {self._known_bad.get(tried, '?')}); "
                           "the dataset looks mostly broken (run `vidlab data check`)")

    def _placeholder(self, index: int):
        x, y, _ = self.dataset.placeholder(index)
        return x, y, -1

    # -- the shared log ---------------------------------------------------------------
    def _log(self, requested: int, index: int, reason: str, *, kind: str | None = None, cached: bool = False) -> None:
        if cached and index != requested:
            return
        if kind is None:
            kind = _kind(Exception(reason))
        event = {"epoch": self.epoch, "index": int(index), "requested": int(requested), "path": self.path_of(index),
                 "kind": kind, "reason": reason}
        line = json.dumps(event) + "\n"
        # one O_APPEND write per event and one file per process: lines never interleave
        fd = os.open(os.path.join(self.log_dir, f"events-{os.getpid()}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def events(self, epoch: int | None = None) -> list[dict]:
        """Every logged failure (all processes), optionally of one epoch."""
        out = []
        for f in sorted(Path(self.log_dir).glob("events-*.jsonl")):
            for line in f.read_text().splitlines():
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line being written right now
                if epoch is None or e["epoch"] == epoch:
                    out.append(e)
        return out

    def bad_files(self, epoch: int | None = None) -> list[dict]:
        """Distinct bad files: ``[{"path", "kind", "reason", "failures", "epochs"}]``, sorted by path."""
        by_path: dict[str, dict] = {}
        for e in self.events(epoch):
            d = by_path.setdefault(e["path"], {"path": e["path"], "kind": e["kind"], "reason": e["reason"],
                                               "failures": 0, "epochs": []})
            d["failures"] += 1
            if e["epoch"] not in d["epochs"]:
                d["epochs"].append(e["epoch"])
        return [by_path[p] for p in sorted(by_path)]

    def missing_files(self) -> list[str]:
        """Videos the annotations name but the root lacks (left out when the dataset was built)."""
        return sorted({r.path for r in getattr(self.dataset, "missing", None) or []})

    def num_files(self) -> int:
        """Distinct videos: those in the dataset plus the missing ones."""
        recs = getattr(self.dataset, "records", None)
        n = len({r.path for r in recs}) if recs is not None else len(self.dataset)
        return n + len(self.missing_files())

    def bad_fraction(self) -> float:
        return (len(self.bad_files()) + len(self.missing_files())) / max(self.num_files(), 1)

    def check(self, max_bad_fraction: float | None, report: str | os.PathLike | None = None) -> None:
        """Raise :class:`BadDataError` (one line) when more than ``max_bad_fraction`` of the files
        are bad (unreadable, too short or missing)."""
        if max_bad_fraction is None:
            return
        bad = self.bad_files()
        missing = self.missing_files()
        n, nbad = self.num_files(), len(bad) + len(missing)
        if nbad / max(n, 1) > max_bad_fraction:
            where = f"; the list is in {report}" if report else ""
            first = f"{bad[0]['path']}: {bad[0]['reason']}" if bad else f"{missing[0]}: missing"
            raise BadDataError(
                f"{nbad} of {n} videos ({100 * nbad / max(n, 1):.1f}%) could not be used, more than the "
                f"allowed {100 * max_bad_fraction:.1f}% (data.max_bad_fraction); first: {first}{where}")

    def end_epoch(self, epoch: int, report: str | os.PathLike | None = None,
                  max_bad_fraction: float | None = None) -> dict:
        """What a training loop calls after each epoch: write the report, enforce the threshold.

        Returns ``{"bad_files": files that failed this epoch, "bad_files_total": distinct so far}``
        for the epoch's history row.
        """
        this_epoch = self.bad_files(epoch)
        if report is not None:
            bad_file_report(self, report)
        self.check(max_bad_fraction, report)
        return {"bad_files": len(this_epoch), "bad_files_total": len(self.bad_files())}


def bad_file_report(ds: RobustDataset, path: str | os.PathLike) -> dict:
    """Write the run's bad-file report as JSON (atomically): ``{"num_files", "num_bad",
    "num_missing", "bad_fraction", "failures_per_epoch": {epoch: n}, "bad_files": [{"path",
    "kind", "reason", "failures", "epochs"}], "missing_files": [...]}``."""
    bad = ds.bad_files()
    per_epoch: dict[int, int] = {}
    for e in ds.events():
        per_epoch[e["epoch"]] = per_epoch.get(e["epoch"], 0) + 1
    missing = ds.missing_files()
    report = {"num_files": ds.num_files(), "num_bad": len(bad), "num_missing": len(missing),
              "bad_fraction": ds.bad_fraction(),
              "failures_per_epoch": {str(k): v for k, v in sorted(per_epoch.items())}, "bad_files": bad,
              "missing_files": missing}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)
    return report
