"""Non-local blocks: PySlowFast names, the two instantiations, grouping, placement in I3D-NLN."""

import json

import pytest
import torch
import torch.nn.functional as F

from vidlab import models
from vidlab.models.nonlocal_block import Nonlocal
from vidlab.models.resnet3d import ResNet3D, init_weights


def _randomised(block: Nonlocal, seed: int = 0) -> Nonlocal:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in block.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif t.dtype.is_floating_point:
                t.copy_(torch.randn(t.shape, generator=g) * (0.1 if t.dim() == 1 else 0.3) + (1.0 if name == "bn.weight" else 0.0))
    return block.eval()


def _reference_nonlocal(block: Nonlocal, x: torch.Tensor) -> torch.Tensor:
    """The paper's formula written out with functional ops (eval-mode BN)."""
    sd = block.state_dict()

    def conv(name, y):
        return F.conv3d(y, sd[f"{name}.weight"], sd[f"{name}.bias"])

    pooled = block.pool(x)
    theta, phi, g = conv("conv_theta", x), conv("conv_phi", pooled), conv("conv_g", pooled)
    n, c, t, h, w = theta.shape
    f = torch.einsum("ncq,nck->nqk", theta.reshape(n, c, -1), phi.reshape(n, c, -1))
    f = (f / c**0.5).softmax(-1) if block.instantiation == "softmax" else f / f.shape[-1]
    y = torch.einsum("nqk,nck->ncq", f, g.reshape(n, c, -1)).reshape(n, c, t, h, w)
    z = F.batch_norm(conv("conv_out", y), sd["bn.running_mean"], sd["bn.running_var"], sd["bn.weight"], sd["bn.bias"],
                     training=False, eps=block.bn.eps)
    return x + z


def test_parameter_names_and_order_are_pyslowfasts():
    block = Nonlocal(16, 8, (1, 2, 2))
    keys = list(block.state_dict())
    expected = [f"{m}.{p}" for m in ("conv_theta", "conv_phi", "conv_g", "conv_out") for p in ("weight", "bias")]
    expected += [f"bn.{p}" for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    assert keys == expected
    assert block.conv_theta.weight.shape == (8, 16, 1, 1, 1) and block.conv_out.weight.shape == (16, 8, 1, 1, 1)


@pytest.mark.parametrize("instantiation", ["softmax", "dot_product"])
@pytest.mark.parametrize("pool", [None, (1, 2, 2), (2, 2, 2)])
def test_matches_the_written_out_formula(instantiation, pool):
    block = _randomised(Nonlocal(12, 6, pool, instantiation))
    x = torch.randn(2, 12, 4, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(block(x), _reference_nonlocal(block, x), rtol=1e-5, atol=1e-5)


def test_softmax_and_dot_product_differ():
    soft = _randomised(Nonlocal(12, 6, (1, 2, 2), "softmax"))
    dot = Nonlocal(12, 6, (1, 2, 2), "dot_product").eval()
    dot.load_state_dict(soft.state_dict())
    x = torch.randn(1, 12, 4, 6, 6)
    with torch.no_grad():
        assert (soft(x) - dot(x)).abs().max() > 1e-2


def test_fresh_block_is_the_identity():
    block = Nonlocal(12, 6, (1, 2, 2))
    init_weights(block)  # PySlowFast init: final BN scale zero
    assert torch.count_nonzero(block.bn.weight) == 0
    x = torch.randn(1, 12, 4, 6, 6)
    with torch.no_grad():
        assert torch.equal(block.eval()(x), x)


def test_group_attends_within_time_chunks():
    grouped = _randomised(Nonlocal(8, 4, None, "softmax", group=2))
    whole = Nonlocal(8, 4, None, "softmax").eval()
    whole.load_state_dict(grouped.state_dict())
    x = torch.randn(2, 8, 6, 5, 5)
    with torch.no_grad():
        expected = torch.cat([whole(x[:, :, :3]), whole(x[:, :, 3:])], dim=2)
        torch.testing.assert_close(grouped(x), expected, rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError, match="does not divide"):
            grouped(torch.randn(1, 8, 5, 5, 5))


def test_bad_arguments():
    with pytest.raises(ValueError, match="instantiation"):
        Nonlocal(8, 4, instantiation="gaussian")
    with pytest.raises(ValueError, match="outside a stage"):
        ResNet3D(stage_blocks=(1, 1, 1, 1), transform="basic", width=8, nonlocal_location=((), (1,), (), ()))


def test_i3d_nl_r50_places_blocks_like_pyslowfast():
    with torch.device("meta"):
        model = models.build("i3d_nln_r50_8x8")
    assert model.arch == "i3d_nl_r50"
    keys = list(model.state_dict())
    nl = sorted({k.split(".")[0] + "." + k.split(".")[1] for k in keys if "nonlocal" in k})
    assert nl == ["s3.pathway0_nonlocal1", "s3.pathway0_nonlocal3", "s4.pathway0_nonlocal1",
                  "s4.pathway0_nonlocal3", "s4.pathway0_nonlocal5"]
    # each non-local block sits right after its residual block in the state dict
    i = keys.index("s3.pathway0_nonlocal1.conv_theta.weight")
    assert keys[i - 1].startswith("s3.pathway0_res1.") and keys[i + 13].startswith("s3.pathway0_res2.")
    assert model.s4.pathway0_nonlocal3.conv_theta.weight.shape == (512, 1024, 1, 1, 1)
    assert model.s4.pathway0_nonlocal3.instantiation == "softmax"
    assert model.s3.pathway0_nonlocal1.pool.kernel_size == (1, 2, 2)
    assert len(keys) == 385  # fixtures README: 320 I3D keys + 5 x 13
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 2) == 35.40  # fixtures README / PySlowFast I3D-NLN R50


def test_i3d_nl_r50_runs_and_non_local_blocks_matter():
    torch.manual_seed(0)
    model = models.build("i3d_nl_r50", num_classes=5, zero_init_final_bn=False).eval()
    x = torch.randn(1, 3, 8, 64, 48)
    with torch.no_grad():
        out = model(x)
        for name in ("pathway0_nonlocal1", "pathway0_nonlocal3"):
            getattr(model.s3, name).bn.weight.zero_()
            getattr(model.s3, name).bn.bias.zero_()
        for name in ("pathway0_nonlocal1", "pathway0_nonlocal3", "pathway0_nonlocal5"):
            getattr(model.s4, name).bn.weight.zero_()
            getattr(model.s4, name).bn.bias.zero_()
        without = model(x)
    assert out.shape == (1, 5)
    assert (out - without).abs().max() > 1e-4


# ---------------------------------------------------------------------------
# PySlowFast golden fixture (present when the shared data has it)


def _read_keys(folder):
    rows = (folder / "keys.tsv").read_text().splitlines()[1:]
    return [(k, json.loads(s), d) for k, s, d in (r.split("\t") for r in rows)]
