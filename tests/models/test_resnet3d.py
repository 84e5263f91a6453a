"""ResNet-3D family: PySlowFast equivalence (golden fixtures) and properties."""

import json

import pytest
import torch

from vidlab import models

FIXTURE_ARCHS = {"c2d_r50_8x8": "c2d_r50", "i3d_r50_8x8": "i3d_r50", "slow_r50_8x8": "slow_r50_8x8"}


def _read_keys(folder):
    rows = (folder / "keys.tsv").read_text().splitlines()[1:]
    return [(k, json.loads(s), d) for k, s, d in (r.split("\t") for r in rows)]


@pytest.mark.parametrize("fixture", sorted(FIXTURE_ARCHS))
def test_state_dict_keys_shapes_and_order_match_pyslowfast(fixtures_dir, fixture):
    folder = fixtures_dir / "pyslowfast" / fixture
    keys = _read_keys(folder)
    with torch.device("meta"):
        model = models.build(FIXTURE_ARCHS[fixture], num_classes=400)
    sd = model.state_dict()
    assert list(sd) == [k for k, _, _ in keys]
    for k, shape, dtype in keys:
        assert list(sd[k].shape) == shape, k
        assert str(sd[k].dtype) == dtype, k


def test_weight_rule_matches_checksums(fixtures_dir, weight_rule):
    rows = (fixtures_dir / "pyslowfast" / "c2d_r50_8x8" / "weight_checksums.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    keys = {k: shape for k, shape, _ in _read_keys(fixtures_dir / "pyslowfast" / "c2d_r50_8x8")}
    checked = 0
    for row in rows[1:40]:
        rec = dict(zip(header, row.split("\t")))
        t = weight_rule(rec["key"], tuple(keys[rec["key"]])).double()
        assert t.sum().item() == pytest.approx(float(rec["sum_fp64"]), rel=1e-9, abs=1e-12)
        assert t.abs().sum().item() == pytest.approx(float(rec["abs_sum_fp64"]), rel=1e-9)
        assert t.flatten()[0].item() == float(rec["first_value"])  # exact
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("fixture", sorted(FIXTURE_ARCHS))
def test_logits_match_pyslowfast(fixtures_dir, weight_rule, fixture):
    folder = fixtures_dir / "pyslowfast" / fixture
    model = models.build(FIXTURE_ARCHS[fixture], num_classes=400).eval()
    model.load_state_dict({k: weight_rule(k, tuple(v.shape)) for k, v in model.state_dict().items()}, strict=True)
    meta = json.loads((folder / "meta.json").read_text())
    x = torch.randn(tuple(meta["input_shapes"][0]), generator=torch.Generator().manual_seed(0))
    ref = torch.load(folder / "logits.pt", weights_only=True)
    with torch.no_grad():
        logits = model([x])
    expected = ref["projection"].reshape(1, -1)
    assert logits.shape == (1, 400)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=5e-5)
    # eval-mode output of PySlowFast is the softmax of the same logits
    torch.testing.assert_close(logits.softmax(-1), ref["output"], rtol=1e-4, atol=1e-6)


def test_c2d_is_blind_to_frame_order():
    torch.manual_seed(0)
    model = models.build("c2d_r10_tiny", num_classes=10).eval()
    x = torch.randn(2, 3, 8, 56, 56)
    with torch.no_grad():
        a = model(x)
        b = model(x.flip(2))
        c = model(x[:, :, torch.randperm(8)])
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-5)


def test_temporal_model_sees_frame_order():
    torch.manual_seed(0)
    model = models.build("i3d_r10_tiny", num_classes=10, zero_init_final_bn=False).eval()
    x = torch.randn(2, 3, 8, 56, 56)
    with torch.no_grad():
        assert (model(x) - model(x.flip(2))).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["c2d_r10_tiny", "i3d_r10_tiny", "i3d_r50"])
@pytest.mark.parametrize("size", [(64, 64), (40, 56)])
def test_any_spatial_size_gives_logits(name, size):
    model = models.build(name, num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 8, *size))
    assert out.shape == (1, 7)


def test_registry_names_aliases_and_errors():
    names = models.list_models()
    assert names == sorted(names) and {"c2d_r10_tiny", "i3d_r10_tiny", "c2d_r50", "i3d_r50"} <= set(names)
    assert models.get_spec("C2D_R50_8x8").name == "c2d_r50"
    with pytest.raises(KeyError, match="unknown model"):
        models.build("no_such_model")
    assert models.build("c2d_r10_tiny", num_classes=3, dropout=0.0).head.projection.out_features == 3


def test_c2d_nopool_is_a_per_frame_network_averaged_over_time():
    """PySlowFast's C2D_NOPOOL: every kernel 1 in time and no temporal pool, so (BN in eval mode) the clip's
    logits are the mean of each frame's logits; c2d_r50 (temporal max-pool after res2) is not."""
    torch.manual_seed(0)
    nopool = models.build("c2d_nopool_r50_8x8", num_classes=5).eval()
    pooled = models.build("c2d_r50", num_classes=5).eval()
    pooled.load_state_dict(nopool.state_dict())  # one layout, one set of weights
    x = torch.randn(1, 3, 4, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        per_frame = torch.stack([nopool(x[:, :, t:t + 1]) for t in range(4)]).mean(0)
        torch.testing.assert_close(nopool(x), per_frame, rtol=1e-4, atol=1e-5)
        assert (pooled(x) - per_frame).abs().max() > 1e-3
    assert nopool.forward_maps(x).shape[2] == 4 and pooled.forward_maps(x).shape[2] == 2
