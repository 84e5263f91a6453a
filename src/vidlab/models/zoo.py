"""Every model family. Importing this module (which ``vidlab.models`` does) imports each
family module, and each registers its architectures with ``@register_model`` beside
its builders, so the registry is full whatever module a caller imports first."""

from vidlab.models import (  # noqa: F401
    c3d,
    cnn_lstm,
    csn,
    detection,
    lfb,
    mvit,
    r2plus1d,
    resnet3d,
    s3d,
    slowfast,
    swin3d,
    timesformer,
    tsn,
    two_stream,
    video_resnet,
    videomae,
    x3d,
)
