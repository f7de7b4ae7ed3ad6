"""Broadcasting symbolic sizes (issue 8, issue 9): sizes equal for every integer value are
proven equal; sizes that may be equal become a per-call requirement; only sizes that can
never be equal are refused."""

import pytest

import flowc

from fe_helpers import assert_same, rand

N, M = flowc.symbol("N"), flowc.symbol("M")


@flowc.program
def halves(x: flowc.float64[N, M]):
    return (x[:, :M // 2] + x[:, 1::2], x[:, :(M + 1) // 2] * x[:, ::2], x[:, 2::3] - x[:, :M // 3],
            x[:, M - 1::-2] + x[:, ::2][:, :(M + 1) // 2])


def _halves_ref(x):
    m = x.shape[1]
    return (x[:, :m // 2] + x[:, 1::2], x[:, :(m + 1) // 2] * x[:, ::2], x[:, 2::3] - x[:, :m // 3],
            x[:, m - 1::-2] + x[:, ::2][:, :(m + 1) // 2])


def test_floor_and_ceiling_lengths_are_proven_equal(rng):
    """floor(M/2) and ceiling(M/2 - 1/2) are equal for every integer M: no requirement, every M runs."""
    prog = halves.to_ir()
    assert not any("broadcasting" in why for _, why in prog.requirements), prog.requirements
    for n, m in [(1, 2), (3, 3), (2, 7), (4, 8), (1, 11)]:
        x = rand(rng, (n, m))
        assert_same(halves(x), _halves_ref(x))


@flowc.program
def by_constant(x: flowc.float64[N], y: flowc.float64[4]):
    return x * y + 1


def test_symbolic_against_constant_is_a_requirement(rng):
    x, y = rand(rng, 4), rand(rng, 4)
    assert_same(by_constant(x, y), x * y + 1)
    for n in (1, 3, 5):
        # NumPy would broadcast n == 1; flowc requires N == 4 and says so
        with pytest.raises(ValueError, match=r"N == 4"):
            by_constant(rand(rng, n), y)


@flowc.program
def two_symbols(a: flowc.float64[N, 1], b: flowc.float64[M]):
    return a.T - b


def test_two_symbols_equal_at_run_time(rng):
    """(1, N) against (M,): M == N is required per call (no longer a refusal)."""
    for n in (2, 6):
        a, b = rand(rng, (n, 1)), rand(rng, n)
        assert_same(two_symbols(a, b), a.T - b)
    with pytest.raises(ValueError, match=r"M == N|N == M"):
        two_symbols(rand(rng, (3, 1)), rand(rng, 4))


@flowc.program
def parity(x: flowc.float64[M]):
    return x[::2] + x[1::2]


def test_possible_equality_of_floor_and_ceiling_is_a_requirement(rng):
    """ceiling(M/2) == floor(M/2) only for even M: a requirement checked at each call."""
    for m in (2, 8):
        x = rand(rng, m)
        assert_same(parity(x), x[::2] + x[1::2])
    with pytest.raises(ValueError, match="broadcasting"):
        parity(rand(rng, 5))


def test_never_equal_sizes_are_refused():
    def off_by_one(x: flowc.float64[N]):
        return x[1:] + x

    def constants(a: flowc.float64[N, 3], b: flowc.float64[4]):
        return a * b

    def odd_even(x: flowc.float64[M]):
        return x[:2 * (M // 2)] + x[:2 * (M // 2) + 1]

    for f in (off_by_one, constants, odd_even):
        with pytest.raises(flowc.FrontendError, match="cannot be broadcast"):
            flowc.program(f).to_ir()


def test_loop_variable_sizes_are_refused():
    """A size that moves with a loop variable cannot be checked once per call."""
    def f(x: flowc.float64[N], y: flowc.float64[4]):
        for i in range(N):
            x[:i] += y
        return x

    with pytest.raises(flowc.FrontendError, match="cannot be broadcast"):
        flowc.program(f).to_ir()


@flowc.program
def store_constant(x: flowc.float64[N, M], y: flowc.float64[4]):
    x[:, :] = y * 2
    x[0, :] += y


def test_store_of_a_constant_shape_into_a_symbolic_one(rng):
    for n in (1, 3):
        x, y = rand(rng, (n, 4)), rand(rng, 4)
        exp = x.copy()
        exp[:, :] = y * 2
        exp[0, :] += y
        store_constant(x, y)
        assert_same(x, exp)
    with pytest.raises(ValueError, match="M == 4|4 == M"):
        store_constant(rand(rng, (2, 5)), rand(rng, 4))


def test_size_equality_proofs():
    """Checked against integer values of the symbols: what is proven equal is equal everywhere,
    what is proven never equal differs everywhere."""
    import itertools

    import sympy

    from flowc.frontend.types import never_equal, same

    m, n = sympy.Symbol("M", integer=True), sympy.Symbol("N", integer=True)
    half = sympy.Rational(1, 2)
    proven = [(sympy.floor(m / 2), sympy.ceiling(m / 2 - half)),
              (sympy.floor(m / 4) + sympy.floor(n / 3), sympy.ceiling((m - 3) / 4) + sympy.ceiling((n - 2) / 3)),
              (sympy.Mod(m, 3) + 3 * sympy.floor(m / 3), m)]
    never = [(2 * sympy.floor(m / 2), 2 * sympy.floor(m / 2) + 1), (m, m + 1)]
    possible = [(sympy.ceiling(m / 2), sympy.floor(m / 2)), (m, n), (m, sympy.Integer(4))]
    values = list(itertools.product(range(0, 13), range(0, 7)))
    for a, b in proven:
        assert same(a, b) and not never_equal(a, b)
        assert all(a.subs({m: x, n: y}) == b.subs({m: x, n: y}) for x, y in values)
    for a, b in never:
        assert never_equal(a, b) and not same(a, b)
        assert all(a.subs({m: x, n: y}) != b.subs({m: x, n: y}) for x, y in values)
    for a, b in possible:
        assert not same(a, b) and not never_equal(a, b)
