"""`vidlab tal train|detect|eval`: ActionFormer temporal action localization on clip features.

A thin layer over :mod:`vidlab.localize.tal_train` (training recipe, Soft-NMS, checkpoint format),
:mod:`vidlab.localize.tal_data` (features folders, ground truth, the time grid) and
:mod:`vidlab.localize.metrics` (the ActivityNet detection mAP, as `vidlab eval-tal`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from vidlab.apps.output import log, print_json

tal_app = typer.Typer(
    no_args_is_help=True,
    help="Temporal action localization (ActionFormer) on clip-feature sequences: train a localizer on the "
         "features `vidlab features` writes and an ActivityNet-style ground truth, detect actions (ActivityNet "
         "challenge json), evaluate (mAP at tIoU 0.3:0.7 and 0.5:0.95).")

SIZES = ("small", "thumos")


def register(app: typer.Typer) -> None:
    app.add_typer(tal_app, name="tal")


# ------------------------------------------------------------------------------------------------
# shared options


def _features_opt() -> Any:
    return typer.Option(..., "--features", help="Features folder: {video}.npy (N, D) with the {video}.json "
                        "`vidlab features` writes.")


def _grid_opts() -> dict[str, Any]:
    return {
        "feature_fps": typer.Option(None, "--feature-fps", help="For .npy files without a json: frames per second "
                                    "of the features' frame grid (default: the ground truth's per-video fps)."),
        "feature_stride": typer.Option(None, "--feature-stride", help="For .npy files without a json: frames "
                                       "between features (ActionFormer's THUMOS'14 I3D features: 4)."),
        "feature_window": typer.Option(None, "--feature-window", help="For .npy files without a json: frames per "
                                       "feature window (THUMOS'14 I3D: 16)."),
    }


def _grid_defaults(fps: Optional[float], stride: Optional[float], window: Optional[float], saved: dict | None = None):
    from vidlab.localize.tal_data import GridDefaults

    saved = saved or {}
    for name, v in (("--feature-fps", fps), ("--feature-stride", stride), ("--feature-window", window)):
        if v is not None and not v > 0:
            raise typer.BadParameter(f"must be > 0, got {v:g}", param_hint=f"'{name}'")
    return GridDefaults(fps=fps if fps is not None else saved.get("fps"),
                        stride=stride if stride is not None else saved.get("stride"),
                        window=window if window is not None else saved.get("window"))


def _post(base: dict, nms: Optional[str], sigma: Optional[float], min_score: Optional[float], topk: Optional[int]):
    from vidlab.localize.tal_train import NMS_METHODS, PostConfig

    if nms is not None and nms not in NMS_METHODS:
        raise typer.BadParameter(f"must be one of {', '.join(NMS_METHODS)}, got {nms!r}", param_hint="'--nms'")
    if sigma is not None and not sigma > 0:
        raise typer.BadParameter(f"must be > 0, got {sigma:g}", param_hint="'--sigma'")
    given = {"nms": nms, "sigma": sigma, "min_score": min_score, "max_segments": topk}
    return PostConfig.from_dict({**base, **{k: v for k, v in given.items() if v is not None}})


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise typer.BadParameter("CUDA is not available on this machine", param_hint="'--device'")
    if device != "cpu" and not device.startswith("cuda"):
        raise typer.BadParameter(f"must be auto, cpu, cuda or cuda:N, got {device!r}", param_hint="'--device'")
    return device


def _default_subset(groundtruth: Path, subset: Optional[str], training: bool) -> str:
    """The subset when none is given: ActivityNet json training/validation; THUMOS'14 folders
    validation/test (ActionFormer trains on THUMOS'14 validation and tests on test)."""
    if subset is not None:
        return subset
    if Path(groundtruth).is_dir():
        return "validation" if training else "test"
    return "training" if training else "validation"


def _split_videos(videos: Optional[List[str]]) -> Optional[list[str]]:
    if not videos:
        return None
    out = [v.strip() for item in videos for v in item.split(",") if v.strip()]
    return out or None


def _write_json(path: Path, doc: dict) -> None:
    from vidlab.models.checkpoint import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(doc) + "\n").encode())


# ------------------------------------------------------------------------------------------------
# commands


@tal_app.command("train")
def train_cmd(
    features: Path = _features_opt(),
    groundtruth: Path = typer.Option(..., "--groundtruth", help="ActivityNet-style json (activity_net.v1-3.min.json "
                                     "format; `vidlab data synth --untrimmed` writes one) or a THUMOS'14 annotation "
                                     "folder (CLASS_val.txt / CLASS_test.txt)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder (model.safetensors + model.json)."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Ground-truth subset to train on (default: training; "
                                         "THUMOS'14 folders: validation, as ActionFormer)."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Epochs, the warmup included (fewer if --minutes is tight)."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Time budget: the schedule is shortened to the "
                                            "epochs that fit (measured after each epoch)."),
    batch_size: int = typer.Option(2, "--batch-size", min=1, help="Videos per step (ActionFormer THUMOS'14: 2)."),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate (peak, after the warmup)."),
    weight_decay: float = typer.Option(0.05, "--weight-decay", help="AdamW weight decay on convolution weights."),
    warmup_epochs: int = typer.Option(5, "--warmup-epochs", min=0, help="Linear warmup epochs (at most a seventh of "
                                      "the schedule)."),
    size: str = typer.Option("small", "--size", help="small (embed 128, 3 levels, 1 stem block, window 9: for CPUs) "
                             "or thumos (the paper's THUMOS'14 model: embed 512, 6 levels, 2 stem blocks, window 19)."),
    embed_dim: Optional[int] = typer.Option(None, "--embed-dim", min=8, help="Override the size's embedding width "
                                            "(also the heads' width)."),
    levels: Optional[int] = typer.Option(None, "--levels", min=1, help="Override: pyramid levels (strides 1..2^(L-1))."),
    stem_blocks: Optional[int] = typer.Option(None, "--stem-blocks", min=0, help="Override: full-resolution "
                                              "transformer blocks."),
    window: Optional[int] = typer.Option(None, "--window", help="Override: local attention window in steps (odd; "
                                         "<= 1: global attention)."),
    heads: Optional[int] = typer.Option(None, "--heads", min=1, help="Override: attention heads."),
    max_seq_len: int = typer.Option(2304, "--max-seq-len", min=8, help="Longer sequences are randomly cropped to "
                                    "this many features in training."),
    crop_ratio: str = typer.Option("0.9,1.0", "--crop-ratio", help="Random crop of every training sequence to a "
                                   "share of its length in LO,HI (ActionFormer THUMOS'14: 0.9,1.0), or none."),
    ema: float = typer.Option(0.999, "--ema", help="Decay of the weights' moving average that is saved (0: the "
                              "raw weights)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda or cuda:N."),
    feature_fps: Optional[float] = _grid_opts()["feature_fps"],
    feature_stride: Optional[float] = _grid_opts()["feature_stride"],
    feature_window: Optional[float] = _grid_opts()["feature_window"],
    as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """Train an ActionFormer on the features of a subset and save a checkpoint folder.

    Videos of the subset are matched to {video}.npy (or v_{video}.npy); those without features are
    left out (a note says how many). The classes are the sorted label names of the whole ground
    truth. The saved weights are the moving average of the training weights.
    """
    from vidlab.localize.actionformer import ActionFormerConfig
    from vidlab.localize.tal_data import TALDataset, load_annotations
    from vidlab.localize.tal_train import PostConfig, TrainConfig, features_info, save_checkpoint, train

    if size not in SIZES:
        raise typer.BadParameter(f"must be small or thumos, got {size!r}", param_hint="'--size'")
    if minutes is not None and not minutes > 0:
        raise typer.BadParameter(f"must be > 0, got {minutes:g}", param_hint="'--minutes'")
    if not lr > 0:
        raise typer.BadParameter(f"must be > 0, got {lr:g}", param_hint="'--lr'")
    if not 0 <= ema < 1:
        raise typer.BadParameter(f"must be in [0, 1), got {ema:g}", param_hint="'--ema'")
    ratio = _crop_ratio(crop_ratio)
    grid = _grid_defaults(feature_fps, feature_stride, feature_window)
    dev = _device(device)
    subset = _default_subset(groundtruth, subset, training=True)
    ann = load_annotations(groundtruth)
    ds = TALDataset(features, ann, subset, defaults=grid, training=True, max_seq_len=max_seq_len, crop_ratio=ratio,
                    seed=seed)
    if ds.missing:
        log(f"note: {len(ds.missing)} of {len(ds.missing) + len(ds)} videos of subset {subset!r} have no features "
            f"in {features} and are left out (e.g. {ds.missing[0]!r})")
    overrides = {k: v for k, v in {"embed_dim": embed_dim, "head_dim": embed_dim, "levels": levels,
                                   "stem_blocks": stem_blocks, "window": window, "num_heads": heads}.items()
                 if v is not None}
    try:
        if size == "thumos":
            mcfg = ActionFormerConfig.thumos(input_dim=ds.feature_dim, num_classes=len(ds.classes), **overrides)
        else:
            mcfg = ActionFormerConfig(input_dim=ds.feature_dim, num_classes=len(ds.classes), **overrides)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--embed-dim' / '--heads' / '--window' / '--levels'") from None
    tcfg = TrainConfig(epochs=epochs, warmup_epochs=warmup_epochs, batch_size=batch_size, lr=lr,
                       weight_decay=weight_decay, ema_decay=ema, max_seq_len=max_seq_len, crop_ratio=ratio, seed=seed,
                       minutes=minutes)
    model, summary = train(ds, mcfg, tcfg, device=dev, progress=not quiet, log=log)
    info = {**features_info(ds), "grid_defaults": {"fps": grid.fps, "stride": grid.stride, "window": grid.window}}
    training = {**{k: v for k, v in summary.items() if k != "history"}, "subset": subset,
                "groundtruth": str(groundtruth), "features": str(features), "history": summary["history"]}
    save_checkpoint(out, model, ds.classes, features=info, training=training, post=PostConfig())
    params = sum(p.numel() for p in model.parameters())
    res = {"checkpoint": str(out), "subset": subset, "num_videos": len(ds), "videos_without_features": len(ds.missing),
           "classes": list(ds.classes), "feature_dim": ds.feature_dim, "params": params, "model": mcfg.to_dict(),
           **{k: summary[k] for k in ("epochs_planned", "epochs_done", "steps", "seconds", "final_loss", "stopped")}}
    if as_json:
        print_json(res)
        return
    stop = f" ({summary['stopped']})" if summary["stopped"] else ""
    print(f"trained ActionFormer ({params / 1e6:.2f} M parameters) on {len(ds)} videos, {len(ds.classes)} classes: "
          f"{summary['epochs_done']} epochs, {summary['steps']} steps, final loss {summary['final_loss']:.4f}{stop}, "
          f"{summary['seconds']:.0f} s -> {out}")


def _crop_ratio(text: str) -> Optional[tuple[float, float]]:
    if text.strip().lower() in ("none", "off", ""):
        return None
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected LO,HI (e.g. 0.9,1.0) or none, got {text!r}",
                                 param_hint="'--crop-ratio'") from None
    if not 0 < lo <= hi <= 1:
        raise typer.BadParameter(f"need 0 < LO <= HI <= 1, got {text!r}", param_hint="'--crop-ratio'")
    return lo, hi


def _notes(model: Any, ds: Any) -> None:
    from vidlab.localize.tal_train import check_features, feature_notes

    check_features(model, ds)
    for note in feature_notes(model, ds):
        log(f"note: {note}")


def _load(checkpoint: Path):
    from vidlab.localize.tal_train import load_checkpoint

    return load_checkpoint(checkpoint)


@tal_app.command("detect")
def detect_cmd(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Video files: their features are computed first, "
                                                  "with the settings the checkpoint was trained on (instead of "
                                                  "--features)."),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Checkpoint folder of `vidlab tal train`."),
    features: Optional[Path] = typer.Option(None, "--features", help="Features folder: {video}.npy (N, D) with "
                                            "the {video}.json `vidlab features` writes (instead of VIDEO files)."),
    extractor: Optional[Path] = typer.Option(None, "--extractor", help="With VIDEO files: the classifier checkpoint "
                                             "the features are computed with (default: the one recorded in the "
                                             "checkpoint's training features)."),
    model_name: Optional[str] = typer.Option(None, "--model", help="With VIDEO files: a published extractor "
                                             "instead of --extractor (`vidlab hub list`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Predictions json (ActivityNet challenge format: "
                                       "{\"results\": {video: [{\"label\", \"score\", \"segment\": [start, end]}]}}, "
                                       "seconds); required with --features."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="With VIDEO files: a timeline PNG per video in this "
                                        "folder ({video}.png: the detections printed, a bar per label row)."),
    show: int = typer.Option(5, "--show", min=1, help="With VIDEO files: detections printed (and plotted) per video, "
                             "the best ones scoring at least --min-score."),
    videos: Optional[List[str]] = typer.Option(None, "--videos", help="With --features: only these video ids "
                                               "(repeat the option or separate by commas; default: every .npy in "
                                               "the folder)."),
    nms: Optional[str] = typer.Option(None, "--nms", help="Per-class suppression: gaussian (Soft-NMS, default), "
                                      "linear, hard or none."),
    sigma: Optional[float] = typer.Option(None, "--sigma", help="Gaussian Soft-NMS sigma (default 0.5)."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Drop detections scoring below this "
                                              "(default 0.001)."),
    topk: Optional[int] = typer.Option(None, "--topk", min=1, help="Detections kept per video (default 200)."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="Videos per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    feature_fps: Optional[float] = _grid_opts()["feature_fps"],
    feature_stride: Optional[float] = _grid_opts()["feature_stride"],
    feature_window: Optional[float] = _grid_opts()["feature_window"],
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON (the predictions go to --out)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """Detect actions in feature sequences (--features DIR) or in videos (VIDEO...): per-class Soft-NMS,
    top-k per video, segments in seconds.

    With VIDEO files, each video's features are computed as `vidlab features` would, with the window,
    stride, frame rate, tail rule, preset and resampling recorded in the checkpoint's model.json
    (its training features, their number of crops included), by the
    extractor recorded there or --extractor / --model, whose features must have the dimension the
    localizer takes. Detections are the same as `vidlab features` then `tal detect --features`.
    """
    from vidlab.localize.tal_data import TALDataset
    from vidlab.localize.tal_train import detect

    if bool(inputs) == (features is not None):
        raise typer.BadParameter("give VIDEO files or --features DIR (one of the two)",
                                 param_hint="'VIDEO' / '--features'")
    if features is not None:
        given = [n for n, v in (("--extractor", extractor), ("--model", model_name), ("--weights", weights),
                                ("--plot", plot)) if v is not None]
        if given:
            raise typer.BadParameter("goes with VIDEO files, not with --features", param_hint=f"'{given[0]}'")
        if out is None:
            raise typer.BadParameter("the predictions json is required with --features", param_hint="'--out'")
    elif videos:
        raise typer.BadParameter("selects ids in a --features folder; with VIDEO files name the files",
                                 param_hint="'--videos'")
    model = _load(checkpoint)
    meta = model.meta
    post = _post(meta.get("inference") or {}, nms, sigma, min_score, topk)
    grid = _grid_defaults(feature_fps, feature_stride, feature_window,
                          (meta.get("features") or {}).get("grid_defaults"))
    dev = _device(device)
    if features is None:
        _detect_videos(model, post, [str(v) for v in inputs or []], extractor, model_name, weights, out, plot, show,
                       grid, batch_size, dev, as_json, quiet)
        return
    ds = TALDataset(features, None, videos=_split_videos(videos), classes=meta["classes"], defaults=grid)
    _notes(model, ds)
    preds = detect(model, ds, post, batch_size=batch_size, device=dev, progress=not quiet)
    _write_json(out, preds)
    n = sum(len(v) for v in preds["results"].values())
    res = {"predictions": str(out), "num_videos": len(ds), "num_detections": n, "post_processing": vars(post)}
    if as_json:
        print_json(res)
    else:
        print(f"{n} detections in {len(ds)} videos -> {out}")


def video_feature_config(meta: dict, batch_size: int = 8) -> Any:
    """The :class:`~vidlab.localize.features.FeatureConfig` of a localizer's training features, from
    what its model.json records (``features``: window/stride frames, fps, tail, preset, resampling)."""
    from vidlab.errors import VidlabError
    from vidlab.localize.features import PRESETS, resolve_config

    info = meta.get("features") or {}
    where = f"{meta.get('path', 'the checkpoint')}"
    try:
        window, stride = int(info["window"]["frames"]), int(info["stride"]["frames"])
    except (KeyError, TypeError, ValueError):
        raise VidlabError(f"{where}: the checkpoint does not record how its features were made (trained on features "
                          "without the json `vidlab features` writes): compute them yourself and use --features "
                          "DIR") from None
    preset = info.get("preset") if info.get("preset") in PRESETS else None
    resample = (info.get("resampled") or {}).get("count")
    crops = (info.get("preprocessing") or {}).get("crops")  # recorded by `vidlab features` (mean over crops)
    return resolve_config(preset, window=window, stride=stride, fps=info.get("fps"), tail=info.get("tail"),
                          resample=resample, crops=crops, batch_size=batch_size)


def _extractor(meta: dict, extractor: Optional[Path], model_name: Optional[str], weights: Optional[str]
               ) -> tuple[Path, dict]:
    """The extraction checkpoint and how it is named: the options, else what the checkpoint records."""
    from vidlab.apps.cli_hub import checkpoint_for

    if extractor is not None and model_name is not None:
        raise typer.BadParameter("give one of them, not both", param_hint="'--extractor' / '--model'")
    if extractor is not None or model_name is not None:
        info = {"name": model_name, "weights": weights or "DEFAULT"} if model_name else {}
        return checkpoint_for(extractor, model_name, weights), info
    if weights is not None:
        raise typer.BadParameter("a hub tag: it goes with --model", param_hint="'--weights'")
    rec = (meta.get("features") or {}).get("model") or {}
    if rec.get("checkpoint") and Path(rec["checkpoint"]).exists():
        return Path(rec["checkpoint"]), {}
    if rec.get("name"):
        return checkpoint_for(None, rec["name"], rec.get("weights")), {"name": rec["name"],
                                                                        "weights": rec.get("weights") or "DEFAULT"}
    why = (f"its extractor {rec['checkpoint']} is not found" if rec.get("checkpoint") else
           "it does not record the extractor of its training features")
    raise typer.BadParameter(f"{meta.get('path', 'the checkpoint')}: {why}; give the classifier checkpoint the "
                             "features are computed with (--extractor CKPT or --model NAME)", param_hint="'--extractor'")


def _detect_videos(model: Any, post: Any, paths: list[str], extractor: Optional[Path], model_name: Optional[str],
                   weights: Optional[str], out: Optional[Path], plot: Optional[Path], show: int, grid: Any,
                   batch_size: int, device: str, as_json: bool, quiet: bool) -> None:
    import tempfile

    from vidlab.apps.cli_features import report_failures
    from vidlab.errors import DataError
    from vidlab.localize.features import extract_features
    from vidlab.localize.tal_data import TALDataset
    from vidlab.localize.tal_train import detect

    meta = model.meta
    config = video_feature_config(meta)
    ckpt, info = _extractor(meta, extractor, model_name, weights)
    with tempfile.TemporaryDirectory(prefix="vidlab-tal-") as tmp:
        summary = extract_features(paths, tmp, ckpt, config, device=device, model_info=info, progress=not quiet,
                                   log=log)
        if not summary["done"]:
            raise typer.Exit(report_failures([f["error"] for f in summary["failed"]], summary["videos"]))
        dim, want = summary["feature_dim"], model.config.input_dim
        if dim != want:
            raise DataError(f"{ckpt}: its features are {dim}-d, checkpoint {meta.get('path')} takes {want}-d "
                            "features (give the extractor it was trained with: --extractor CKPT)")
        ds = TALDataset(tmp, None, classes=meta["classes"], defaults=grid)
        _notes(model, ds)
        preds = detect(model, ds, post, batch_size=batch_size, device=device, progress=not quiet)
        durations = {it.video_id: it.duration for it in ds.items}
    if out is not None:
        _write_json(out, preds)
    shown = {v: [d for d in dets if d["score"] >= post.min_score][:show] for v, dets in preds["results"].items()}
    plots = {}
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
        for v, dets in shown.items():
            plots[v] = str(plot_timeline(plot / f"{v}.png", v, dets, durations[v], list(meta["classes"])))
    n = sum(len(v) for v in preds["results"].values())
    res = {"predictions": None if out is None else str(out), "num_videos": len(ds), "num_detections": n,
           "extractor": str(ckpt), "features": config.key(), "post_processing": vars(post), "detections": shown,
           "plots": plots, "failed": summary["failed"]}
    if as_json:
        print_json(res)
    else:
        for v, dets in shown.items():
            for d in dets:
                print(f"{v}  {d['segment'][0]:9.2f} {d['segment'][1]:9.2f}  {d['label']}  {d['score']:.3f}")
        print(f"{n} detections in {len(ds)} videos" + (f" -> {out}" if out is not None else ""))
    if summary["failed"]:
        raise typer.Exit(report_failures([f["error"] for f in summary["failed"]], summary["videos"]))


def plot_timeline(path: Path, video: str, detections: list[dict], duration: float, classes: list[str]) -> Path:
    """A PNG timeline of one video's detections: a row per label (those detected), each detection a bar
    over its seconds, coloured by label, its opacity its score (at least 0.15) and its score written on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({d["label"] for d in detections}, key=lambda c: classes.index(c) if c in classes else 0)
    rows = {c: i for i, c in enumerate(labels)}
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.5 * max(len(labels), 1)))
    try:
        for d in detections:
            a, b = d["segment"]
            y = rows[d["label"]]
            colour = cmap((classes.index(d["label"]) if d["label"] in classes else y) % 10)
            ax.barh(y, b - a, left=a, height=0.7, color=colour, alpha=max(0.15, min(1.0, d["score"])),
                    edgecolor=colour)
            ax.text(a + (b - a) / 2, y, f"{d['score']:.2f}", ha="center", va="center", fontsize=8)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(-0.6, max(len(labels), 1) - 0.4)
        ax.set_xlim(0, max(duration, 1e-6))
        ax.set_xlabel("seconds")
        ax.set_title(f"{video}: {len(detections)} detections")
        fig.tight_layout()
        fig.savefig(path, dpi=80)
    finally:
        plt.close(fig)
    return path


@tal_app.command("eval")
def eval_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Checkpoint folder of `vidlab tal train`."),
    features: Path = _features_opt(),
    groundtruth: Path = typer.Option(..., "--groundtruth", help="ActivityNet-style json or THUMOS'14 annotation "
                                     "folder."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Subset to evaluate (default: validation; THUMOS'14 "
                                         "folders: test)."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="Also write the predictions json here."),
    nms: Optional[str] = typer.Option(None, "--nms", help="gaussian (default), linear, hard or none."),
    sigma: Optional[float] = typer.Option(None, "--sigma", help="Gaussian Soft-NMS sigma (default 0.5)."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Drop detections below this (default 0.001)."),
    topk: Optional[int] = typer.Option(None, "--topk", min=1, help="Detections kept per video (default 200)."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, help="Videos per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    feature_fps: Optional[float] = _grid_opts()["feature_fps"],
    feature_stride: Optional[float] = _grid_opts()["feature_stride"],
    feature_window: Optional[float] = _grid_opts()["feature_window"],
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """Detect on a subset and score: mAP at tIoU 0.3:0.7 (THUMOS'14) and 0.5:0.95 (ActivityNet) with the
    official ActivityNet evaluator's rules (`vidlab eval-tal`)."""
    from vidlab.localize.tal_data import TALDataset, load_annotations
    from vidlab.localize.tal_train import evaluate

    model = _load(checkpoint)
    meta = model.meta
    post = _post(meta.get("inference") or {}, nms, sigma, min_score, topk)
    grid = _grid_defaults(feature_fps, feature_stride, feature_window,
                          (meta.get("features") or {}).get("grid_defaults"))
    subset = _default_subset(groundtruth, subset, training=False)
    ann = load_annotations(groundtruth)
    ds = TALDataset(features, ann, subset, classes=meta["classes"], defaults=grid)
    _notes(model, ds)
    res, preds = evaluate(model, ds, groundtruth, subset, post, batch_size=batch_size, device=_device(device),
                          progress=not quiet)
    if predictions is not None:
        _write_json(predictions, preds)
        res["predictions"] = str(predictions)
    for w in res["warnings"]:
        log(f"note: {w}")
    if as_json:
        print_json({"checkpoint": str(checkpoint), **res})
        return
    print(f"subset {subset}: {res['num_videos']} videos with features, {res['num_predictions']} detections")
    for name in ("0.3:0.7", "0.5:0.95"):
        r = res[f"tiou_{name}"]
        cells = "  ".join(f"{t:.2f}:{m:.4f}" for t, m in zip(r["tiou"], r["mAP"]))
        print(f"tIoU {name:<8} avg mAP {r['average_mAP']:.4f}   {cells}")
    print(f"mAP@0.5 {res['mAP@0.5']:.4f}")
