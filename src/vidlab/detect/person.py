"""The person detector: torchvision's Faster R-CNN ResNet-50 FPN (COCO), offline.

Weights come from a path the user gives (a torchvision ``state_dict`` file,
e.g. ``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``), from torchvision's own
cache (``$TORCH_HOME/hub/checkpoints/``, where
``torchvision.models.detection.fasterrcnn_resnet50_fpn(weights="DEFAULT")``
puts them), else from vidlab's hub (entry ``fasterrcnn_resnet50_fpn.coco``:
downloaded once into ``$VIDLAB_HOME/hub`` with its hash prefix checked, or
taken from ``$VIDLAB_HUB_MIRROR``). When none of them can,
:class:`DetectorWeightsError` says where to put the file.

Defaults follow the action-detection demos: person score >= 0.9 (PySlowFast
``DEMO.DETECTRON2_THRESH``, MMAction2 ``--det-score-thr``), class NMS at IoU 0.5
(torchvision's ``box_nms_thresh``), the detector's own resizing (shorter side
800, or ``min_size``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vidlab.errors import VidlabError

COCO_PERSON = 1


class DetectorWeightsError(VidlabError):
    """The person detector's weights are not available offline."""


def default_weights_file() -> Path:
    """Where torchvision caches the COCO weights of ``fasterrcnn_resnet50_fpn``."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    name = os.path.basename(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


HUB_ENTRY = "fasterrcnn_resnet50_fpn.coco"


def resolve_weights(path: str | os.PathLike | None, *, progress: bool | None = None) -> Path:
    """The detector's weights file: ``path``, else torchvision's cached file, else the hub's
    (:data:`HUB_ENTRY`, fetched once)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DetectorWeightsError(f"{p}: person detector weights not found")
        return p
    p = default_weights_file()
    if p.is_file():
        return p
    from vidlab import hub

    try:
        return hub.download(HUB_ENTRY, progress=progress)
    except hub.HubError as e:
        raise DetectorWeightsError(
            f"person detector weights not available offline: pass --detector-weights PATH (torchvision "
            f"fasterrcnn_resnet50_fpn COCO state dict), put {p.name} in {p.parent}, or let the hub fetch it: {e}"
        ) from None


class PersonDetector:
    """``detector(frames (N, H, W, 3) uint8) -> [(K, 5) x1, y1, x2, y2, score]`` (persons only).

    ``detector_options`` go to torchvision's ``fasterrcnn_resnet50_fpn`` (e.g.
    ``rpn_post_nms_top_n_test``, ``box_detections_per_img``).
    """

    def __init__(self, weights: str | os.PathLike | None = None, *, score_threshold: float = 0.9,
                 nms_iou: float = 0.5, min_size: int = 800, max_size: int = 1333, device: str = "cpu",
                 **detector_options):
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        path = resolve_weights(weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001  (pickle refusals, truncated files: one clear message)
            raise DetectorWeightsError(f"{path}: not a readable tensor state dict ({type(e).__name__})") from None
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        self.model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, box_score_thresh=score_threshold,
                                             box_nms_thresh=nms_iou, min_size=min_size, max_size=max_size,
                                             **detector_options)
        try:
            self.model.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError) as e:
            raise DetectorWeightsError(f"{path}: does not fit fasterrcnn_resnet50_fpn "
                                       f"({str(e).splitlines()[0][:160]})") from None
        self.model.eval().to(device)
        self.device = device
        self.score_threshold = score_threshold
        self.weights = str(path)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray, batch_size: int = 2) -> list[np.ndarray]:
        out = []
        for i in range(0, len(frames), batch_size):
            imgs = [torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1).float().div_(255).to(self.device)
                    for f in frames[i:i + batch_size]]
            for r in self.model(imgs):
                keep = (r["labels"] == COCO_PERSON) & (r["scores"] >= self.score_threshold)
                det = torch.cat([r["boxes"][keep], r["scores"][keep, None]], 1)
                out.append(det.cpu().numpy().astype(np.float64))
        return out
