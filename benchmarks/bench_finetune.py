#!/usr/bin/env python
"""`vidlab finetune` on the real KTH clips of ../shared/data/real, from a checkpoint served by a loopback hub.

    flock /tmp/vidlab-bench.lock .venv/bin/python benchmarks/bench_finetune.py --start CKPT [--out DIR]
        [--epochs 15] [--data ../shared/data/real/kth]

``--start``: a vidlab checkpoint of ``i3d_r10_tiny`` (e.g. the model ``vidlab demo`` writes, trained on the
synthetic set: these are NOT Kinetics weights, none can be downloaded here). It is re-published as a
PySlowFast ``.pyth`` on a server at 127.0.0.1 and registered as a hub entry, so the runs go through
``--model i3d_r10_tiny --weights bench`` exactly as a published checkpoint would (download, checksum,
conversion, cache). Three runs on the same grouped split (by person, test 30%, no validation):
from random weights (``--arch``), fine-tuning the whole network from the served checkpoint, and a
linear probe on it. Prints a Markdown table; ``--json`` writes the rows.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import json
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
ARCH = "i3d_r10_tiny"


def _serve(files: dict[str, bytes]) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            data = files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=Path, required=True, help=f"a vidlab {ARCH} checkpoint to publish")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real" / "kth")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_finetune"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    import torch

    from vidlab import hub, models
    from vidlab.apps.finetune import finetune

    start = models.load(a.start)
    if start.meta.get("arch") != ARCH:
        raise SystemExit(f"--start must be an {ARCH} checkpoint, got {start.meta.get('arch')}")
    buf = io.BytesIO()
    torch.save({"model_state": start.state_dict()}, buf)  # PySlowFast's .pyth layout
    data = buf.getvalue()
    httpd, port = _serve({"I3D_TINY_BENCH.pyth": data})
    os.environ["VIDLAB_HOME"] = tempfile.mkdtemp(prefix="vidlab_home_")
    n = start.num_classes
    hub.register_entry(hub.HubEntry(
        name=f"{ARCH}.bench", arch=ARCH, tag="bench", dataset="vidlab synthetic action set (demo model)",
        source="pyslowfast", urls=(f"http://127.0.0.1:{port}/I3D_TINY_BENCH.pyth",), file_format="pyth",
        converter="pyslowfast", num_classes=n, sha256=hashlib.sha256(data).hexdigest(), licence="benchmark",
        verified=False, notes="benchmark"), replace=True)
    common = dict(epochs=a.epochs, num_frames=8, sampling_rate=4, crop_size=56, batch_size=4, val_fraction=0.0,
                  test_fraction=0.3, progress=False, log=lambda m: None)
    runs = [("random init (--arch)", dict(arch=ARCH, lr=0.05)),
            ("fine-tune from the hub checkpoint", dict(model=ARCH, weights="bench", lr=0.02)),
            ("linear probe on it", dict(model=ARCH, weights="bench", linear_probe=True, lr=0.05))]
    rows = []
    for label, kw in runs:
        t = time.time()
        s = finetune(a.data, a.out / label.split()[0], **common, **kw)
        rows.append({"run": label, "top1": s["top1"], "mean_class_accuracy": s["mean_class_accuracy"],
                     "train_top1": s["final_train_top1"], "videos": s["videos"], "epochs": s["epochs"],
                     "trainable_params": s["trainable_params"], "seconds": round(time.time() - t, 1)})
        print(json.dumps(rows[-1]), flush=True)
    httpd.shutdown()
    v = rows[0]["videos"]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')} | {a.data} | train {v['train']} / test {v['test']} videos (grouped by "
          f"person) | {a.epochs} epochs, 8 x 4 frames at 56 px, batch 4 | load average {load}\n")
    print("| run | test top-1 | mean class acc. | final train top-1 | parameters trained | s |")
    print("|---|---|---|---|---|---|")
    def f(x):
        return "-" if x is None else f"{x:.3f}"

    for r in rows:
        print(f"| {r['run']} | {f(r['top1'])} | {f(r['mean_class_accuracy'])} | {f(r['train_top1'])} | "
              f"{r['trainable_params']:,} | {r['seconds']:.0f} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
