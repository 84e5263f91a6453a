"""Two-stream ConvNets: streams, late fusion, conv fusion, two-stream I3D."""

import pytest
import torch

from vidlab import models
from vidlab.models import two_stream as ts
from vidlab.models.tsn import TSN
from vidlab.models.two_stream import ConvFusionTwoStream, TwoStream, fuse_scores


def _inputs(b=2, k=2, length=5, size=32):
    return torch.randn(b, 3, k, size, size), torch.randn(b, 2, k * length, size, size)


def test_registered_models():
    for name in ("two_stream_r10_tiny", "two_stream_r10_tiny_spatial", "two_stream_r10_tiny_temporal",
                 "two_stream_r10_tiny_conv", "two_stream_i3d_r10_tiny", "two_stream_r50", "two_stream_r18_conv",
                 "two_stream_i3d_r50"):
        assert name in models.list_models()
    with torch.device("meta"):
        m = models.build("two_stream_r50")
        assert m.temporal.backbone.net.conv1.in_channels == 20  # L = 10 flow fields
        i3d = models.build("two_stream_i3d_r50", num_classes=400)
        assert i3d.temporal.s1.pathway0_stem.conv.in_channels == 2
        assert i3d.spatial.s1.pathway0_stem.conv.in_channels == 3


def test_late_fusion_is_the_average_of_probabilities():
    torch.manual_seed(0)
    model = models.build("two_stream_r10_tiny", num_classes=6).eval()
    rgb, flow = _inputs()
    s, t = model.forward_streams([rgb, flow])
    out = model([rgb, flow])
    torch.testing.assert_close(out.softmax(-1), (s.softmax(-1) + t.softmax(-1)) / 2)
    torch.testing.assert_close(model((rgb, flow)), out)
    torch.testing.assert_close(model({"rgb": rgb, "flow": flow}), out)
    torch.testing.assert_close(s, model.spatial(rgb))
    with pytest.raises(ValueError, match="rgb"):
        model(rgb)
    weighted = TwoStream(model.spatial, model.temporal, fusion="weighted").eval()
    assert weighted.fusion_weights == (1.0, 1.5)
    torch.testing.assert_close(weighted([rgb, flow]).softmax(-1), (s.softmax(-1) + 1.5 * t.softmax(-1)) / 2.5)


def test_fuse_scores():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 4.0]])
    p = fuse_scores([a, b], [1, 3]).exp()
    torch.testing.assert_close(p, (a.softmax(-1) + 3 * b.softmax(-1)) / 4)
    with pytest.raises(ValueError):
        fuse_scores([a, b], [1])


def test_streams_train_separately_and_fuse_unchanged():
    torch.manual_seed(0)
    spatial = ts.spatial_stream(3, backbone="resnet10_tiny", partial_bn=False, dropout=0.0)
    temporal = ts.temporal_stream(3, backbone="resnet10_tiny", new_length=4, partial_bn=False, dropout=0.0)
    assert temporal.backbone.net.conv1.in_channels == 8
    model = TwoStream(spatial, temporal).eval()
    rgb, flow = _inputs(1, 3, 4)
    torch.testing.assert_close(model.forward_streams([rgb, flow])[1], temporal(flow))


def test_conv_fusion_shapes_and_init_from_streams():
    torch.manual_seed(0)
    spatial = TSN(4, backbone="resnet10_tiny", modality="rgb", partial_bn=False)
    temporal = TSN(4, backbone="resnet10_tiny", modality="flow", new_length=5, partial_bn=False)
    model = ConvFusionTwoStream.from_streams(spatial, temporal, 4, dropout=0.0).eval()
    for k in (1, 3):
        rgb, flow = _inputs(1, k, 5)
        assert model([rgb, flow]).shape == (1, 4)
    torch.testing.assert_close(model.temporal.net.conv1.weight, temporal.backbone.net.conv1.weight)
    assert model.fusion.weight.shape == (128, 256, 3, 3, 3)
    rgb, flow = _inputs(1, 2, 5)
    with pytest.raises(ValueError, match="one frame per stack"):
        model([rgb, flow[:, :, :5]])
    # the fused score depends on both towers
    base = model([rgb, flow])
    assert not torch.allclose(model([rgb, torch.zeros_like(flow)]), base)
    assert not torch.allclose(model([torch.zeros_like(rgb), flow]), base)


def test_two_stream_i3d_tiny():
    torch.manual_seed(0)
    model = models.build("two_stream_i3d_r10_tiny", num_classes=5).eval()
    rgb, flow = torch.randn(1, 3, 8, 56, 56), torch.randn(1, 2, 8, 56, 56)
    out = model([rgb, flow])
    torch.testing.assert_close(out.softmax(-1), (model.spatial(rgb).softmax(-1) + model.temporal(flow).softmax(-1)) / 2)
    # the flow stream is the registered I3D with in_channels=2
    ref = models.build("i3d_r10_tiny", num_classes=5, in_channels=2)
    assert ref.state_dict().keys() == model.temporal.state_dict().keys()


@pytest.mark.slow
def test_synthetic_set_ordering(tmp_path):
    """benchmarks/bench_two_stream.py at reduced size (a few minutes on 2 CPU cores):
    flow beats a single RGB frame, fusion keeps the flow stream's accuracy, RGB
    differences beat RGB in TSN, and order-aware CNN+LSTM beats order-blind conv pooling."""
    import importlib.util

    from tests_paths import REPO

    spec = importlib.util.spec_from_file_location("bench_two_stream", REPO / "benchmarks" / "bench_two_stream.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: OpenMP spinning makes 2 threads far slower on a shared 2-core machine
    try:
        res = bench.run(tmp_path, bench.REDUCED, conv_fusion=False, progress=False,
                        only={"spatial", "temporal", "fusion", "tsn_rgb", "tsn_rgbdiff"})
    finally:
        torch.set_num_threads(threads)
    t = {k: v["top1"] for k, v in res["table"].items()}
    assert t["spatial"] <= 0.65, t
    assert t["temporal"] >= 0.8 and t["temporal"] >= t["spatial"] + 0.3, t
    assert t["fusion_average"] >= 0.8 and t["fusion_average"] >= t["spatial"] + 0.3, t
    assert t["tsn_rgbdiff"] >= t["tsn_rgb"] + 0.1, t
