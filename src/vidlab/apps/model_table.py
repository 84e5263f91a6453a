"""The table behind `vidlab models`: params and GFLOPs per registered architecture.

FLOPs are counted with ``torch.utils.flop_counter`` on the meta device (no
memory, no compute), for one view of shape ``(1, 3, T, crop, crop)`` (flow
models: 2 channels; two-stream models: ``[rgb, flow]``) at the training crop
and at the test crop. Figures follow the field's convention
(PySlowFast/fvcore, the SlowFast and X3D papers): one multiply-add counts as
one FLOP, i.e. half of what ``torch.utils.flop_counter`` reports. Example:
Slow R50 8x8 at 8x256x256 gives 54.52, the PySlowFast zoo's figure.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from vidlab import models


def _candidate_inputs(num_frames: int, crop: int):
    """Inputs tried in turn: an RGB clip, a flow stack (2 channels), then two-stream
    ``[rgb, flow]`` pairs (one RGB frame per flow stack, or aligned clips for I3D)."""
    def clip(c, t):
        return torch.empty(1, c, t, crop, crop)

    yield clip(3, num_frames)
    yield clip(2, num_frames)
    yield [clip(3, 1), clip(2, num_frames)]
    yield [clip(3, num_frames), clip(2, num_frames)]


def count_flops(name: str, num_frames: int, crop: int) -> float | None:
    with torch.device("meta"):
        model = models.build(name).eval()
    for x in _candidate_inputs(num_frames, crop):
        try:
            with torch.device("meta"):
                x = [t.to("meta") for t in x] if isinstance(x, list) else x.to("meta")
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                model(x)
            return counter.get_total_flops() / 2 / 1e9
        except Exception:  # not this model's input (or a model the meta device cannot run): try the next
            continue
    return None  # report no figure rather than a wrong one


def model_table(flops: bool = True) -> list[dict]:
    rows = []
    aliases = models.list_aliases()
    for name in models.list_models():
        spec = models.get_spec(name)
        with torch.device("meta"):
            params = sum(p.numel() for p in models.build(name).parameters())
        row = {
            "name": name,
            "family": spec.family,
            "aliases": sorted(a for a, n in aliases.items() if n == name),
            "num_classes": spec.num_classes,
            "params": params,
            "num_frames": spec.num_frames,
            "sampling_rate": spec.sampling_rate,
            "train_input": f"{spec.num_frames}x{spec.crop_size}x{spec.crop_size}",
            "test_input": f"{spec.num_frames}x{spec.test_crop_size}x{spec.test_crop_size}",
            "description": spec.description,
        }
        if flops:
            row["gflops_train"] = count_flops(name, spec.num_frames, spec.crop_size)
            row["gflops_test"] = count_flops(name, spec.num_frames, spec.test_crop_size)
        rows.append(row)
    return rows


def convertible_from(name: str) -> list[str]:
    """Sources whose checkpoints `vidlab convert` maps onto ``name``."""
    import vidlab.convert  # noqa: F401  (registers the mappers)
    from vidlab.convert.core import has_pyslowfast_layout
    from vidlab.convert.registry import supported

    out = [src for src, archs in supported().items() if name in archs]
    if "pyslowfast" not in out and has_pyslowfast_layout(name):
        out.insert(0, "pyslowfast")
    return out


def markdown_table(rows: list[dict] | None = None) -> str:
    """The README's model table."""
    rows = rows if rows is not None else model_table(flops=True)
    lines = [
        "| name (aliases) | input T x crop (train / test) | params | GFLOPs train / test | convert from |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        alias = f" ({', '.join(r['aliases'])})" if r["aliases"] else ""
        spec_test = r["test_input"].split("x", 1)[1].split("x")[0]
        inp = f"{r['num_frames']} x {r['train_input'].split('x')[1]} / {spec_test}"
        gf = "/".join("-" if r.get(k) is None else f"{r[k]:.2f}" for k in ("gflops_train", "gflops_test"))
        src = ", ".join(convertible_from(r["name"])) or "-"
        lines.append(f"| `{r['name']}`{alias} | {inp} | {r['params'] / 1e6:.2f} M | {gf} | {src} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
