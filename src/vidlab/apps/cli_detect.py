"""Spatio-temporal detection commands: `vidlab eval-ava` (and, later, `vidlab detect`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval-ava")
    def eval_ava(
        groundtruth: Path = typer.Option(..., "--groundtruth", help="AVA csv: video_id,timestamp,x1,y1,x2,y2,action_id,person_id"),
        detections: Path = typer.Option(..., "--detections", help="AVA csv: video_id,timestamp,x1,y1,x2,y2,action_id,score"),
        labelmap: Path = typer.Option(..., "--labelmap", help="pbtxt label map (the evaluated classes)."),
        exclusions: Optional[Path] = typer.Option(None, "--exclusions", help="csv of excluded video_id,timestamp"),
        as_json: bool = typer.Option(False, "--json", help='Print {"mAP": .., "per_class": {"<id>": ap or null}}.'),
    ):
        """Frame-level mAP@0.5 exactly as the official AVA evaluation computes it."""
        from vidlab.apps.cli import _print_json
        from vidlab.evaluation.ava import evaluate_files

        res = evaluate_files(groundtruth, detections, labelmap, exclusions)
        if as_json:
            _print_json({"mAP": res["mAP"], "per_class": res["per_class"]})
            return
        for cid, ap in res["per_class"].items():
            print(f"{cid:>4}  {'  n/a ' if ap is None else f'{ap:.4f}'}  {res['names'][cid]}")
        print(f"mAP@0.5 {res['mAP']:.4f}  ({res['num_groundtruth_frames']} frames with ground truth)")
