"""Compile latency and per-call overhead through ``@flowc.program``.

    python samples/bench/compile_and_call.py [--rounds 3] [--warm 3] [--flowc CHECKOUT]

Each figure is measured in fresh processes (medians over rounds): ``import flowc`` time; the
*cold* first call of a softmax program and of the BERT encoder layer (``samples/bert_encoder.py``,
auto-optimized, at its tiny size so that running it costs next to nothing) with an empty cache
(lower, optimize, generate, g++, load, run); the *warm* first call in a new process that finds both
in the cache (read the stored lowered program, verify and load the library, bind, run: no
frontend, no transformations, no code generation, no compiler); and the per-call overhead of a
trivial program (median of many calls on 16 elements) against a bare NumPy ufunc call of the same
work. Each warm child also reports whether it really skipped lowering (``program_hits``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

from common import write_json

CHILD = textwrap.dedent('''
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import flowc
    t1 = time.perf_counter()
    sys.path.insert(0, SAMPLES)
    import bert_encoder as be
    try:
        from flowc.runtime.cache import stats
    except ImportError:          # a flowc without the lowered-program cache (--flowc)
        stats = {}
    N, M = flowc.symbol("N"), flowc.symbol("M")

    @flowc.program
    def softmax(x: flowc.float32[N, M]):
        m = np.max(x, axis=-1, keepdims=True)
        e = np.exp(x - m)
        return e / np.sum(e, axis=-1, keepdims=True)

    x = np.random.default_rng().standard_normal((64, 128), dtype=np.float32)
    t2 = time.perf_counter()
    y = softmax(x)
    t3 = time.perf_counter()
    assert np.abs(y - np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1,
                  keepdims=True)).max() < 1e-5
    layer = flowc.program(be.encoder_layer, auto_optimize=True)
    dims = be.SIZES["tiny"]
    inputs = be.make_inputs(np.random.default_rng(), **dims)
    t4, c4 = time.perf_counter(), time.process_time()
    out = layer(*inputs, H=dims["H"], P=dims["P"])
    t5, c5 = time.perf_counter(), time.process_time()
    assert np.abs(out - be.numpy_layer(*inputs, H=dims["H"], P=dims["P"])).max() < 1e-3
    print(json.dumps({"import_s": t1 - t0, "first_call_s": t3 - t2, "bert_first_call_s": t5 - t4,
                      "bert_first_call_cpu_s": c5 - c4,
                      "program_hits": stats.get("program_hits", 0)}))
''')

OVERHEAD = textwrap.dedent('''
    import json, timeit
    import numpy as np
    import flowc
    N = flowc.symbol("N")

    @flowc.program
    def axpy(a: flowc.float32, x: flowc.float32[N], y: flowc.float32[N]):
        y[:] = a * x + y

    x = np.random.default_rng().standard_normal(16, dtype=np.float32)
    y = np.random.default_rng().standard_normal(16, dtype=np.float32)
    a = np.float32(1.5)
    axpy(a, x, y)
    out = np.empty_like(y)
    def numpy_axpy():
        np.multiply(a, x, out=out)
        np.add(out, y, out=y)
    n = 20000
    fl = min(timeit.repeat(lambda: axpy(a, x, y), number=n, repeat=7)) / n
    npy = min(timeit.repeat(numpy_axpy, number=n, repeat=7)) / n
    print(json.dumps({"flowc_call_us": fl * 1e6, "numpy_two_ufuncs_us": npy * 1e6}))
''')


SAMPLES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code: str, env: dict) -> dict:
    """Run ``code`` as a script in a new process (the frontend reads function source from files)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(f"SAMPLES = {SAMPLES!r}\n" + code)
    try:
        out = subprocess.run([sys.executable, f.name], env=env, capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="fresh caches (each: one cold child)")
    ap.add_argument("--warm", type=int, default=3, help="warm children per round")
    ap.add_argument("--flowc", help="a flowc checkout to import instead of the installed one (a baseline)")
    args = ap.parse_args()
    base_env = dict(os.environ)
    if args.flowc:
        base_env["PYTHONPATH"] = os.pathsep.join(p for p in (args.flowc, base_env.get("PYTHONPATH")) if p)
    cold, cold_bert, warm, warm_bert, warm_bert_cpu, imports, hits = [], [], [], [], [], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as cache:
            env = {**base_env, "FLOWC_CACHE_DIR": cache}
            first = run(CHILD, env)
            cold.append(first["first_call_s"])
            cold_bert.append(first["bert_first_call_s"])
            for _ in range(args.warm):
                again = run(CHILD, env)
                warm.append(again["first_call_s"])
                warm_bert.append(again["bert_first_call_s"])
                warm_bert_cpu.append(again["bert_first_call_cpu_s"])
                imports.append(again["import_s"])
                hits.append(again["program_hits"])
    overhead = run(OVERHEAD, base_env)
    results = {
        "import_flowc_s": statistics.median(imports),
        "softmax_cold_first_call_s": statistics.median(cold),
        "softmax_warm_first_call_new_process_s": statistics.median(warm),
        "bert_tiny_cold_first_call_s": statistics.median(cold_bert),
        "bert_tiny_warm_first_call_new_process_s": statistics.median(warm_bert),
        # CPU time of this process (all its threads): what the wall time would be on an idle machine
        "bert_tiny_warm_first_call_cpu_s": statistics.median(warm_bert_cpu),
        "warm_program_hits_min": min(hits),
        **overhead,
    }
    for k, v in results.items():
        print(f"{k:42s} {v:10.4f}")
    print(f"wrote {write_json('compile_and_call', results)}")


if __name__ == "__main__":
    main()
