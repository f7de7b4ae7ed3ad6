"""auto_search against auto_optimize: search time and the chosen program's time, in the same run.

    python samples/bench/auto_search.py [--size small|base] [--budget 120] [--programs softmax,layernorm,bert]

For each program: ``auto_search`` (no stored result used: ``cache=False``) at the sizes, then
the chosen program and ``auto_optimize``'s are compiled and timed interleaved on the same fresh
random inputs (median of ``--repeats`` rounds). Benchmark as users run: leave
``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` unset in the command.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import interleaved  # noqa: E402
from bert_encoder import encoder_layer  # noqa: E402

import flowc  # noqa: E402
from flowc import frontend  # noqa: E402
from flowc.transforms import auto_optimize, auto_search  # noqa: E402
from flowc.transforms.search_inputs import random_inputs  # noqa: E402

N, M, E = (flowc.symbol(s) for s in ("N", "M", "E"))


def softmax(x: flowc.float32[N, M]):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm(x: flowc.float32[N, E], g: flowc.float32[E], b: flowc.float32[E]):
    mu = np.mean(x, axis=-1, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    return d / np.sqrt(var + 1e-5) * g + b


PROGRAMS = {
    "softmax": (softmax, {"small": dict(N=256, M=128), "base": dict(N=8 * 12 * 128, M=128)}),
    "layernorm": (layernorm, {"small": dict(N=128, E=256), "base": dict(N=8 * 128, E=768)}),
    "bert": (encoder_layer, {"small": dict(B=2, L=16, H=2, P=8, U=64), "base": dict(B=8, L=128, H=12, P=64, U=3072)}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "base"), default="small")
    ap.add_argument("--budget", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--programs", default=",".join(PROGRAMS))
    args = ap.parse_args()
    rows = []
    for name in args.programs.split(","):
        fn, sizes_by = PROGRAMS[name]
        sizes = sizes_by[args.size]
        program = frontend.lower(fn)
        start = time.perf_counter()
        result = auto_search(program, sizes=sizes, budget_s=args.budget, cache=False)
        search_s = time.perf_counter() - start
        baseline = program.clone()
        auto_optimize(baseline)
        compiled = {"auto_optimize": flowc.compile_program(baseline), "searched": flowc.compile_program(result.program)}
        inputs, symbols = random_inputs(program, sizes)
        want = compiled["auto_optimize"](*[a.copy() if isinstance(a, np.ndarray) else a for a in inputs], **symbols)
        got = compiled["searched"](*[a.copy() if isinstance(a, np.ndarray) else a for a in inputs], **symbols)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
        times = interleaved({k: (lambda c=c, a=inputs, s=symbols: c(*a, **s)) for k, c in compiled.items()},
                            repeats=args.repeats)
        base_ms, best_ms = times["auto_optimize"]["median_s"] * 1e3, times["searched"]["median_s"] * 1e3
        counts = result.report.counts()
        rows.append((name, sizes, search_s, sum(counts.values()), counts.get("pruned", 0), result.report.timings,
                     base_ms, best_ms, result.report.chosen))
        print(result.report.table(), file=sys.stderr)
    print(f"{'program':<10} {'search s':>8} {'cands':>5} {'pruned':>6} {'timed':>5} {'auto_opt ms':>11} "
          f"{'searched ms':>11} {'ratio':>6}  chosen")
    for name, sizes, search_s, n, pruned, timed, base_ms, best_ms, chosen in rows:
        print(f"{name:<10} {search_s:8.1f} {n:5d} {pruned:6d} {timed:5d} {base_ms:11.3f} {best_ms:11.3f} "
              f"{base_ms / best_ms:6.2f}  {chosen}")
        print(f"{'':<10} sizes {sizes}")


if __name__ == "__main__":
    main()
