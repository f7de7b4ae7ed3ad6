"""Cost of the run-time bounds check of gathers: ``table[idx]`` over 1e6 indices into 1e5 elements.

    OMP_NUM_THREADS=1 python samples/bench/gather_bounds.py

Prints the best of 30 calls for flowc and NumPy: indices of mixed sign (negative ones wrap, as in
NumPy) and non-negative indices, int64 and int32 index arrays.
"""

from __future__ import annotations

import time

import numpy as np

import flowc

N = flowc.symbol("N")
K = flowc.symbol("K")


@flowc.program
def gather(table: flowc.float64[N], idx: flowc.int64[K]):
    return table[idx]


@flowc.program
def gather_affine(table: flowc.float64[N], idx: flowc.int32[K]):
    return table[idx] * 2.0 + 1.0


def best(fn, *args, repeat: int = 30) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    n, k = 100_000, 1_000_000
    table = rng.standard_normal(n)
    mixed = rng.integers(-n, n, k)
    cases = [("int64, mixed signs", gather, mixed, lambda t, i: t[i]),
             ("int32, mixed signs, *2+1", gather_affine, mixed.astype(np.int32), lambda t, i: t[i] * 2.0 + 1.0),
             ("int64, idx >= 0", gather, rng.integers(0, n, k), lambda t, i: t[i])]
    for name, fn, idx, ref in cases:
        np.testing.assert_allclose(fn(table, idx), ref(table, idx))
        print(f"{name:28s} flowc {best(fn, table, idx) * 1e3:7.2f} ms   numpy {best(ref, table, idx) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
