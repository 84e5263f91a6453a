"""Batch-norm helpers for training at scale.

* **Fixed BN batch** (PySlowFast's "sub-batch BN", also what multigrid needs):
  :func:`set_bn_group` makes every BatchNorm compute its training statistics
  over groups of ``group`` clips instead of the whole batch. The groups are
  PySlowFast's: with ``G = batch / group`` groups, group ``k`` holds clips
  ``k, k + G, k + 2G, ...`` of the batch, which is also the share of the batch
  that process ``k`` of ``G`` gets (:class:`~vidlab.engine.sampler.GlobalBatchSampler`).
  So with ``group`` equal to the per-process batch, one process computes
  exactly what DDP processes compute together, which is what makes runs
  comparable across world sizes. The modules keep their class's parameters
  and names (the state dict does not change); only ``forward`` in training
  mode differs.
* **Precise BN**: :func:`precise_bn` recomputes the running statistics over a
  number of training batches with the final weights (``torch.optim.swa_utils.update_bn``),
  averaged over processes.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from vidlab.engine import distributed as dist


def _grouped_forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    group = getattr(self, "bn_group", None)
    if not self.training or group is None or x.shape[0] <= group:
        return self._plain_forward(x)
    if x.shape[0] % group == 0:
        return _grouped_by_channels(self, x, x.shape[0] // group, group)
    # a batch that does not divide into whole groups (the last one of an epoch without
    # drop_last): as many groups as whole ones would need, their sizes differing by one
    groups = -(-x.shape[0] // group)
    dims = [0] + list(range(2, x.ndim))
    outs, means, variances = [], [], []
    for k in range(groups):
        chunk = x[k::groups]
        outs.append(F.batch_norm(chunk, None, None, self.weight, self.bias, True, 0.0, self.eps))
        if self.track_running_stats:
            with torch.no_grad():
                means.append(chunk.mean(dims))
                variances.append(chunk.var(dims, unbiased=True))
    if self.track_running_stats:
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(torch.stack(means).mean(0), alpha=m)
            self.running_var.mul_(1 - m).add_(torch.stack(variances).mean(0), alpha=m)
    # the outputs come group by group (clips k, k + groups, ...): put each clip back in its place
    position = torch.cat([torch.arange(k, x.shape[0], groups) for k in range(groups)])
    return torch.cat(outs)[torch.argsort(position)]


def _grouped_by_channels(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, groups: int,
                         group: int) -> torch.Tensor:
    """One ``batch_norm`` per group (clips ``k, k + groups, ...``), in a single call.

    PySlowFast's sub-batch BN layout: ``(group * groups, C, ...)`` viewed as
    ``(group, groups * C, ...)`` -- a view, no copy -- puts channel ``c`` of clip
    ``i`` in channel ``(i % groups) * C + c``, so one ``batch_norm`` over
    ``groups * C`` channels normalises each group by its own mean and variance.
    The running statistics get the mean over the groups of each group's mean and
    unbiased variance.
    """
    c, rest = x.shape[1], x.shape[2:]
    xs = x.reshape(group, groups * c, *rest)
    weight = self.weight.repeat(groups) if self.weight is not None else None
    bias = self.bias.repeat(groups) if self.bias is not None else None
    if self.track_running_stats:
        # momentum 1: the temporary buffers receive exactly each group's mean and unbiased variance
        mean = self.running_mean.new_zeros(groups * c)
        var = self.running_var.new_ones(groups * c)
        y = F.batch_norm(xs, mean, var, weight, bias, True, 1.0, self.eps)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - m).add_(mean.view(groups, c).mean(0), alpha=m)
            self.running_var.mul_(1 - m).add_(var.view(groups, c).mean(0), alpha=m)
    else:
        y = F.batch_norm(xs, None, None, weight, bias, True, 0.0, self.eps)
    # ``y`` is a fresh tensor nobody else holds: give it the clips' shape without making the result
    # an autograd *view* of it, or an in-place op after the BN (``ReLU(inplace=True)``) would make
    # autograd clone and copy the whole activation gradient back in the backward pass
    return torch.ops.aten._unsafe_view(y, x.shape)


class _GroupedBN:
    """Mixin swapped into BatchNorm classes by :func:`set_bn_group`."""

    def _plain_forward(self, x):
        return super().forward(x)

    forward = _grouped_forward


_GROUPED: dict[type, type] = {}


def set_bn_group(model: nn.Module, group: int | None) -> int:
    """Give every BatchNorm{1,2,3}d of ``model`` a fixed statistics group (None: whole batch).

    Returns the number of modules changed.
    """
    count = 0
    for m in model.modules():
        base = type(m)
        if base in _GROUPED.values():
            m.bn_group = group
            count += 1
        elif base in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
            if base not in _GROUPED:
                _GROUPED[base] = type(f"Grouped{base.__name__}", (_GroupedBN, base), {})
            m.__class__ = _GROUPED[base]
            m.bn_group = group
            count += 1
    return count


@torch.no_grad()
def precise_bn(model: nn.Module, batches, num_batches: int, device: torch.device) -> int:
    """Recompute BN running statistics as the true average over ``num_batches`` batches."""
    from torch.optim.swa_utils import update_bn

    def inputs():
        for item in itertools.islice(batches, num_batches):
            yield item[0].to(device)

    was_training = model.training
    update_bn(inputs(), model)
    model.train(was_training)
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            if dist.active():
                for buf in (m.running_mean, m.running_var):
                    dist.all_reduce_sum(buf)
                    buf /= torch.distributed.get_world_size()
            n += 1
    return n
