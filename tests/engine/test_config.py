import dataclasses
import typing

import pytest
import yaml

from vidlab.engine.config import (
    Config,
    ConfigError,
    ModelCfg,
    SolverCfg,
    dump_config,
    from_dict,
    load_config,
    schema,
    validate,
)
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


# --------------------------------------------------------------------------
# typed values


def _yaml(tmp_path, text, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_scientific_floats_from_yaml_and_overrides(tmp_path):
    path = _yaml(tmp_path, "solver:\n  weight_decay: 1e-4\n  lr: 1E-3\n  warmup_start_lr: .5e-2\n"
                           "model:\n  kwargs: {dropout: 1e-5, stem_kernel: {x: '2E-3'}, width: 8}\n"
                           "data:\n  mean: [0.45, 4.5e-1, 1]\n"
                           "multigrid:\n  long_cycle_factors: [[2.5e-1, 5e-1], [1, 1]]\n")
    cfg = load_config(path, ["solver.final_lr=2.5e+2", "train.ema=9.99e-1", "solver.momentum=9E-1"])
    assert cfg.solver.final_lr == 250.0
    assert cfg.solver.weight_decay == 1e-4 and type(cfg.solver.weight_decay) is float
    assert cfg.solver.lr == 1e-3 and cfg.solver.warmup_start_lr == 0.005
    assert cfg.solver.momentum == 0.9 and cfg.train.ema == 0.999
    assert cfg.model.kwargs == {"dropout": 1e-5, "stem_kernel": {"x": 2e-3}, "width": 8}
    assert type(cfg.model.kwargs["width"]) is int
    assert cfg.data.mean == [0.45, 0.45, 1.0] and all(type(v) is float for v in cfg.data.mean)
    assert cfg.multigrid.long_cycle_factors == [[0.25, 0.5], [1.0, 1.0]]
    with pytest.raises(ConfigError, match=r"^solver\.final_lr: must be >= 0, got -250\.0$"):
        load_config(path, ["solver.final_lr=-2.5e+2"])  # parsed as a float, then range-checked
    # a quoted scientific string is still a number for a float field, and for a kwargs value
    cfg = from_dict({"solver": {"lr": "1e-4", "weight_decay": "1E-3"}, "model": {"kwargs": {"dropout": "5e-4", "norm": "e5"}}})
    assert cfg.solver.lr == 1e-4 and cfg.solver.weight_decay == 1e-3
    assert cfg.model.kwargs == {"dropout": 5e-4, "norm": "e5"}


def test_the_yaml_loader_does_not_change_pyyaml():
    # PyYAML's own safe loader still reads YAML 1.1 (1e-4 is a string there)
    assert yaml.safe_load("x: 1e-4") == {"x": "1e-4"}


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.batch_size=eight", "data.batch_size: expected an integer, got 'eight'"),
        ("data.batch_size=8.5", "data.batch_size: expected an integer, got 8.5"),
        ("solver.epochs=1.5", "solver.epochs: expected an integer, got 1.5"),
        ("data.num_frames=true", "data.num_frames: expected an integer, got true"),
        ("data.batch_size=[8]", "data.batch_size: expected an integer, got a list"),
        ("solver.lr=abc", "solver.lr: expected a number, got 'abc'"),
        ("solver.lr=true", "solver.lr: expected a number, got true"),
        ("data.flip=no", "data.flip: expected a number, got false"),
        ("train.tensorboard=maybe", "train.tensorboard: expected true or false, got 'maybe'"),
        ("train.tensorboard=2", "train.tensorboard: expected true or false, got 2"),
        ("data.train_scale=64", "data.train_scale: expected a list, got 64"),
        ("data.train_scale=[64, big]", "data.train_scale[1]: expected an integer, got 'big'"),
        ("data.train_scale=[64]", "data.train_scale: must have 2 values, got [64]"),
        ("data.mean=[0.5, x, 0.5]", "data.mean[1]: expected a number, got 'x'"),
        ("multigrid.long_cycle_factors=[[0.5, 1], 2]", "multigrid.long_cycle_factors[1]: expected a list, got 2"),
        ("multigrid.long_cycle_factors=[[0.5, a]]", "multigrid.long_cycle_factors[0][1]: expected a number, got 'a'"),
        ("model.kwargs=5", "model.kwargs: expected a mapping, got int"),
        ("model=5", "model: expected a mapping, got int"),
        ("data=[1, 2]", "data: expected a mapping, got list"),
        ("model.arch=", "model.arch: expected a string, got null"),
        # ranges and choices from the declarations
        ("data.batch_size=0", "data.batch_size: must be >= 1, got 0"),
        ("solver.epochs=0", "solver.epochs: must be >= 1, got 0"),
        ("solver.accumulate=0", "solver.accumulate: must be >= 1, got 0"),
        ("data.num_frames=0", "data.num_frames: must be >= 1, got 0"),
        ("data.sampling_rate=0", "data.sampling_rate: must be >= 1, got 0"),
        ("data.crop_size=0", "data.crop_size: must be >= 1, got 0"),
        ("data.num_workers=-1", "data.num_workers: must be >= 0, got -1"),
        ("data.max_bad_fraction=1.5", "data.max_bad_fraction: must be in [0, 1], got 1.5"),
        ("data.max_bad_fraction=-0.1", "data.max_bad_fraction: must be in [0, 1], got -0.1"),
        ("solver.lr=0", "solver.lr: must be > 0, got 0.0"),
        ("solver.lr=-1e-3", "solver.lr: must be > 0, got -0.001"),
        ("train.checkpoint_every=-1", "train.checkpoint_every: must be >= 0, got -1"),
        ("train.bn_batch=1", "train.bn_batch: must be >= 2, got 1"),
        ("solver.optimizer=adam", "solver.optimizer: must be sgd or adamw, got 'adam'"),
        ("solver.schedule=linear", "solver.schedule: must be cosine, steps or constant, got 'linear'"),
        ("train.amp=fp8", "train.amp: must be auto, off, bf16 or fp16, got 'fp8'"),
        ("data.modality=depth", "data.modality: must be rgb, flow, rgb_diff or rgb+flow, got 'depth'"),
        ("data.cache=disk", "data.cache: must be memory or none, got 'disk'"),
        ("data.test_crops=2", "data.test_crops: must be 1 or 3, got 2"),
        ("data.out_of_bound=wrap", "data.out_of_bound: must be error, repeat_last or loop, got 'wrap'"),
    ],
)
def test_every_refusal_is_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value) == message


def test_refusals_from_yaml_files_and_dicts(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.batch_size: expected an integer, got 'eight'$"):
        load_config(_yaml(tmp_path, "data:\n  batch_size: eight\n"))
    with pytest.raises(ConfigError, match=r"^model: expected a mapping, got int$"):
        load_config(_yaml(tmp_path, "model: 5\n"))
    path = _yaml(tmp_path, "- model\n- data\n", "list.yaml")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: expected a mapping, got list"
    with pytest.raises(ConfigError, match=r"^config: expected a mapping, got list$"):
        from_dict([1, 2])
    with pytest.raises(ConfigError, match=r"^data\.num_frames: expected an integer, got true$"):
        from_dict({"data": {"num_frames": True}})
    with pytest.raises(ConfigError, match=r"^train\.out_dir: expected a string, got 5$"):
        from_dict({"train": {"out_dir": 5}})
    with pytest.raises(ConfigError, match=r"^model\.arch: expected a string, got a mapping$"):
        load_config(_yaml(tmp_path, "model:\n  arch: {a: 1}\n"))
    with pytest.raises(ConfigError, match=r"^data\.flip: must be in \[0, 1\], got 2\.0$"):
        load_config(_yaml(tmp_path, "data: {flip: 2}\n"))


def test_int_float_and_bool_rules():
    cfg = from_dict({"data": {"batch_size": "16", "num_frames": 8.0, "crop_size": "1e2", "flip": 1},
                     "solver": {"epochs": 1e1, "lr": 1, "nesterov": "off"},
                     "train": {"tensorboard": 0, "progress": "Yes", "deterministic": "0", "log_steps": "on"}})
    assert (cfg.data.batch_size, cfg.data.num_frames, cfg.data.crop_size, cfg.solver.epochs) == (16, 8, 100, 10)
    assert all(type(v) is int for v in (cfg.data.batch_size, cfg.data.num_frames, cfg.data.crop_size, cfg.solver.epochs))
    assert cfg.data.flip == 1.0 and type(cfg.data.flip) is float and type(cfg.solver.lr) is float
    assert (cfg.solver.nesterov, cfg.train.tensorboard, cfg.train.progress, cfg.train.deterministic,
            cfg.train.log_steps) == (False, False, True, False, True)
    # YAML 1.1's words for booleans, in bool fields
    for word, want in (("yes", True), ("no", False), ("on", True), ("off", False), ("True", True), ("FALSE", False)):
        assert load_config(None, [f"train.sync_bn={word}"]).train.sync_bn is want


def test_string_fields_take_the_text(tmp_path):
    # YAML 1.1 reads `off` as false and `2024` as an int: a string field keeps what was written
    cfg = load_config(_yaml(tmp_path, "train:\n  amp: off\n  out_dir: 2024\n  device: cpu\n"
                                      "model:\n  arch: c2d_r10_tiny\n  init: null\n"))
    assert cfg.train.amp == "off" and cfg.train.out_dir == "2024"
    assert cfg.model.init is None
    cfg = load_config(None, ["train.amp=off", "train.out_dir=1e-4", "model.init=", "data.cache=none",
                             "train.device='cuda:0'"])
    assert cfg.train.amp == "off" and cfg.train.out_dir == "1e-4" and cfg.model.init is None
    assert cfg.data.cache == "none" and cfg.train.device == "cuda:0"
    assert from_dict({"train": {"out_dir": tmp_path}}).train.out_dir == str(tmp_path)  # a path is a string


def test_optional_fields_take_none():
    cfg = load_config(None, ["data.num_frames=8", "solver.clip_grad=1", "data.mean=[0.5, 0.5, 0.5]"])
    assert (cfg.data.num_frames, cfg.solver.clip_grad, cfg.data.mean) == (8, 1.0, [0.5, 0.5, 0.5])
    cfg = load_config(None, ["data.num_frames=null", "solver.clip_grad=~", "data.mean=", "model.init=null"])
    assert (cfg.data.num_frames, cfg.solver.clip_grad, cfg.data.mean, cfg.model.init) == (None, None, None, None)
    cfg = from_dict({"data": {"num_frames": "", "crop_size": None, "test_segments": "null"}})
    assert (cfg.data.num_frames, cfg.data.crop_size, cfg.data.test_segments) == (None, None, None)


def test_nested_lists_and_empty_sections(tmp_path):
    cfg = load_config(_yaml(tmp_path, "model:\nsolver:\n  steps: [3, 6]\n"
                                      "multigrid:\n  long_cycle_factors: [[0.25, 0.5], [1, 1]]\n"
                                      "  short_cycle_factors: [0.5, 1]\n"),
                      ["data.train_scale=[64, 80.0]"])
    assert cfg.model == ModelCfg()  # `model:` with nothing under it: the defaults
    assert cfg.solver.steps == [3.0, 6.0] and all(type(v) is float for v in cfg.solver.steps)
    assert cfg.multigrid.long_cycle_factors == [[0.25, 0.5], [1.0, 1.0]]
    assert all(type(v) is float for pair in cfg.multigrid.long_cycle_factors for v in pair)
    assert cfg.data.train_scale == [64, 80] and all(type(v) is int for v in cfg.data.train_scale)
    assert from_dict({"data": {"train_scale": (32, 36)}}).data.train_scale == [32, 36]  # a tuple is a list


def test_validate_checks_and_normalises_a_built_config():
    cfg = Config()
    cfg.data.batch_size = "4"
    validate(cfg)
    assert cfg.data.batch_size == 4
    cfg.solver.epochs = 0
    with pytest.raises(ConfigError, match=r"^solver\.epochs: must be >= 1, got 0$"):
        validate(cfg)


def test_dump_and_load_round_trip(tmp_path):
    cfg = load_config(None, ["solver.weight_decay=1e-5", "solver.lr=3e-4", "train.amp=off", "train.out_dir=1e-4",
                             "model.kwargs.dropout=1e-10", "model.kwargs.zero_init_final_bn=on", "data.train=/abs/train.csv",
                             "data.mean=[0.45, 0.45, 0.45]", "train.seed=2024", "train.time_budget=1e-9",
                             "solver.schedule=steps", "solver.steps=[3, 6]", "data.cache=memory"])
    dump_config(cfg, tmp_path / "dump.yaml")
    again = load_config(tmp_path / "dump.yaml")
    assert again == cfg
    assert again.train.out_dir == "1e-4" and again.model.kwargs["zero_init_final_bn"] is True
    default = Config()
    dump_config(default, tmp_path / "default.yaml")
    assert load_config(tmp_path / "default.yaml") == default


def test_schema_covers_every_field():
    rows = schema()
    assert all(len(r) == 5 for r in rows)
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    want = [f"{section.name}.{f.name}" for section in dataclasses.fields(Config)
            for f in dataclasses.fields(typing.get_type_hints(Config)[section.name])]
    assert keys == want
    by_key = {r.key: r for r in rows}
    assert by_key["data.batch_size"] == ("data.batch_size", "int", 8, ">= 1", "global batch (all processes together)")
    assert by_key["solver.optimizer"][1:4] == ("str", "sgd", "sgd | adamw")
    assert by_key["data.max_bad_fraction"][3] == "[0, 1]"
    assert by_key["solver.lr"][3] == "> 0"
    assert by_key["data.mean"][1:3] == ("list[float] | None", None)
    assert by_key["data.train_scale"][1:3] == ("list[int]", [256, 320])
    assert by_key["multigrid.long_cycle_factors"][1] == "list[list[float]]"
    assert by_key["model.kwargs"][1:3] == ("dict", {})
    assert all(r.help for r in rows), [r.key for r in rows if not r.help]
    # the schema's defaults are the config's
    cfg = Config()
    for r in rows:
        section, name = r.key.split(".")
        assert getattr(getattr(cfg, section), name) == r.default, r.key


def test_cli_train_bad_value_is_one_line_exit_2(tmp_path, capsys):
    from helpers import run_cli

    path = _yaml(tmp_path, "solver: {lr: 1e-3}\n")
    code, out, err = run_cli(["train", "--config", str(path), "data.batch_size=eight"], capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == ["vidlab: error: data.batch_size: expected an integer, got 'eight'"]


def test_model_kwargs_the_builder_sets_itself_are_refused_at_validation():
    """slowfast_r50_8x8 passes stage_blocks itself (its signature takes **kw): the config refuses the key
    with the builder's own reason, before any training starts; a key it does take still validates."""
    base = {"data": {"train": "a.csv"}}
    with pytest.raises(ConfigError, match="slowfast_r50_8x8 sets 'stage_blocks' itself"):
        from_dict({**base, "model": {"arch": "slowfast_r50_8x8", "kwargs": {"stage_blocks": [1, 1, 1, 1]}}})
    cfg = from_dict({**base, "model": {"arch": "slowfast_r50_8x8", "kwargs": {"dropout": 0.1}}})
    assert cfg.model.kwargs == {"dropout": 0.1}
