"""Registered architectures. Importing this module fills the registry."""

from __future__ import annotations

from functools import partial

from vidlab.models import resnet3d
from vidlab.models.registry import ModelSpec, register


# Tiny models for the synthetic demo: ResNet-10 layout (basic blocks, one per
# stage) at width 16, sized for 64x64 inputs on a laptop CPU. Both share every
# block; the only difference is where time is mixed.
def _register_tiny(name: str, family: str, temporal: int, description: str) -> None:
    register(ModelSpec(
        name,
        partial(resnet3d.ResNet3D, stage_blocks=(1, 1, 1, 1), transform="basic", width=16,
                temporal_kernels=[[temporal]] * 4, stem_kernel=(temporal, 7, 7), pool1_temporal=1, dropout=0.2),
        family=family, num_frames=8, sampling_rate=4, crop_size=56, test_crop_size=56,
        mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), description=description,
    ))


_register_tiny("c2d_r10_tiny", "c2d", 1, "order-blind baseline: 2D ResNet-10 per frame + temporal average (width 16)")
_register_tiny("i3d_r10_tiny", "i3d", 3,
               "small temporal model: ResNet-10 with 3x7x7 stem and temporal kernels in every block (width 16)")

# PySlowFast Kinetics-400 ResNet-50 models (same keys as PySlowFast checkpoints).
register(ModelSpec(
    "c2d_r50", resnet3d.c2d_resnet, family="c2d", num_frames=8, sampling_rate=8,
    crop_size=224, test_crop_size=256, aliases=("c2d_r50_8x8",),
    description="C2D ResNet-50 (PySlowFast C2D_8x8_R50)",
))
register(ModelSpec(
    "i3d_r50", resnet3d.i3d_resnet, family="i3d", num_frames=8, sampling_rate=8,
    crop_size=224, test_crop_size=256, aliases=("i3d_r50_8x8",),
    description="I3D ResNet-50 (PySlowFast I3D_8x8_R50)",
))
register(ModelSpec(
    "slow_r50_8x8", resnet3d.slow_resnet, family="slow", num_frames=8, sampling_rate=8,
    crop_size=224, test_crop_size=256, aliases=("slow_r50",),
    description="Slow-only ResNet-50 8x8 (PySlowFast SLOW_8x8_R50)",
))
register(ModelSpec(
    "slow_r50_4x16", resnet3d.slow_resnet, family="slow", num_frames=4, sampling_rate=16,
    crop_size=224, test_crop_size=256,
    description="Slow-only ResNet-50 4x16 (PySlowFast SLOW_4x16_R50)",
))

# Families in their own modules register themselves on import.
from vidlab.models import (  # noqa: E402,F401
    c3d, cnn_lstm, csn, detection, lfb, r2plus1d, s3d, slowfast, tsn, two_stream, video_resnet, x3d,
)
