"""torchvision -> vidlab mappers: identity on real torchvision state dicts, clear errors otherwise.

(Output equivalence of the converted models is in tests/models/test_video_resnet.py.)
"""

import pytest
import torch
from torchvision.models import video as tv

from vidlab import models
from vidlab.convert import ConversionError, get_mapper, supported
from vidlab.models.checkpoint import load_into

ARCHS = ["r3d_18", "r3d_34", "mc3_18", "r2plus1d_18", "r2plus1d_34", "s3d"]


def _tv_state(name):
    with torch.device("meta"):
        return {"r3d_18": tv.r3d_18, "mc3_18": tv.mc3_18, "r2plus1d_18": tv.r2plus1d_18, "s3d": tv.s3d}[name]().state_dict()


def test_all_registered():
    assert set(ARCHS) <= set(supported()["torchvision"])


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18", "s3d"])
def test_identity_on_torchvision_state_dicts(name):
    state = _tv_state(name)
    out = get_mapper("torchvision", name)(state, name)
    assert list(out) == list(state) and all(out[k] is state[k] for k in state)
    with torch.device("meta"):
        load_into(models.build(name), out, name)  # strict, same shapes


def test_wrong_family_is_named():
    with pytest.raises(ConversionError, match="R3D/MC3 checkpoint"):
        get_mapper("torchvision", "r2plus1d_18")(_tv_state("r3d_18"), "r2plus1d_18")
    with pytest.raises(ConversionError, match=r"R\(2\+1\)D checkpoint"):
        get_mapper("torchvision", "mc3_18")(_tv_state("r2plus1d_18"), "mc3_18")
    with pytest.raises(ConversionError, match="not a torchvision s3d"):
        get_mapper("torchvision", "s3d")(_tv_state("r3d_18"), "s3d")


def test_foreign_layouts_get_a_hint():
    state = _tv_state("r3d_18")
    with pytest.raises(ConversionError, match="module."):
        get_mapper("torchvision", "r3d_18")({f"module.{k}": v for k, v in state.items()}, "r3d_18")
    with pytest.raises(ConversionError, match="pytorchvideo"):
        get_mapper("torchvision", "r3d_18")({"blocks.0.conv.weight": torch.zeros(1)}, "r3d_18")
    with pytest.raises(ConversionError, match="empty"):
        get_mapper("torchvision", "r3d_18")({}, "r3d_18")


def test_stray_keys_are_reported_not_dropped():
    state = dict(_tv_state("r3d_18"))
    state["fc_extra.weight"] = torch.zeros(1)
    state["layer1.0.attn.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"2 source keys .*fc_extra\.weight"):
        get_mapper("torchvision", "r3d_18")(state, "r3d_18")


def test_unknown_architecture_lists_the_supported_ones():
    with pytest.raises(ConversionError, match="torchvision converters exist for: .*r2plus1d_18"):
        get_mapper("torchvision", "c3d")


def test_convert_checkpoint_end_to_end(tmp_path):
    """A torchvision .pth -> vidlab checkpoint -> vidlab.models.load: same logits as torchvision."""
    from vidlab.convert.core import convert_checkpoint

    torch.manual_seed(0)
    ref = tv.r2plus1d_18(num_classes=5).eval()
    torch.save(ref.state_dict(), tmp_path / "r2plus1d.pth")
    convert_checkpoint("torchvision", "r2plus1d_18", tmp_path / "r2plus1d.pth", tmp_path / "out")
    model = models.load(tmp_path / "out")
    assert model.meta["num_classes"] == 5 and model.meta["arch"] == "r2plus1d_18"
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=1e-6)
