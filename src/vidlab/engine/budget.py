"""Fitting a training schedule into a wall-clock budget, one rule for every training loop.

The pace of the next epoch is measured, not averaged over the run: the last epoch's
time outside optimizer steps (evaluation, checkpoints, data set-up) plus its median step
time for each of its steps. A burst of slow steps (another process on the cores,
first-call kernel set-up) then does not pass for the pace of the whole run and cut the
schedule to a couple of epochs; if the machine stays slow, the next epoch's measure cuts
further, and if it gets fast again the next measure gives the epochs back (up to the planned
count).

The run's epochs and the schedule's epochs are kept apart (:class:`BudgetSchedule`): the
learning-rate schedule is always the planned one, read at a *position* that only advances.
Re-planning after epoch ``d`` keeps the position reached at ``d`` and spreads what is left of
the planned schedule evenly over the epochs that now fit, so the learning rate is continuous,
reaches the schedule's end on the last epoch, and never rises again after a decaying
schedule's warmup, whether the plan shortened or lengthened the run.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass
class BudgetSchedule:
    """The map from a budgeted run's epochs to the position in its planned schedule.

    ``planned``: the schedule's length in epochs (and the most epochs the run takes); ``end``:
    the epoch the run now ends at; the map is linear from ``(anchor_epoch, anchor_position)`` to
    ``(end, planned)`` and the identity until the first re-plan.
    """

    planned: int
    end: int = 0
    anchor_epoch: float = 0.0
    anchor_position: float = 0.0

    def __post_init__(self) -> None:
        self.end = self.end or self.planned

    def position(self, epoch: float) -> float:
        """Where the planned schedule is at the run's (fractional) ``epoch``; clamped to ``planned``."""
        if epoch <= self.anchor_epoch:
            return epoch if self.anchor_epoch == 0 else self.anchor_position * epoch / self.anchor_epoch
        span = max(self.end - self.anchor_epoch, 1e-9)
        x = self.anchor_position + (self.planned - self.anchor_position) * (epoch - self.anchor_epoch) / span
        return min(x, float(self.planned))

    def replan(self, done: int, remaining_seconds: float, pace: float) -> int:
        """After ``done`` epochs, end the run at the epochs that fit into ``remaining_seconds`` at
        ``pace`` (:func:`epochs_that_fit`: fewer or more than before, at most ``planned``); the
        position reached at ``done`` is kept. Returns the new end."""
        here = self.position(done)
        self.end = epochs_that_fit(done, self.planned, remaining_seconds, pace)
        self.anchor_epoch, self.anchor_position = float(done), here
        return self.end

    def stop_at(self, done: int) -> None:
        """End the run after ``done`` epochs (the budget is spent)."""
        self.anchor_epoch, self.anchor_position = float(done), self.position(done)
        self.end = done

    def state_dict(self) -> dict:
        return {"planned": self.planned, "end": self.end, "anchor_epoch": self.anchor_epoch,
                "anchor_position": self.anchor_position}

    @classmethod
    def from_state(cls, state: dict) -> BudgetSchedule:
        return cls(int(state["planned"]), int(state["end"]), float(state["anchor_epoch"]),
                   float(state["anchor_position"]))


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
