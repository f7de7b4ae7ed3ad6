"""flowc.map bodies DaCe programs write (issue 9): nested maps whose ranges use an enclosing
map's parameter or a symbol offset."""

import pytest

import flowc

from fe_helpers import rand, run_both, with_symbols

N, M = flowc.symbol("N"), flowc.symbol("M")


def _upper(a, out, s):
    n = a.shape[0]
    for k in range(n):
        t = a[k, k] * 2.0
        for j in range(k + 1, n):
            out[k, j] = a[k, j] * t
            s[k] += a[k, j]


@flowc.program
def upper(a: flowc.float64[N, N], out: flowc.float64[N, N], s: flowc.float64[N]):
    for k in flowc.map[0:N]:
        t = a[k, k] * 2.0
        for j in flowc.map[k + 1:N]:
            out[k, j] = a[k, j] * t
            s[k] += a[k, j]


@flowc.program
def lower_tri(a: flowc.float64[N, M], out: flowc.float64[N, M]):
    for i in flowc.map[0:N]:
        for j in flowc.map[0:i + 1]:
            out[i, j] = a[i, j] + i - j


def _lower_tri(a, out):
    n, m = a.shape
    for i in range(n):
        for j in range(min(i + 1, m)):
            out[i, j] = a[i, j] + i - j


@flowc.program
def stencil(a: flowc.float64[N, M], out: flowc.float64[N, M]):
    for i in flowc.map[1:N - 1]:
        for j in flowc.map[1:M - 1]:
            out[i, j] = 0.25 * (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1])


@flowc.program
def three_levels(a: flowc.float64[N, N, N], out: flowc.float64[N]):
    for i in flowc.map[0:N]:
        for j in flowc.map[i:N]:
            for k in flowc.map[j:N]:
                out[i] += a[i, j, k]


def _three_levels(a, out):
    n = a.shape[0]
    for i in range(n):
        for j in range(i, n):
            for k in range(j, n):
                out[i] += a[i, j, k]


@pytest.mark.parametrize("optimize", [False, True])
def test_nested_map_over_a_triangle(rng, optimize):
    prog = flowc.program(upper.func, auto_optimize=optimize)
    for n in (1, 2, 7):
        run_both(prog, rand(rng, (n, n)), rand(rng, (n, n)), rand(rng, n), ref=_upper)


@pytest.mark.parametrize("optimize", [False, True])
def test_nested_map_bounded_by_the_outer_parameter(rng, optimize):
    prog = flowc.program(lower_tri.func, auto_optimize=optimize)
    for n, m in [(1, 1), (3, 5), (4, 4), (2, 7)]:      # N <= M: the inner range 0:i + 1 stays inside M
        run_both(prog, rand(rng, (n, m)), rand(rng, (n, m)), ref=_lower_tri)


@pytest.mark.parametrize("optimize", [False, True])
def test_nested_map_with_symbol_offsets(rng, optimize):
    prog = flowc.program(stencil.func, auto_optimize=optimize)
    for n, m in [(3, 3), (6, 9), (10, 4)]:
        run_both(prog, rand(rng, (n, m)), rand(rng, (n, m)), ref=with_symbols(stencil.func, N=n, M=m))


@pytest.mark.parametrize("optimize", [False, True])
def test_three_nested_maps_with_a_reduction(rng, optimize):
    prog = flowc.program(three_levels.func, auto_optimize=optimize)
    for n in (1, 4, 9):
        run_both(prog, rand(rng, (n, n, n)), rand(rng, n), ref=_three_levels)


def test_inner_scalar_is_not_visible_after_the_inner_map():
    def f(a: flowc.float64[N, N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            for j in flowc.map[0:N]:
                t = a[i, j]
            out[i] = t

    with pytest.raises(flowc.FrontendError, match="'t' has no value here"):
        flowc.program(f).to_ir()
