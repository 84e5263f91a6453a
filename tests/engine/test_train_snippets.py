"""`vidlab train` drives two-stream / TSN inputs (data.modality) like clip models."""

import pytest

from vidlab.engine.config import ConfigError, from_dict
from vidlab.engine.trainer import Trainer


def _cfg(tiny_synth, tmp_path, arch, **data):
    return from_dict({
        "model": {"arch": arch},
        "data": {"train": str(tiny_synth / "train.csv"), "test": str(tiny_synth / "test.csv"),
                 "labels": str(tiny_synth / "classes.txt"), "crop_size": 24, "train_scale": [28, 32],
                 "test_scale": 28, "flip": 0.0, "batch_size": 4, **data},
        "solver": {"lr": 0.01, "epochs": 1},
        "train": {"out_dir": str(tmp_path / arch), "progress": False, "tensorboard": False},
    })


@pytest.mark.parametrize("arch,data,shape", [
    ("tsn_r10_tiny_flow", {"modality": "flow", "num_segments": 2}, (2, 10, 24, 24)),
    ("tsn_r10_tiny_rgbdiff", {"modality": "rgb_diff", "num_segments": 2}, (3, 12, 24, 24)),
])
def test_tsn_trains_and_evaluates_from_videos(tiny_synth, tmp_path, arch, data, shape):
    tr = Trainer(_cfg(tiny_synth, tmp_path, arch, **data), log=lambda m: None)
    x, y, _ = tr.dataset("train")[0]
    assert tuple(x.shape) == shape  # K segments x L fields / frames, flow computed on the fly
    history = tr.fit()
    assert len(history) == 1 and history[0]["train_loss"] > 0
    res = tr.evaluate("test")
    assert res["scores"].shape == (10, 10)


def test_two_stream_takes_a_list_of_inputs(tiny_synth, tmp_path):
    tr = Trainer(_cfg(tiny_synth, tmp_path, "two_stream_r10_tiny", modality="rgb+flow", num_segments=1),
                 log=lambda m: None)
    rgb, flow = tr.dataset("train")[0][0]
    assert tuple(rgb.shape) == (3, 1, 24, 24) and tuple(flow.shape) == (2, 5, 24, 24)
    tr.cfg.solver.accumulate = 2  # micro-batches split both inputs alike
    assert len(tr.fit()) == 1
    assert tr.evaluate("test")["scores"].shape == (10, 10)


def test_bad_modality_or_stack_length_is_a_config_error(tiny_synth, tmp_path):
    with pytest.raises(ConfigError, match="modality"):
        Trainer(_cfg(tiny_synth, tmp_path, "tsn_r10_tiny", modality="depth"), log=lambda m: None)
    with pytest.raises(ConfigError, match="stacks 5"):
        Trainer(_cfg(tiny_synth, tmp_path, "tsn_r10_tiny_flow", modality="flow", new_length=3), log=lambda m: None)
