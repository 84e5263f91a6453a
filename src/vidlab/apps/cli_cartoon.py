"""`vidlab cartoonize`: CartoonGAN styles (and the offline ``classic`` filter) on images and videos."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv"}


def _expand(inputs: list[Path]) -> list[Path]:
    """Folders stand for the images and videos directly inside them (sorted)."""
    from vidlab.cartoon.imageio import IMAGE_EXTENSIONS

    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.is_file()
                              and q.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
        else:
            out.append(p)
    return out


def register(app: typer.Typer) -> None:
    from vidlab.apps.clitools import RunByDefault, alias

    cartoon_app = typer.Typer(
        cls=RunByDefault, no_args_is_help=True,
        help="CartoonGAN: cartoonize photos and videos, export the generator for phones. "
             "`vidlab cartoon INPUT...` is `vidlab cartoon run INPUT...`.")
    app.add_typer(cartoon_app, name="cartoon")
    export = register_export(cartoon_app)
    alias(app, "cartoon-export", export)

    @cartoon_app.command("run")
    def cartoonize(
        inputs: list[Path] = typer.Argument(..., help="Images (jpg/png/webp...), videos, or folders of them."),  # noqa: B008
        style: str = typer.Option("classic", "--style", "-s",
                                  help="Hayao, Hosoda, Paprika, Shinkai (need weights) or classic (no weights)."),
        weights: Path | None = typer.Option(None, "--weights", "-w",  # noqa: B008
                                            help="<Style>_net_G_float.pth file, or a folder holding it."),
        load_size: int = typer.Option(450, "--load-size", min=0,
                                      help="Run the style with the longer side at N pixels (as upstream); 0 keeps "
                                           "the input size. The output always has the input's size."),
        tile: int | None = typer.Option(None, "--tile", min=0,
                                        help="Tile size for large images (default: automatic above 1 megapixel; "
                                             "0: never tile)."),
        out: Path = typer.Option(Path("cartoonized"), "--out", "-o", help="Output folder."),  # noqa: B008
        ext: str = typer.Option("png", "--ext", help="Image output format: png, jpg, webp."),
        batch: int = typer.Option(4, "--batch", min=1, help="Video frames per forward pass."),
        temporal: bool = typer.Option(False, "--temporal/--no-temporal",
                                      help="Video: smooth normalisation statistics (classic: the palette) over "
                                           "frames to reduce flicker."),
        momentum: float = typer.Option(0.9, "--momentum", min=0.0, max=0.999, help="With --temporal: EMA momentum."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON record per input on stdout."),
    ):
        """Cartoonize images and videos. Outputs go to OUT/<name>_<style>.<ext> (videos: .mp4, fps and
        audio kept). A bad input prints one error line and the others are still processed (exit 1; 2 when none could be)."""
        from tqdm import tqdm

        from vidlab.apps.output import EXIT_BAD_INPUT, error, print_json
        from vidlab.cartoon.api import get_generator, run_generator
        from vidlab.cartoon.imageio import (
            IMAGE_EXTENSIONS,
            read_image,
            resize_to_load_size,
            write_image,
        )
        from vidlab.cartoon.weights import canonical_style
        from vidlab.errors import VidlabError

        ext = ext.lower().lstrip(".")
        if ext not in ("png", "jpg", "jpeg", "webp"):
            raise VidlabError(f"--ext must be png, jpg or webp, got {ext!r}")
        classic = style.lower() == "classic"
        model = None
        if not classic:
            style = canonical_style(style)
            model, _ = get_generator(style, weights)  # missing/wrong weights: one error line, exit 2
        else:
            style = "classic"
        files = _expand(inputs)
        if not files:
            raise VidlabError("no images or videos found in the given inputs")
        records = []
        failed = 0
        for path in files:
            t0 = time.perf_counter()
            rec: dict = {"input": str(path)}
            try:
                if path.suffix.lower() in IMAGE_EXTENSIONS or (path.suffix.lower() not in VIDEO_EXTENSIONS
                                                                and _looks_like_image(path)):
                    rgb, icc = read_image(path, with_icc=True)
                    h, w = rgb.shape[:2]
                    dst = out / f"{path.stem}_{style}.{ext}"
                    work = resize_to_load_size(rgb, load_size)
                    if classic:
                        from vidlab.cartoon.classic import classic_cartoon

                        res = classic_cartoon(work)
                    else:
                        bar = tqdm(total=0, desc=path.name, unit="tile", leave=False, disable=None, file=sys.stderr)

                        def progress(done: int, total: int, bar=bar) -> None:
                            bar.total = total
                            bar.update(done - bar.n)

                        try:
                            res = run_generator(model, work, tile=tile, progress=progress)
                        finally:
                            bar.close()
                    if res.shape[:2] != (h, w):
                        from vidlab.cartoon.api import resize_rgb

                        res = resize_rgb(res, (h, w))
                    write_image(dst, res, icc=icc)
                    rec.update(kind="image", output=str(dst), width=w, height=h)
                else:
                    from vidlab.cartoon.video import cartoonize_video
                    from vidlab.io import probe_video

                    info = probe_video(path)
                    dst = out / f"{path.stem}_{style}.mp4"
                    with tqdm(total=info.num_frames or None, desc=path.name, unit="frame", disable=None,
                              file=sys.stderr) as bar:
                        res = cartoonize_video(path, dst, style=style, weights=weights, load_size=load_size,
                                               batch=batch, temporal=temporal, momentum=momentum, model=model,
                                               progress=bar.update)
                    rec.update(kind="video", output=str(dst), **res)
            except (VidlabError, ValueError) as e:
                error(str(e) if str(path) in str(e) else f"{path}: {e}")
                failed += 1
                rec["error"] = str(e)
            rec["seconds"] = round(time.perf_counter() - t0, 3)
            records.append(rec)
            if not as_json and "error" not in rec:
                print(f"{rec['input']} -> {rec['output']}")
        if as_json:
            print_json(records)
        if failed:  # 2: nothing was done; 1: some inputs failed, the others were done
            raise typer.Exit(EXIT_BAD_INPUT if failed == len(records) else 1)

    alias(app, "cartoonize", cartoonize)


def register_export(app: typer.Typer):
    """Add ``export`` to the cartoon group; returns the command function."""

    @app.command("export")
    def cartoon_export(
        out: Path = typer.Argument(..., help="Output file: .onnx or .pte."),  # noqa: B008
        style: str = typer.Option("Hayao", "--style", "-s"),
        weights: Path | None = typer.Option(None, "--weights", "-w"),  # noqa: B008
        fixture_weights: bool = typer.Option(False, "--fixture-weights",
                                             help="Use the golden fixture's deterministic weights (testing)."),
        size: str = typer.Option("256x256", "--size", help="HxW of the .pte input (ONNX is dynamic)."),
        int8: bool = typer.Option(False, "--int8", help=".pte only: PT2E int8 (dynamic activations)."),
        as_json: bool = typer.Option(False, "--json"),
    ):
        """Export the CartoonGAN generator (mobile form) to ONNX or an ExecuTorch XNNPACK .pte.

        A shortcut that finds the weights by style (or uses the fixture's); `vidlab export
        WEIGHTS.pth --format onnx|executorch|torchscript` does the same from a weights file.
        """
        from vidlab.apps.output import print_json
        from vidlab.cartoon.deploy import export_generator
        from vidlab.cartoon.generator import CartoonGenerator, fixture_state_dict
        from vidlab.cartoon.weights import load_generator
        from vidlab.errors import VidlabError

        try:
            h, w = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise VidlabError(f"--size must be HxW, got {size!r}") from None
        fmt = {".onnx": "onnx", ".pte": "executorch"}.get(out.suffix)
        if fmt is None:
            raise VidlabError(f"{out}: the output must end in .onnx or .pte")
        if int8 and fmt != "executorch":
            raise VidlabError("--int8 applies to .pte outputs (use `vidlab export --format onnx --int8` for ONNX)")
        if fixture_weights:
            model = CartoonGenerator()
            model.load_state_dict(fixture_state_dict())
            model.eval()
        else:
            model = load_generator(style, weights)
        rec = export_generator(model, out, fmt, (h, w), int8=int8)
        if as_json:
            print_json(rec)
        else:
            print(f"wrote {out} ({rec['size_mb']:.1f} MB); vs eager: max abs {rec['max_abs_diff']:.2e}, "
                  f"PSNR {rec['psnr_vs_eager']:.1f} dB")

    return cartoon_export


def _looks_like_image(path: Path) -> bool:
    """An input with an unknown extension: Pillow decides (videos otherwise)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) == 1
    except Exception:  # noqa: BLE001  (not an image: tried as a video, which reports the error)
        return False
