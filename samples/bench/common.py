"""Shared benchmark helpers: interleaved timing with medians, JSON results, machine facts."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(candidates: dict[str, Callable[[], Any]], repeats: int = 30, warmup: int = 3) -> dict[str, dict]:
    """Time each candidate ``repeats`` times, round-robin so drift hits all alike; medians in seconds."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            t = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t)
    return {name: {"median_s": statistics.median(s), "min_s": min(s), "repeats": len(s)}
            for name, s in samples.items()}


def machine() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor()}


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=1))
    return path


def _worker(factory: Callable[[], Callable[[], Any]], conn: Any) -> None:
    fn = factory()
    while True:
        cmd = conn.recv()
        if cmd == "stop":
            return
        calls = cmd[1]
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        conn.send((time.perf_counter() - t) / calls)


#: with ``min_sample_s``, no contender's sample is made longer than this by the shared call count
MAX_SAMPLE_S = 0.5


def interleaved_isolated(factories: dict[str, Callable[[], Callable[[], Any]]], repeats: int = 15,
                         warmup: int = 3, gap_s: float = 0.2, min_sample_s: float = 0.0) -> dict[str, dict]:
    """Like ``interleaved``, but each candidate runs in its own process.

    Contenders bring their own thread pools (flowc's and PyTorch's OpenMP runtimes, NumPy's
    OpenBLAS threads); in one process on a small machine they spin against each other and
    distort every number. Each worker builds its callable from a picklable ``factory``; the
    driver asks them round-robin for one timed call each, leaving ``gap_s`` idle between calls
    so the previous contender's pool has gone to sleep.

    With ``min_sample_s`` a sample is the mean of back-to-back calls, as many as make the
    fastest contender's sample last that long (recounted after each warm-up round, then fixed;
    the same count for every contender): a kernel of tens of microseconds is then timed as a loop calls it, as
    ``timeit`` and npbench time it, instead of as the first call after ``gap_s`` of idle,
    which measures the wake-up of the core, its caches and its thread pool more than the
    kernel."""
    import multiprocessing as mp

    if min_sample_s > 0 and warmup < 1:
        raise ValueError("min_sample_s counts the calls per sample in the warm-up rounds: warmup must be >= 1")
    ctx = mp.get_context("spawn")
    workers = {}
    for name, factory in factories.items():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(factory, child), daemon=True)
        proc.start()
        workers[name] = (proc, parent)
    samples: dict[str, list[float]] = {name: [] for name in factories}
    calls = 1
    try:
        for rep in range(warmup + repeats):
            for name, (_, conn) in workers.items():
                time.sleep(gap_s)
                conn.send(("run", calls))
                elapsed = conn.recv()
                samples[name].append(elapsed)
            if rep < warmup and min_sample_s > 0:      # recount after each warm-up round, then fixed
                last = [samples[name][-1] for name in workers]
                calls = max(1, min(10_000, math.ceil(min_sample_s / max(min(last), 1e-9)),
                                   int(MAX_SAMPLE_S / max(last))))
        samples = {name: s[warmup:] for name, s in samples.items()}
    finally:
        for proc, conn in workers.values():
            conn.send("stop")
            proc.join(timeout=30)
    return {name: {"median_s": statistics.median(s), "min_s": min(s), "repeats": len(s), "calls_per_sample": calls}
            for name, s in samples.items()}
