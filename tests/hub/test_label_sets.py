"""The label sets shipped with the hub equal the official files in ../shared, in the checkpoints' order."""

from __future__ import annotations

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
