"""Temporal action localization commands: `vidlab eval-tal` (ActivityNet / THUMOS'14 detection mAP).

The `vidlab tal train|eval|detect` group belongs here too: a ``tal_app = typer.Typer(...)`` added in
:func:`register` with ``app.add_typer(tal_app, name="tal")`` (not created while it has no command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

PRESET_NAMES = ("activitynet", "thumos14")


def register(app: typer.Typer) -> None:
    app.command("eval-tal")(eval_tal)


def eval_tal(
    groundtruth: Path = typer.Option(..., "--groundtruth",
                                     help="ActivityNet-style JSON ({\"database\": {video: {\"subset\", \"annotations\": "
                                          "[{\"segment\", \"label\"}]}}}), or a folder of THUMOS'14 annotation files "
                                          "(CLASS_val.txt / CLASS_test.txt)."),
    predictions: Path = typer.Option(..., "--predictions",
                                     help="Challenge-format JSON: {\"results\": {video: list of {\"label\", \"score\", "
                                          "\"segment\"}}} with segment = start, end in seconds (video ids "
                                          "compared exactly)."),
    tiou: Optional[str] = typer.Option(None, "--tiou", help="tIoU thresholds: start:stop:step (0.5:0.95:0.05), a "
                                       "comma list (0.3,0.5,0.7) or one number. Default: the preset's."),
    preset: Optional[str] = typer.Option(None, "--preset", help="activitynet (tIoU 0.5:0.95:0.05, subset validation) "
                                         "or thumos14 (0.3:0.7:0.1, subset test). Default: thumos14 when "
                                         "--groundtruth is a folder, else activitynet."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Ground-truth subset to score (default: the "
                                         "preset's). Predictions on other videos count as false positives."),
    blocked: Optional[Path] = typer.Option(None, "--blocked", help="Videos to leave out of both files: a JSON list "
                                           "or one id per line (the official evaluator's blocked videos)."),
    ignore_unknown_labels: bool = typer.Option(False, "--ignore-unknown-labels",
                                               help="Drop predictions whose label is no ground-truth class of the "
                                                    "subset (the official evaluator stops on them; so does "
                                                    "vidlab without this flag)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result (mAP per tIoU, average, per-class AP "
                                 "and counts, warnings) as JSON."),
):
    """Temporal action detection mAP exactly as the official ActivityNet evaluator computes it.

    Per class and tIoU threshold, predictions ranked by score are matched greedily to the ground-truth
    segments of their video; AP is the all-points interpolated VOC AP; mAP averages the classes, and
    the average mAP the thresholds. THUMOS'14 is scored with the same rules (as ActionFormer and others
    report it). Notes (predictions on unknown videos, classes without predictions) go to stderr.
    """
    from vidlab.apps.output import log, print_json

    preset, res = evaluate_tal(groundtruth, predictions, tiou=tiou, preset=preset, subset=subset, blocked=blocked,
                       ignore_unknown_labels=ignore_unknown_labels)
    for w in res.warnings:
        log(f"note: {w}")
    if as_json:
        print_json({"preset": preset, **res.to_dict()})
        return
    print(f"{preset} rules, subset {res.subset or 'all'}: {res.num_videos} videos, "
          f"{int(res.num_groundtruth.sum())} ground-truth segments, {len(res.classes)} classes, "
          f"{res.num_prediction_rows} predictions")
    print("tIoU   mAP")
    for t, m in zip(res.tiou_thresholds, res.mAP):
        print(f"{_fmt_tiou(t):<6} {m:.4f}")
    print(f"{'avg':<6} {res.average_mAP:.4f}")


def _fmt_tiou(t: float) -> str:
    return f"{t:.2f}" if abs(t * 100 - round(t * 100)) < 1e-6 else f"{t:g}"


def evaluate_tal(groundtruth: Path, predictions: Path, tiou: Optional[str] = None, preset: Optional[str] = None,
                 subset: Optional[str] = None, blocked: Optional[Path] = None,
                 ignore_unknown_labels: bool = False) -> tuple[str, Any]:
    """What ``vidlab eval-tal`` computes: ``(preset, DetectionResult)``."""
    from vidlab.localize import metrics

    folder = Path(groundtruth).is_dir()
    if preset is None:
        preset = "thumos14" if folder else "activitynet"
    if preset not in PRESET_NAMES:
        raise typer.BadParameter(f"must be activitynet or thumos14, got {preset!r}", param_hint="'--preset'")
    thresholds = metrics.parse_tiou(tiou) if tiou is not None else metrics.PRESETS[preset]
    gt: Any = metrics.read_thumos14(groundtruth) if folder else groundtruth
    res = metrics.evaluate_detection(
        gt, predictions, tiou_thresholds=thresholds, subset=subset or metrics.PRESET_SUBSETS[preset],
        blocked=metrics.read_video_list(blocked) if blocked is not None else (),
        unknown_labels="ignore" if ignore_unknown_labels else "error")
    return preset, res
