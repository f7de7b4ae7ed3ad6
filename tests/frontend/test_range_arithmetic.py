"""Arithmetic on integer parameters in loop bounds, slices and sizes (issue 9): the parameter
becomes a size symbol and the expression folds to a symbolic bound."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both

N = flowc.symbol("N")


@flowc.program
def bounds(x: flowc.float64[N], acc: flowc.float64[N], T: int):
    for t in range(1, T - 1):
        x[:] = x * 0.5 + t
    for t in range(T + 1):
        acc[:] += x * t
    for t in range(2 * T, 0, -1):
        acc[t % acc.shape[0]] -= t
    for t in range(T // 2, T * T - T + 1, 3):
        acc[0] += t
    return acc * T


@pytest.mark.parametrize("T", [0, 1, 2, 3, 7])
def test_range_bounds_with_arithmetic(rng, T):
    for n in (1, 5):
        run_both(bounds, rand(rng, n), rand(rng, n), T)


@flowc.program
def sizes(x: flowc.float64[N], n: int):
    t = np.zeros(n + 1)
    t[1:] = x[:n] * 2.0
    return t, x[n - 1:2 * n - 1] + 1


def test_slices_and_sizes_with_arithmetic(rng):
    for size, n in [(1, 1), (6, 2), (9, 4)]:
        run_both(sizes, rand(rng, size), n)


@flowc.program
def data_bound(x: flowc.float64[N], k: flowc.int64[1]):
    for t in range(k[0] + 1):
        x[:] = x + t
    return x


def test_bound_computed_from_data_is_still_refused():
    with pytest.raises(flowc.FrontendError, match="known before the program runs"):
        data_bound.to_ir()
