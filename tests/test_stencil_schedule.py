"""Stencils in a time loop: results against NumPy on fresh random inputs at sizes on both
sides of the parallel thresholds (so the serial and the parallel branch both run), plain
and with auto_optimize; and which threshold a map scope gets (memory-bound sweeps run in
parallel only from ``PARALLEL_MIN_ELEMENTS_MEMORY_BOUND`` elements, compute-bound ones from
``PARALLEL_MIN_ELEMENTS``)."""

import copy
import re

import numpy as np
import pytest

import flowc
from flowc import codegen, transforms
from flowc.codegen.cpp import PARALLEL_MIN_ELEMENTS, PARALLEL_MIN_ELEMENTS_MEMORY_BOUND

N = flowc.symbol("N")


def jacobi(A: flowc.float64[N, N], B: flowc.float64[N, N], T: flowc.int64):
    for _t in range(1, T):
        B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1])
        A[1:-1, 1:-1] = 0.2 * (B[1:-1, 1:-1] + B[1:-1, :-2] + B[1:-1, 2:] + B[2:, 1:-1] + B[:-2, 1:-1])
    return A[1, 1]      # checked too: a 0-d result after the loop


def jacobi_temporaries(A: flowc.float64[N, N], B: flowc.float64[N, N], T: flowc.int64):
    for _t in range(1, T):
        c = A[1:-1, 1:-1] + A[1:-1, :-2]
        d = A[1:-1, 2:] + A[2:, 1:-1]
        B[1:-1, 1:-1] = 0.2 * (c + d + A[:-2, 1:-1])
        e = B[1:-1, 1:-1] + B[1:-1, :-2]
        f = B[1:-1, 2:] + B[2:, 1:-1]
        A[1:-1, 1:-1] = 0.2 * (e + f + B[:-2, 1:-1])
    return A[1, 1]


def heat_exp(A: flowc.float64[N, N], T: flowc.int64):
    for _t in range(T):
        A[1:-1, 1:-1] = np.exp(-0.25 * (A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1]))
    return A[1, 1]


def np_jacobi(A, B, T):
    for _ in range(1, T):
        B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1])
        A[1:-1, 1:-1] = 0.2 * (B[1:-1, 1:-1] + B[1:-1, :-2] + B[1:-1, 2:] + B[2:, 1:-1] + B[:-2, 1:-1])
    return A[1, 1]


def np_heat_exp(A, T):
    for _ in range(T):
        A[1:-1, 1:-1] = np.exp(-0.25 * (A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1]))
    return A[1, 1]


#: 3: the smallest with an interior; 140² < 16K·2; 530² > PARALLEL_MIN_ELEMENTS_MEMORY_BOUND
SIZES = (3, 4, 37, 140, 530)


@pytest.mark.parametrize("opt", [False, True], ids=["plain", "auto_optimize"])
@pytest.mark.parametrize("fn", [jacobi, jacobi_temporaries], ids=lambda f: f.__name__)
def test_jacobi_matches_numpy(fn, opt):
    prog = flowc.program(fn, auto_optimize=opt)
    rng = np.random.default_rng()
    for n in SIZES:
        for steps in (1, 2, 5):
            a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
            a_ref, b_ref = a.copy(), b.copy()
            want = np_jacobi(a_ref, b_ref, steps)
            got = prog(a, b, steps)
            np.testing.assert_allclose(a, a_ref, rtol=1e-12, atol=1e-12, err_msg=f"A, n={n} T={steps}")
            np.testing.assert_allclose(b, b_ref, rtol=1e-12, atol=1e-12, err_msg=f"B, n={n} T={steps}")
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("opt", [False, True], ids=["plain", "auto_optimize"])
def test_compute_bound_stencil_matches_numpy(opt):
    prog = flowc.program(heat_exp, auto_optimize=opt)
    rng = np.random.default_rng()
    for n in (3, 50, 200):
        a = rng.standard_normal((n, n))
        ref = a.copy()
        want = np_heat_exp(ref, 3)
        got = prog(a, 3)
        np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-12, err_msg=f"n={n}")
        assert got == pytest.approx(want, rel=1e-12)


def _thresholds(fn, opt):
    work = copy.deepcopy(flowc.program(fn).to_ir())
    if opt:
        transforms.auto_optimize(work, target="cpu")
    transforms.expand_library_nodes(work, "cpu")
    src = codegen.generate_cpp(work, blas_prefix="", instrument=False).source
    # an if-clause, or inside a sequential loop the branch taken before the parallel region
    return [int(x) for x in re.findall(r"(?:#pragma omp parallel.* if \(|\n\s*if \()[^\n]*>= (\d+)\)", src)]


@pytest.mark.parametrize("opt", [False, True], ids=["plain", "auto_optimize"])
def test_memory_bound_sweeps_get_the_high_threshold(opt):
    for fn in (jacobi, jacobi_temporaries):
        found = _thresholds(fn, opt)
        assert found and all(t == PARALLEL_MIN_ELEMENTS_MEMORY_BOUND for t in found), (fn.__name__, found)


def _int_matmul(A: flowc.int64[N, N], B: flowc.int64[N, N]):
    return A @ B


def test_compute_bound_maps_keep_the_low_threshold():
    assert PARALLEL_MIN_ELEMENTS < PARALLEL_MIN_ELEMENTS_MEMORY_BOUND
    for fn in (heat_exp, _int_matmul):        # a libm call; a nested reduction loop (pure matmul)
        found = _thresholds(fn, False)
        assert PARALLEL_MIN_ELEMENTS in found, (fn.__name__, found)


def _sweep_once(A: flowc.float64[N, N], B: flowc.float64[N, N]):
    B[1:-1, 1:-1] = 0.2 * (A[1:-1, 1:-1] + A[1:-1, :-2] + A[1:-1, 2:] + A[2:, 1:-1] + A[:-2, 1:-1])


@pytest.mark.parametrize("opt", [False, True], ids=["plain", "auto_optimize"])
def test_maps_in_a_time_loop_decide_before_entering_openmp(opt):
    # a false if-clause still enters a parallel region (~0.5 us a map and an iteration): inside a
    # sequential loop the map branches first; outside one the if-clause stays (no copy of the loop)
    for fn, in_loop in ((jacobi, True), (_sweep_once, False)):
        work = copy.deepcopy(flowc.program(fn).to_ir())
        if opt:
            transforms.auto_optimize(work, target="cpu")
        transforms.expand_library_nodes(work, "cpu")
        src = codegen.generate_cpp(work, blas_prefix="", instrument=False).source
        with_clause = re.findall(r"#pragma omp parallel[^\n]* if \(", src)
        branches = re.findall(r"\n\s*if \([^\n]*>= \d+\) \{\n\s*#pragma omp parallel", src)
        assert (not with_clause and branches) if in_loop else (with_clause and not branches), fn.__name__
