"""C3D (Sports-1M network): port-compatible keys, reference forward, counts, FLOPs, input sizes."""

import pytest
import torch
import torch.nn.functional as F

from vidlab import models
from vidlab.apps.model_table import count_flops
from vidlab.models.c3d import SPORTS1M_MEAN_RGB_255

# The c3d.pickle port (DavideA/c3d-pytorch): names, shapes, order.
PORT_KEYS = [
    ("conv1", (64, 3, 3, 3, 3)), ("conv2", (128, 64, 3, 3, 3)), ("conv3a", (256, 128, 3, 3, 3)),
    ("conv3b", (256, 256, 3, 3, 3)), ("conv4a", (512, 256, 3, 3, 3)), ("conv4b", (512, 512, 3, 3, 3)),
    ("conv5a", (512, 512, 3, 3, 3)), ("conv5b", (512, 512, 3, 3, 3)),
    ("fc6", (4096, 8192)), ("fc7", (4096, 4096)), ("fc8", (487, 4096)),
]


def _port_forward(state, x_bgr):
    """The port's forward written out: ReLU after every conv/fc, pools 1x2x2 then 2x2x2 (pool5 pads H, W
    by 1), flatten to 8192, dropout off (eval)."""
    h = x_bgr
    for name in ["conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"]:
        h = F.relu(F.conv3d(h, state[f"{name}.weight"], state[f"{name}.bias"], padding=1))
        if name == "conv1":
            h = F.max_pool3d(h, (1, 2, 2), (1, 2, 2))
        elif name in ("conv2", "conv3b", "conv4b"):
            h = F.max_pool3d(h, 2, 2)
        elif name == "conv5b":
            h = F.max_pool3d(h, 2, 2, padding=(0, 1, 1))
    h = h.view(-1, 8192)
    h = F.relu(F.linear(h, state["fc6.weight"], state["fc6.bias"]))
    h = F.relu(F.linear(h, state["fc7.weight"], state["fc7.bias"]))
    return F.linear(h, state["fc8.weight"], state["fc8.bias"])


def test_keys_shapes_and_order_are_the_ports():
    with torch.device("meta"):
        sd = models.build("c3d").state_dict()
    expected = [(f"{n}.{p}", s if p == "weight" else s[:1]) for n, s in PORT_KEYS for p in ("weight", "bias")]
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == expected


def test_parameter_count():
    # 487 Sports-1M classes: 79,991,015 (27.66M conv + 52.34M fc); without fc8 (the usual
    # "C3D features" network up to fc7): 77,995,776, the "~78M" often quoted.
    with torch.device("meta"):
        model = models.build("c3d")
    n = sum(p.numel() for p in model.parameters())
    assert n == 79_991_015
    assert n - model.fc8.weight.numel() - model.fc8.bias.numel() == 77_995_776


def test_matches_the_port_forward_on_bgr_input():
    torch.manual_seed(0)
    model = models.build("c3d").eval()
    with torch.no_grad():  # non-trivial biases
        for k, v in model.state_dict().items():
            if k.endswith("bias"):
                v.normal_(0, 0.05)
    rgb = torch.randn(1, 3, 16, 112, 112)
    feats = {}
    model.pool5.register_forward_hook(lambda m, i, o: feats.__setitem__("pool5", o.shape))
    with torch.no_grad():
        ours = model(rgb)
        ref = _port_forward(model.state_dict(), rgb.flip(1))  # the port takes BGR; vidlab flips RGB for it
    assert feats["pool5"] == (1, 512, 1, 4, 4)  # so the adaptive pool before fc6 is the identity here
    assert ours.shape == (1, 487)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_gflops_match_the_vmz_table():
    # VMZ model zoo (facebookresearch/VMZ tutorials/model_zoo.md), C3D 16x112x112: 38.5 GFLOPs
    # (multiply-adds, conv + fc; its params column differs because VMZ's C3D has other fc layers).
    assert count_flops("c3d", 16, 112) == pytest.approx(38.5, rel=0.05)
    assert count_flops("c3d", 16, 112) == pytest.approx(38.549, abs=1e-3)


def test_other_sizes_run_and_small_clips_fail_clearly():
    model = models.build("c3d", num_classes=5).eval()
    with torch.no_grad():
        for shape in [(2, 3, 16, 64, 64), (1, 3, 24, 128, 171), (1, 3, 16, 16, 16)]:
            out = model(torch.randn(shape))
            assert out.shape == (shape[0], 5) and torch.isfinite(out).all()
        with pytest.raises(ValueError, match="at least 16 frames"):
            model(torch.randn(1, 3, 8, 112, 112))
        with pytest.raises(ValueError, match="at least 16 frames of 16x16"):
            model(torch.randn(1, 3, 16, 8, 112))


def test_spec_normalisation_is_bgr_mean_subtraction_in_0_255():
    spec = models.get_spec("c3d")
    assert (spec.num_frames, spec.sampling_rate, spec.crop_size, spec.num_classes) == (16, 1, 112, 487)
    x = torch.rand(3, 16, 8, 8)  # RGB in [0, 1]
    mean = torch.tensor(spec.mean).view(3, 1, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1, 1)
    normalised = (x - mean) / std
    expected = 255 * x - torch.tensor(SPORTS1M_MEAN_RGB_255).view(3, 1, 1, 1)
    torch.testing.assert_close(normalised, expected, rtol=1e-5, atol=1e-3)
    with torch.device("meta"):
        assert models.build("c3d").bgr_weights is True
        assert models.build("c3d_sports1m", bgr_weights=False).bgr_weights is False
