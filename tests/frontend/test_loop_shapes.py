"""Intermediates whose shape depends on a loop variable (issue 9): ``t = a[:i] * 2`` inside
``for i in range(1, N)`` is held in a buffer sized for the largest iteration (``N - 1``),
allocated once, of which each iteration uses the first ``i`` elements."""

import numpy as np
import pytest

import flowc
from flowc import FrontendError

from fe_helpers import rand, run_both, with_symbols

N = flowc.symbol("N")


@flowc.program
def prefix_sums(a: flowc.float64[N], c: flowc.float64[N]):
    for i in range(1, N):
        t = a[:i] * 2.0
        t += 1.0
        c[i] = np.sum(t * a[:i])


@flowc.program
def prefix_dots(a: flowc.float64[N], c: flowc.float64[N]):
    for i in range(1, N):
        t = a[:i] * 2.0
        c[i] = t @ a[:i]


@flowc.program
def leading_blocks(A: flowc.float64[N, N], x: flowc.float64[N], c: flowc.float64[N]):
    for i in range(N):
        T = A[:i + 1, :i + 1] * 2.0
        y = T @ x[:i + 1]
        c[i] = np.max(y)


@flowc.program
def suffixes_backwards(a: flowc.float64[N], c: flowc.float64[N]):
    for i in range(N - 1, 0, -1):
        t = np.exp(a[i:])
        t2 = t * t
        c[i] = np.sum(t2) + t[0]


@flowc.program
def triangle_columns(A: flowc.float64[N, N], c: flowc.float64[N, N]):
    for i in range(N):
        for j in range(i, N):
            t = A[i:j + 1, j] * 0.5
            c[i, j] = np.sum(t * t)


@flowc.program
def row_times_block(A: flowc.float64[N, N], c: flowc.float64[N]):
    for i in range(1, N):
        r = A[i, :i] @ A[:i, :]
        c[:] = c + r


CASES = {
    "prefix_sums": (prefix_sums, lambda rng, n: (rand(rng, n), rand(rng, n))),
    "prefix_dots": (prefix_dots, lambda rng, n: (rand(rng, n), rand(rng, n))),
    "leading_blocks": (leading_blocks, lambda rng, n: (rand(rng, (n, n)), rand(rng, n), rand(rng, n))),
    "suffixes_backwards": (suffixes_backwards, lambda rng, n: (rand(rng, n), rand(rng, n))),
    "triangle_columns": (triangle_columns, lambda rng, n: (rand(rng, (n, n)), rand(rng, (n, n)))),
    "row_times_block": (row_times_block, lambda rng, n: (rand(rng, (n, n)), rand(rng, n))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loop_dependent_intermediates_match_numpy(rng, name):
    prog, make = CASES[name]
    for n in (1, 2, 9, 33):
        run_both(prog, *make(rng, n), ref=with_symbols(prog.func, N=n))


def test_the_buffer_is_sized_for_the_largest_iteration():
    ir = prefix_sums.to_ir()
    shapes = {name: [str(s) for s in d.shape] for name, d in ir.data.items()
              if d.transient and not isinstance(d, flowc.ir.Scalar) and d.view_of is None}
    assert ["Max(0, N - 1)"] in shapes.values(), shapes


def test_a_size_interval_arithmetic_cannot_bound_is_refused():
    @flowc.program
    def squares(a: flowc.float64[N], c: flowc.float64[N]):
        for i in range(N):
            t = a[:i * i] * 2.0
            c[i] = np.sum(t)
    with pytest.raises(FrontendError, match="cannot bound") as info:
        squares.to_ir()
    assert "t = a[:i * i] * 2.0" in str(info.value)
