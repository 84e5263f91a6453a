"""torchvision video models (R3D, MC3, R(2+1)D, S3D): equivalence, counts, FLOPs, any input size."""


import pytest
import torch
from torch import nn
from torchvision.models import video as tv

from helpers import randomise_
from vidlab import models
from vidlab.apps.model_table import count_flops
from vidlab.convert import get_mapper
from vidlab.models.checkpoint import load_into
from vidlab.models.s3d import WindowAvgPool3d

TV_BUILDERS = {"r3d_18": tv.r3d_18, "mc3_18": tv.mc3_18, "r2plus1d_18": tv.r2plus1d_18, "s3d": tv.s3d}

# torchvision weights metadata (torchvision/models/video/{resnet,s3d}.py, KINETICS400_V1):
# num_params, and "_ops" = GFLOPS as multiply-adds of conv + linear, measured at 16x112x112
# for the ResNets and 16x224x224 for S3D (the relation is checked against the installed package below).
TV_TABLE = {
    "r3d_18": (33_371_472, 40.697, 16, 112),
    "mc3_18": (11_695_440, 43.343, 16, 112),
    "r2plus1d_18": (31_505_325, 40.519, 16, 112),
    "s3d": (8_320_048, 17.979, 16, 224),
}
TV_WEIGHTS = {"r3d_18": tv.R3D_18_Weights, "mc3_18": tv.MC3_18_Weights, "r2plus1d_18": tv.R2Plus1D_18_Weights,
              "s3d": tv.S3D_Weights}


_randomise = randomise_  # the shared helper (tests/helpers.py)


def _convert(name, ref):
    ours = models.build(name, num_classes=ref.state_dict()[_head_key(name)].shape[0]).eval()
    state = get_mapper("torchvision", name)(ref.state_dict(), name)
    load_into(ours, state, f"torchvision {name}")
    assert list(ours.state_dict()) == list(ref.state_dict())  # identical keys, identical order
    return ours


def _head_key(name):
    return "classifier.1.weight" if name == "s3d" else "fc.weight"


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_torchvision_resnet_loads_strictly_and_matches(name):
    ref = _randomise(TV_BUILDERS[name](num_classes=7)).eval()
    ours = _convert(name, ref)
    x = torch.randn(2, 3, 8, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert got.shape == (2, 7)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_torchvision_s3d_matches_at_its_input():
    """At 16x224x224 (the last feature map is exactly torchvision's 2x7x7 pooling window)."""
    ref = _randomise(tv.s3d()).eval()
    ours = _convert("s3d", ref)
    x = torch.randn(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert got.shape == (1, 400)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 7, 7), (8, 7, 7), (16, 8, 9), (3, 10, 7)])
def test_s3d_head_equals_torchvision_head_wherever_torchvision_runs(shape):
    """torchvision: AvgPool3d((2,7,7), stride 1) -> 1x1x1 conv -> mean over positions; vidlab pools the
    windows first. Same logits for every feature map torchvision accepts (64/128-frame clips included)."""
    torch.manual_seed(0)
    ref = tv.s3d(num_classes=11).eval()
    ours = models.build("s3d", num_classes=11).eval()
    ours.classifier.load_state_dict(ref.classifier.state_dict())
    feats = torch.randn(2, 1024, *shape)
    with torch.no_grad():
        expected = torch.mean(ref.classifier(ref.avgpool(feats)), dim=(2, 3, 4))
        got = ours.classifier(ours.avgpool(feats)).flatten(1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_window_pool_is_global_mean_below_the_window():
    x = torch.randn(2, 5, 1, 3, 4)
    torch.testing.assert_close(WindowAvgPool3d((2, 7, 7))(x), x.mean((2, 3, 4), keepdim=True))


def test_s3d_runs_where_torchvision_s3d_fails():
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        with pytest.raises(RuntimeError):
            tv.s3d().eval()(x)
        out = models.build("s3d", num_classes=5).eval()(x)
    assert out.shape == (1, 5) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="at least 5 frames of 17x17"):
        models.build("s3d").eval()(torch.randn(1, 3, 4, 64, 64))


@pytest.mark.parametrize("name", sorted(TV_TABLE))
def test_parameter_counts_match_torchvision_metadata(name):
    params = TV_TABLE[name][0]
    assert TV_WEIGHTS[name].KINETICS400_V1.meta["num_params"] == params
    with torch.device("meta"):
        model = models.build(name, num_classes=400)
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.parametrize("name", sorted(TV_TABLE))
def test_gflops_match_torchvision_metadata(name):
    _, gflops, frames, crop = TV_TABLE[name]
    assert TV_WEIGHTS[name].KINETICS400_V1.meta["_ops"] == pytest.approx(gflops, abs=1e-3)
    ours = count_flops(name, frames, crop)
    assert ours == pytest.approx(gflops, rel=0.05)
    assert ours == pytest.approx(gflops, abs=2e-3)  # in fact the same convention: conv + linear multiply-adds


def test_r2plus1d_34_is_the_vmz_ig65m_layout():
    """VMZ model zoo (facebookresearch/VMZ tutorials/model_zoo.md), R(2+1)D-34 IG-65M: 63.6M params,
    49.8 / 199.0 GFLOPs for 8 / 32 frames. Those GFLOPs are measured at 128x128 (VMZ's resize size):
    we get 49.75 and 199.00 there, and (112/128)^2 of that at the 112x112 crop."""
    with torch.device("meta"):
        model = models.build("r2plus1d_34", num_classes=400)
    assert sum(p.numel() for p in model.parameters()) == 63_697_175
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(63.6, rel=0.005)
    # Caffe2 widths in the first block of layers 2-4 (ig65m-pytorch), torchvision's elsewhere
    sd = model.state_dict()
    assert sd["layer2.0.conv2.0.0.weight"].shape == (288, 128, 1, 3, 3)
    assert sd["layer2.0.conv1.0.0.weight"].shape == (230, 64, 1, 3, 3)
    assert sd["layer4.0.conv2.0.0.weight"].shape == (1152, 512, 1, 3, 3)
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm3d))
    assert count_flops("r2plus1d_34", 8, 128) == pytest.approx(49.8, rel=0.05)
    assert count_flops("r2plus1d_34", 32, 128) == pytest.approx(199.0, rel=0.05)
    assert count_flops("r2plus1d_34", 32, 112) == pytest.approx(199.0 * (112 / 128) ** 2, rel=0.005)


def test_r2plus1d_34_takes_torchvision_layout_weights():
    """ig65m-pytorch's R(2+1)D-34 is torchvision's VideoResNet with the Caffe2 widths: same keys and shapes
    (here checked on a state dict of that construction, 359 IG-65M classes)."""
    with torch.device("meta"):
        ig65m = tv.VideoResNet(tv.resnet.BasicBlock, [tv.resnet.Conv2Plus1D] * 4, [3, 4, 6, 3],
                               tv.resnet.R2Plus1dStem, num_classes=359)
        for layer, planes, mid in (("layer2", 128, 288), ("layer3", 256, 576), ("layer4", 512, 1152)):
            getattr(ig65m, layer)[0].conv2[0] = tv.resnet.Conv2Plus1D(planes, planes, mid)
        _convert("r2plus1d_34", ig65m)  # strict load, identical key order


@pytest.mark.parametrize("name", ["r3d_18", "r3d_34", "mc3_18", "r2plus1d_18", "r2plus1d_34"])
def test_any_spatial_size_gives_logits(name):
    model = models.build(name, num_classes=6).eval()
    with torch.no_grad():
        for shape in [(2, 3, 4, 32, 32), (1, 3, 5, 40, 56)][: 1 if name.endswith("34") else 2]:
            out = model(torch.randn(shape))
            assert out.shape == (shape[0], 6) and torch.isfinite(out).all()
        assert model([torch.randn(1, 3, 4, 32, 32)]).shape == (1, 6)  # a list of one clip, like ResNet3D


def test_specs_and_build():
    for name in ["r3d_18", "r3d_34", "mc3_18", "r2plus1d_18"]:
        spec = models.get_spec(name)
        assert (spec.num_frames, spec.crop_size, spec.num_classes) == (16, 112, 400)
        assert spec.mean == (0.43216, 0.394666, 0.37645) and spec.std == (0.22803, 0.22145, 0.216989)
    spec = models.get_spec("s3d")
    assert (spec.crop_size, spec.mean) == (224, (0.43216, 0.394666, 0.37645))
    assert models.get_spec("r2plus1d_34").num_frames == 32
    model = models.build("mc3_18", num_classes=3, dropout=0.3)
    assert model.fc.out_features == 3 and model.arch == "mc3_18"
