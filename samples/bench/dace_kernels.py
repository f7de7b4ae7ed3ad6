"""DaCe-style kernels: matrix–vector products (GEMV, DOT, BLAS-2 chains), 2-D stencils in a time
loop, a triangular solve, a covariance, a dynamic-programming recurrence, a complex (Mandelbrot)
iteration (NumPy-style, and as a map with an escape loop in each pixel), a CSR sparse
matrix–vector product (a map over rows, a loop over each row's nonzeros) and a triangular
contraction. flowc (plain and auto_optimize) against NumPy, each contender in its own process,
timed round-robin (interleaved medians); every result is checked against NumPy first (pass/fail).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python samples/bench/dace_kernels.py [--repeats 15] [--only mv,jacobi]

(Unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: they force OpenBLAS's kernel choice; the script
prints the kernel each BLAS picked.) Stencils also run as ``flowc-auto 1T`` (OMP_NUM_THREADS=1)
and ``flowc-auto passive`` (OMP_WAIT_POLICY=passive), to show what the OpenMP pool costs on
this machine. Writes samples/bench/results/dace_kernels.json.

Timing: each sample is the mean of back-to-back calls lasting at least ``--min-sample-ms`` (2 ms;
the same count for every contender), as a loop calls a kernel and as ``timeit`` and npbench time
it. A single call after 0.2 s of idle, ``--min-sample-ms 0``, measures the wake-up of the core,
its caches and its thread pool: 50-90 µs here, more than a 500 x 500 GEMV takes.

Floors: the compulsory bytes (each operand read once, each result written once; a stencil
sweep reads its input and writes its output) at the best copy bandwidth measured in this run,
in its own process. Columns: median ms, speed vs NumPy (NumPy time / contender time), time / floor.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import glob
import os
from typing import Any, Callable

import numpy as np
from common import interleaved_isolated, write_json

import flowc

M, K, N, B, L = (flowc.symbol(s) for s in "MKNBL")


# ------------------------------------------------------------------ kernels (flowc source = NumPy source)

def mv(A: flowc.float64[M, K], x: flowc.float64[K]):
    return A @ x


def mv32(A: flowc.float32[M, K], x: flowc.float32[K]):
    return A @ x


def vm(x: flowc.float64[M], A: flowc.float64[M, K]):
    return x @ A


def atax(A: flowc.float64[M, K], x: flowc.float64[K]):
    return A.T @ (A @ x)


def bicg(A: flowc.float64[M, K], p: flowc.float64[K], r: flowc.float64[M]):
    return r @ A, A @ p


def strided_mv(A: flowc.float64[M, K], x: flowc.float64[K]):
    return A[:, ::2] @ x[::2]


def batched_mv(A: flowc.float64[B, M, K], x: flowc.float64[K]):
    return A @ x


def dot(x: flowc.float64[K], y: flowc.float64[K]):
    return x @ y


def jacobi(A: flowc.float64[N, N], B: flowc.float64[N, N], T: flowc.int64):
    for _t in range(1, T):
        B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1])
        A[1:-1, 1:-1] = 0.2 * (B[1:-1, 1:-1] + B[1:-1, :-2] + B[1:-1, 2:] + B[2:, 1:-1] + B[:-2, 1:-1])
    return A[1, 1]


def jacobi_tmp(A: flowc.float64[N, N], B: flowc.float64[N, N], T: flowc.int64):
    for _t in range(1, T):
        c = A[1:-1, 1:-1] + A[1:-1, :-2]
        d = A[1:-1, 2:] + A[2:, 1:-1]
        B[1:-1, 1:-1] = 0.2 * (c + d + A[:-2, 1:-1])
        e = B[1:-1, 1:-1] + B[1:-1, :-2]
        f = B[1:-1, 2:] + B[2:, 1:-1]
        A[1:-1, 1:-1] = 0.2 * (e + f + B[:-2, 1:-1])
    return A[1, 1]


def gesummv(A: flowc.float64[M, K], Bm: flowc.float64[M, K], x: flowc.float64[K]):
    return 1.5 * (A @ x) + 1.2 * (Bm @ x)


def trisolv(L: flowc.float64[N, N], b: flowc.float64[N]):
    x = np.zeros_like(b)
    for i in range(b.shape[0]):
        x[i] = (b[i] - L[i, :i] @ x[:i]) / L[i, i]
    return x


def covariance(data: flowc.float64[M, K]):
    mean = np.mean(data, axis=0)
    d = data - mean
    return (d.T @ d) / (data.shape[0] - 1.0)


def dp_max(v: flowc.float64[N]):
    dp = np.zeros_like(v)
    dp[0] = max(v[0], 0.0)
    dp[1] = max(dp[0], v[1])
    for i in range(2, v.shape[0]):
        dp[i] = max(dp[i - 1], dp[i - 2] + v[i])
    return dp


def mandel(c: flowc.complex128[N, N]):
    z = np.zeros_like(c)
    count = np.zeros(c.shape, np.int64)
    for _i in range(30):
        z = z * z + c
        count = count + (np.abs(z) < 2.0)
    return count


def mandel_map(c: flowc.complex128[N, N]):
    """``mandel`` as DaCe users write it: a map over the pixels, a sequential escape loop in each."""
    count = np.zeros(c.shape, np.int64)
    for i, j in flowc.map[0:N, 0:N]:
        z = 0j
        for _t in range(30):
            z = z * z + c[i, j]
            if np.abs(z) >= 2.0:
                break
            count[i, j] += 1
    return count


def spmv(indptr: flowc.int64[L], indices: flowc.int64[K], data: flowc.float64[K], x: flowc.float64[N]):
    """A CSR matrix times a vector: a map over the rows, a loop over each row's nonzeros."""
    y = np.zeros(L - 1)
    for i in flowc.map[0:L - 1]:
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        y[i] = s
    return y


def _np_spmv(indptr, indices, data, x):
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return np.bincount(rows, weights=data * x[indices], minlength=len(indptr) - 1)


def tri_rows(A: flowc.float64[N, N], Bm: flowc.float64[N, K]):
    out = np.zeros((A.shape[0], Bm.shape[1]))
    for i in range(A.shape[0]):
        out[i] = A[i, i:] @ Bm[i:, :]
    return out


def _np_bicg(A, p, r):
    return r @ A, A @ p


def _np_strided_mv(A, x):
    return A[:, ::2] @ x[::2]


def _np_jacobi(A, B, T):
    for _ in range(1, T):
        B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1])
        A[1:-1, 1:-1] = 0.2 * (B[1:-1, 1:-1] + B[1:-1, :-2] + B[1:-1, 2:] + B[2:, 1:-1] + B[:-2, 1:-1])
    return A[1, 1]


def _np_jacobi_tmp(A, B, T):
    for _ in range(1, T):
        c = A[1:-1, 1:-1] + A[1:-1, :-2]
        d = A[1:-1, 2:] + A[2:, 1:-1]
        B[1:-1, 1:-1] = 0.2 * (c + d + A[:-2, 1:-1])
        e = B[1:-1, 1:-1] + B[1:-1, :-2]
        f = B[1:-1, 2:] + B[2:, 1:-1]
        A[1:-1, 1:-1] = 0.2 * (e + f + B[:-2, 1:-1])
    return A[1, 1]


STEPS = 50


def _inputs(name: str, size: int, seed: int) -> tuple[list, int]:
    """Arguments for one case and its compulsory bytes (operands read once, results written once)."""
    rng = np.random.default_rng(seed)
    f64 = lambda *s: rng.standard_normal(s)  # noqa: E731
    if name in ("mv", "atax", "strided_mv"):
        args = [f64(size, size), f64(size)]
    elif name == "mv32":
        args = [f64(size, size).astype(np.float32), f64(size).astype(np.float32)]
    elif name == "vm":
        args = [f64(size), f64(size, size)]
    elif name == "bicg":
        args = [f64(size, size), f64(size), f64(size)]
    elif name == "batched_mv":
        args = [f64(8, size, size), f64(size)]
    elif name == "dot":
        args = [f64(size), f64(size)]
    elif name in ("jacobi", "jacobi_tmp"):
        args = [rng.random((size, size)), rng.random((size, size)), STEPS]
        return args, 2 * (STEPS - 1) * 2 * size * size * 8          # per sweep: read one grid, write the other
    elif name == "gesummv":
        args = [f64(size, size), f64(size, size), f64(size)]
    elif name == "trisolv":
        args = [np.tril(f64(size, size)) + size * np.eye(size), f64(size)]
    elif name == "covariance":
        args = [f64(2 * size, size)]
    elif name == "dp_max":
        args = [f64(size)]
    elif name == "mandel":
        args = [rng.uniform(-2, 1, (size, size)) + 1j * rng.uniform(-1.2, 1.2, (size, size))]
        return args, 30 * 2 * args[0].nbytes                          # z read and written per step (in cache or not)
    elif name == "mandel_map":
        args = [rng.uniform(-2, 1, (size, size)) + 1j * rng.uniform(-1.2, 1.2, (size, size))]
    elif name == "spmv":
        nnz_per_row = 16
        indptr = np.arange(0, (size + 1) * nnz_per_row, nnz_per_row, dtype=np.int64)
        args = [indptr, rng.integers(0, size, size * nnz_per_row), f64(size * nnz_per_row), f64(size)]
    elif name == "tri_rows":
        args = [f64(size, size), f64(size, 16)]
    else:
        raise ValueError(f"unknown kernel {name!r}")
    nbytes = sum(a.nbytes for a in args)
    if name == "atax":
        nbytes += args[0].nbytes                                      # A is read twice (two dependent GEMVs)
    if name == "strided_mv":
        nbytes = args[0].nbytes // 2 + args[1].nbytes // 2
    return args, nbytes


FLOWC = {f.__name__: f for f in (mv, mv32, vm, atax, bicg, strided_mv, batched_mv, dot, jacobi, jacobi_tmp, gesummv,
                                  trisolv, covariance, dp_max, mandel, mandel_map, spmv, tri_rows)}
NUMPY: dict[str, Callable] = {"mv": lambda A, x: A @ x, "mv32": lambda A, x: A @ x, "vm": lambda x, A: x @ A,
                              "atax": lambda A, x: A.T @ (A @ x), "bicg": _np_bicg, "strided_mv": _np_strided_mv,
                              "batched_mv": lambda A, x: A @ x, "dot": lambda x, y: x @ y, "jacobi": _np_jacobi,
                              "jacobi_tmp": _np_jacobi_tmp, "mandel_map": mandel, "spmv": _np_spmv,
                              # the flowc source is NumPy source: these run as they are
                              **{f.__name__: f for f in (gesummv, trisolv, covariance, dp_max, mandel, tri_rows)}}
#: (kernel, size) cases: GEMV in and out of cache, 1 and odd sizes' neighbours, stencils on both sides
#: of the parallel threshold (PARALLEL_MIN_ELEMENTS_MEMORY_BOUND = 512²)
CASES = [("mv", 500), ("mv", 3000), ("mv32", 3000), ("vm", 500), ("vm", 3000), ("atax", 2001), ("bicg", 2001),
         ("strided_mv", 2000), ("batched_mv", 301), ("dot", 1_000_001),
         ("jacobi", 150), ("jacobi", 400), ("jacobi", 1000), ("jacobi_tmp", 400),
         ("gesummv", 2000), ("trisolv", 1000), ("covariance", 500), ("dp_max", 100_000), ("mandel", 300),
         ("mandel_map", 300), ("spmv", 100_000), ("tri_rows", 500)]
STENCILS = ("jacobi", "jacobi_tmp")
ENV = {"flowc-auto 1T": {"OMP_NUM_THREADS": "1"}, "flowc-auto passive": {"OMP_WAIT_POLICY": "passive"}}


def build(name: str, size: int, contender: str, seed: int) -> Callable[[], Any]:
    """A zero-argument callable running one case (in its worker process; sets the OpenMP
    environment before the compiled library loads libgomp)."""
    os.environ.update(ENV.get(contender, {}))
    args, _ = _inputs(name, size, seed)
    if contender == "numpy":
        fn = NUMPY[name]
    else:
        fn = flowc.program(FLOWC[name], auto_optimize=contender != "flowc")
        fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])       # compile (cached) and warm
    return functools.partial(fn, *args)


def build_copy() -> Callable[[], Any]:
    src = np.ones(4 * 1024 * 1024)            # 32 MiB
    dst = np.empty_like(src)
    return functools.partial(np.copyto, dst, src)


def check(name: str, size: int) -> tuple[bool, float]:
    """Run flowc (auto_optimize) and NumPy on the same fresh inputs; (passed, max relative error)."""
    args, _ = _inputs(name, size, seed=1234)
    a1 = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    a2 = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    got = flowc.program(FLOWC[name], auto_optimize=True)(*a1)
    want = NUMPY[name](*a2)
    got_t = got if isinstance(got, tuple) else (got,)
    want_t = want if isinstance(want, tuple) else (want,)
    pairs = list(zip(got_t, want_t)) + [(x, y) for x, y in zip(a1, a2) if isinstance(x, np.ndarray)]
    err = 0.0
    for g, w in pairs:
        as_t = np.complex128 if np.iscomplexobj(g) or np.iscomplexobj(w) else np.float64
        g, w = np.asarray(g, dtype=as_t), np.asarray(w, dtype=as_t)
        err = max(err, float(np.max(np.abs(g - w)) / max(1e-300, float(np.max(np.abs(w))))) if w.size else 0.0)
    tol = 1e-4 if "32" in name else 1e-10
    return err <= tol and all(np.shape(g) == np.shape(w) for g, w in pairs), err


def blas_kernels() -> dict[str, str]:
    """The OpenBLAS core each side picked (``openblas_get_corename``), via threadpoolctl when installed."""
    out: dict[str, str] = {}
    try:
        from threadpoolctl import threadpool_info
        out["threadpoolctl"] = str([(i.get("filepath"), i.get("architecture")) for i in threadpool_info()])
    except ImportError:
        pass
    from flowc.runtime import blas_info
    info = blas_info()
    candidates = [(f"flowc ({info.lib_path.name})", str(info.lib_path), f"{info.prefix}openblas_get_corename")]
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas*"))
    candidates += [(f"numpy ({os.path.basename(p)})", p, "scipy_openblas_get_corename64_") for p in libs]
    for label, path, symbol in candidates:
        try:
            fn = getattr(ctypes.CDLL(path), symbol)
            fn.restype = ctypes.c_char_p
            out[label] = fn().decode()
        except (OSError, AttributeError) as exc:
            out[label] = f"unknown ({exc})"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--only", default="", help="comma-separated kernel names")
    ap.add_argument("--min-sample-ms", type=float, default=2.0,
                    help="a sample is the mean of back-to-back calls lasting at least this long; "
                         "0: one call after 0.2 s idle (the wake-up of core, caches and thread pool included)")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} forces OpenBLAS's kernel choice; unset it for this benchmark")
    cores = blas_kernels()
    for label, core in cores.items():
        print(f"BLAS kernel, {label}: {core}")
    bw_t = interleaved_isolated({"copy": build_copy}, repeats=15, gap_s=0.02)
    bandwidth = 2 * 32 * 1024 * 1024 / bw_t["copy"]["min_s"]
    print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
          f"{os.cpu_count()} CPUs")
    results = []
    print(f"\n{'kernel':12s} {'size':>8s} {'check':>6s}  {'contender':20s} {'median ms':>10s} {'vs numpy':>9s} "
          f"{'time/floor':>10s} {'calls':>6s}")
    for name, size in CASES:
        if only and name not in only:
            continue
        passed, err = check(name, size)
        _, nbytes = _inputs(name, size, 0)
        floor = nbytes / bandwidth
        contenders = ["numpy", "flowc", "flowc-auto"] + (list(ENV) if name in STENCILS else [])
        # 0.2 s between calls: NumPy's OpenBLAS threads keep spinning for tens of milliseconds after a
        # call, and with 0.02 s the next contender (flowc) ran against them on both cores (GEMV and DOT
        # looked 3-10x slower than they are: 6.3 ms for a 1M-element dot that takes 0.5 ms alone)
        t = interleaved_isolated({c: functools.partial(build, name, size, c, 7) for c in contenders},
                                 repeats=args.repeats, gap_s=0.2, min_sample_s=args.min_sample_ms / 1e3)
        row: dict[str, Any] = {"kernel": name, "size": size, "passed": passed, "max_rel_error": err,
                               "floor_s": floor, "timings": {}}
        for c in contenders:
            med = t[c]["median_s"]
            speed = t["numpy"]["median_s"] / med
            row["timings"][c] = {**t[c], "speed_vs_numpy": speed, "time_over_floor": med / floor}
            print(f"{name:12s} {size:8d} {'pass' if passed else 'FAIL':>6s}  {c:20s} {med * 1e3:10.3f} "
                  f"{speed:9.2f} {med / floor:10.2f} {t[c]['calls_per_sample']:6d}")
        results.append(row)
    path = write_json("dace_kernels", {"blas_kernels": cores, "copy_bytes_per_s": bandwidth, "steps": STEPS,
                                       "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
