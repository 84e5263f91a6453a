"""Fuzzing the decoder with damaged copies of the real clips (the machinery is benchmarks/fuzz.py): no
crash, hang, memory blow-up or exception other than VideoDecodeError; and the runner really notices
crashes, hangs and memory blow-ups."""

from __future__ import annotations

import importlib.util
import random
import sys
from types import ModuleType

from tests_paths import REAL, REPO, need_shared

#: Cases in the default suite (``python benchmarks/fuzz.py --cases N`` runs more).
CASES = 300


def _load_fuzz() -> ModuleType:
    name = "vidlab_benchmarks_fuzz"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "fuzz.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # (dataclasses look their module up there)
        spec.loader.exec_module(module)
    return sys.modules[name]


fuzz = _load_fuzz()


def test_mutators_are_deterministic_and_change_the_bytes():
    data = bytes(range(256)) * 400
    other = bytes(range(7, 250)) * 40
    for kind, mutate in fuzz.MUTATORS.items():
        a = mutate(data, random.Random(kind), other)
        assert a == mutate(data, random.Random(kind), other), kind
        assert isinstance(a, bytes) and a, kind
        assert (a == data) == (kind == "wrong_extension"), kind
        for n in (1, 2, 3, 40):  # tiny inputs (what is left after a truncation) do not break a mutator
            for s in range(8):
                assert isinstance(mutate(bytes(n), random.Random(s), other), bytes), (kind, n)


def test_cases_are_reproducible(tmp_path):
    sources = [fuzz.Source("a.mp4", random.Random(1).randbytes(50_000), ".mp4"),
               fuzz.Source("b.avi", random.Random(2).randbytes(30_000), ".avi")]
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    for i in range(40):
        a = fuzz.make_case(i, 5, sources, tmp_path / "1")
        b = fuzz.make_case(i, 5, sources, tmp_path / "2")
        assert (a.kind, a.source, a.decode_seed, a.path.name) == (b.kind, b.source, b.decode_seed, b.path.name)
        assert a.path.read_bytes() == b.path.read_bytes()


def test_runner_notices_crashes_hangs_and_memory(tmp_path):
    """Selftest requests that misbehave on purpose, through the same pool the fuzz run uses."""
    actions = ["ok", "raise", "segv", "ok", "exit", "memory", "hang", "ok"]
    jobs = [((i, a), {"op": "selftest", "action": a}) for i, a in enumerate(actions)]
    jobs.append(((99, "missing"), {"op": "decode", "path": str(tmp_path / "missing.mp4"), "seed": 0}))
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    jobs.append(((98, "text"), {"op": "decode", "path": str(tmp_path / "text.mp4"), "seed": 0}))
    with fuzz.WorkerPool(workers=2, timeout=2.5, mem_mb=1024, log_dir=tmp_path / "logs") as pool:
        got = {key: reply for key, reply in pool.run(jobs)}
        restarts = pool.restarts
    assert len(got) == len(jobs)
    outcome = {key: reply["outcome"] for key, reply in got.items()}
    for (i, a), o in outcome.items():
        expected = {"ok": "ok", "raise": "exception", "segv": "crash", "exit": "crash", "memory": "memory",
                    "hang": "hang", "missing": "decode_error", "text": "decode_error"}[a]
        assert o == expected, (a, got[(i, a)])
    assert got[(1, "raise")]["type"] == "ValueError"
    assert got[(2, "segv")]["type"] == "SIGSEGV"
    assert got[(4, "exit")]["type"] == "exit status 3"
    assert "file not found" in got[(99, "missing")]["message"]
    assert restarts == 3  # segv, exit, hang


def test_fuzz_real_clips(tmp_path):
    """300 damaged clips (fixed seed), two workers: every case is ok or a VideoDecodeError."""
    real = need_shared(REAL)
    for rel in fuzz.CLIPS:
        need_shared(real / rel)
    report = fuzz.run_fuzz(CASES, seed=0, workers=2, real_dir=real, timeout=30, mem_mb=2048,
                           work_dir=tmp_path, save_failures=tmp_path / "failures")
    print(report.summary())
    assert len(report.results) == CASES
    assert not report.notes, report.notes  # the MPEG-TS / Matroska remuxes were made
    assert not report.failures(), report.summary()
    counts = report.counts()
    # the mutations do something, and not everything is fatal
    assert counts["ok"] >= CASES // 5 and counts["decode_error"] >= CASES // 10, counts
    assert {r.kind for r in report.results} == set(fuzz.KINDS)
    assert len({r.source for r in report.results}) == len(fuzz.CLIPS) + len(fuzz.REMUXES)
