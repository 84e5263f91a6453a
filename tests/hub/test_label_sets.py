"""The label sets shipped with the hub equal the official files in ../shared, in the checkpoints' order.

One exception (scripts/make_label_sets.py says why): ``sports1m`` has no file in ../shared; it is
DavideA/c3d-pytorch's ``labels.txt`` (commit 1111ccf), the class order of that port's fc8, pinned here
by its size, its ends and its digest."""

from __future__ import annotations

import hashlib
import importlib.util
import re

import pytest

from tests_paths import REAL, REPO, need_shared
from vidlab import hub
from vidlab.hub.table import ENTRIES


def _script():
    spec = importlib.util.spec_from_file_location("make_label_sets", REPO / "scripts" / "make_label_sets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SETS = ["kinetics400", "kinetics600", "kinetics700", "ssv2", "charades", "ava80"]


@pytest.mark.parametrize("label_set", SETS)
def test_a_packaged_label_set_is_its_official_file(label_set):
    mod = _script()
    need_shared(REAL / mod.SOURCES[label_set])
    assert hub.label_names(label_set) == mod.names(label_set, REAL)
    assert len(hub.label_names(label_set)) == mod.SIZES[label_set]


def test_label_indices_match_the_published_ids():
    # Kinetics-400 ids from ../shared/data/real/MANIFEST.md (tai chi 346, cleaning pool 62, climbing ladder 67)
    k400 = hub.label_names("kinetics400")
    assert (k400.index("tai chi"), k400.index("cleaning pool"), k400.index("climbing ladder")) == (346, 62, 67)
    csv = need_shared(REAL / "kinetics" / "annotations" / "kinetics_400_labels_slowfast.csv").read_text().splitlines()
    assert [line.split(",", 1)[1].strip('"') for line in csv[1:]] == k400  # PySlowFast's id,name csv
    # AVA: output i is action id i + 1; the 60 evaluated ids of the official label map name the same actions
    ava = hub.label_names("ava80")
    pbtxt = need_shared(REAL / "ava" / "annotations" / "ava_action_list_v2.1_for_activitynet_2018.pbtxt").read_text()
    items = re.findall(r'name: "([^"]+)"\s+id: (\d+)', pbtxt)
    assert len(items) == 60
    assert all(ava[int(i) - 1] == name for name, i in items)
    charades = hub.label_names("charades")
    assert charades[0] == "Holding some clothes" and len(charades) == 157
    # SSv2: the ids of the official something-something-v2-labels.json number the templates in sorted order
    ssv2 = hub.label_names("ssv2")
    assert ssv2 == sorted(ssv2) and ssv2[140] == "Spinning something that quickly stops spinning"
    assert hub.label_names("kinetics600")[:2] == ["abseiling", "acting in play"]


# sha256 of DavideA/c3d-pytorch's labels.txt (commit 1111ccf) plus the final newline that file lacks
SPORTS1M_SHA256 = "89fec6f06ab2d41188d6f8d309ab2267bdcb8d8055130b764ba31a2f35a26553"


def test_sports1m_is_the_c3d_ports_labels_file():
    names = hub.label_names("sports1m")
    assert len(names) == len(set(names)) == 487
    assert names[0] == "boomerang" and names[-1] == "model aircraft"
    assert all(n == n.strip() and n for n in names)
    path = _script().OUT / "sports1m.txt"
    data = path.read_bytes()
    assert data.decode("utf-8") == "\n".join(names) + "\n"  # one name a line, nothing else
    assert hashlib.sha256(data).hexdigest() == SPORTS1M_SHA256
    assert "sports1m" not in _script().SOURCES  # not from ../shared: see the module docstring


def test_every_entry_names_a_shipped_label_set_of_its_size():
    for e in ENTRIES:
        if e.labels:
            assert len(hub.label_names(e.labels)) == e.num_classes, e.name


def test_the_script_finds_nothing_stale():
    mod = _script()
    need_shared(REAL)
    stale = [s for s in SETS if (mod.OUT / f"{s}.txt").read_text(encoding="utf-8")
             != "\n".join(mod.names(s, REAL)) + "\n"]
    assert stale == []
