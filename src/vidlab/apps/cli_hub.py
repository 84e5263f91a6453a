"""`vidlab hub list|info|download`: the published checkpoints, and `--model NAME [--weights TAG]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from vidlab.apps.output import print_json

hub_app = typer.Typer(no_args_is_help=True,
                      help="Published checkpoints: list them, describe one, download one (cache: $VIDLAB_HOME/hub, "
                           "default ~/.cache/vidlab; VIDLAB_HUB_MIRROR: a folder or base URL for offline machines).")


def register(app: typer.Typer) -> None:
    app.add_typer(hub_app, name="hub")


def checkpoint_for(checkpoint: Optional[Path], model: Optional[str], weights: Optional[str]) -> Path:
    """The checkpoint a command runs: ``--checkpoint CKPT``, or ``--model NAME [--weights TAG]`` from the
    hub (downloaded and converted once); exactly one of the two (else a usage error)."""
    hint = "'--checkpoint' / '--model'"
    if checkpoint is not None and model is not None:
        raise typer.BadParameter("give one of them, not both", param_hint=hint)
    if checkpoint is None and model is None:
        raise typer.BadParameter("one of them is required (--checkpoint CKPT, or --model NAME [--weights TAG] for "
                                 "a published checkpoint: `vidlab hub list`)", param_hint=hint)
    if model is None:
        if weights is not None:
            raise typer.BadParameter("a hub tag: it goes with --model, not with --checkpoint", param_hint="'--weights'")
        return Path(str(checkpoint))
    from vidlab.hub import load_checkpoint_path

    return load_checkpoint_path(model, weights or "DEFAULT")


def _row(entry: Any, default: bool) -> dict[str, Any]:
    from vidlab.hub import is_cached

    return {**entry.to_dict(), "default": default, "cached": is_cached(entry)}


def _rows() -> list[dict[str, Any]]:
    from vidlab.hub import list_entries

    seen: set[str] = set()
    rows = []
    for e in list_entries():
        rows.append(_row(e, e.arch not in seen))
        seen.add(e.arch)
    return rows


def _accuracy(row: dict[str, Any]) -> str:
    """The published figure in one cell: ``top1/top5``, ``top1``, ``mAP 37.24`` (multi-label sets such as
    Charades), else the first metric of a per-benchmark dict (``epe=1.819``)."""
    acc = row["accuracy"]
    if "top1" in acc:
        return f"{acc['top1']:.2f}/{acc['top5']:.2f}" if "top5" in acc else f"{acc['top1']:.2f}"
    if "mAP" in acc:
        return f"mAP {acc['mAP']:.2f}"
    flat = [f"{k}={v}" for metrics in acc.values() if isinstance(metrics, dict) for k, v in metrics.items()]
    return flat[0] if flat else "-"


@hub_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print a JSON list of the entries.")):
    """Every published checkpoint: name, architecture, tag, source, top-1/top-5 (or mAP), whether it is cached."""
    rows = _rows()
    if as_json:
        print_json(rows)
        return
    head = ("name", "arch", "tag", "source", "acc", "verified", "cached")
    table = [(r["name"], r["arch"], r["tag"] + (" (DEFAULT)" if r["default"] else ""), r["source"], _accuracy(r),
              "yes" if r["verified"] else "no", "yes" if r["cached"] else "-") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    for line in (head, *table):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())


def _info(name: str) -> dict[str, Any]:
    from vidlab.hub import checkpoint_path, get_entry, label_names, read_records
    from vidlab.hub.download import downloads_dir

    entry = get_entry(name)
    row = next(r for r in _rows() if r["name"] == entry.name)
    row["file"] = str(downloads_dir() / entry.filename)
    row["record"] = read_records().get(entry.filename)
    if entry.kind == "classifier":
        row["checkpoint"] = str(checkpoint_path(entry))
        row["preprocessing"] = entry.resolved_preprocessing()
    if entry.labels:
        row["num_labels"] = len(label_names(entry.labels))
    return row


@hub_app.command("info")
def info_cmd(
    name: str = typer.Argument(..., help="Entry name (r3d_18.kinetics400) or architecture (its DEFAULT entry)."),
    as_json: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
):
    """Everything the table records about one entry, and where it is cached."""
    row = _info(name)
    if as_json:
        print_json(row)
        return
    for key, value in row.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        print(f"{key:<16} {value if value not in (None, '') else '-'}")


@hub_app.command("download")
def download_cmd(
    name: str = typer.Argument(..., help="Entry name or architecture (its DEFAULT entry)."),
    to: Optional[Path] = typer.Option(None, "--to", help="Write the published file here under its published name "
                                                         "(a mirror folder for VIDLAB_HUB_MIRROR) instead of "
                                                         "converting it into the cache."),
    as_json: bool = typer.Option(False, "--json", help="Print {entry, path, file, sha256, check} as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """Download (once), check and convert a published checkpoint; prints the local path."""
    from vidlab.hub import download, get_entry, read_records

    entry = get_entry(name)
    path = download(entry, to=to, progress=False if quiet else None)
    record = read_records().get(entry.filename) or {}
    res = {"entry": entry.name, "path": str(path), "file": entry.filename, "sha256": record.get("sha256"),
           "check": record.get("check")}
    if as_json:
        print_json(res)
    else:
        print(path)
