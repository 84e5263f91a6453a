"""Non-local blocks (Wang et al., "Non-local Neural Networks", CVPR 2018).

:class:`Nonlocal` is the space-time self-attention block that PySlowFast
inserts after chosen residual blocks (``NONLOCAL.LOCATION``). Its parameter
names are PySlowFast's (``conv_theta``, ``conv_phi``, ``conv_g``, ``conv_out``,
``bn``), so a key such as ``s3.pathway0_nonlocal1.conv_theta.weight`` loads
unchanged. Where it sits is decided by the stage (see
:class:`vidlab.models.resnet3d.ResStage`), not here.

Forward, for ``x`` of shape ``(N, C, T, H, W)``::

    theta = conv_theta(x)                       # (N, C', THW)
    phi, g = conv_phi(pool(x)), conv_g(pool(x)) # (N, C', T'H'W')
    f = theta^T phi                             # (N, THW, T'H'W')
    f = softmax(f / sqrt(C'))   (``softmax``)  or  f / T'H'W'  (``dot_product``)
    y = x + bn(conv_out(f g^T))

``pool`` is an optional max-pool over ``(t, h, w)`` with stride = kernel,
applied to the keys and values only (PySlowFast ``NONLOCAL.POOL``, usually
``(1, 2, 2)``). ``group`` > 1 splits the clip into that many consecutive time
chunks that attend only within themselves (PySlowFast ``NONLOCAL.GROUP``).
The final BN carries ``transform_final_bn`` so the standard initialisation
zeroes its scale: a freshly built block is the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

INSTANTIATIONS = ("softmax", "dot_product")


def _bn(channels: int) -> nn.Module:
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)


class Nonlocal(nn.Module):
    """Non-local block with a residual connection.

    Args:
        dim: input (and output) channels.
        dim_inner: channels of the embeddings theta/phi/g (PySlowFast uses
            ``dim // 2``).
        pool_size: ``(t, h, w)`` max-pool kernel (= stride) on phi and g;
            ``None`` or all ones for no pooling.
        instantiation: ``"softmax"`` (embedded Gaussian, scaled by
            ``dim_inner ** -0.5``) or ``"dot_product"`` (divided by the number
            of key positions).
        group: temporal groups; attention stays within each group of
            ``T // group`` frames.
        norm: builds the final normalisation from a channel count.
    """

    def __init__(
        self,
        dim: int,
        dim_inner: int,
        pool_size: Sequence[int] | None = None,
        instantiation: str = "softmax",
        group: int = 1,
        norm: Callable[[int], nn.Module] = _bn,
    ):
        super().__init__()
        if instantiation not in INSTANTIATIONS:
            raise ValueError(f"unknown non-local instantiation {instantiation!r}; choose from {INSTANTIATIONS}")
        if group < 1:
            raise ValueError(f"non-local group must be >= 1, got {group}")
        self.dim_inner = dim_inner
        self.instantiation = instantiation
        self.group = group
        self.conv_theta = nn.Conv3d(dim, dim_inner, 1)
        self.conv_phi = nn.Conv3d(dim, dim_inner, 1)
        self.conv_g = nn.Conv3d(dim, dim_inner, 1)
        self.conv_out = nn.Conv3d(dim_inner, dim, 1)
        self.bn = norm(dim)
        # zero-initialised scale: the block starts as the identity (a plain attribute, read by init_weights)
        setattr(self.bn, "transform_final_bn", True)
        if pool_size is not None and any(k > 1 for k in pool_size):
            self.pool: nn.Module = nn.MaxPool3d(tuple(pool_size), tuple(pool_size))
        else:
            self.pool = nn.Identity()

    def extra_repr(self) -> str:
        return f"instantiation={self.instantiation!r}, group={self.group}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.group == 1:
            return x + self._response(x)
        n, c, t, h, w = x.shape
        if t % self.group:
            raise ValueError(f"non-local group {self.group} does not divide {t} frames")
        # (N, C, T, H, W) -> (N * group, C, T / group, H, W): each time chunk attends within itself
        chunks = x.reshape(n, c, self.group, t // self.group, h, w).transpose(1, 2)
        chunks = chunks.reshape(n * self.group, c, t // self.group, h, w)
        out = chunks + self._response(chunks)
        out = out.reshape(n, self.group, c, t // self.group, h, w).transpose(1, 2)
        return out.reshape(n, c, t, h, w)

    def _response(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        theta = self.conv_theta(x).flatten(2)  # (N, C', Q) queries
        pooled = self.pool(x)
        phi = self.conv_phi(pooled).flatten(2)  # (N, C', K) keys
        g = self.conv_g(pooled).flatten(2)  # (N, C', K) values
        affinity = torch.bmm(theta.transpose(1, 2), phi)  # (N, Q, K)
        if self.instantiation == "softmax":
            affinity = (affinity * self.dim_inner**-0.5).softmax(dim=2)
        else:
            affinity = affinity / affinity.shape[2]
        y = torch.bmm(g, affinity.transpose(1, 2))  # (N, C', Q)
        return self.bn(self.conv_out(y.reshape(n, self.dim_inner, t, h, w)))
