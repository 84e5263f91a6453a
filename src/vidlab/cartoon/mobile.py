"""The mobile variant: the same weights, written with ops every mobile delegate takes.

:class:`CartoonGenerator` uses reflection padding and ``F.instance_norm``. XNNPACK (ExecuTorch's CPU
delegate) has neither, so an exported graph of the original is cut into pieces that fall back to
portable kernels between delegated convolutions. :class:`MobileCartoonGenerator` computes the same
function with

- reflection padding as slices + concatenation (``x[..., 1:2]`` ... ``cat``), per side,
- instance norm as ``mean``, ``sub``, ``mul``, ``add`` and ``rsqrt`` over the spatial axes
  (biased variance, ``eps = 1e-9``, then ``scale * x_hat + shift``; the affine parameters are
  ``(1, C, 1, 1)`` constants),
- ``Conv2d`` / ``ConvTranspose2d`` / ``relu`` / ``tanh`` unchanged,

and the same parameters (the convolutions are shared, not copied). ONNX export of this variant
has no ``Pad(reflect)`` or ``InstanceNormalization`` nodes, and XNNPACK lowers it in one piece.
Output equals the original up to float rounding (tested). The size rule is the port's:
``crop`` as in :class:`CartoonGenerator`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidlab.cartoon.generator import NUM_RES_BLOCKS, CartoonGenerator, InstanceNorm

__all__ = ["MobileCartoonGenerator", "MobileInstanceNorm", "reflect_pad"]


def reflect_pad(x: Tensor, p: int) -> Tensor:
    """Reflection padding of ``p`` pixels on all four sides, with slices and ``cat`` only."""
    if p == 0:
        return x
    left = [x[:, :, :, i:i + 1] for i in range(p, 0, -1)]
    right = [x[:, :, :, -1 - i:x.shape[3] - i] for i in range(1, p + 1)]
    x = torch.cat([*left, x, *right], dim=3)
    top = [x[:, :, i:i + 1, :] for i in range(p, 0, -1)]
    bottom = [x[:, :, -1 - i:x.shape[2] - i, :] for i in range(1, p + 1)]
    return torch.cat([*top, x, *bottom], dim=2)


class MobileInstanceNorm(nn.Module):
    """The port's instance norm from elementary ops (see the module doc)."""

    def __init__(self, norm: InstanceNorm):
        super().__init__()
        self.eps = norm.eps
        self.scale = nn.Parameter(norm.scale.detach().reshape(1, -1, 1, 1).clone(), requires_grad=False)
        self.shift = nn.Parameter(norm.shift.detach().reshape(1, -1, 1, 1).clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        d = x - mean
        var = (d * d).mean(dim=(2, 3), keepdim=True)
        return d * (torch.rsqrt(var + self.eps) * self.scale) + self.shift


class MobileCartoonGenerator(nn.Module):
    """:class:`CartoonGenerator` re-expressed for mobile delegates; build it from a loaded generator."""

    def __init__(self, model: CartoonGenerator, crop: bool | None = None):
        super().__init__()
        self.crop = model.crop if crop is None else crop
        for name, child in model.named_children():
            setattr(self, name, MobileInstanceNorm(child) if isinstance(child, InstanceNorm) else child)
        self.num_res_blocks = NUM_RES_BLOCKS

    def forward(self, x: Tensor) -> Tensor:
        relu = torch.relu
        h_in, w_in = x.shape[-2], x.shape[-1]
        y = relu(self.in01_1(self.conv01_1(reflect_pad(x, 3))))
        y = relu(self.in02_1(self.conv02_2(self.conv02_1(y))))
        t = relu(self.in03_1(self.conv03_2(self.conv03_1(y))))
        for i in range(4, 4 + self.num_res_blocks):
            c1, n1 = getattr(self, f"conv{i:02d}_1"), getattr(self, f"in{i:02d}_1")
            c2, n2 = getattr(self, f"conv{i:02d}_2"), getattr(self, f"in{i:02d}_2")
            y = relu(n1(c1(reflect_pad(t, 1))))
            t = n2(c2(reflect_pad(y, 1))) + t
        y = relu(self.in12_1(self.deconv01_2(self.deconv01_1(t))))
        y = relu(self.in13_1(self.deconv02_2(self.deconv02_1(y))))
        y = torch.tanh(self.deconv03_1(reflect_pad(y, 3)))
        if self.crop:
            y = y[:, :, :h_in, :w_in]
        return y
