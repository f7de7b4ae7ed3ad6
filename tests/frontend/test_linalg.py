"""np.linalg.cholesky / solve / inv through LAPACK."""

import numpy as np
import pytest

import flowc
from flowc.ir.library_extra import Cholesky, Inv, Solve

from fe_helpers import rand, run_both

N, K = flowc.symbol("N"), flowc.symbol("K")


def spd(rng, n, dtype=np.float64):
    a = rng.random((n, n))
    return (a @ a.T + n * np.eye(n)).astype(dtype)


@flowc.program
def linalg64(a: flowc.float64[N, N], b: flowc.float64[N], c: flowc.float64[N, K]):
    l = np.linalg.cholesky(a)
    return l, np.linalg.solve(a, b), np.linalg.solve(a.T, c), np.linalg.inv(a), np.linalg.inv(l @ l.T) @ c


def test_linalg_float64(rng):
    for n, k in ((3, 2), (17, 5)):
        run_both(linalg64, spd(rng, n), rand(rng, n), rand(rng, (n, k)))


@flowc.program
def linalg32(a: flowc.float32[N, N], b: flowc.float32[N]):
    return np.linalg.cholesky(a), np.linalg.solve(a, b), np.linalg.inv(a[::-1, ::-1])


def test_linalg_float32(rng):
    for n in (4, 9):
        run_both(linalg32, spd(rng, n, np.float32), rand(rng, n, np.float32))


@flowc.program
def linalg_int(a: flowc.int64[N, N], b: flowc.int64[N]):
    return np.linalg.solve(a, b), np.linalg.inv(a)


def test_integer_inputs_become_float64(rng):
    for n in (3, 5):
        a = rng.integers(-5, 6, (n, n)) + 20 * np.eye(n, dtype=np.int64)
        run_both(linalg_int, a, rng.integers(1, 9, n))


def test_linalg_library_nodes():
    p = linalg64.to_ir()
    p.validate()
    kinds = [type(n) for _, n in p.all_nodes()]
    assert Cholesky in kinds and Solve in kinds and Inv in kinds


@flowc.program
def chol_only(a: flowc.float64[N, N]):
    return np.linalg.cholesky(a)


def test_not_positive_definite_raises(rng):
    a = -spd(rng, 4)
    with pytest.raises(Exception, match="not positive definite"):
        chol_only(a)
