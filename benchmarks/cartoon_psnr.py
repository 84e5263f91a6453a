"""Check vidlab's CartoonGAN against the upstream outputs, for users who have the real weights.

The reference pairs (../shared/data/real/cartoongan_pairs) hold real photos and the outputs the
upstream port wrote with the published Hayao and Hosoda weights (JPEG/PNG, so compare with a
tolerance). This script reproduces the port's pipeline exactly (``--load_size 450`` resize with
Pillow bicubic, BGR [-1, 1], the generator *without* cropping, i.e. the port's
``4*ceil(ceil(n/2)/2)`` size) and prints the PSNR of every pair, plus the mean:

    .venv/bin/python benchmarks/cartoon_psnr.py --weights DIR_WITH_PTH_FILES [--styles Hayao Hosoda]
        [--pairs ../shared/data/real/cartoongan_pairs] [--min-psnr 30] [--json]

``DIR_WITH_PTH_FILES`` holds ``Hayao_net_G_float.pth`` / ``Hosoda_net_G_float.pth`` (or the fork's
``cartoongan-hayao.pth`` ...). With ``--min-psnr`` the exit status is 1 when any pair is below it.
The GIF pair (``demo_ori.gif`` -> ``demo.gif``, Hayao) is compared frame by frame when present;
GIF colours are palettised, so expect lower figures there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PAIRS = Path(os.environ.get("VIDLAB_SHARED", REPO.parent / "shared")) / "data" / "real" / "cartoongan_pairs"


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def port_output(model, rgb: np.ndarray, load_size: int) -> np.ndarray:
    """The port's test.py output for an RGB image: resized, not cropped, uint8 RGB."""
    from vidlab.cartoon.generator import postprocess, preprocess
    from vidlab.cartoon.imageio import resize_to_load_size

    work = resize_to_load_size(rgb, load_size)
    with torch.inference_mode():
        return postprocess(model(preprocess(work)))[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="folder (or file, with one --styles) of the published weights")
    ap.add_argument("--styles", nargs="+", default=["Hayao", "Hosoda"])
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--load-size", type=int, default=450)
    ap.add_argument("--gif-frames", type=int, default=20, help="GIF frames compared (0: skip the GIF pair)")
    ap.add_argument("--min-psnr", type=float, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from PIL import Image

    from vidlab.cartoon.weights import load_generator
    from vidlab.errors import VidlabError

    if not (args.pairs / "input").is_dir():
        print(f"error: no reference pairs at {args.pairs}", file=sys.stderr)
        return 2
    rows = []
    for style in args.styles:
        try:
            model = load_generator(style, args.weights)
            model.crop = False  # the port's size: compare like with like
        except VidlabError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        for ref_path in sorted((args.pairs / "output").glob(f"*_{style}.*")):
            stem = ref_path.stem[: -len(style) - 1]
            inputs = [p for p in (args.pairs / "input").glob(f"{stem}.*")]
            if not inputs:
                continue
            rgb = np.asarray(Image.open(inputs[0]).convert("RGB"))  # the port ignores EXIF orientation
            ours = port_output(model, rgb, args.load_size)
            ref = np.asarray(Image.open(ref_path).convert("RGB"))
            if ref.shape != ours.shape:
                rows.append({"style": style, "input": inputs[0].name, "error": f"size {ours.shape} != {ref.shape}"})
                continue
            rows.append({"style": style, "input": inputs[0].name, "reference": ref_path.name, "psnr": psnr_u8(ours, ref)})
        gif_in, gif_out = args.pairs / "output" / "demo_ori.gif", args.pairs / "output" / "demo.gif"
        if style == "Hayao" and args.gif_frames and gif_in.exists() and gif_out.exists():
            from vidlab.io import VideoReader

            with VideoReader(gif_in) as a, VideoReader(gif_out) as b:
                n = min(args.gif_frames, len(a), len(b))
                fa, fb = a.get_frames(range(n)), b.get_frames(range(n))
            vals = []
            for x, y in zip(fa, fb):
                o = port_output(model, x, args.load_size)
                if o.shape == y.shape:
                    vals.append(psnr_u8(o, y))
            if vals:
                rows.append({"style": style, "input": f"demo_ori.gif ({len(vals)} frames)", "reference": "demo.gif",
                             "psnr": float(np.mean(vals))})
    scored = [r["psnr"] for r in rows if "psnr" in r]
    summary = {"pairs": len(scored), "mean_psnr": float(np.mean(scored)) if scored else None,
               "min_psnr": float(np.min(scored)) if scored else None}
    if args.json:
        print(json.dumps({"rows": rows, **summary}, indent=2))
    else:
        for r in rows:
            print(f"{r['style']:8s} {r['input']:28s} " + (f"PSNR {r['psnr']:.2f} dB" if "psnr" in r else r["error"]))
        if scored:
            print(f"mean PSNR {summary['mean_psnr']:.2f} dB over {len(scored)} pairs (min {summary['min_psnr']:.2f})")
    bad = [r for r in rows if "error" in r or (args.min_psnr is not None and r["psnr"] < args.min_psnr)]
    return 1 if bad and (args.min_psnr is not None or any("error" in r for r in rows)) else 0


if __name__ == "__main__":
    sys.exit(main())
