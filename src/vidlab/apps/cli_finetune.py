"""`vidlab finetune`: a checkpoint trained further on class folders (:mod:`vidlab.apps.finetune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vidlab.apps.output import print_json


def finetune_cmd(
    data: Path = typer.Argument(..., help="Class folders: DATA/{class}/{video}, or DATA/{train,val,test}/{class}/{video}."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: model.safetensors, report.html, data/, run/."),
    model: Optional[str] = typer.Option(None, "--model", help="Start from a published checkpoint (`vidlab hub list`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="Start from a vidlab checkpoint instead."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Or train this architecture from scratch."),
    linear_probe: bool = typer.Option(False, "--linear-probe", help="Train the new classifier only."),
    freeze_until: Optional[str] = typer.Option(None, "--freeze-until", help="Freeze the parameters before this module "
                                               "(e.g. s4 for the ResNets, blocks.8 for a ViT)."),
    epochs: int = typer.Option(10, "--epochs", min=1),
    minutes: Optional[float] = typer.Option(None, "--minutes", min=0.01, help="Wall-clock budget for the training."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of the head (default 0.01 SGD, 1e-4 AdamW)."),
    optimizer: str = typer.Option("sgd", "--optimizer", help="sgd or adamw."),
    backbone_lr_scale: float = typer.Option(0.1, "--backbone-lr-scale", min=0.0, help="The backbone's rate relative "
                                            "to the head's."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Frames per clip (default: the checkpoint's)."),
    sampling_rate: Optional[int] = typer.Option(None, "--sampling-rate", min=1, help="Default: the checkpoint's."),
    crop: Optional[int] = typer.Option(None, "--crop", min=8, help="Crop size (default: the checkpoint's)."),
    val_fraction: float = typer.Option(0.15, "--val-fraction", help="Without split folders: share of each class "
                                       "for validation."),
    test_fraction: float = typer.Option(0.15, "--test-fraction", help="... and for the test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the training."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    cache: str = typer.Option("none", "--cache", help="none, memory or disk: decoded training frames."),
    threads: Optional[int] = typer.Option(None, "--threads", min=0),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Fine-tune a checkpoint on your own videos, one folder per class.

    Without train/val/test folders the videos are split here: deterministic, stratified by class, and
    grouped by source where the names show it (UCF101 _gNN_, KTH personNN, HMDB51 source movie), so
    clips of one source never land in two splits. The model gets a new classifier for the folders'
    classes; the backbone trains at --backbone-lr-scale of the head's rate, or not at all with
    --linear-probe. Afterwards: vidlab classify VIDEO --checkpoint OUT/model.safetensors.
    """
    import sys

    from vidlab.apps.finetune import finetune

    s = finetune(data, out, model=model, weights=weights, checkpoint=checkpoint, arch=arch, linear_probe=linear_probe,
                 freeze_until=freeze_until, epochs=epochs, minutes=minutes, lr=lr, optimizer=optimizer,
                 backbone_lr_scale=backbone_lr_scale, batch_size=batch_size, num_frames=frames,
                 sampling_rate=sampling_rate, crop_size=crop, val_fraction=val_fraction, test_fraction=test_fraction,
                 seed=seed, resume=resume, threads=threads, cache=cache, progress=sys.stderr.isatty())
    if as_json:
        print_json(s)
        return
    score = (f"{s['evaluated_on']} top-1 {s['top1']:.3f}, mean class accuracy {s['mean_class_accuracy']:.3f}"
             if s["top1"] is not None else "no held-out videos to score")
    print(f"{s['arch']} fine-tuned for {s['epochs']} epochs on {len(s['classes'])} classes: {score}")
    print(f"checkpoint: {s['checkpoint']}")
    print(f"report: {s['report']}")


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune_cmd)
