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

import statistics
from collections.abc import Sequence


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
