"""What the training loop needs from a dataset: :class:`TrainDataset`.

``Trainer`` (:mod:`vidlab.engine.trainer`) talks to its datasets through these
methods only. Items are ``(clip, label, index)``; besides ``len`` and
indexing a dataset

- follows the epoch (:meth:`~TrainDataset.set_epoch`: its randomness is keyed
  by seed, epoch and index),
- gives a copy of itself reshaped for a multigrid batch
  (:meth:`~TrainDataset.with_shape`),
- reports at the end of an epoch (:meth:`~TrainDataset.end_epoch`: the
  robust wrapper's bad files; zero for a plain dataset), and
- may fill a RAM cache before training starts (:meth:`~TrainDataset.fill_cache`;
  None when it keeps none).

:class:`ClipDatasetMixin` implements the last three for datasets of
``num_frames`` x ``sampling_rate`` clips through a ``transform`` dataclass
(``VideoListDataset``, ``RawframeDataset``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["CacheFill", "ClipDatasetMixin", "TrainDataset", "rescaled_transform"]


@dataclass(frozen=True)
class CacheFill:
    """What :meth:`TrainDataset.fill_cache` put in RAM."""

    cached: int  # videos now held in the cache
    videos: int  # distinct videos of the dataset
    used_bytes: int
    max_bytes: int

    def __str__(self) -> str:
        return (f"{self.cached} of {self.videos} training videos in RAM "
                f"({self.used_bytes / 2**20:.0f} MiB of {self.max_bytes / 2**20:.0f})")


@runtime_checkable
class TrainDataset(Protocol):
    """The dataset side of the trainer/data boundary."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def set_epoch(self, epoch: int) -> None:
        """Key this epoch's random draws (clip starts, crops, substitutes) by ``epoch``."""

    def with_shape(self, num_frames: int, crop_size: int, sampling_rate: int,
                   random_rate: bool = False) -> TrainDataset:
        """A copy serving ``num_frames`` frames every ``sampling_rate`` at ``crop_size`` (its
        short-side jitter scaled by the same factor); this dataset is left unchanged. With
        ``random_rate``, a rate above the dataset's own makes each clip draw its rate between
        the two (PySlowFast's long cycle, :func:`vidlab.data.sampling.draw_sampling_rate`)."""

    def end_epoch(self, epoch: int, report: str | os.PathLike | None = None,
                  max_bad_fraction: float | None = None) -> dict[str, int]:
        """After epoch ``epoch``: ``{"bad_files": n this epoch, "bad_files_total": n so far}``
        (zeros for a dataset that does not track bad files); writes ``report`` and raises
        :class:`~vidlab.errors.DataError` past ``max_bad_fraction`` where it does."""

    def fill_cache(self, progress: bool = False) -> CacheFill | None:
        """Decode the videos into the dataset's RAM cache now; None if it keeps no cache."""


_D = TypeVar("_D", bound="ClipDatasetMixin")


class ClipDatasetMixin:
    """:class:`TrainDataset`'s ``with_shape``, ``end_epoch`` and ``fill_cache`` for datasets with
    ``num_frames``, ``sampling_rate``, ``max_sampling_rate`` and a ``transform`` dataclass
    (``crop_size``, ``min_scale``, ``max_scale``). Copies share everything but those settings
    (a frame cache included)."""

    num_frames: int
    sampling_rate: int
    max_sampling_rate: int | None
    transform: Any

    def with_shape(self: _D, num_frames: int, crop_size: int, sampling_rate: int,  # noqa: PYI019 (3.10: no Self)
                   random_rate: bool = False) -> _D:
        v = copy.copy(self)
        v.num_frames = num_frames
        if random_rate and sampling_rate > self.sampling_rate:
            v.max_sampling_rate = sampling_rate
        else:
            v.sampling_rate = sampling_rate
        v.transform = rescaled_transform(self.transform, crop_size)
        return v

    def end_epoch(self, epoch: int, report: str | os.PathLike | None = None,
                  max_bad_fraction: float | None = None) -> dict[str, int]:
        return {"bad_files": 0, "bad_files_total": 0}

    def fill_cache(self, progress: bool = False) -> CacheFill | None:
        return None


def rescaled_transform(tf: Any, crop_size: int) -> Any:
    """``tf`` (a dataclass with ``crop_size``, ``min_scale``, ``max_scale``) for crops of
    ``crop_size``: the short-side jitter range scaled by the same factor, never below the crop."""
    r = crop_size / tf.crop_size
    return dataclasses.replace(tf, crop_size=crop_size, min_scale=max(crop_size, round(tf.min_scale * r)),
                               max_scale=max(crop_size, round(tf.max_scale * r)))
