"""The CartoonGAN generator, layer for layer as the CartoonGAN-Test-Pytorch-Torch port.

The port (``network/Transformer.py`` of Yijunmaverick/CartoonGAN-Test-Pytorch-Torch) is a
hand conversion of the authors' Torch models. Its layers, in order:

- reflection pad 3, 7x7 conv 3->64, instance norm, ReLU
- two down blocks: 3x3 stride-2 conv (zero padding 1), 3x3 conv, instance norm, ReLU
  (128 and 256 channels)
- 8 residual blocks: reflection pad 1, 3x3 conv, instance norm, ReLU, reflection pad 1,
  3x3 conv, instance norm, ``+ x`` (no ReLU after the add)
- two up blocks: 3x3 stride-2 ``ConvTranspose2d`` (padding 1, output_padding 1), 3x3 conv,
  instance norm, ReLU (128 and 64 channels)
- reflection pad 3, 7x7 conv 64->3, tanh

The instance norm is the port's own: per sample and channel, mean and *biased* variance over
H, W, ``eps = 1e-9``, then ``scale * x_hat + shift``. It equals ``F.instance_norm`` with
``weight=scale, bias=shift, eps=1e-9``, which is what runs here (one fused kernel, and the
ONNX ``InstanceNormalization`` op on export).

Parameter names are the port's (``conv01_1.weight``, ``in01_1.scale``, ``deconv01_1.weight``,
...), so the published ``<Style>_net_G_float.pth`` state dicts load unchanged.

Size rule. Each stride-2 conv maps ``n`` to ``ceil(n / 2)`` and each transposed conv doubles,
so the port's output side is ``4 * ceil(ceil(n / 2) / 2)``: up to 3 pixels more than the input
when a side is not a multiple of 4 (the port writes that larger image). The extra rows/columns
are at the bottom/right and the rest is aligned with the input (output pixel ``i`` belongs to
input pixel ``i`` at every scale), so :class:`CartoonGenerator` crops them off
(``crop=True``, the default): the result is exactly the port's output with its bottom/right
excess removed. ``crop=False`` returns the port's output unchanged.

Input and output are the port's: **BGR** in ``[-1, 1]``, ``(N, 3, H, W)``; see
:func:`preprocess` / :func:`postprocess` for the conversions from/to RGB images.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "NUM_PARAMS",
    "NUM_RES_BLOCKS",
    "CartoonGenerator",
    "InstanceNorm",
    "fixture_state_dict",
    "port_output_size",
    "postprocess",
    "preprocess",
]

#: Parameters of the generator (all float32, no buffers).
NUM_PARAMS = 11_129_667
#: Residual blocks (``conv04``..``conv11``).
NUM_RES_BLOCKS = 8
#: The port's instance-norm epsilon.
EPS = 1e-9


class InstanceNorm(nn.Module):
    """The port's instance normalisation: biased variance, ``eps=1e-9``, ``scale``/``shift``.

    ``override`` (default ``None``) lets tiled inference take over the statistics: when set, it
    is called as ``override(module, x)`` and returns the normalised tensor (see
    :mod:`vidlab.cartoon.tiling`). With ``override=None`` the module is a plain
    ``F.instance_norm`` and exports/quantises as one.
    """

    def __init__(self, channels: int, eps: float = EPS):
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))
        self.override: Callable[[InstanceNorm, Tensor], Tensor] | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.override is not None:
            return self.override(self, x)
        return F.instance_norm(x, weight=self.scale, bias=self.shift, eps=self.eps)

    def normalize_with(self, x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
        """Normalise ``x`` with given per-(sample, channel) ``mean``/``var`` of shape ``(N, C)``."""
        a = self.scale * torch.rsqrt(var + self.eps)  # (N, C)
        b = self.shift - mean * a
        return x * a[:, :, None, None].to(x.dtype) + b[:, :, None, None].to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps:g}"


class CartoonGenerator(nn.Module):
    """CartoonGAN's generator (the port's ``Transformer``), with the port's parameter names.

    ``forward(x)``: ``x`` is BGR in ``[-1, 1]``, ``(N, 3, H, W)``, any ``H, W >= 2``; returns BGR
    in ``[-1, 1]`` of the input's size (``crop=True``) or of the port's size
    ``4 * ceil(ceil(n / 2) / 2)`` per side (``crop=False``).
    """

    def __init__(self, crop: bool = True):
        super().__init__()
        self.crop = crop
        self.conv01_1 = nn.Conv2d(3, 64, 7)
        self.in01_1 = InstanceNorm(64)
        # down-convolution
        self.conv02_1 = nn.Conv2d(64, 128, 3, 2, 1)
        self.conv02_2 = nn.Conv2d(128, 128, 3, 1, 1)
        self.in02_1 = InstanceNorm(128)
        self.conv03_1 = nn.Conv2d(128, 256, 3, 2, 1)
        self.conv03_2 = nn.Conv2d(256, 256, 3, 1, 1)
        self.in03_1 = InstanceNorm(256)
        # residual blocks conv04 .. conv11, each two convs and two norms
        for i in range(4, 4 + NUM_RES_BLOCKS):
            for j in (1, 2):
                setattr(self, f"conv{i:02d}_{j}", nn.Conv2d(256, 256, 3))
                setattr(self, f"in{i:02d}_{j}", InstanceNorm(256))
        # up-convolution
        self.deconv01_1 = nn.ConvTranspose2d(256, 128, 3, 2, 1, 1)
        self.deconv01_2 = nn.Conv2d(128, 128, 3, 1, 1)
        self.in12_1 = InstanceNorm(128)
        self.deconv02_1 = nn.ConvTranspose2d(128, 64, 3, 2, 1, 1)
        self.deconv02_2 = nn.Conv2d(64, 64, 3, 1, 1)
        self.in13_1 = InstanceNorm(64)
        self.deconv03_1 = nn.Conv2d(64, 3, 7)

    def res_blocks(self) -> Iterator[tuple[nn.Conv2d, InstanceNorm, nn.Conv2d, InstanceNorm]]:
        for i in range(4, 4 + NUM_RES_BLOCKS):
            yield (getattr(self, f"conv{i:02d}_1"), getattr(self, f"in{i:02d}_1"),
                   getattr(self, f"conv{i:02d}_2"), getattr(self, f"in{i:02d}_2"))

    def norms(self) -> list[InstanceNorm]:
        """The 21 instance norms in execution order."""
        return [m for m in self.modules() if isinstance(m, InstanceNorm)]

    def forward(self, x: Tensor) -> Tensor:
        h_in, w_in = x.shape[-2], x.shape[-1]
        y = F.relu(self.in01_1(self.conv01_1(F.pad(x, (3, 3, 3, 3), mode="reflect"))))
        y = F.relu(self.in02_1(self.conv02_2(self.conv02_1(y))))
        t = F.relu(self.in03_1(self.conv03_2(self.conv03_1(y))))
        for conv1, norm1, conv2, norm2 in self.res_blocks():
            y = F.relu(norm1(conv1(F.pad(t, (1, 1, 1, 1), mode="reflect"))))
            t = norm2(conv2(F.pad(y, (1, 1, 1, 1), mode="reflect"))) + t
        y = F.relu(self.in12_1(self.deconv01_2(self.deconv01_1(t))))
        y = F.relu(self.in13_1(self.deconv02_2(self.deconv02_1(y))))
        y = torch.tanh(self.deconv03_1(F.pad(y, (3, 3, 3, 3), mode="reflect")))
        if self.crop:
            y = y[:, :, :h_in, :w_in]
        return y


def port_output_size(h: int, w: int) -> tuple[int, int]:
    """The port's (uncropped) output size for an ``h x w`` input: ``4*ceil(ceil(n/2)/2)``."""
    def f(n: int) -> int:
        return 4 * math.ceil(math.ceil(n / 2) / 2)
    return f(h), f(w)


# ----------------------------------------------------------------------------------
def preprocess(rgb: np.ndarray | Tensor) -> Tensor:
    """RGB uint8 ``(H, W, 3)`` or ``(N, H, W, 3)`` -> the port's input: BGR ``[-1, 1]`` ``(N, 3, H, W)``.

    As the port's ``test.py``: ``/255`` (``ToTensor``), channel order BGR, ``x * 2 - 1``.
    """
    if isinstance(rgb, np.ndarray):
        rgb = np.ascontiguousarray(rgb)
        t = torch.from_numpy(rgb if rgb.flags.writeable else rgb.copy())
    else:
        t = rgb
    if t.dtype != torch.uint8:
        raise TypeError(f"expected uint8 RGB, got {t.dtype}")
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) RGB, got {tuple(t.shape)}")
    x = t.permute(0, 3, 1, 2).flip(1).float().div_(255.0)
    return x.mul_(2.0).sub_(1.0).contiguous()


def postprocess(y: Tensor) -> np.ndarray:
    """The generator's BGR ``[-1, 1]`` ``(N, 3, H, W)`` -> RGB uint8 ``(N, H, W, 3)``.

    As the port: BGR -> RGB, ``y * 0.5 + 0.5``, then torchvision ``save_image``'s rounding
    (``* 255 + 0.5``, clamp to ``[0, 255]``, truncate).
    """
    y = y.detach().float().flip(1) * 0.5 + 0.5
    y = y.mul(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


# ----------------------------------------------------------------------------------
def _fixture_tensor(key: str, shape: tuple[int, ...]) -> Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if key.endswith("scale"):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    if key.endswith(("shift", "bias")):
        return 0.1 * torch.randn(shape, generator=g)
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=g) * math.sqrt(1.0 / fan_in)


def fixture_state_dict() -> dict[str, Tensor]:
    """Deterministic weights: the rule of ``shared/fixtures/cartoongan`` applied to every key.

    Not a cartoon style (the output is a coloured texture): it is what the golden fixture, the
    tests and the benchmarks run, so speed and exactness can be checked without the real
    weights.
    """
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in CartoonGenerator().state_dict().items()}
    return {k: _fixture_tensor(k, s) for k, s in shapes.items()}
