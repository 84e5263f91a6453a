"""KTH actions (Schuldt, Laptev, Caputo, ICPR 2004).

25 persons x 6 actions x 4 scenarios (d1 outdoors, d2 outdoors with scale
variation, d3 outdoors with different clothes, d4 indoors), 160x120 at 25 fps;
one video (``person13_handclapping_d3``) was never released, so there are
599 videos. ``00sequences.txt`` splits every video into (usually 4) action
repetitions, 2,391 segments in all::

    person01_boxing_d1		frames	1-95, 96-185, 186-245, 246-360

Frame ranges are 1-based and inclusive; a record keeps them 0-based with an
exclusive end (``1-95`` -> ``start=0, end=95``). Every segment is one sample
(``VideoRecord`` with ``group`` = the person).

The standard split (Schuldt et al.) is by person: train 11-18, validation
19-21, 23-25, 1, 4, test 22, 2, 3, 5-10 (``--split 1``, the only one).
:func:`person_folds` builds person-disjoint folds (leave-persons-out) for
small subsets. Class indices follow the sorted action names (boxing,
handclapping, handwaving, jogging, running, walking).

Layout: ``{action}/person{NN}_{action}_d{S}_uncomp.avi`` (the per-action zip
files unpacked); any other folder layout is found by file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vidlab.data.datasets.registry import DatasetIndex
from vidlab.data.datasets.video_list import VideoRecord
from vidlab.errors import DataError

CLASSES = ["boxing", "handclapping", "handwaving", "jogging", "running", "walking"]
#: The standard person split (Schuldt et al. 2004).
PERSON_SPLIT = {
    "train": (11, 12, 13, 14, 15, 16, 17, 18),
    "val": (19, 20, 21, 23, 24, 25, 1, 4),
    "test": (22, 2, 3, 5, 6, 7, 8, 9, 10),
}
SEQUENCES_FILE = "00sequences.txt"

_LINE = re.compile(r"^(?P<name>person(?P<person>\d+)_(?P<action>[a-z]+)_d(?P<scenario>\d+))\s+frames\b(?P<rest>.*)$")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


@dataclass(frozen=True)
class Sequence:
    """One line of ``00sequences.txt``: a video and its segments (0-based, end exclusive)."""

    name: str
    person: int
    action: str
    scenario: int
    segments: tuple[tuple[int, int], ...]

    @property
    def filename(self) -> str:
        return f"{self.name}_uncomp.avi"


def read_sequences(path: str | Path) -> list[Sequence]:
    """Parse ``00sequences.txt``; a line with no frame ranges (the missing video) is kept with no segments."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e.reason})") from None
    out, seen = [], {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if not m:
            raise DataError(f"{path}:{n}: expected 'personNN_action_dS  frames  a-b, c-d, ...', got {line[:60]!r}")
        action = m.group("action")
        if action not in CLASSES:
            raise DataError(f"{path}:{n}: unknown KTH action {action!r}")
        segments = []
        rest = m.group("rest").strip()
        for part in filter(None, (p.strip() for p in rest.split(","))) if rest else ():
            r = _RANGE.match(part)
            if not r:
                raise DataError(f"{path}:{n}: bad frame range {part!r} (expected 'first-last')")
            a, b = int(r.group(1)), int(r.group(2))
            if a < 1 or b < a:
                raise DataError(f"{path}:{n}: bad frame range {part!r} (1-based, first <= last)")
            segments.append((a - 1, b))
        name = m.group("name")
        if name in seen:
            raise DataError(f"{path}:{n}: {name} already listed on line {seen[name]}")
        seen[name] = n
        out.append(Sequence(name, int(m.group("person")), action, int(m.group("scenario")), tuple(segments)))
    if not out:
        raise DataError(f"{path}: no sequences listed")
    return out


def records(sequences: list[Sequence]) -> list[VideoRecord]:
    """One record per segment, in file order."""
    return [
        VideoRecord(f"{s.action}/{s.filename}", CLASSES.index(s.action), start=a, end=b, unit="frame",
                    video_id=s.name, group=f"person{s.person:02d}")
        for s in sequences for a, b in s.segments
    ]


def _find(path: Path) -> Path:
    if path.is_dir():
        for cand in (path / SEQUENCES_FILE, path / "annotations" / SEQUENCES_FILE):
            if cand.is_file():
                return cand
        raise DataError(f"{path}: no {SEQUENCES_FILE} in this folder")
    return path


def load(path: Path, split: int = 1) -> DatasetIndex:
    file = _find(path)
    seqs = read_sequences(file)
    recs = records(seqs)
    splits = {}
    for name, persons in PERSON_SPLIT.items():
        keep = {f"person{p:02d}" for p in persons}
        splits[name] = [r for r in recs if r.group in keep]
    videos = [s for s in seqs if s.segments]
    stats = {
        "videos": len(videos),
        "segments": len(recs),
        "listed_without_segments": [s.name for s in seqs if not s.segments],
        "persons": len({s.person for s in seqs}),
    }
    for name, persons in PERSON_SPLIT.items():
        stats[f"{name}_videos"] = sum(1 for s in videos if s.person in persons)
    return DatasetIndex("kth", list(CLASSES), splits, stats=stats, sources=[str(file)])


def person_folds(records: list[VideoRecord], test_groups: list[list[str]]) -> list[tuple[list[VideoRecord], list[VideoRecord]]]:
    """Person-disjoint folds: fold k tests on ``test_groups[k]`` and trains on every other person."""
    folds = []
    for groups in test_groups:
        g = set(groups)
        folds.append(([r for r in records if r.group not in g], [r for r in records if r.group in g]))
    return folds
