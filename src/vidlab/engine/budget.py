"""Fitting a training schedule into a wall-clock budget, one rule for every training loop.

The pace of the next epoch is measured, not averaged over the run: the last epoch's
time outside optimizer steps (evaluation, checkpoints, data set-up) plus its median step
time for each of its steps. A burst of slow steps (another process on the cores,
first-call kernel set-up) then does not pass for the pace of the whole run and cut the
schedule to a couple of epochs; if the machine stays slow, the next epoch's measure cuts
further. Schedules are only ever shortened: lengthening one would raise a decaying
learning rate again.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn


def epoch_pace(last_epoch_seconds: float, step_seconds: Sequence[float], steps_per_epoch: int) -> float:
    """Seconds the next epoch should take (see the module docstring)."""
    if not step_seconds:
        return last_epoch_seconds
    outside = max(last_epoch_seconds - sum(step_seconds), 0.0)
    return outside + statistics.median(step_seconds) * max(steps_per_epoch, len(step_seconds))


def epochs_that_fit(done: int, planned: int, remaining_seconds: float, pace: float) -> int:
    """The schedule length (in epochs, at least ``done + 1`` and at most ``planned``) whose
    remaining epochs fit into ``remaining_seconds`` at ``pace`` seconds each."""
    fits = done + int(max(remaining_seconds, 0.0) // max(pace, 1e-6))
    return max(min(planned, fits), done + 1)


def training_step_seconds(model: nn.Module, inputs: torch.Tensor | list[torch.Tensor], num_classes: int, *,
                          steps: int = 3, threads: int | None = None) -> float:
    """Median wall time of one SGD training step (forward, cross-entropy, backward, update) of a
    copy of ``model`` on ``inputs`` with random labels, after one untimed step; ``model`` itself is
    not touched. ``threads`` sets ``torch.set_num_threads`` for the measure only. Used to choose a
    recipe before a budgeted run starts (see :func:`vidlab.apps.demo.plan_for_budget`)."""
    probe = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(probe.parameters(), lr=1e-3)
    first = inputs[0] if isinstance(inputs, list) else inputs
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(num_classes, (first.shape[0],), generator=generator)
    previous = torch.get_num_threads()
    times = []
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        for i in range(steps + 1):
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(probe(inputs), labels)
            loss.backward()
            optimizer.step()
            if i:
                times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(times)
