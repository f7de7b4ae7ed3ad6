"""auto_search on the CPU over a suite of programs: searched vs auto_optimize vs plain lowering.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python samples/bench/search_cpu.py \\
        [--sizes small,large] [--budget 60] [--repeats 30] [--programs softmax,stencil,...]

For every program and size: ``auto_search`` runs with an empty tuning store (a temporary
``FLOWC_TUNE_DIR``, so nothing earlier is replayed) and stores its pick; a second call then
replays the stored configuration (its time is what a later process pays before compiling);
the searched, ``auto_optimize``'s and the plain lowering's programs are compiled and timed
interleaved on the same fresh random inputs (medians of ``--repeats`` rounds), and the
searched and auto_optimize outputs are checked against the plain program's. Results go to
``samples/bench/results/search_cpu.json``.

The suite is not all BERT: the BERT layer, softmax, layernorm, a matmul chain with bias and
activation, a 2-D Jacobi stencil in a time loop, a reduction-heavy standardization, a
transpose-heavy kernel, an attention block, a triangular (uneven) map, a contraction over a
slice that moves with a loop variable and a map written in column order (loop order), each at
a small size (where fork/join and scheduling dominate) and a large one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bert_cpu import layernorm_kernel as layernorm, softmax_kernel as softmax  # noqa: E402
from bert_encoder import encoder_layer  # noqa: E402
from common import interleaved, write_json  # noqa: E402
from dace_kernels import blas_kernels  # noqa: E402

import flowc  # noqa: E402
from flowc import frontend  # noqa: E402
from flowc.transforms import auto_optimize, auto_search  # noqa: E402
from flowc.transforms.search_inputs import random_inputs  # noqa: E402

N, M, K, T, B, L, P = (flowc.symbol(s) for s in ("N", "M", "K", "T", "B", "L", "P"))


def mlp(x: flowc.float32[N, M], w1: flowc.float32[M, K], b1: flowc.float32[K],
        w2: flowc.float32[K, M], b2: flowc.float32[M]):
    h = np.maximum(x @ w1 + b1, 0.0)
    return np.tanh(h @ w2 + b2)


def jacobi(a: flowc.float64[N, N], b: flowc.float64[N, N]):
    for _ in range(T):
        b[1:-1, 1:-1] = 0.2 * (a[1:-1, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] + a[2:, 1:-1] + a[:-2, 1:-1])
        a[1:-1, 1:-1] = 0.2 * (b[1:-1, 1:-1] + b[1:-1, :-2] + b[1:-1, 2:] + b[2:, 1:-1] + b[:-2, 1:-1])


def standardize(x: flowc.float64[N, M]):
    mu = np.mean(x, axis=0)
    d = x - mu
    sd = np.sqrt(np.sum(d * d, axis=0) / N)
    z = d / sd
    return z, np.max(np.abs(z), axis=1)


def transposed(a: flowc.float32[N, M], b: flowc.float32[M, N], c: flowc.float32[N, M]):
    t = np.exp(a.T) * b
    return t.T + c * 0.5


def attention(q: flowc.float32[B, L, P], k: flowc.float32[B, L, P], v: flowc.float32[B, L, P], scale: flowc.float32):
    s = (q @ k.transpose(0, 2, 1)) * scale
    s = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return (s / np.sum(s, axis=-1, keepdims=True)) @ v


def triangle(a: flowc.float64[N, N], out: flowc.float64[N, N]):
    for i in flowc.map[0:N]:
        for j in flowc.map[0:i + 1]:
            out[i, j] = np.sqrt(np.abs(a[i, j])) + a[j, i]


def tri_rows(a: flowc.float64[N, N], b: flowc.float64[N, K]):
    out = np.zeros((N, K))
    for i in range(N):                       # a contraction over a slice that moves with i
        out[i] = a[i, i:] @ b[i:, :]
    return out


def column_order(a: flowc.float32[N, M], b: flowc.float32[N, M]):
    out = np.empty((N, M), dtype=np.float32)
    for j, i in flowc.map[0:M, 0:N]:         # a DaCe-style map written column by column
        out[i, j] = a[i, j] * 2.0 + b[i, j] * b[i, j]
    return out


SUITE = {
    "bert": (encoder_layer, {"small": dict(B=1, L=32, H=2, P=32, U=256),
                             "large": dict(B=8, L=128, H=12, P=64, U=3072)}),
    "softmax": (softmax, {"small": dict(N=64, M=64), "large": dict(N=8 * 12 * 128, M=128)}),
    "layernorm": (layernorm, {"small": dict(N=64, M=128), "large": dict(N=8 * 128, M=768)}),
    "mlp": (mlp, {"small": dict(N=32, M=64, K=128), "large": dict(N=1024, M=768, K=3072)}),
    "jacobi": (jacobi, {"small": dict(N=64, T=20), "large": dict(N=1024, T=20)}),
    "standardize": (standardize, {"small": dict(N=64, M=48), "large": dict(N=4096, M=1024)}),
    "transposed": (transposed, {"small": dict(N=64, M=48), "large": dict(N=2048, M=2048)}),
    "attention": (attention, {"small": dict(B=2, L=32, P=32), "large": dict(B=96, L=128, P=64)}),
    "triangle": (triangle, {"small": dict(N=96), "large": dict(N=3000)}),
    "tri_rows": (tri_rows, {"small": dict(N=96, K=16), "large": dict(N=1000, K=16)}),
    "column_order": (column_order, {"small": dict(N=64, M=48), "large": dict(N=2048, M=2048)}),
}


def _copy(args: list) -> list:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _outputs(result, args: list) -> list[np.ndarray]:
    if result is None:                       # in place: the written arguments are the result
        return [a for a in args if isinstance(a, np.ndarray)]
    return list(result) if isinstance(result, tuple) else [result]


def measure(name: str, size: str, budget: float, repeats: int) -> dict:
    fn, sizes_by = SUITE[name]
    sizes = sizes_by[size]
    program = frontend.lower(fn)
    t0 = time.perf_counter()
    result = auto_search(program, sizes=sizes, budget_s=budget, cache="refresh", progress=False)
    search_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = auto_search(program, sizes=sizes, budget_s=budget, cache=True, progress=False)
    replay_s = time.perf_counter() - t0
    assert again.report.cache_hit and again.program.to_json() == result.program.to_json()
    baseline = program.clone()
    auto_optimize(baseline)
    compiled = {"plain": flowc.compile_program(program), "auto_optimize": flowc.compile_program(baseline),
                "searched": flowc.compile_program(result.program)}
    inputs, symbols = random_inputs(program, sizes)
    outs = {}
    for key, c in compiled.items():
        args = _copy(inputs)
        outs[key] = _outputs(c(*args, **symbols), args)
    for key in ("auto_optimize", "searched"):
        for got, want in zip(outs[key], outs["plain"]):
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3, err_msg=f"{name} {size}: {key}")
    work = {key: _copy(inputs) for key in compiled}
    times = interleaved({k: (lambda c=c, a=work[k], s=symbols: c(*a, **s)) for k, c in compiled.items()},
                        repeats=repeats)
    counts = result.report.counts()
    print(result.report.table(), file=sys.stderr)
    return {"program": name, "size": size, "sizes": sizes, "search_s": search_s, "replay_s": replay_s,
            "candidates": sum(counts.values()), "timed": result.report.timings, "counts": counts,
            "complete": result.report.complete, "chosen": result.report.chosen,
            **{f"{k}_ms": v["median_s"] * 1e3 for k, v in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--programs", default=",".join(SUITE))
    args = ap.parse_args()
    print("OPENBLAS_CORETYPE =", os.environ.get("OPENBLAS_CORETYPE"), "| OPENBLAS_L2_SIZE =",
          os.environ.get("OPENBLAS_L2_SIZE"), "| BLAS kernels:", blas_kernels())
    os.environ["FLOWC_TUNE_DIR"] = tempfile.mkdtemp(prefix="flowc-tune-")     # search, never replay old picks
    rows = []
    for name in args.programs.split(","):
        for size in args.sizes.split(","):
            rows.append(measure(name, size, args.budget, args.repeats))
            r = rows[-1]
            print(f"  {name}/{size}: searched {r['searched_ms']:.3f} ms, auto_optimize {r['auto_optimize_ms']:.3f} ms, "
                  f"search {r['search_s']:.1f} s", file=sys.stderr, flush=True)
    print(f"\n{'program':<12}{'size':<7}{'plain ms':>10}{'auto_opt ms':>12}{'searched ms':>12}{'vs auto':>8}"
          f"{'search s':>9}{'replay s':>9}{'timed':>6}  chosen")
    for r in rows:
        print(f"{r['program']:<12}{r['size']:<7}{r['plain_ms']:10.3f}{r['auto_optimize_ms']:12.3f}"
              f"{r['searched_ms']:12.3f}{r['auto_optimize_ms'] / r['searched_ms']:8.2f}{r['search_s']:9.1f}"
              f"{r['replay_s']:9.3f}{r['timed']:6d}  {r['chosen']}")
    ratios = [r["auto_optimize_ms"] / r["searched_ms"] for r in rows]
    print(f"\ngeometric mean searched vs auto_optimize: {statistics.geometric_mean(ratios):.3f}x; "
          f">= 1.2x on {sum(x >= 1.2 for x in ratios)} of {len(rows)}; slowest {min(ratios):.2f}x")
    print("results:", write_json("search_cpu", {"budget_s": args.budget, "repeats": args.repeats, "rows": rows}))


if __name__ == "__main__":
    main()
