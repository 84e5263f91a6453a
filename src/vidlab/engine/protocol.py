"""Test protocols: how a checkpoint's source scored it, so a zoo checkpoint scores its published number.

vidlab's own protocol (``vidlab``) pools the last feature map globally at any input size and takes the
checkpoint's ``preprocessing`` (test crop = its ``test_scale``, views as asked). The zoo figures were
measured differently:

- **PySlowFast** (``TEST.*`` of the Kinetics configs, ``slowfast/models/head_helper.py``): frames at
  ``DATA.TARGET_FPS`` 30, the short side resized to ``DATA.TEST_CROP_SIZE`` and 3 crops of that size
  along the long side (``TEST.NUM_SPATIAL_CROPS`` 3) for 10 uniform clips (``TEST.NUM_ENSEMBLE_VIEWS``),
  and a *fully convolutional* head: the average pool keeps the kernel sized for the training crop
  (``TRAIN_CROP_SIZE // 32``; X3D ``ceil(TRAIN_CROP_SIZE / 32)``) and slides with stride 1 over the
  larger test map, the projection applies at every position, then (eval mode) a softmax per position
  and the mean over positions. Views are summed (``TEST.ENSEMBLE_METHOD: sum``): the same ranking as
  vidlab's mean.
- **PyTorchVideo** (``pytorchvideo.models.head.ResNetBasicHead`` of the hub builders, head activation
  None): the same sliding pool and per-position projection, then ``output_pool`` averages the
  per-position *logits* (no softmax); its X3D head (``create_x3d_head``) has a softmax activation
  before ``output_pool``, so X3D averages probabilities as PySlowFast does.
- **MMAction2** (1.x, read at v1.2.0; the Kinetics-400 test pipelines of ``configs/recognition/<family>/``
  and ``mmaction/datasets/transforms/loading.py``, ``processing.py``, ``models/heads/base.py``):
  ``SampleFrames(clip_len, frame_interval, num_clips, test_mode=True)`` counts frames at the video's own
  rate (no ``target_fps``, except the X3D configs: 30) and spreads the clips from the first frame to the
  last (:func:`vidlab.data.sampling.mmaction2_view_indices`); ``Resize(scale=(-1, S))`` (mmcv: cv2 bilinear
  on the uint8 frames, the long side ``int(long * S / short + 0.5)``) and ``ThreeCrop(S)`` (offsets 0,
  ``(long - S) // 2``, ``2 * ((long - S) // 2)``) or ``CenterCrop``; a head with global average pooling
  (``I3DHead``/``SlowFastHead``/``X3DHead`` ``spatial_type='avg'``: ``AdaptiveAvgPool3d(1)``, vidlab's own
  head), and ``average_clips='prob'``: the softmax averaged over all clips x crops (vidlab's
  ``aggregate_views``). Its SlowFast feeds the Slow pathway ``F.interpolate(x, nearest, 1 / alpha)`` of the
  clip (every alpha-th frame: :class:`MMAction2SlowFastInput`), not PySlowFast's ``linspace`` frames.
  Views, crop and frame rate differ per family: :data:`MMACTION2_ARCHS`. Not reproduced: MMAction2
  decodes with decord (vidlab: PyAV; frame counts and pixels can differ on some files) and normalises
  on 0..255 (the same values up to float rounding).

- **Something-Something v2 and Charades** (PySlowFast at commit 287ec00: ``slowfast/datasets/ssv2.py``,
  ``charades.py``, ``ptv_datasets.py``, ``utils/meters.py``, ``models/head_helper.py``,
  ``models/ptv_model_builder.py``, ``configs/{SSv2,Charades}/*.yaml`` and their ``pytorchvideo/``
  configs; PyTorchVideo 0.1.5 ``pytorchvideo/data/{ssv2,charades,clip_sampling,frame_video}.py``). Both read
  *frame lists*: SSv2 frames extracted at 30 fps (``slowfast/datasets/DATASET.md``), Charades'
  ``Charades_v1_rgb`` frames (24 fps); vidlab counts the decoded video at that rate
  (:func:`vidlab.data.sampling.frame_list_view_indices`). SSv2: one clip of ``DATA.NUM_FRAMES`` frames,
  the middle frame of each of that many equal segments of the whole video
  (:func:`~vidlab.data.sampling.ssv2_segment_indices`); PySlowFast's own configs
  (``SSv2/SLOWFAST_16x8_R50.yaml``: 64 frames, rate 2) test 1 view x 1 crop of ``TEST_CROP_SIZE`` 256
  (the ``_multigrid`` config: 224), and ``ssv2.py`` takes that one crop at ``spatial_idx = index %
  NUM_SPATIAL_CROPS = 0``, the left (top) crop, where ``kinetics.py`` takes the centre; the
  ``pytorchvideo/`` configs (the hub's SSv2 checkpoints) test 1 view x 3 crops at 256 (``Ptvssv2``
  asserts ``NUM_ENSEMBLE_VIEWS == 1``). Softmax head (``MODEL.HEAD_ACT`` default), views summed.
  Charades (``MULTI_LABEL: True``, ``ENSEMBLE_METHOD: max``, ``HEAD_ACT: sigmoid``, 10 views x 3 crops at
  256): ``charades.py`` starts view k at ``round(k * max(n - L, 0) / (views - 1))`` with ``L = (T - 1) tau +
  1`` (:func:`~vidlab.data.sampling.pyslowfast_charades_view_indices`); ``Ptvcharades`` (the hub's Charades
  checkpoints) uses PyTorchVideo's ``ConstantClipsPerVideoSampler``, starts ``k * max(n - L, 0) / views``
  (:func:`~vidlab.data.sampling.pytorchvideo_charades_view_indices`). The head is the fully convolutional
  one with a *sigmoid* per position, then the mean (``head_helper.ResNetBasicHead`` and the
  ``PTVResNet``/``PTVSlowFast`` wrappers the ``pytorchvideo/`` configs train: ``post_act`` then the mean
  over positions, in eval mode); ``TestMeter`` keeps the element-wise max over a video's views and
  ``get_map`` scores the mean over classes with a positive of scikit-learn's average precision
  (:func:`vidlab.evaluation.multilabel.mean_average_precision`). Not reproduced: the frame lists' JPEG
  frames (vidlab decodes the video and picks the frame on screen at each list frame's time; ffmpeg's
  extraction rounds timestamps its own way), and the order of normalisation and resizing (PySlowFast and
  PyTorchVideo normalise before the bilinear resize, vidlab after: equal up to float rounding).

:class:`FullyConvTest` wraps a model of the ResNet, SlowFast or X3D families in that head (same
weights, no copy); :func:`protocol_for` gives a checkpoint's protocol from its sidecar (the converter
records the source; the dataset comes from :func:`dataset_of`) and its architecture; ``vidlab eval
--protocol source`` applies both (:meth:`TestProtocol.test_model`, :meth:`TestProtocol.transform`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidlab.data.transforms import ClipTransform, normalize_to_cthw, to_float_tchw
from vidlab.errors import VidlabError


class ProtocolError(VidlabError):
    """A protocol that does not apply to this checkpoint."""


HEADS = {"global": "global average pool", "softmax": "fully convolutional head, softmax per position",
         "logits": "fully convolutional head, mean of the per-position logits",
         "sigmoid": "fully convolutional head, sigmoid per position, then the mean"}


@dataclass(frozen=True)
class TestProtocol:
    name: str
    views: int
    crops: int
    test_crop: int | None  # None: the checkpoint's test scale
    target_fps: float | None
    head: str  # "global", "softmax" (per-position softmax, then mean), "logits" (mean of logits), "sigmoid"
    source: str  # where the rule comes from
    head_x3d: str = "softmax"  # X3D's head (PyTorchVideo's X3D head has a softmax where its ResNets have none)
    test_scale: int | None = None  # the short side before cropping; None: the crop (short side = crop)
    # temporal test views (VideoListDataset's view_rule): "pyslowfast" | "mmaction2" | a frame-list rule
    # (vidlab.data.sampling.FRAME_LIST_RULES, counted at target_fps)
    view_rule: str = "pyslowfast"
    # resize + crops: "pyslowfast" (ClipTransform) | "mmaction2" (MMAction2TestTransform) | "pyslowfast_ssv2"
    # (ClipTransform, but one crop is the first, left / top, one: FirstCropTransform)
    crop_rule: str = "pyslowfast"
    slow_pathway: str = "linspace"  # SlowFast's Slow frames: "linspace" (PySlowFast) | "nearest" (MMAction2)
    multi_label: bool = False  # sigmoid scores, mAP (Charades) instead of softmax top-k
    ensemble: str = "sum"  # over a video's views: "sum" (= the mean) | "max" (PySlowFast DATA.ENSEMBLE_METHOD)
    num_frames: int | None = None  # the config's DATA.NUM_FRAMES / SAMPLING_RATE; None: the checkpoint's
    sampling_rate: int | None = None

    @property
    def frame_list(self) -> bool:
        """Views from a frame-list rule (SSv2, Charades) at the protocol's own ``target_fps``."""
        return self.view_rule not in ("pyslowfast", "mmaction2")

    def check(self, views: int, crops: int) -> None:
        """Refuse view counts the source's loader cannot make (a :class:`ProtocolError`)."""
        if self.view_rule == "pyslowfast_ssv2" and views != 1:
            raise ProtocolError(f"{self.name}: the SSv2 test clip spans the whole video (one frame per segment), "
                                f"so there is one temporal view, not {views} (PySlowFast's configs and Ptvssv2: "
                                f"NUM_ENSEMBLE_VIEWS 1): leave --views out")
        if self.view_rule == "pyslowfast_charades" and views < 2:
            raise ProtocolError(f"{self.name}: PySlowFast's Charades test sampling spreads at least 2 views (it "
                                f"divides by NUM_ENSEMBLE_VIEWS - 1): use --views 2 or more")

    def head_for(self, arch: str | None) -> str:
        return self.head_x3d if (arch or "").startswith("x3d") else self.head

    def describe(self, views: int | None = None, crops: int | None = None, crop: int | None = None,
                 arch: str | None = None, scale: int | None = None) -> str:
        head = HEADS[self.head_for(arch)]
        size = crop or self.test_crop
        where = f"{size} px" if size else "the checkpoint's test scale"
        if self.frame_list:
            n_crops = crops or self.crops
            cut = ("the left (top) crop" if n_crops == 1 and self.crop_rule == "pyslowfast_ssv2" else
                   "the centre crop" if n_crops == 1 else "left / centre / right crops")
            rate = f"{self.target_fps:g} fps"
            clips = _FRAME_LIST_CLIPS[self.view_rule]
            frames = (f", {self.num_frames} frames x rate {self.sampling_rate}" if self.num_frames else "")
            score = ("max over the views of the scores, mAP" if self.multi_label and self.ensemble == "max" else
                     "scores averaged over the views, mAP" if self.multi_label else
                     "probabilities summed over the views")
            return (f"{self.name}: {views or self.views} views x {n_crops} crops at {where} (short side = crop, "
                    f"{cut}), {clips}, n = the video's frames counted at {rate}{frames}, {head}, {score} "
                    f"({self.source})")
        if self.crop_rule == "pyslowfast":
            return (f"{self.name}: {views or self.views} views x {crops or self.crops} crops at {where} (short side "
                    f"= crop), {head} ({self.source})")
        n_crops = crops or self.crops
        short = scale or self.test_scale or size
        resize = f"short side {short}" if short else "short side = crop"
        cut = "ThreeCrop" if n_crops == 3 else "CenterCrop"
        rate = f"{self.target_fps:g} fps" if self.target_fps else "the video's frame rate"
        slow = (", Slow pathway every alpha-th frame (nearest)"
                if self.slow_pathway == "nearest" and (arch or "").startswith("slowfast") else "")
        return (f"{self.name}: {views or self.views} views x {n_crops} crops at {where} ({resize}, cv2 bilinear, "
                f"{cut}), SampleFrames test-mode clips at {rate}{slow}, {head}, softmax averaged over the views "
                f"({self.source})")

    def test_model(self, model: nn.Module, train_crop: int) -> nn.Module:
        """``model`` as this protocol tests it: in :class:`FullyConvTest` for a per-position head; for
        ``slow_pathway="nearest"`` a SlowFast in :class:`MMAction2SlowFastInput`; else ``model`` itself
        (vidlab's global pooling)."""
        from vidlab.models.slowfast import SlowFast

        head = self.head_for(getattr(model, "meta", {}).get("arch") or getattr(model, "arch", None))
        if head != "global":
            return FullyConvTest(model, train_crop, head).eval()
        if self.slow_pathway == "nearest" and isinstance(model, SlowFast):
            return MMAction2SlowFastInput(model).eval()
        return model

    def transform(self, *, crop_size: int, test_scale: int, mean, std, spatial_crops: int) -> ClipTransform:
        """The test transform: vidlab's :class:`~vidlab.data.transforms.ClipTransform` or, for
        ``crop_rule="mmaction2"``, :class:`MMAction2TestTransform` (``"pyslowfast_ssv2"``:
        :class:`FirstCropTransform`)."""
        if self.crop_rule == "mmaction2":
            if spatial_crops == 3 and test_scale != crop_size:
                raise ProtocolError(f"{self.name}: MMAction2's ThreeCrop cuts crops of the short side, and this "
                                    f"protocol resizes to {test_scale} for a {crop_size} px crop: use --crops 1")
            return MMAction2TestTransform(crop_size=crop_size, test_scale=test_scale, mean=tuple(mean),
                                          std=tuple(std), spatial_crops=spatial_crops)
        if self.crop_rule == "pyslowfast_ssv2":
            return FirstCropTransform(train=False, crop_size=crop_size, test_scale=test_scale, mean=mean, std=std,
                                      spatial_crops=spatial_crops)
        return ClipTransform(train=False, crop_size=crop_size, test_scale=test_scale, mean=mean, std=std,
                             spatial_crops=spatial_crops)


_MMA_REF = "MMAction2 v1.2.0 configs/recognition/"


def _mma(views: int, crop: int | None, config: str, *, crops: int = 3, scale: int | None = None,
         fps: float | None = None, note: str = "") -> TestProtocol:
    """An MMAction2 family's test pipeline (``config`` below ``configs/recognition/``)."""
    return TestProtocol("mmaction2", views, crops, crop, fps, "global", f"{_MMA_REF}{config}{note}",
                        head_x3d="global", test_scale=scale, view_rule="mmaction2", crop_rule="mmaction2",
                        slow_pathway="nearest")


PROTOCOLS = {
    "pyslowfast": TestProtocol("pyslowfast", 10, 3, None, 30.0, "softmax",
                               "PySlowFast TEST.NUM_ENSEMBLE_VIEWS 10, NUM_SPATIAL_CROPS 3, ResNetBasicHead/X3DHead"),
    "pytorchvideo": TestProtocol("pytorchvideo", 10, 3, None, 30.0, "logits",
                                 "PyTorchVideo model zoo: 10 clips x 3 crops, ResNetBasicHead with output_pool"),
    # an architecture without a config of its own: the Kinetics-400 3D-CNN test pipeline (SlowOnly, I3D, SlowFast)
    "mmaction2": _mma(10, 256, "slowonly/slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py",
                      note="'s pipeline (no MMAction2 config of this architecture)"),
}

_SLOWFAST_4X16 = "slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py"
_X3D_OTHER = " (X3D S/M configs' rule; no config of this size: the checkpoint's test scale)"
_VIDEOMAE_B = "videomae/vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py"

#: MMAction2 test protocols of the architectures its converter reads (vidlab.convert.mmaction2, .videomae,
#: .swin3d), each from that family's Kinetics-400 config (C3D: its UCF-101 config, the only one). Each
#: config's SampleFrames clip_len / frame_interval are the architecture's own num_frames / sampling_rate.
MMACTION2_ARCHS: dict[str, TestProtocol] = {
    "slow_r50_4x16": _mma(10, 256, "slowonly/slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py"),
    "slow_r50_8x8": _mma(10, 256, "slowonly/slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb.py"),
    "i3d_r50_mmaction2": _mma(10, 256, "i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py"),
    "slowfast_r50_4x16": _mma(10, 256, _SLOWFAST_4X16),
    "slowfast_r50_4x16_mmaction2": _mma(10, 256, _SLOWFAST_4X16),
    "slowfast_r50_8x8": _mma(10, 256, "slowfast/slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb.py",
                             note=f" (test pipeline of {_SLOWFAST_4X16})"),
    "slowfast_r50_8x8_mmaction2": _mma(10, 256, "slowfast/slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb.py",
                                       note=f" (test pipeline of {_SLOWFAST_4X16})"),
    "slowfast_r101_8x8": _mma(10, 256, "slowfast/slowfast_r101_8xb8-8x8x1-256e_kinetics400-rgb.py",
                              note=f" (test pipeline of {_SLOWFAST_4X16})"),
    "x3d_s": _mma(10, 182, "x3d/x3d_s_13x6x1_facebook-kinetics400-rgb.py", fps=30.0),
    "x3d_m": _mma(10, 256, "x3d/x3d_m_16x5x1_facebook-kinetics400-rgb.py", fps=30.0),
    "x3d_xs": _mma(10, None, "x3d/", fps=30.0, note=_X3D_OTHER),
    "x3d_l": _mma(10, None, "x3d/", fps=30.0, note=_X3D_OTHER),
    "c3d": _mma(10, 112, "c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py", crops=1, scale=128),
    "videomae_vit_s_16x4": _mma(5, 224, _VIDEOMAE_B, note="'s pipeline (no ViT-S config)"),
    "videomae_vit_b_16x4": _mma(5, 224, _VIDEOMAE_B),
    "videomae_vit_l_16x4": _mma(5, 224, "videomae/vit-large-p16_videomae-k400-pre_16x4x1_kinetics-400.py",
                                note=f" (test pipeline of {_VIDEOMAE_B})"),
    "swin3d_t": _mma(4, 224, "swin/swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py"),
    "swin3d_s": _mma(4, 224, "swin/swin-small-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py"),
    "swin3d_b": _mma(4, 224, "swin/swin-base-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py"),
}

#: Per-architecture protocols of a source, where its families differ (else PROTOCOLS[source] for every arch).
ARCH_PROTOCOLS: dict[str, dict[str, TestProtocol]] = {"mmaction2": MMACTION2_ARCHS}


_FRAME_LIST_CLIPS = {
    "pyslowfast_ssv2": "one clip: the middle frame of each of num_frames equal segments (ssv2.py, PyTorchVideo's "
                       "SSv2)",
    "pyslowfast_charades": "clip k starting at round(k (n - L) / (views - 1)) (charades.py)",
    "pytorchvideo_charades": "clip k starting at k (n - L) / views (ConstantClipsPerVideoSampler)",
}
_PSF_REF = "PySlowFast 287ec00 "
_SSV2_CFG = "configs/SSv2/SLOWFAST_16x8_R50.yaml"
_CHARADES_CFG = "configs/Charades/SLOWFAST_16x8_R50.yaml"
#: Charades' RGB frames (``Charades_v1_rgb``, the frames PySlowFast's frame lists name) are at 24 fps.
CHARADES_FPS = 24.0
#: PySlowFast's SSv2 frames: extracted at 30 fps (``slowfast/datasets/DATASET.md``: ``ffmpeg -r 30``).
SSV2_FPS = 30.0

#: The Something-Something v2 and Charades protocols, per source (module docstring).
DATASET_PROTOCOLS: dict[tuple[str, str], TestProtocol] = {
    ("pyslowfast", "ssv2"): TestProtocol(
        "pyslowfast_ssv2", 1, 1, 256, SSV2_FPS, "softmax",
        _PSF_REF + _SSV2_CFG + " (TEST 1 x 1, TEST_CROP_SIZE 256), slowfast/datasets/ssv2.py",
        head_x3d="softmax", view_rule="pyslowfast_ssv2", crop_rule="pyslowfast_ssv2"),
    ("pytorchvideo", "ssv2"): TestProtocol(
        "pytorchvideo_ssv2", 1, 3, 256, SSV2_FPS, "softmax",
        _PSF_REF + "configs/SSv2/pytorchvideo/*.yaml (TEST 1 x 3, TEST_CROP_SIZE 256), Ptvssv2 of "
        "slowfast/datasets/ptv_datasets.py, PTVResNet/PTVSlowFast softmax head", head_x3d="softmax",
        view_rule="pyslowfast_ssv2"),
    ("pyslowfast", "charades"): TestProtocol(
        "pyslowfast_charades", 10, 3, 256, CHARADES_FPS, "sigmoid",
        _PSF_REF + _CHARADES_CFG + " (TEST 10 x 3, TEST_CROP_SIZE 256, HEAD_ACT sigmoid, ENSEMBLE_METHOD max), "
        "slowfast/datasets/charades.py, TestMeter + get_map", head_x3d="sigmoid", view_rule="pyslowfast_charades",
        multi_label=True, ensemble="max"),
    ("pytorchvideo", "charades"): TestProtocol(
        "pytorchvideo_charades", 10, 3, 256, CHARADES_FPS, "sigmoid",
        _PSF_REF + "configs/Charades/pytorchvideo/*.yaml (TEST 10 x 3, TEST_CROP_SIZE 256, HEAD_ACT sigmoid, "
        "ENSEMBLE_METHOD max), Ptvcharades of slowfast/datasets/ptv_datasets.py, TestMeter + get_map",
        head_x3d="sigmoid", view_rule="pytorchvideo_charades", multi_label=True, ensemble="max"),
}

#: Label-set sizes that name a dataset when nothing else in the sidecar does.
DATASET_CLASSES = {174: "ssv2", 157: "charades"}


def _hub_entry_text(entry: Any) -> str:
    """The hub entry a sidecar records (a name, or a dict with a name / tag / dataset / urls), as text."""
    if isinstance(entry, dict):
        parts = [entry.get(k) for k in ("name", "tag", "dataset", "local_name")]
        parts += list(entry.get("urls") or ())
        return " ".join(str(p) for p in parts if p)
    return str(entry or "")


def dataset_of(meta: dict) -> str | None:
    """``"ssv2"``, ``"charades"`` or None (Kinetics and the rest) for a checkpoint's sidecar, from, in turn:
    its hub entry (``meta["hub_entry"]``: a name such as ``slow_r50_8x8.charades`` or a dict), its
    preprocessing (``multi_label``: Charades, the only multi-label classification data set PySlowFast
    ships configs for; ``frame_sampling: "segments"``: SSv2), the size of its label set (174: SSv2,
    157: Charades; ``labels``, else ``num_classes``)."""
    text = _hub_entry_text(meta.get("hub_entry")).lower()
    if text:
        if "ssv2" in text or "something" in text:
            return "ssv2"
        if "charades" in text:
            return "charades"
        if "kinetics" in text:
            return None
    pre = meta.get("preprocessing") or {}
    if pre.get("multi_label"):
        return "charades"
    if pre.get("frame_sampling") == "segments":
        return "ssv2"
    n = len(meta["labels"]) if meta.get("labels") else meta.get("num_classes")
    return DATASET_CLASSES.get(int(n)) if n else None


def _dataset_protocol(src: str, dataset: str, meta: dict) -> TestProtocol:
    """:data:`DATASET_PROTOCOLS` for the checkpoint: PySlowFast's own SSv2 / Charades SlowFast configs
    (its zoo's SLOWFAST_16x8_R50) take 64 frames at rate 2; its SSv2 multigrid config tests at 224."""
    from dataclasses import replace

    proto = DATASET_PROTOCOLS[(src, dataset)]
    if src != "pyslowfast":
        return proto  # the pytorchvideo/ configs' clips are the architectures' own (8 x 8; SlowFast 32 x 2)
    if (meta.get("arch") or "").startswith("slowfast"):
        proto = replace(proto, num_frames=64, sampling_rate=2)
    if dataset == "ssv2" and "multigrid" in _hub_entry_text(meta.get("hub_entry")).lower():
        proto = replace(proto, test_crop=224, source=proto.source.replace(
            _SSV2_CFG + " (TEST 1 x 1, TEST_CROP_SIZE 256)", "configs/SSv2/SLOWFAST_16x8_R50_multigrid.yaml "
            "(TEST 1 x 1, TEST_CROP_SIZE 224)"))
    return proto


def protocol_for(meta: dict) -> TestProtocol:
    """The test protocol of the checkpoint's source (``provenance.converted_from.source``) for its
    data set (:func:`dataset_of`: a PySlowFast or PyTorchVideo SSv2 / Charades checkpoint gets
    :data:`DATASET_PROTOCOLS`) or its architecture (``arch``; :data:`ARCH_PROTOCOLS`)."""
    src = ((meta.get("provenance") or {}).get("converted_from") or {}).get("source")
    if src not in PROTOCOLS:
        known = ", ".join(sorted(PROTOCOLS))
        raise ProtocolError(f"--protocol source: this checkpoint's source is {src or 'not recorded'}; a source "
                            f"protocol exists for checkpoints converted from {known} (use --protocol vidlab)")
    dataset = dataset_of(meta)
    if dataset is not None and (src, dataset) in DATASET_PROTOCOLS:
        return _dataset_protocol(src, dataset, meta)
    return ARCH_PROTOCOLS.get(src, {}).get(meta.get("arch") or "", PROTOCOLS[src])


def _pool(x: torch.Tensor, train_crop: int, stride: int, rounding) -> torch.Tensor:
    """Average pool with the training-time kernel: the whole time axis, ``train_crop / stride`` in space."""
    k = max(1, int(rounding(train_crop / stride)))
    kernel = (x.shape[2], min(k, x.shape[3]), min(k, x.shape[4]))
    return F.avg_pool3d(x, kernel, stride=1)


class FullyConvTest(nn.Module):
    """``model`` with PySlowFast's / PyTorchVideo's test-time head (see the module docstring).

    ``head``: ``"softmax"`` returns the log of the mean per-position softmax (so a later softmax gives
    those averaged probabilities back), ``"logits"`` the mean per-position logits, ``"sigmoid"`` the
    log-odds of the mean per-position sigmoid (so a later sigmoid gives those averaged probabilities
    back: PySlowFast's multi-label head, ``MODEL.HEAD_ACT: sigmoid``). ``train_crop``: the crop the
    head's pool kernel was sized for (the checkpoint's ``crop_size``)."""

    def __init__(self, model: nn.Module, train_crop: int, head: str = "softmax"):
        super().__init__()
        from vidlab.models.layers import ClassificationHead
        from vidlab.models.slowfast import SlowFastHead
        from vidlab.models.x3d import X3DHead

        if head not in ("softmax", "logits", "sigmoid"):
            raise ProtocolError(f"fully convolutional head: 'softmax', 'logits' or 'sigmoid', got {head!r}")
        h = getattr(model, "head", None)
        if not isinstance(h, (ClassificationHead, SlowFastHead, X3DHead)) or not hasattr(model, "forward_maps"):
            arch = getattr(model, "arch", None) or type(model).__name__
            raise ProtocolError(f"{arch}: the fully convolutional test head exists for the ResNet, SlowFast and "
                                f"X3D families (PySlowFast's and PyTorchVideo's CNNs); use --protocol vidlab")
        self.model, self.train_crop, self.head_kind = model, int(train_crop), head
        self.meta = getattr(model, "meta", {})

    def positions(self, x) -> torch.Tensor:
        """Per-position logits ``(B, t, h, w, num_classes)``."""
        from vidlab.models.x3d import X3DHead

        net: Any = self.model  # a ResNet, SlowFast or X3D with forward_maps (checked in __init__)
        h = net.head
        maps = net.forward_maps(x)
        if isinstance(h, X3DHead):
            y = h.conv_5_relu(h.conv_5_bn(h.conv_5(maps)))
            y = _pool(y, self.train_crop, 32, math.ceil)
            y = h.lin_5_relu(h.lin_5_bn(h.lin_5(y)))
        else:
            maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
            y = torch.cat([_pool(m, self.train_crop, 32, math.floor) for m in maps], dim=1)
        return h.projection(h.dropout(y.permute(0, 2, 3, 4, 1)))

    def forward(self, x) -> torch.Tensor:
        logits = self.positions(x)
        if self.head_kind == "logits":
            return logits.mean(dim=(1, 2, 3))
        if self.head_kind == "sigmoid":
            probs = logits.double().sigmoid().mean(dim=(1, 2, 3))
            return torch.logit(probs, eps=1e-12).to(logits.dtype)
        probs = logits.softmax(dim=-1).mean(dim=(1, 2, 3))
        return probs.clamp_min(1e-30).log()


@dataclass
class FirstCropTransform(ClipTransform):
    """PySlowFast's SSv2 test crops: :class:`~vidlab.data.transforms.ClipTransform`, but a single crop is
    the first one (left, or top for a portrait frame), not the centre: ``ssv2.py`` passes
    ``spatial_idx = index % TEST.NUM_SPATIAL_CROPS`` (0 with one crop) to ``uniform_crop``, where
    ``kinetics.py`` passes 1 for a single crop. Three crops are left / centre / right as usual."""

    def views(self, frames) -> list[torch.Tensor]:
        if self.spatial_crops == 1:
            return [self(frames, spatial_idx=0)]
        return super().views(frames)


class MMAction2SlowFastInput(nn.Module):
    """A vidlab SlowFast fed as MMAction2's ``ResNet3dSlowFast`` feeds itself (``backbones/resnet3d_slowfast.py``
    ``forward``): the Slow pathway gets ``F.interpolate(x, mode="nearest", scale_factor=(1 / alpha, 1, 1))``
    of the clip (frames 0, alpha, 2 alpha, ...: its configs' ``resample_rate`` equals ``speed_ratio`` =
    alpha), the Fast pathway the clip itself (``resample_rate // speed_ratio`` = 1). vidlab's SlowFast
    given one tensor takes PySlowFast's ``linspace`` frames instead. Same weights, no copy."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.alpha = model, int(getattr(model, "alpha"))
        self.meta = getattr(model, "meta", {})

    def forward(self, x) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            return self.model(x)
        slow = F.interpolate(x, scale_factor=(1.0 / self.alpha, 1.0, 1.0), mode="nearest")
        return self.model([slow, x])


def mmaction2_resize_shape(height: int, width: int, short: int) -> tuple[int, int]:
    """``(new_h, new_w)`` of MMAction2's ``Resize(scale=(-1, short))``: mmcv ``rescale_size`` with
    ``(inf, short)``, factor ``short / min(h, w)``, each side ``int(side * factor + 0.5)``."""
    factor = short / min(height, width)
    return int(height * factor + 0.5), int(width * factor + 0.5)


def mmaction2_crop_offsets(height: int, width: int, crop: int, crops: int) -> list[tuple[int, int]]:
    """Top-left ``(y, x)`` of MMAction2's ``CenterCrop(crop)`` (``crops=1``: ``((h - c) // 2, (w - c) // 2)``)
    or ``ThreeCrop(crop)`` (``crops=3``, the crop spanning the short side: 0, ``(long - c) // 2`` and twice
    that along the long side, listed start, centre, end; MMAction2 lists left, right, middle). vidlab's
    ``uniform_crop`` puts the centre crop at ``ceil((long - c) / 2)`` and the last at ``long - c``: one
    pixel apart where ``long - c`` is odd."""
    if crops == 1:
        return [((height - crop) // 2, (width - crop) // 2)]
    if crops != 3:
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    if crop == height:
        step = (width - crop) // 2
        return [(0, 0), (0, step), (0, 2 * step)]
    if crop == width:
        step = (height - crop) // 2
        return [(0, 0), (step, 0), (2 * step, 0)]
    raise ValueError(f"MMAction2's ThreeCrop needs the crop ({crop}) to span a side of the {height}x{width} frame")


@dataclass
class MMAction2TestTransform(ClipTransform):
    """MMAction2's test pipeline after decoding, on uint8 frames ``(T, H, W, 3)``: ``Resize(scale=(-1,
    test_scale))`` (:func:`mmaction2_resize_shape`; ``cv2.resize`` ``INTER_LINEAR`` on each uint8 frame, as
    ``mmcv.imresize`` does), ``ThreeCrop`` / ``CenterCrop`` of ``crop_size`` (:func:`mmaction2_crop_offsets`),
    then vidlab's normalisation (``(x / 255 - mean) / std`` = MMAction2's ``(x - 255 mean) / (255 std)`` up
    to float rounding) to ``(C, T, H, W)``. Test-time only."""

    train: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train:
            raise ValueError("MMAction2TestTransform is a test-time transform (train=False)")
        if self.spatial_crops not in (1, 3):
            raise ValueError(f"spatial_crops must be 1 or 3, got {self.spatial_crops}")

    def resize(self, frames) -> np.ndarray:
        import cv2

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (T, H, W, C), got {frames.dtype} {frames.shape}")
        h, w = frames.shape[1:3]
        new_h, new_w = mmaction2_resize_shape(h, w, self.test_scale or self.crop_size)
        out = [cv2.resize(np.ascontiguousarray(f), (new_w, new_h), interpolation=cv2.INTER_LINEAR) for f in frames]
        return np.stack([o[..., None] if o.ndim == 2 else o for o in out])

    def views(self, frames) -> list[torch.Tensor]:
        scaled = self.resize(frames)
        c = self.crop_size
        out = []
        for y, x in mmaction2_crop_offsets(scaled.shape[1], scaled.shape[2], c, self.spatial_crops):
            clip = to_float_tchw(np.ascontiguousarray(scaled[:, y:y + c, x:x + c]))
            out.append(normalize_to_cthw(clip, self.mean, self.std))
        return out

    def __call__(self, frames, rng: np.random.Generator | None = None, spatial_idx: int = 1) -> torch.Tensor:
        views = self.views(frames)
        return views[0] if len(views) == 1 else views[spatial_idx]
