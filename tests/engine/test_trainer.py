"""Engine: a tiny training run, exact resume, evaluation outputs."""

import json

import pytest
import torch

from vidlab import models
from vidlab.engine.config import from_dict
from vidlab.engine.trainer import Trainer


def _cfg(data, out, epochs=2, **train):
    return from_dict({
        "model": {"arch": "c2d_r10_tiny", "kwargs": {"width": 8}},
        "data": {"train": str(data / "train.csv"), "val": str(data / "val.csv"), "test": str(data / "test.csv"),
                 "labels": str(data / "classes.txt"), "num_frames": 4, "sampling_rate": 2, "crop_size": 28,
                 "train_scale": [32, 36], "test_scale": 32, "flip": 0.0, "batch_size": 4, "test_views": 2},
        "solver": {"lr": 0.05, "epochs": epochs, "warmup_epochs": 0.5, "clip_grad": 1.0},
        "train": {"out_dir": str(out), "seed": 1, "progress": False, "tensorboard": True, **train},
    })


def test_resume_reproduces_an_uninterrupted_run(tiny_synth, tmp_path):
    full = Trainer(_cfg(tiny_synth, tmp_path / "full", epochs=3))
    hist_full = full.fit()

    # interrupt after the first epoch (a tiny time budget stops there), then resume
    first = Trainer(_cfg(tiny_synth, tmp_path / "split", epochs=3, time_budget=1e-9))
    first.fit()
    assert len(first.history) == 1
    second = Trainer(_cfg(tiny_synth, tmp_path / "split", epochs=3))
    hist_resumed = second.fit(resume=True)

    assert [r["epoch"] for r in hist_resumed] == [1, 2, 3]
    for a, b in zip(hist_full, hist_resumed):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
    for (k, a), (_, b) in zip(full.model.state_dict().items(), second.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=k)


def test_outputs_checkpoints_and_tensorboard(tiny_synth, tmp_path):
    t = Trainer(_cfg(tiny_synth, tmp_path / "run", epochs=1))
    hist = t.fit()
    assert set(hist[0]) >= {"epoch", "train_loss", "train_top1", "val_top1", "lr", "seconds"}
    ck = tmp_path / "run" / "checkpoints"
    for name in ("last.safetensors", "last.json", "resume/LATEST", "best.safetensors", "best.json"):
        assert (ck / name).exists(), name
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    meta = json.loads((ck / "last.json").read_text())
    assert len(meta["labels"]) == 10  # label names travel with the weights
    assert meta["preprocessing"]["num_frames"] == 4 and meta["model_kwargs"] == {"width": 8}
    model = models.load(ck / "last")
    res = t.evaluate("test")
    assert res["scores"].shape == (len(res["labels"]), 10)
    assert res["num_views"] == 2
    # top-1 is the share of videos whose aggregated score ranks the label first
    hits = (res["scores"].argmax(1).numpy() == res["labels"]).mean()
    assert res["top1"] == pytest.approx(float(hits))
    with torch.no_grad():
        x = torch.randn(1, 3, 4, 28, 28)
        torch.testing.assert_close(model(x), t.model.eval()(x))


def test_bf16_autocast_trains_on_cpu(tiny_synth, tmp_path):
    t = Trainer(_cfg(tiny_synth, tmp_path / "bf16", epochs=1, amp="bf16", tensorboard=False))
    assert t.amp_dtype == torch.bfloat16
    hist = t.fit()
    assert torch.isfinite(torch.tensor(hist[0]["train_loss"]))
    assert all(p.dtype == torch.float32 for p in t.model.parameters())  # weights stay fp32


def test_fp16_on_cpu_is_a_config_error(tiny_synth, tmp_path):
    from vidlab.engine.config import ConfigError

    with pytest.raises(ConfigError, match="bf16 on CPU"):
        Trainer(_cfg(tiny_synth, tmp_path / "fp16", epochs=1, amp="fp16", device="cpu"))


def test_memory_cache_with_workers_and_multigrid_trains_exactly_as_without(tiny_synth, tmp_path):
    def run(name, **data):
        cfg = _cfg(tiny_synth, tmp_path / name, epochs=2, tensorboard=False, bn_batch=2)
        cfg.data.batch_size = 2  # x8 in the first phase: 16 of the 20 clips
        cfg.solver.schedule, cfg.solver.steps = "steps", [1]
        cfg.multigrid.long_cycle = True
        for k, v in data.items():
            setattr(cfg.data, k, v)
        t = Trainer(cfg, log=lambda m: None)
        return t, t.fit()

    plain, hist_plain = run("plain")
    cached, hist_cached = run("cached", cache="memory", num_workers=2)
    assert [h["train_loss"] for h in hist_plain] == [h["train_loss"] for h in hist_cached]
    for (k, a), (_, b) in zip(plain.model.state_dict().items(), cached.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


def test_training_datasets_follow_the_protocol(tiny_synth):
    from vidlab.data.datasets import make_dataset
    from vidlab.data.datasets.protocol import TrainDataset
    from vidlab.data.datasets.robust import RobustDataset

    kw = {"list_file": tiny_synth / "train.csv", "num_classes": 10, "num_frames": 4, "sampling_rate": 2,
          "crop_size": 24, "train_scale": (28, 32), "mean": (0.5,) * 3, "std": (0.5,) * 3}
    robust, plain = make_dataset("train", **kw), make_dataset("train", robust=False, **kw)
    assert isinstance(robust, RobustDataset) and isinstance(robust, TrainDataset) and isinstance(plain, TrainDataset)
    assert plain.end_epoch(0) == {"bad_files": 0, "bad_files_total": 0} and plain.fill_cache() is None
    v = robust.with_shape(2, 16, 4)  # the wrapper keeps its log; the wrapped dataset is reshaped
    assert isinstance(v, RobustDataset) and v.log_dir == robust.log_dir
    tf = v.dataset.transform
    assert (v.dataset.num_frames, v.dataset.sampling_rate, tf.crop_size, tf.min_scale, tf.max_scale) == (2, 4, 16, 19, 21)
    assert (robust.dataset.num_frames, robust.dataset.sampling_rate, robust.dataset.transform.crop_size) == (4, 2, 24)
    assert v[0][0].shape == (3, 2, 16, 16)


def test_tensorboard_has_per_class_accuracy_confusion_and_lr(tiny_synth, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    t = Trainer(_cfg(tiny_synth, tmp_path / "run", epochs=2))
    t.fit()
    acc = EventAccumulator(str(tmp_path / "run" / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    scalars, images = set(acc.Tags()["scalars"]), set(acc.Tags()["images"])
    assert {"lr", "train/loss", "val/top1", "val/mean_class_accuracy"} <= scalars
    assert {f"val_class/{c}" for c in t.labels} <= scalars
    assert [e.step for e in acc.Scalars("lr")] == [1, 2]
    assert images == {"val/confusion"} and [e.step for e in acc.Images("val/confusion")] == [1, 2]
    # the logged per-class figures are the validation report's
    last = t.last_validation
    for c, want in zip(t.labels, last["per_class_accuracy"]):
        if want is not None:
            assert acc.Scalars(f"val_class/{c}")[-1].value == pytest.approx(want)
    assert acc.Scalars("val/top1")[-1].value == pytest.approx(last["top1"])


def test_confusion_image_colours_cells_by_value():
    import numpy as np

    from vidlab.engine.trainer import confusion_image

    img = confusion_image(np.array([[1.0, 0.0], [0.25, 0.75]]), cell=3)
    assert img.shape == (6, 6, 3) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == (8, 48, 107) and tuple(img[0, 5]) == (255, 255, 255)
    assert tuple(img[4, 1]) == tuple(np.round(255 + (np.array([8, 48, 107]) - 255) * 0.25).astype(int))


def test_cli_train_writes_the_report(tiny_synth, tmp_path, capsys):
    from helpers import run_cli
    from vidlab.engine.config import dump_config

    cfg = tmp_path / "c.yaml"
    dump_config(_cfg(tiny_synth, tmp_path / "run", epochs=1, tensorboard=False), cfg)
    code, out, err = run_cli(["train", "--config", str(cfg), "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    html = (tmp_path / "run" / "report.html").read_text()
    assert res["report"] == str(tmp_path / "run" / "report.html")
    assert "Confusion matrix (test)" in html and "Per-class accuracy (test)" in html
    for f in ("curves.png", "confusion.png", "per_class.png"):
        assert (tmp_path / "run" / "figures" / f).stat().st_size > 1000
    assert f"{res['test']['top1']:.3f}" in html or f"{res['test']['top1']:.4f}" in html
