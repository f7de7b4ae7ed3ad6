"""Shared benchmark helpers: interleaved timing with medians, JSON results, machine facts."""

from __future__ import annotations

import json
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
