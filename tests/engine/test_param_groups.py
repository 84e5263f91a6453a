"""Optimizer parameter groups: layer-wise lr decay and weight-decay exemptions (vidlab.engine.param_groups)."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from vidlab import models
from vidlab.engine.config import ConfigError, from_dict
from vidlab.engine.param_groups import LayerDecayError, is_position_param, layer_ids, param_groups
from vidlab.models.mvit import MVITV2_S_16X4, MViT

# 4 blocks, v2 rules (rel-pos tables, q pooled at blocks 1 and 3), as tests/models/test_mvit.py's TINY
TINY = replace(MVITV2_S_16X4, depth=4, embed_dim=16, dim_mul=((1, 2.0), (3, 2.0)), head_mul=((1, 2.0), (3, 2.0)),
               pool_q_stride=tuple((i, 1, 2, 2) if i in (1, 3) else (i, 1, 1, 1) for i in range(4)), num_frames=8)


def _tiny_mvit() -> MViT:
    return MViT(5, TINY, crop_size=32)


def _scale_of(groups) -> dict[int, tuple[float, float]]:
    """{id(param): (lr_scale, weight_decay)}, checking every parameter is in one group only."""
    out = {}
    for g in groups:
        for p in g["params"]:
            assert id(p) not in out
            out[id(p)] = (g.get("lr_scale", 1.0), g["weight_decay"])
    return out


def test_mvit_layer_decay_rates_by_hand():
    model = _tiny_mvit()
    d, wd = 0.5, 0.05
    groups = param_groups(model, wd, d)
    got = _scale_of(groups)
    named = dict(model.named_parameters())
    assert len(got) == len(named)
    # 4 blocks: stem = layer 0 -> d^5, block i -> d^(4 - i), final norm / head -> 1
    by_hand = {
        "cls_token": (1 / 32, wd), "patch_embed.proj.weight": (1 / 32, wd), "patch_embed.proj.bias": (1 / 32, 0.0),
        "blocks.0.attn.qkv.weight": (1 / 16, wd), "blocks.0.attn.rel_pos_h": (1 / 16, wd),
        "blocks.0.norm1.weight": (1 / 16, 0.0), "blocks.1.mlp.fc1.weight": (1 / 8, wd),
        "blocks.2.attn.proj.bias": (1 / 4, 0.0), "blocks.3.attn.pool_q.weight": (1 / 2, wd),
        "blocks.3.attn.rel_pos_t": (1 / 2, wd), "norm.weight": (1.0, 0.0), "head.projection.weight": (1.0, wd),
        "head.projection.bias": (1.0, 0.0),
    }
    for name, expected in by_hand.items():
        assert got[id(named[name])] == pytest.approx(expected), name
    # one group per (layer, decays or not), in layer order
    assert [(g["layer_id"], g["weight_decay"]) for g in groups] == [(i, w) for i in range(6) for w in (wd, 0.0)]


def test_layer_ids_of_the_transformer_families():
    tsf = models.build("timesformer_base_8x32", num_classes=3, num_frames=4, crop_size=32, embed_dim=24, depth=3,
                       num_heads=2)
    ids, num = layer_ids(tsf)
    assert num == 3
    assert ids["time_embed"] == ids["pos_embed"] == ids["cls_token"] == ids["patch_embed.proj.weight"] == 0
    assert ids["blocks.2.temporal_attn.qkv.weight"] == 3 and ids["norm.weight"] == ids["head.weight"] == 4

    vmae = models.build("videomae_vit_b_16x4", num_classes=3, embed_dim=48, depth=2, num_heads=4)
    ids, num = layer_ids(vmae)
    assert num == 2 and ids["blocks.1.attn.q_bias"] == 2 and ids["fc_norm.weight"] == ids["head.bias"] == 3

    # Swin: blocks numbered over the stages; patch merging takes the id of the block before it
    swin = models.build("swin3d_t", num_classes=3, embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                        window_size=(2, 3, 3))
    ids, num = layer_ids(swin)
    assert num == 8
    assert ids["patch_embed.proj.weight"] == ids["patch_embed.norm.weight"] == 0
    assert ids["features.0.0.attn.qkv.weight"] == 1 and ids["features.0.1.mlp.0.weight"] == 2
    assert ids["features.1.reduction.weight"] == ids["features.1.norm.bias"] == 2
    assert ids["features.2.0.attn.relative_position_bias_table"] == 3
    assert ids["features.5.reduction.weight"] == 6 and ids["features.6.1.norm2.weight"] == 8
    assert ids["norm.weight"] == ids["head.weight"] == 9
    scales = _scale_of(param_groups(swin, 0.05, 0.9))
    assert scales[id(swin.patch_embed.proj.weight)][0] == pytest.approx(0.9 ** 9)
    assert scales[id(swin.head.weight)][0] == 1.0


def test_layer_decay_refuses_models_without_a_transformer_layout(tmp_path):
    cnn = models.build("c2d_r10_tiny", num_classes=3, width=8)
    with pytest.raises(LayerDecayError, match="blocks.N"):
        param_groups(cnn, 1e-4, 0.75)
    with torch.device("meta"):  # S3D also names features.K.J.* but has no attention
        s3d = models.build("s3d", num_classes=3)
    with pytest.raises(LayerDecayError, match="S3D|has neither"):
        layer_ids(s3d)
    # layer_decay 1 is no decay (PySlowFast's LAYER_DECAY 1.0): any model, the plain groups
    assert [len(g["params"]) for g in param_groups(cnn, 1e-4, 1.0)] == [len(g["params"])
                                                                        for g in param_groups(cnn, 1e-4)]
    with pytest.raises(ConfigError, match="layer_decay"):
        from_dict({"solver": {"layer_decay": 0}})
    with pytest.raises(ConfigError, match="layer_decay"):
        from_dict({"solver": {"layer_decay": 1.5}})


def test_a_model_can_state_its_own_layers():
    class Own(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.body, self.out = nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)

        def num_layers_for_decay(self) -> int:
            return 1

        def layer_id_for(self, name: str) -> int:
            return {"stem": 0, "body": 1, "out": 2}[name.split(".")[0]]

    m = Own()
    scales = _scale_of(param_groups(m, 0.1, 0.5))
    assert [scales[id(p)][0] for p in (m.stem.weight, m.body.weight, m.out.weight)] == [0.25, 0.5, 1.0]
    m.layer_id_for = lambda name: 7
    with pytest.raises(LayerDecayError, match="outside"):
        param_groups(m, 0.1, 0.5)


def test_weight_decay_exemptions():
    model = _tiny_mvit()
    named = dict(model.named_parameters())

    def exempt(**kw):
        groups = param_groups(model, 0.05, **kw)
        return {n for n, p in named.items() if _scale_of(groups)[id(p)][1] == 0.0}

    one_d = {n for n, p in named.items() if p.ndim <= 1}
    tables = {n for n in named if n == "cls_token" or ".rel_pos_" in n}
    assert exempt() == one_d  # the default: biases and norms, as vidlab always did
    assert exempt(zero_wd_pos=True) == one_d | tables
    assert exempt(zero_wd_1d=False) == set()
    assert exempt(zero_wd_1d=False, zero_wd_pos=True) == tables
    for name in ("pos_embed", "pos_embed_spatial", "blocks.3.attn.rel_pos_hw", "time_embed",
                 "features.0.0.attn.relative_position_bias_table"):
        assert is_position_param(name), name
    for name in ("blocks.0.attn.qkv.weight", "head.weight", "pos_embedding_proj.weight.x"):
        assert not is_position_param(name), name


def test_default_groups_are_vidlabs_historical_ones():
    """With the new options at their defaults the optimizer is built as before: two groups,
    ndim > 1 decaying, in parameter order, no extra keys (old resume points load unchanged)."""
    for model in (models.build("c2d_r10_tiny", num_classes=3, width=8), _tiny_mvit()):
        params = [p for p in model.parameters() if p.requires_grad]
        groups = param_groups(model, 1e-4)
        assert [set(g) for g in groups] == [{"params", "weight_decay"}] * 2
        assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
        assert [id(p) for p in groups[0]["params"]] == [id(p) for p in params if p.ndim > 1]
        assert [id(p) for p in groups[1]["params"]] == [id(p) for p in params if p.ndim <= 1]


def _recipe_cfg(data, out, **solver):
    return from_dict({
        "model": {"arch": "timesformer_base_8x32",
                  "kwargs": {"embed_dim": 24, "depth": 2, "num_heads": 2, "crop_size": 32, "num_frames": 4,
                             "drop_path_rate": 0.1}},
        "data": {"train": str(data / "train.csv"), "labels": str(data / "classes.txt"), "num_frames": 4,
                 "sampling_rate": 2, "crop_size": 32, "train_scale": [32, 36], "batch_size": 4,
                 "mixup_alpha": 0.8, "cutmix_alpha": 1.0, "rand_augment": "rand-m7-n4-mstd0.5-inc1",
                 "random_erasing": 0.25},
        "solver": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "epochs": 1, "label_smoothing": 0.1,
                   "layer_decay": 0.75, "zero_wd_pos": True, **solver},
        "train": {"out_dir": str(out), "seed": 1, "progress": False, "tensorboard": False},
    })


def test_the_transformer_recipe_trains_reproducibly(tiny_synth, tmp_path):
    """Layer decay + mixup/CutMix + RandAugment + erasing: the groups run at lr * lr_scale and a
    second run with the same seed gives the same losses and weights."""
    from vidlab.engine.trainer import Trainer

    runs = []
    for name in ("a", "b"):
        t = Trainer(_recipe_cfg(tiny_synth, tmp_path / name), log=lambda m: None)
        hist = t.fit()
        runs.append((t, hist))
    (t, hist), (t2, hist2) = runs
    assert torch.isfinite(torch.tensor(hist[0]["train_loss"]))
    assert hist[0]["train_loss"] == hist2[0]["train_loss"]
    for (k, a), (_, b) in zip(t.model.state_dict().items(), t2.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    lr = hist[0]["lr"]
    for g in t.optimizer.param_groups:
        assert g["lr"] == pytest.approx(lr * 0.75 ** (3 - g["layer_id"]))
    with pytest.raises(ConfigError, match="c2d_r10_tiny"):
        cfg = _recipe_cfg(tiny_synth, tmp_path / "cnn")
        cfg.model.arch, cfg.model.kwargs = "c2d_r10_tiny", {"width": 8}
        Trainer(cfg, log=lambda m: None)
