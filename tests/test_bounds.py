"""Bounds: data-dependent subscripts (gathers) are checked at run time with NumPy's semantics and
message; out-of-bounds views and subsets in IR are refused or raise per call; binder parameters
may have the names of Python builtins."""

from __future__ import annotations

import numpy as np
import pytest

import flowc
import flowc.ir as ir
from flowc import transforms
from flowc.codegen.cpp import generate_cpp

N = flowc.symbol("N")
M = flowc.symbol("M")
K = flowc.symbol("K")

SIZES = [1, 3, 17]


def _numpy_error(fn, *args) -> str:
    with pytest.raises(IndexError) as info:
        fn(*args)
    return str(info.value)


def _check_raises_like_numpy(compiled, reference, *args) -> None:
    expected = _numpy_error(reference, *args)
    with pytest.raises(IndexError) as info:
        compiled(*args)
    assert expected in str(info.value), (expected, str(info.value))


@flowc.program
def gather1(table: flowc.float64[N], idx: flowc.int64[K]):
    return table[idx]


@flowc.program
def gather1_i32(table: flowc.float64[N], idx: flowc.int32[K]):
    return table[idx] * 2.0


@flowc.program(auto_optimize=True)
def gather1_opt(table: flowc.float64[N], idx: flowc.int64[K]):
    return np.exp(table[idx]) + 1.0


@flowc.program
def gather_rows(table: flowc.float32[N, M], idx: flowc.int64[K]):
    return table[idx]


@flowc.program
def gather_cols(table: flowc.float64[N, M], idx: flowc.int32[K]):
    return table[:, idx]


@flowc.program(auto_optimize=True)
def gather_points(table: flowc.float64[N, M], rows: flowc.int64[K], cols: flowc.int64[K]):
    return table[rows, cols] * 3.0


@flowc.program
def gather_loop(table: flowc.float64[N], idx: flowc.int64[K], T: int):
    acc = np.zeros_like(idx, dtype=np.float64)
    for _ in range(T):
        acc += table[idx]
    return acc


def _indices(rng, n: int, k: int, dtype) -> np.ndarray:
    return rng.integers(-n, n, size=k).astype(dtype)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_gather_in_range_matches_numpy(rng, n, dtype) -> None:
    table = rng.standard_normal(n)
    for k in (1, 5, 40):
        idx = _indices(rng, n, k, dtype)
        if dtype is np.int64:
            np.testing.assert_allclose(gather1(table, idx), table[idx])
            np.testing.assert_allclose(gather1_opt(table, idx), np.exp(table[idx]) + 1.0)
        else:
            np.testing.assert_allclose(gather1_i32(table, idx), table[idx] * 2.0)


@pytest.mark.parametrize("n", SIZES)
def test_gather_out_of_range_raises_numpy_index_error(rng, n) -> None:
    table = rng.standard_normal(n)
    for bad in (n, n + 7, -n - 1, -3 * n - 5):
        idx = _indices(rng, n, 30, np.int64)
        idx[rng.integers(0, 30)] = bad
        _check_raises_like_numpy(gather1, lambda t, i: t[i], table, idx)
        _check_raises_like_numpy(gather1_opt, lambda t, i: t[i], table, idx)
        _check_raises_like_numpy(gather1_i32, lambda t, i: t[i], table, idx.astype(np.int32))
    # the message names the array read
    idx = np.array([0, n + 2])
    with pytest.raises(IndexError, match=rf"index {n + 2} is out of bounds for axis 0 with size {n}.*'table'"):
        gather1(table, idx)
    # the program still works after an error
    idx = _indices(rng, n, 9, np.int64)
    np.testing.assert_allclose(gather1(table, idx), table[idx])


def test_gather_large_parallel_loop_raises(rng) -> None:
    # large enough to run the OpenMP loop in parallel: every thread may fail, the first wins
    n = 1000
    table = rng.standard_normal(n)
    idx = rng.integers(-n, n, size=200_000)
    np.testing.assert_allclose(gather1(table, idx), table[idx])
    idx[::1000] = n + 5 + np.arange(200)
    with pytest.raises(IndexError, match=r"index \d+ is out of bounds for axis 0 with size 1000"):
        gather1(table, idx)


@pytest.mark.parametrize("n,m", [(1, 1), (4, 3), (9, 13)])
def test_gather_2d_matches_numpy(rng, n, m) -> None:
    table = rng.standard_normal((n, m))
    t32 = table.astype(np.float32)
    rows = _indices(rng, n, 7, np.int64)
    cols = _indices(rng, m, 7, np.int64)
    np.testing.assert_allclose(gather_rows(t32, rows), t32[rows])
    np.testing.assert_allclose(gather_cols(table, cols.astype(np.int32)), table[:, cols])
    np.testing.assert_allclose(gather_points(table, rows, cols), table[rows, cols] * 3.0)

    bad_rows, bad_cols = rows.copy(), cols.copy()
    bad_rows[3] = n + 1
    bad_cols[5] = -m - 2
    _check_raises_like_numpy(gather_rows, lambda t, i: t[i], t32, bad_rows)
    _check_raises_like_numpy(gather_cols, lambda t, i: t[:, i], table, bad_cols.astype(np.int32))
    _check_raises_like_numpy(gather_points, lambda t, r, c: t[r, c], table, bad_rows, cols)
    _check_raises_like_numpy(gather_points, lambda t, r, c: t[r, c], table, rows, bad_cols)


@pytest.mark.parametrize("n", [1, 6])
def test_gather_inside_a_loop(rng, n) -> None:
    table = rng.standard_normal(n)
    idx = _indices(rng, n, 11, np.int64)
    np.testing.assert_allclose(gather_loop(table, idx, 3), 3 * table[idx])
    idx[4] = n
    _check_raises_like_numpy(lambda t, i: gather_loop(t, i, 3), lambda t, i: t[i], table, idx)


@flowc.program
def gather_into(out: flowc.float64[K], table: flowc.float64[N], idx: flowc.int64[K]):
    out[:] = table[idx] + 1.0


@pytest.mark.parametrize("k", [1, 8, 50_000])
def test_failed_gather_writes_nothing_outside_the_array(rng, k) -> None:
    n = 7
    table = rng.standard_normal(n)
    guard = 64
    buf = rng.standard_normal(k + 2 * guard)
    before = buf.copy()
    idx = _indices(rng, n, k, np.int64)
    gather_into(buf[guard:guard + k], table, idx)
    np.testing.assert_allclose(buf[guard:guard + k], table[idx] + 1.0)
    np.testing.assert_array_equal(buf[:guard], before[:guard])
    np.testing.assert_array_equal(buf[guard + k:], before[guard + k:])
    idx[rng.integers(0, k)] = 10 ** 12
    with pytest.raises(IndexError, match=r"index 1000000000000 is out of bounds for axis 0 with size 7"):
        gather_into(buf[guard:guard + k], table, idx)
    np.testing.assert_array_equal(buf[:guard], before[:guard])
    np.testing.assert_array_equal(buf[guard + k:], before[guard + k:])


def test_programs_without_gathers_have_no_checks() -> None:
    @flowc.program
    def plain(x: flowc.float64[N, M], y: flowc.float64[M]):
        return np.tanh(x @ np.ones((M, M)) + y[1:].sum()).sum(axis=1)
    program = plain.to_ir()
    transforms.expand_library_nodes(program, "cpu")
    source = generate_cpp(program).source
    assert "index_ok(" not in source.split('extern "C" int')[-1]
    assert "fc_index_error" not in source


# ---------------------------------------------------------------- hostile IR: data-dependent subscripts
def _ir_gather(code: str) -> ir.Program:
    p = ir.Program("ir_gather")
    p.add_array("table", ["N"], ir.float64)
    p.add_array("idx", ["K"], ir.int64)
    p.add_array("out", ["K"], ir.float64)
    p.add_return("out")
    st = p.add_state("main")
    st.add_mapped_tasklet("g", {"i": "0:K"}, {"t": "table[0:N]", "k": "idx[i]"}, code, {"o": "out[i]"})
    return p


@pytest.mark.parametrize("code", ["o = t[k]", "o = t[where(k < 0, k + 1000, k)]", "o = t[k * 2 - 1]"])
def test_ir_subscripts_are_checked(rng, code) -> None:
    p = ir.from_json(_ir_gather(code).to_json())
    f = p.compile()
    n = 9
    table = rng.standard_normal(n)
    ok = rng.integers(1, 5, size=12)
    ref = {"o = t[k]": lambda i: table[i], "o = t[where(k < 0, k + 1000, k)]": lambda i: table[i],
           "o = t[k * 2 - 1]": lambda i: table[2 * i - 1]}[code]
    np.testing.assert_allclose(f(table, ok), ref(ok))
    for bad in (-1, 9, 10 ** 6, -(10 ** 6)):
        idx = ok.copy()
        idx[7] = bad
        with pytest.raises(IndexError, match=r"out of bounds for axis 0 with size (9|1000)"):
            f(table, idx)


# ---------------------------------------------------------------- builtins as parameter names
@flowc.program
def scale_by_type(x: flowc.float64[N], type: flowc.float64):
    return x * type


@flowc.program
def many_builtins(len: flowc.float64[N], isinstance: flowc.float64[N], min: flowc.int64,
                  int: flowc.float64, bool: flowc.bool_, max: flowc.float32):
    return len * min + isinstance * int + np.float32(max) * bool


@flowc.program
def builtin_symbol(x: flowc.float64[N], abs: int):
    y = x.copy()
    for _ in range(abs):
        y = y * 0.5
    return y


@pytest.mark.parametrize("n", SIZES)
def test_parameters_named_like_builtins(rng, n) -> None:
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    np.testing.assert_allclose(scale_by_type(x, 2.5), x * 2.5)
    np.testing.assert_allclose(many_builtins(x, y, 3, 1.5, True, np.float32(0.25)), x * 3 + y * 1.5 + 0.25,
                               rtol=1e-6)
    np.testing.assert_allclose(builtin_symbol(x, 3), x * 0.125)
    # the checks still work with the shadowing names
    with pytest.raises(TypeError, match="'type'"):
        scale_by_type(x, "2")
    with pytest.raises(TypeError, match="'len'"):
        many_builtins(list(x), y, 3, 1.5, True, np.float32(0.25))


# ---------------------------------------------------------------- hostile IR: views and subsets
def _ir_shifted_read() -> ir.Program:
    """out[i] = A[i + S] for i in 0:M over A[N]: inside A only when S + M <= N."""
    p = ir.Program("shifted_read")
    p.add_array("A", ["N"], ir.float64)
    p.add_array("out", ["M"], ir.float64)
    p.add_symbol("S")
    p.add_return("out")
    st = p.add_state("main")
    st.add_mapped_tasklet("r", {"i": "0:M"}, {"a": "A[i + S]"}, "o = a", {"o": "out[i]"})
    return p


def _ir_view_read() -> ir.Program:
    """out[i] = V[i] with V a view of A: M elements from offset S with stride 2."""
    p = ir.Program("view_read")
    p.add_array("A", ["N"], ir.float64)
    p.add_array("out", ["M"], ir.float64)
    p.add_symbol("S")
    p.add_return("out")
    p.add_view("V", "A", ["M"], strides=[2], offset="S")
    st = p.add_state("main")
    st.add_mapped_tasklet("r", {"i": "0:M"}, {"a": "V[i]"}, "o = a * 2.0", {"o": "out[i]"})
    return p


@pytest.mark.parametrize("make", [_ir_shifted_read, _ir_view_read])
def test_ir_out_of_bounds_subsets_and_views_raise_per_call(rng, make) -> None:
    f = ir.from_json(make().to_json()).compile()
    n = 20
    a = rng.standard_normal(n)
    stride = 2 if make is _ir_view_read else 1
    factor = 2.0 if make is _ir_view_read else 1.0
    for s, m in ((0, 1), (3, 5), (0, n // stride), (n - 1, 1)):
        if s + (m - 1) * stride >= n:
            continue
        out = f(a, M=m, S=s)
        np.testing.assert_allclose(out, a[s:s + m * stride:stride] * factor)
    for s, m in ((0, n // stride + 1), (n, 1), (n - 2, 3), (10 ** 6, 2)):
        with pytest.raises(ValueError, match="out of bounds"):
            f(a, M=m, S=s)
    # an empty map touches nothing, whatever S is
    assert f(a, M=0, S=10 ** 6).shape == (0,)


def _ir_indexed_read(index: str) -> ir.Program:
    p = ir.Program("indexed_read")
    p.add_array("A", ["N"], ir.float64)
    p.add_array("out", ["M"], ir.float64)
    p.add_symbol("K")
    p.add_return("out")
    st = p.add_state("main")
    st.add_mapped_tasklet("r", {"i": "0:M"}, {"a": f"A[{index}]"}, "o = a", {"o": "out[i]"})
    return p


@pytest.mark.parametrize("index", ["i * i", "i * K", "Abs(i - 3)"])
def test_ir_unboundable_subsets_are_refused(index) -> None:
    with pytest.raises(ir.ValidationError, match="cannot be derived"):
        ir.from_json(_ir_indexed_read(index).to_json()).validate()


@pytest.mark.parametrize("index,reference", [("i // 2", lambda i, k: i // 2), ("Mod(i, K)", lambda i, k: i % k),
                                             ("Min(i, K) + 1", lambda i, k: np.minimum(i, k) + 1)])
def test_ir_non_affine_subsets_are_bounded_per_call(rng, index, reference) -> None:
    f = ir.from_json(_ir_indexed_read(index).to_json()).compile()
    n = 12
    a = rng.standard_normal(n)
    for m, k in ((1, 1), (5, 3), (n, 4), (n, n - 1)):
        if reference(np.arange(m), k).max() >= n:
            with pytest.raises(ValueError, match="out of bounds"):
                f(a, M=m, K=k)
            continue
        np.testing.assert_allclose(f(a, M=m, K=k), a[reference(np.arange(m), k)])
    with pytest.raises(ValueError, match="out of bounds"):
        f(a, M=3 * n, K=2 * n)


def test_frontend_programs_need_no_bounds_requirements() -> None:
    from flowc.ir.bounds import access_requirements

    @flowc.program
    def slices(x: flowc.float64[N, M], y: flowc.float64[M]):
        z = x[1:, ::2] + y[::2]
        return z.T @ x[1:, :] + x[:-1, :].sum()

    for opt in (False, True):
        program = slices.to_ir()
        if opt:
            transforms.auto_optimize(program, target="cpu")
        transforms.expand_library_nodes(program, "cpu")
        assert access_requirements(program) == []


def _ir_strided_loop(stop: str) -> ir.Program:
    """for t in range(S, stop, K): A[t] *= 2 (in place), with the step a symbol."""
    p = ir.Program("strided_loop")
    p.add_array("A", ["N"], ir.float64)
    p.add_symbol("S")
    p.add_symbol("K")
    loop = p.add_loop("t", "S", stop, "K")
    st = loop.body.add_state("body")
    tk = st.add_tasklet("dbl", ["a"], ["o"], "o = a * 2.0")
    st.add_edge(st.add_access("A"), None, tk, "a", "A[t]")
    st.add_edge(tk, "o", st.add_access("A"), None, "A[t]")
    return p


def test_ir_loop_with_a_symbolic_step_is_bounded_per_call(rng) -> None:
    n = 10
    a = rng.standard_normal(n)
    inside = ir.from_json(_ir_strided_loop("N").to_json()).compile()
    for s, k in ((0, 1), (1, 3), (9, 4), (n, 1), (n + 5, 2)):     # the last two: empty loops
        b = a.copy()
        inside(b, S=s, K=k)
        expected = a.copy()
        expected[s:n:k] *= 2.0
        np.testing.assert_array_equal(b, expected)
    # a loop up to N + 2 may reach past A: refused before anything runs (conservatively: the
    # variable is bounded by the stop, whatever the step)
    beyond = ir.from_json(_ir_strided_loop("N + 2").to_json()).compile()
    for s, k in ((0, 1), (11, 1), (0, 3)):
        b = a.copy()
        with pytest.raises(ValueError, match="out of bounds"):
            beyond(b, S=s, K=k)
        np.testing.assert_array_equal(b, a)
    b = a.copy()
    beyond(b, S=n + 2, K=1)                          # an empty loop touches nothing
    np.testing.assert_array_equal(b, a)


@flowc.program
def strided_neighbour(x: flowc.float64[N]):
    y = np.zeros_like(x)
    for i in range(0, N - 1, 2):
        y[i] = x[i + 1] - x[i]
    return y


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_frontend_strided_loops_are_not_refused(rng, n) -> None:
    x = rng.standard_normal(n)
    expected = np.zeros(n)
    for i in range(0, n - 1, 2):
        expected[i] = x[i + 1] - x[i]
    np.testing.assert_allclose(strided_neighbour(x), expected)


def test_ir_transient_with_a_negative_stride_raises_per_call(rng) -> None:
    p = ir.Program("negative_stride")
    p.add_array("A", ["N"], ir.float64)
    p.add_array("out", ["N"], ir.float64)
    p.add_return("out")
    p.add_transient("T", ["N"], ir.float64, strides=[-1])
    st = p.add_state("fill")
    st.add_mapped_tasklet("fill", {"i": "0:N"}, {"a": "A[i]"}, "o = a + 1.0", {"o": "T[i]"})
    st2 = p.add_state("read")
    st2.add_mapped_tasklet("read", {"i": "0:N"}, {"t": "T[i]"}, "o = t * 2.0", {"o": "out[i]"})
    f = ir.from_json(p.to_json()).compile()
    a = rng.standard_normal(1)
    np.testing.assert_allclose(f(a), (a + 1.0) * 2.0)      # one element: the stride is never used
    for n in (2, 9):
        with pytest.raises(ValueError, match="out of bounds: transient 'T'"):
            f(rng.standard_normal(n))


def triangular_rows(a: flowc.float64[N, N], b: flowc.float64[N, M]):
    out = np.zeros((N, M))
    for i in range(N):
        out[i] = a[i, i:] @ b[i:, :]
    return out


def test_a_range_that_depends_on_a_loop_variable_is_bounded_exactly(rng):
    """a[i, i + k] for k in 0:N - i never passes N - 1; interval arithmetic bounded i and k apart
    (2N - 2) and the binder refused every call with N >= 2 (issue 9's triangular kernels)."""
    prog = flowc.program(triangular_rows)
    ir = flowc.program(triangular_rows).to_ir()
    from flowc.ir.bounds import access_requirements

    assert access_requirements(ir) == []
    for n, m in ((1, 1), (5, 3), (8, 2)):
        a, b = rng.standard_normal((n, n)), rng.standard_normal((n, m))
        np.testing.assert_allclose(prog(a, b), np.stack([a[i, i:] @ b[i:, :] for i in range(n)]), rtol=1e-12)
