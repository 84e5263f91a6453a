"""The command line's error contract (issue 20), one table row per bad input.

For bad input every ``vidlab`` command prints exactly one non-empty line on stderr, starting with
``vidlab: error: ``, and exits with status 2: no traceback, no Rich boxes, nothing on stdout but what a
``--json`` run prints for partial results. Exit 1 only when some inputs failed and the others were done.
Usage errors (unknown option or command, a missing or bad option value) are one line too, and point at
``--help``. ``--debug`` / ``VIDLAB_DEBUG=1`` turn the line back into the traceback.

Every row is cheap: nothing is trained (a bad config fails at validation; the config's training list does
not exist, so even a config that passes validation stops there), no server is started.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch

from helpers import run_cli
from tests_paths import REAL, need_shared
from vidlab import models

PREFIX = "vidlab: error: "
BOX = ("╭", "│", "╰")
ARCH = "i3d_r10_tiny"


# --------------------------------------------------------------------------
# fixtures: a tiny checkpoint, a tiny config, and small bad files


class Env:
    """Paths the rows are built from (all under one module-scoped temporary folder)."""

    def __init__(self, root: Path):
        self.root = root

    def p(self, name: str) -> str:
        return str(self.root / name)

    @property
    def clip(self) -> str:
        """A short real clip (2.2 s, 640x480); skips the row when ../shared is absent."""
        return str(need_shared(REAL / "asl_gestures" / "no.mkv"))

    # paths that never exist
    @property
    def missing_ck(self) -> str:
        return self.p("missing_ck.safetensors")

    @property
    def out(self) -> str:
        return self.p("out_never_written")

    def train(self, *overrides: str, cfg: str | None = None) -> list[str]:
        return ["train", "--config", cfg or self.p("cfg.yaml"), *overrides]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("bad_input")
    e = Env(root)
    torch.manual_seed(0)
    model = models.build(ARCH, num_classes=3)
    ck = models.save(model, root / "ck", labels=["alpha", "beta", "gamma"],
                     preprocessing=models.get_spec(ARCH).preprocessing())
    assert Path(ck) == root / "ck.safetensors" and (root / "ck.json").is_file()
    # a garbage weights file with a good sidecar; good weights with a garbage sidecar
    (root / "garbage.safetensors").write_bytes(b"\x93NUMPY not safetensors" + bytes(range(256)) * 16)
    shutil.copy(root / "ck.json", root / "garbage.json")
    shutil.copy(ck, root / "badside.safetensors")
    (root / "badside.json").write_text('{"arch": "i3d_r10_tiny", "num_classes": 3,,, not json')

    # the config: a tiny model, a training list that does not exist (validation passes -> stops there)
    (root / "cfg.yaml").write_text(
        f"model:\n  arch: {ARCH}\n  num_classes: 3\n"
        "data:\n  train: missing_train.csv\n  batch_size: 2\n  num_frames: 4\n  crop_size: 32\n  train_scale: [32, 40]\n"
        "solver:\n  epochs: 1\n"
        f"train:\n  out_dir: {root / 'run'}\n  progress: false\n  tensorboard: false\n  device: cpu\n")
    (root / "model5.yaml").write_text("model: 5\ndata:\n  train: missing_train.csv\n")
    (root / "list.yaml").write_text("- model\n- data\n")
    (root / "broken.yaml").write_text("model: [unclosed\n")
    (root / "garbage.yaml").write_bytes(bytes(range(256)) * 8)
    (root / "lrfast.yaml").write_text("solver:\n  lr: fast\ndata:\n  train: missing_train.csv\n")
    (root / "cfgdir").mkdir()

    # video lists
    (root / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (root / "malformed.csv").write_text("a.mp4 0\nthis_line_has_no_label\n")
    (root / "label7.csv").write_text("a.mp4 7\n")
    (root / "good.csv").write_text("a.mp4 0\n")
    (root / "vdir").mkdir()
    (root / "droot").mkdir()

    # AVA files (one frame, one class)
    (root / "gt.csv").write_text("vid1,0902,0.1,0.1,0.5,0.5,1,0\n")
    (root / "det.csv").write_text("vid1,0902,0.1,0.1,0.5,0.5,1,0.9\n")
    (root / "labelmap.pbtxt").write_text('item {\n  name: "stand"\n  id: 1\n}\n')

    # a small image for the cartoon commands
    from PIL import Image

    Image.new("RGB", (32, 24), (200, 120, 40)).save(root / "good.png")
    return e


@pytest.fixture(autouse=True)
def _no_debug_no_server(monkeypatch):
    """No row may see VIDLAB_DEBUG from the outside, and none may start a server."""
    monkeypatch.delenv("VIDLAB_DEBUG", raising=False)
    try:
        import uvicorn
    except ImportError:
        return

    def _refuse(*a, **k):
        raise AssertionError("test_bad_input: `vidlab serve` got past validation and would start a server")

    monkeypatch.setattr(uvicorn, "run", _refuse)


# --------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class Row:
    id: str
    argv: Callable[[Env], list[str]]
    code: int = 2
    has: tuple[str, ...] = ()  # substrings the error line must contain
    usage: bool = False  # a usage error: the line also points at --help
    lacks: tuple[str, ...] = ()  # substrings the error line must not contain


def bad(id, argv, *has, usage=False, code=2, lacks=()):
    return Row(id, argv, code, tuple(has), usage, tuple(lacks))


def ok(id, argv, code=0):
    return Row(id, argv, code)


ROWS: list[Row] = [
    # ---- train: override values of the wrong type or out of range
    bad("train-batch_size=eight", lambda f: f.train("data.batch_size=eight"), "data.batch_size"),
    bad("train-epochs=1.5", lambda f: f.train("solver.epochs=1.5"), "solver.epochs"),
    bad("train-num_frames=true", lambda f: f.train("data.num_frames=true"), "data.num_frames"),
    bad("train-model=5", lambda f: f.train("model=5"), "model"),
    bad("train-yaml-model-5", lambda f: f.train(cfg=f.p("model5.yaml")), "model"),
    bad("train-yaml-top-level-list", lambda f: f.train(cfg=f.p("list.yaml")), "list.yaml"),
    bad("train-lr=-0.1", lambda f: f.train("solver.lr=-0.1"), "solver.lr"),
    bad("train-crop_size=-56", lambda f: f.train("data.crop_size=-56"), "data.crop_size"),
    bad("train-num_workers=-2", lambda f: f.train("data.num_workers=-2"), "data.num_workers"),
    bad("train-max_bad_fraction=-1", lambda f: f.train("data.max_bad_fraction=-1"), "data.max_bad_fraction"),
    bad("train-kwargs-bogus", lambda f: f.train("model.kwargs={bogus: 1}"),
        "model.kwargs: i3d_r10_tiny has no argument 'bogus'; it takes "),
    bad("train-num_frames=0", lambda f: f.train("data.num_frames=0"), "data.num_frames"),
    bad("train-sampling_rate=0", lambda f: f.train("data.sampling_rate=0"), "data.sampling_rate"),
    bad("train-checkpoint_every=-5", lambda f: f.train("train.checkpoint_every=-5"), "train.checkpoint_every"),
    bad("train-keep_resume=0", lambda f: f.train("train.keep_resume=0"), "train.keep_resume"),
    bad("train-time_budget=-1", lambda f: f.train("train.time_budget=-1"), "train.time_budget"),
    bad("train-cache_mb=0-memory", lambda f: f.train("data.cache=memory", "data.cache_mb=0"), "data.cache_mb"),
    bad("train-optimizer=adam", lambda f: f.train("solver.optimizer=adam"), "solver.optimizer"),
    bad("train-amp=maybe", lambda f: f.train("train.amp=maybe"), "train.amp"),
    bad("train-unknown-key-solver.lrr", lambda f: f.train("solver.lrr=0.1"), "unknown config key 'solver.lrr'"),
    bad("train-unknown-section", lambda f: f.train("nosuch.x=1"), "nosuch"),
    bad("train-override-without-=", lambda f: f.train("solver.lr"), "solver.lr"),
    bad("train-override-empty-value", lambda f: f.train("solver.lr="), "solver.lr"),
    bad("train-arch=nope", lambda f: f.train("model.arch=nope"), "nope"),
    bad("train-test_crops=2", lambda f: f.train("data.test_crops=2"), "data.test_crops"),
    bad("train-flip=2", lambda f: f.train("data.flip=2"), "data.flip"),
    bad("train-batch_size=0", lambda f: f.train("data.batch_size=0"), "data.batch_size"),
    bad("train-kwargs=5", lambda f: f.train("model.kwargs=5"), "model.kwargs"),
    # ---- train: the config file itself
    bad("train-config-missing", lambda f: f.train(cfg=f.p("missing.yaml")), "missing.yaml"),
    bad("train-config-binary", lambda f: f.train(cfg=f.p("garbage.yaml")), "garbage.yaml"),
    bad("train-config-invalid-yaml", lambda f: f.train(cfg=f.p("broken.yaml")), "broken.yaml"),
    bad("train-config-is-a-folder", lambda f: f.train(cfg=f.p("cfgdir")), "cfgdir"),
    bad("train-yaml-lr-fast", lambda f: f.train(cfg=f.p("lrfast.yaml")), "solver.lr"),
    # ---- train: usage
    bad("train-no-config", lambda f: ["train"], "--config", usage=True),
    bad("train-nproc=0", lambda f: f.train("--nproc", "0"), "--nproc", usage=True),
    # ---- train: valid values are accepted (validation passes; the run stops at the missing training list)
    bad("ok-train-lr=1e-3", lambda f: f.train("solver.lr=1e-3"), "missing_train.csv", lacks=("solver.lr",)),
    bad("ok-train-batch_size=8.0", lambda f: f.train("data.batch_size=8.0"), "missing_train.csv",
        lacks=("batch_size",)),
    bad("ok-train-adamw-amp-off", lambda f: f.train("solver.optimizer=adamw", "train.amp=off"),
        "missing_train.csv", lacks=("optimizer", "amp")),
    bad("ok-train-budget-keep", lambda f: f.train("train.time_budget=60", "train.keep_resume=1",
                                                   "train.checkpoint_every=0"), "missing_train.csv",
        lacks=("time_budget", "keep_resume", "checkpoint_every")),
    # ---- classify
    bad("classify-stride=-1", lambda f: ["classify", f.clip, "-c", f.p("ck.safetensors"), "--stride", "-1"], "--stride"),
    bad("classify-stride=0", lambda f: ["classify", f.clip, "-c", f.p("ck.safetensors"), "--stride", "0"], "--stride"),
    bad("classify-topk=0", lambda f: ["classify", f.clip, "-c", f.p("ck.safetensors"), "--topk", "0"], "--topk",
        usage=True),
    bad("classify-topk=abc", lambda f: ["classify", f.clip, "-c", f.p("ck.safetensors"), "--topk", "abc"], "--topk",
        usage=True),
    bad("classify-missing-video", lambda f: ["classify", f.p("nope.mp4"), "-c", f.p("ck.safetensors")], "nope.mp4"),
    bad("classify-missing-video-json", lambda f: ["classify", f.p("nope.mp4"), "-c", f.p("ck.safetensors"), "--json"],
        "nope.mp4"),
    bad("classify-video-is-a-folder", lambda f: ["classify", f.p("vdir"), "-c", f.p("ck.safetensors")], "vdir"),
    bad("classify-missing-checkpoint", lambda f: ["classify", f.p("nope.mp4"), "-c", f.missing_ck],
        "missing_ck.safetensors"),
    bad("classify-garbage-checkpoint", lambda f: ["classify", f.clip, "-c", f.p("garbage.safetensors")],
        "garbage.safetensors"),
    # the weights file carries its own document: a damaged sidecar is ignored, the checkpoint still loads
    ok("ok-classify-garbage-sidecar", lambda f: ["classify", f.clip, "-c", f.p("badside.safetensors")]),
    bad("classify-backend=nope", lambda f: ["classify", f.clip, "-c", f.p("ck.safetensors"), "--backend", "nope"],
        "nope"),
    bad("classify-unknown-option", lambda f: ["classify", "--nope"], "--nope", usage=True),
    bad("classify-no-videos", lambda f: ["classify", "-c", f.p("ck.safetensors")], "videos", usage=True),
    bad("classify-no-checkpoint", lambda f: ["classify", f.clip], "--checkpoint", usage=True),
    bad("classify-one-good-one-missing", lambda f: ["classify", f.clip, f.p("nope.mp4"), "-c", f.p("ck.safetensors"),
                                                    "--json"], "nope.mp4", code=1),
    ok("ok-classify-stride=0.5", lambda f: ["classify", f.clip, "-c", f.p("ck.safetensors"), "--stride", "0.5",
                                            "--topk", "2", "--json"]),
    # ---- eval
    bad("eval-list-binary", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("binary.csv")], "binary.csv"),
    bad("eval-views=0", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("good.csv"), "--views", "0"],
        "--views", usage=True),
    bad("eval-crops=2", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("good.csv"), "--crops", "2"],
        "--crops"),
    bad("eval-batch-size=0", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("good.csv"),
                                        "--batch-size", "0"], "--batch-size", usage=True),
    bad("eval-list-missing", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("missing.csv")],
        "missing.csv"),
    bad("eval-list-malformed-line", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("malformed.csv")],
        "malformed.csv"),
    bad("eval-list-label-out-of-range", lambda f: ["eval", "-c", f.p("ck.safetensors"), "--list", f.p("label7.csv")],
        "label7.csv"),
    bad("eval-missing-checkpoint", lambda f: ["eval", "-c", f.missing_ck, "--list", f.p("good.csv")],
        "missing_ck.safetensors"),
    bad("eval-no-list", lambda f: ["eval", "-c", f.p("ck.safetensors")], "--list", usage=True),
    # ---- top level, models, data
    bad("unknown-command", lambda f: ["nosuchcmd"], "nosuchcmd", usage=True),
    bad("models-unknown-option", lambda f: ["models", "--nope"], "--nope", usage=True),
    bad("data-unknown-command", lambda f: ["data", "nosuch"], "nosuch", usage=True),
    bad("data-synth-size=10", lambda f: ["data", "synth", "--out", f.out, "--size", "10"], "--size", usage=True),
    bad("data-synth-no-out", lambda f: ["data", "synth"], "--out", usage=True),
    bad("data-formats-unknown-option", lambda f: ["data", "formats", "--nope"], "--nope", usage=True),
    bad("data-stats-unknown-format", lambda f: ["data", "stats", "-f", "nosuchformat", "-a", f.p("gt.csv")],
        "nosuchformat"),
    bad("data-stats-missing-annotations", lambda f: ["data", "stats", "-f", "ucf101", "-a", f.p("missing_ann")],
        "missing_ann"),
    bad("data-stats-no-format", lambda f: ["data", "stats"], "--format", usage=True),
    bad("data-check-unknown-format", lambda f: ["data", "check", "-f", "nosuchformat", "--root", f.p("droot")],
        "nosuchformat"),
    bad("data-check-missing-root", lambda f: ["data", "check", "-f", "ucf101", "--root", f.p("missing_root")],
        "missing_root"),
    bad("data-check-decode=bogus", lambda f: ["data", "check", "-f", "ucf101", "--root", f.p("droot"),
                                              "--decode", "bogus"], "bogus"),
    bad("data-check-splits=bogus", lambda f: ["data", "check", "-f", "ucf101", "--root", f.p("droot"),
                                              "--splits", "bogus"], "--splits"),
    bad("data-check-max-bad-fraction=2", lambda f: ["data", "check", "-f", "ucf101", "--root", f.p("droot"),
                                                    "--max-bad-fraction", "2"], "--max-bad-fraction", usage=True),
    bad("data-prepare-missing-root", lambda f: ["data", "prepare", "-f", "ucf101", "--root", f.p("missing_root"),
                                                "--out", f.out], "missing_root"),
    bad("data-prepare-crf=99", lambda f: ["data", "prepare", "-f", "ucf101", "--root", f.p("droot"), "--out", f.out,
                                          "--crf", "99"], "--crf", usage=True),
    ok("ok-data-formats-json", lambda f: ["data", "formats", "--json"]),
    # ---- convert, inflate
    bad("convert-unknown-from", lambda f: ["convert", f.p("ck.safetensors"), f.out, "--from", "nosuchsource",
                                           "--arch", ARCH], "nosuchsource"),
    bad("convert-unknown-arch", lambda f: ["convert", f.p("ck.safetensors"), f.out, "--from", "pyslowfast",
                                           "--arch", "nosucharch"], "nosucharch"),
    bad("convert-missing-src", lambda f: ["convert", f.p("missing.pyth"), f.out, "--from", "pyslowfast",
                                          "--arch", "slow_r50_8x8"], "missing.pyth"),
    bad("convert-no-from", lambda f: ["convert", f.p("ck.safetensors"), f.out, "--arch", ARCH], "--from", usage=True),
    bad("inflate-mode=bogus", lambda f: ["inflate", f.p("ck.safetensors"), f.out, "--mode", "bogus"], "bogus"),
    bad("inflate-arch=nope", lambda f: ["inflate", f.p("ck.safetensors"), f.out, "--arch", "nosucharch"],
        "nosucharch"),
    bad("inflate-missing-src", lambda f: ["inflate", f.p("missing.pth"), f.out], "missing.pth"),
    # ---- flow
    bad("flow-method=bogus", lambda f: ["flow", f.clip, "-o", f.out, "--method", "bogus"], "bogus"),
    bad("flow-format=gif", lambda f: ["flow", f.clip, "-o", f.out, "--format", "gif"], "gif"),
    bad("flow-missing-video", lambda f: ["flow", f.p("nope.mp4"), "-o", f.out, "-m", "farneback"], "nope.mp4"),
    bad("flow-stride=0", lambda f: ["flow", f.clip, "-o", f.out, "--stride", "0"], "--stride", usage=True),
    # ---- eval-ava
    bad("eval-ava-missing-groundtruth", lambda f: ["eval-ava", "--groundtruth", f.p("missing_gt.csv"),
                                                   "--detections", f.p("det.csv"), "--labelmap", f.p("labelmap.pbtxt")],
        "missing_gt.csv"),
    bad("eval-ava-missing-detections", lambda f: ["eval-ava", "--groundtruth", f.p("gt.csv"),
                                                  "--detections", f.p("missing_det.csv"),
                                                  "--labelmap", f.p("labelmap.pbtxt")], "missing_det.csv"),
    bad("eval-ava-missing-labelmap", lambda f: ["eval-ava", "--groundtruth", f.p("gt.csv"), "--detections",
                                                f.p("det.csv"), "--labelmap", f.p("missing.pbtxt")], "missing.pbtxt"),
    bad("eval-ava-protocol=bogus", lambda f: ["eval-ava", "--groundtruth", f.p("gt.csv"), "--detections",
                                              f.p("det.csv"), "--labelmap", f.p("labelmap.pbtxt"),
                                              "--protocol", "bogus"], "bogus"),
    bad("eval-ava-no-groundtruth", lambda f: ["eval-ava", "--detections", f.p("det.csv"),
                                              "--labelmap", f.p("labelmap.pbtxt")], "--groundtruth", usage=True),
    ok("ok-eval-ava", lambda f: ["eval-ava", "--groundtruth", f.p("gt.csv"), "--detections", f.p("det.csv"),
                                 "--labelmap", f.p("labelmap.pbtxt"), "--json"]),
]

# ---- detect: the group (`detect run|train|eval|data`) and the forms before it (`detect VIDEO`, `detect-train`, ...)
for run in (["detect", "run"], ["detect"]):
    name = "-".join(run) + ("" if len(run) > 1 else "-old-form")
    ROWS += [
        bad(f"{name}-missing-video", lambda f, run=run: [*run, f.p("nope.mp4"), "-c", f.p("ck.safetensors")],
            "nope.mp4"),
        bad(f"{name}-missing-checkpoint", lambda f, run=run: [*run, f.clip, "-c", f.missing_ck],
            "missing_ck.safetensors"),
        bad(f"{name}-no-checkpoint", lambda f, run=run: [*run, f.clip], "--checkpoint", usage=True),
        bad(f"{name}-keyframe-interval=0", lambda f, run=run: [*run, f.clip, "-c", f.p("ck.safetensors"),
                                                                "--keyframe-interval", "0"], "--keyframe-interval",
            usage=True),
    ]
ROWS.append(bad("detect-unknown-option", lambda f: ["detect", "--nope"], "--nope", usage=True))
for new, old in ((["detect", "train"], ["detect-train"]), (["detect", "eval"], ["detect-eval"]),
                 (["detect", "data"], ["detect-data"])):
    for cmd in (new, old):
        name = "-".join(cmd) if cmd is new else f"alias-{cmd[0]}"
        if cmd[-1].endswith("train"):
            ROWS += [
                bad(f"{name}-epochs=0", lambda f, cmd=cmd: [*cmd, "--data", f.p("missing_det_set"), "--out", f.out,
                                                            "--epochs", "0"], "--epochs", usage=True),
                bad(f"{name}-missing-data", lambda f, cmd=cmd: [*cmd, "--data", f.p("missing_det_set"),
                                                                "--out", f.out], "missing_det_set"),
                bad(f"{name}-arch=nope", lambda f, cmd=cmd: [*cmd, "--data", f.p("missing_det_set"), "--out", f.out,
                                                             "--arch", "nosucharch"], "nosucharch"),
            ]
        elif cmd[-1].endswith("eval"):
            ROWS += [
                bad(f"{name}-missing-checkpoint", lambda f, cmd=cmd: [*cmd, "-c", f.missing_ck, "--data",
                                                                      f.p("droot"), "--out", f.out],
                    "missing_ck.safetensors"),
                bad(f"{name}-no-data", lambda f, cmd=cmd: [*cmd, "-c", f.p("ck.safetensors")], "--data", usage=True),
            ]
        else:
            ROWS += [
                bad(f"{name}-size=8", lambda f, cmd=cmd: [*cmd, "--out", f.out, "--size", "8"], "--size", usage=True),
                bad(f"{name}-test=0", lambda f, cmd=cmd: [*cmd, "--out", f.out, "--test", "0"], "--test", usage=True),
            ]

# ---- lfb
ROWS += [
    bad("lfb-build-missing-checkpoint", lambda f: ["lfb", "build", "-c", f.missing_ck, "--data", f.p("droot"),
                                                   "--out", f.out], "missing_ck.safetensors"),
    bad("lfb-build-no-checkpoint", lambda f: ["lfb", "build", "--data", f.p("droot"), "--out", f.out],
        "--checkpoint", usage=True),
    bad("lfb-train-fbo=bogus", lambda f: ["lfb", "train", "--bank", f.p("missing_bank"), "--data", f.p("droot"),
                                          "--out", f.out, "--fbo", "bogus"], "bogus"),
    bad("lfb-train-window=-1", lambda f: ["lfb", "train", "--bank", f.p("missing_bank"), "--data", f.p("droot"),
                                          "--out", f.out, "--window", "-1"], "--window", usage=True),
    bad("lfb-train-missing-bank", lambda f: ["lfb", "train", "--bank", f.p("missing_bank"), "--data", f.p("droot"),
                                             "--out", f.out], "missing_bank"),
    bad("lfb-unknown-command", lambda f: ["lfb", "nosuch"], "nosuch", usage=True),
]

# ---- cartoon: the group (`cartoon run|export`) and the old names (`cartoonize`, `cartoon-export`)
for run in (["cartoon", "run"], ["cartoonize"]):
    name = "-".join(run) if len(run) > 1 else f"alias-{run[0]}"
    ROWS += [
        bad(f"{name}-missing-input", lambda f, run=run: [*run, f.p("nope.png"), "-o", f.out], "nope.png"),
        bad(f"{name}-ext=gif", lambda f, run=run: [*run, f.p("good.png"), "-o", f.out, "--ext", "gif"], "gif"),
        bad(f"{name}-style=nope", lambda f, run=run: [*run, f.p("good.png"), "-o", f.out, "--style", "nosuchstyle"],
            "nosuchstyle"),
        bad(f"{name}-batch=0", lambda f, run=run: [*run, f.p("good.png"), "-o", f.out, "--batch", "0"], "--batch",
            usage=True),
        bad(f"{name}-one-good-one-missing", lambda f, run=run: [*run, f.p("good.png"), f.p("nope.png"),
                                                                "-o", f.p(f"cartoon_out_{run[-1]}"), "--json"],
            "nope.png", code=1),
    ]
ROWS.append(ok("ok-cartoon-run", lambda f: ["cartoon", "run", f.p("good.png"), "-o", f.p("cartoon_ok"), "--json"]))
for exp in (["cartoon", "export"], ["cartoon-export"]):
    name = "-".join(exp) if len(exp) > 1 else f"alias-{exp[0]}"
    ROWS += [
        bad(f"{name}-format-gif", lambda f, exp=exp: [*exp, f.p("cartoon.gif"), "--fixture-weights"], "cartoon.gif"),
        bad(f"{name}-size=abc", lambda f, exp=exp: [*exp, f.p("cartoon.pte"), "--fixture-weights", "--size", "abc"],
            "--size"),
        bad(f"{name}-no-out", lambda f, exp=exp: [*exp, "--fixture-weights"], "out", usage=True),
    ]

# ---- compress, export, bench
ROWS += [
    bad("compress-method=bogus", lambda f: ["compress", f.p("ck.safetensors"), "-m", "bogus", "-o", f.out], "bogus"),
    bad("compress-missing-checkpoint", lambda f: ["compress", f.missing_ck, "-m", "fp16", "-o", f.out],
        "missing_ck.safetensors"),
    bad("compress-int8-static-no-calib", lambda f: ["compress", f.p("ck.safetensors"), "-m", "int8-static",
                                                    "-o", f.out], "--calib"),
    bad("compress-sparsity=1.5", lambda f: ["compress", f.p("ck.safetensors"), "-m", "prune", "-o", f.out,
                                            "--sparsity", "1.5"], "--sparsity", usage=True),
    bad("compress-no-out", lambda f: ["compress", f.p("ck.safetensors"), "-m", "fp16"], "--out", usage=True),
    bad("export-format=bogus", lambda f: ["export", f.p("ck.safetensors"), "-f", "bogus", "-o", f.p("x.bin")],
        "bogus"),
    bad("export-missing-checkpoint", lambda f: ["export", f.missing_ck, "-o", f.p("x.onnx")],
        "missing_ck.safetensors"),
    bad("export-input=1,2", lambda f: ["export", f.p("ck.safetensors"), "-o", f.p("x.onnx"), "--input", "1,2"],
        "--input"),
    bad("bench-missing-checkpoint", lambda f: ["bench", f.missing_ck], "missing_ck.safetensors"),
    bad("bench-iters=0", lambda f: ["bench", f.p("ck.safetensors"), "--iters", "0"], "--iters", usage=True),
    bad("bench-input=abc", lambda f: ["bench", f.p("ck.safetensors"), "--input", "abc", "--iters", "1"], "--input"),
    # ---- serve, stream
    bad("serve-port=-1", lambda f: ["serve", "--port", "-1"], "--port", usage=True),
    bad("serve-port=70000", lambda f: ["serve", "--port", "70000"], "--port", usage=True),
    bad("serve-workers=0", lambda f: ["serve", "--workers", "0"], "--workers", usage=True),
    bad("serve-missing-checkpoint", lambda f: ["serve", "--port", "0", "-c", f.missing_ck], "missing_ck.safetensors"),
    bad("stream-missing-source", lambda f: ["stream", f.p("nope.mp4"), "-c", f.p("ck.safetensors")], "nope.mp4"),
    bad("stream-missing-checkpoint", lambda f: ["stream", f.clip, "-c", f.missing_ck], "missing_ck.safetensors"),
    bad("stream-smooth=0", lambda f: ["stream", f.clip, "-c", f.p("ck.safetensors"), "--smooth", "0"], "--smooth",
        usage=True),
]

# ---- long videos (features, eval-tal) and explain
ROWS += [
    bad("features-missing-video", lambda f: ["features", f.p("nope.mp4"), "-c", f.p("ck.safetensors"),
                                             "--window", "4", "--stride", "4", "--out", f.out], "nope.mp4"),
    bad("features-missing-checkpoint", lambda f: ["features", f.clip, "-c", f.missing_ck, "--window", "4",
                                                  "--stride", "4", "--out", f.out], "missing_ck.safetensors"),
    bad("features-stride=0", lambda f: ["features", f.clip, "-c", f.p("ck.safetensors"), "--window", "4",
                                        "--stride", "0", "--out", f.out], "--stride", usage=True),
    bad("features-preset=bogus", lambda f: ["features", f.clip, "-c", f.p("ck.safetensors"), "--preset", "bogus",
                                            "--out", f.out], "bogus", usage=True),
    bad("eval-tal-missing-groundtruth", lambda f: ["eval-tal", "--groundtruth", f.p("nope.json"), "--predictions",
                                                   f.p("det.csv")], "nope.json"),
    bad("eval-tal-binary-groundtruth", lambda f: ["eval-tal", "--groundtruth", f.p("binary.csv"), "--predictions",
                                                  f.p("binary.csv")], "binary.csv"),
    bad("eval-tal-tiou=abc", lambda f: ["eval-tal", "--groundtruth", f.p("gt.csv"), "--predictions", f.p("det.csv"),
                                        "--tiou", "abc"], "abc"),
    bad("tal-train-groundtruth-not-json", lambda f: ["tal", "train", "--features", f.p("nope_dir"), "--groundtruth",
                                                     f.p("gt.csv"), "--out", f.out], "gt.csv", "not valid JSON"),
    bad("tal-train-epochs=0", lambda f: ["tal", "train", "--features", f.p("vdir"), "--groundtruth", f.p("gt.csv"),
                                         "--out", f.out, "--epochs", "0"], "--epochs", usage=True),
    bad("tal-detect-not-a-checkpoint", lambda f: ["tal", "detect", "-c", f.p("vdir"), "--features", f.p("vdir"),
                                                  "--out", f.p("r.json")], "vdir"),
    bad("tal-eval-not-a-checkpoint", lambda f: ["tal", "eval", "-c", f.p("vdir"), "--features", f.p("vdir"),
                                                "--groundtruth", f.p("nope.json")], "vdir", "not an ActionFormer"),
    bad("explain-missing-video", lambda f: ["explain", f.p("nope.mp4"), "-c", f.p("ck.safetensors"), "--out", f.out],
        "nope.mp4"),
    bad("explain-layer=bogus", lambda f: ["explain", f.clip, "-c", f.p("ck.safetensors"), "--layer", "bogus",
                                          "--out", f.out], "bogus"),
    bad("explain-class=bogus", lambda f: ["explain", f.clip, "-c", f.p("ck.safetensors"), "--class", "bogus",
                                          "--out", f.out], "bogus"),
]

assert len({r.id for r in ROWS}) == len(ROWS), "row ids must be unique"


# --------------------------------------------------------------------------
# the checks


def _show(argv, code, out, err) -> str:
    return (f"\n$ vidlab {' '.join(argv)}\nexit status {code}\n--- stderr ---\n{err[-3000:]}"
            f"\n--- stdout ---\n{out[-1000:]}")


def _check_stdout(argv, code, out, err) -> None:
    if "--json" in argv:
        if out.strip():
            try:
                json.loads(out)
            except ValueError:
                pytest.fail("stdout of a --json run is not one JSON document" + _show(argv, code, out, err))
    elif code == 2:
        assert out.strip() == "", "bad input printed on stdout" + _show(argv, code, out, err)


def _run(argv, capsys):
    try:
        return run_cli(argv, capsys)
    except Exception as e:  # noqa: BLE001  (readable failure: the exception escaped main())
        out, err = capsys.readouterr()
        pytest.fail(f"main() raised {type(e).__name__}: {e}" + _show(argv, "(none)", out, err))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_cli_error_contract(row: Row, env: Env, capsys):
    argv = row.argv(env)
    code, out, err = _run(argv, capsys)
    shown = _show(argv, code, out, err)
    assert code == row.code, f"expected exit status {row.code}" + shown
    assert "Traceback" not in err, "traceback on stderr" + shown
    assert not any(ch in err or ch in out for ch in BOX), "Rich box drawing in the output" + shown
    _check_stdout(argv, code, out, err)
    if row.code == 0:
        assert PREFIX not in err, "an error line for valid input" + shown
        return
    if row.code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}" + shown
    else:  # 1: some inputs failed, the others were done (progress on stderr is allowed)
        lines = [ln for ln in err.splitlines() if PREFIX in ln]
        assert len(lines) == 1, f"expected exactly one error line, got {len(lines)}" + shown
        assert "--json" not in argv or len(json.loads(out)) == 2, shown
    line = lines[0]
    assert line.startswith(PREFIX), f"the line does not start with {PREFIX!r}" + shown
    assert line[len(PREFIX):].strip(), "empty error message" + shown
    assert "unexpected" not in line and "(a bug" not in line, "bad input reported as an internal error" + shown
    for s in row.has:
        assert s in line, f"the error line does not mention {s!r}" + shown
    for s in row.lacks:
        assert s not in line, f"the error line mentions {s!r} (a valid value was refused?)" + shown
    if row.usage:
        assert "--help" in line, "a usage error without a pointer to --help" + shown


def test_the_table_is_large_enough():
    assert len(ROWS) >= 66


# --------------------------------------------------------------------------
# --debug / VIDLAB_DEBUG=1: the traceback instead of the line


@pytest.mark.parametrize("how", ["flag-first", "flag-after-command", "env"])
def test_debug_shows_the_traceback(how, env, capsys, monkeypatch):
    argv = env.train("data.batch_size=eight")
    if how == "flag-first":
        argv = ["--debug", *argv]
    elif how == "flag-after-command":
        argv = [argv[0], "--debug", *argv[1:]]
    else:
        monkeypatch.setenv("VIDLAB_DEBUG", "1")
    try:
        code, out, err = run_cli(argv, capsys)
    except Exception as e:  # noqa: BLE001  (the exception let through: pytest shows its traceback)
        assert "data.batch_size" in str(e)
        return
    assert code != 0, _show(argv, code, out, err)
    assert "Traceback" in err and "data.batch_size" in err, "no traceback under --debug" + _show(argv, code, out, err)


@pytest.mark.parametrize("value", ["0", ""])
def test_debug_env_off_keeps_the_one_line(value, env, capsys, monkeypatch):
    monkeypatch.setenv("VIDLAB_DEBUG", value)
    argv = env.train("data.batch_size=eight")
    code, out, err = _run(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(PREFIX), _show(argv, code, out, err)


# --------------------------------------------------------------------------
# train --help-config: every config key with its default and range


def test_train_help_config_lists_every_key_with_its_range(capsys):
    from vidlab.engine.config import schema

    code, out, err = _run(["train", "--help-config"], capsys)
    assert code == 0, _show(["train", "--help-config"], code, out, err)
    assert "Traceback" not in err and PREFIX not in err
    rows = {r.key: r for r in schema()}
    missing = [k for k in rows if k not in out]
    assert not missing, f"keys not listed: {missing}"
    line = next((ln for ln in out.splitlines() if "data.batch_size" in ln), "")
    assert rows["data.batch_size"].range in line and str(rows["data.batch_size"].default) in line, line
    assert rows["data.batch_size"].range == ">= 1"
