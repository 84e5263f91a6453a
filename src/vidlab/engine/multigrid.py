"""Multigrid training (Wu, Girshick, He, Feichtenhofer, Krähenbühl, CVPR 2020).

Train on a cycle of clip shapes that are cheaper than the final one, with the
batch scaled so that ``B * T * S^2`` stays constant (and the learning rate
scaled with the batch), then finish on the full shape. This follows
PySlowFast's schedule:

* **long cycle**: every learning-rate stage (between two ``solver.steps``)
  is split among the long-cycle shapes ``(T * t_factor, S * s_factor)`` in
  proportion to their batch size, so each shape gets the same number of
  iterations; as ``T`` shrinks, the sampling rate may grow up to the value at
  which a clip spans the default clip's time: PySlowFast draws each clip's rate
  uniformly between the default and that (``multigrid.random_sampling_rate``,
  on by default), so some clips span the whole time and others a shorter one;
* a **fine-tuning phase** on the full shape replaces the last stage, as long
  as it needs to save as many iterations as the rest; the learning rate stays
  at the previous stage's value for its first half, then drops;
* everything is stretched to ``max_epoch * epoch_factor`` epochs, and each
  phase ends on a whole epoch (PySlowFast rounds the cumulative ends; here,
  in addition, every phase keeps at least one epoch, see :func:`phase_ends`);
* **short cycle**: inside a phase, iterations cycle over crops
  ``S_default * short_factor`` (with the batch grown accordingly) and the
  phase's own crop;
* BN statistics are computed over a fixed number of clips whatever the batch
  (``train.bn_batch``), as PySlowFast's sub-batch BN does.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidlab.engine.sampler import BatchShape


@dataclass(frozen=True)
class Phase:
    stage: int  # learning-rate stage (0, 1, ...)
    batch_factor: int  # global batch relative to the default one
    num_frames: int
    crop_size: int
    end_epoch: int


def _shape(default_size: float, t: int, s: float) -> tuple[int, int, float]:
    return int(round(default_size / (t * s * s))), t, s


def long_cycle_schedule(*, steps: list[float], max_epoch: float, num_frames: int, crop_size: int,
                        long_factors, short_cycle: bool, short_factors, epoch_factor: float) -> list[Phase]:
    """The phases of a multigrid run. ``steps`` are the LR drop epochs of the base schedule."""
    bounds = [0.0] + [float(s) for s in steps]
    if len(bounds) < 2:
        raise ValueError("multigrid needs at least one learning-rate step (solver.steps)")
    default_size = float(num_frames * crop_size**2)
    all_shapes, avg_bs = [], []
    for t_factor, s_factor in long_factors:
        t = int(round(num_frames * t_factor))
        s = int(round(crop_size * s_factor))
        crops = ([crop_size * f for f in short_factors] if short_cycle else []) + [s]
        shapes = [_shape(default_size, t, c) for c in crops]
        all_shapes.append(shapes)
        avg_bs.append(sum(b for b, _, _ in shapes) / len(shapes))

    phases: list[tuple[int, tuple, float]] = []
    total_iters = 0.0
    for stage in range(len(bounds) - 1):
        stage_epochs = bounds[stage + 1] - bounds[stage]
        for shapes, bs in zip(all_shapes, avg_bs):
            epochs = stage_epochs * bs / sum(avg_bs)
            total_iters += epochs / bs
            phases.append((stage, shapes[-1], epochs))
    saving = bounds[-1] / total_iters  # iterations of the default run / of the cycles
    final_epochs = (max_epoch - bounds[-1]) / saving * avg_bs[-1]
    phases.append((len(bounds) - 1, all_shapes[-1][-1], final_epochs))

    stretch = max_epoch * epoch_factor / sum(p[2] for p in phases)
    cumulative, done = [], 0.0
    for *_, epochs in phases:
        done += epochs * stretch
        cumulative.append(done)
    return [Phase(stage, bf, t, int(round(s)), end)
            for (stage, (bf, t, s), _), end in zip(phases, phase_ends(cumulative))]


def phase_ends(cumulative: list[float]) -> list[int]:
    """Whole-epoch ends of phases whose exact (cumulative) ends are ``cumulative``.

    PySlowFast rounds each cumulative end. On a short schedule (tens of epochs
    for a dozen phases) two ends can round to the same epoch, and that phase
    -- a shape of the cycle, or a whole learning-rate value -- silently never
    runs. The ends here are the rounded ones, moved the least needed so that
    every phase keeps at least one epoch; the total stays
    ``round(cumulative[-1])`` (or the number of phases, if that is larger).
    On long schedules nothing moves and the ends are PySlowFast's.
    """
    n = len(cumulative)
    ends = [int(round(c)) for c in cumulative]
    for k in range(n - 1):  # strictly increasing from epoch 0
        ends[k] = max(ends[k], (ends[k - 1] if k else 0) + 1)
    ends[-1] = max(int(round(cumulative[-1])), n)
    for k in range(n - 2, -1, -1):  # and room left for the phases after
        ends[k] = min(ends[k], ends[k + 1] - 1)
    return ends


class MultigridPlan:
    """Shapes and learning rates of a multigrid run, as functions of the epoch."""

    def __init__(self, *, steps, max_epoch, gamma, num_frames, crop_size, sampling_rate, batch_size,
                 long_factors, short_cycle, short_factors, epoch_factor):
        self.default_t, self.default_s = num_frames, crop_size
        self.default_tau, self.default_b = sampling_rate, batch_size
        self.short_cycle, self.short_factors = short_cycle, list(short_factors)
        self.phases = long_cycle_schedule(
            steps=steps, max_epoch=max_epoch, num_frames=num_frames, crop_size=crop_size,
            long_factors=long_factors, short_cycle=short_cycle, short_factors=short_factors,
            epoch_factor=epoch_factor,
        )
        ends = [p.end_epoch for p in self.phases]
        # LR stage boundaries: the phase ends, with the fine-tuning phase split in half. PySlowFast
        # floors the half (``//``), which leaves a one-epoch fine-tuning phase no first half at all;
        # the learning rate is looked up at fractional epochs, so the half is exact here.
        self.lr_steps = [0] + ends
        self.lr_steps[-1] = (self.lr_steps[-2] + self.lr_steps[-1]) / 2
        lrs = [gamma**p.stage * p.batch_factor for p in self.phases]
        self.lr_multipliers = lrs[:-1] + [lrs[-2], lrs[-1]]
        self.max_epoch = ends[-1]

    def phase(self, epoch: float) -> Phase:
        for p in self.phases:
            if epoch < p.end_epoch:
                return p
        return self.phases[-1]

    def lr_multiplier(self, epoch: float) -> float:
        index = 0
        for i, start in enumerate(self.lr_steps):
            if epoch >= start:
                index = i
        return self.lr_multipliers[min(index, len(self.lr_multipliers) - 1)]

    def batch_shape(self, epoch: int, batch_index: int) -> BatchShape:
        p = self.phase(epoch)
        tau = self.default_tau * max(self.default_t // p.num_frames, 1)
        if self.short_cycle:
            crops = [int(round(self.default_s * f)) for f in self.short_factors] + [p.crop_size]
            k = batch_index % len(crops)
            crop = crops[k]
            grow = int(round((p.crop_size / crop) ** 2)) if k < len(crops) - 1 else 1
        else:
            crop, grow = p.crop_size, 1
        return BatchShape(self.default_b * p.batch_factor * grow, p.num_frames, crop, tau)

    def describe(self) -> list[str]:
        return [f"epochs <{p.end_epoch:>4}: stage {p.stage}, batch x{p.batch_factor}, {p.num_frames} frames, "
                f"{p.crop_size} px" for p in self.phases]
