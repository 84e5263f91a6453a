"""CNN + LSTM (LRCN / Beyond Short Snippets) and conv pooling."""

import pytest
import torch

from vidlab import models
from vidlab.models.cnn_lstm import CNNLSTM, ConvPooling


def test_registered_and_shapes():
    for name in ("cnn_lstm_r10_tiny", "cnn_lstm_r10_tiny_bi", "cnn_lstm_r10_tiny_convpool"):
        spec = models.get_spec(name)
        assert spec.family == "cnn_lstm" and spec.num_frames == 8
        assert models.build(name, num_classes=6).eval()(torch.randn(1, 3, 8, 40, 40)).shape == (1, 6)
    with torch.device("meta"):
        m = models.build("cnn_lstm_r18_bi")
    assert m.lstm.bidirectional and m.fc.in_features == 1024


def test_lstm_sees_order_conv_pooling_does_not():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 32, 32)
    rev = x.flip(2)
    lstm = CNNLSTM(4, backbone="resnet10_tiny", hidden_size=16, spatial_pool=2, feature_dim=32).eval()
    assert not torch.allclose(lstm(x), lstm(rev), atol=1e-5)
    pool = ConvPooling(4, backbone="resnet10_tiny", spatial_pool=2, feature_dim=32).eval()
    torch.testing.assert_close(pool(x), pool(rev))
    torch.testing.assert_close(pool(x), pool(x[:, :, torch.randperm(5)]))


def test_aggregation_and_features():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 32, 32)
    m = CNNLSTM(3, backbone="resnet10_tiny", hidden_size=8, num_layers=2, bidirectional=True).eval()
    steps = m.step_logits(x)
    assert steps.shape == (1, 5, 3)
    torch.testing.assert_close(m(x), steps.mean(1))
    m.aggregate = "last"
    torch.testing.assert_close(m(x), steps[:, -1])
    assert m.frame_features(x).shape == (1, 5, 128)  # global average of the 128-channel map
    # the LSTM's first step depends on the first frame only (causal), unless bidirectional
    uni = CNNLSTM(3, backbone="resnet10_tiny", hidden_size=8).eval()
    y = x.clone()
    y[:, :, -1] = 0
    torch.testing.assert_close(uni.step_logits(x)[:, 0], uni.step_logits(y)[:, 0])
    with pytest.raises(ValueError):
        CNNLSTM(3, aggregate="max")
    with pytest.raises(ValueError, match="clip"):
        m(torch.randn(1, 3, 32, 32))
