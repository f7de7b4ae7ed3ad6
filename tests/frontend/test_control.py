"""Control flow: for over range (symbolic bounds, negative steps), while, if/elif/else, carried variables."""

import numpy as np
import pytest

import flowc
from flowc import ir

from fe_helpers import rand, run_both, with_symbols

N, M = flowc.symbol("N"), flowc.symbol("M")


@flowc.program
def loops(x: flowc.float64[N], out: flowc.float64[N]):
    out[0] = x[0]
    for i in range(1, N):
        out[i] = out[i - 1] + x[i]
    for i in range(N - 1, -1, -2):
        out[i] += 1
    for i in range(0, N, 3):
        out[i] *= 2
    s = 0.0
    for i in range(N):
        s = s + x[i] * i
    return s


def test_for_loops(rng):
    for n in (5, 12):
        run_both(loops, rand(rng, n), rand(rng, n), ref=with_symbols(loops.func, N=n))


@flowc.program
def accumulate_float32(x: flowc.float32[N, M]):
    acc = 0
    total = np.zeros(M, dtype=np.float32)
    for i in range(N):
        acc += x[i, 0]
        total = total + x[i]
    return acc, total


def test_carried_variable_takes_numpy_dtype(rng):
    for n, m in ((3, 4), (9, 7)):
        run_both(accumulate_float32, rand(rng, (n, m), np.float32), ref=with_symbols(accumulate_float32.func, N=n, M=m))


@flowc.program
def never_runs(b: flowc.bool_[1, M], x: flowc.float32[N]):
    t = np.ones_like(b[0])
    for i in range(1, b.shape[0]):
        t = t * 0.5 + b[i]
    u = x
    for _ in range(N, N):
        u = u.astype(np.float64)
    return t, u + 1


def test_a_loop_that_never_runs_types_nothing(rng):
    # range(1, 1) is dead code: t stays bool and u float32, as in Python (flowc typed them by the
    # body's assignments, float64, found by the fuzzer)
    for m, n in ((1, 1), (4, 3), (9, 20)):
        run_both(never_runs, rng.random((1, m)) > 0.5, rand(rng, n, np.float32),
                 ref=with_symbols(never_runs.func, N=n, M=m))


@flowc.program
def nested(x: flowc.float64[N, M]):
    acc = np.zeros(M)
    count = 0
    for i in range(N):
        for j in range(M):
            if x[i, j] > 0.5:
                acc[j] += x[i, j]
                count += 1
    t = 0.0
    for i in range(N):
        t += np.sum(x[i])
    return acc, count, t


def test_nested_loops_with_branches(rng):
    for n, m in ((3, 4), (8, 6)):
        run_both(nested, rand(rng, (n, m)), ref=with_symbols(nested.func, N=n, M=m))


@flowc.program
def branches(x: flowc.float64[N], k: flowc.int64):
    y = x * 2
    if np.sum(x) > 0.0:
        y = y + 1
    else:
        y[:] = 0
    if k > 5:
        z = 1.0
    elif k > 2:
        z = 2.0
    else:
        z = 3.0
    if k == 4 and x[0] > 0:
        y[0] = 42.0
    w = 5 if k > 3 else 6
    return y, z, w


def test_if_elif_else(rng):
    for n in (4, 10):
        for k in (1, 3, 4, 7):
            run_both(branches, rand(rng, n), np.int64(k))


@flowc.program
def while_loops(x: flowc.float64[N]):
    s = np.sum(np.abs(x)) + 1.0
    n = 0
    while s > 1.0:
        s = s / 2
        n += 1
    y = x.copy()
    while np.max(y) < 10.0:
        y *= 2
    return s, n, y


def test_while(rng):
    for n in (3, 11):
        run_both(while_loops, rand(rng, n, low=0.1))


@flowc.program
def loop_over_symbol_expressions(x: flowc.float64[N], y: flowc.float64[M]):
    z = np.zeros(N + M)
    for i in range(N):
        z[i] = x[i]
    for j in range(M):
        z[N + j] = y[j]
    for i in range(x.shape[0] // 2):
        z[2 * i] -= 1
    return z


def test_loop_bounds_from_shapes(rng):
    for n, m in ((3, 4), (7, 2)):
        run_both(loop_over_symbol_expressions, rand(rng, n), rand(rng, m),
                 ref=with_symbols(loop_over_symbol_expressions.func, N=n, M=m))


@flowc.program
def swap(a: flowc.float64[N], b: flowc.float64[N], steps: flowc.int64):
    u = a * 1
    v = b * 1
    for _ in range(3):
        u, v = v, u + v
    return u, v


def test_tuple_swap_in_loop(rng):
    for n in (2, 6):
        run_both(swap, rand(rng, n), rand(rng, n), np.int64(3))


@flowc.program
def view_in_loop(y: flowc.float64[N], k: flowc.int64):
    t = np.abs(y)
    for _ in range(k):
        v = t[::-1]          # a view: Python's v sees the in-place update below
        t += 1.0
    for _ in range(k):
        w = t[1:]
    t *= 2.0                 # ... and this one, made after the loop
    w[0] = -1.0              # a write through the view lands in t
    return v + 0.0, w * 1.0, t


@flowc.program
def snapshot_in_loop(y: flowc.float64[N], k: flowc.int64):
    t = np.abs(y)
    for _ in range(k):
        v = t[::-1]
        t = t + 1.0          # rebinding makes a new array: v keeps the one it viewed
    return v + 0.0, t


def test_views_assigned_in_loops_alias_like_python(rng):
    for n, k in ((4, 1), (7, 3)):
        run_both(view_in_loop, rand(rng, n), np.int64(k))
        run_both(snapshot_in_loop, rand(rng, n), np.int64(k))


def test_loop_and_branch_structure():
    p = branches.to_ir()
    p.validate()
    kinds = [type(item).__name__ for item in p.body.walk()]
    assert "Branch" in kinds
    p = loops.to_ir()
    p.validate()
    steps = [item.step for item in p.body.walk() if isinstance(item, ir.Loop)]
    assert -2 in steps and 3 in steps
    p = while_loops.to_ir()
    assert any(isinstance(item, ir.While) for item in p.body.walk())


@flowc.program
def steps_parameter(tsteps: flowc.int64, a: flowc.float64[N], b: flowc.float64[N]):
    for _ in range(1, tsteps):
        b[1:-1] = 0.33333 * (a[:-2] + a[1:-1] + a[2:])
        a[1:-1] = 0.33333 * (b[:-2] + b[1:-1] + b[2:])
    return a[:tsteps].sum() + tsteps


def _steps_ref(tsteps, a, b):
    for _ in range(1, tsteps):
        b[1:-1] = 0.33333 * (a[:-2] + a[1:-1] + a[2:])
        a[1:-1] = 0.33333 * (b[:-2] + b[1:-1] + b[2:])
    return a[:tsteps].sum() + tsteps


def test_integer_parameter_used_as_loop_bound_becomes_a_symbol(rng):
    p = steps_parameter.to_ir()
    p.validate()
    assert p.arg_names == ["a", "b"] and p.symbol_params == {"tsteps": 0} and "tsteps" in p.symbols
    compiled = flowc.compile_program(p)
    for n, t in ((6, 3), (10, 5)):
        a, b = rand(rng, n), rand(rng, n)
        a2, b2 = a.copy(), b.copy()
        out = compiled(a, b, tsteps=t)
        np.testing.assert_allclose(out, _steps_ref(t, a2, b2))
        np.testing.assert_allclose(a, a2)


def test_integer_parameter_as_symbol_direct_call(rng):
    for t, n in ((4, 7), (6, 12)):
        run_both(steps_parameter, np.int64(t), rand(rng, n), rand(rng, n), ref=_steps_ref)
    with pytest.raises(TypeError, match="tsteps"):
        steps_parameter(2.5, rand(rng, 7), rand(rng, 7))


@flowc.program
def triangular(a: flowc.float64[N, N]):
    for i in range(1, N):
        for j in range(i):
            a[i, j] -= np.dot(a[i, :j], a[j, :j])
            a[i, j] /= a[j, j]
        a[i, i] -= a[i, :i] @ a[i, :i]
        a[i, i] = np.sqrt(a[i, i])
    return np.sum(a[N - 1, :N - 1]), a[1:, :1].T @ a[1:, 1:]


def test_loop_dependent_sizes_in_dot_and_sum(rng):
    for n in (4, 9):
        x = rng.random((n, n))
        x = x @ x.T + n * np.eye(n)
        run_both(triangular, x, ref=with_symbols(triangular.func, N=n))


DEBUG = False


@flowc.program
def symbolic_conditions(x: flowc.float64[N, M]):
    for i in range(N):
        if i % 2 == 0:
            x[i] += 1
        elif i == N - 1:
            x[i] = 0
    if DEBUG:
        x[:] = -1
    if N > 3 and x.shape[1] >= 2:
        x[0, 0] = 42.0
    M = x * 2                          # noqa: N806 - a variable named like the size symbol M
    return M


def test_symbolic_and_static_conditions(rng):
    for n, m in ((3, 2), (6, 4)):
        run_both(symbolic_conditions, rand(rng, (n, m)), ref=with_symbols(symbolic_conditions.func, N=n, M=m))
    p = symbolic_conditions.to_ir()
    assert "M" in p.symbols and "M" not in p.data
