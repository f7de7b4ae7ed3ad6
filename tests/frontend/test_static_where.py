"""np.where with a condition known at lowering time still broadcasts and promotes (issue 8)."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both

N, M = flowc.symbol("N"), flowc.symbol("M")


def _programs(ta, tb):
    """np.where with a constant-true and a constant-false condition over operands typed ta, tb."""

    @flowc.program
    def where_true(a: ta, b: tb):
        return np.where(1.5 < 3.0, a, b)

    @flowc.program
    def where_false(a: ta, b: tb):
        return np.where(3 < 2, a, b)

    return where_true, where_false


CASES = [
    # (a's annotation, a's shape and dtype, b's annotation, b's shape and dtype)
    (flowc.float64[1, 1], lambda n, m: ((1, 1), np.float64), flowc.float64[N, M], lambda n, m: ((n, m), np.float64)),
    (flowc.int64[N], lambda n, m: ((n,), np.int64), flowc.float32[N], lambda n, m: ((n,), np.float32)),
    (flowc.float32[N, 1], lambda n, m: ((n, 1), np.float32), flowc.float32[M], lambda n, m: ((m,), np.float32)),
    (flowc.int32[M], lambda n, m: ((m,), np.int32), flowc.int64[N, M], lambda n, m: ((n, m), np.int64)),
    (flowc.bool_[N, M], lambda n, m: ((n, m), np.bool_), flowc.float32[1], lambda n, m: ((1,), np.float32)),
    (flowc.float32[N], lambda n, m: ((n,), np.float32), flowc.float64, lambda n, m: ((), np.float64)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_constant_condition_broadcasts_and_promotes(rng, case):
    ta, sa, tb, sb = CASES[case]
    for prog in _programs(ta, tb):
        for n, m in [(1, 1), (3, 5), (8, 2)]:
            (shape_a, dt_a), (shape_b, dt_b) = sa(n, m), sb(n, m)
            a = rand(rng, shape_a, dt_a)
            b = rand(rng, shape_b, dt_b) if shape_b else dt_b(rng.random() + 0.5)
            run_both(prog, a, b)


@flowc.program
def where_scalars(x: flowc.float32[N]):
    return x + np.where(True, 2, 3.5), np.where(False, 1, x)


def test_constant_condition_on_python_numbers(rng):
    """np.where of Python numbers is a NumPy (strong) value: float32 + float64 scalar is float64."""
    for n in (1, 6):
        run_both(where_scalars, rand(rng, n, np.float32))


@flowc.program
def python_conditional(x: flowc.float32[N], y: flowc.float64[1]):
    return (x if 2 > 1 else y) * 2


def test_python_conditional_expression_returns_the_operand(rng):
    """Python's ``a if c else b`` with a constant c is the chosen operand itself (no promotion)."""
    for n in (1, 7):
        run_both(python_conditional, rand(rng, n, np.float32), rand(rng, 1))
