"""SlowFast pathway ablation is exact: every hooked removal equals an explicitly edited copy of the model
(to 1e-6), the Fast-alone and Slow-alone rows do not depend on the other pathway's input at all, and the
table reports what the hooked model computes."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers import randomise_
from vidlab import models
from vidlab.errors import VidlabError
from vidlab.explain import VARIANTS, ablated, pathway_ablation
from vidlab.explain.ablation import lateral_modules, variant_logits
from vidlab.models.slowfast import pack_pathways, slowfast_resnet

ALPHA = 4


@pytest.fixture(scope="module")
def sf():
    torch.manual_seed(0)
    model = randomise_(slowfast_resnet(6, (1, 1, 1, 1), width=8, alpha=ALPHA), seed=7).eval()
    x = torch.randn(1, 3, 16, 32, 32, generator=torch.Generator().manual_seed(8))
    return model, x


def _zero_head_columns(model, slow: bool, fast: bool):
    m = copy.deepcopy(model)
    c_slow = m.feature_dims[0]
    with torch.no_grad():
        if slow:
            m.head.projection.weight[:, :c_slow] = 0
        if fast:
            m.head.projection.weight[:, c_slow:] = 0
    return m


def _laterals_output_zero(model):
    """A copy whose every lateral conv + BN outputs exactly zero (weights, BN affine and running stats set)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for _, fuse in lateral_modules(m):
            fuse.conv_f2s.weight.zero_()
            fuse.bn.weight.zero_()
            fuse.bn.bias.zero_()
            fuse.bn.running_mean.zero_()
            fuse.bn.running_var.fill_(1.0)
    return m


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_head_ablations_equal_zeroed_weight_columns(sf):
    model, x = sf
    with torch.no_grad():
        full = model(x)
        for variant, slow, fast in (("no_fast", False, True), ("no_slow", True, False)):
            got = variant_logits(model, x, variant)
            _close(got, _zero_head_columns(model, slow, fast)(x))
            assert (got - full).abs().max() > 1e-2, variant  # the removal changes the answer


def test_lateral_ablation_equals_laterals_set_to_output_zero(sf):
    model, x = sf
    assert [n for n, _ in lateral_modules(model)] == ["s1_fuse", "s2_fuse", "s3_fuse", "s4_fuse"]
    edited = _laterals_output_zero(model)
    with torch.no_grad():
        no_lateral = variant_logits(model, x, "no_lateral")
        _close(no_lateral, edited(x))
        assert (no_lateral - model(x)).abs().max() > 1e-2
        _close(variant_logits(model, x, "slow_only"), _zero_head_columns(edited, False, True)(x))


def test_lateral_ablation_equals_the_first_slow_blocks_reading_no_fused_channels(sf):
    """The other form of the equality: laterals running, but the first Slow block of every stage after one
    (its conv ``a`` and ``branch1`` shortcut, the only readers of the concatenated input) has the weight
    columns of the fused channels zeroed, i.e. the Slow pathway of a network built without laterals."""
    model, x = sf
    m = copy.deepcopy(model)
    with torch.no_grad():
        for k, (_, fuse) in enumerate(lateral_modules(m)):
            block = m.get_submodule(f"s{k + 2}.pathway0_res0")
            fused = fuse.conv_f2s.out_channels
            for conv in (block.branch1, block.branch2.a):
                assert conv.in_channels > fused
                conv.weight[:, conv.in_channels - fused:] = 0
        _close(variant_logits(model, x, "no_lateral"), m(x))


def test_fast_alone_and_slow_alone_ignore_the_other_input(sf):
    model, x = sf
    slow, fast = pack_pathways(x, ALPHA)
    other_slow = slow + torch.randn(slow.shape, generator=torch.Generator().manual_seed(9))
    other_fast = fast + torch.randn(fast.shape, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        # Slow never feeds Fast: with the Slow head half zeroed, the Slow input is irrelevant (bit for bit)
        assert torch.equal(variant_logits(model, [slow, fast], "no_slow"),
                           variant_logits(model, [other_slow, fast], "no_slow"))
        # with the laterals and the Fast head half zeroed, the Fast input is irrelevant
        assert torch.equal(variant_logits(model, [slow, fast], "slow_only"),
                           variant_logits(model, [slow, other_fast], "slow_only"))
        # ... which the others are not: the Fast input reaches no_fast through the laterals
        assert not torch.equal(variant_logits(model, [slow, fast], "no_fast"),
                               variant_logits(model, [slow, other_fast], "no_fast"))
        assert not torch.equal(model([slow, fast]), model([other_slow, fast]))


def test_the_table(sf):
    model, x = sf
    clip = x[0]
    labels = [f"class{i}" for i in range(6)]
    table = pathway_ablation(model, clip, labels=labels)
    with torch.no_grad():
        full = model(clip[None])[0]
    c = int(full.argmax())
    assert table["class_index"] == c and table["class_label"] == f"class{c}"
    assert [r["variant"] for r in table["rows"]] == list(VARIANTS)
    for row in table["rows"]:
        z = variant_logits(model, clip[None], row["variant"])[0]
        assert row["class_logit"] == pytest.approx(float(z[c]), abs=1e-5)
        assert row["class_prob"] == pytest.approx(float(z.softmax(-1)[c]), abs=1e-5)
        assert row["top1"]["index"] == int(z.argmax()) and row["top1"]["label"] == labels[row["top1"]["index"]]
        assert 0 <= row["class_prob"] <= row["top1"]["prob"] <= 1 and row["definition"]
    assert table["rows"][0]["top1"]["index"] == c
    # a chosen class is followed through every row
    other = pathway_ablation(model, clip, class_index=(c + 1) % 6)
    assert other["class_index"] == (c + 1) % 6 and other["rows"][0]["class_logit"] == pytest.approx(
        float(full[(c + 1) % 6]), abs=1e-5)


def test_hooks_are_removed_and_others_refused(sf):
    model, x = sf
    with torch.no_grad():
        before = model(x)
        with ablated(model, fast_head=True, laterals=True):
            assert not torch.equal(model(x), before)
        assert torch.equal(model(x), before)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    with pytest.raises(VidlabError, match="needs a SlowFast"):
        pathway_ablation(models.build("i3d_r10_tiny", num_classes=3), x[0])
    with pytest.raises(VidlabError, match="unknown ablation"):
        variant_logits(model, x, "no_everything")
