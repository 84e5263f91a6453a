"""Offline checks of every published hub entry (no network): architectures, converters, label sets,
URL forms, and the figures copied from the installed torchvision and pytorchvideo."""

from __future__ import annotations

import importlib
import re
from urllib.parse import urlparse

import pytest
import torch

from vidlab import hub, models
from vidlab.convert.core import map_state
from vidlab.hub.download import _names, direct_url
from vidlab.hub.table import ENTRIES, FORMATS, SOURCE_HOSTS, SOURCES, url_basename

CLASSIFIERS = [e for e in ENTRIES if e.kind == "classifier"]
PIPELINE = [e for e in ENTRIES if e.kind == "pipeline"]
# a classifier's dataset -> the label set its outputs follow (line i = output i), and its headline metric
DATASET_LABELS = {"Kinetics-400": "kinetics400", "Kinetics-600": "kinetics600", "Something-Something v2": "ssv2", "Charades": "charades",
                  "Sports-1M": "sports1m", "AVA": "ava80"}
DATASET_METRIC = {"Kinetics-400": "top1", "Kinetics-600": "top1", "Something-Something v2": "top1", "Charades": "mAP",  # Charades: multi-label
                  "Sports-1M": "top1", "AVA": "mAP"}  # AVA: frame mAP@0.5 of an action detector
# Sources that publish plain http links only (DavideA/c3d-pytorch's README): the URL is kept as published
HTTP_SOURCES = {"c3d-pytorch"}
# An entry whose publisher gives no accuracy says so, and why, in its accuracy_source
NO_ACCURACY = "none published: "


def _ids(entries):
    return [e.name for e in entries]


def test_the_table_covers_the_sources():
    assert len(ENTRIES) == len({e.name for e in ENTRIES})
    by_source = {s: [e for e in ENTRIES if e.source == s] for s in SOURCES}
    archs = {e.arch for e in by_source["torchvision"]}
    assert {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "fasterrcnn_resnet50_fpn", "raft_large", "raft_small",
            "mvit_v1_b_16x4", "mvitv2_s_16x4", "swin3d_t", "swin3d_s", "swin3d_b"} <= archs
    assert len(by_source["pytorchvideo"]) >= 12 and len(by_source["pyslowfast"]) >= 8
    assert all(e.verified for e in by_source["torchvision"])
    assert {e.name for e in by_source["pytorchvideo"]} >= {"slow_r50_8x8.ssv2", "slowfast_r50_8x8.ssv2",
                                                           "slow_r50_8x8.charades", "slowfast_r50_8x8.charades"}
    assert {e.arch for e in by_source["mmaction2"]} >= {"slow_r50_4x16", "slow_r50_8x8", "slowfast_r50_8x8",
                                                         "slowfast_r50_4x16_mmaction2", "slowfast_r50_8x8_mmaction2",
                                                         "i3d_r50_mmaction2", "x3d_s", "x3d_m"}
    assert [e.name for e in by_source["c3d-pytorch"]] == ["c3d.sports1m"]


def test_no_two_entries_share_a_cache_or_mirror_name():
    # PyTorchVideo publishes SLOW_8x8_R50.pyth for Kinetics-400, SSv2 and Charades: one cache would hold the
    # wrong one. The later ones take "<folder>_<name>", and a mirror is searched for that name only.
    names = [e.filename for e in ENTRIES]
    assert len(names) == len(set(names))
    for e in ENTRIES:
        assert _names(e)[0] == e.filename
        if e.local_name:
            folder, base = e.urls[0].rsplit("/", 2)[-2:]
            assert e.local_name == f"{folder}_{base}" and _names(e) == [e.local_name]


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_every_entry_is_well_formed(entry):
    assert entry.source in SOURCES and entry.file_format in FORMATS and entry.licence
    assert entry.name == f"{entry.arch}.{entry.tag}" and re.fullmatch(r"[a-z0-9_]+", entry.tag)
    assert hub.get_entry(entry.name) is entry and hub.get_entry(entry.arch, entry.tag) is entry
    for url in entry.urls:  # the publisher's form: https (http where it publishes only that) on the source's host,
        u = urlparse(url)  # the file's format as suffix
        assert u.scheme == ("http" if entry.source in HTTP_SOURCES else "https"), url
        assert u.hostname in SOURCE_HOSTS[entry.source], url
        if entry.file_format == "huggingface":  # a model repository: https://huggingface.co/<owner>/<name>
            assert re.fullmatch(r"/[\w.-]+/[\w.-]+", u.path) and url.rsplit("/", 1)[-1] == entry.filename
            assert entry.files[0] == ("config.json",) and entry.file_url("config.json") == \
                f"{url}/resolve/main/config.json"
            continue
        if entry.source == "timesformer":  # the README's Dropbox share link, query and all
            assert u.query == "dl=0" and direct_url(url).endswith("?dl=1")
            url = url.split("?", 1)[0]
        assert url.endswith(f".{entry.file_format}") and url_basename(url) == url_basename(entry.urls[0])
        assert entry.filename == (entry.local_name or url_basename(url))
    if entry.sha256:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    if entry.sha256_prefix:  # torchvision's rule: the hex digits after the last '-' of the file name
        assert re.fullmatch(r"[0-9a-f]{8,}", entry.sha256_prefix)
        assert re.search(r"-([0-9a-f]+)\.", entry.filename).group(1) == entry.sha256_prefix
    if entry.source == "torchvision":
        assert entry.sha256_prefix
    if entry.labels:
        assert len(hub.label_names(entry.labels)) == entry.num_classes
    if not entry.verified:
        assert entry.notes, "an unverified entry says why"


@pytest.mark.parametrize("entry", CLASSIFIERS, ids=_ids(CLASSIFIERS))
def test_classifier_entries_have_a_converter_for_their_architecture(entry):
    spec = models.get_spec(entry.arch)
    # the TimeSformer release's .pyth has PySlowFast's layout (its code is built on PySlowFast)
    assert spec.name == entry.arch and entry.converter == ("pyslowfast" if entry.source == "timesformer" else entry.source)
    # a Hugging Face folder names its classes in its config (id2label): no label set of ours
    assert entry.labels == (DATASET_LABELS[entry.dataset] if entry.source != "huggingface" else None)
    # the classifier has one output per name of the entry's label set (the architecture's default is Kinetics')
    assert entry.num_classes == (len(hub.label_names(entry.labels)) if entry.labels else spec.num_classes)
    # the architecture's default classifier: Kinetics-400's, c3d's Sports-1M fc8, a detector's 80 AVA actions
    assert spec.num_classes == {"c3d": 487, "slowfast_r50_8x8_detection": 80}.get(entry.arch, 400)
    # no accuracy: an unverified entry, or one whose source says none was published and why
    assert entry.accuracy_source and (entry.accuracy or not entry.verified or (
        entry.accuracy_source.startswith(NO_ACCURACY) and len(entry.accuracy_source) > len(NO_ACCURACY) + 20))
    if entry.accuracy:  # top-1 (single-label) or mAP (multi-label), as the source publishes it
        assert DATASET_METRIC[entry.dataset] in entry.accuracy and ("top1" in entry.accuracy) == (
            DATASET_METRIC[entry.dataset] == "top1")
    pre = entry.resolved_preprocessing()
    assert {"num_frames", "sampling_rate", "crop_size", "mean", "std"} <= set(pre)
    # the converter accepts the architecture: a (weightless) state dict with the architecture's own
    # (PySlowFast) names maps onto the model key for key; torchvision / pytorchvideo are checked below
    if entry.source == "pyslowfast":
        with torch.device("meta"):
            state = models.build(entry.arch, num_classes=entry.num_classes).state_dict()
        assert set(map_state("pyslowfast", entry.arch, dict(state))) == set(state)
    if entry.source == "c3d-pytorch":  # the port's c3d.pickle keys are vidlab's c3d names (a DataParallel copy too)
        with torch.device("meta"):
            state = models.build(entry.arch, num_classes=entry.num_classes).state_dict()
        assert list(map_state("c3d-pytorch", entry.arch, dict(state))) == list(state)
        assert set(map_state("c3d-pytorch", entry.arch, {"module." + k: v for k, v in state.items()})) == set(state)
    if entry.source == "timesformer":  # the release's keys carry its wrapper's "model." prefix
        with torch.device("meta"):
            state = models.build(entry.arch, num_classes=entry.num_classes).state_dict()
        assert set(map_state("pyslowfast", entry.arch, {"model." + k: v for k, v in state.items()})) == set(state)


def _torchvision_weights(entry):
    import torchvision.models as tvm
    import torchvision.models.optical_flow as flow

    enums = {"r3d_18": tvm.video.R3D_18_Weights, "mc3_18": tvm.video.MC3_18_Weights,
             "r2plus1d_18": tvm.video.R2Plus1D_18_Weights, "s3d": tvm.video.S3D_Weights,
             "mvit_v1_b_16x4": tvm.video.MViT_V1_B_Weights, "mvitv2_s_16x4": tvm.video.MViT_V2_S_Weights,
             "swin3d_t": tvm.video.Swin3D_T_Weights, "swin3d_s": tvm.video.Swin3D_S_Weights,
             "swin3d_b": tvm.video.Swin3D_B_Weights,
             "fasterrcnn_resnet50_fpn": tvm.detection.FasterRCNN_ResNet50_FPN_Weights,
             "raft_large": flow.Raft_Large_Weights, "raft_small": flow.Raft_Small_Weights}
    enum = enums[entry.arch]
    return next(w for w in enum if w.url == entry.urls[0]), enum


TORCHVISION = [e for e in ENTRIES if e.source == "torchvision"]
TV_BUILDERS = {"mvit_v1_b_16x4": "mvit_v1_b", "mvitv2_s_16x4": "mvit_v2_s"}  # where torchvision's name differs


@pytest.mark.parametrize("entry", TORCHVISION, ids=_ids(TORCHVISION))
def test_torchvision_entries_equal_the_installed_torchvision(entry):
    weights, enum = _torchvision_weights(entry)
    meta = weights.meta
    assert meta["num_params"] == entry.num_params
    if entry.labels:
        assert list(meta["categories"]) == hub.label_names(entry.labels)
    if entry.kind == "classifier":
        assert meta["_metrics"]["Kinetics-400"] == {"acc@1": entry.accuracy["top1"], "acc@5": entry.accuracy["top5"]}
        preset = weights.transforms()
        p = entry.preprocessing
        assert (preset.crop_size, preset.resize_size) == ([p["crop_size"]] * 2, p["resize_size"])
        assert (preset.mean, preset.std) == (p["mean"], p["std"])
        assert list(models.get_spec(entry.arch).mean) == p["mean"]
        # torchvision's own state dict (meta device: no weights) maps onto the vidlab model key for key
        import torchvision.models.video as tvv

        with torch.device("meta"):
            ref = getattr(tvv, TV_BUILDERS.get(entry.arch, entry.arch))().state_dict()
            mine = models.build(entry.arch).state_dict()
        assert set(map_state("torchvision", entry.arch, dict(ref))) == set(mine)
    else:
        assert meta["_metrics"] == entry.accuracy
        first = hub.get_entry(entry.arch)
        assert first.urls[0] == enum.DEFAULT.url  # the table's DEFAULT is torchvision's
        assert entry.converter is None and callable(getattr(_builders(), entry.arch))


def _builders():
    import types

    import torchvision.models.detection as det
    import torchvision.models.optical_flow as flow

    return types.SimpleNamespace(fasterrcnn_resnet50_fpn=det.fasterrcnn_resnet50_fpn, raft_large=flow.raft_large,
                                 raft_small=flow.raft_small)


PTV_HUB = {  # vidlab arch -> (pytorchvideo hub module, hub name)
    "slow_r50_8x8": ("resnet", "slow_r50"), "c2d_r50": ("resnet", "c2d_r50"), "i3d_r50": ("resnet", "i3d_r50"),
    "slowfast_r50_8x8": ("slowfast", "slowfast_r50"), "slowfast_r101_8x8": ("slowfast", "slowfast_r101"),
    "slowfast_r101_16x8_50_50": ("slowfast", "slowfast_16x8_r101_50_50"),
    "x3d_xs": ("x3d", "x3d_xs"), "x3d_s": ("x3d", "x3d_s"), "x3d_m": ("x3d", "x3d_m"), "x3d_l": ("x3d", "x3d_l"),
    "csn_r101": ("csn", "csn_r101"), "r2plus1d_r50": ("r2plus1d", "r2plus1d_r50"),
    "mvit_v1_b_16x4": ("vision_transformers", "mvit_base_16x4"),
    "mvit_v1_b_32x3": ("vision_transformers", "mvit_base_32x3"),
    "slowfast_r50_8x8_detection": ("slowfast", "slowfast_r50_detection"),
}
PYTORCHVIDEO = [e for e in ENTRIES if e.source == "pytorchvideo"]
PTV_ZOO_DIRS = {"Kinetics-400": "kinetics", "Something-Something v2": "ssv2", "Charades": "charades", "AVA": "ava"}


@pytest.mark.parametrize("entry", PYTORCHVIDEO, ids=_ids(PYTORCHVIDEO))
def test_pytorchvideo_entries_equal_the_installed_pytorchvideo_hub(entry):
    pytest.importorskip("pytorchvideo")
    # the zoo's form (docs/source/model_zoo.md): one folder per dataset
    assert re.fullmatch(rf"https://dl\.fbaipublicfiles\.com/pytorchvideo/model_zoo/{PTV_ZOO_DIRS[entry.dataset]}/"
                        r"[A-Za-z0-9_]+\.pyth", entry.urls[0])
    if entry.arch not in PTV_HUB:
        assert not entry.verified  # a model-zoo link the installed hub does not record
        return
    assert entry.verified
    module, name = PTV_HUB[entry.arch]
    hub_module = importlib.import_module(f"pytorchvideo.models.hub.{module}")
    if entry.dataset in ("Kinetics-400", "AVA"):  # files the installed hub records itself
        assert hub_module.checkpoint_paths[name] == entry.urls[0]
    else:  # fine-tuned from the hub's Kinetics network; the zoo keeps the Kinetics file's name in its own folder
        assert entry.urls[0] == hub_module.checkpoint_paths[name].replace("/kinetics/", f"/{PTV_ZOO_DIRS[entry.dataset]}/")
    # the hub builder's own state dict with the entry's classifier (pytorchvideo's model_num_class) maps onto
    # the vidlab model built for the entry's label set: every key, every shape
    kwargs = {} if entry.num_classes in (400, 80) and entry.dataset in ("Kinetics-400", "AVA") else \
        {"model_num_class": entry.num_classes}
    try:
        with torch.device("meta"):
            ref = getattr(hub_module, name)(pretrained=False, **kwargs).state_dict()
    except RuntimeError:  # pytorchvideo's MViT reads tensor values while it builds: real (random) weights
        ref = getattr(hub_module, name)(pretrained=False, **kwargs).state_dict()
    with torch.device("meta"):
        mine = models.build(entry.arch, num_classes=entry.num_classes).state_dict()
    mapped = map_state("pytorchvideo", entry.arch, dict(ref))
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in mine.items()}


def test_defaults_and_lookup_errors():
    assert hub.get_entry("r3d_18").name == "r3d_18.kinetics400"
    assert hub.get_entry("slowfast_r50", "DEFAULT").name == "slowfast_r50_8x8.kinetics400"  # an alias
    assert hub.get_entry("slowfast_r50_8x8", "kinetics400_pyslowfast").source == "pyslowfast"
    assert hub.get_entry("raft_large").tag == "c_t_skht_v2"
    with pytest.raises(hub.HubError, match="no published weights for 'c2d_r10_tiny'"):
        hub.get_entry("c2d_r10_tiny")
    with pytest.raises(hub.HubError, match="its tags: DEFAULT, kinetics400$"):
        hub.get_entry("r3d_18", "sports1m")
    with pytest.raises(hub.HubError, match="unknown label set"):
        hub.label_names("nope")


def test_label_sets_equal_the_shared_copies(real_dir):
    k400 = (real_dir / "kinetics" / "annotations" / "label_map_k400.txt").read_text().splitlines()
    assert hub.label_names("kinetics400") == k400


def test_a_pipeline_entry_is_not_a_classifier_checkpoint(hub_home):
    with pytest.raises(hub.HubError, match="pipeline file"):
        hub.load_checkpoint_path("raft_large", "DEFAULT")


# ----------------------------------------------------------------------------------------- MMAction2
# An MMAction2 URL: recognition/<family>/[<config folder>/]<file stem>_<date>-<sha256 prefix>.pth
MMA_URL = re.compile(r"https://download\.openmmlab\.com/mmaction/v1\.0/recognition/(?P<family>[a-z0-9]+)/"
                     r"(?:[\w.-]+/)?[\w.-]+_(?P<date>\d{8})-(?P<prefix>[0-9a-f]{8})\.pth")
MMA_BARE_4X16 = "slowfast_r50_4x16_bare"  # the zoo's default 4x16: fusion kernel 5, lateral_norm=False


def _mma_keys(name):
    """MMAction2 recognizer keys and shapes (tests/mmaction_ref.py), plus the bare-lateral 4x16 (its BN-lateral
    reference without the lateral BNs, as tests/convert/test_mmaction2.py builds it)."""
    from mmaction_ref import mmaction2_keys

    if name == MMA_BARE_4X16:
        return [(k, s) for k, s in mmaction2_keys("slowfast_r50_4x16_lateral_norm") if "_lateral.bn." not in k]
    return mmaction2_keys(name)


# The config each MMAction2 CNN entry names -> the recognizer whose state_dict keys it has (mmaction_ref's names:
# one network per row; SlowOnly's 4x16 and 8x8, scratch or ImageNet-initialised, share one, X3D-S and -M too).
MMA_CONFIG_KEYS = {
    "slowonly/slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb": "slowonly_r50",
    "slowonly/slowonly_r50_8xb16-8x8x1-256e_kinetics400-rgb": "slowonly_r50",
    "slowonly/slowonly_imagenet-pretrained-r50_8xb16-4x16x1-steplr-150e_kinetics400-rgb": "slowonly_r50",
    "slowonly/slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_kinetics400-rgb": "slowonly_r50",
    "slowfast/slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb": "slowfast_r50_8x8_lateral_norm",
    "slowfast/slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb": "slowfast_r50_8x8",  # lateral_norm=False
    "slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb": MMA_BARE_4X16,
    "i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb": "i3d_r50",
    "x3d/x3d_s_13x6x1_facebook-kinetics400-rgb": "x3d_s",
    "x3d/x3d_m_16x5x1_facebook-kinetics400-rgb": "x3d_s",  # the same X3D backbone (gamma_d 2.2), other input
}
MMACTION2 = [e for e in ENTRIES if e.source == "mmaction2"]
MMA_CNN = [e for e in MMACTION2 if not e.arch.startswith("videomae")]  # VideoMAE: tests/models/test_videomae.py


def _mma_config(entry):
    m = re.search(r"configs/recognition/(\w+/[\w.-]+)\.py", entry.notes)
    assert m, f"{entry.name}: its notes name its MMAction2 config"
    return m.group(1)


@pytest.mark.parametrize("entry", MMACTION2, ids=_ids(MMACTION2))
def test_mmaction2_entries_have_the_zoo_url_form_and_its_normalisation(entry):
    from vidlab.convert.mmaction2 import PREPROCESSING

    m = MMA_URL.fullmatch(entry.urls[0])
    assert m and m.group("prefix") == entry.sha256_prefix, entry.urls[0]
    assert entry.labels == "kinetics400" and entry.converter == "mmaction2"
    assert re.fullmatch(r"\d+ x \d+", entry.accuracy["views"])  # clips x crops, as MMAction2 writes them
    # what `hub info` shows as the input is what the converted checkpoint records (MMAction2's data_preprocessor)
    pre = entry.resolved_preprocessing()
    norm = PREPROCESSING[entry.arch]
    assert pre["mean"] == pytest.approx(list(norm["mean"])) and pre["std"] == pytest.approx(list(norm["std"]))
    if not entry.arch.startswith("videomae"):  # a CNN (MMA_CNN): the file lies in its config's folder (X3D's ports: in facebook/, named after the config)
        family, config = _mma_config(entry).split("/")
        assert m.group("family") == family and config in entry.urls[0]
        assert entry.verified and entry.accuracy_source.startswith(f"open-mmlab/mmaction2 configs/recognition/{family}/")


@pytest.mark.parametrize("entry", MMA_CNN, ids=_ids(MMA_CNN))
def test_mmaction2_entries_convert_from_their_configs_keys(entry):
    """The recognizer the entry's config builds (its state_dict keys and shapes) converts onto the entry's
    architecture key for key, shape for shape; bare-lateral SlowFast configs point at the `_mmaction2` archs,
    and the BN-lateral arch refuses them naming the entry's."""
    from mmaction_ref import NUM_CLASSES
    from vidlab.convert import ConversionError
    from vidlab.convert.mmaction2 import BARE_LATERAL_ARCHS

    config = _mma_config(entry)
    assert config in MMA_CONFIG_KEYS, f"{entry.name}: add its config's recognizer to MMA_CONFIG_KEYS"
    keys = _mma_keys(MMA_CONFIG_KEYS[config])
    state = {k: torch.empty(s, device="meta") for k, s in keys}
    mapped = map_state("mmaction2", entry.arch, dict(state))
    with torch.device("meta"):
        mine = models.build(entry.arch, num_classes=NUM_CLASSES).state_dict()
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in mine.items()}
    laterals = [k for k, _ in keys if "_lateral." in k]
    bare = bool(laterals) and not any("_lateral.bn." in k for k in laterals)
    assert (entry.arch in BARE_LATERAL_ARCHS.values()) == bare
    assert ("lateral_norm=False" in entry.notes) == bare and ("lateral_norm=True" in entry.notes) == (
        bool(laterals) and not bare)
    if bare:
        plain = next(a for a, b in BARE_LATERAL_ARCHS.items() if b == entry.arch)
        with pytest.raises(ConversionError, match=f"--arch {entry.arch}"):
            map_state("mmaction2", plain, dict(state))


@pytest.mark.parametrize("entry", CLASSIFIERS, ids=_ids(CLASSIFIERS))
def test_a_stated_normalisation_never_overrides_the_converters_constants(entry):
    """An entry that states mean/std (torchvision's preset) documents what the converter already records
    (the architecture's, or MMAction2's data_preprocessor): stating them never changes a converted model's
    input; and a stated fps is also the rate clips are resampled to."""
    from vidlab.convert.core import source_preprocessing

    base = source_preprocessing(str(entry.converter), entry.arch)
    for key in ("mean", "std"):
        if key in entry.preprocessing:
            assert entry.preprocessing[key] == pytest.approx(base[key], abs=1e-6), key
    pre = entry.resolved_preprocessing()
    assert pre.get("target_fps") == entry.preprocessing.get("target_fps", entry.preprocessing.get("fps"))


PSF_FINETUNED = [e for e in CLASSIFIERS if e.source == "pyslowfast" and e.dataset in ("Something-Something v2", "Charades")]


def test_pyslowfasts_ssv2_and_charades_slowfasts():
    """MODEL_ZOO.md's Multigrid Training tables (commit 287ec00): SlowFast R50 16x8, standard and multigrid,
    for SSv2 (top-1/top-5) and Charades (mAP), on the doubled pyslowfast/pyslowfast/ path as published; their
    sidecars get the 64 x 2 clip, and the test protocol of their configs."""
    from vidlab.engine.protocol import protocol_for

    got = {e.name: (e.urls[0].rsplit("/", 2)[-2:], e.accuracy) for e in PSF_FINETUNED}
    assert got == {
        "slowfast_r50_8x8.ssv2_pyslowfast": (["SSv2", "SLOWFAST_16x8_R50.pkl"],
                                             {"top1": 63.0, "top5": 88.5, "views": "1 x 1"}),
        "slowfast_r50_8x8.ssv2_pyslowfast_multigrid": (["SSv2", "SLOWFAST_16x8_R50_multigrid.pkl"],
                                                       {"top1": 63.5, "top5": 88.7, "views": "1 x 1"}),
        "slowfast_r50_8x8.charades_pyslowfast": (["Charades", "SLOWFAST_16x8_R50.pkl"],
                                                 {"mAP": 38.9, "views": "3 x 10"}),
        "slowfast_r50_8x8.charades_pyslowfast_multigrid": (["Charades", "SLOWFAST_16x8_R50_multigrid.pkl"],
                                                           {"mAP": 38.6, "views": "3 x 10"}),
    }
    for e in PSF_FINETUNED:
        assert e.urls[0].startswith("https://dl.fbaipublicfiles.com/pyslowfast/pyslowfast/model_zoo/multigrid/")
        pre = e.resolved_preprocessing()
        assert (pre["num_frames"], pre["sampling_rate"]) == (64, 2)
        meta = {"arch": e.arch, "num_classes": e.num_classes, "labels": hub.label_names(e.labels),
                "hub_entry": e.name, "preprocessing": pre,
                "provenance": {"converted_from": {"source": e.converter}}}
        p = protocol_for(meta)
        charades = e.dataset == "Charades"
        assert p.name == ("pyslowfast_charades" if charades else "pyslowfast_ssv2")
        assert (p.num_frames, p.sampling_rate, p.views, p.crops) == (64, 2, 10 if charades else 1, 3 if charades else 1)
        multigrid_ssv2 = e.tag == "ssv2_pyslowfast_multigrid"
        assert p.test_crop == (224 if multigrid_ssv2 else 256)
        assert pre["test_crop_size"] == p.test_crop
        assert models.is_multi_label({"preprocessing": pre}) == charades
