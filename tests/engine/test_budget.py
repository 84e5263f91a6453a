"""train.time_budget on a fake clock: the run ends inside the budget and the learning rate never climbs back."""

import json
from itertools import pairwise

import pytest

from vidlab.engine.config import from_dict
from vidlab.engine.trainer import Trainer

EPOCH_SECONDS = 10.0


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Interrupted(Exception):
    pass


def _cfg(data, out, *, epochs=10, warmup=0.5, budget=55.0):
    return from_dict({
        "model": {"arch": "c2d_r10_tiny", "kwargs": {"width": 8}},
        "data": {"train": str(data / "train.csv"), "labels": str(data / "classes.txt"), "num_frames": 4,
                 "sampling_rate": 2, "crop_size": 28, "train_scale": [32, 36], "flip": 0.0, "batch_size": 4},
        "solver": {"lr": 0.05, "epochs": epochs, "warmup_epochs": warmup, "warmup_start_lr": 0.01},
        "train": {"out_dir": str(out), "seed": 1, "progress": False, "tensorboard": False, "log_steps": True,
                  "time_budget": budget},
    })


def _trainer(cfg, interrupt_at: int | None = None, seconds=None) -> tuple[Trainer, FakeClock]:
    """A Trainer whose training epoch ``e`` takes ``seconds[e]`` (default EPOCH_SECONDS) on a fake
    clock (raising Interrupted when epoch ``interrupt_at`` would start)."""
    clock = FakeClock()
    t = Trainer(cfg, log=lambda m: None, clock=clock)
    inner = t.train_epoch

    def train_epoch(ds, epoch, start_batch=0):
        if epoch == interrupt_at:
            raise Interrupted
        out = inner(ds, epoch, start_batch)
        clock.now += EPOCH_SECONDS if seconds is None else seconds[epoch]
        return out

    t.train_epoch = train_epoch
    return t, clock


def _steps(out) -> list[dict]:
    return [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]


def _positions(steps) -> list[float]:
    """Each step's place in the schedule, in epochs."""
    per_epoch = max(s["batch"] for s in steps)
    return [s["epoch"] - 1 + (s["batch"] - 1) / per_epoch for s in steps]


def _non_increasing(values) -> bool:
    return all(b <= a + 1e-12 for a, b in pairwise(values))


def _unimodal(values) -> bool:
    """Rises (the warmup), then only decays: never down and up again."""
    peak = values.index(max(values))
    return all(b >= a - 1e-12 for a, b in pairwise(values[:peak + 1])) and _non_increasing(values[peak:])


def _largest_jump(values) -> float:
    return max(abs(b - a) for a, b in pairwise(values))


def test_a_shortened_schedule_ends_inside_the_budget_and_its_lr_only_decays(tiny_synth, tmp_path):
    t, clock = _trainer(_cfg(tiny_synth, tmp_path / "run"))
    hist = t.fit()
    # 10 s an epoch, 55 s: after the first epoch the run is cut to 5 epochs, and it stops there
    assert t.total_epochs == 5 and t.cfg.solver.epochs == 10  # the planned schedule is kept, spread over 5
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4, 5]
    assert clock.now <= 55.0
    steps = _steps(tmp_path / "run")
    assert len({s["epoch"] for s in steps}) == 5
    lrs = [s["lr"] for s, x in zip(steps, _positions(steps)) if x >= t.cfg.solver.warmup_epochs]
    assert _non_increasing(lrs)
    assert lrs[-1] < 0.05 * 0.05  # decayed (nearly) to the end of the cosine
    # the epochs after the cut run 9 planned epochs in 4: the last step sits where the planned
    # schedule's last step does
    per_epoch = max(s["batch"] for s in steps)
    assert t.schedule.position(4 + (per_epoch - 1) / per_epoch) == pytest.approx(10 - 9 / 4 / per_epoch)


def test_shortened_mid_warmup_the_ramp_steepens_without_a_jump_and_then_decays(tiny_synth, tmp_path):
    # warmup of 3 epochs, but the 45 s budget only fits 4: cut after epoch 1, still warming up
    t, clock = _trainer(_cfg(tiny_synth, tmp_path / "run", warmup=3.0, budget=45.0))
    hist = t.fit()
    assert t.total_epochs == 4 and len(hist) == 4 and clock.now <= 45.0
    steps = _steps(tmp_path / "run")
    pos, lrs = _positions(steps), [s["lr"] for s in steps]
    assert _unimodal(lrs)
    peak = lrs.index(max(lrs))
    # the rest of the warmup (2 of its 3 epochs) now takes 2/3 of an epoch: it ends at epoch 1.67
    assert 1.0 <= pos[peak] <= 1.0 + 2 / 3 + 1e-9 and max(lrs) <= 0.05 + 1e-12
    before = [i for i, x in enumerate(pos) if x < 1.0]
    slope = (lrs[1] - lrs[0]) / (pos[1] - pos[0])
    for i in before:  # one straight ramp from warmup_start_lr up to the cut ...
        assert lrs[i] == pytest.approx(0.01 + slope * pos[i], rel=1e-9)
    after = [i for i, x in enumerate(pos) if 1.0 <= x and i < peak]
    for i in after:  # ... then three times as steep, from where it was (no jump)
        assert lrs[i] == pytest.approx(0.01 + slope * (1.0 + 3 * (pos[i] - 1.0)), rel=1e-9)
    assert _largest_jump(lrs) <= 3 * slope * (pos[1] - pos[0]) + 1e-9
    assert lrs[-1] < 0.05 * 0.1


def test_a_machine_that_gets_faster_gets_its_epochs_back(tiny_synth, tmp_path):
    """A slow second epoch (another process on the cores) cuts the run to 4 epochs; when the
    machine is fast again the next measure gives the epochs back instead of finishing early with
    budget unused, and the learning rate keeps decaying without rising."""
    seconds = [10.0, 30.0] + [5.0] * 10
    t, clock = _trainer(_cfg(tiny_synth, tmp_path / "run", epochs=12, warmup=0.5, budget=100.0), seconds=seconds)
    hist = t.fit()
    # after 1: 90 s left at 10 s -> 10 epochs; after 2: 60 s at 30 s -> 4; after 3: 55 s at 5 s -> all 12
    assert len(hist) == 12 and clock.now == pytest.approx(90.0) and clock.now <= 100.0
    steps = _steps(tmp_path / "run")
    lrs = [s["lr"] for s, x in zip(steps, _positions(steps)) if x >= 0.5]
    assert _non_increasing(lrs)
    assert lrs[-1] < 0.05 * 0.01
    # the schedule-only-shortens rule would have stopped after epoch 4, 55 s into the 100 s


def test_a_resumed_run_keeps_the_shortened_schedule(tiny_synth, tmp_path):
    full, _ = _trainer(_cfg(tiny_synth, tmp_path / "full", warmup=1.5))
    hist_full = full.fit()
    assert full.total_epochs == 5

    # stopped right after the epoch that shortened the schedule (mid-warmup), then resumed
    first, _ = _trainer(_cfg(tiny_synth, tmp_path / "split", warmup=1.5), interrupt_at=1)
    with pytest.raises(Interrupted):
        first.fit()
    second, clock = _trainer(_cfg(tiny_synth, tmp_path / "split", warmup=1.5))
    hist = second.fit(resume=True)
    assert second.schedule == full.schedule
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4, 5] and clock.now <= 55.0
    assert [s["lr"] for s in _steps(tmp_path / "split")] == [s["lr"] for s in _steps(tmp_path / "full")]
    for a, b in zip(hist_full, hist):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)


def test_a_burst_of_slow_steps_does_not_pass_for_the_pace(tiny_synth, tmp_path):
    """A loaded machine at the start (a few 3 s steps among 0.1 s ones) must not cut the schedule
    to a couple of epochs: the pace is the median step time over the epoch's steps, plus the time
    spent outside steps (evaluation, checkpoints)."""
    t, _ = _trainer(_cfg(tiny_synth, tmp_path / "run", epochs=20, budget=100.0))
    t._steps_per_epoch = 10
    t._step_seconds = [3.0, 3.0, 3.0] + [0.1] * 7  # 9.7 s of steps
    assert t._epoch_pace(12.7) == pytest.approx(3.0 + 10 * 0.1)  # 3 s outside the steps + 10 median steps
    assert not t._fit_budget(0, 12.7, 12.7)
    # 87.3 s left at 4 s an epoch: 21 more would fit, so 20 epochs stay (the mean pace would have cut to 7)
    assert t.total_epochs == 20
    t._step_seconds = [3.0] * 10  # the machine stays slow: the next measure cuts
    assert not t._fit_budget(1, 45.7, 33.0)
    assert t.total_epochs == 2 + int((100.0 - 45.7) // 33.0)


def test_budget_rules_shared_by_the_training_loops():
    from vidlab.engine.budget import epoch_pace, epochs_that_fit

    assert epoch_pace(12.0, [], 10) == 12.0  # nothing measured: the epoch's own time
    assert epoch_pace(12.7, [3.0, 3.0, 3.0] + [0.1] * 7, 10) == pytest.approx(4.0)
    assert epochs_that_fit(1, 20, 87.3, 4.0) == 20  # never more than planned
    assert epochs_that_fit(1, 20, 40.0, 4.0) == 11
    assert epochs_that_fit(3, 20, 0.5, 4.0) == 4  # at least one more epoch when some time is left
    assert epochs_that_fit(3, 20, -5.0, 4.0) == 4


def test_budget_schedule_positions():
    from vidlab.engine.budget import BudgetSchedule

    plan = BudgetSchedule(10)
    assert [plan.position(e) for e in (0, 2.5, 10, 12)] == [0, 2.5, 10, 10]  # identity until re-planned
    assert plan.replan(2, 30.0, 10.0) == 5  # 3 more fit: the 8 planned epochs left go into 3
    assert plan.position(2) == 2 and plan.position(3.5) == pytest.approx(2 + 8 * 1.5 / 3)
    assert plan.position(5) == 10
    here = plan.position(3)
    assert plan.replan(3, 100.0, 10.0) == 10  # faster again: back to 10 epochs, from where it was
    assert plan.position(3) == pytest.approx(here) and plan.position(10) == 10
    assert plan.position(6.5) == pytest.approx(here + (10 - here) * 3.5 / 7)
    plan.stop_at(4)
    assert plan.end == 4 and BudgetSchedule.from_state(plan.state_dict()) == plan
