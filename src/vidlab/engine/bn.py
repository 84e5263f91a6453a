"""Batch-norm helpers for training at scale.

* **Fixed BN batch** (PySlowFast's "sub-batch BN", also what multigrid needs):
  :func:`set_bn_group` makes every BatchNorm compute its training statistics
  over consecutive groups of ``group`` clips instead of the whole batch. The
  modules keep their class's parameters and names (the state dict does not
  change); only ``forward`` in training mode differs. With ``group`` equal to
  the per-process batch, one process computes exactly what DDP processes
  compute together, which is what makes runs comparable across world sizes.
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
    dims = [0] + list(range(2, x.ndim))
    outs, means, variances = [], [], []
    for chunk in x.split(group):
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
    return torch.cat(outs)


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
