import pytest

from vidlab.engine.config import ConfigError, SolverCfg, load_config
from vidlab.engine.schedules import lr_at_epoch


def test_yaml_overrides_and_relative_paths(tmp_path):
    (tmp_path / "cfg.yaml").write_text("model:\n  arch: c2d_r10_tiny\ndata:\n  train: lists/train.csv\nsolver:\n  lr: 0.5\n")
    cfg = load_config(tmp_path / "cfg.yaml", ["solver.lr=0.05", "data.flip=0", "model.kwargs.width=8", "data.train_scale=[64, 80]"])
    assert cfg.model.arch == "c2d_r10_tiny"
    assert cfg.solver.lr == 0.05 and cfg.data.flip == 0 and cfg.model.kwargs == {"width": 8}
    assert cfg.data.train_scale == [64, 80]
    assert cfg.data.train == str((tmp_path / "lists" / "train.csv").resolve())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["solver.lrr=1"], "unknown config key 'solver.lrr'"),
        (["nosuch.x=1"], "unknown config key 'nosuch'"),
        (["solver.lr"], "not key=value"),
        (["solver.optimizer=adam"], "sgd or adamw"),
        (["data.test_crops=2"], "1 or 3"),
    ],
)
def test_bad_configs_are_one_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_or_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_warmup_then_cosine():
    cfg = SolverCfg(lr=0.1, epochs=10, warmup_epochs=1, warmup_start_lr=0.01, schedule="cosine")
    assert lr_at_epoch(cfg, 0) == pytest.approx(0.01)
    end_of_warmup = 0.05 * (1 + __import__("math").cos(__import__("math").pi / 10))
    assert lr_at_epoch(cfg, 0.5) == pytest.approx(0.01 + (end_of_warmup - 0.01) * 0.5)
    assert lr_at_epoch(cfg, 5) == pytest.approx(0.05)
    assert lr_at_epoch(cfg, 10) == pytest.approx(0.0, abs=1e-12)


def test_step_schedule():
    cfg = SolverCfg(lr=1.0, epochs=10, schedule="steps", steps=[3, 6], gamma=0.1)
    assert [round(lr_at_epoch(cfg, e), 6) for e in (0, 2.9, 3, 5, 6, 9)] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
