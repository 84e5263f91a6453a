"""How the AVA challenge scorer (ActivityNet ``Evaluation/get_ava_performance.py``) reads its csv files.

The evaluation itself is the one in :mod:`vidlab.evaluation.ava`; only the reading differs from PySlowFast's:

* a frame key is ``"<video_id>,<Decimal(timestamp) as %.6f>"``, so ``902``, ``0902`` and ``902.0`` are one
  frame and fractional timestamps are allowed;
* a row has 2, 7 or 8 fields; a 2-field row ``video_id,timestamp`` names a frame without boxes;
* field 8, where present, is read as the row's score in both files (the ground truth's person id too);
  a 7-field row scores 1.0;
* rows of ids outside the label map are dropped, but their frame still counts as present in the file;
* each frame keeps at most ``capacity`` rows (50 for detections, no limit for the ground truth), chosen
  with a min-heap of ``(score, action_id, y1, x1, y2, x2)``: a row enters a full frame only with a score
  strictly above the heap's smallest entry, which it replaces;
* the kept rows are then ordered by descending score (a stable sort of the heap's array, so ties keep
  the heap's order), and that is the order they are matched in;
* the caller ignores detections on frames absent from the ground-truth file (``Frames.keys``);
* the scorer has no exclusions: ``excluded`` frames are read as if their rows were deleted from the file.
"""

from __future__ import annotations

import heapq
from collections.abc import Container
from decimal import Decimal

from vidlab.errors import DataError
from vidlab.evaluation.ava import Frames, PathLike, bad_row, csv_rows

DETECTIONS_PER_FRAME = 50


def frame_key(video_id: str, timestamp: str) -> str:
    return f"{video_id},{float(Decimal(timestamp)):.6f}"


class _Entry(tuple):
    """A heap entry ordered as the plain ``(score, action_id, y1, x1, y2, x2)`` tuple; ``line`` rides along."""

    line: int


def read_csv(path: PathLike, class_whitelist: set[int] | None, capacity: int = 0,
             excluded: Container[str] = frozenset()) -> Frames:
    """Rows of ``path`` per frame: at most ``capacity`` (0: all), in descending score order."""
    heaps: dict[str, list[_Entry]] = {}
    keys = set()
    for n, row in csv_rows(path):
        if len(row) not in (2, 7, 8):
            raise bad_row(path, n, row, "2, 7 or 8 columns")
        try:
            key = frame_key(row[0], row[1])
            if key in excluded:
                continue
            keys.add(key)
            if len(row) == 2:
                continue
            x1, y1, x2, y2 = (float(v) for v in row[2:6])
            action = int(row[6])
            if class_whitelist and action not in class_whitelist:
                continue
            score = float(row[7]) if len(row) == 8 else 1.0
        except (ValueError, ArithmeticError):
            raise DataError(f"{path}:{n}: malformed row {','.join(row)!r}") from None
        entry = _Entry((score, action, y1, x1, y2, x2))
        entry.line = n
        heap = heaps.setdefault(key, [])
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, entry)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, entry)
    out = Frames({}, {}, {}, keys=keys, path=str(path))
    for key, heap in heaps.items():
        for e in sorted(heap, key=lambda e: -e[0]):
            out.add(key, [e[2], e[3], e[4], e[5]], e[1], e[0], e.line)
    return out
