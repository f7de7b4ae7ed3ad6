"""End to end from the builder API: IR → C++ → compiled → checked against NumPy.

Each program is compiled once and called at several sizes (one binary serves
every size, since sizes are symbols), on fresh random inputs.
"""

import numpy as np
import pytest

import flowc  # noqa: F401  (registers the compiler behind Program.compile)
import flowc.ir as ir
from builder_programs import (batched_matmul, branch, elementwise, loop, matmul, reduction, while_loop)

SIZES = [(3, 5), (17, 64), (64, 33)]


def check_sizes(factory, rtol=1e-5, atol=1e-5, sizes=SIZES):
    program, reference, inputs = factory
    compiled = program.compile()
    rng = np.random.default_rng()
    for n, m in sizes:
        args, syms = inputs(rng, n, m)
        got = compiled(*args, **syms)
        want = reference(*args, **syms)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"sizes {n}x{m}")
        assert got.dtype == np.asarray(want).dtype or got.dtype == program.data[program.returns[0]].dtype.numpy


def test_elementwise_broadcast():
    check_sizes(elementwise())


@pytest.mark.parametrize("op,axes", [("sum", (1,)), ("max", (0, 2)), ("min", (2,)), ("prod", (0,)),
                                     ("sum", (0, 1, 2))])
def test_reduction(op, axes):
    check_sizes(reduction(op, axes), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("implementation", ["blas", "pure"])
@pytest.mark.parametrize("dtype", [ir.float32, ir.float64])
def test_matmul(implementation, dtype):
    tol = 1e-4 if dtype == ir.float32 else 1e-10
    check_sizes(matmul(dtype, implementation), rtol=tol, atol=tol)


def test_matmul_integer_falls_back_to_maps():
    program, reference, inputs = matmul(ir.int64, "blas")
    compiled = program.compile()
    rng = np.random.default_rng()
    for n, m in SIZES:
        a = rng.integers(-50, 50, (n, m + 1))
        b = rng.integers(-50, 50, (m + 1, m))
        np.testing.assert_array_equal(compiled(a, b), a @ b)


@pytest.mark.parametrize("implementation", ["blas", "pure"])
def test_batched_matmul_through_transposed_view(implementation):
    check_sizes(batched_matmul(implementation), rtol=1e-4, atol=1e-4)


def test_loop_with_copy_between_states():
    program, reference, inputs = loop()
    compiled = program.compile()
    rng = np.random.default_rng()
    for n, m in SIZES:
        (x,), syms = inputs(rng, n, m)
        want = reference(x, **syms)
        compiled(x, **syms)          # in place
        np.testing.assert_allclose(x, want, rtol=1e-12, atol=1e-12)


def test_branch_on_scalar_argument():
    program, reference, _ = branch()
    compiled = program.compile()
    rng = np.random.default_rng()
    for n in (4, 100):
        for alpha in (float(rng.uniform(0.5, 2.0)), -float(rng.uniform(0.5, 2.0))):
            x = rng.standard_normal(n, dtype=np.float32)
            y = rng.standard_normal(n, dtype=np.float32)
            compiled(np.float32(alpha), x, y)
            np.testing.assert_allclose(y, reference(np.float32(alpha), x, y), rtol=1e-6)


def test_while_loop_on_transient_scalars():
    program, reference, _ = while_loop()
    compiled = program.compile()
    rng = np.random.default_rng()
    for n in (5, 77):
        a = float(rng.uniform(3.0, 1e6))
        x = rng.standard_normal(n)
        count, scaled = compiled(a, x)
        want_count, want_scaled = reference(a, x)
        np.testing.assert_array_equal(count, want_count)
        np.testing.assert_allclose(scaled, want_scaled, rtol=1e-14)


def test_atomic_wcr_when_writes_collide():
    """A parallel map whose writes all land in one element needs atomics."""
    p = ir.Program("histogram_sum")
    p.add_array("x", ["N"], ir.float64)
    p.add_array("bins", [4], ir.float64)
    st = p.add_state()
    st.add_mapped_tasklet("acc", {"i": "0:N"}, {"a": "x[i]"}, "o = a", {"o": ir.Memlet.parse("bins[i % 4]", wcr="sum")})
    compiled = p.compile()
    rng = np.random.default_rng()
    for n in (8, 100_001):
        x = rng.standard_normal(n)
        bins = rng.standard_normal(4)
        want = bins + np.array([x[k::4].sum() for k in range(4)])
        compiled(x, bins)
        np.testing.assert_allclose(bins, want, rtol=1e-9, atol=1e-9)


def test_gather_through_array_connector():
    """Data-dependent indexing: the tasklet indexes a whole-array connector."""
    p = ir.Program("gather")
    p.add_array("table", ["T"], ir.float32)
    p.add_array("idx", ["N"], ir.int64)
    p.add_array("out", ["N"], ir.float32)
    p.add_return("out")
    st = p.add_state()
    st.add_mapped_tasklet("g", {"i": "0:N"}, {"t": "table[0:T]", "k": "idx[i]"}, "o = t[k]", {"o": "out[i]"})
    compiled = p.compile()
    rng = np.random.default_rng()
    for t, n in ((5, 9), (1000, 333)):
        table = rng.standard_normal(t, dtype=np.float32)
        idx = rng.integers(0, t, n)
        np.testing.assert_array_equal(compiled(table, idx), table[idx])


def test_instrumented_build_reports_kernels(capfd, monkeypatch):
    """An instrumented library counts each kernel's time, runs and bytes per thread
    (``profile()`` reads and resets them) and prints a line per run under FLOWC_DEBUG."""
    program, reference, inputs = elementwise()
    monkeypatch.delenv("FLOWC_DEBUG", raising=False)
    compiled = flowc.compile_program(program, instrument=True)
    rng = np.random.default_rng()
    for n, m in ((8, 8), (300, 77)):
        args, _ = inputs(rng, n, m)
        for _ in range(3):
            np.testing.assert_allclose(compiled(*args), reference(*args), rtol=1e-5, atol=1e-5)
        (name, kernel), = compiled.profile().items()
        assert name == "main/ew[i=0:N, j=0:M]"         # state/label, as FLOWC_DEBUG prints it
        assert kernel.runs == 3 and kernel.seconds > 0
        moved = sum(a.nbytes for a in args if isinstance(a, np.ndarray)) + reference(*args).nbytes
        assert kernel.bytes == 3 * moved
        assert compiled.profile()[name].runs == 0            # read and reset
    assert capfd.readouterr().err == ""
    monkeypatch.setenv("FLOWC_DEBUG", "1")
    compiled(*args)
    err = capfd.readouterr().err
    assert "main/ew" in err and "GB/s" in err


def test_profile_of_a_library_without_instrumentation():
    program, _, _ = elementwise()
    with pytest.raises(flowc.FlowcError, match="instrument=True"):
        flowc.compile_program(program, instrument=False).profile()


@pytest.mark.parametrize("op,fn", [("sum", np.sum), ("max", np.max), ("min", np.min)])
def test_parallel_map_reducing_into_a_shared_scalar(op, fn):
    """A parallel map accumulating into a scalar declared outside it: a reduction, not a race."""
    p = ir.Program(f"scalar_{op}")
    p.add_array("x", ["N"], ir.float64)
    p.add_scalar("acc", ir.float64, transient=True)
    p.add_array("out", [1], ir.float64)
    p.add_return("out")
    init = p.add_state("init")
    t = init.add_tasklet("init", [], ["o"], "o = " + {"sum": "0.0", "max": "-inf", "min": "inf"}[op])
    init.add_edge(t, "o", init.add_access("acc"), None, "acc")
    st = p.add_state("reduce")
    st.add_mapped_tasklet("r", {"i": "0:N"}, {"a": "x[i]"}, "o = a", {"o": ir.Memlet.parse("acc", wcr=op)})
    fin = p.add_state("finish")
    t = fin.add_tasklet("store", ["v"], ["o"], "o = v")
    fin.add_edge(fin.add_access("acc"), None, t, "v", "acc")
    fin.add_edge(t, "o", fin.add_access("out"), None, "out[0]")
    compiled = p.compile()
    rng = np.random.default_rng()
    for n in (7, 2_000_003):
        x = rng.standard_normal(n)
        np.testing.assert_allclose(compiled(x)[0], fn(x), rtol=1e-9)


_N = flowc.symbol("N")


@flowc.program
def extremes_bool(x: flowc.bool_[_N]):
    return np.max(x), np.min(x)


@flowc.program
def extremes_half(x: flowc.float16[_N]):
    return np.max(x), np.min(x)


@pytest.mark.parametrize("dtype", ["bool_", "float16"])
def test_max_min_reductions_of_bool_and_float16(dtype):
    """fc_max/fc_min had no OpenMP reduction for bool and _Float16 (compile error), and
    flowc::isnan was false for _Float16, so a NaN before other values was lost."""
    extremes = extremes_bool if dtype == "bool_" else extremes_half
    rng = np.random.default_rng()
    for size in (1, 7, 1000, 40000):
        x = rng.integers(0, 2, size).astype(bool) if dtype == "bool_" else \
            rng.standard_normal(size).astype(np.float16)
        hi, lo = extremes(x)
        assert hi == x.max() and lo == x.min() and np.asarray(hi).dtype == x.dtype
        if dtype == "float16":
            for pos in (0, size // 2, size - 1):
                y = x.copy()
                y[pos] = np.nan
                hi, lo = extremes(y)
                assert np.isnan(hi) and np.isnan(lo), (size, pos)


def test_tasklet_division_of_integers_never_traps():
    """The tasklet language's / is C++'s (integers truncate), but a zero divisor gives 0 (NumPy's
    integer division by zero) and INT64_MIN / -1 wraps, instead of the SIGFPE of C++'s division."""
    p = ir.Program("idiv")
    p.add_array("a", ["N"], ir.int64)
    p.add_array("b", ["N"], ir.int64)
    p.add_array("out", ["N"], ir.int64)
    p.add_return("out")
    st = p.add_state()
    st.add_mapped_tasklet("d", {"i": "0:N"}, {"x": "a[i]", "y": "b[i]"}, "o = x / y", {"o": "out[i]"})
    f = p.compile()
    lo = np.iinfo(np.int64).min
    a, b = np.array([7, -7, 5, 0, -3, lo]), np.array([2, 2, 0, 0, 0, -1])
    np.testing.assert_array_equal(f(a, b), [3, -3, 0, 0, 0, lo])


def test_profile_names_survive_awkward_labels():
    """Kernel names with quotes, backslashes, newlines and non-ASCII text come back whole and
    aligned with their times (names are read one by one, not split from a joined string)."""
    p = ir.Program("awkward")
    p.add_array("x", ["N"], ir.float64)
    p.add_array("a", ["N"], ir.float64)
    p.add_array("b", ["N"], ir.float64)
    p.add_return("a")
    p.add_return("b")
    st = p.add_state("main")
    st.add_mapped_tasklet('first "one"\nline\\two', {"i": "0:N"}, {"v": "x[i]"}, "o = v + 1.0", {"o": "a[i]"})
    st.add_mapped_tasklet("second ☃?", {"i": "0:N"}, {"v": "x[i]"}, "o = v * 2.0", {"o": "b[i]"})
    compiled = flowc.compile_program(p, instrument=True)
    x = np.random.default_rng().standard_normal(1000)
    a, b = compiled(x)
    np.testing.assert_array_equal(a, x + 1.0)
    np.testing.assert_array_equal(b, x * 2.0)
    profile = compiled.profile()
    assert len(profile) == 2 and all(k.runs == 1 and k.bytes == 16000 for k in profile.values())
    names = sorted(profile)
    assert names[0].startswith('main/first "one"\nline\\two') and names[1].startswith("main/second ☃?")
