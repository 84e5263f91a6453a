"""Latency, throughput, size, memory and FLOP figures for any model.

:func:`benchmark` times a callable at batch 1 (p50/p90/mean over ``iters``
runs after ``warmup`` runs), optionally the throughput at a larger batch,
and samples the process's resident memory (RSS, from ``/proc/self/statm``)
every 2 ms while it runs: ``peak_mb`` is the highest RSS seen, ``delta_mb``
its rise above the RSS before the first run (activations and workspaces).
:func:`count_flops` counts with ``torch.utils.flop_counter`` (a multiply-add
is 2 FLOPs). :func:`matmul_peak` measures the machine's fp32 (or bf16) GEMM
rate with a large square matmul, the reference for "percent of peak".
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable

import torch
from torch import nn

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def randomise_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Set every parameter and BN buffer of ``model`` to seeded, non-trivial values.

    Fan-in scaled weights and near-identity BN keep activations finite through
    a hundred layers, so equivalence tests compare meaningful numbers, and
    benchmarks without downloadable weights time a realistic network
    (speed does not depend on the values).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                v.fill_(5)
            elif k.endswith("running_var"):
                v.copy_(0.5 + torch.rand(v.shape, generator=g))
            elif k.endswith("running_mean"):
                v.copy_(0.1 * torch.randn(v.shape, generator=g))
            elif v.ndim == 1 and k.endswith("weight"):
                v.copy_(1.0 + 0.1 * torch.randn(v.shape, generator=g))
            elif k.endswith("bias"):
                v.copy_(0.1 * torch.randn(v.shape, generator=g))
            else:
                v.copy_(torch.randn(v.shape, generator=g) / math.sqrt(math.prod(v.shape[1:])))
    return model


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except OSError:  # not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Context manager sampling RSS in a thread; ``.peak_mb``, ``.start_mb``."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb())
            time.sleep(self.interval)

    def __enter__(self):
        self.start_mb = self.peak_mb = rss_mb()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def _call(model, inputs):
    return model(*inputs)


def benchmark(model: nn.Module | Callable, example_inputs, *, threads: int | None = None, warmup: int = 3,
              iters: int = 20, batch_inputs=None, batch_iters: int = 5, min_seconds: float = 0.0) -> dict:
    """Time ``model(*example_inputs)``; returns ms figures, clips/s and memory.

    ``batch_inputs``: inputs at a larger batch for the throughput figure
    (``throughput_clips_s``). ``threads`` sets ``torch.set_num_threads`` for
    the run (restored after). ``min_seconds`` keeps timing until that much
    time has passed (at least ``iters`` runs).
    """
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode(), PeakMemory() as mem:
            for _ in range(warmup):
                _call(model, inputs)
            times = []
            t_start = time.perf_counter()
            while len(times) < iters or time.perf_counter() - t_start < min_seconds:
                t0 = time.perf_counter()
                _call(model, inputs)
                times.append((time.perf_counter() - t0) * 1000.0)
            res = {
                "p50_ms": statistics.median(times),
                "p90_ms": _quantile(times, 0.9),
                "mean_ms": statistics.fmean(times),
                "min_ms": min(times),
                "runs": len(times),
            }
            if batch_inputs is not None:
                binputs = batch_inputs if isinstance(batch_inputs, tuple) else (batch_inputs,)
                _call(model, binputs)
                t0 = time.perf_counter()
                for _ in range(batch_iters):
                    _call(model, binputs)
                dt = time.perf_counter() - t0
                bsz = _batch_size(binputs)
                res["batch"] = bsz
                res["throughput_clips_s"] = bsz * batch_iters / dt
    finally:
        torch.set_num_threads(old_threads)
    res["peak_mb"] = mem.peak_mb
    res["delta_mb"] = mem.peak_mb - mem.start_mb
    res["threads"] = threads or old_threads
    return res


def _batch_size(inputs: tuple) -> int:
    x = inputs[0]
    while isinstance(x, (list, tuple)):
        x = x[0]
    return int(x.shape[0])


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def count_flops(model: nn.Module, example_inputs) -> int:
    """FLOPs of one forward (``torch.utils.flop_counter``; multiply-add = 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    return int(counter.get_total_flops())


def matmul_peak(threads: int | None = None, n: int = 4096, dtype: torch.dtype = torch.float32,
                repeats: int = 5) -> float:
    """GFLOP/s of an ``n x n`` matmul (best of ``repeats``), the machine's GEMM peak."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
    return 2 * n**3 / best / 1e9


def file_size_mb(path: str | os.PathLike) -> float:
    return os.path.getsize(path) / 2**20
