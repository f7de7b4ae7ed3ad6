"""Runtime overheads: per-call marshalling, cold compile, cache hit.

    .venv/bin/python samples/bench/runtime_overhead.py [--calls 2000] [--batches 200]

Measures, in one run:

- per-call time of a trivial bound program (``y = 2 * x`` on 16 floats, so the native work is
  negligible) in two shapes: ``scale(x)`` returning a freshly allocated ``y``, and ``inc(x, y)``
  writing in place; each compared with bare ctypes calls of the same C function (with data
  pointers computed beforehand: the floor, and via ``ndarray.ctypes.data``: what hand-written
  ctypes code usually does);
- cold compile time of a small source (``FLOWC_CACHE=0``), with and without linking the BLAS;
- cache-hit time of ``compile_source`` (hash + stat), and the first hit in a new process
  (includes running ``g++ --version`` once).

Medians over batches (time per call = batch time / calls in the batch), variants interleaved.
Writes ``samples/bench/results/runtime_overhead.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from flowc import ir
from flowc.runtime import bind, compile_source

SOURCE = r"""
#include <cstdint>
extern "C" int flowc_scale(const float* x, float* y, int64_t N) {
    for (int64_t i = 0; i < N; ++i) y[i] = 2.0f * x[i];
    return 0;
}
extern "C" int flowc_inc(const float* x, float* y, int64_t N) {
    for (int64_t i = 0; i < N; ++i) y[i] += x[i];
    return 0;
}
"""


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call over one batch of ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per batch")
    ap.add_argument("--batches", type=int, default=200, help="batches (medians are over these)")
    ap.add_argument("--compiles", type=int, default=5, help="cold compiles per variant")
    args = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="flowc-bench-cache-")
    os.environ["FLOWC_CACHE_DIR"] = cache
    os.environ.pop("FLOWC_DEBUG", None)

    lib = compile_source(SOURCE, name="bench_overhead", link_blas=False)
    p = ir.Program("scale")
    p.add_array("x", ["N"], "float32")
    p.add_array("y", ["N"], "float32")
    p.add_return("y")
    scale = bind(p, lib, "flowc_scale")
    q = ir.Program("inc")
    q.add_array("x", ["N"], "float32")
    q.add_array("y", ["N"], "float32")
    inc = bind(q, lib, "flowc_inc")

    raw = ctypes.CDLL(str(lib), mode=os.RTLD_LOCAL)
    bare_scale, bare_inc = raw.flowc_scale, raw.flowc_inc
    for f in (bare_scale, bare_inc):
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        f.restype = ctypes.c_int

    rng = np.random.default_rng()
    n = 16
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    assert np.array_equal(scale(x), 2 * x)
    xp, yp = x.ctypes.data, y.ctypes.data

    def bare_scale_alloc() -> np.ndarray:
        """The bare ctypes equivalent of ``scale(x)``: allocate the output, call."""
        out = np.empty(n, np.float32)
        bare_scale(xp, out.ctypes.data, n)
        return out

    variants: dict[str, Callable[[], object]] = {
        "flowc scale(x) -> new y": lambda: scale(x),
        "ctypes scale, np.empty + out.ctypes.data": bare_scale_alloc,
        "flowc inc(x, y) in place": lambda: inc(x, y),
        "ctypes inc, precomputed pointers (floor)": lambda: bare_inc(xp, yp, n),
        "ctypes inc, x.ctypes.data per call": lambda: bare_inc(x.ctypes.data, y.ctypes.data, n),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        per_call(fn, args.calls)                 # warm up
    for _ in range(args.batches):
        for name, fn in variants.items():        # interleaved
            samples[name].append(per_call(fn, args.calls))
    call_us = {k: statistics.median(v) * 1e6 for k, v in samples.items()}

    # cold compiles (cache disabled): alternate with/without BLAS, each with a fresh token
    os.environ["FLOWC_CACHE"] = "0"
    cold: dict[str, list[float]] = {"cold compile, link_blas=False": [], "cold compile, link_blas=True": []}
    for i in range(args.compiles):
        for link in (False, True):
            src = f"// run {i} {time.time_ns()}\n{SOURCE}"
            t = time.perf_counter()
            compile_source(src, name="bench_cold", link_blas=link)
            cold[f"cold compile, link_blas={link}"].append(time.perf_counter() - t)
    del os.environ["FLOWC_CACHE"]
    cold_ms = {k: statistics.median(v) * 1e3 for k, v in cold.items()}

    # cache hits in this process (compiler identity already memoized)
    hits = []
    for _ in range(args.batches):
        hits.append(per_call(lambda: compile_source(SOURCE, name="bench_overhead", link_blas=False), 50))
    hit_us = statistics.median(hits) * 1e6
    # the first hit in a fresh process: pays g++ --version once (the memoized identity)
    probe = ("import time, os; from flowc.runtime import compile_source; import sys; "
             "t = time.perf_counter(); compile_source(sys.stdin.read(), name='bench_overhead', link_blas=False); "
             "print(time.perf_counter() - t)")
    first = subprocess.run([sys.executable, "-c", probe], input=SOURCE, capture_output=True, text=True,
                           check=True, env=os.environ)
    first_hit_ms = float(first.stdout.strip()) * 1e3

    rows = [(k, f"{v:8.2f} us") for k, v in call_us.items()]
    rows += [(k, f"{v:8.1f} ms") for k, v in cold_ms.items()]
    rows += [("cache hit (hot process)", f"{hit_us:8.2f} us"),
             ("cache hit (first call in a new process)", f"{first_hit_ms:8.2f} ms")]
    width = max(len(k) for k, _ in rows)
    print(f"flowc runtime overhead  ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__})")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    overhead = call_us["flowc inc(x, y) in place"] - call_us["ctypes inc, precomputed pointers (floor)"]
    print(f"  flowc marshalling over the bare ctypes floor (in place): {overhead:.2f} us")

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "platform": platform.platform()},
        "config": {"calls_per_batch": args.calls, "batches": args.batches, "n": n, "cold_compiles": args.compiles},
        "per_call_us": call_us,
        "marshalling_over_ctypes_floor_us": overhead,
        "cold_compile_ms": cold_ms,
        "cache_hit_us": hit_us,
        "first_cache_hit_new_process_ms": first_hit_ms,
    }
    out = Path(__file__).resolve().parent / "results" / "runtime_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
