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
from vidlab.evaluation.multilabel import aggregate_views_multilabel, multilabel_report


def run_eval(checkpoint, video_list, *, root=None, views: int | None = None, crops: int | None = None,
             batch_size: int = 4, out: Path | None = None, progress: bool = True, protocol: str = "vidlab") -> dict:
    """``protocol``: ``vidlab`` (global pooling, the checkpoint's preprocessing, 1 view x 1 crop unless
    given) or ``source`` (the test protocol of the checkpoint's source and architecture:
    :mod:`vidlab.engine.protocol`; PySlowFast's and PyTorchVideo's fully convolutional heads at the
    checkpoint's test scale, or MMAction2's test pipeline: its clip offsets, resize and crops, global
    pooling; a PySlowFast / PyTorchVideo SSv2 or Charades checkpoint: that data set's frame sampling).

    A multi-label checkpoint (Charades' protocol, or ``preprocessing.multi_label`` in its sidecar) is
    scored by mAP over the classes with a positive video (:func:`~vidlab.evaluation.multilabel.multilabel_report`),
    its views combined by the max of the sigmoids (PySlowFast's ``ENSEMBLE_METHOD: max``); a list row may
    then carry several labels (``path c1 c2 ...``, or ``-1`` for none)."""
    if protocol not in ("vidlab", "source"):
        raise DataError(f"--protocol must be vidlab or source, got {protocol!r}")
    if crops not in (None, 1, 3):
        raise DataError("--crops must be 1 or 3")
    model = models.load(checkpoint)
    meta: dict = dict(getattr(model, "meta", None) or {})
    pre = Preprocessing.from_model(model)
    described = "vidlab: global average pool, the checkpoint's preprocessing"
    view_rule = "pyslowfast"
    proto = None
    if protocol == "source":
        from dataclasses import replace

        from vidlab.engine.protocol import protocol_for

        proto = protocol_for(meta)
        arch = meta.get("arch")
        views, crops = views or proto.views, crops or proto.crops
        proto.check(views, crops)
        crop = proto.test_crop or pre.test_scale
        scale = proto.test_scale or crop
        # MMAction2's rule and the frame-list rules (SSv2, Charades) take the frame rate of their source
        # (MMAction2 None: the video's own), not the checkpoint's
        fps = (pre.target_fps or proto.target_fps) if proto.view_rule == "pyslowfast" else proto.target_fps
        model = proto.test_model(model, pre.crop_size)  # FullyConvTest only for a per-position head
        pre = replace(pre, crop_size=crop, test_scale=scale, target_fps=fps,
                      num_frames=proto.num_frames or pre.num_frames, sampling_rate=proto.sampling_rate or pre.sampling_rate)
        view_rule = proto.view_rule
        described = proto.describe(views, crops, crop, arch, scale)
    views, crops = views or 1, crops or 1
    labels = meta.get("labels") or [str(i) for i in range(meta["num_classes"])]
    multi_label = proto.multi_label if proto is not None else False
    multi_label = multi_label or bool((meta.get("preprocessing") or {}).get("multi_label"))
    records = read_video_list(video_list, root)
    for r in records:
        classes = r.label if isinstance(r.label, tuple) else (r.label,)
        if len(classes) > 1 and not multi_label:
            raise DataError(f"{video_list}: {r.path} has several labels, and this checkpoint is single-label")
        for c in classes:
            if not (0 <= c < len(labels) or (multi_label and c == -1)):
                raise DataError(f"{video_list}: label {c} of {r.path} outside [0, {len(labels)})")
    if proto is not None:
        tf = proto.transform(crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean, std=pre.std,
                             spatial_crops=crops)
    else:
        tf = ClipTransform(train=False, crop_size=pre.crop_size, test_scale=pre.test_scale, mean=pre.mean,
                           std=pre.std, spatial_crops=crops)
    ds = VideoListDataset(records, mode="test", num_frames=pre.num_frames, sampling_rate=pre.sampling_rate,
                          transform=tf, target_fps=pre.target_fps, num_views=views, view_rule=view_rule,
                          multi_label=multi_label, num_classes=len(labels))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)
    view_logits, y = predict(model, loader, torch.device("cpu"), desc="eval", progress=progress)
    if multi_label:
        return _multilabel_result(view_logits, y, labels, proto, checkpoint=checkpoint, video_list=video_list,
                                  views=views, crops=crops, described=described, crop_size=pre.crop_size, out=out)
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


def _multilabel_result(view_logits, y, labels, proto, *, checkpoint, video_list, views, crops, described, crop_size,
                       out) -> dict:
    """mAP and the per-class APs of a multi-label checkpoint: each video's score is the max (the
    protocol's ``ensemble``; ``sum``: the mean) over its views of the sigmoids."""
    method = "mean_sigmoid" if proto is not None and proto.ensemble == "sum" else "max_sigmoid"
    scores = aggregate_views_multilabel(view_logits, method)
    res = multilabel_report(scores, y, labels, view_scores=view_logits.float().sigmoid())
    res.update({"checkpoint": str(checkpoint), "list": str(video_list), "views": views, "crops": crops,
                "labels": labels, "protocol": described, "crop_size": crop_size, "multi_label": True,
                "aggregation": method})
    if out is not None:
        from vidlab.evaluation.report import Report

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        rep = Report(f"Evaluation of {Path(checkpoint).name}")
        how = "max" if method == "max_sigmoid" else "mean"
        rep.paragraph(f"{res['num_videos']} videos from {video_list}, {views} temporal x {crops} spatial views each "
                      f"at {crop_size} px, multi-label: the {how} of the sigmoids over the views, mAP over the "
                      f"{res['classes_with_positives']} classes with a positive video; protocol {described}.")
        rep.table(["metric", "value"], [["mAP", res["mAP"]], ["clip mAP", res["clip_mAP"]], ["hit@1", res["hit@1"]],
                                        ["hit@5", res["hit@5"]]])
        rep.table(["class", "AP", "positive videos"], [[r["class"], r["ap"], r["positives"]] for r in res["per_class"]])
        md, html = rep.write(out)
        res["report"] = str(html)
    print(f"evaluated {res['num_videos']} videos (multi-label)", file=sys.stderr)
    return res
