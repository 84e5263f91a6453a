"""`vidlab finetune --model NAME` on the shared real KTH clips, from a checkpoint served by a loopback hub."""

from __future__ import annotations

import json

from helpers import run_cli
from tests_paths import REAL

ARCH = "i3d_r10_tiny"  # the published entry of tests/hub/conftest.py


def test_finetune_real_kth_from_the_loopback_hub(published, server, tmp_path, capsys):
    kth = REAL / "kth"
    out = tmp_path / "ft"
    argv = ["finetune", str(kth), "--model", ARCH, "--weights", "test", "--out", str(out), "--epochs", "2",
            "--frames", "8", "--sampling-rate", "4", "--crop", "56", "--batch-size", "4", "--test-fraction", "0.3",
            "--val-fraction", "0", "--json"]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    s = json.loads(stdout)
    assert s["classes"] == ["boxing", "handwaving", "jogging", "running", "walking"]  # annotations/ is no class
    assert "grouped by kth" in s["split"] and s["from"].startswith(f"{ARCH}.test")
    splits = json.loads((out / "data" / "splits.json").read_text())
    people = {k: {v["group"] for v in vids} for k, vids in splits.items()}
    assert not people["train"] & people["test"]  # a person is in one split only
    assert sum(len(v) for v in splits.values()) == 15 and splits["test"]
    assert s["evaluated_on"] == "test" and s["top1"] is not None
    assert len(server.gets()) >= 1
    # the fine-tuned checkpoint classifies a real clip with the new labels
    clip = kth / "boxing" / "person02_boxing_d4_uncomp.avi"
    code, stdout, err = run_cli(["classify", str(clip), "--checkpoint", s["checkpoint"], "--json"], capsys)
    assert code == 0, err
    assert json.dumps(json.loads(stdout)).count("boxing") >= 1
    # a second fine-tune asks the hub for nothing: the converted checkpoint is cached
    before = len(server.requests)
    code, _, err = run_cli(argv[:7] + [str(tmp_path / "ft2")] + argv[8:], capsys)
    assert code == 0, err
    assert len(server.requests) == before
