"""Multigrid schedule: PySlowFast's phases, with no phase lost to rounding on short schedules."""

import pytest

from vidlab.engine.multigrid import MultigridPlan, phase_ends

LONG = [[0.25, 0.5**0.5], [0.5, 0.5**0.5], [0.5, 1.0], [1.0, 1.0]]


def _plan(epochs, steps, factor=1.5):
    return MultigridPlan(steps=steps, max_epoch=epochs, gamma=0.1, num_frames=8, crop_size=56, sampling_rate=4,
                         batch_size=8, long_factors=LONG, short_cycle=False, short_factors=[0.5, 0.5**0.5],
                         epoch_factor=factor)


@pytest.mark.parametrize("epochs,steps,factor", [(18, [12, 16], 1.5), (18, [12, 16], 1.25), (18, [12, 16], 1.0),
                                                 (6, [4, 5], 1.5), (10, [6, 8], 1.0), (3, [2], 1.0)])
def test_every_phase_runs_at_least_one_epoch(epochs, steps, factor):
    plan = _plan(epochs, steps, factor)
    ends = [p.end_epoch for p in plan.phases]
    starts = [0] + ends[:-1]
    assert all(e - s >= 1 for s, e in zip(starts, ends)), ends
    assert plan.max_epoch == max(round(epochs * factor), len(plan.phases))
    # every shape of every stage and the fine-tuning phase is visited by some epoch
    seen = {(plan.phase(e).stage, plan.phase(e).batch_factor) for e in range(plan.max_epoch)}
    assert seen == {(p.stage, p.batch_factor) for p in plan.phases}


def test_the_18_epoch_schedule_that_used_to_drop_a_phase():
    # plain rounding of the cumulative ends gives [10, 16, 18, 20, 23, 25, 26, 26, 27]: stage 1's
    # full-shape phase had no epoch and the fine-tuning phase no first half
    plan = _plan(18, [12, 16], 1.5)
    assert [p.end_epoch for p in plan.phases] == [10, 16, 18, 20, 23, 24, 25, 26, 27]
    assert [p.batch_factor for p in plan.phases] == [8, 4, 2, 1, 8, 4, 2, 1, 1]
    assert plan.phase(25.5).batch_factor == 1 and plan.phase(25.5).stage == 1
    # fine-tuning phase [26, 27): its first half at stage 1's rate, then the last drop
    assert plan.lr_multiplier(26.25) == pytest.approx(0.1)
    assert plan.lr_multiplier(26.75) == pytest.approx(0.01)


def test_long_schedules_keep_pyslowfast_rounding():
    cumulative = [55.7, 84.2, 98.4, 105.3, 123.9, 133.5, 138.4, 140.9, 150.0]
    assert phase_ends(cumulative) == [round(c) for c in cumulative]
    assert phase_ends([0.2, 0.4, 3.0]) == [1, 2, 3]
    assert phase_ends([0.3, 0.6]) == [1, 2]  # more phases than epochs: one epoch each


@pytest.mark.parametrize("batch,group", [(16, 4), (64, 8), (10, 4)])
def test_fixed_bn_groups_normalise_each_group_by_its_own_statistics(batch, group):
    import torch
    from torch import nn

    from vidlab.engine.bn import set_bn_group

    torch.manual_seed(0)
    bn = nn.BatchNorm3d(6)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    ref = nn.BatchNorm3d(6).train()
    ref.load_state_dict(bn.state_dict())
    set_bn_group(bn, group)
    x = (torch.randn(batch, 6, 2, 5, 5) * torch.linspace(0.5, 3, batch).view(-1, 1, 1, 1, 1)).requires_grad_()
    y = bn.train()(x)
    # reference: PySlowFast's groups (clips k, k + G, k + 2G, ... for G groups), each through a
    # plain BN on its own, written back to the clips' places
    xr = x.detach().clone().requires_grad_()
    groups = -(-batch // group)
    members = [list(range(k, batch, groups)) for k in range(groups)]
    assert sorted(sum(members, [])) == list(range(batch))
    outs, means, variances = [None] * batch, [], []
    for idx in members:
        chunk = xr[idx]
        out = torch.nn.functional.batch_norm(chunk, None, None, ref.weight, ref.bias, True, 0.0, ref.eps)
        for j, i in enumerate(idx):
            outs[i] = out[j]
        means.append(chunk.detach().mean((0, 2, 3, 4)))
        variances.append(chunk.detach().var((0, 2, 3, 4), unbiased=True))
    yr = torch.stack(outs)
    torch.testing.assert_close(y, yr, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    y.backward(g)
    yr.backward(g)
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.bias.grad, ref.bias.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.running_mean, 0.9 * torch.zeros(6) + 0.1 * torch.stack(means).mean(0))
    torch.testing.assert_close(bn.running_var, 0.9 * torch.ones(6) + 0.1 * torch.stack(variances).mean(0))
    assert int(bn.num_batches_tracked) == 1


def test_fixed_bn_groups_under_an_inplace_relu_give_the_reference_gradients():
    """The grouped BN hands back its output without an autograd view, so ``ReLU(inplace=True)``
    after it (every ResNet block) must still see correct gradients."""
    import torch
    from torch import nn

    from vidlab.engine.bn import set_bn_group

    torch.manual_seed(1)
    grouped, plain = nn.BatchNorm3d(5), nn.BatchNorm3d(5)
    plain.load_state_dict(grouped.state_dict())
    set_bn_group(grouped, 4)
    x = torch.randn(16, 5, 2, 3, 3, requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    y = torch.relu_(grouped.train()(x))
    # reference: the 4 groups (clips k, k + 4, ...) one by one, then an out-of-place ReLU
    parts = [plain.train()(xr[k::4]) for k in range(4)]
    yr = torch.relu(torch.stack(parts, 1).reshape(16, 5, 2, 3, 3))
    torch.testing.assert_close(y, yr, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (yr * g).sum().backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grouped.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-5)


def test_draw_sampling_rate_is_pyslowfasts_inclusive_uniform_draw():
    import numpy as np

    from vidlab.data.sampling import draw_sampling_rate

    rng = np.random.default_rng(0)
    assert draw_sampling_rate(4, None, rng) == 4 and draw_sampling_rate(4, 4, rng) == 4
    draws = [draw_sampling_rate(4, 16, np.random.default_rng([3, i])) for i in range(2000)]
    counts = np.bincount(draws, minlength=17)
    assert counts[:4].sum() == 0 and len(counts) == 17  # only 4..16, both ends included
    assert counts[4:].min() > 2000 / 13 * 0.7  # roughly uniform
    assert draws == [draw_sampling_rate(4, 16, np.random.default_rng([3, i])) for i in range(2000)]


@pytest.mark.parametrize("random_rate", [True, False])
def test_long_cycle_clips_draw_their_sampling_rate_between_the_default_and_the_full_span(
        tiny_synth, monkeypatch, random_rate):
    from vidlab.data import transforms
    from vidlab.data.datasets import video_list
    from vidlab.engine.trainer import ShapedDataset

    rates = []
    original = video_list.clip_indices

    def recording(video_frames, num_frames, sampling_rate, **kw):
        rates.append((num_frames, sampling_rate))
        return original(video_frames, num_frames, sampling_rate, **kw)

    monkeypatch.setattr(video_list, "clip_indices", recording)
    tf = transforms.ClipTransform(train=True, crop_size=24, min_scale=28, max_scale=32, flip=0.0)
    ds = video_list.VideoListDataset(tiny_synth / "train.csv", mode="train", num_frames=8, sampling_rate=2,
                                     transform=tf, seed=1)
    shaped = ShapedDataset(ds, 24, random_rate=random_rate)
    n = len(ds)
    for i in range(n):
        shaped[(i, 2, 16, 8)]  # a quarter of the frames: the rate may grow up to 4x
    for i in range(n):
        shaped[(i, 8, 24, 2)]  # the default shape keeps the default rate
    quarter, full = rates[:n], rates[n:]
    assert all(t == 2 for t, _ in quarter) and full == [(8, 2)] * n
    drawn = {r for _, r in quarter}
    if random_rate:
        assert drawn <= set(range(2, 9)) and {2, 8} <= drawn and len(drawn) >= 5
        rates.clear()
        for i in range(n):
            shaped[(i, 2, 16, 8)]
        assert rates == quarter  # the same clips again: seeded per (seed, epoch, index)
    else:
        assert drawn == {8}
    assert ds.sampling_rate == 2 and ds.max_sampling_rate is None  # the wrapped dataset is untouched
