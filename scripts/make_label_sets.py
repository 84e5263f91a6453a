#!/usr/bin/env python
"""Write the hub's label sets (``src/vidlab/hub/labels/*.txt``) from the official files in ../shared.

    python scripts/make_label_sets.py [--shared ../shared] [--check]

One class name per line, line ``i`` = the classifier's output ``i``. Each set, the file it is read
from (``../shared/data/real``, see its MANIFEST.md for the repository and commit) and why that
order is the checkpoints' order:

- ``kinetics400``: ``kinetics/annotations/label_map_k400.txt`` (MMAction2); the order of
  torchvision's Kinetics-400 categories and PySlowFast's ``kinetics_400_labels.csv`` (the
  alphabetical order of the class names, as every Kinetics data-preparation script assigns ids).
- ``kinetics600`` / ``kinetics700``: ``label_map_k600.txt`` / ``label_map_k700.txt`` (MMAction2):
  alphabetical, the ids of the Kinetics-600/700 checkpoints of MMAction2 and PySlowFast.
- ``ssv2``: ``sthv2/annotations/label_map_sthv2__mmaction2.txt``: the 174 templates in the order
  of the ids of the official ``something-something-v2-labels.json`` (which MMAction2's,
  PySlowFast's and PyTorchVideo's SSv2 loaders use as the class index: ``int(labels[template])``
  in ``pytorchvideo/data/ssv2.py``); those ids number the templates in sorted order.
- ``charades``: ``charades/annotations/Charades_v1_classes.txt``, the ``cNNN`` ids dropped (the
  class index is ``NNN``, as PySlowFast's and PyTorchVideo's Charades frame lists number the
  actions; the lines are in id order, which is checked).
- ``ava80``: ``ava/annotations/ava_80_classes__slowfast_ava.names`` (PySlowFast's demo): line
  ``i`` is AVA action id ``i + 1``, the 80 outputs of PySlowFast's and PyTorchVideo's AVA
  detectors (the official evaluation scores the 60 ids of
  ``ava_action_list_v2.1_for_activitynet_2018.pbtxt`` among them).

``--check`` exits 1 if a package file differs from what the shared files give (the test
``tests/hub/test_label_sets.py`` does the same).

Not written here, because ../shared has no official file for them:

- ``sports1m`` (487 Sports-1M classes, the ``c3d.sports1m`` hub entry): DavideA/c3d-pytorch's
  ``labels.txt`` at commit 1111ccf, line for line (a final newline added, which that file lacks).
  It is the class order of that port's fc8: its ``predict.py`` names output ``i`` with line ``i``.
  ``tests/hub/test_label_sets.py`` checks its size, first and last names and digest.
- ``coco``: torchvision's 91 COCO categories (checked against the installed torchvision by
  ``tests/hub/test_hub_table.py``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "vidlab" / "hub" / "labels"

SOURCES = {
    "kinetics400": "kinetics/annotations/label_map_k400.txt",
    "kinetics600": "kinetics/annotations/label_map_k600.txt",
    "kinetics700": "kinetics/annotations/label_map_k700.txt",
    "ssv2": "sthv2/annotations/label_map_sthv2__mmaction2.txt",
    "charades": "charades/annotations/Charades_v1_classes.txt",
    "ava80": "ava/annotations/ava_80_classes__slowfast_ava.names",
}
SIZES = {"kinetics400": 400, "kinetics600": 600, "kinetics700": 700, "ssv2": 174, "charades": 157, "ava80": 80}


def names(label_set: str, real: Path) -> list[str]:
    """The class names of ``label_set`` read from the official file under ``real``."""
    lines = [line.strip() for line in (real / SOURCES[label_set]).read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if label_set == "charades":
        out = []
        for i, line in enumerate(lines):
            m = re.fullmatch(r"c(\d{3}) (.+)", line)
            if m is None or int(m.group(1)) != i:
                raise SystemExit(f"{SOURCES[label_set]}: line {i + 1} is not 'c{i:03d} NAME': {line!r}")
            out.append(m.group(2))
        lines = out
    if len(lines) != SIZES[label_set] or len(set(lines)) != len(lines):
        raise SystemExit(f"{SOURCES[label_set]}: {len(lines)} names ({len(set(lines))} distinct), "
                         f"expected {SIZES[label_set]}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--check", action="store_true", help="exit 1 if a package file is stale; write nothing")
    a = ap.parse_args()
    real = a.shared / "data" / "real"
    stale = []
    for label_set in SOURCES:
        text = "\n".join(names(label_set, real)) + "\n"
        path = OUT / f"{label_set}.txt"
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not a.check:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(("stale: " if a.check else "wrote: ") + ", ".join(stale))
    return 1 if a.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
