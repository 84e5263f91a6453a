"""`vidlab explain`: Grad-CAM heat maps of one window of a video (and SlowFast's pathway ablation)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)


def explain(
    video: Path = typer.Argument(..., help="Video file (any format FFmpeg reads)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="vidlab checkpoint (.safetensors with its .json)."),
    model_name: Optional[str] = typer.Option(None, "--model", help="A published checkpoint instead of --checkpoint: "
                                             "an architecture or hub entry (`vidlab hub list`)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="With --model: the hub tag (default DEFAULT)."),
    layer: Optional[str] = typer.Option(None, "--layer", help="Module to explain, by dotted name (e.g. s4, "
                                        "layer3, blocks.10.norm1; several: comma-separated). Default: the last "
                                        "conv stage (SlowFast: the last block of each pathway)."),
    class_: Optional[str] = typer.Option(None, "--class", help="Class to explain: an index or a label name "
                                         "(default: the top-1)."),
    start: float = typer.Option(0.0, "--start", min=0.0, help="Seconds into the video where the window starts "
                                "(moved back to the last full window near the end)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the videos, contact sheets and JSON."),
    topk: int = typer.Option(5, "--topk", "-k", min=1, help="How many classes to list."),
    backend: str = typer.Option("pyav", "--backend", help="Decoder: pyav, torchcodec or auto."),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as one JSON object."),
):
    """Grad-CAM of one clip, taken as `vidlab classify` takes a window: where and when the evidence for a class is.

    Writes OUT/STEM_gradcam.mp4 (the clip the model saw with the heat map blended in), OUT/STEM_gradcam.png (a
    contact sheet) and OUT/STEM_explain.json (top-k, the class and layers explained). For SlowFast there is one
    map per pathway at its own frame rate (_slow / _fast files) and the JSON holds the pathway ablation: the
    score with the Fast pathway, the Slow pathway or the lateral connections taken out.
    """
    from vidlab import models
    from vidlab.apps.cli_hub import checkpoint_for
    from vidlab.apps.output import print_json
    from vidlab.explain import explain_video
    from vidlab.io.video import BACKENDS

    if backend not in BACKENDS:
        raise typer.BadParameter(f"must be one of {', '.join(BACKENDS)}, got {backend!r}", param_hint="'--backend'")
    ck = checkpoint_for(checkpoint, model_name, weights)
    model = models.load(ck)
    doc = explain_video(model, video, out, layers=layer, class_index=class_, start=start, topk=topk, backend=backend,
                        checkpoint=ck)
    if as_json:
        print_json(doc)
        return
    c = doc["class"]
    print(f"{video}: window {doc['window']['start_sec']:.2f}-{doc['window']['end_sec']:.2f} s, explaining "
          f"{c['label']!r} (p={c['prob']:.3f}, {c['chosen']})")
    print("top: " + ", ".join(f"{t['label']} {t['score']:.3f}" for t in doc["top"]))
    for m in doc["maps"]:
        peak = m["peak"]
        print(f"{m['name']:<8} layer {m['layer']}  activations {'x'.join(map(str, m['activation_shape']))}  "
              f"peak t={peak['t']} y={peak['y']} x={peak['x']}  -> {m['video']}, {m['sheet']}")
    for row in (doc.get("ablation") or {}).get("rows", []):
        print(f"  {row['variant']:<11} {c['label']} logit {row['class_logit']:+.3f} p {row['class_prob']:.3f}  "
              f"top-1 {row['top1']['label']} {row['top1']['prob']:.3f}")
    print(f"json {doc['json']}")
