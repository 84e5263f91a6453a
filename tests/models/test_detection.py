"""AVA detection head: PySlowFast's ResNetRoIHead on SlowFast R50 (golden fixture)."""

import json

import pytest
import torch

from vidlab import models


@pytest.fixture(scope="module")
def fixture(fixtures_dir, weight_rule):
    folder = fixtures_dir / "pyslowfast" / "ava_slowfast_r50_detection"
    meta = json.loads((folder / "meta.json").read_text())
    model = models.build("slowfast_r50_8x8_detection", num_classes=80).eval()
    keys = [line.split("\t") for line in (folder / "keys.tsv").read_text().splitlines()[1:]]
    sd = model.state_dict()
    assert list(sd) == [k for k, _, _ in keys]
    model.load_state_dict({k: weight_rule(k, tuple(v.shape)) for k, v in sd.items()}, strict=True)
    fast = torch.randn((1, 3, 32, 128, 128), generator=torch.Generator().manual_seed(0))
    slow = fast.index_select(2, torch.linspace(0, 31, 8).long())
    boxes = torch.tensor(meta["boxes"], dtype=torch.float32)
    ref = torch.load(folder / "logits.pt", weights_only=True)
    return model, [slow, fast], boxes, ref


def test_projection_matches_pyslowfast(fixture):
    model, inputs, boxes, ref = fixture
    with torch.no_grad():
        got = model(inputs, boxes)
    expected = ref["projection"]
    assert got.shape == (3, 80)
    assert (got - expected).abs().max().item() <= 1e-4 * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got.sigmoid(), ref["output"], rtol=1e-4, atol=1e-5)


def test_aligned_false_is_a_different_function(fixture):
    model, inputs, boxes, ref = fixture
    model.head.aligned = False
    try:
        with torch.no_grad():
            got = model(inputs, boxes)
    finally:
        model.head.aligned = True
    tol = 1e-4 * max(1.0, ref["projection"].abs().max().item())
    assert (got - ref["projection"]).abs().max().item() > 100 * tol
    assert (got - ref["projection_aligned_false"]).abs().max().item() <= tol


def test_boxes_contract_and_single_tensor_input():
    torch.manual_seed(0)
    model = models.build("slowfast_r50_8x8_detection", num_classes=5, width=8).eval()
    clip = torch.randn(2, 3, 8, 64, 64)
    boxes = torch.tensor([[0, 0, 0, 63, 63], [1, 10, 10, 40, 50], [1, 5, 5, 20, 20]], dtype=torch.float32)
    with torch.no_grad():
        out = model(clip, boxes)
    assert out.shape == (3, 5)
    with pytest.raises(ValueError, match=r"boxes must be \(N, 5\)"):
        model(clip, boxes[:, 1:])
