"""`vidlab eval`: a checkpoint on a video list, multi-view."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from vidlab import models
from vidlab.data.datasets import VideoListDataset, read_video_list
from vidlab.data.transforms import ClipTransform
from vidlab.engine.inference import Preprocessing
from vidlab.engine.trainer import predict
from vidlab.errors import DataError
from vidlab.evaluation.metrics import aggregate_views, classification_report


def run_eval(checkpoint, video_list, *, root=None, views: int | None = None, crops: int | None = None,
             batch_size: int = 4, out: Path | None = None, progress: bool = True, protocol: str = "vidlab") -> dict:
    """``protocol``: ``vidlab`` (global pooling, the checkpoint's preprocessing, 1 view x 1 crop unless
    given) or ``source`` (the test protocol of the checkpoint's source and architecture:
    :mod:`vidlab.engine.protocol`; PySlowFast's and PyTorchVideo's fully convolutional heads at the
    checkpoint's test scale, or MMAction2's test pipeline: its clip offsets, resize and crops, global
    pooling)."""
    if protocol not in ("vidlab", "source"):
        raise DataError(f"--protocol must be vidlab or source, got {protocol!r}")
    if crops not in (None, 1, 3):
        raise DataError("--crops must be 1 or 3")
    model = models.load(checkpoint)
    pre = Preprocessing.from_model(model)
    described = "vidlab: global average pool, the checkpoint's preprocessing"
    view_rule = "pyslowfast"
    proto = None
    if protocol == "source":
        from dataclasses import replace

        from vidlab.engine.protocol import protocol_for

        proto = protocol_for(model.meta)
        arch = model.meta.get("arch")
        views, crops = views or proto.views, crops or proto.crops
        crop = proto.test_crop or pre.test_scale
        scale = proto.test_scale or crop
        # MMAction2's rule takes the frame rate of its config (None: the video's own), not the checkpoint's
        fps = proto.target_fps if proto.view_rule == "mmaction2" else pre.target_fps or proto.target_fps
        model = proto.test_model(model, pre.crop_size)  # FullyConvTest only for a per-position head
        pre = replace(pre, crop_size=crop, test_scale=scale, target_fps=fps)
        view_rule = proto.view_rule
        described = proto.describe(views, crops, crop, arch, scale)
    views, crops = views or 1, crops or 1
    labels = model.meta.get("labels") or [str(i) for i in range(model.meta["num_classes"])]
    records = read_video_list(video_list, root)
    for r in records:
        if not 0 <= r.label < len(labels):
            raise DataError(f"{video_list}: label {r.label} of {r.path} outside [0, {len(labels)})")
    if proto is not None:
        tf = proto.transform(crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean, std=pre.std,
                             spatial_crops=crops)
    else:
        tf = ClipTransform(train=False, crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean,
                           std=pre.std, spatial_crops=crops)
    ds = VideoListDataset(records, mode="test", num_frames=pre.num_frames, sampling_rate=pre.sampling_rate,
                          transform=tf, target_fps=pre.target_fps, num_views=views, view_rule=view_rule)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)
    view_logits, y = predict(model, loader, torch.device("cpu"), desc="eval", progress=progress)
    scores = aggregate_views(view_logits)
    res = classification_report(scores, y, len(labels), view_scores=view_logits)
    res.update({"checkpoint": str(checkpoint), "list": str(video_list), "views": views, "crops": crops,
                "labels": labels, "protocol": described, "crop_size": pre.crop_size})
    if out is not None:
        from vidlab.evaluation.report import Report, plot_confusion_matrix

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        cm = plot_confusion_matrix(res["confusion_matrix"], labels, out / "confusion.png", title=str(checkpoint))
        rep = Report(f"Evaluation of {Path(checkpoint).name}")
        rep.paragraph(f"{res['num_videos']} videos from {video_list}, {views} temporal x {crops} spatial views each "
                      f"at {pre.crop_size} px, scores averaged over views (softmax); protocol {described}.")
        rep.table(["metric", "value"], [["video top-1", res["top1"]], ["video top-5", res["top5"]],
                                        ["mean class accuracy", res["mean_class_accuracy"]],
                                        ["clip top-1", res["clip_top1"]]])
        rep.table(["class", "accuracy"], [[n, a] for n, a in zip(labels, res["per_class_accuracy"])])
        rep.image(cm, "confusion matrix")
        md, html = rep.write(out)
        res["report"] = str(html)
    print(f"evaluated {res['num_videos']} videos", file=sys.stderr)
    return res
