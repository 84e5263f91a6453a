"""R(2+1)D-50 in pytorchvideo's architecture (hub ``r2plus1d_r50``, R2PLUS1D_16x4_R50).

Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action
Recognition", CVPR 2018, as a ResNet-50 bottleneck network: 1x7x7 stem conv
(stride 1x2x2, no max-pool), blocks 1x1x1 -> (2+1)D 3x3x3 -> 1x1x1 where the
(2+1)D conv is temporal 3x1x1 -> BN -> ReLU -> spatial 1x3x3 at full inner
width, stage strides (T, S) = (1, 2), (1, 2), (2, 2), (2, 2), dropout 0.5.
28,107,600 parameters with 400 classes. The network class and the key names
are :class:`vidlab.models.csn.BottleneckResNet`'s (see that module).

Not torchvision's ``r2plus1d_18`` (basic blocks, spatial-then-temporal convs,
parameter-matched middle widths): that one lives in
:mod:`vidlab.models.video_resnet`.
"""

from __future__ import annotations

from vidlab.models.csn import R50_BLOCKS, BottleneckResNet
from vidlab.models.registry import register_model


# pytorchvideo model zoo, Kinetics-400 (docs/source/model_zoo.md): R(2+1)D R50 16x4,
# 76.01 top-1, trained 224, tested with 3 x 10 views of 256 crops.
@register_model(
    "r2plus1d_r50", family="r2plus1d", num_frames=16, sampling_rate=4, crop_size=224, test_crop_size=256,
    aliases=("r2plus1d_r50_16x4",),
    description="R(2+1)D ResNet-50 16x4 (pytorchvideo r2plus1d_r50 / R2PLUS1D_16x4_R50), readable keys",
)
def r2plus1d_r50(num_classes: int = 400, **kw) -> BottleneckResNet:
    """R(2+1)D-50 as pytorchvideo's hub ``r2plus1d_r50`` (dropout 0.5)."""
    kw.setdefault("dropout", 0.5)
    return BottleneckResNet(num_classes, stage_blocks=R50_BLOCKS, conv_b="2plus1d", stem_kernel=(1, 7, 7),
                            stem_pool=False, spatial_strides=(2, 2, 2, 2), temporal_strides=(1, 1, 2, 2), **kw)
