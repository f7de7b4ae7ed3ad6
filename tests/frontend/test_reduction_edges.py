"""Reductions at the edges: non-finite data (all -inf/+inf slices, NaN, ±0), integer limits, and
an any-input property of argmax/argmin, plain and with ``auto_optimize`` (fused reductions are
another code path). Every result is compared with NumPy on fresh random inputs.

Programs are typed per dtype by annotating one function several times (``typed``), so sizes
(1 included) share one binary and each dtype costs two compiles (plain and optimized)."""

import inspect
import types

import numpy as np
import pytest

import flowc
from flowc import ir

from fe_helpers import assert_same

N, M, K = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("K")
A, B, C = (flowc.symbol(s) for s in "ABC")
FLOATS = (np.float16, np.float32, np.float64)
FLOWC_TYPES = {np.float16: flowc.float16, np.float32: flowc.float32, np.float64: flowc.float64,
               np.int32: flowc.int32, np.int64: flowc.int64, np.bool_: flowc.bool_}


def typed_func(func, dtype, *shapes):
    """A copy of ``func`` whose parameters are annotated as arrays of ``dtype`` with the given
    symbolic shapes."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__,
                              func.__closure__)
    names = func.__code__.co_varnames[:func.__code__.co_argcount]
    copy.__annotations__ = {n: FLOWC_TYPES[dtype][tuple(shape)] for n, shape in zip(names, shapes)}
    return copy


def typed(func, dtype, *shapes):
    """``func`` typed by ``typed_func``, compiled plain and with auto_optimize."""
    copy = typed_func(func, dtype, *shapes)
    return [flowc.program(copy), flowc.program(auto_optimize=True)(copy)]


def check(progs, func, *args):
    want = func(*args)
    for prog in progs:
        got = prog(*args)
        try:
            assert_same(got, want)
        except AssertionError as exc:
            raise AssertionError(f"{func.__name__}{' (auto_optimize)' * prog.auto_optimize} of "
                                 f"{args!r}: {got} != {want}") from exc


def edges(x):
    return (np.max(x), np.min(x), np.max(x, axis=1), np.min(x, axis=0), np.max(x, axis=-1, keepdims=True),
            np.argmax(x), np.argmin(x), np.argmax(x, axis=1), np.argmin(x, axis=1), np.argmax(x, axis=0))


def infinite_rows(rng, shape, dtype, value):
    """Random finite data with some whole rows (at least one) equal to ``value``."""
    x = rng.uniform(-1, 1, shape).astype(dtype)
    rows = rng.random(shape[0]) < 0.5
    rows[rng.integers(shape[0])] = True
    x[rows] = value
    return x


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_max_min_argmax_argmin_of_all_infinite_data(rng, dtype):
    """max of all -inf is -inf (not the largest finite value) and its argmax is 0 (not the size)."""
    progs = typed(edges, dtype, [N, M])
    for n, m in ((1, 1), (2, 3), (5, 40)):
        for value in (-np.inf, np.inf):
            check(progs, edges, np.full((n, m), value, dtype))
            check(progs, edges, infinite_rows(rng, (n, m), dtype, value))


def test_nan_still_propagates_through_max_and_argmax(rng):
    progs = typed(edges, np.float64, [N, M])
    for n, m in ((1, 4), (3, 6)):
        x = infinite_rows(rng, (n, m), np.float64, -np.inf)
        x[rng.integers(n), rng.integers(m)] = np.nan
        check(progs, edges, x)


@pytest.mark.parametrize("dtype", (np.int32, np.int64))
def test_integer_extremes_keep_their_limits(rng, dtype):
    info = np.iinfo(dtype)
    progs = typed(edges, dtype, [N, M])
    for n, m in ((1, 3), (4, 5)):
        check(progs, edges, rng.choice([info.min, info.max], (n, m)).astype(dtype))


# ------------------------------------------------------------------ property: argmax is a valid index
def args_123(x1, x2, x3):
    return (np.argmax(x1), np.argmin(x1), np.argmax(x1, axis=0), np.argmin(x1, axis=-1),
            np.argmax(x2), np.argmin(x2), np.argmax(x2, axis=0), np.argmin(x2, axis=0), np.argmax(x2, axis=1),
            np.argmin(x2, axis=-1), np.argmax(x2, axis=-1),
            np.argmax(x3), np.argmin(x3, axis=0), np.argmax(x3, axis=1), np.argmin(x3, axis=1),
            np.argmax(x3, axis=-1), np.argmin(x3, axis=2))


def mixture(rng, shape, dtype):
    """Random data where many elements are special: inf, -inf, nan, +0, -0 (floats), the integer
    limits (ints); bools are random. A fifth of the arrays are one special value everywhere."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < rng.choice([0.0, 0.5, 1.0])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        specials = np.array([info.min, info.max, 0, -1, 1], dtype=dt)
        x = rng.integers(-5, 5, shape).astype(dt)
    else:
        specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype=dt)
        x = rng.uniform(-2, 2, shape).astype(dt)
    r = rng.random()
    if r < 0.2:
        return np.full(shape, rng.choice(specials), dtype=dt)
    mask = rng.random(shape) < (0.9 if r < 0.5 else 0.4)
    x[mask] = rng.choice(specials, int(mask.sum()))
    return x


SHAPES_1 = [(1,), (2,), (7,), (33,)]
SHAPES_2 = [(1, 1), (1, 5), (4, 1), (3, 6), (9, 17)]
SHAPES_3 = [(1, 1, 1), (2, 3, 4), (3, 1, 5), (4, 6, 9)]


@pytest.mark.parametrize("dtype", tuple(FLOWC_TYPES), ids=lambda d: np.dtype(d).name)
def test_argmax_argmin_always_match_numpy_and_stay_in_range(rng, dtype):
    progs = typed(args_123, dtype, [A], [B, C], [N, M, K])
    for _ in range(40):
        xs = [mixture(rng, s[rng.integers(len(s))], dtype) for s in (SHAPES_1, SHAPES_2, SHAPES_3)]
        for prog in progs:
            got = prog(*xs)
            for g, x in zip(got, [xs[0]] * 4 + [xs[1]] * 7 + [xs[2]] * 6):
                # never an index past the end, whatever the data
                assert np.all((0 <= np.asarray(g)) & (np.asarray(g) < x.size)), (xs, got)
        check(progs, args_123, *xs)


# ------------------------------------------------------------------ reductions of nothing
def line_of(func, marker):
    """File line of the first line of ``func``'s source that contains ``marker``."""
    lines, first = inspect.getsourcelines(func)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def empty_max(x):
    a = np.max(x, axis=1)                       # max-1
    b = np.min(x, axis=0, keepdims=True)        # min-0
    c = np.argmax(x, axis=1)                    # argmax-1
    d = x.argmin()                              # argmin-all
    e = np.maximum.reduce(x, axis=None)         # maximum-reduce
    return a, b, c, d, e


@pytest.mark.parametrize("optimize", (False, True))
def test_empty_max_min_argmax_raise_naming_the_operation_and_line(rng, optimize):
    prog = flowc.program(auto_optimize=optimize)(typed_func(empty_max, np.float32, [N, M]))
    x = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    assert_same(prog(x), empty_max(x))
    for shape in ((3, 0), (0, 4), (0, 0)):
        x = np.empty(shape, np.float32)
        with pytest.raises(ValueError) as numpy_error:
            empty_max(x)
        with pytest.raises(ValueError) as info:
            prog(x)
        message = str(info.value)
        # the first operation that NumPy refuses is the first requirement that fails
        first = {(3, 0): ("np.max", "max-1", "zero-size array to reduction operation maximum"),
                 (0, 4): ("np.min", "min-0", "zero-size array to reduction operation minimum"),
                 (0, 0): ("np.max", "max-1", "zero-size array to reduction operation maximum")}[shape]
        what, marker, words = first
        assert f"{what} at {__file__}:{line_of(empty_max, marker)} ({words}" in message, message
        assert words in str(numpy_error.value)


def keeps_empty_other_axes(x):
    return (np.max(x, axis=1, keepdims=True), np.argmin(x, axis=1), np.sum(x), np.prod(x, axis=0),
            np.max(x, axis=1, initial=-3.0), np.min(x, initial=2.5), np.any(x > 0, axis=0), np.all(x > 0))


@pytest.mark.parametrize("optimize", (False, True))
def test_empty_results_and_reductions_with_an_identity_are_fine(rng, optimize):
    """Only the reduced extent must be non-empty: max over axis 1 of an [0, M] array is an empty
    result; sum/prod/any/all and max with initial= have an identity."""
    prog = flowc.program(auto_optimize=optimize)(typed_func(keeps_empty_other_axes, np.float64, [N, M]))
    for n, m in ((0, 3), (1, 4), (5, 2)):
        x = rng.uniform(-1, 1, (n, m))
        assert_same(prog(x), keeps_empty_other_axes(x))
    with pytest.raises(ValueError, match="np.max at .* needs M - 1 >= 0, but M = 0"):
        prog(np.empty((2, 0)))


def test_empty_requirements_survive_json_and_optimization():
    p = flowc.program(typed_func(empty_max, np.float64, [N, M])).to_ir()
    whats = sorted(why.split(" at ")[0] for _, why in p.requirements)
    assert whats == sorted(["np.argmax", "np.max", "np.maximum.reduce", "np.min", "ndarray.argmin"])
    q = ir.from_json(p.to_json())
    assert q.requirements == p.requirements
    for optimize in (False, True):
        compiled = q.compile(auto_optimize=optimize)
        x = np.random.default_rng().uniform(-1, 1, (2, 3))
        assert_same(compiled(x), empty_max(x))
        with pytest.raises(ValueError, match="np.min at .*operation minimum which has no identity"):
            compiled(np.empty((0, 3)))


@flowc.program
def empty_constant(x: flowc.float64[N, 0]):
    return np.max(x, axis=1)


def test_a_constant_empty_extent_is_refused_at_compile_time():
    with pytest.raises(flowc.FrontendError, match="np.max: zero-size array to reduction operation maximum"):
        empty_constant(np.empty((2, 0)))
