"""CSN-R101 and R(2+1)D-50 (pytorchvideo architecture, vidlab keys): counts, FLOPs, names, sizes.

(Equivalence with pytorchvideo's hub models is in tests/convert/test_ptv_csn.py.)
"""

import pytest
import torch
from torch import nn

from vidlab import models
from vidlab.apps.model_table import count_flops

# pytorchvideo model zoo, Kinetics-400 (facebookresearch/pytorchvideo docs/source/model_zoo.md):
# name -> (frames, sampling rate, params (M), "Flops (G)" per view)
PTV_ZOO = {"r2plus1d_r50": (16, 4, 28.11, 76.45), "csn_r101": (32, 2, 22.21, 75.62)}


def _bn_elements(name, frames, crop):
    """Number of BatchNorm output elements for one clip (meta device, nothing computed)."""
    with torch.device("meta"):
        model = models.build(name).eval()
    total = []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.register_forward_hook(lambda mod, i, o: total.append(o.numel()))
    with torch.device("meta"), torch.no_grad():
        model(torch.empty(1, 3, frames, crop, crop))
    return sum(total)


@pytest.mark.parametrize("name,exact", [("r2plus1d_r50", 28_107_600), ("csn_r101", 22_213_776)])
def test_parameter_counts(name, exact):
    with torch.device("meta"):
        model = models.build(name, num_classes=400)
    n = sum(p.numel() for p in model.parameters())
    assert n == exact
    assert round(n / 1e6, 2) == PTV_ZOO[name][2]


@pytest.mark.parametrize("name", sorted(PTV_ZOO))
def test_gflops_match_the_pytorchvideo_zoo(name):
    """The zoo's "Flops (G) x views" is per view at the 256x256 test crop (3 crops x 10 clips), counted by
    fvcore (via PySlowFast) with the model in training mode: conv/linear multiply-adds plus 5 "flops" per
    BatchNorm output element (fvcore's training-mode BN rule). count_flops counts conv/linear
    multiply-adds only, so it is ~2% under the table; adding the BN term reproduces the table to 0.1%."""
    frames, _, _, table = PTV_ZOO[name]
    ours = count_flops(name, frames, 256)
    assert ours == pytest.approx(table, rel=0.05)
    with_bn = ours + 5 * _bn_elements(name, frames, 256) / 1e9
    assert with_bn == pytest.approx(table, rel=1e-3)


def test_specs():
    for name, (frames, rate, _, _) in PTV_ZOO.items():
        spec = models.get_spec(name)
        assert (spec.num_frames, spec.sampling_rate, spec.crop_size, spec.test_crop_size) == (frames, rate, 224, 256)
        assert spec.mean == (0.45, 0.45, 0.45) and spec.std == (0.225, 0.225, 0.225)
    assert models.get_spec("csn_r101_32x2").name == "csn_r101"
    assert models.get_spec("r2plus1d_r50_16x4").name == "r2plus1d_r50"


def test_readable_stable_names():
    with torch.device("meta"):
        csn = models.build("csn_r101").state_dict()
        r21 = models.build("r2plus1d_r50").state_dict()
    assert not any(k.startswith("blocks.") for k in [*csn, *r21])
    assert csn["stem.conv.weight"].shape == (64, 3, 3, 7, 7)
    assert csn["res2.block0.conv_b.weight"].shape == (64, 1, 3, 3, 3)  # depthwise
    assert csn["res4.block22.conv_c.weight"].shape == (1024, 256, 1, 1, 1)  # 23 blocks in res4
    assert csn["res3.block0.proj.weight"].shape == (512, 256, 1, 1, 1)
    assert "res3.block1.proj.weight" not in csn
    assert r21["stem.conv.weight"].shape == (64, 3, 1, 7, 7)
    assert r21["res2.block0.conv_b.temporal.weight"].shape == (64, 64, 3, 1, 1)
    assert r21["res2.block0.conv_b.spatial.weight"].shape == (64, 64, 1, 3, 3)
    assert r21["head.projection.weight"].shape == (400, 2048)


@pytest.mark.parametrize("name", ["r2plus1d_r50", "csn_r101"])
def test_any_spatial_size_gives_logits(name):
    model = models.build(name, num_classes=4).eval()
    with torch.no_grad():
        for shape in [(2, 3, 4, 32, 32), (1, 3, 8, 48, 40)]:
            out = model(torch.randn(shape))
            assert out.shape == (shape[0], 4) and torch.isfinite(out).all()
        assert model([torch.randn(1, 3, 4, 32, 32)]).shape == (1, 4)


def test_strides():
    """Output map of one 16x224 (R(2+1)D) / 32x224 (CSN) clip: 4x7x7, the zoo's head window."""
    for name, frames in [("r2plus1d_r50", 16), ("csn_r101", 32)]:
        with torch.device("meta"):
            feats = models.build(name).forward_maps(torch.empty(1, 3, frames, 224, 224))
        assert feats.shape == (1, 2048, 4, 7, 7)


def test_zero_init_and_dropout():
    model = models.build("r2plus1d_r50")
    assert not model.res3.block2.bn_c.weight.detach().any()
    assert model.head.dropout.p == 0.5
    assert isinstance(models.build("csn_r101").head.dropout, nn.Identity)
