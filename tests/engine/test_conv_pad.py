"""Explicit temporal padding (vidlab.engine.conv_pad): the same function and gradients, faster kernels."""

import pytest
import torch
from torch import nn

from vidlab.engine.conv_pad import TimePaddedConv3d, pad_time_explicitly


@pytest.mark.parametrize("frames,kernel,stride", [(2, 3, (1, 2, 2)), (1, 3, (1, 1, 1)), (3, 5, (1, 1, 1)),
                                                  (2, 3, (2, 1, 1)), (8, 3, (1, 2, 2))])
def test_same_outputs_and_gradients_as_nn_conv3d(frames, kernel, stride):
    torch.manual_seed(0)
    ref = nn.Conv3d(4, 6, (kernel, 3, 3), stride, (kernel // 2, 1, 1), bias=True).double()
    conv = nn.Conv3d(4, 6, (kernel, 3, 3), stride, (kernel // 2, 1, 1), bias=True).double()
    conv.load_state_dict(ref.state_dict())
    assert pad_time_explicitly(conv) == 1 and type(conv) is TimePaddedConv3d
    x = torch.randn(3, 4, frames, 7, 9, dtype=torch.float64, requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    y, yr = conv(x), ref(xr)
    assert y.shape == yr.shape
    torch.testing.assert_close(y, yr, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    y.backward(g)
    yr.backward(g)
    for a, b in [(x.grad, xr.grad), (conv.weight.grad, ref.weight.grad), (conv.bias.grad, ref.bias.grad)]:
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_only_temporally_padded_conv3d_change_and_the_state_dict_stays():
    model = nn.Sequential(nn.Conv3d(3, 4, (3, 7, 7), (1, 2, 2), (1, 3, 3)), nn.BatchNorm3d(4),
                          nn.Conv3d(4, 4, (1, 3, 3), 1, (0, 1, 1)), nn.Conv2d(4, 4, 3),
                          nn.Conv3d(4, 4, 3, padding="same"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert pad_time_explicitly(model) == 1
    assert [type(m).__name__ for m in model] == ["TimePaddedConv3d", "BatchNorm3d", "Conv3d", "Conv2d", "Conv3d"]
    assert pad_time_explicitly(model) == 0  # idempotent
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_a_zoo_model_computes_the_same_on_two_frame_clips():
    from vidlab import models

    model = models.build("i3d_r10_tiny", num_classes=5)
    n = pad_time_explicitly(model)
    kinds = {type(m).__name__ for m in model.modules() if isinstance(m, nn.Conv3d)}
    assert n > 0 and kinds == {"TimePaddedConv3d", "Conv3d"}
    ref = models.build("i3d_r10_tiny", num_classes=5)
    ref.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 2, 40, 40)  # multigrid's cheapest shape: 2 frames through 3-frame kernels
    torch.testing.assert_close(model.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-5)


def test_the_cpu_trainer_switches_its_model(tiny_synth, tmp_path):
    from vidlab.engine.config import from_dict
    from vidlab.engine.trainer import Trainer

    cfg = from_dict({
        "model": {"arch": "i3d_r10_tiny"},
        "data": {"train": str(tiny_synth / "train.csv"), "labels": str(tiny_synth / "classes.txt"),
                 "num_frames": 4, "crop_size": 28, "batch_size": 4},
        "train": {"out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })
    t = Trainer(cfg, log=lambda m: None)
    assert any(type(m) is TimePaddedConv3d for m in t.model.modules())
