"""The `vidlab` command line: thin layers over the Python API.

Every command prints progress on stderr, results on stdout (``--json`` for
scripts), and reports bad input as one ``vidlab: error: ...`` line on stderr
with exit status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from vidlab.apps.clitools import click_errors
from vidlab.apps.output import EXIT_BAD_INPUT, error, log, print_json

app = typer.Typer(
    name="vidlab",
    help="Human action recognition in video: train, evaluate, classify, convert and compress models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error instead of its one line "
                               "(also VIDLAB_DEBUG=1); accepted anywhere on the line."),
):
    """Human action recognition in video: train, evaluate, classify, convert and compress models.

    Results go to stdout (--json: one JSON document), progress to stderr. Bad input is one
    'vidlab: error: ...' line on stderr and exit status 2 (1: some inputs failed, the others were done).
    """


data_app = typer.Typer(help="Datasets: generate the synthetic set, inspect annotation files.", no_args_is_help=True)
app.add_typer(data_app, name="data")


# --------------------------------------------------------------------------
@app.command()
def demo(
    out: Path = typer.Option(Path("vidlab_demo"), "--out", help="Output folder (data, runs, report, checkpoint)."),
    minutes: float = typer.Option(5.0, "--minutes", min=0.5, help="Time budget; training stops early to stay inside it."),
    epochs: int = typer.Option(18, "--epochs", min=1, help="Training epochs per model (fewer if --minutes is tight)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the data and the training."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as one JSON object on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars (there are none when stderr is not a "
                               "terminal)."),
):
    """Generate the synthetic action set, train an order-blind baseline and a temporal
    model, evaluate both and write a report, an annotated video and a checkpoint."""
    from vidlab.apps.demo import run_demo

    res = run_demo(out, minutes=minutes, seed=seed, epochs=epochs, progress=not quiet and sys.stderr.isatty(),
                   log=log)
    if as_json:
        print_json(res)
        return
    b, t = res["baseline"], res["temporal"]
    print(f"baseline  {b['arch']:<14} test top-1 {b['top1']:.3f}  (order-blind: chance within each time-reversed pair)")
    print(f"temporal  {t['arch']:<14} test top-1 {t['top1']:.3f}")
    print(f"report      {res['report']}")
    print(f"checkpoint  {res['checkpoint']}")
    print(f"video       {res['annotated_video']}")
    print(f"done in {res['seconds']:.0f} s")


# --------------------------------------------------------------------------
@app.command()
def classify(
    videos: List[Path] = typer.Argument(..., help="Video files (any format FFmpeg reads: mp4, avi, mkv, webm, gif...)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="vidlab checkpoint (.safetensors with its .json)."),
    model_name: Optional[str] = typer.Option(None, "--model", help="A published checkpoint instead of --checkpoint: "
                                             "an architecture or hub entry (`vidlab hub list`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
    topk: int = typer.Option(5, "--topk", "-k", min=1, help="How many classes to report."),
    stride: Optional[float] = typer.Option(None, "--stride", help="Seconds between window starts (default: one clip span)."),
    backend: str = typer.Option("pyav", "--backend", help="Decoder: pyav, torchcodec or auto."),
    fast: bool = typer.Option(True, "--fast/--no-fast",
                              help="CPU fast path: BatchNorm folded into convolutions, inference mode, oneDNN."),
    compile_: bool = typer.Option(False, "--compile",
                                  help="Compile the model with torch.compile (TorchInductor, frozen weights): the "
                                       "fastest fp32 path for long videos or many files; the first window pays a "
                                       "compilation of seconds to a minute."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per video."),
    segments: bool = typer.Option(False, "--segments", help="Also localize: runs of windows where a class's "
                                  "smoothed probability exceeds --threshold become segments (a baseline for "
                                  "temporal localization; vidlab.localize.segments states the rules)."),
    smooth_k: int = typer.Option(1, "--smooth", min=1, help="With --segments: moving average over this many "
                                 "windows (centred, truncated at the ends)."),
    threshold: float = typer.Option(0.5, "--threshold", help="With --segments: a window belongs to a class's "
                                    "segment where its smoothed probability is above this (in [0, 1))."),
    segments_out: Optional[Path] = typer.Option(None, "--segments-out", help="With --segments: write them in the "
                                                "ActivityNet challenge format (video id = file stem; `vidlab "
                                                "eval-tal` scores it)."),
):
    """Classify videos with sliding windows: per-window and whole-video top-k (--segments: and labelled
    segments, from the per-window probabilities).

    Scores are softmax probabilities averaged over the windows; a multi-label checkpoint's (its sidecar's
    preprocessing.multi_label, e.g. Charades) are per-class sigmoids, the video's the max over the windows.
    The output names the activation (JSON: "activation")."""
    from tqdm.auto import tqdm

    from vidlab import models
    from vidlab.engine.inference import classify_video
    from vidlab.errors import VidlabError

    if stride is not None and not stride > 0:
        raise typer.BadParameter(f"must be > 0 seconds, got {stride:g}", param_hint="'--stride'")
    _check_backend(backend)
    if not segments and (segments_out is not None or smooth_k != 1 or threshold != 0.5):
        raise typer.BadParameter("--smooth, --threshold and --segments-out go with --segments",
                                 param_hint="'--segments'")
    if not 0 <= threshold < 1:
        raise typer.BadParameter(f"must be in [0, 1), got {threshold:g}", param_hint="'--threshold'")
    from vidlab.apps.cli_hub import checkpoint_for

    model = models.load(checkpoint_for(checkpoint, model_name, weights))  # also int8 / pruned (`vidlab compress`)
    if compile_:
        from vidlab.compress import compile_for_cpu

        model = compile_for_cpu(model)
    elif fast:
        from vidlab.compress import optimize_for_inference

        model = optimize_for_inference(model)
    results, failed = [], 0
    for v in videos:
        bars = []  # made on the first decoded chunk, so a file that fails to open prints only its error line

        def advance(done: int, total: int, bars=bars, name=Path(v).name[:40]) -> None:
            if not bars:
                bars.append(tqdm(total=total, desc=name, unit="window", leave=False, file=sys.stderr,
                                 dynamic_ncols=True, disable=None))  # a bar on a terminal only
            bars[0].update(done - bars[0].n)

        try:
            # --segments needs every class's probability per window: all classes, trimmed to --topk below
            res = classify_video(model, str(v), topk=10**9 if segments else topk, stride=stride, backend=backend,
                                 on_window=advance)
        except VidlabError as e:
            for b in bars:
                b.close()
            error(str(e))
            failed += 1
            results.append({"video": str(v), "error": str(e)})
            continue
        for b in bars:
            b.close()
        if segments:
            _add_segments(res, topk, smooth_k, threshold)
        results.append(res)
        if not as_json:
            tops = ", ".join(f"{t['label']} {t['score']:.3f}" for t in res["top"])
            how = "sigmoid, max" if res["activation"] == "sigmoid" else "softmax, mean"
            print(f"{v}: {tops}  ({how} over {len(res['windows'])} windows, {res['duration']:.1f} s)")
            for d in res.get("segments", []):
                print(f"  {d['segment'][0]:8.2f} {d['segment'][1]:8.2f}  {d['label']}  {d['score']:.3f}")
    if segments_out is not None:
        import json

        from vidlab.localize.segments import challenge_format
        from vidlab.models.checkpoint import atomic_write_bytes

        doc = challenge_format({Path(r["video"]).stem: r["segments"] for r in results if "segments" in r})
        segments_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(segments_out, (json.dumps(doc) + "\n").encode())
    if as_json:
        print_json(results)
    if failed:  # 2: no video could be classified; 1: some failed, the others were done
        raise typer.Exit(EXIT_BAD_INPUT if failed == len(videos) else 1)


def _add_segments(res: dict, topk: int, k: int, threshold: float) -> None:
    """``res["segments"]`` from the windows' probabilities (every class's, as classify_video returned
    them), then every top list trimmed to ``topk``."""
    import numpy as np

    from vidlab.localize.segments import probs_to_segments

    wins = res["windows"]
    labels: dict[int, str] = {t["index"]: t["label"] for t in res["top"]}
    probs = np.zeros((len(wins), max(labels) + 1))
    for i, w in enumerate(wins):
        for t in w["top"]:
            probs[i, t["index"]] = t["score"]
    res["segments"] = probs_to_segments(probs, [w["start_sec"] for w in wins], [w["end_sec"] for w in wins],
                                        threshold=threshold, k=k,
                                        labels=[labels.get(i, str(i)) for i in range(probs.shape[1])])
    res["top"] = res["top"][:topk]
    for w in wins:
        w["top"] = w["top"][:topk]


# --------------------------------------------------------------------------
@app.command(context_settings={"allow_extra_args": False})
def train(
    config: Path = typer.Option(..., "--config", help="YAML config (see configs/)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, e.g. solver.lr=0.05 data.batch_size=8"),
    resume: bool = typer.Option(False, "--resume", help="Continue exactly from the newest resume point in out_dir."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Processes on this machine (starts torchrun; gloo on CPU, NCCL on GPU)."),
    as_json: bool = typer.Option(False, "--json", help="Print the history and test results as JSON."),
    help_config: bool = typer.Option(False, "--help-config", is_eager=True, expose_value=False,
                                     callback=lambda v: _print_config_help(v),
                                     help="List every config key with its type, default, range and meaning, "
                                          "and exit."),
):
    """Train a model; checkpoints and TensorBoard logs go to train.out_dir.

    The config is YAML; every key (`vidlab train --help-config`) has a declared type and
    range, and a value that does not fit is refused with one line naming the key.

    Several processes or machines: `--nproc N` here, or launch this command
    under torchrun yourself (`torchrun --nnodes 2 --nproc_per_node 4 ... -m vidlab train --config ...`).
    data.batch_size is the global batch.
    """
    from vidlab.engine import distributed as dist
    from vidlab.engine.config import load_config
    from vidlab.engine.trainer import Trainer, TrainingInterrupted

    cfg = load_config(config, overrides)  # validate before spawning anything
    if nproc > 1 and dist.env_info().world_size == 1:
        _spawn_torchrun(nproc, config, overrides or [], resume, as_json)
        return
    trainer = Trainer(cfg, log=log)
    try:
        history = trainer.fit(resume=resume)
        out = {"history": history, "checkpoint": str(trainer.ckpt_dir / "last.safetensors")}
        res = None
        if cfg.data.test:
            res = trainer.evaluate("test")
            out["test"] = {k: res[k] for k in ("top1", "top5", "mean_class_accuracy", "clip_top1", "num_videos")}
        if trainer.dist.is_main:
            out["report"] = str(_train_report(trainer, history, res))
    except TrainingInterrupted as e:
        error(str(e))
        dist.shutdown()
        raise typer.Exit(143) from None
    dist.shutdown()
    if not trainer.dist.is_main:
        return
    if as_json:
        print_json(out)
    else:
        if "test" in out:
            t = out["test"]
            print(f"test top-1 {t['top1']:.4f}  top-5 {t['top5']:.4f}  mean class {t['mean_class_accuracy']:.4f}")
        print(f"checkpoint {out['checkpoint']}")
        print(f"report {out['report']}")


def _train_report(trainer, history: list[dict], test: dict | None) -> Path:
    """``out_dir/report.html``: curves, and the test split's (else the last validation's) scores."""
    from vidlab.evaluation.report import training_report

    cfg = trainer.cfg
    result, split = (test, "test") if test is not None else (trainer.last_validation, "validation")
    epochs = len(history)
    intro = (f"{cfg.model.arch} ({sum(p.numel() for p in trainer.model.parameters()):,} parameters) trained for "
             f"{epochs} epoch{'s' if epochs != 1 else ''} on {trainer.num_classes} classes "
             f"({cfg.solver.optimizer}, peak lr {cfg.solver.lr:g}, {cfg.solver.schedule} schedule, batch "
             f"{cfg.data.batch_size}); clips of {trainer.num_frames} frames every {trainer.sampling_rate}, crop "
             f"{trainer.crop_size}.")
    return training_report(trainer.out_dir, title=f"vidlab train: {cfg.model.arch}", intro=intro,
                           histories={cfg.model.arch: history}, result=result, classes=trainer.labels,
                           scored_on=split if result is not None else None,
                           bullets=[f"checkpoints: {trainer.ckpt_dir} (last, best)",
                                    f"TensorBoard: tensorboard --logdir {trainer.out_dir / 'tb'} (loss, lr, "
                                    "validation top-1, per-class accuracy, confusion matrix)",
                                    f"the resolved config: {trainer.out_dir / 'config.yaml'}"])


def _check_backend(backend: str) -> None:
    from vidlab.io.video import BACKENDS as backends

    if backend not in backends:
        raise typer.BadParameter(f"must be {', '.join(backends[:-1])} or {backends[-1]}, got {backend!r}",
                                 param_hint="'--backend'")


def _print_config_help(value: bool) -> None:
    if value:
        from vidlab.engine.config import schema_text

        sys.stdout.write(schema_text())
        raise typer.Exit()


def _spawn_torchrun(nproc: int, config: Path, overrides: list[str], resume: bool, as_json: bool) -> None:
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "vidlab", "train", "--config", str(config), *overrides]
    if resume:
        cmd.append("--resume")
    if as_json:
        cmd.append("--json")
    log("launching: " + " ".join(cmd[2:]))
    code = subprocess.call(cmd)
    if code:
        raise typer.Exit(code)


@app.command("eval")
def evaluate(
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="vidlab checkpoint to evaluate."),
    model_name: Optional[str] = typer.Option(None, "--model", help="A published checkpoint instead of --checkpoint: "
                                             "an architecture or hub entry (`vidlab hub list`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
    video_list: Path = typer.Option(..., "--list", help="Video list ('path label' per line)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Folder the list's relative paths start from."),
    views: Optional[int] = typer.Option(None, "--views", min=1, help="Temporal views per video (default 1; "
                                        "--protocol source: the source's, e.g. 10)."),
    crops: Optional[int] = typer.Option(None, "--crops", help="Spatial crops per view, 1 or 3 (default 1; "
                                        "--protocol source: the source's, e.g. 3)."),
    protocol: str = typer.Option("vidlab", "--protocol", help="vidlab (global pooling at the checkpoint's test "
                                 "scale) or source: the test protocol of the checkpoint's source (PySlowFast, "
                                 "PyTorchVideo: 10 x 3 views, short side = crop = the test crop, the fully "
                                 "convolutional head; MMAction2: its family's config, e.g. 10 clips x 3 crops at "
                                 "256 (VideoMAE 5, Swin 4 clips at 224; X3D at 30 fps; C3D 1 crop of 112), "
                                 "SampleFrames test-mode clips at the video's frame rate, global pooling; "
                                 "PySlowFast/PyTorchVideo SSv2: one frame per segment; Charades: max of the "
                                 "sigmoids over the views, mAP)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    out: Optional[Path] = typer.Option(None, "--out", help="Write a report (Markdown/HTML + confusion matrix) here."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
):
    """Evaluate a checkpoint on a video list: clip/video top-1/top-5, mean-class accuracy.

    --protocol source scores a converted zoo checkpoint the way its source did, so it reproduces the
    published number: PySlowFast (softmax at every position of the sliding head, then the mean),
    PyTorchVideo (mean of the per-position logits) or MMAction2 (its config's test pipeline: SampleFrames
    test-mode clips, Resize + ThreeCrop, global pooling, softmax averaged over the views); SSv2 and Charades
    checkpoints of PySlowFast/PyTorchVideo get their data set's frame sampling. A multi-label checkpoint
    (Charades) is scored by mAP, its views combined by the max of the sigmoids."""
    from vidlab.apps.cli_hub import checkpoint_for
    from vidlab.apps.evaluate import run_eval

    if protocol not in ("vidlab", "source"):
        raise typer.BadParameter(f"must be vidlab or source, got {protocol!r}", param_hint="'--protocol'")
    res = run_eval(checkpoint_for(checkpoint, model_name, weights), video_list, root=root, views=views, crops=crops,
                   batch_size=batch_size, out=out, protocol=protocol)
    if as_json:
        print_json(res)
    elif res.get("multi_label"):
        print(f"videos {res['num_videos']}  mAP {res['mAP']:.4f}  clip mAP {res['clip_mAP']:.4f}  "
              f"hit@1 {res['hit@1']:.4f}  ({res['classes_with_positives']} classes with a positive video)")
    else:
        print(f"videos {res['num_videos']}  top-1 {res['top1']:.4f}  top-5 {res['top5']:.4f}  "
              f"mean class {res['mean_class_accuracy']:.4f}  clip top-1 {res['clip_top1']:.4f}")
        print(f"protocol {res['protocol']}")
        if res.get("report"):
            print(f"report {res['report']}")


# --------------------------------------------------------------------------
@app.command("models")
def list_models_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
    flops: bool = typer.Option(True, "--flops/--no-flops", help="Count GFLOPs (a few seconds)."),
):
    """Every architecture with its input, parameter count and GFLOPs per view."""
    from vidlab.apps.model_table import model_table

    rows = model_table(flops=flops)
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vidlab models (GFLOPs = multiply-adds for one view at the stated input)")
    for col in ("name", "family", "input (train)", "params (M)", "GFLOPs train", "input (test)", "GFLOPs test"):
        table.add_column(col, justify="left" if col in ("name", "family") else "right", no_wrap=col == "name")
    for r in rows:
        table.add_row(r["name"], r["family"], r["train_input"], f"{r['params'] / 1e6:.2f}",
                      _fmt(r.get("gflops_train")), r["test_input"], _fmt(r.get("gflops_test")))
    Console().print(table)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


# --------------------------------------------------------------------------
@app.command()
def convert(
    src: Path = typer.Argument(..., help="Foreign checkpoint: .pyth/.pth/.pt/.pickle (torch pickle), Caffe2 .pkl, .safetensors, "
                                         "or a Hugging Face model folder (config.json + weights; labels from id2label)."),
    dst: Path = typer.Argument(..., help="vidlab checkpoint to write (DST.safetensors + DST.json)."),
    source: str = typer.Option(..., "--from", help="Where SRC comes from: pyslowfast, pytorchvideo, torchvision, mmaction2, huggingface, "
                                                   "c3d-pytorch (DavideA/c3d-pytorch's c3d.pickle)."),
    arch: str = typer.Option(..., "--arch", help="vidlab architecture (see `vidlab models`)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Label map file to store in the sidecar."),
    multi_label: bool = typer.Option(False, "--multi-label",
                                     help="The classes are independent (trained with sigmoid/BCE, e.g. Charades): "
                                          "the sidecar records preprocessing.multi_label, so classify and eval "
                                          "score with per-class sigmoids."),
    as_json: bool = typer.Option(False, "--json", help="Print what was converted as JSON."),
):
    """Convert a PySlowFast/pytorchvideo/torchvision/MMAction2/Hugging Face/c3d-pytorch checkpoint, strictly:
    any missing, unexpected or mis-shaped key is an error naming the keys."""
    from vidlab.convert.core import convert_checkpoint

    names = None
    if labels is not None:
        from vidlab.io import read_label_map

        names = read_label_map(labels)
    path, info = convert_checkpoint(source, arch, src, dst, labels=names,
                                    preprocessing={"multi_label": True} if multi_label else None)
    if as_json:
        print_json({"checkpoint": str(path), "multi_label": multi_label, **info})
    else:
        kind = ", multi-label" if multi_label else ""
        print(f"wrote {path} ({info['arch']}, {info['num_classes']} classes{kind}, from {source})")


@app.command()
def inflate(
    src: Path = typer.Argument(..., help="torchvision 2D ResNet-50 state dict (.pth) or safetensors."),
    dst: Path = typer.Argument(..., help="vidlab checkpoint to write."),
    arch: str = typer.Option("i3d_r50", "--arch", help="Target: c2d_r50, i3d_r50, slow_r50_8x8, slow_r50_4x16."),
    mode: str = typer.Option("average", "--mode", help="average (I3D paper) or center (exact on boring videos)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="New classifier size (default: keep fc)."),
):
    """Inflate an ImageNet 2D ResNet-50 into a 3D network."""
    from vidlab import models
    from vidlab.convert.inflate import inflate_resnet
    from vidlab.convert.sources import read_checkpoint

    state, _ = read_checkpoint(src)
    model, info = inflate_resnet(state, arch, mode=mode, num_classes=num_classes)
    spec = models.get_spec(arch)
    path = models.save(model, dst, arch=spec.name, num_classes=info["num_classes"],
                       preprocessing=spec.preprocessing(), provenance={"inflated": {**info, "file": str(src)}})
    print(f"wrote {path} ({spec.name}, {mode} inflation, head {info['head']})")


# --------------------------------------------------------------------------
@data_app.command("synth")
def data_synth(
    out: Path = typer.Option(..., "--out", help="Output folder."),
    train_per_class: int = typer.Option(80, "--train-per-class", min=1),
    val_per_class: int = typer.Option(8, "--val-per-class", min=1),
    test_per_class: int = typer.Option(20, "--test-per-class", min=1),
    size: Optional[int] = typer.Option(None, "--size", min=16, help="Frame width and height (default 64)."),
    frames: Optional[int] = typer.Option(None, "--frames", min=4, help="Frames per clip (default 32)."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Frame rate (default 16; --untrimmed: 8)."),
    seed: int = typer.Option(0, "--seed"),
    motion: bool = typer.Option(False, "--motion", help="Also write ground-truth optical flow (.npy)."),
    untrimmed: bool = typer.Option(False, "--untrimmed", help="Instead: long videos with several action "
                                   "instances between background segments, ground truth in ActivityNet v1.3 "
                                   "json (temporal localization; --videos, --seconds, --size, --fps, --seed)."),
    num_videos: int = typer.Option(8, "--videos", min=1, help="With --untrimmed: how many videos (the last "
                                   "quarter is the validation subset)."),
    seconds: float = typer.Option(40.0, "--seconds", min=1.0, help="With --untrimmed: length of each video."),
    task: Optional[str] = typer.Option(None, "--task", help="Instead: a diagnostic task of the mechanism suite "
                                       "(benchmarks/bench_mechanisms.py), in the same layout: blink (the Fast "
                                       "pathway: brightness patterns invisible at the Slow stride), detail (the "
                                       "Slow pathway: which of 6 small glyphs a still square shows) or relation "
                                       "(non-local blocks: two far-apart squares of one colour or of two). "
                                       "--size/--frames/--fps default to the task's own."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Write the synthetic action set: mp4 clips, train/val/test video lists, classes.txt
    (--untrimmed: the untrimmed localization set, see vidlab.data.synthetic_untrimmed;
    --task: a diagnostic task, see vidlab.data.synthetic_tasks)."""
    if task is not None:
        from vidlab.data.synthetic_tasks import TASKS, write_task_dataset

        if task not in TASKS:
            raise typer.BadParameter(f"unknown task {task!r}; choose one of {', '.join(TASKS)}", param_hint="'--task'")
        if untrimmed or motion:
            raise typer.BadParameter("--task writes a trimmed clip set without flow; drop --untrimmed/--motion",
                                     param_hint="'--task'")
        spec = TASKS[task]
        given = {k: v for k, v in (("size", size), ("num_frames", frames)) if v is not None}
        try:
            res = write_task_dataset(out, task, train_per_class=train_per_class, val_per_class=val_per_class,
                                     test_per_class=test_per_class, fps=fps, seed=seed, progress=True, **given)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="'--size' / '--frames'") from None
        if as_json:
            print_json(res)
        else:
            print(f"wrote the {task} task ({', '.join(spec['classes'])}; {res['num_clips']} clips) to {out}")
        return
    size = 64 if size is None else size
    frames = 32 if frames is None else frames
    if untrimmed:
        from vidlab.data.synthetic_untrimmed import write_untrimmed_dataset

        if motion:
            raise typer.BadParameter("ground-truth flow is written for the trimmed set only", param_hint="'--motion'")
        try:
            res = write_untrimmed_dataset(out, videos=num_videos, seconds=seconds, fps=fps or 8.0, size=size,
                                          seed=seed, progress=True)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="'--seconds' / '--fps'") from None
        if as_json:
            print_json(res)
        else:
            print(f"wrote {num_videos} untrimmed videos ({res['instances']} action instances) to {out}; "
                  f"ground truth {res['annotations']}")
        return
    fps = 16.0 if fps is None else fps
    from vidlab.data.synthetic import write_synthetic_dataset

    res = write_synthetic_dataset(out, train_per_class=train_per_class, val_per_class=val_per_class,
                                  test_per_class=test_per_class, size=size, num_frames=frames, fps=fps, seed=seed,
                                  motion=motion, progress=True)
    if as_json:
        print_json(res)
    else:
        print(f"wrote the synthetic set to {out}")


# --------------------------------------------------------------------------
# Feature areas keep their commands in their own modules, each exposing
# ``register(app)``; a module not present in this installation adds nothing.
COMMAND_MODULES = (
    "vidlab.apps.cli_data",
    "vidlab.apps.cli_flow",
    "vidlab.apps.cli_detect",
    "vidlab.apps.cli_compress",
    "vidlab.apps.cli_cartoon",
    "vidlab.apps.cli_serve",
    "vidlab.apps.cli_hub",
    "vidlab.apps.cli_features",
    "vidlab.apps.cli_tal",
    "vidlab.apps.cli_localize",
    "vidlab.apps.cli_explain",
    "vidlab.apps.cli_finetune",
)


def _register_command_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.register(app)


_register_command_modules()


def _debug_requested(args: list[str]) -> bool:
    """Take ``--debug`` out of ``args`` (anywhere before a ``--``); also on with ``VIDLAB_DEBUG=1``."""
    end = args.index("--") if "--" in args else len(args)
    found = "--debug" in args[:end]
    if found:
        args[:] = [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
    return found or os.environ.get("VIDLAB_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


def _usage_line(e: click_errors.UsageError) -> str:
    """A usage error as one line, with where to read more."""
    msg = " ".join(e.format_message().split())
    path = e.ctx.command_path if e.ctx is not None else "vidlab"
    where = path.removeprefix("vidlab").strip()
    return f"{where + ': ' if where else ''}{msg} (see '{path} --help')"


def command() -> typer.core.TyperGroup:
    """The ``vidlab`` command tree as Click runs it (help text rewrapped into paragraphs)."""
    from vidlab.apps.clitools import rewrap_tree

    return rewrap_tree(typer.main.get_command(app))


def set_thread_wait_policy() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` for this process and its workers, unless the user chose a policy.

    libgomp's default lets idle OpenMP threads spin for a while after each parallel region. On a
    machine with as many busy processes as cores that spinning fights the other processes for
    the cores: the demo's training step took 0.43-1.8 s with 2 threads against 0.12-0.23 s with
    1 thread or with the passive policy (benchmarks/bench_omp_wait.py; figures in
    benchmarks/RESULTS.md). libgomp reads the variable once, when torch first loads it, so this
    runs before any command imports torch; a library user who imports torch first keeps
    whatever policy the environment gave.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> None:
    """Run ``vidlab ARGV``; every failure ends as one ``vidlab: error: ...`` line.

    Exit status: 0 done, 1 some inputs failed and the others were done, 2 bad input,
    usage error or unexpected error, 130 interrupted. ``--debug`` (or ``VIDLAB_DEBUG=1``)
    lets the exception through with its traceback instead.
    """
    from vidlab.errors import VidlabError

    set_thread_wait_policy()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    cmd = command()
    try:
        code = cmd.main(args=args, prog_name="vidlab", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        print(e.format_message())
        sys.exit(0)
    except click_errors.UsageError as e:
        if debug:
            raise
        error(_usage_line(e))
        sys.exit(EXIT_BAD_INPUT)
    except click_errors.ClickException as e:  # e.g. a file option Click could not open
        if debug:
            raise
        error(" ".join(e.format_message().split()))
        sys.exit(EXIT_BAD_INPUT)
    except (KeyboardInterrupt, typer.Abort):
        error("interrupted")
        sys.exit(130)
    except VidlabError as e:
        if debug:
            raise
        error(" ".join(str(e).split()) or type(e).__name__)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as e:
        if debug:
            raise
        error(f"{e.filename}: {e.strerror}" if getattr(e, "filename", None) and e.strerror else str(e))
        sys.exit(EXIT_BAD_INPUT)
    except Exception as e:  # noqa: BLE001  (the contract: one line, the traceback behind --debug)
        if debug:
            raise
        text = " ".join(str(e).split())[:300]
        error(f"unexpected {type(e).__name__}{': ' + text if text else ''} (a bug: run again with --debug "
              "for the traceback and report it)")
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
