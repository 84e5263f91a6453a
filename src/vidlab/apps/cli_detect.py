"""Spatio-temporal detection commands: `vidlab eval-ava`, `vidlab detect run|train|eval|data` and
`vidlab lfb build|train`.

`vidlab detect VIDEO ...` (no sub-command) is `vidlab detect run VIDEO ...`; the flat names of
earlier releases (`detect-train`, `detect-eval`, `detect-data`) are hidden aliases."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval-ava")
    def eval_ava(
        groundtruth: Path = typer.Option(..., "--groundtruth", help="AVA csv: video_id,timestamp,x1,y1,x2,y2,action_id,person_id"),
        detections: Path = typer.Option(..., "--detections", help="AVA csv: video_id,timestamp,x1,y1,x2,y2,action_id,score"),
        labelmap: Path = typer.Option(..., "--labelmap", help="pbtxt label map (the evaluated classes)."),
        exclusions: Path | None = typer.Option(None, "--exclusions", help="csv of excluded video_id,timestamp"),
        protocol: str = typer.Option(
            "pyslowfast", "--protocol",
            help="pyslowfast: PySlowFast's ava_eval_helper (the model zoo's AVA mAP); activitynet: the AVA "
                 "challenge scorer get_ava_performance.py (top 50 rows per frame, score-ordered matching, "
                 "frames absent from the ground truth ignored; exclusions remove those frames' rows first)."),
        as_json: bool = typer.Option(False, "--json", help='Print {"mAP": .., "per_class": {"<id>": ap or null}, "protocol": ..}.'),
    ):
        """Frame-level mAP@0.5 exactly as the chosen official AVA evaluator computes it."""
        from vidlab.apps.output import print_json
        from vidlab.evaluation.ava import evaluate_files

        res = evaluate_files(groundtruth, detections, labelmap, exclusions, protocol=protocol)
        if as_json:
            print_json({"mAP": res["mAP"], "per_class": res["per_class"], "protocol": protocol})
            return
        for cid, ap in res["per_class"].items():
            print(f"{cid:>4}  {'  n/a ' if ap is None else f'{ap:.4f}'}  {res['names'][cid]}")
        print(f"mAP@0.5 {res['mAP']:.4f}  ({res['num_groundtruth_frames']} frames with ground truth, {protocol} protocol)")

    _register_detect(app)


def _register_detect(app: typer.Typer) -> None:
    from vidlab.apps.clitools import RunByDefault, alias

    detect_app = typer.Typer(
        cls=RunByDefault, no_args_is_help=True,
        help="Spatio-temporal action detection (AVA style): run a detector on a video, train and evaluate one "
             "on an AVA-format set, write the synthetic detection set. `vidlab detect VIDEO` is "
             "`vidlab detect run VIDEO`.")
    app.add_typer(detect_app, name="detect")

    @detect_app.command("run")
    def detect(
        video: Path = typer.Argument(..., help="Video file."),
        checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", help="vidlab detection checkpoint."),
        model_name: str | None = typer.Option(None, "--model", help="A published AVA detector instead of "
                                              "--checkpoint (`vidlab hub list`, e.g. slowfast_r50_8x8_detection)."),
        weights: str | None = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
        boxes: Path | None = typer.Option(None, "--boxes", "--person-boxes",
                                             help="Person boxes: AVA csv, tube JSON or frame JSON."),
        detector_weights: Path | None = typer.Option(
            None, "--detector-weights", help="Faster R-CNN R50-FPN COCO state dict (else torchvision's cache, else the hub's fasterrcnn_resnet50_fpn.coco)."),
        out: Path = typer.Option(Path("detections"), "--out",
                                 help="Output folder (tubes.json, detections.csv, annotated.mp4) or an .mp4 path."),
        csv_path: Path | None = typer.Option(None, "--csv", help="Where to write the AVA detection csv."),
        keyframe_interval: float = typer.Option(1.0, "--keyframe-interval", min=0.01, help="Seconds between keyframes."),
        score_threshold: float = typer.Option(0.9, "--score-threshold", help="Person detector score threshold."),
        nms: float = typer.Option(0.5, "--nms", help="Person detector NMS IoU."),
        detector_size: int = typer.Option(800, "--detector-size", min=64, help="Person detector input short side."),
        video_id: str | None = typer.Option(None, "--video-id", help="Rows of this video in a multi-video csv."),
        start_second: float | None = typer.Option(None, "--start-second",
                                                     help="Csv timestamp of frame 0 (default: 900 for AVA cuts, else 0)."),
        min_score: float = typer.Option(0.0, "--min-score", help="Csv rows only for action scores >= this."),
        no_video: bool = typer.Option(False, "--no-video", help="Skip the annotated video."),
        as_json: bool = typer.Option(False, "--json", help="Print the tubes document."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    ):
        """Detect the actions of every person in a video: action tubes (JSON), AVA csv, annotated video."""
        from vidlab import models
        from vidlab.apps.cli_hub import checkpoint_for
        from vidlab.apps.output import log, print_json
        from vidlab.detect import infer
        from vidlab.errors import VidlabError

        if not video.is_file():
            raise VidlabError(f"{video}: video not found")
        paths = infer.output_paths(out, csv_path)
        model = models.load(checkpoint_for(checkpoint, model_name, weights))
        detector = None
        if boxes is None:
            from vidlab.detect.person import PersonDetector

            detector = PersonDetector(detector_weights, score_threshold=score_threshold, nms_iou=nms,
                                      min_size=detector_size)
        doc = infer.detect_video(model, video, boxes=boxes, detector=detector, keyframe_interval=keyframe_interval,
                                 video_id=video_id, start_second=start_second, progress=not quiet)
        infer.write_tubes(doc, paths["tubes"])
        infer.write_csv(doc, paths["csv"], min_score=min_score, start_second=start_second or 0.0)
        if not no_video:
            infer.write_annotated(doc, paths["video"], progress=not quiet)
        doc["outputs"] = {k: str(v) for k, v in paths.items() if k != "video" or not no_video}
        if as_json:
            print_json(doc)
            return
        for t in doc["tubes"]:
            print(f"tube {t['id']:>3}  frames [{t['sf']}, {t['ef']})  {t['label_name']}  {t['score']:.3f}")
        for k, v in doc["outputs"].items():
            log(f"{k:<6} {v}")

    @detect_app.command("data")
    def detect_data(
        out: Path = typer.Option(..., "--out", help="Output folder."),
        train: int = typer.Option(160, "--train", min=1, help="Training videos."),
        val: int = typer.Option(10, "--val", min=0, help="Validation videos."),
        test: int = typer.Option(40, "--test", min=1, help="Test videos."),
        size: int = typer.Option(96, "--size", min=32, help="Frame size (square)."),
        seed: int = typer.Option(0, "--seed"),
        task: str = typer.Option("actions", "--task",
                                 help="actions: 2-4 actors, ten motion classes, 6 s videos. history: the long-term "
                                      "feature bank task (one actor, 10 s videos: lit_red/lit_blue at second 902, "
                                      "was_red/was_blue later; train with --num-frames 8 --sampling-rate 1)."),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ):
        """Write the synthetic multi-actor detection set (AVA csv + label map + videos)."""
        from vidlab.apps.output import print_json
        from vidlab.data.synthetic_detection import write_synthetic_detection

        if task not in ("actions", "history"):
            raise typer.BadParameter(f"unknown task {task!r}; choose actions or history", param_hint="'--task'")
        history = task == "history"  # one actor, 10 s at 8 fps (the defaults: 2-4 actors, 6 s)
        res = write_synthetic_detection(out, train_videos=train, val_videos=val, test_videos=test, size=size,
                                        seed=seed, task=task, actors=(1, 1) if history else (2, 4),
                                        seconds=10 if history else 6, fps=8, progress=not quiet)
        if as_json:
            print_json(res)
        else:
            print(f"{sum(res['videos'].values())} videos, {sum(res['boxes'].values())} boxes in {res['root']}")

    @detect_app.command("train")
    def detect_train(
        data: Path = typer.Option(..., "--data", help="Synthetic detection set (vidlab detect data)."),
        out: Path = typer.Option(..., "--out", help="Run folder (model.safetensors, test detections)."),
        arch: str = typer.Option("i3d_r10_tiny_detection", "--arch"),
        epochs: int = typer.Option(36, "--epochs", min=1),
        minutes: float | None = typer.Option(9.0, "--minutes", help="Time budget; fewer epochs to fit it."),
        batch_size: int = typer.Option(8, "--batch-size", min=1),
        lr: float = typer.Option(0.1, "--lr"),
        proposals: bool = typer.Option(False, "--proposals", help="Also train on predicted boxes (score >= 0.9)."),
        num_frames: int | None = typer.Option(None, "--num-frames", min=1,
                                              help="Frames per clip (default: the architecture's)."),
        sampling_rate: int | None = typer.Option(None, "--sampling-rate", min=1,
                                                 help="Frame stride of the clip (default: the architecture's)."),
        split: str = typer.Option("train", "--split",
                                  help="Split to train on (a feature-bank detector: one that stage 2 does not "
                                       "train on, e.g. val)."),
        seed: int = typer.Option(0, "--seed"),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ):
        """Train a detector on an AVA-format set and report test frame mAP@0.5 (ground-truth boxes)."""
        from vidlab.apps.output import log, print_json
        from vidlab.detect.train import evaluate_detector, train_detector

        res = train_detector(data, out, arch=arch, epochs=epochs, minutes=minutes, batch_size=batch_size, lr=lr,
                             proposals=proposals, num_frames=num_frames, sampling_rate=sampling_rate, split=split,
                             seed=seed, progress=not quiet, log=log)
        ev = evaluate_detector(res["checkpoint"], data, out, progress=not quiet)
        res.update({"mAP": ev["mAP"], "per_class": ev["per_class"], "detections": ev["detections"]})
        if as_json:
            print_json(res)
        else:
            print(f"test frame mAP@0.5 {ev['mAP']:.4f} (ground-truth boxes)  checkpoint {res['checkpoint']}")

    @detect_app.command("eval")
    def detect_eval(
        checkpoint: Path = typer.Option(..., "--checkpoint", "-c"),
        data: Path = typer.Option(..., "--data"),
        out: Path = typer.Option(Path("detect_eval"), "--out"),
        split: str = typer.Option("test", "--split"),
        proposals: bool = typer.Option(False, "--proposals", help="Score the predicted boxes instead of the GT boxes."),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ):
        """Frame mAP@0.5 of a detector on a split of an AVA-format set."""
        from vidlab.apps.output import print_json
        from vidlab.detect.train import evaluate_detector

        ev = evaluate_detector(checkpoint, data, out, split=split, proposals=proposals, progress=not quiet)
        if as_json:
            print_json({k: ev[k] for k in ("mAP", "per_class", "detections", "boxes")})
        else:
            print(f"{split} frame mAP@0.5 {ev['mAP']:.4f} ({ev['boxes']} boxes)")

    alias(app, "detect-data", detect_data)
    alias(app, "detect-train", detect_train)
    alias(app, "detect-eval", detect_eval)

    lfb_app = typer.Typer(help="Long-term feature banks: build a bank from a baseline, train FBO heads.",
                          no_args_is_help=True)
    app.add_typer(lfb_app, name="lfb")

    @lfb_app.command("build")
    def lfb_build(
        checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Stage-1 baseline detector."),
        data: Path = typer.Option(..., "--data"),
        out: Path = typer.Option(..., "--out", help="Bank folder (features.f32, boxes.f32, index.json)."),
        splits: list[str] = typer.Option(["train", "val", "test"], "--split"),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ):
        """Stage 2a: per-second person RoI features of every video, stored memory-mapped."""
        from vidlab.apps.output import print_json
        from vidlab.detect.lfb import build_bank

        res = build_bank(checkpoint, data, out, splits=tuple(splits), progress=not quiet)
        if as_json:
            print_json(res)
        else:
            print(f"bank {res['bank']}: {res['rows']} rows x {res['dim']} over {res['videos']} videos")

    @lfb_app.command("train")
    def lfb_train(
        bank: Path = typer.Option(..., "--bank"),
        data: Path = typer.Option(..., "--data"),
        out: Path = typer.Option(..., "--out"),
        fbo: list[str] = typer.Option(["nl"], "--fbo", help="nl, avg, max or none (repeat to compare)."),
        window: int = typer.Option(2, "--window", min=0, help="Window half-width N: seconds t-N .. t+N."),
        epochs: int = typer.Option(30, "--epochs", min=1),
        seed: int = typer.Option(0, "--seed"),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ):
        """Stage 2b: train feature-bank heads on the bank and report test frame mAP@0.5."""
        from vidlab.apps.output import print_json
        from vidlab.detect.lfb import train_lfb_head
        from vidlab.errors import VidlabError

        bad = [f for f in fbo if f not in ("nl", "avg", "max", "none")]
        if bad:
            raise VidlabError(f"unknown --fbo {bad[0]!r}; choose nl, avg, max or none")
        results = [train_lfb_head(bank, data, out, fbo=f, half_width=window, epochs=epochs, seed=seed,
                                  progress=not quiet) for f in fbo]
        if as_json:
            print_json(results)
        else:
            for r in results:
                print(f"fbo {r['fbo']:<5} window +-{r['half_width']} s  test frame mAP@0.5 {r['mAP']:.4f}")
