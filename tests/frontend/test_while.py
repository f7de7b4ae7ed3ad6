"""``while`` loops re-evaluate their condition every iteration, also when it reads variables the
body reassigns: Python-int counters (``c = 0; while c < 3: c += 1``, once refused as a
``while True``), a convergence test computed in the body (``err = 1.0; while err > tol: ...``),
data-dependent exits, and while loops nested in for loops."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both, with_symbols

N, M = flowc.symbol("N"), flowc.symbol("M")


@flowc.program
def counter(x: flowc.float64[N]):
    c = 0
    while c < 3:
        c += 1
        x = x * 2.0
    return x + c


@flowc.program
def counter_float32(x: flowc.float32[N]):
    c = 0
    k = 1
    while c < 5:
        c = c + 2
        k = k * 3
    return x * k + c


@flowc.program
def never_runs(x: flowc.float64[N]):
    c = 7
    while c < 3:
        c += 1
    return x + c


@flowc.program
def jacobi(r: flowc.float64[N, N], d: flowc.float64[N], b: flowc.float64[N]):
    """Jacobi iteration for (diag(d) + r) x = b until the update is below a tolerance
    (the matrix is diagonally dominant)."""
    x = np.zeros_like(b)
    err = 1.0
    it = 0
    while err > 1e-10:
        xn = (b - r @ x) / d
        err = np.max(np.abs(xn - x))
        x = xn
        it += 1
    return x, it


@flowc.program
def halve_until_small(x: flowc.float64[N]):
    s = np.sum(np.abs(x))
    steps = 0
    while s > 1.0:
        x = x * 0.5
        s = np.sum(np.abs(x))
        steps = steps + 1
    return x, steps


@flowc.program
def scan_until(x: flowc.float64[N], t: float):
    """Index of the first element above t (N when none): the exit depends on the data."""
    i = 0
    found = 0
    while found == 0 and i < N:
        if x[i] > t:
            found = 1
        else:
            i += 1
    return i


@flowc.program
def while_in_for(x: flowc.float64[N, M]):
    out = np.zeros(N)
    for i in range(N):
        v = 1.0
        k = 0
        while v < x[i, 0] * 100.0:
            v = v * 1.5
            k += 1
        out[i] = v + k
    return out


def test_counter(rng):
    for n in (1, 3, 8):
        x = rand(rng, n)
        run_both(counter, x)
        run_both(never_runs, x)
        run_both(counter_float32, rand(rng, n, np.float32))


def test_counter_keeps_python_int_promotion(rng):
    out = counter_float32(rand(rng, 4, np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("auto", [False, True])
def test_jacobi_until_convergence(rng, auto):
    prog = flowc.program(jacobi.func, auto_optimize=True) if auto else jacobi
    for n in (1, 4, 13):
        r = rng.random((n, n)) * (1 - np.eye(n))
        d = rng.random(n) + n + 1.0
        run_both(prog, r, d, rand(rng, n), ref=with_symbols(jacobi.func, N=n))


@pytest.mark.parametrize("auto", [False, True])
def test_condition_computed_in_body(rng, auto):
    prog = flowc.program(halve_until_small.func, auto_optimize=True) if auto else halve_until_small
    for n in (1, 5, 20):
        run_both(prog, rand(rng, n, low=0.5, high=4.0), ref=halve_until_small.func)


def test_data_dependent_exit(rng):
    for n in (1, 6, 17):
        x = rand(rng, n)
        for t in (0.5, -0.9, 2.0):
            run_both(scan_until, x, t, ref=with_symbols(scan_until.func, N=n))


def test_while_nested_in_for(rng):
    for n, m in ((1, 1), (4, 3), (9, 2)):
        run_both(while_in_for, rand(rng, (n, m), low=0.1, high=5.0), ref=with_symbols(while_in_for.func, N=n, M=m))


def test_while_true_is_still_refused():
    with pytest.raises(flowc.FrontendError, match="never end"):
        @flowc.program
        def forever(x: flowc.float64[N]):
            c = 0
            while 1 < 3:
                x = x + c
            return x

        forever(np.ones(3))
