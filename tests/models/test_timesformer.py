"""TimeSformer (divided space-time): equivalence to Hugging Face's TimesformerForVideoClassification with
random weights (at the build clip and at other heights, widths and frame counts), the original release's key
layout, conversion from both sources, parameter count and GFLOPs against the published figures, error paths.
"""

from __future__ import annotations

import pytest
import torch
from transformers import TimesformerConfig, TimesformerForVideoClassification

from vidlab import models
from vidlab.convert.core import convert, convert_checkpoint
from vidlab.convert.registry import ConversionError
from vidlab.convert.timesformer import from_huggingface, from_original
from vidlab.models.timesformer import TimeSformer


def _hf(hidden: int, heads: int, patch: int, *, layers: int = 2, frames: int = 4, image: int = 32, labels: int = 7,
        attention_type: str = "divided_space_time", **kw):
    """A small random HF model; every tensor redrawn (HF zero-initialises time embeddings and biases)."""
    torch.manual_seed(0)
    cfg = TimesformerConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                            intermediate_size=2 * hidden, image_size=image, patch_size=patch, num_frames=frames,
                            num_labels=labels, attention_type=attention_type, **kw)
    model = TimesformerForVideoClassification(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.1)
    return model


def _logits_hf(hf, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return hf(pixel_values=x.transpose(1, 2)).logits  # HF takes (B, T, C, H, W)


def _close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A saved HF model: width 128 (two 64-channel heads), 2 layers, patch 8 on 32 x 32 (a 4 x 4 grid), 4 frames."""
    hf = _hf(128, 2, 8)
    hf.config.id2label = {i: f"class_{i}" for i in range(7)}
    hf.config.label2id = {v: k for k, v in hf.config.id2label.items()}
    folder = tmp_path_factory.mktemp("hf_timesformer")
    hf.save_pretrained(folder)
    return hf, folder


def test_convert_hf_folder_equals_hf_at_the_build_clip(hf_folder):
    hf, folder = hf_folder
    model, info = convert("huggingface", "timesformer_base_8x32", folder)
    assert info["model_kwargs"] == {"num_frames": 4, "crop_size": 32, "patch_size": 8, "embed_dim": 128,
                                    "depth": 2, "mlp_dim": 256, "num_heads": 2}
    assert model.num_classes == 7 and not model.training
    x = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(x)
        assert model.forward_features(x).shape == (2, 128)
    _close(ours, _logits_hf(hf, x))


def test_other_heights_widths_and_frame_counts_follow_the_run_time_rule(hf_folder):
    """Other clips: the tables resized by nearest interpolation. HF is right at another height as it is; at
    another width or frame count its blocks read T and the grid width off its config, so the config is set to
    the input's, which makes HF compute what the original release computes (it passes both from the input)."""
    hf, folder = hf_folder
    model, _ = convert("huggingface", "timesformer_base_8x32", folder)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, 48, 32, generator=g)  # a 6 x 4 grid, the built width
    _close(model(x).detach(), _logits_hf(hf, x))
    for frames, size in ((6, 40), (3, 24), (4, 16)):  # more and fewer frames; 5x5, 3x3 and 2x2 grids
        x = torch.randn(1, 3, frames, size, size, generator=g)
        hf.config.num_frames, hf.config.image_size = frames, size
        try:
            ref = _logits_hf(hf, x)
        finally:
            hf.config.num_frames, hf.config.image_size = 4, 32
        _close(model(x).detach(), ref)


def test_multi_head_split_matches_hf():
    """Four 12-channel heads (a width kwargs_for_state would give one head): built explicitly, loaded strictly."""
    hf = _hf(48, 4, 16, layers=3)
    mapped = from_huggingface(hf.state_dict(), "timesformer_base_8x32")
    model = models.build("timesformer_base_8x32", num_classes=7, num_frames=4, crop_size=32, embed_dim=48, depth=3,
                         num_heads=4, mlp_dim=96).eval()
    model.load_state_dict(mapped, strict=True)
    g = torch.Generator().manual_seed(3)
    for shape in ((2, 3, 4, 32, 32), (1, 3, 4, 64, 32)):  # 2 x 2 grid, then 4 x 2 (taller)
        x = torch.randn(*shape, generator=g)
        _close(model(x).detach(), _logits_hf(hf, x))


def test_labels_come_from_id2label(hf_folder, tmp_path):
    _, folder = hf_folder
    path, info = convert_checkpoint("huggingface", "timesformer_base_8x32", folder, tmp_path / "tsf")
    meta = models.read_meta(path)
    assert meta["labels"] == [f"class_{i}" for i in range(7)]
    assert meta["model_kwargs"]["embed_dim"] == 128 and meta["preprocessing"]["mean"] == [0.45] * 3
    loaded = models.load(path)
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), convert("huggingface", "timesformer_base_8x32", folder)[0](x))


# The original release's parameter names for one block (timesformer/models/vit.py: Block, Attention, Mlp) and
# for the rest of VisionTransformer, as its PySlowFast wrapper (``self.model = VisionTransformer(...)``) saves them.
_ORIGINAL_BLOCK = [f"{m}.{p}" for m in ("norm1", "attn.qkv", "attn.proj", "temporal_norm1", "temporal_attn.qkv",
                                        "temporal_attn.proj", "temporal_fc", "norm2", "mlp.fc1", "mlp.fc2")
                   for p in ("weight", "bias")]
_ORIGINAL_TOP = ["model.cls_token", "model.pos_embed", "model.time_embed", "model.patch_embed.proj.weight",
                 "model.patch_embed.proj.bias", "model.norm.weight", "model.norm.bias", "model.head.weight",
                 "model.head.bias"]


def test_original_release_key_layout_is_vidlabs_with_model_prefix():
    with torch.device("meta"):
        model = models.build("timesformer_base_8x32")
    original = set(_ORIGINAL_TOP) | {f"model.blocks.{i}.{k}" for i in range(12) for k in _ORIGINAL_BLOCK}
    assert {"model." + k for k in model.state_dict()} == original


def test_convert_original_pyth(tmp_path):
    """A ``.pyth`` as the original trainer writes it (``model_state`` + bookkeeping) of a 16-frame, 48-pixel model."""
    torch.manual_seed(4)
    src = TimeSformer(5, num_frames=16, crop_size=48, embed_dim=64, depth=2, num_heads=1).eval()
    state = {"model." + k: v for k, v in src.state_dict().items()}
    torch.save({"epoch": 15, "model_state": state}, tmp_path / "TimeSformer_divST.pyth")
    model, info = convert("pyslowfast", "timesformer_base_8x32", tmp_path / "TimeSformer_divST.pyth")
    assert info["model_kwargs"] == {"num_frames": 16, "crop_size": 48, "embed_dim": 64, "depth": 2, "mlp_dim": 256,
                                    "num_heads": 1}
    x = torch.randn(1, 3, 16, 48, 48)
    with torch.no_grad():
        assert torch.equal(model(x), src(x))
    # the original's own loader strips ``model.``: an unprefixed state dict maps the same
    assert from_original(src.state_dict(), "timesformer_base_8x32").keys() == src.state_dict().keys()


def test_hf_mapping_is_one_to_one_on_the_full_size_model():
    with torch.device("meta"):
        hf_keys = TimesformerForVideoClassification(TimesformerConfig(num_labels=400)).state_dict()
        ours = models.build("timesformer_base_8x32").state_dict()
    mapped = from_huggingface(dict(hf_keys), "timesformer_base_8x32")
    assert mapped.keys() == ours.keys()
    assert all(mapped[k].shape == ours[k].shape for k in ours)


def test_parameter_count_is_hfs_and_the_published_one():
    with torch.device("meta"):
        ours = sum(p.numel() for p in models.build("timesformer_base_8x32", num_classes=400).parameters())
        hf = sum(p.numel() for p in TimesformerForVideoClassification(TimesformerConfig(num_labels=400)).parameters())
    d, n, t, layers = 768, 14 * 14, 8, 12
    vit_block = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d  # qkv + proj, mlp, two norms
    temporal = 5 * d * d + 5 * d + 2 * d  # temporal qkv + proj, temporal_fc, temporal_norm1
    rule = (3 * 16 * 16 * d + d) + d + (n + 1) * d + t * d + layers * (vit_block + temporal) + 2 * d + d * 400 + 400
    assert ours == hf == rule == 121_566_352
    # published: the paper's Table 1 gives 121.4M for divided space-time, MMAction2's metafile 122M
    assert round(ours / 1e6) == 122 and abs(ours / 1e6 - 121.4) < 0.2


def test_gflops_per_view_and_the_papers_inference_cost():
    """vidlab's convention (one multiply-add = one FLOP, one 8 x 224 x 224 view): 195.83 GFLOPs, the sum of
    the Linear layers, the attention products and the patch conv; the paper's 0.59 TFLOPs (and MMAction2's
    588G) are its 3-view test (1 clip x 3 crops)."""
    from vidlab.apps.model_table import count_flops

    g = count_flops("timesformer_base_8x32", 8, 224)
    d, n, t, layers = 768, 196, 8, 12
    linear = layers * (n * t * 5 * d * d + t * (n + 1) * 4 * d * d + (n * t + 1) * 8 * d * d) + 400 * d
    attention = layers * (2 * n * t * t * d + 2 * t * (n + 1) ** 2 * d)
    conv = n * t * d * 3 * 16 * 16
    assert g == pytest.approx((linear + attention + conv) / 1e9, rel=1e-9)
    assert round(g, 2) == 195.83 and round(3 * g / 1000, 2) == 0.59


def test_embedding_tables_resize_by_nearest_and_stay_put_at_the_build_grid():
    model = TimeSformer(3, num_frames=4, crop_size=64, patch_size=16, embed_dim=8, depth=1, num_heads=2)
    assert model.spatial_pos((4, 4)) is model.pos_embed and model.temporal_pos(4) is model.time_embed
    pos = model.spatial_pos((2, 8))
    table = model.pos_embed[0, 1:].reshape(4, 4, 8)
    expect = table[torch.tensor([0, 2])][:, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])].reshape(16, 8)
    assert torch.equal(pos[0, 0], model.pos_embed[0, 0]) and torch.equal(pos[0, 1:], expect)
    assert torch.equal(model.temporal_pos(8)[0], model.time_embed[0].repeat_interleave(2, 0))


def test_initialisation_follows_the_original():
    model = TimeSformer(3, embed_dim=64, depth=3, num_heads=1)
    assert not model.time_embed.any() and model.blocks[0].temporal_fc.weight.any()
    assert all(not b.temporal_fc.weight.any() and not b.temporal_fc.bias.any() for b in model.blocks[1:])
    assert model.cls_token.std() > 0 and model.head.bias.abs().sum() == 0


def test_trains_with_drop_path_and_dropout():
    model = TimeSformer(3, num_frames=4, crop_size=32, embed_dim=32, depth=2, num_heads=2, drop_path_rate=0.5,
                        drop_rate=0.1, attn_drop_rate=0.1, dropout=0.5).train()
    x = torch.randn(2, 3, 4, 32, 32, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and model.patch_embed.proj.weight.grad is not None
    assert model.get_classifier() is model.head and model.feature_dim == 32


def test_kwargs_for_state():
    with torch.device("meta"):
        model = models.build("timesformer_base_8x32")
        assert model.kwargs_for_state(model.state_dict()) == {}
        bad = {**model.state_dict(), "pos_embed": torch.empty(1, 14 * 15 + 1, 768)}
    with pytest.raises(ValueError, match="not 1 \\+ a square patch grid"):
        model.kwargs_for_state(bad)


def test_unmapped_and_foreign_keys_are_refused():
    hf = _hf(32, 2, 16, layers=1).state_dict()
    with pytest.raises(ConversionError, match=r"1 source keys have no place.*timesformer\.extra"):
        from_huggingface({**hf, "timesformer.extra.weight": torch.zeros(1)}, "timesformer_base_8x32")
    with pytest.raises(ConversionError, match="use --from pyslowfast"):
        from_huggingface({"model.cls_token": torch.zeros(1, 1, 8)}, "timesformer_base_8x32")
    with pytest.raises(ConversionError, match="use --from huggingface"):
        from_original(hf, "timesformer_base_8x32")
    with pytest.raises(ConversionError, match=r"have no place.*blocks\.0\.extra"):
        from_original({"model.cls_token": torch.zeros(1), "model.blocks.0.extra": torch.zeros(1)}, "x")
    with pytest.raises(ConversionError, match=r"have no place.*\[head\.weight\]"):
        from_original({"model.cls_token": torch.zeros(1), "head.weight": torch.zeros(1)}, "x")
    with pytest.raises(ConversionError, match="empty"):
        from_original({}, "x")


def test_space_only_checkpoints_are_refused_with_a_sentence(tmp_path):
    hf = _hf(32, 2, 16, layers=1, attention_type="space_only")
    hf.save_pretrained(tmp_path)
    with pytest.raises(ConversionError, match="no temporal attention"):
        convert("huggingface", "timesformer_base_8x32", tmp_path)
