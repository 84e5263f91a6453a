"""Reports: a small document model written as Markdown and HTML, plus plots.

A :class:`Report` collects headings, paragraphs, tables and images, then
writes ``report.md`` and ``report.html`` side by side (images are PNG files in
the same folder, referenced relatively, so the folder can be moved or zipped).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class Report:
    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> "Report":
        self.blocks.append(("h", level, text))
        return self

    def paragraph(self, text: str) -> "Report":
        self.blocks.append(("p", text))
        return self

    def bullets(self, items: Sequence[str]) -> "Report":
        self.blocks.append(("ul", list(items)))
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> "Report":
        self.blocks.append(("table", list(headers), [list(r) for r in rows]))
        return self

    def image(self, path: str | os.PathLike, caption: str = "") -> "Report":
        self.blocks.append(("img", str(path), caption))
        return self

    def link(self, path: str | os.PathLike, text: str) -> "Report":
        self.blocks.append(("link", str(path), text))
        return self

    # -- writers -------------------------------------------------------------
    def to_markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                out += ["#" * b[1] + " " + b[2], ""]
            elif kind == "p":
                out += [b[1], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in b[1]] + [""]
            elif kind == "table":
                headers, rows = b[1], b[2]
                out.append("| " + " | ".join(map(str, headers)) + " |")
                out.append("|" + "|".join("---" for _ in headers) + "|")
                out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
                out.append("")
            elif kind == "img":
                out += [f"![{b[2]}]({_rel(b[1], base)})", ""]
                if b[2]:
                    out += [f"*{b[2]}*", ""]
            elif kind == "link":
                out += [f"[{b[2]}]({_rel(b[1], base)})", ""]
        return "\n".join(out)

    def to_html(self, base: Path) -> str:
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                body.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
            elif kind == "p":
                body.append(f"<p>{e(b[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{e(str(h))}</th>" for h in b[1])
                rows = "".join("<tr>" + "".join(f"<td>{e(_cell(c))}</td>" for c in r) + "</tr>" for r in b[2])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "img":
                src = e(_rel(b[1], base))
                cap = f"<figcaption>{e(b[2])}</figcaption>" if b[2] else ""
                body.append(f'<figure><img src="{src}" alt="{e(b[2])}">{cap}</figure>')
            elif kind == "link":
                body.append(f'<p><a href="{e(_rel(b[1], base))}">{e(b[2])}</a></p>')
        return _HTML.format(title=e(self.title), body="\n".join(body))

    def write(self, out_dir: str | os.PathLike, stem: str = "report") -> tuple[Path, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md, page = out / f"{stem}.md", out / f"{stem}.html"
        md.write_text(self.to_markdown(out))
        page.write_text(self.to_html(out))
        return md, page


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
th{{background:#f3f3f3}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}
figure{{margin:1em 0}}figcaption{{color:#555;font-size:.9em}}
</style></head><body>
{body}
</body></html>
"""


def _cell(c) -> str:
    if isinstance(c, float):
        return "n/a" if not np.isfinite(c) else f"{c:.3f}"
    return "n/a" if c is None else str(c)


def _rel(path: str, base: Path) -> str:
    p = Path(path)
    try:
        return os.path.relpath(p, base) if p.is_absolute() else str(p)
    except ValueError:
        return str(p)


# -- plots --------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(histories: dict[str, list[dict]], path: str | os.PathLike) -> Path:
    """Train loss and validation top-1 per epoch, one line per model."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, hist in histories.items():
        ep = [r["epoch"] for r in hist]
        axes[0].plot(ep, [r["train_loss"] for r in hist], marker="o", ms=3, label=name)
        val = [(r["epoch"], r["val_top1"]) for r in hist if "val_top1" in r]
        if val:
            axes[1].plot(*zip(*val), marker="o", ms=3, label=name)
    axes[0].set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    axes[1].set(title="validation top-1", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    if not any("val_top1" in r for hist in histories.values() for r in hist):
        axes[1].text(0.5, 0.5, "no validation set", ha="center", va="center", transform=axes[1].transAxes)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_confusion_matrix(cm, labels: Sequence[str], path: str | os.PathLike, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts in the cells."""
    plt = _plt()
    from vidlab.evaluation.metrics import row_normalised

    cm = np.asarray(cm)
    norm = row_normalised(cm)
    n = len(labels)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_per_class(per_class: dict[str, Sequence], labels: Sequence[str], path: str | os.PathLike) -> Path:
    """Grouped bars: per-class accuracy of each model."""
    plt = _plt()
    n, k = len(labels), len(per_class)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * n + 2), 3.8))
    width = 0.8 / max(k, 1)
    for i, (name, acc) in enumerate(per_class.items()):
        vals = [np.nan if a is None else a for a in acc]
        ax.bar(np.arange(n) + (i - (k - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="accuracy", ylim=(0, 1.05), title="per-class test accuracy")
    ax.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def training_report(out: str | os.PathLike, *, title: str, intro: str, histories: dict[str, list[dict]],
                    result: dict | None, classes: Sequence[str], scored_on: str | None,
                    bullets: Sequence[str] = ()) -> Path:
    """The report of one training run (``vidlab train``, ``vidlab finetune``): curves, and with a
    scored split its top-1, confusion matrix and per-class accuracy; ``out/report.{md,html}``,
    figures in ``out/figures``. Returns the HTML path."""
    out = Path(out)
    fig = out / "figures"
    fig.mkdir(parents=True, exist_ok=True)
    rep = Report(title)
    rep.paragraph(intro)
    name = next(iter(histories), "model")
    if result is not None:
        rep.table(["scored on", "videos", "top-1", "top-5", "mean class accuracy"],
                  [[scored_on, len(result.get("labels", [])) or "-", result["top1"], result["top5"],
                    result["mean_class_accuracy"]]])
    else:
        rep.paragraph("No validation or test videos: nothing was scored.")
    if any(histories.values()):
        rep.heading("Training curves")
        rep.image(plot_training_curves(histories, fig / "curves.png"), "training loss and validation top-1 per epoch")
    if result is not None:
        rep.heading(f"Confusion matrix ({scored_on})")
        rep.image(plot_confusion_matrix(result["confusion_matrix"], classes, fig / "confusion.png", title=name),
                  "rows = true class, normalised per row")
        rep.heading(f"Per-class accuracy ({scored_on})")
        rep.image(plot_per_class({name: result["per_class_accuracy"]}, classes, fig / "per_class.png"))
        rep.table(["class", "accuracy"], [[c, a] for c, a in zip(classes, result["per_class_accuracy"])])
    if bullets:
        rep.heading("Outputs")
        rep.bullets(list(bullets))
    _, html = rep.write(out)
    return html
