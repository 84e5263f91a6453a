"""`vidlab finetune`: the grouped split, a new head on a checkpoint, frozen layers, resume, the CLI."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from vidlab import models
from vidlab.apps.finetune import finetune, grouped_split, source_group
from vidlab.data.datasets.registry import VideoRecord
from vidlab.engine import transfer
from vidlab.engine.config import ConfigError

ARCH = "i3d_r10_tiny"
FAST = dict(num_frames=4, sampling_rate=2, crop_size=32, batch_size=4, progress=False, log=lambda m: None)


def test_source_groups_from_names():
    assert source_group("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c03.avi", 0) == ("ucf101", "0/g08")
    assert source_group("boxing/person09_boxing_d1_uncomp.avi", 2) == ("kth", "person09")
    assert source_group("walking/person09_walking_d3_uncomp.avi", 4) == ("kth", "person09")  # one person, two classes
    hmdb = "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    assert source_group(hmdb, 1) == ("hmdb51", "1/April_09")
    assert source_group("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_2.avi", 1) == ("hmdb51", "1/April_09")
    assert source_group("cats/clip_17.mp4", 0) == ("file", "cats/clip_17.mp4")


def _ucf(classes=("A", "B", "C"), groups=7, clips=3):
    return [VideoRecord(f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi", i) for i, c in enumerate(classes)
            for g in range(1, groups + 1) for k in range(1, clips + 1)]


def test_grouped_split_keeps_groups_whole_and_is_deterministic():
    recs = _ucf()
    splits, of = grouped_split(recs, 3, val=0.15, test=0.3, seed=0)
    where = {of[r.path]: s for s, rs in splits.items() for r in rs}
    for s, rs in splits.items():
        assert all(where[of[r.path]] == s for r in rs)  # no group straddles two splits
    assert sum(len(v) for v in splits.values()) == len(recs)
    # 7 groups of 3 clips per class: 2 groups (6 clips, 29%) to test, 1 (14%) to val, 4 to train
    for s, n in (("train", 12), ("val", 3), ("test", 6)):
        assert Counter(r.label for r in splits[s]) == {0: n, 1: n, 2: n}, s
    again, _ = grouped_split(list(reversed(recs)), 3, val=0.15, test=0.3, seed=0)
    assert {s: [r.path for r in v] for s, v in again.items()} == {s: [r.path for r in v] for s, v in splits.items()}
    other, _ = grouped_split(recs, 3, val=0.15, test=0.3, seed=1)
    assert [r.path for r in other["test"]] != [r.path for r in splits["test"]]


def test_grouped_split_people_across_classes():
    # KTH-style: every person does every action; a person is in exactly one split
    recs = [VideoRecord(f"{a}/person{p:02d}_{a}_d1_uncomp.avi", i) for i, a in enumerate(("box", "walk"))
            for p in range(1, 11)]
    splits, of = grouped_split(recs, 2, val=0.1, test=0.2, seed=3)
    people = {s: {of[r.path] for r in v} for s, v in splits.items()}
    assert [len(people[s]) for s in ("train", "val", "test")] == [7, 1, 2]
    assert not (people["train"] & people["test"]) and not (people["train"] & people["val"])


def test_grouped_split_files_stratified_and_every_class_trains():
    recs = [VideoRecord(f"c{c}/v{i}.mp4", c) for c in range(3) for i in range(20)]
    splits, _ = grouped_split(recs, 3, val=0.15, test=0.15, seed=0)
    for s, n in (("train", 14), ("val", 3), ("test", 3)):
        assert Counter(r.label for r in splits[s]) == {0: n, 1: n, 2: n}
    # one video of a class: it goes to train, not to test
    splits, _ = grouped_split([VideoRecord("a/x.mp4", 0), VideoRecord("b/y.mp4", 1)], 2, val=0.0, test=0.5)
    assert sorted(r.label for r in splits["train"]) == [0, 1]
    with pytest.raises(ConfigError, match="leave some for train"):
        grouped_split(recs, 3, val=0.5, test=0.5)


def test_init_state_and_freeze_rules():
    src = models.build(ARCH, num_classes=7)
    dst = models.build(ARCH, num_classes=4)
    keys = transfer.classifier_keys(dst)
    assert keys and all(k.startswith("head.") for k in keys)
    state, dropped = transfer.init_state(dst, src.state_dict(), "auto")
    assert dropped and all(torch.equal(state[k], dst.state_dict()[k]) for k in keys)
    same, dropped = transfer.init_state(src, src.state_dict(), "auto")
    assert not dropped and same is not None
    frozen = transfer.freeze(dst, "backbone")
    assert {n for n, p in dst.named_parameters() if p.requires_grad} == set(keys)
    assert frozen and transfer.frozen_norms(dst)
    m = models.build(ARCH, num_classes=4)
    frozen = transfer.freeze(m, "s4")
    names = [n for n, _ in m.named_parameters()]
    assert frozen == names[:names.index(next(n for n in names if n.startswith("s4.")))]
    with pytest.raises(ConfigError, match=r"model.freeze='s9'.*one of: .*s4"):
        transfer.freeze(m, "s9")


@pytest.fixture(scope="module")
def start_ckpt(tmp_path_factory):
    torch.manual_seed(5)
    model = models.build(ARCH, num_classes=3)
    return models.save(model, tmp_path_factory.mktemp("start") / "start", arch=ARCH, labels=["x", "y", "z"])


def test_finetune_synthetic_linear_probe_and_resume(tiny_synth, start_ckpt, tmp_path):
    init = models.load(start_ckpt).state_dict()
    out = tmp_path / "ft"
    s = finetune(tiny_synth / "videos", out, checkpoint=start_ckpt, linear_probe=True, epochs=1, **FAST)
    assert s["classes"] == sorted(json.loads((tiny_synth / "meta.json").read_text())["classes"])  # folder order
    assert s["videos"] == {"train": 20, "val": 10, "test": 10} and s["split"] == "the folder's own split folders"
    tuned = models.load(s["checkpoint"])
    assert tuned.num_classes == 10 and tuned.meta["labels"] == s["classes"]
    head = set(transfer.classifier_keys(tuned))
    for k, v in tuned.state_dict().items():  # the backbone, BN statistics included, is the checkpoint's
        if k not in head:
            assert torch.equal(v, init[k]), k
    assert s["trainable_params"] == sum(tuned.state_dict()[k].numel() for k in head)
    assert s["evaluated_on"] == "test" and 0.0 <= s["top1"] <= 1.0 and s["epochs"] == 1
    assert (out / "report.html").exists() and (out / "figures" / "confusion.png").exists()
    # resume: the same folder, two epochs planned now -> one more epoch
    s2 = finetune(tiny_synth / "videos", out, checkpoint=start_ckpt, linear_probe=True, epochs=2, resume=True, **FAST)
    assert s2["epochs"] == 2


def test_finetune_backbone_moves_at_its_own_rate(tiny_synth, start_ckpt, tmp_path):
    """Full fine-tuning: the backbone trains too (at 0.1 of the head's rate), the head is new."""
    init = models.load(start_ckpt).state_dict()
    s = finetune(tiny_synth / "videos", tmp_path / "ft", checkpoint=start_ckpt, epochs=1, lr=0.05, **FAST)
    tuned = models.load(s["checkpoint"]).state_dict()
    key = "s1.pathway0_stem.conv.weight"
    assert not torch.equal(tuned[key], init[key])
    assert tuned["head.projection.weight"].shape == (10, init["head.projection.weight"].shape[1])
    assert s["trainable_params"] == sum(v.numel() for k, v in models.load(s["checkpoint"]).named_parameters())


def test_backbone_lr_scale_groups():
    m = models.build(ARCH, num_classes=4)
    groups = [{"params": list(m.parameters()), "weight_decay": 0.0}]
    out = transfer.scale_backbone_lr(groups, m, 0.1)
    head = {id(p) for p in m.get_classifier().parameters()}
    assert [g["lr_scale"] for g in out] == [1.0, 0.1]
    assert {id(p) for p in out[0]["params"]} == head
    assert sum(len(g["params"]) for g in out) == len(groups[0]["params"])


def test_finetune_refusals(tiny_synth, start_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="give one of --model"):
        finetune(tiny_synth / "videos", tmp_path / "a", **FAST)
    with pytest.raises(ConfigError, match="leave out --freeze-until"):
        finetune(tiny_synth / "videos", tmp_path / "b", checkpoint=start_ckpt, linear_probe=True, freeze_until="s4",
                 **FAST)
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(Exception, match="class folders"):
        finetune(tmp_path / "one", tmp_path / "c", arch=ARCH, **FAST)


def test_cli_finetune_from_scratch_json_and_one_line_errors(tiny_synth, tmp_path, capsys):
    from helpers import run_cli

    argv = ["finetune", str(tiny_synth / "videos"), "--arch", ARCH, "--out", str(tmp_path / "o"), "--epochs", "1",
            "--frames", "4", "--sampling-rate", "2", "--crop", "32", "--batch-size", "4", "--json"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    s = json.loads(out)
    assert s["from"] == f"{ARCH} (random initialisation)" and s["epochs"] == 1 and s["top1"] is not None
    code, out, err = run_cli(["finetune", str(tiny_synth / "videos"), "--out", str(tmp_path / "p")], capsys)
    assert code == 2 and err.count("\n") == 1 and "give one of --model" in err
    code, out, err = run_cli(["finetune", str(tmp_path / "nowhere"), "--arch", ARCH, "--out", str(tmp_path / "q")],
                             capsys)
    assert code == 2 and err.count("\n") == 1 and "nowhere" in err
