"""Batch samplers that think in *global* batches.

A training epoch is a seeded permutation of the dataset cut into global
batches of ``batch_size`` clips; with ``world_size`` processes, process ``r``
takes clips ``r, r + world_size, ...`` of every global batch (the interleaved
share matches PySlowFast's sub-batch BN groups, see
:func:`vidlab.engine.bn.set_bn_group`). So the clips that make up global
batch ``i`` do not depend on how many processes there are, a run can resume
in the middle of an epoch (``start_batch``), even with another world size,
and a single process sees exactly what several processes see together.

Multigrid training varies the batch size and the clip shape from batch to
batch: give ``shapes``, a function from the global batch index to a
:class:`BatchShape`; every index yielded is then a tuple
``(index, num_frames, crop_size, sampling_rate)`` that the dataset reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch.utils.data import Sampler


@dataclass(frozen=True)
class BatchShape:
    batch_size: int  # global
    num_frames: int
    crop_size: int
    sampling_rate: int


def epoch_permutation(n: int, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    if not shuffle:
        return list(range(n))
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    return torch.randperm(n, generator=g).tolist()


class GlobalBatchSampler(Sampler[list]):
    def __init__(
        self,
        dataset_len: int,
        batch_size: int,
        *,
        epoch: int = 0,
        seed: int = 0,
        world_size: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        start_batch: int = 0,
        shapes: Callable[[int], BatchShape] | None = None,
    ):
        if batch_size % world_size:
            raise ValueError(f"global batch {batch_size} is not divisible by {world_size} processes")
        self.n = dataset_len
        self.batch_size = batch_size
        self.epoch = epoch
        self.seed = seed
        self.world_size = world_size
        self.rank = rank
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.start_batch = start_batch
        self.shapes = shapes
        self._plan = self._make_plan()

    def _make_plan(self) -> list[tuple[int, int, BatchShape | None]]:
        """(start, size, shape) of every global batch of the epoch."""
        plan, pos, i = [], 0, 0
        while pos < self.n:
            shape = self.shapes(i) if self.shapes else None
            size = shape.batch_size if shape else self.batch_size
            size -= size % self.world_size
            if size <= 0:
                raise ValueError("a global batch must hold at least one clip per process")
            if pos + size > self.n:
                if self.drop_last:
                    break
                size = self.n - pos
            plan.append((pos, size, shape))
            pos += size
            i += 1
        return plan

    def __len__(self) -> int:
        return max(len(self._plan) - self.start_batch, 0)

    @property
    def num_batches(self) -> int:
        """Global batches in the whole epoch (resumed or not)."""
        return len(self._plan)

    def __iter__(self) -> Iterator[list]:
        perm = epoch_permutation(self.n, self.seed, self.epoch, self.shuffle)
        for start, size, shape in self._plan[self.start_batch :]:
            batch = perm[start : start + size]
            if self.world_size > 1:
                batch = batch[self.rank :: self.world_size]
            if shape is not None:
                yield [(i, shape.num_frames, shape.crop_size, shape.sampling_rate) for i in batch]
            else:
                yield batch


class ShardSampler(Sampler[list]):
    """Evaluation: rank ``r`` takes items ``r, r + W, ...`` (no padding, no duplicates)."""

    def __init__(self, dataset_len: int, batch_size: int, world_size: int = 1, rank: int = 0):
        self.indices = list(range(rank, dataset_len, world_size))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[list]:
        for i in range(0, len(self.indices), self.batch_size):
            yield self.indices[i : i + self.batch_size]
