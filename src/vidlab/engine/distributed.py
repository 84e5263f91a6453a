"""Distributed training on PyTorch's own stack (torchrun + DDP).

vidlab never launches its own workers: `torchrun` (or `vidlab train --nproc N`,
which calls it) starts one process per device and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``; this module
reads them, joins the process group (gloo on CPU, NCCL on GPU) and offers the
few collective helpers the engine needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    """What torchrun told this process (a single process when unset)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init(device_type: str, backend: str = "auto") -> DistInfo:
    """Join the process group if this process was started by torchrun."""
    info = env_info()
    if not info.enabled or (dist.is_available() and dist.is_initialized()):
        return info
    if backend == "auto":
        backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_mean(value: float | torch.Tensor) -> float:
    """Mean of a scalar over all processes (identity in a single process)."""
    t = torch.as_tensor(value, dtype=torch.float64).clone()
    if active():
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return float(t)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if active():
        dist.all_reduce(t)
    return t


def all_gather_objects(obj) -> list:
    """Every process's ``obj``, in rank order."""
    if not active():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
