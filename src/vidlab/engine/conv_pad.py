"""Explicit temporal padding for 3D convolutions on short clips (CPU training).

oneDNN, which runs PyTorch's CPU convolutions, has no fast weight-gradient
kernel for a 3D convolution whose input has fewer frames than its temporal
kernel (``T < k_t``, e.g. 2 frames through a 3-frame kernel with padding 1):
it falls back to an im2col + GEMM path that is 2-3x slower. Multigrid's
cheapest shape (a quarter of the frames) hits exactly that case: on
``i3d_r10_tiny`` the stem's backward pass at 64 x 2 x 40^2 takes 31 ms
instead of 12.

Zero-padding the input in time first and convolving with no temporal padding
is the same function (the padded frames are the zeros the convolution would
have added), with the same gradients up to summation order, and it takes the
fast kernel. :func:`pad_time_explicitly` switches every ``nn.Conv3d`` with
temporal padding to that form for CPU inputs with ``T < k_t``; other inputs,
GPU tensors and the state dict are untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TimePaddedConv3d(nn.Conv3d):
    """``nn.Conv3d`` that pads time explicitly when a CPU input is shorter than its kernel."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        pad_t = self.padding[0] if isinstance(self.padding, tuple) else 0
        if (input.device.type != "cpu" or self.padding_mode != "zeros" or not pad_t
                or input.shape[-3] >= self.kernel_size[0]):
            return super()._conv_forward(input, weight, bias)
        padded = F.pad(input, (0, 0, 0, 0, pad_t, pad_t))
        return F.conv3d(padded, weight, bias, self.stride, (0, *self.padding[1:]), self.dilation, self.groups)


def pad_time_explicitly(model: nn.Module) -> int:
    """Make every temporally padded ``nn.Conv3d`` of ``model`` a :class:`TimePaddedConv3d`
    (in place; parameters and names unchanged). Returns the number of modules changed."""
    count = 0
    for m in model.modules():
        if type(m) is nn.Conv3d and isinstance(m.padding, tuple) and m.padding[0] > 0:
            m.__class__ = TimePaddedConv3d
            count += 1
    return count
