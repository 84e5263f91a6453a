"""VideoMAE: equivalence with Hugging Face's VideoMAEForVideoClassification (random weights), the three
checkpoint layouts, exact parameter counts, FLOPs against the paper, the position-table rule, error paths.

Hugging Face runs with its eager attention (explicit softmax) as the reference, and with LayerNorm eps set
to the original's 1e-6 (``layer_norm_eps`` and ``fc_norm.eps``) where exact equivalence is asserted; its
own eps defaults (1e-12 / 1e-5) are measured separately.
"""

from __future__ import annotations

import pytest
import torch
from transformers import VideoMAEConfig, VideoMAEForVideoClassification
from transformers.initialization import no_init_weights
from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

from vidlab import models
from vidlab.convert.core import convert_checkpoint, map_state
from vidlab.convert.registry import ConversionError
from vidlab.convert.sources import read_checkpoint
from vidlab.models.videomae import VideoMAE, sinusoid_table

ARCH = "videomae_vit_b_16x4"
TINY = dict(embed_dim=48, depth=2, num_heads=4)


def _hf_config(*, hidden=48, layers=2, heads=4, frames=4, size=32, labels=7, eps=1e-6, mean_pooling=True):
    cfg = VideoMAEConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=4 * hidden, image_size=size, num_frames=frames, tubelet_size=2,
                         patch_size=16, num_labels=labels, layer_norm_eps=eps, use_mean_pooling=mean_pooling,
                         id2label={i: f"class_{i}" for i in range(labels)})
    cfg._attn_implementation = "eager"
    return cfg


def _hf_model(cfg, seed=0, fc_eps=1e-6):
    """An HF classifier with every parameter random (biases, q/v biases and LayerNorms included)."""
    torch.manual_seed(seed)
    with no_init_weights():  # every parameter is overwritten below
        model = VideoMAEForVideoClassification(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name or "fc_norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    if model.fc_norm is not None and fc_eps is not None:
        model.fc_norm.eps = fc_eps
    return model


def _hf_logits(model, clip):
    """HF takes (B, T, C, H, W); vidlab takes (B, C, T, H, W)."""
    with torch.no_grad():
        return model(pixel_values=clip.permute(0, 2, 1, 3, 4)).logits


def _vidlab_from_hf(tmp_path, hf, **kw):
    hf.save_pretrained(tmp_path)
    state, info = read_checkpoint(tmp_path)
    mapped = map_state("huggingface", ARCH, state)
    model = models.build(ARCH, num_classes=hf.config.num_labels, **{**TINY, **kw}).eval()
    model.load_state_dict(mapped, strict=True)
    return model, state, info


def _clip(frames=4, size=32, batch=2, seed=1):
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# Equivalence with Hugging Face


def test_hf_tiny_equivalence_and_any_clip_size(tmp_path):
    hf = _hf_model(_hf_config())
    model, state, _ = _vidlab_from_hf(tmp_path, hf)
    assert any(k.endswith("attention.attention.q_bias") for k in state)  # the published spelling
    clip = _clip()
    with torch.no_grad():
        ours = model(clip)
        seq = hf.videomae(pixel_values=clip.permute(0, 2, 1, 3, 4)).last_hidden_state
        _close(model.forward_features(clip), hf.fc_norm(seq.mean(1)))
    _close(ours, _hf_logits(hf, clip))
    # the same weights in an HF model built for another clip (6 frames, 48 x 48 crop: a 3 x 3 x 3 grid):
    # vidlab, built once, recomputes the table for the new token count and matches it
    other = VideoMAEForVideoClassification(_hf_config(frames=6, size=48)).eval()
    other.load_state_dict(hf.state_dict())
    other.fc_norm.eps = 1e-6
    clip = _clip(frames=6, size=48)
    with torch.no_grad():
        _close(model(clip), _hf_logits(other, clip))


def test_hf_own_eps_defaults_differ_by_rounding(tmp_path):
    """HF's hub configs run the blocks with eps 1e-12 and fc_norm with 1e-5 (the original: 1e-6)."""
    hf = _hf_model(_hf_config(eps=1e-12), fc_eps=None)
    assert hf.fc_norm.eps == 1e-5
    model, _, _ = _vidlab_from_hf(tmp_path, hf)
    clip = _clip()
    with torch.no_grad():
        diff = (model(clip) - _hf_logits(hf, clip)).abs().max().item()
    assert 0 < diff < 1e-3, diff


def test_hf_without_mean_pooling(tmp_path):
    """use_mean_pooling=False: ``norm`` (HF videomae.layernorm) on the sequence, then its first token."""
    hf = _hf_model(_hf_config(mean_pooling=False))
    model, _, _ = _vidlab_from_hf(tmp_path, hf, use_mean_pooling=False)
    assert model.fc_norm is None and "norm.weight" in model.state_dict()
    clip = _clip()
    with torch.no_grad():
        _close(model(clip), _hf_logits(hf, clip))


def test_hf_transformers5_bias_names_and_qkv_order():
    hf = _hf_model(_hf_config())
    state = hf.state_dict()  # in memory transformers 5 names them query.bias / value.bias
    assert "videomae.encoder.layer.0.attention.attention.query.bias" in state
    mapped = map_state("huggingface", ARCH, state)
    prefix = "videomae.encoder.layer.1.attention.attention."
    assert torch.equal(mapped["blocks.1.attn.q_bias"], state[prefix + "query.bias"])
    assert torch.equal(mapped["blocks.1.attn.v_bias"], state[prefix + "value.bias"])
    qkv = mapped["blocks.1.attn.qkv.weight"]
    assert qkv.shape == (144, 48)
    for i, part in enumerate(("query", "key", "value")):
        assert torch.equal(qkv[48 * i:48 * (i + 1)], state[prefix + part + ".weight"])


def test_convert_end_to_end_vit_s(tmp_path):
    """``convert_checkpoint`` on a ViT-S-sized HF folder made for 4 x 32 x 32 clips: the registered
    architecture takes it (no table depends on the clip), labels come from id2label."""
    hf = _hf_model(_hf_config(hidden=384, layers=12, heads=6, labels=5))
    hf.save_pretrained(tmp_path / "hf")
    path, info = convert_checkpoint("huggingface", "videomae_vit_s_16x4", tmp_path / "hf", tmp_path / "out")
    model = models.load(path)
    meta = model.meta
    assert meta["labels"] == [f"class_{i}" for i in range(5)] and meta["num_classes"] == 5
    assert meta["model_kwargs"] == {}
    assert meta["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert meta["preprocessing"]["std"] == [0.229, 0.224, 0.225]
    assert (meta["preprocessing"]["num_frames"], meta["preprocessing"]["crop_size"]) == (16, 224)
    clip = _clip()
    with torch.no_grad():
        _close(model(clip), _hf_logits(hf, clip))


# ----------------------------------------------------------------------------
# The original release and MMAction2 (torch pickles, source "mmaction2")


def _tiny(**kw) -> VideoMAE:
    torch.manual_seed(0)
    model = models.build(ARCH, num_classes=7, **{**TINY, **kw}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _to_mmaction2(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        if k.startswith("head."):
            out["cls_head.fc_cls." + k[len("head."):]] = v
            continue
        k = k.replace("patch_embed.proj.", "patch_embed.projection.")
        k = k.replace(".mlp.fc1.", ".mlp.layers.0.0.").replace(".mlp.fc2.", ".mlp.layers.1.")
        out["backbone." + k] = v
    return out


@pytest.mark.parametrize("wrapper", ["model", "module"])
def test_original_release_loads_unchanged(tmp_path, wrapper):
    model = _tiny()
    state = model.state_dict()
    torch.save({wrapper: state, "epoch": 99}, tmp_path / "checkpoint.pth")
    read, info = read_checkpoint(tmp_path / "checkpoint.pth")
    assert info["unwrapped"] == wrapper
    mapped = map_state("mmaction2", ARCH, read)
    assert mapped.keys() == state.keys() and all(torch.equal(mapped[k], state[k]) for k in state)


def test_mmaction2_layout_with_layer_scale(tmp_path):
    model = _tiny(init_values=0.1)
    state = model.state_dict()
    assert "blocks.1.gamma_2" in state and "pos_embed" not in state
    mm = _to_mmaction2(state)
    # MMAction2 stores its table as a buffer; checked against HF's port of the original's numpy formula
    mm["backbone.pos_embed"] = get_sinusoid_encoding_table(1568, 48)
    mm["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1, 1)
    mm["data_preprocessor.std"] = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1, 1)
    torch.save({"meta": {"epoch": 1}, "state_dict": mm}, tmp_path / "mm.pth")
    read, _ = read_checkpoint(tmp_path / "mm.pth")
    mapped = map_state("mmaction2", ARCH, read)
    assert mapped.keys() == state.keys() and all(torch.equal(mapped[k], state[k]) for k in state)


def test_layer_scale_is_applied():
    model = _tiny(init_values=1e-5)
    clip = _clip()
    with torch.no_grad():
        small = model(clip)
        for block in model.blocks:
            block.gamma_1.fill_(1.0)
            block.gamma_2.fill_(1.0)
        assert not torch.allclose(small, model(clip))
    assert _tiny().blocks[0].gamma_1 is None  # init_values 0.0 (the fine-tuned releases): no gammas


# ----------------------------------------------------------------------------
# Error paths: every key is mapped or named


def _hf_state():
    return _hf_model(_hf_config()).state_dict()


@pytest.mark.parametrize("case, match", [
    ("extra", r"videomae\.encoder\.layer\.0\.attention\.attention\.extra\.weight"),
    ("no_value", r"layer 1 has no attention value weight"),
    ("key_bias", r"key\.bias is not zero"),
    ("pretraining", r"pre-training checkpoint.*encoder_to_decoder\.weight"),
    ("learned_pos", r"position_embeddings .* not VideoMAE's fixed sinusoid table"),
])
def test_hf_bad_checkpoints(case, match):
    state = _hf_state()
    layer = "videomae.encoder.layer.{}.attention.attention."
    if case == "extra":
        state[layer.format(0) + "extra.weight"] = torch.zeros(1)
    elif case == "no_value":
        del state[layer.format(1) + "value.weight"]
    elif case == "key_bias":
        state[layer.format(0) + "key.bias"] = torch.ones(48)
    elif case == "pretraining":
        state["encoder_to_decoder.weight"] = torch.zeros(8, 48)
    else:
        state["videomae.embeddings.position_embeddings"] = torch.randn(1, 8, 48)
    with pytest.raises(ConversionError, match=match):
        map_state("huggingface", ARCH, state)


def test_hf_zero_key_bias_is_the_zero_key_bias():
    state = _hf_state()
    state["videomae.encoder.layer.0.attention.attention.key.bias"] = torch.zeros(48)
    assert map_state("huggingface", ARCH, state).keys() == map_state("huggingface", ARCH, _hf_state()).keys()


@pytest.mark.parametrize("case, match", [
    ("mm_unknown", r"backbone\.blocks\.0\.mlp\.layers\.2\.weight.*MMAction2"),
    ("original_unknown", r"blocks\.0\.attn\.k_bias.*original release"),
    ("learned_pos", r"backbone\.pos_embed .* learnable"),
    ("pretraining", r"pre-training checkpoint.*decoder\.blocks\.0\.norm1\.weight"),
])
def test_torch_pickle_bad_checkpoints(case, match):
    state = _tiny().state_dict()
    if case == "mm_unknown":
        state = _to_mmaction2(state)
        state["backbone.blocks.0.mlp.layers.2.weight"] = torch.zeros(1)
    elif case == "original_unknown":
        state["blocks.0.attn.k_bias"] = torch.zeros(48)
    elif case == "learned_pos":
        state = _to_mmaction2(state)
        state["backbone.pos_embed"] = torch.randn(1, 1568, 48)
    else:
        state = {"encoder." + k: v for k, v in state.items()}
        state["decoder.blocks.0.norm1.weight"] = torch.ones(48)
    with pytest.raises(ConversionError, match=match):
        map_state("mmaction2", ARCH, state)


def test_checkpoint_of_another_width_fails_the_strict_load(tmp_path):
    hf = _hf_model(_hf_config())  # width 48 into the registered ViT-S (384)
    hf.save_pretrained(tmp_path)
    with pytest.raises(ConversionError, match="patch_embed.proj.weight"):
        convert_checkpoint("huggingface", "videomae_vit_s_16x4", tmp_path, tmp_path / "out")


# ----------------------------------------------------------------------------
# Position table, sizes, counts, FLOPs


@pytest.mark.parametrize("tokens, dim", [(1568, 48), (8, 384), (5, 7)])
def test_sinusoid_table_is_the_originals(tokens, dim):
    ours = sinusoid_table(tokens, dim)
    torch.testing.assert_close(ours, get_sinusoid_encoding_table(tokens, dim), rtol=0, atol=1e-6)
    assert torch.equal(sinusoid_table(tokens + 9, dim)[:, :tokens], ours)  # a prefix of any longer table


def test_table_is_a_buffer_outside_the_state_dict():
    model = _tiny()
    assert "pos_embed" in dict(model.named_buffers()) and "pos_embed" not in model.state_dict()
    assert model.pos_embed.shape == (1, 8 * 14 * 14, 48)
    assert not any("pos_embed" in n for n, _ in model.named_parameters())


def test_sizes_the_tubelet_does_not_divide_are_floored():
    model = _tiny()
    clip = _clip(frames=5, size=40)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), model(clip[:, :, :4, :32, :32]), rtol=0, atol=0)
        with pytest.raises(ValueError, match="at least 2 frames"):
            model(_clip(frames=1, size=32))


# Literal counts with 400 classes; equal to HF VideoMAEForVideoClassification at the same sizes
# (built on the meta device below). Paper (Kinetics-400 comparison table): 22M / 87M / 305M.
COUNTS = {"videomae_vit_s_16x4": (22_033_936, 384, 12, 6),
          "videomae_vit_b_16x4": (86_534_800, 768, 12, 12),
          "videomae_vit_l_16x4": (304_270_736, 1024, 24, 16)}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_counts_equal_huggingface(name):
    count, hidden, layers, heads = COUNTS[name]
    # a 2 x 16 x 16 clip (one token): the parameters do not depend on it, HF's table is slow to make
    cfg = VideoMAEConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=4 * hidden, num_labels=400, image_size=16, num_frames=2)
    with torch.device("meta"):
        ours = models.build(name)
        ref = VideoMAEForVideoClassification(cfg)
    assert sum(p.numel() for p in ours.parameters()) == count
    assert sum(p.numel() for p in ref.parameters()) == count
    assert ours.feature_dim == hidden and len(ours.blocks) == layers and ours.blocks[0].attn.num_heads == heads
    assert ours.blocks[-1].drop_path.p == pytest.approx(0.1) and isinstance(ours.blocks[0].drop_path, torch.nn.Identity)
    # the original's LayerNorm eps everywhere (a 1e-5 would pass the equivalence tests: it is rounding-sized)
    norms = [m for m in ours.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * layers + 1 and all(m.eps == 1e-6 for m in norms)


# The paper's GFLOPs per 16 x 224 x 224 view (Kinetics-400 comparison table, one multiply-add = one FLOP).
PAPER_GFLOPS = {"videomae_vit_s_16x4": 57, "videomae_vit_b_16x4": 180, "videomae_vit_l_16x4": 597}


@pytest.mark.parametrize("name", sorted(PAPER_GFLOPS))
def test_gflops_match_the_paper(name):
    from vidlab.apps.model_table import count_flops

    assert count_flops(name, 16, 224) == pytest.approx(PAPER_GFLOPS[name], rel=0.01)


def test_initialisation_sets_every_tensor():
    """Modules are made on the meta device and given empty storage: every tensor must be set by the init."""
    torch.manual_seed(0)
    a = models.build(ARCH, num_classes=7, init_values=0.1, **TINY)
    torch.manual_seed(0)
    b = models.build(ARCH, num_classes=7, init_values=0.1, **TINY)
    for k, v in a.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, b.state_dict()[k]), k
    block = a.blocks[1]
    assert torch.equal(block.attn.q_bias, torch.zeros(48)) and torch.equal(block.gamma_2, torch.full((48,), 0.1))
    assert torch.equal(block.norm1.weight, torch.ones(48)) and torch.equal(block.mlp.fc1.bias, torch.zeros(192))
    assert 0.015 < block.mlp.fc1.weight.std() < 0.025 and a.head.weight.abs().max() < 1e-3  # head x 0.001
    assert a.patch_embed.proj.weight.abs().max() <= 1 / (3 * 2 * 16 * 16) ** 0.5  # kaiming-uniform bound
    torch.testing.assert_close(a.pos_embed, sinusoid_table(8 * 14 * 14, 48))
