"""flowc.map, nested programs, closures, free symbols, unannotated arguments, returns."""

import numpy as np

import flowc
from flowc import ir

from fe_helpers import rand, run_both

N, M, K = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("K")


@flowc.program
def explicit_map(a: flowc.float64[N, M], b: flowc.float64[M], out: flowc.float64[N, M], acc: flowc.float64[N],
                 col: flowc.float64[M]):
    for i, j in flowc.map[0:N, 0:M]:
        t = a[i, j] * 2
        u = np.exp(t) if False else t + b[j]
        out[i, j] = u
        acc[i] += out[i, j]
        col[j] -= a[i, j]
    for i in flowc.map[1:N - 1]:
        acc[i] = acc[i] + a[i - 1, 0] * a[i + 1, 0]


def test_explicit_map(rng):
    def ref(a, b, out, acc, col):
        out[:] = a * 2 + b
        acc += out.sum(1)
        col -= a.sum(0)
        acc[1:-1] = acc[1:-1] + a[:-2, 0] * a[2:, 0]

    for n, m in ((4, 5), (9, 3)):
        run_both(explicit_map, rand(rng, (n, m)), rand(rng, m), rand(rng, (n, m)), rand(rng, n), rand(rng, m),
                 ref=ref)


def test_map_structure_and_wcr():
    p = explicit_map.to_ir()
    p.validate()
    maps = [n for _, n in p.all_nodes() if isinstance(n, ir.MapEntry)]
    assert [len(m.map.params) for m in maps] == [2, 1]
    wcrs = {e.memlet.wcr for st in p.states() for e in st.edges() if e.memlet.wcr}
    assert "sum" in wcrs
    tasklets = [n for st, n in p.all_nodes() if isinstance(n, ir.Tasklet) and st.name.startswith("map")]
    assert len(tasklets) >= 5


@flowc.program
def inner(x: flowc.float64[N], s: flowc.float64):
    y = x * s
    return y + 1


@flowc.program
def inner_inplace(x: flowc.float64[N]):
    x[:] = x * 2


@flowc.program
def two_results(x: flowc.float64[N, M]):
    return x.sum(axis=0), x.max()


@flowc.program
def outer(a: flowc.float64[M], b: flowc.float64[K], c: flowc.float64[M, K]):
    inner_inplace(b)
    p, q = two_results(c)
    return inner(a, 2.0), inner(b, 3.0) * 2, inner(a[1:], 1.0), p, q, inner(c[0], q)


def test_nested_programs_at_several_shapes(rng):
    def ref(a, b, c):
        b *= 2
        return a * 2 + 1, (b * 3 + 1) * 2, a[1:] + 1, c.sum(0), c.max(), c[0] * c.max() + 1

    for m, k in ((3, 5), (6, 6)):
        run_both(outer, rand(rng, m), rand(rng, k), rand(rng, (m, k)), ref=ref)


W = np.random.default_rng().random((3, 3))
BIAS = np.random.default_rng().random(3).astype(np.float32)
SCALE = 2.5
STEPS = 3


@flowc.program
def closures(x: flowc.float64[N, 3]):
    y = x @ W * SCALE
    for _ in range(STEPS):
        y = y + BIAS
    return y


def test_closure_arrays_and_constants(rng):
    p = closures.to_ir()
    assert set(p.closure_args) == {"__closure_W", "__closure_BIAS"}
    assert p.arg_names[0] == "x" and p.arg_names[1:] == ["__closure_W", "__closure_BIAS"]
    for n in (2, 7):
        x = rand(rng, (n, 3))
        want = x @ W * SCALE
        for _ in range(STEPS):          # the same additions in the same order as the program
            want = want + BIAS
        np.testing.assert_allclose(closures(x), want, rtol=1e-12)


def make_scaler(factor, table):
    @flowc.program
    def scaled(x: flowc.float64[N]):
        return x * factor + table[0]

    return scaled


def test_function_closure_cells(rng):
    t = rand(rng, 4)
    f = make_scaler(3.0, t)
    for n in (3, 8):
        x = rand(rng, n)
        np.testing.assert_allclose(f(x), x * 3.0 + t[0])


@flowc.program
def free_symbol(x: flowc.float64[N]):
    y = np.zeros(K)
    for i in range(K):
        y[i] = x[i % N] + i
    return y


def test_free_symbols_by_keyword(rng):
    for n, k in ((5, 7), (3, 2)):
        x = rand(rng, n)
        np.testing.assert_allclose(free_symbol(x, K=k), np.array([x[i % n] + i for i in range(k)]))


@flowc.program
def unannotated(x, y, s):
    return x * y + s, np.sum(x, axis=0)


def test_unannotated_arguments_typed_from_first_call(rng):
    for n, m in ((4, 3), (2, 5)):
        run_both(unannotated, rand(rng, (n, m)), rand(rng, m), 1.5)
        run_both(unannotated, rand(rng, (n, m), np.float32), rand(rng, m, np.float32), np.float64(2.0))


@flowc.program
def python_scalar(x: flowc.float32[N], s: float, k: int):
    return x * s + k


def test_python_number_parameters_are_weak(rng):
    for n in (3, 8):
        run_both(python_scalar, rand(rng, n, np.float32), 2.5, 3)


def test_unannotated_lowering_with_arg_types():
    from flowc.frontend import lower

    p = lower(unannotated.func, arg_types={"x": flowc.float32[4, 3], "y": flowc.float32[3], "s": flowc.float64})
    p.validate()
    assert p.arg_names == ["x", "y", "s"] and len(p.returns) == 2


@flowc.program
def returns(x: flowc.float64[N]):
    y = x * 2
    return y, x, x[1:], 3.0, np.sum(y), y


def test_returns_are_fresh_arrays(rng):
    for n in (3, 6):
        x = rand(rng, n)
        r = returns(x)
        assert isinstance(r, tuple) and len(r) == 6
        np.testing.assert_allclose(r[0], x * 2)
        np.testing.assert_allclose(r[1], x)
        assert r[1] is not x
        np.testing.assert_allclose(r[2], x[1:])
        assert r[3] == 3.0 and np.ndim(r[3]) == 0
        np.testing.assert_allclose(r[4], np.sum(x * 2))
        np.testing.assert_allclose(r[5], x * 2)
    p = returns.to_ir()
    assert all(p.data[r].ndim >= 0 for r in p.returns)
    assert p.data[p.returns[3]].shape == ()


@flowc.program
def no_return(x: flowc.float64[N]):
    x += 1


def test_no_return_gives_none(rng):
    x = rand(rng, 4)
    assert no_return(x) is None


@flowc.program(auto_optimize=False)
def decorated_with_options(x: flowc.float32[N]):
    return x + 1


def test_decorator_with_options(rng):
    x = rand(rng, 5, np.float32)
    np.testing.assert_allclose(decorated_with_options(x), x + 1)


def test_dace_spelling_runs_unchanged(rng):
    import flowc as dace

    NN = dace.symbol("NN", integer=True, positive=True)

    @dace.program
    def saxpy(a: dace.float32, x: dace.float32[NN], y: dace.float32[NN]):
        for i in dace.map[0:NN]:
            y[i] = a * x[i] + y[i]

    x, y = rand(rng, 7, np.float32), rand(rng, 7, np.float32)
    expected = 2 * x + y
    saxpy(np.float32(2.0), x, y)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
