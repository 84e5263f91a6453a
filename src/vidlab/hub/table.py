"""The published checkpoints, as data: one :class:`HubEntry` per file an ecosystem publishes.

An entry says where a checkpoint is published (``urls``, exactly as the publisher wrote them), how
to check it (``sha256`` when the publisher gives the full digest; ``sha256_prefix`` for torchvision,
whose file names carry the first hex digits of the digest), how to turn it into a vidlab model
(``converter``: the ``vidlab convert --from`` source, ``arch``: a vidlab architecture), which label
set its classifier uses (``labels``: a file in ``vidlab/hub/labels/``), how to feed it
(``preprocessing``) and what it scores (``accuracy``, with the document it comes from).

``kind`` is ``"classifier"`` (converted once into a vidlab checkpoint) or ``"pipeline"`` (a raw
state dict that another part of vidlab loads as it is: the COCO person detector, RAFT, CartoonGAN).

``verified`` is True when the URL is recorded by an installed package (torchvision, pytorchvideo),
elsewhere in this repository, or in the publisher's model-zoo document as read at a stated commit;
False when it could not be checked that way (see ``notes``).

Where the figures come from:

- torchvision: the ``Weights`` enums of the installed torchvision 0.29 (``url``, the hash prefix in
  the file name, ``meta["_metrics"]``, ``meta["num_params"]``, the ``VideoClassification`` preset);
  ``tests/hub/test_hub_table.py`` checks them against torchvision.
- pytorchvideo: the URLs of the installed pytorchvideo 0.1.5 (``pytorchvideo/models/hub/*.py``,
  ``checkpoint_paths``); the accuracies from facebookresearch/pytorchvideo ``docs/source/model_zoo.md``
  (Kinetics-400 table, 3 x 10 views), whose params/FLOPs columns the model tests of this repository
  also quote. Its Something-Something v2 and Charades entries (Slow / SlowFast 8x8 R50 fine-tuned from
  Kinetics-400): URLs and figures from that document's SSv2 / Charades tables (read at commit f3142bb);
  their test views, frame sampling and input channel order from the PySlowFast configs that trained them
  (``configs/{SSv2,Charades}/pytorchvideo/*.yaml``) and its ``slowfast/datasets/ptv_datasets.py``.
  Charades is multi-label: its ``accuracy`` is ``{"mAP": ..}``, not top-1/top-5.
- PySlowFast: facebookresearch/SlowFast ``MODEL_ZOO.md``, read at commit 02a85e9 (URLs and accuracy); its
  Something-Something v2 and Charades SlowFast 16x8 entries (standard and multigrid training) read at commit
  287ec00 with the configs that trained them.
- MMAction2: the Kinetics-400 tables of open-mmlab/mmaction2 ``configs/recognition/<family>/README.md``
  (URLs, top-1/top-5, testing protocol); the CNNs' (SlowOnly, SlowFast, I3D, X3D) read at commit 4d6c934
  (branch main, MMAction2 1.2.0), their test pipelines (clips, resize, crops, ``target_fps``) and
  normalisation from the configs the tables link; the file names' 8 hex digits after the date are
  OpenMMLab's sha256 prefix. MMAction2 publishes no Kinetics C3D (its C3D is UCF-101's, 101 classes).
- c3d-pytorch: DavideA/c3d-pytorch ``README.md`` read at commit 1111ccf (the weights' URL, plain http as
  the README writes it; no checksum; no accuracy: the README says performances were tested only
  qualitatively). The weights are the C3D authors' Caffe Sports-1M model, ported to PyTorch.
- Label sets: ``kinetics400.txt`` is torchvision's Kinetics-400 category list, identical line for
  line to MMAction2's ``label_map_k400.txt`` and PySlowFast's ``kinetics_400_labels.csv``;
  ``coco.txt`` is torchvision's 91 COCO categories (index 0 ``__background__``, ``N/A`` gaps);
  ``kinetics600``, ``kinetics700``, ``ssv2``, ``charades`` and ``ava80`` are written from the official
  files in ``../shared/data/real`` by ``scripts/make_label_sets.py``, whose docstring gives each file
  and why its order is the checkpoints' class order (``tests/hub/test_label_sets.py`` checks them);
  ``sports1m.txt`` (487 Sports-1M classes) is not from ``../shared``: it is the c3d-pytorch port's
  ``labels.txt`` (commit 1111ccf) line for line, the class order of its fc8 (its ``predict.py`` names
  output ``i`` with line ``i``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from vidlab.errors import VidlabError

SOURCES = ("torchvision", "pytorchvideo", "pyslowfast", "mmaction2", "cartoongan", "huggingface", "timesformer",
           "c3d-pytorch")
KINDS = ("classifier", "pipeline")
FORMATS = ("pth", "pyth", "pkl", "pickle", "safetensors", "huggingface")  # "pickle": a torch.save file (c3d.pickle)
#: The host each source publishes on (the offline table check holds every URL to it).
SOURCE_HOSTS = {
    "torchvision": ("download.pytorch.org",),
    "pytorchvideo": ("dl.fbaipublicfiles.com",),
    "pyslowfast": ("dl.fbaipublicfiles.com",),
    "mmaction2": ("download.openmmlab.com",),
    "cartoongan": ("github.com",),
    "huggingface": ("huggingface.co",),
    "timesformer": ("www.dropbox.com",),  # facebookresearch/TimeSformer's model zoo links
    "c3d-pytorch": ("imagelab.ing.unimore.it",),  # DavideA/c3d-pytorch's README link (http, as published)
}


def url_basename(url: str) -> str:
    """The file name a URL names (its last path segment, the query left out)."""
    return url.split("?", 1)[0].rsplit("/", 1)[-1]


@dataclass(frozen=True)
class HubEntry:
    """One published checkpoint (see the module docstring for the fields' meaning)."""

    name: str  # "<arch>.<tag>", e.g. "r3d_18.kinetics400"
    arch: str  # a vidlab architecture (classifier) or the torchvision builder / model it feeds (pipeline)
    tag: str  # a model's first entry in the table is also its "DEFAULT"
    dataset: str
    source: str
    urls: tuple[str, ...]
    file_format: str
    converter: str | None = None  # `vidlab convert --from` source; None for pipeline entries
    sha256: str | None = None  # full hex digest, when published
    sha256_prefix: str | None = None  # torchvision: the hex digits in the file name
    labels: str | None = None  # label-set name (a file vidlab/hub/labels/<labels>.txt)
    num_classes: int | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict, hash=False)
    accuracy: dict[str, Any] = field(default_factory=dict, hash=False)  # {"top1": .., "top5": ..} or other metrics
    accuracy_source: str = ""
    licence: str = ""
    num_params: int | None = None
    kind: str = "classifier"
    verified: bool = True
    notes: str = ""
    # a Hugging Face model folder (file_format "huggingface"): urls[0] is the repository, and each item
    # here names one file of it, with alternatives in order (e.g. model.safetensors, else pytorch_model.bin)
    files: tuple[tuple[str, ...], ...] = ()
    # the name the cache and a mirror hold the file under when its published name is another entry's too
    # (PyTorchVideo publishes SLOW_8x8_R50.pyth in its kinetics/, ssv2/ and charades/ folders):
    # "<folder>_<published name>", e.g. "ssv2_SLOW_8x8_R50.pyth"; None: the published name
    local_name: str | None = None

    @property
    def filename(self) -> str:
        """The file's name in the cache and in a mirror folder: the published file name (the first URL's
        basename; a Hugging Face entry: the repository's name, the folder holding its files), or
        ``local_name`` where another entry publishes a file of the same name."""
        return self.local_name or url_basename(self.urls[0])

    def file_url(self, name: str) -> str:
        """A Hugging Face entry's file, as the Hub serves it (``resolve/main``)."""
        return f"{self.urls[0]}/resolve/main/{name}"

    def resolved_preprocessing(self) -> dict[str, Any]:
        """A classifier's input, as its converted checkpoint records it: the architecture's
        :meth:`~vidlab.models.ModelSpec.preprocessing` with the converter's own normalisation (MMAction2),
        updated with what the source states (``fps``, which is also the ``target_fps``, resize, ...)."""
        if self.kind != "classifier":
            return dict(self.preprocessing)
        from vidlab.convert.core import source_preprocessing, with_target_fps

        return with_target_fps({**source_preprocessing(str(self.converter), self.arch), **self.preprocessing})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["urls"] = list(self.urls)
        d["filename"] = self.filename
        d["files"] = [list(f) for f in self.files]
        return d


# ----------------------------------------------------------------------------------------- torchvision
_TV = "https://download.pytorch.org/models"
_TV_LICENCE = "BSD-3-Clause (torchvision); trained on Kinetics-400 (annotations CC BY 4.0, videos YouTube)"
_TV_MEAN, _TV_STD = [0.43216, 0.394666, 0.37645], [0.22803, 0.22145, 0.216989]
_TV_DOC = "torchvision {enum}.KINETICS400_V1 meta['_metrics'] (torchvision 0.29; {how})"
_TV_R_HOW = "video-level, frame_rate=15, clips_per_video=5, clip_len=16"


def _tv_video(arch: str, enum: str, file: str, prefix: str, top1: float, top5: float, params: int,
              crop: int = 112, resize: tuple[int, ...] = (128, 171), clip_len: int = 16,
              how: str = _TV_R_HOW, mean: list[float] = _TV_MEAN, std: list[float] = _TV_STD, fps: float = 15,
              tag: str = "kinetics400") -> HubEntry:
    return HubEntry(
        name=f"{arch}.{tag}", arch=arch, tag=tag, dataset="Kinetics-400", source="torchvision",
        urls=(f"{_TV}/{file}",), file_format="pth", converter="torchvision", sha256_prefix=prefix,
        labels="kinetics400", num_classes=400,
        preprocessing={"fps": fps, "eval_clip_len": clip_len, "resize_size": list(resize), "crop_size": crop,
                       "mean": mean, "std": std, "interpolation": "bilinear"},
        accuracy={"top1": top1, "top5": top5}, accuracy_source=_TV_DOC.format(enum=enum, how=how),
        licence=_TV_LICENCE, num_params=params)


_TORCHVISION = [
    _tv_video("r3d_18", "R3D_18_Weights", "r3d_18-b3b3357e.pth", "b3b3357e", 63.200, 83.479, 33371472),
    _tv_video("mc3_18", "MC3_18_Weights", "mc3_18-a90a0ba3.pth", "a90a0ba3", 63.960, 84.130, 11695440),
    _tv_video("r2plus1d_18", "R2Plus1D_18_Weights", "r2plus1d_18-91a641e6.pth", "91a641e6", 67.463, 86.175,
              31505325),
    _tv_video("s3d", "S3D_Weights", "s3d-d76dad2f.pth", "d76dad2f", 68.368, 88.050, 8320048, crop=224,
              resize=(256, 256), clip_len=128, how="clip-level, frame_rate=15, clips_per_video=1, clip_len=128"),
    # the transformers: torchvision's weights were ported from the papers' releases
    _tv_video("mvit_v1_b_16x4", "MViT_V1_B_Weights", "mvit_v1_b-dbeb1030.pth", "dbeb1030", 78.477, 93.582, 36610672,
              crop=224, resize=(256,), mean=[0.45] * 3, std=[0.225] * 3, fps=7.5,
              how="video-level, frame_rate=7.5, clips_per_video=5, clip_len=16"),
    _tv_video("mvitv2_s_16x4", "MViT_V2_S_Weights", "mvit_v2_s-ae3be167.pth", "ae3be167", 80.757, 94.665, 34537744,
              crop=224, resize=(256,), mean=[0.45] * 3, std=[0.225] * 3, fps=7.5,
              how="video-level, frame_rate=7.5, clips_per_video=5, clip_len=16"),
    *(_tv_video(arch, enum, file, file.rsplit("-", 1)[1][:-4], top1, top5, params, crop=224, resize=(256,),
                mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], clip_len=32, tag=tag,
                how="video-level, frame_rate=15, clips_per_video=12, clip_len=32")
      for arch, enum, file, top1, top5, params, tag in (
          ("swin3d_t", "Swin3D_T_Weights", "swin3d_t-7615ae03.pth", 77.715, 93.519, 28158070, "kinetics400"),
          ("swin3d_s", "Swin3D_S_Weights", "swin3d_s-da41c237.pth", 79.521, 94.158, 49816678, "kinetics400"),
          ("swin3d_b", "Swin3D_B_Weights", "swin3d_b_1k-24f7c7c6.pth", 79.427, 94.386, 88048984, "kinetics400"),
          # the same network pre-trained on ImageNet-22K before Kinetics (torchvision's DEFAULT is the 1K one)
          ("swin3d_b", "Swin3D_B_Weights", "swin3d_b_22k-7c6ae6fa.pth", 81.643, 95.574, 88048984,
           "kinetics400_in22k"))),
]

# ----------------------------------------------------------------------------------------- pytorchvideo
_PTV = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo"
_PTV_DOC = "facebookresearch/pytorchvideo docs/source/model_zoo.md, Kinetics-400 table (top-1/top-5, 3 x 10 views)"
_PTV_LICENCE = "Apache-2.0 (pytorchvideo model zoo); trained on Kinetics-400 (annotations CC BY 4.0)"


def _ptv(arch: str, file: str, top1: float, top5: float, hub_name: str | None, views: str = "3 x 10",
         verified: bool = True, tag: str = "kinetics400") -> HubEntry:
    where = (f"pytorchvideo 0.1.5 hub '{hub_name}' (pytorchvideo/models/hub)" if hub_name else
             "the pytorchvideo model_zoo.md link, not in the installed pytorchvideo hub: not checked offline")
    return HubEntry(
        name=f"{arch}.{tag}", arch=arch, tag=tag, dataset="Kinetics-400", source="pytorchvideo",
        urls=(f"{_PTV}/kinetics/{file}",), file_format="pyth", converter="pytorchvideo",
        labels="kinetics400", num_classes=400, preprocessing={"fps": 30},
        accuracy={"top1": top1, "top5": top5, "views": views}, accuracy_source=_PTV_DOC, licence=_PTV_LICENCE,
        verified=verified, notes=f"URL: {where}; no published checksum (sha256 recorded at first download)")


_PYTORCHVIDEO = [
    _ptv("slow_r50_8x8", "SLOW_8x8_R50.pyth", 74.58, 91.63, "slow_r50"),
    _ptv("slow_r50_4x16", "SLOW_4x16_R50.pyth", 72.40, 90.18, None, verified=False),
    _ptv("c2d_r50", "C2D_8x8_R50.pyth", 71.46, 89.68, "c2d_r50"),
    _ptv("i3d_r50", "I3D_8x8_R50.pyth", 73.27, 90.70, "i3d_r50"),
    _ptv("slowfast_r50_8x8", "SLOWFAST_8x8_R50.pyth", 76.94, 92.69, "slowfast_r50"),
    _ptv("slowfast_r50_4x16", "SLOWFAST_4x16_R50.pyth", 75.34, 91.89, None, verified=False),
    _ptv("slowfast_r101_8x8", "SLOWFAST_8x8_R101.pyth", 77.90, 93.27, "slowfast_r101"),
    _ptv("slowfast_r101_16x8_50_50", "SLOWFAST_16x8_R101_50_50.pyth", 78.70, 93.61, "slowfast_16x8_r101_50_50"),
    _ptv("x3d_xs", "X3D_XS.pyth", 69.12, 88.63, "x3d_xs"),
    _ptv("x3d_s", "X3D_S.pyth", 73.33, 91.27, "x3d_s"),
    _ptv("x3d_m", "X3D_M.pyth", 75.94, 92.72, "x3d_m"),
    _ptv("x3d_l", "X3D_L.pyth", 77.44, 93.31, "x3d_l"),
    _ptv("csn_r101", "CSN_32x2_R101.pyth", 77.00, 92.90, "csn_r101"),
    _ptv("r2plus1d_r50", "R2PLUS1D_16x4_R50.pyth", 76.01, 92.23, "r2plus1d_r50"),
    # MViT-B: model_zoo.md lists 1 x 5 views; pytorchvideo's pool LayerNorms use eps 1e-5 (vidlab's
    # default 1e-6, PySlowFast's and torchvision's): the converted model differs by ~3e-5 relative
    # unless built with pool_norm_eps=1e-5
    _ptv("mvit_v1_b_16x4", "MVIT_B_16x4.pyth", 78.85, 93.85, "mvit_base_16x4", views="1 x 5",
         tag="kinetics400_pytorchvideo"),  # torchvision's port of the same release is the DEFAULT
    _ptv("mvit_v1_b_32x3", "MVIT_B_32x3_f294077834.pyth", 80.30, 94.69, "mvit_base_32x3", views="1 x 5"),
]

# PyTorchVideo's Something-Something v2 and Charades models: its Kinetics-400 Slow / SlowFast 8x8 R50
# fine-tuned with PySlowFast's configs/{SSv2,Charades}/pytorchvideo/*.yaml (facebookresearch/SlowFast
# projects/pytorchvideo/README.md lists the same figures with those configs). The files keep the Kinetics
# files' names in the dataset's folder of the zoo; the installed pytorchvideo hub does not record them.
_PTV_ZOO_DOC = ("facebookresearch/pytorchvideo docs/source/model_zoo.md (read at commit f3142bb; the file last "
                "changed in 9d0ca90), {table} table")
_PTV_ZOO_DIRS = {"Kinetics-400": "kinetics", "Something-Something v2": "ssv2", "Charades": "charades"}
# The configs set DATA.REVERSE_INPUT_CHANNEL: True, yet the networks saw RGB: PySlowFast's Ptvssv2 /
# Ptvcharades loaders (slowfast/datasets/ptv_datasets.py) apply rgb2bgr to PyTorchVideo's frames (RGB:
# FrameVideo decodes with cv2 and converts BGR -> RGB), then pack_pathway_output's REVERSE_INPUT_CHANNEL flip
# turns them back (the flag exists for PySlowFast's own Charades / SSv2 loaders, whose cv2 frames are BGR).
_PTV_RGB_NOTE = ("input RGB, as vidlab feeds it: the config's DATA.REVERSE_INPUT_CHANNEL flip undoes the rgb2bgr "
                 "of PySlowFast's ptv_datasets loaders, so the stem is converted unchanged")


def _ptv_finetuned(arch: str, dataset: str, file: str, accuracy: dict, preprocessing: dict, how: str) -> HubEntry:
    folder = _PTV_ZOO_DIRS[dataset]  # also the tag and the label set: "ssv2", "charades"
    table, config_dir, classes, data_licence = {
        "ssv2": ("Something-Something V2", "SSv2", 174, "Something-Something v2 (20BN / Qualcomm licence: research use)"),
        "charades": ("Charades", "Charades", 157, "Charades (Allen Institute for AI, non-commercial licence)"),
    }[folder]
    config = f"configs/{config_dir}/pytorchvideo/{file.rsplit('.', 1)[0]}.yaml"
    return HubEntry(
        name=f"{arch}.{folder}", arch=arch, tag=folder, dataset=dataset, source="pytorchvideo",
        urls=(f"{_PTV}/{folder}/{file}",), local_name=f"{folder}_{file}", file_format="pyth",
        converter="pytorchvideo", labels=folder, num_classes=classes, preprocessing=dict(preprocessing),
        accuracy=accuracy, accuracy_source=_PTV_ZOO_DOC.format(table=table) + f" ({how})",
        licence=f"Apache-2.0 (pytorchvideo model zoo); pre-trained on Kinetics-400 (annotations CC BY 4.0), "
                f"fine-tuned on {data_licence}",
        verified=True,
        notes=(f"URL as model_zoo.md links it (not in the installed pytorchvideo hub); cached and mirrored as "
               f"{folder}_{file} (the Kinetics-400 file has the same published name); trained with PySlowFast's "
               f"{config} (facebookresearch/SlowFast at 287ec00); {_PTV_RGB_NOTE}; no published checksum (sha256 "
               "recorded at first download)"))


# SSv2 (PySlowFast's Ptvssv2 / pytorchvideo.data.SSv2): num_frames frames spread over the whole video (one per
# segment, the middle one at test), 1 clip x 3 crops; the labels are the ids of something-something-v2-labels.json
_SSV2 = {"frame_sampling": "segments"}
_SSV2_HOW = "top-1/top-5, 3 crops x 1 clip of frames spread over the whole video"
# Charades (Ptvcharades / pytorchvideo.data.Charades): the dataset's 24 fps frames, clips of num_frames x
# sampling_rate; multi-label (sigmoid outputs, BCE), scored by mAP with the max over the 3 x 10 views
_CHARADES = {"fps": 24, "multi_label": True}
_CHARADES_HOW = "mAP over the 157 classes, multi-label; 3 crops x 10 clips, max of the sigmoids over the views"
_PYTORCHVIDEO += [
    _ptv_finetuned("slow_r50_8x8", "Something-Something v2", "SLOW_8x8_R50.pyth",
                   {"top1": 60.04, "top5": 85.19, "views": "3 x 1"}, _SSV2, _SSV2_HOW),
    _ptv_finetuned("slowfast_r50_8x8", "Something-Something v2", "SLOWFAST_8x8_R50.pyth",
                   {"top1": 61.68, "top5": 86.92, "views": "3 x 1"}, _SSV2, _SSV2_HOW),
    _ptv_finetuned("slow_r50_8x8", "Charades", "SLOW_8x8_R50.pyth", {"mAP": 34.72, "views": "3 x 10"}, _CHARADES,
                   _CHARADES_HOW),
    _ptv_finetuned("slowfast_r50_8x8", "Charades", "SLOWFAST_8x8_R50.pyth", {"mAP": 37.24, "views": "3 x 10"},
                   _CHARADES, _CHARADES_HOW),
]

# PyTorchVideo's AVA detector: the installed hub's slowfast_r50_detection (pytorchvideo/models/hub/slowfast.py,
# checkpoint_paths), SlowFast R50 8x8 pre-trained on Kinetics-400 and fine-tuned on AVA; vidlab's
# slowfast_r50_8x8_detection with RoIAlign aligned=False (the pytorchvideo converter records it). Its 80 outputs are
# the AVA action ids 1..80 in order (the ava80 label set).
_PYTORCHVIDEO.append(HubEntry(
    name="slowfast_r50_8x8_detection.ava", arch="slowfast_r50_8x8_detection", tag="ava", dataset="AVA",
    source="pytorchvideo", urls=(f"{_PTV}/ava/SLOWFAST_8x8_R50_DETECTION.pyth",), file_format="pyth",
    converter="pytorchvideo", labels="ava80", num_classes=80,
    accuracy_source=("none published: pytorchvideo's docs/source/model_zoo.md has no AVA table and the hub's "
                     "slowfast_r50_detection docstring gives no mAP or AVA version"),
    licence="Apache-2.0 (pytorchvideo model zoo); pre-trained on Kinetics-400 (annotations CC BY 4.0), fine-tuned on "
            "AVA (annotations CC BY 4.0)",
    verified=True,
    notes=("URL as the installed pytorchvideo 0.1.5 hub records it (checkpoint_paths['slowfast_r50_detection']); the "
           "action detector of `vidlab detect run --model slowfast_r50_8x8_detection`; boxes pooled with "
           "RoIAlign(aligned=False) as pytorchvideo's ResNetRoIHead does; no published checksum (sha256 recorded at "
           "first download)")))

# ----------------------------------------------------------------------------------------- PySlowFast
_PSF = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400"
_PSF_LICENCE = "Apache-2.0 (PySlowFast model zoo); trained on Kinetics-400 (annotations CC BY 4.0)"
_PSF_DOC = "facebookresearch/SlowFast MODEL_ZOO.md (read at commit 02a85e9)"
_PSF_NOTE = ("URL and accuracy (3 crops x 10 clips, 30-view for X3D) as listed in " + _PSF_DOC +
             "; no published checksum (sha256 recorded at first download)")


def _psf(arch: str, url: str, top1: float, top5: float | None, fmt: str = "pkl", views: str = "3 x 10", *,
         classes: int = 400, doc: str = _PSF_DOC) -> HubEntry:
    accuracy: dict = {"top1": top1, "views": views}
    if top5 is not None:
        accuracy["top5"] = top5
    tag = f"kinetics{classes}_pyslowfast"
    return HubEntry(
        name=f"{arch}.{tag}", arch=arch, tag=tag, dataset=f"Kinetics-{classes}",
        source="pyslowfast", urls=(url,), file_format=fmt, converter="pyslowfast", labels=f"kinetics{classes}",
        num_classes=classes, preprocessing={"fps": 30}, accuracy=accuracy, accuracy_source=doc,
        licence=_PSF_LICENCE.replace("Kinetics-400", f"Kinetics-{classes}"), verified=True,
        notes=_PSF_NOTE.replace(_PSF_DOC, doc))


_X3D = "https://dl.fbaipublicfiles.com/pyslowfast/x3d_models"
_PYSLOWFAST = [
    _psf("slowfast_r50_8x8", f"{_PSF}/SLOWFAST_8x8_R50.pkl", 77.0, 92.6),
    _psf("slowfast_r50_4x16", f"{_PSF}/SLOWFAST_4x16_R50.pkl", 75.6, 92.0),
    _psf("slow_r50_8x8", f"{_PSF}/SLOWONLY_8x8_R50.pkl", 74.8, 91.6),
    _psf("slow_r50_4x16", f"{_PSF}/SLOWONLY_4x16_R50.pkl", 72.7, 90.3),
    _psf("c2d_nopool_r50_8x8", f"{_PSF}/C2D_NOPOOL_8x8_R50.pkl", 67.2, 87.8),
    _psf("i3d_r50", f"{_PSF}/I3D_8x8_R50.pkl", 73.5, 90.8),
    _psf("i3d_nl_r50", f"{_PSF}/I3D_NLN_8x8_R50.pkl", 74.0, 91.1),
    _psf("x3d_xs", f"{_X3D}/x3d_xs.pyth", 69.5, None, "pyth", "30 views"),
    _psf("x3d_s", f"{_X3D}/x3d_s.pyth", 73.5, None, "pyth", "30 views"),
    _psf("x3d_m", f"{_X3D}/x3d_m.pyth", 76.2, None, "pyth", "30 views"),
    _psf("x3d_l", f"{_X3D}/x3d_l.pyth", 77.5, None, "pyth", "30 views"),
]

# The attention models of the same table (read at commit 287ec00; TEST 1 crop x 5 clips at 224): MViTv2-S 16x4 and
# -B 32x3 (configs/Kinetics/MVITv2_{S_16x4,B_32x3}.yaml), MViTv1 B-Conv 32x3 for Kinetics-400 and -600
# (MVIT_B_32x3_CONV[_K600].yaml: the 24-block MViT-B-24). Its MViTv1 B-Conv 16x4 row links a Google Drive page,
# not a file, and is left out.
_PSF_287 = "facebookresearch/SlowFast MODEL_ZOO.md (read at commit 287ec00), Kinetics 400 and 600 table"
_PSF_ROOT = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo"
_PYSLOWFAST += [
    _psf("mvitv2_s_16x4", f"{_PSF_ROOT}/mvitv2/pysf_video_models/MViTv2_S_16x4_k400_f302660347.pyth", 81.0, 94.6,
         "pyth", "1 x 5", doc=_PSF_287),
    _psf("mvitv2_b_32x3", f"{_PSF_ROOT}/mvitv2/pysf_video_models/MViTv2_B_32x3_k400_f304025456.pyth", 82.9, 95.7,
         "pyth", "1 x 5", doc=_PSF_287),
    _psf("mvit_v1_b24_32x3", f"{_PSF_ROOT}/mvit/k400.pyth", 80.4, 94.8, "pyth", "1 x 5", doc=_PSF_287),
    _psf("mvit_v1_b24_32x3", f"{_PSF_ROOT}/mvit/k600.pyth", 83.9, 96.5, "pyth", "1 x 5", classes=600, doc=_PSF_287),
]

# PySlowFast's own Something-Something v2 and Charades SlowFasts (MODEL_ZOO.md "Multigrid Training" tables, read at
# commit 287ec00): SlowFast R50 16 x 8 fine-tuned from its Kinetics-400 SLOWFAST_8x8_R50.pkl, the standard schedule
# and the multigrid one. Their configs (configs/{SSv2,Charades}/SLOWFAST_16x8_R50[_multigrid].yaml) build the
# network of slowfast_r50_8x8 (ALPHA 4, BETA_INV 8, FUSION_CONV_CHANNEL_RATIO 2, FUSION_KERNEL_SZ 7, the same
# NUM_BLOCK_TEMP_KERNEL, no non-local) and feed it DATA.NUM_FRAMES 64 at SAMPLING_RATE 2 (Slow 16 frames, stride 8);
# DATA.REVERSE_INPUT_CHANNEL turns the loaders' cv2 BGR frames into RGB, what vidlab feeds. The URLs are published
# with a doubled "pyslowfast/pyslowfast/" segment, kept as written; the document's config column of the Charades
# rows names the SSv2 configs (a slip: the Charades configs are the ones with NUM_CLASSES 157 and bce_logit).
_PSF_MG = "https://dl.fbaipublicfiles.com/pyslowfast/pyslowfast/model_zoo/multigrid/model_zoo"
_PSF_MG_DOC = "facebookresearch/SlowFast MODEL_ZOO.md (read at commit 287ec00), Multigrid Training, {table} table"


def _psf_finetuned(dataset: str, multigrid: bool, accuracy: dict) -> HubEntry:
    folder, tag, classes, data_licence, extra, how = {
        "Something-Something v2": ("SSv2", "ssv2", 174, "Something-Something v2 (20BN / Qualcomm licence: research use)",
                                   _SSV2, _SSV2_HOW.replace("3 crops", "1 crop (the first)")),
        "Charades": ("Charades", "charades", 157, "Charades (Allen Institute for AI, non-commercial licence)",
                     _CHARADES, _CHARADES_HOW),
    }[dataset]
    file = f"SLOWFAST_16x8_R50{'_multigrid' if multigrid else ''}.pkl"
    tag = f"{tag}_pyslowfast{'_multigrid' if multigrid else ''}"
    config = f"configs/{folder}/{file[:-4]}.yaml"
    pre = {"num_frames": 64, "sampling_rate": 2, **extra}
    if multigrid and folder == "SSv2":  # its config tests at TEST_CROP_SIZE 224 (the standard one at 256)
        pre["test_crop_size"] = 224
    return HubEntry(
        name=f"slowfast_r50_8x8.{tag}", arch="slowfast_r50_8x8", tag=tag, dataset=dataset, source="pyslowfast",
        urls=(f"{_PSF_MG}/{folder}/{file}",), local_name=f"{folder}_{file}", file_format="pkl",
        converter="pyslowfast", labels=folder.lower(), num_classes=classes, preprocessing=pre, accuracy=accuracy,
        accuracy_source=_PSF_MG_DOC.format(table={"SSv2": "Something-Something V2"}.get(folder, folder)) +
        f" ({'multigrid' if multigrid else 'standard'} training; {how})",
        licence=f"Apache-2.0 (PySlowFast model zoo); pre-trained on Kinetics-400 (annotations CC BY 4.0), "
                f"fine-tuned on {data_licence}",
        verified=True,
        notes=(f"URL as MODEL_ZOO.md links it; cached and mirrored as {folder}_{file} (the SSv2 and Charades files "
               f"share their published names); trained and tested with {config} (64 frames at rate 2"
               f"{', TEST_CROP_SIZE 224' if multigrid and folder == 'SSv2' else ''}); a PyTorch checkpoint under a "
               ".pkl name as far as the configs show (TEST.CHECKPOINT_TYPE is the default pytorch; the caffe2 type "
               "is TRAIN's, for the Kinetics-400 initialisation): vidlab reads a .pkl as a torch file or as "
               "Caffe2 blobs, whichever it holds; no published checksum (sha256 recorded at first download)"))


_PYSLOWFAST += [
    _psf_finetuned("Something-Something v2", False, {"top1": 63.0, "top5": 88.5, "views": "1 x 1"}),
    _psf_finetuned("Something-Something v2", True, {"top1": 63.5, "top5": 88.7, "views": "1 x 1"}),
    _psf_finetuned("Charades", False, {"mAP": 38.9, "views": "3 x 10"}),
    _psf_finetuned("Charades", True, {"mAP": 38.6, "views": "3 x 10"}),
]

# ----------------------------------------------------------------------------------------- pipeline parts
_TV_PIPE_LICENCE = "BSD-3-Clause (torchvision)"


def _tv_pipe(name: str, arch: str, tag: str, dataset: str, file: str, prefix: str, metrics: dict, doc: str,
             params: int, labels: str | None = None, num_classes: int | None = None, notes: str = "") -> HubEntry:
    return HubEntry(
        name=name, arch=arch, tag=tag, dataset=dataset, source="torchvision", urls=(f"{_TV}/{file}",),
        file_format="pth", sha256_prefix=prefix, labels=labels, num_classes=num_classes, accuracy=metrics,
        accuracy_source=doc, licence=_TV_PIPE_LICENCE, num_params=params, kind="pipeline", notes=notes)


_PIPELINE = [
    _tv_pipe("fasterrcnn_resnet50_fpn.coco", "fasterrcnn_resnet50_fpn", "coco", "COCO train2017",
             "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "258fb6c6", {"COCO-val2017": {"box_map": 37.0}},
             "torchvision FasterRCNN_ResNet50_FPN_Weights.COCO_V1 meta['_metrics']", 41755286, labels="coco",
             num_classes=91, notes="the person detector of `vidlab detect` (COCO class 1 'person'); "
                                   "torchvision.models.detection.fasterrcnn_resnet50_fpn state dict"),
    _tv_pipe("raft_large.c_t_skht_v2", "raft_large", "c_t_skht_v2", "FlyingChairs+FlyingThings3D+Sintel+KITTI+HD1K",
             "raft_large_C_T_SKHT_V2-ff5fadd5.pth", "ff5fadd5",
             {"Sintel-Test-Cleanpass": {"epe": 1.819}, "Sintel-Test-Finalpass": {"epe": 3.067}},
             "torchvision Raft_Large_Weights.C_T_SKHT_V2 meta['_metrics'] (torchvision's DEFAULT)", 5257536,
             notes="`vidlab flow --method raft`; torchvision.models.optical_flow.raft_large state dict"),
    _tv_pipe("raft_large.c_t_v2", "raft_large", "c_t_v2", "FlyingChairs+FlyingThings3D",
             "raft_large_C_T_V2-1bb1363a.pth", "1bb1363a",
             {"Sintel-Train-Cleanpass": {"epe": 1.3822}, "Sintel-Train-Finalpass": {"epe": 2.7161},
              "Kitti-Train": {"per_image_epe": 4.5118, "fl_all": 16.0679}},
             "torchvision Raft_Large_Weights.C_T_V2 meta['_metrics']", 5257536,
             notes="torchvision.models.optical_flow.raft_large state dict"),
    _tv_pipe("raft_small.c_t_v2", "raft_small", "c_t_v2", "FlyingChairs+FlyingThings3D",
             "raft_small_C_T_V2-01064c6d.pth", "01064c6d",
             {"Sintel-Train-Cleanpass": {"epe": 1.9901}, "Sintel-Train-Finalpass": {"epe": 3.2831},
              "Kitti-Train": {"per_image_epe": 7.5978, "fl_all": 25.2369}},
             "torchvision Raft_Small_Weights.C_T_V2 meta['_metrics'] (torchvision's DEFAULT)", 990162,
             notes="torchvision.models.optical_flow.raft_small state dict"),
]

# CartoonGAN: the URL vidlab.cartoon.weights records (MIRROR: a fork's release assets; the port's original
# http links, ORIGINAL_URL there, are dead); the fork's README lists their SHA-256, not recorded here.
_CARTOON_FORK = "https://github.com/clibdev/CartoonGAN-Test-Pytorch-Torch/releases/latest/download"
_CARTOON = [
    HubEntry(name=f"cartoongan.{style.lower()}", arch="cartoongan", tag=style.lower(), dataset=f"{style} anime frames",
             source="cartoongan", urls=(f"{_CARTOON_FORK}/cartoongan-{style.lower()}.pth",), file_format="pth",
             licence="not stated by the publishers (research release of CartoonGAN, CVPR 2018)", kind="pipeline",
             notes=f"CartoonGAN generator state dict ({style}_net_G_float.pth of the CartoonGAN-Test-Pytorch-Torch "
                   f"port) for `vidlab cartoon --style {style}`; the fork's 'latest' release URL is not pinned; "
                   "no published checksum here (sha256 recorded at first download)")
    for style in ("Hayao", "Hosoda", "Paprika", "Shinkai")
]

#: Every published entry, in table order (a model's first entry is its DEFAULT).
# ----------------------------------------------------------------------------------------- MMAction2
_MMA = "https://download.openmmlab.com/mmaction/v1.0/recognition"
_MMA_VIDEOMAE_DOC = ("open-mmlab/mmaction2 configs/recognition/videomae/README.md, Kinetics-400 table "
                     "(5 clips x 3 crops, short side 320; ported from MCG-NJU/VideoMAE, whose MODEL_ZOO.md gives "
                     "{orig})")


def _mma(arch: str, path: str, prefix: str, top1: float, top5: float, doc: str, licence: str,
         params: int | None = None) -> HubEntry:
    return HubEntry(
        name=f"{arch}.kinetics400", arch=arch, tag="kinetics400", dataset="Kinetics-400", source="mmaction2",
        urls=(f"{_MMA}/{path}",), file_format="pth", converter="mmaction2", sha256_prefix=prefix,
        labels="kinetics400", num_classes=400, preprocessing={"resize_short_side": 320},
        accuracy={"top1": top1, "top5": top5, "views": "5 x 3"}, accuracy_source=doc, licence=licence,
        num_params=params, verified=False,
        notes="URL and accuracy as the MMAction2 README lists them (read through the code index, not downloaded); "
              "the file name's hex digits are OpenMMLab's sha256 prefix (mmengine publish_model)")


_VIDEOMAE_LICENCE = "CC BY-NC 4.0 (MCG-NJU/VideoMAE weights, ported by MMAction2); trained on Kinetics-400"
_MMACTION2 = [
    _mma("videomae_vit_b_16x4", "videomae/vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-860a3cd3.pth",
         "860a3cd3", 81.3, 95.0, _MMA_VIDEOMAE_DOC.format(orig="81.5 / 95.1"), _VIDEOMAE_LICENCE),
    _mma("videomae_vit_l_16x4", "videomae/vit-large-p16_videomae-k400-pre_16x4x1_kinetics-400_20221013-229dbb03.pth",
         "229dbb03", 85.3, 96.7, _MMA_VIDEOMAE_DOC.format(orig="85.2 / 96.8"), _VIDEOMAE_LICENCE),
]

# MMAction2's own Kinetics-400 CNNs (and its X3D ports of PySlowFast's files), for the architectures its converter
# reads (vidlab.convert.mmaction2). Every config tests 10 clips x 3 crops (SampleFrames num_clips=10, Resize to the
# short side, ThreeCrop of that size) and averages the softmax scores (average_clips='prob'); the ResNets sample
# frames at the video's own rate (no target_fps), X3D at 30 fps (target_fps=30). Normalisation: the configs'
# data_preprocessor (vidlab.convert.mmaction2.PREPROCESSING, which the converted checkpoint records).
_MMA_COMMIT = "4d6c934"
_MMA_CNN_DOC = ("open-mmlab/mmaction2 configs/recognition/{family}/README.md (read at commit " + _MMA_COMMIT +
                "), Kinetics-400 table: {row}; {views}")
_MMA_CNN_VIEWS = "top-1/top-5, 10 clips x 3 crops ('testing protocol' column), softmax scores averaged"
_MMA_LICENCE = "Apache-2.0 (MMAction2 model zoo); trained on Kinetics-400 (annotations CC BY 4.0)"
_MMA_X3D_LICENCE = ("Apache-2.0 (MMAction2 model zoo; ported from PySlowFast's release, Apache-2.0); trained on "
                    "Kinetics-400 (annotations CC BY 4.0)")
_MMA_IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # 123.675.. / 58.395.. on 0-255
_MMA_X3D_NORM = {"mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225]}  # 114.75 / 57.38 on 0-255


def _mma_cnn(arch: str, family: str, path: str, top1: float, top5: float | None, row: str, *, tag: str,
             licence: str = _MMA_LICENCE, short_side: int = 256, norm: dict[str, list[float]] = _MMA_IMAGENET,
             fps: float | None = None, extra: dict[str, Any] | None = None, views: str = _MMA_CNN_VIEWS,
             note: str = "") -> HubEntry:
    """An MMAction2 CNN: ``path`` is the published URL below ``recognition/`` (``<family>/<config>/<file>``), its
    config is ``configs/recognition/<family>/<config>.py`` (X3D: the file's stem before the date)."""
    file = url_basename(path)
    stem, date_hash = file[:-4].rsplit("_", 1)
    prefix = date_hash.split("-", 1)[1]
    folder = path.split("/")[1]
    config = stem if folder == "facebook" else folder
    accuracy: dict[str, Any] = {"top1": top1, "views": "10 x 3"}
    if top5 is not None:
        accuracy["top5"] = top5
    accuracy.update(extra or {})
    pre: dict[str, Any] = {**norm, "resize_short_side": short_side, "test_crop_size": short_side}
    if fps is not None:
        pre["fps"] = fps
    return HubEntry(
        name=f"{arch}.{tag}", arch=arch, tag=tag, dataset="Kinetics-400", source="mmaction2", urls=(f"{_MMA}/{path}",),
        file_format="pth", converter="mmaction2", sha256_prefix=prefix, labels="kinetics400", num_classes=400,
        preprocessing=pre, accuracy=accuracy,
        accuracy_source=_MMA_CNN_DOC.format(family=family, row=row, views=views), licence=licence, verified=True,
        notes=(f"config configs/recognition/{family}/{config}.py; URL and accuracy as that README's Kinetics-400 "
               f"table lists them (commit {_MMA_COMMIT}), the same URL in its metafile.yml{note}; test pipeline: "
               f"Resize to short side {short_side}, ThreeCrop {short_side}, 10 clips"
               f"{', target_fps 30' if fps else ', frames at the video rate'}; not downloaded here: the file name's "
               "hex digits are OpenMMLab's sha256 prefix (mmengine publish_model)"))


_SLOWONLY_METAFILE = ", whose figures differ: {0} / {1} (README's used)"
_MMACTION2 += [
    # SlowOnly R50 (ResNet3dSlowOnly): trained from scratch (Linear+Cosine, 256 epochs) ...
    _mma_cnn("slow_r50_4x16", "slowonly",
             "slowonly/slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb/"
             "slowonly_r50_4x16x1_256e_8xb16_kinetics400-rgb_20220901-f6a40d08.pth",
             72.97, 90.88, "4x16x1, ResNet50, pretrain None", tag="kinetics400_mmaction2",
             note=_SLOWONLY_METAFILE.format("72.68", "90.68")),
    _mma_cnn("slow_r50_8x8", "slowonly",
             "slowonly/slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb/"
             "slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb_20220901-2132fc87.pth",
             75.15, 92.11, "8x8x1, ResNet50, pretrain None", tag="kinetics400_mmaction2",
             note=_SLOWONLY_METAFILE.format("74.82", "91.80")),
    # ... and from torchvision's ImageNet-1k ResNet-50 (resnet50-11ad3fa6.pth, inflated; Linear+MultiStep, 150 epochs)
    _mma_cnn("slow_r50_4x16", "slowonly",
             "slowonly/slowonly_imagenet-pretrained-r50_8xb16-4x16x1-steplr-150e_kinetics400-rgb/"
             "slowonly_imagenet-pretrained-r50_8xb16-4x16x1-steplr-150e_kinetics400-rgb_20220901-e7b65fad.pth",
             75.12, 91.72, "4x16x1, ResNet50, pretrain ImageNet", tag="kinetics400_mmaction2_in1k",
             note=_SLOWONLY_METAFILE.format("74.83", "91.60") + "; initialised from torchvision's ImageNet-1k ResNet-50"),
    _mma_cnn("slow_r50_8x8", "slowonly",
             "slowonly/slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_kinetics400-rgb/"
             "slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_kinetics400-rgb_20220901-df42dc84.pth",
             76.45, 92.55, "8x8x1, ResNet50, pretrain ImageNet", tag="kinetics400_mmaction2_in1k",
             note=_SLOWONLY_METAFILE.format("75.96", "92.40") + "; initialised from torchvision's ImageNet-1k ResNet-50; "
                  "README and metafile give the non-local 8x8 file the same -df42dc84 (one of the two may be a copy "
                  "slip: the download's prefix check tells)"),
    # SlowFast R50 with BN + ReLU laterals (lateral_norm=True: the steplr config) -> PySlowFast's layout
    _mma_cnn("slowfast_r50_8x8", "slowfast",
             "slowfast/slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb/"
             "slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb_20220818-b62a501f.pth",
             76.65, 92.86, "8x8x1, Linear+MultiStep, ResNet50", tag="kinetics400_mmaction2",
             note="; lateral_norm=True (BN + ReLU laterals, PySlowFast's FuseFastToSlow), fusion kernel 7"),
    # MMAction2's default SlowFast R50: bare lateral convs (lateral_norm=False) -> the `_mmaction2` architectures
    _mma_cnn("slowfast_r50_4x16_mmaction2", "slowfast",
             "slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb/"
             "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb_20220901-701b0f6f.pth",
             75.55, 92.35, "4x16x1, Linear+Cosine, ResNet50", tag="kinetics400",
             note="; lateral_norm=False (bare lateral convs), fusion kernel 5"),
    _mma_cnn("slowfast_r50_8x8_mmaction2", "slowfast",
             "slowfast/slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb/"
             "slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb_20220818-1cb6dfc8.pth",
             76.80, 92.99, "8x8x1, Linear+Cosine, ResNet50", tag="kinetics400",
             note="; lateral_norm=False (bare lateral convs), fusion kernel 7"),
    # I3D R50 (ResNet3d, temporal stride 2 in the stem conv and pool), from ImageNet
    _mma_cnn("i3d_r50_mmaction2", "i3d",
             "i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb/"
             "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb_20220812-e213c223.pth",
             73.47, 91.27, "32x2x1, ResNet50, pretrain ImageNet", tag="kinetics400",
             note="; conv1_stride_t=2, pool1_stride_t=2 (configs/_base_/models/i3d_r50.py); initialised from "
                  "torchvision's ImageNet-1k ResNet-50"),
    # X3D: PySlowFast's x3d_s / x3d_m.pyth converted by MMAction2 and tested on its data; the table gives top-1 only
    _mma_cnn("x3d_s", "x3d", "x3d/facebook/x3d_s_13x6x1_facebook-kinetics400-rgb_20201027-623825a0.pth",
             73.3, None, "13x6x1, 160x160, X3D_S", tag="kinetics400_mmaction2", licence=_MMA_X3D_LICENCE,
             short_side=182, norm=_MMA_X3D_NORM, fps=30, extra={"top1_10_view": 73.2},
             views="'top1 30-view' (the config's 10 clips x 3 crops; 'top1 10-view' 73.2; 'reference' 30-view, "
                   "PySlowFast's file on the same data, 73.5), no top-5 published",
             note=" (Top 1 Accuracy 73.3, 'Converted From' https://dl.fbaipublicfiles.com/pyslowfast/x3d_models/"
                  "x3d_s.pyth)"),
    _mma_cnn("x3d_m", "x3d", "x3d/facebook/x3d_m_16x5x1_facebook-kinetics400-rgb_20201027-3f42382a.pth",
             76.4, None, "16x5x1, 224x224, X3D_M", tag="kinetics400_mmaction2", licence=_MMA_X3D_LICENCE,
             norm=_MMA_X3D_NORM, fps=30, extra={"top1_10_view": 75.2},
             views="'top1 30-view' (the config's 10 clips x 3 crops; 'top1 10-view' 75.2; 'reference' 30-view, "
                   "PySlowFast's file on the same data, 76.2), no top-5 published",
             note=" (Top 1 Accuracy 76.4, 'Converted From' https://dl.fbaipublicfiles.com/pyslowfast/x3d_models/"
                  "x3d_m.pyth)"),
]

# ----------------------------------------------------------------------------------------- Hugging Face
_HF = "https://huggingface.co"
_HF_FILES = (("config.json",), ("model.safetensors", "pytorch_model.bin"))


def _hf(arch: str, repo: str, tag: str, top1: float, top5: float, doc: str, licence: str,
        preprocessing: dict[str, Any] | None = None) -> HubEntry:
    return HubEntry(
        name=f"{arch}.{tag}", arch=arch, tag=tag, dataset="Kinetics-400", source="huggingface", urls=(f"{_HF}/{repo}",),
        file_format="huggingface", converter="huggingface", labels=None, num_classes=400,
        preprocessing=dict(preprocessing or {}), accuracy={"top1": top1, "top5": top5}, accuracy_source=doc,
        licence=licence, verified=False, files=_HF_FILES,
        notes="a model folder on the Hugging Face Hub (config.json + weights; labels from its id2label); the "
              "repository is the one transformers' documentation names, its weight file name (safetensors, else "
              "the .bin) was not checked here: the download tries both; no published sha256 (recorded at first "
              "download)")


# ----------------------------------------------------------------------------------------- TimeSformer
_TIMESFORMER = [
    HubEntry(name="timesformer_base_8x32.kinetics400", arch="timesformer_base_8x32", tag="kinetics400",
             dataset="Kinetics-400", source="timesformer",
             urls=("https://www.dropbox.com/s/g5t24we9gl5yk88/TimeSformer_divST_8x32_224_K400.pyth?dl=0",),
             file_format="pyth", converter="pyslowfast", labels="kinetics400", num_classes=400,
             accuracy={"top1": 77.9, "top5": 93.2},
             accuracy_source="facebookresearch/TimeSformer README, Model Zoo (commit 156de43): TimeSformer, K400, "
                             "8 frames, 224 crop; retrained after the paper (78.0 / 93.7 there)",
             licence="CC BY-NC 4.0 (facebookresearch/TimeSformer); trained on Kinetics-400", verified=False,
             notes="the original release's .pyth (PySlowFast's layout: model_state with model.-prefixed keys); the "
                   "link is the README's Dropbox share link (dl=0), fetched as its direct download (dl=1); no "
                   "published checksum")
]

_HUGGINGFACE = [
    _hf("videomae_vit_b_16x4", "MCG-NJU/videomae-base-finetuned-kinetics", "kinetics400_hf", 80.9, 94.7,
        "the model card of MCG-NJU/videomae-base-finetuned-kinetics (Kinetics-400 test set)", _VIDEOMAE_LICENCE),
    _hf("timesformer_base_8x32", "facebook/timesformer-base-finetuned-k400", "kinetics400_hf", 78.0, 93.7,
        "Bertasius et al., ICML 2021, Kinetics-400 comparison (TimeSformer, 8 x 224, 1 x 3 views); the model card gives no figure",
        "CC BY-NC 4.0 (facebookresearch/TimeSformer); trained on Kinetics-400"),
]

# ----------------------------------------------------------------------------------------- c3d-pytorch
# DavideA/c3d-pytorch (README.md at commit 1111ccf, 2019-03-03): "Download the pretrained weights (Sports1M) from
# [here](http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle)"; its predict.py loads the file with
# net.load_state_dict(torch.load('c3d.pickle')) and names the 487 outputs with labels.txt.
_C3D_PORT_COMMIT = "1111ccf"
_C3D = [
    HubEntry(name="c3d.sports1m", arch="c3d", tag="sports1m", dataset="Sports-1M", source="c3d-pytorch",
             urls=("http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle",), file_format="pickle",
             converter="c3d-pytorch", labels="sports1m", num_classes=487,
             preprocessing={"resize_size": [128, 171]},  # vidlab.models.c3d: 16 frames, 128x171, crop 112
             accuracy={},
             accuracy_source=("none published: the DavideA/c3d-pytorch README (commit " + _C3D_PORT_COMMIT + ") says "
                              "'Performances tested only qualitatively! No warranty!'; the C3D paper's Sports-1M "
                              "figures are the Caffe model's, not measured on this port"),
             licence=("port: MIT (DavideA/c3d-pytorch LICENSE, Copyright (c) 2019 Davide Abati; the code); weights: "
                      "the C3D authors' Caffe Sports-1M model from facebook/C3D (archived as facebookarchive/C3D), "
                      "whose README says C3D is licensed under Creative Commons Attribution-NonCommercial 3.0 (its "
                      "LICENSE: 'For C3D software', Copyright (c) 2015 Facebook, CC BY-NC 3.0; it names no separate "
                      "terms for the model files); trained on Sports-1M"),
             num_params=79_991_015, verified=True,
             notes=("the URL as DavideA/c3d-pytorch's README links it (commit " + _C3D_PORT_COMMIT + "), plain http "
                    "as published (no https link is given); a torch.save state dict of plain tensors (conv1..fc8, "
                    "read with weights_only=True); keys are vidlab's c3d names, mapped 1:1; the Caffe weights expect "
                    "BGR 0-255 minus the Sports-1M mean, which the c3d spec's normalisation and its RGB->BGR flip "
                    "in front of conv1 give; labels: the port's labels.txt, fc8's order; no published checksum "
                    "(sha256 recorded at first download)")),
]

ENTRIES: tuple[HubEntry, ...] = (*_TORCHVISION, *_PYTORCHVIDEO, *_PYSLOWFAST, *_MMACTION2, *_TIMESFORMER, *_HUGGINGFACE,
                                 *_C3D, *_PIPELINE, *_CARTOON)


# ----------------------------------------------------------------------------------------- look-up
class HubError(VidlabError):
    """A hub entry is unknown, or its file cannot be had (offline, not published there, corrupt)."""


_entries: list[HubEntry] = list(ENTRIES)


def list_entries() -> list[HubEntry]:
    """Every entry, in table order (published ones, then any added with :func:`register_entry`)."""
    return list(_entries)


def register_entry(entry: HubEntry, *, replace: bool = False) -> HubEntry:
    """Add an entry (tests, local zoos); a taken name needs ``replace=True``. Returns the entry."""
    if entry.kind not in KINDS:
        raise ValueError(f"{entry.name}: kind must be one of {KINDS}, got {entry.kind!r}")
    if not entry.urls:
        raise ValueError(f"{entry.name}: no URL")
    taken = [i for i, e in enumerate(_entries) if e.name == entry.name]
    if taken and not replace:
        raise ValueError(f"hub entry {entry.name!r} registered twice")
    if taken:
        _entries[taken[0]] = entry
    else:
        _entries.append(entry)
    return entry


def remove_entry(name: str) -> None:
    """Take an entry added with :func:`register_entry` out again (no error when absent)."""
    _entries[:] = [e for e in _entries if e.name != name]


def _canonical_arch(name: str) -> str:
    from vidlab.models import get_spec
    from vidlab.models.registry import UnknownModelError

    try:
        return get_spec(name).name
    except UnknownModelError:
        return name.lower()


def get_entry(name_or_arch: str, tag: str | None = None) -> HubEntry:
    """The entry named ``name_or_arch`` (``"r3d_18.kinetics400"``), or an architecture's (vidlab name or
    alias, or a pipeline model such as ``raft_large``) entry with ``tag``; no tag or ``"DEFAULT"``: its first."""
    wanted = None if tag is None or tag.upper() == "DEFAULT" else tag.lower()
    for e in _entries:
        if e.name == name_or_arch and wanted in (None, e.tag.lower()):
            return e
    arch = _canonical_arch(name_or_arch)
    found = [e for e in _entries if e.arch == arch]
    if not found:
        raise HubError(f"no published weights for {name_or_arch!r}; `vidlab hub list` shows the {len(_entries)} "
                       f"entries")
    if wanted is None:
        return found[0]
    for e in found:
        if e.tag.lower() == wanted:
            return e
    tags = ", ".join(["DEFAULT"] + [e.tag for e in found])
    raise HubError(f"{arch} has no weights tagged {tag!r}; its tags: {tags}")


def label_names(label_set: str) -> list[str]:
    """The class names of a label set (``vidlab/hub/labels/<label_set>.txt``, one per line)."""
    path = resources.files("vidlab.hub").joinpath("labels").joinpath(f"{label_set}.txt")
    if not path.is_file():
        raise HubError(f"unknown label set {label_set!r} (no vidlab/hub/labels/{label_set}.txt)")
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


__all__ = ["ENTRIES", "FORMATS", "KINDS", "SOURCES", "SOURCE_HOSTS", "HubEntry", "HubError", "get_entry",
           "label_names", "list_entries", "register_entry", "remove_entry"]
