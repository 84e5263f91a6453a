"""Learning-rate schedules as functions of a fractional epoch (PySlowFast style).

``lr_at_epoch(cfg, e)`` is evaluated every iteration with
``e = epoch + iter / iters_per_epoch``; linear warmup goes from
``warmup_start_lr`` to the schedule's value at ``warmup_epochs``.
"""

from __future__ import annotations

import bisect
import math

from vidlab.engine.config import SolverCfg


def _base_schedule(cfg: SolverCfg, epoch: float) -> float:
    if cfg.schedule == "cosine":
        return cfg.final_lr + (cfg.lr - cfg.final_lr) * (math.cos(math.pi * epoch / cfg.epochs) + 1.0) * 0.5
    if cfg.schedule == "steps":
        return cfg.lr * cfg.gamma ** bisect.bisect_right(sorted(cfg.steps), epoch)
    return cfg.lr


def lr_at_epoch(cfg: SolverCfg, epoch: float) -> float:
    if epoch < cfg.warmup_epochs:
        end = _base_schedule(cfg, cfg.warmup_epochs)
        return cfg.warmup_start_lr + (end - cfg.warmup_start_lr) * epoch / cfg.warmup_epochs
    return _base_schedule(cfg, epoch)
