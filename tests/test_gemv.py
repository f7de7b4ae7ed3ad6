"""Matrix–vector and vector–vector products run as BLAS GEMV and DOT (not a GEMM with a
dimension 1). Every program is compared with NumPy on fresh random inputs at several
sizes (including 1 and odd sizes, and sizes large enough for the parallel task split),
plain and with auto_optimize, in float32 and float64; the generated source is checked
for the routine that runs."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import flowc
import flowc.ir as ir
from flowc import codegen, transforms
from flowc.codegen.blas_vector import PARALLEL_VECTOR_ELEMENTS
from flowc.ir.epilogue import Epilogue
from flowc.ir.library import MatMul
from flowc.transforms import EpilogueFusion

M, K, N, B = (flowc.symbol(s) for s in "MKNB")


def make(dt):
    """The programs for one element type (flowc reads the annotations when it lowers)."""
    f = flowc.float32 if dt == np.float32 else flowc.float64

    def mv(a: f[M, K], x: f[K]):
        return a @ x

    def vm(x: f[M], a: f[M, K]):
        return x @ a

    def mv_t(a: f[K, M], x: f[K]):
        return a.T @ x

    def vm_t(x: f[M], a: f[K, M]):
        return x @ a.T

    def atax(a: f[M, K], x: f[K]):
        return a.T @ (a @ x)

    def strided(a: f[M, K], x: f[K]):
        return a[:, ::2] @ x[::2]

    def row_strided(a: f[M, K], x: f[M]):
        return x[::2] @ a[::2, :]

    def reversed_(a: f[M, K], x: f[K]):
        return a[::-1] @ x[::-1]

    def reversed_vm(a: f[M, K], x: f[M]):
        return x[::-1] @ a[:, ::-1]

    def dot(x: f[K], y: f[K]):
        return x @ y

    def dot_strided(x: f[K], y: f[K]):
        return x[::2] @ y[::-2]

    def batched_mv(a: f[B, M, K], x: f[K]):
        return a @ x

    def batched_mv_t(a: f[B, K, M], x: f[K]):
        return np.transpose(a, (0, 2, 1)) @ x

    def batched_vm(x: f[M], a: f[B, M, K]):
        return x @ a

    def np_dot(a: f[M, K], x: f[K]):
        return np.dot(a, x) * 2.0

    def epilogue_mv(a: f[M, K], x: f[K], b: f[M]):
        return np.tanh(a @ x + b)

    def epilogue_vm(x: f[M], a: f[M, K], b: f[K]):
        return (x @ a) * b - 1.0

    return {fn.__name__: fn for fn in (mv, vm, mv_t, vm_t, atax, strided, row_strided, reversed_, reversed_vm, dot,
                                       dot_strided, batched_mv, batched_mv_t, batched_vm, np_dot, epilogue_mv,
                                       epilogue_vm)}


REFERENCE = {
    "mv": lambda a, x: a @ x,
    "vm": lambda x, a: x @ a,
    "mv_t": lambda a, x: a.T @ x,
    "vm_t": lambda x, a: x @ a.T,
    "atax": lambda a, x: a.T @ (a @ x),
    "strided": lambda a, x: a[:, ::2] @ x[::2],
    "row_strided": lambda a, x: x[::2] @ a[::2, :],
    "reversed_": lambda a, x: a[::-1] @ x[::-1],
    "reversed_vm": lambda a, x: x[::-1] @ a[:, ::-1],
    "dot": lambda x, y: x @ y,
    "dot_strided": lambda x, y: x[::2] @ y[::-2],
    "batched_mv": lambda a, x: a @ x,
    "batched_mv_t": lambda a, x: np.transpose(a, (0, 2, 1)) @ x,
    "batched_vm": lambda x, a: x @ a,
    "np_dot": lambda a, x: np.dot(a, x) * 2.0,
    "epilogue_mv": lambda a, x, b: np.tanh(a @ x + b),
    "epilogue_vm": lambda x, a, b: (x @ a) * b - 1.0,
}

SHAPES = {      # argument shapes from (m, k, batch)
    "mv": lambda m, k, b: [(m, k), (k,)],
    "vm": lambda m, k, b: [(m,), (m, k)],
    "mv_t": lambda m, k, b: [(k, m), (k,)],
    "vm_t": lambda m, k, b: [(m,), (k, m)],
    "atax": lambda m, k, b: [(m, k), (k,)],
    "strided": lambda m, k, b: [(m, k), (k,)],
    "row_strided": lambda m, k, b: [(m, k), (m,)],
    "reversed_": lambda m, k, b: [(m, k), (k,)],
    "reversed_vm": lambda m, k, b: [(m, k), (m,)],
    "dot": lambda m, k, b: [(k,), (k,)],
    "dot_strided": lambda m, k, b: [(k,), (k,)],
    "batched_mv": lambda m, k, b: [(b, m, k), (k,)],
    "batched_mv_t": lambda m, k, b: [(b, k, m), (k,)],
    "batched_vm": lambda m, k, b: [(m,), (b, m, k)],
    "np_dot": lambda m, k, b: [(m, k), (k,)],
    "epilogue_mv": lambda m, k, b: [(m, k), (k,), (m,)],
    "epilogue_vm": lambda m, k, b: [(m,), (m, k), (k,)],
}

#: (m, k, batch): 1, odd sizes, and one above the parallel threshold (m·k ≥ PARALLEL_VECTOR_ELEMENTS)
SIZES = ((1, 1, 1), (1, 7, 2), (6, 1, 1), (5, 9, 3), (33, 64, 2), (701, 401, 2))
DTYPES = (np.float32, np.float64)


def _check(name, dt, opt, rng):
    prog = flowc.program(make(dt)[name], auto_optimize=opt)
    tol = dict(rtol=2e-4, atol=2e-4) if dt == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for m, k, b in SIZES:
        args = [rng.standard_normal(s).astype(dt) for s in SHAPES[name](m, k, b)]
        got = prog(*args)
        want = REFERENCE[name](*args)
        assert np.asarray(got).shape == np.shape(want), (name, m, k, b)
        scale = max(1.0, float(np.sqrt(k)))
        np.testing.assert_allclose(got, want, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale,
                                   err_msg=f"{name} {dt.__name__} opt={opt} m={m} k={k} b={b}")


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_vector_products_match_numpy(name, dt):
    rng = np.random.default_rng()
    _check(name, dt, False, rng)


@pytest.mark.parametrize("name", ["mv", "vm", "atax", "strided", "dot", "batched_vm", "epilogue_mv", "epilogue_vm"])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_vector_products_match_numpy_auto_optimized(name, dt):
    rng = np.random.default_rng()
    _check(name, dt, True, rng)


def _source(fn, opt=False):
    work = copy.deepcopy(flowc.program(fn).to_ir())
    if opt:
        transforms.auto_optimize(work, target="cpu")
    transforms.expand_library_nodes(work, "cpu")
    return work, codegen.generate_cpp(work, blas_prefix="", instrument=False).source


@pytest.mark.parametrize("name, routine", [("mv", "cblas_dgemv"), ("vm", "cblas_dgemv"), ("mv_t", "cblas_dgemv"),
                                           ("vm_t", "cblas_dgemv"), ("strided", "cblas_dgemv"),
                                           ("batched_vm", "cblas_dgemv"), ("dot", "cblas_ddot"),
                                           ("dot_strided", "cblas_ddot")])
def test_vector_products_call_gemv_or_dot(name, routine):
    _, src = _source(make(np.float64)[name])
    assert f"{routine}(" in src
    assert "cblas_dgemm(" not in src


def test_strided_vector_is_no_copy():
    """``x[::2]`` reaches GEMV as ``incx = 2``; the matrix needs a unit stride, so ``a[:, ::2]`` is a copy."""
    _, src = _source(make(np.float64)["strided"])
    call = next(line for line in src.splitlines() if "cblas_dgemv(101" in line)
    assert "x + fc_ob, 2," in call


def test_reversed_views_never_reach_blas_with_a_negative_stride():
    for name in ("reversed_", "reversed_vm", "dot_strided"):
        work, src = _source(make(np.float64)[name])
        for state in work.states():
            for node in state.nodes():
                if isinstance(node, MatMul):
                    for n in node.operands(state):
                        assert all(not (s.is_number and s < 0) for s in work.data[n].strides), (name, n)


def test_epilogue_fusion_refuses_a_vector_result_cleanly():
    """The frontend's ``A @ x`` result is ``[M, 1]`` read as ``[M]``: EpilogueFusion says why it
    does not fuse (and auto_optimize still gives NumPy's results, tested above)."""
    work = copy.deepcopy(flowc.program(make(np.float64)["epilogue_mv"]).to_ir())
    fusion = EpilogueFusion()
    matches = list(fusion.candidates(work))
    assert matches
    assert all("not the element its parameters name" in (fusion.why_not(work, m) or "") for m in matches)


def _builder_program(kind: str, dtype) -> ir.Program:
    """``C = tanh(A @ B + bias)`` as one MatMul with an epilogue, vector operands as [K, 1] / [1, K]."""
    p = ir.Program(f"gemv_epilogue_{kind}")
    shapes = {"mv": (["M", "K"], ["K", 1], ["M", 1]), "vm": ([1, "K"], ["K", "N"], [1, "N"]),
              "dot": ([1, "K"], ["K", 1], [1, 1])}[kind]
    for name, shape in zip("ABb", shapes):
        p.add_array(name, shape, dtype)
    p.add_array("C", shapes[2], dtype)
    p.add_return("C")
    st = p.add_state()
    epi = Epilogue.make("out = tanh(acc + bias) * 2.0", [("bias", ["_e0", "_e1"])])
    mm = st.add_library(MatMul("mm", alpha=0.5, epilogue=epi))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("B"), None, mm, "_b", "B")
    st.add_edge(st.add_access("b"), None, mm, "bias", "b")
    st.add_edge(mm, "_c", st.add_access("C"), None, "C")
    return p


@pytest.mark.parametrize("kind", ["mv", "vm", "dot"])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_gemv_and_dot_apply_an_epilogue(kind, dt):
    compiled = _builder_program(kind, ir.float32 if dt == np.float32 else ir.float64).compile()
    rng = np.random.default_rng()
    tol = 1e-4 if dt == np.float32 else 1e-12
    for m, k in ((1, 1), (5, 7), (700, 401)):
        shapes = {"mv": ((m, k), (k, 1), (m, 1)), "vm": ((1, k), (k, m), (1, m)), "dot": ((1, k), (k, 1), (1, 1))}
        a, b, bias = (rng.standard_normal(s).astype(dt) for s in shapes[kind])
        want = np.tanh(0.5 * (a.astype(np.float64) @ b) + bias) * 2.0
        np.testing.assert_allclose(compiled(a, b, bias), want, rtol=tol, atol=tol, err_msg=f"{kind} m={m} k={k}")


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_long_dot_splits_over_threads(dt):
    """Above the threshold a DOT is per-thread partial DOTs summed by an OpenMP reduction."""
    assert "reduction(+ : fc_s)" in _source(make(np.float64)["dot"])[1]
    prog = flowc.program(make(dt)["dot"])
    rng = np.random.default_rng()
    for k in (PARALLEL_VECTOR_ELEMENTS // 2 - 1, PARALLEL_VECTOR_ELEMENTS // 2, 3 * PARALLEL_VECTOR_ELEMENTS + 7):
        x, y = rng.standard_normal(k).astype(dt), rng.standard_normal(k).astype(dt)
        want = float(x.astype(np.float64) @ y)
        tol = 1e-3 * np.sqrt(k) if dt == np.float32 else 1e-9 * np.sqrt(k)
        assert abs(float(prog(x, y)) - want) <= tol, k


def test_empty_contraction_gives_zeros():
    """GEMV with an empty matrix leaves y untouched in BLAS: flowc writes the zeros itself."""
    prog = flowc.program(make(np.float64)["mv"])
    a = np.ones((4, 0))
    x = np.ones(0)
    np.testing.assert_array_equal(prog(a, x), np.zeros(4))


def half_matmul(a: flowc.float16[N, K], b: flowc.float16[K, M]):
    return a @ b


def test_float16_matmul_accumulates_in_float32_as_numpy_does(rng):
    """NumPy multiplies float16 operands in float32, accumulates in float32 and rounds once; flowc's
    expansion accumulated in float16 (0.005 off at K = 35, found checking the cuda target's float16 GEMM)."""
    for auto in (False, True):
        prog = flowc.program(half_matmul, auto_optimize=auto)
        for n, k, m in ((1, 1, 1), (6, 35, 7), (33, 64, 5)):
            a = rng.standard_normal((n, k)).astype(np.float16)
            b = rng.standard_normal((k, m)).astype(np.float16)
            got, want = prog(a, b), a @ b
            assert got.dtype == np.float16
            np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name, splits", [("vm", True), ("mv_t", True), ("atax", True), ("mv", False),
                                          ("vm_t", False), ("batched_vm", False)])
def test_a_sum_along_the_stored_rows_is_split_over_threads(name, splits):
    """``x @ A`` and ``A.T @ x`` sum along the rows of the stored matrix: above the threshold each
    thread takes a band of whole rows (a partial result per thread, added after a barrier) instead
    of cutting every row into strips. Products whose stored rows are output rows keep row blocks."""
    src = _source(make(np.float64)[name])[1]
    assert ("the stored rows run along the sum" in src) == splits


def _accumulating_vm(dtype) -> ir.Program:
    """``C = 0.5 · (A @ B) + C`` with A a [1, K] vector: GEMV with alpha and beta."""
    p = ir.Program("gemv_accumulates")
    p.add_array("A", [1, "K"], dtype)
    p.add_array("B", ["K", "N"], dtype)
    p.add_array("C", [1, "N"], dtype)
    st = p.add_state()
    mm = st.add_library(MatMul("mm", alpha=0.5, beta=1.0))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("B"), None, mm, "_b", "B")
    st.add_edge(st.add_access("C"), None, mm, "_cin", "C")
    st.add_edge(mm, "_c", st.add_access("C"), None, "C")
    return p


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.__name__)
def test_split_sum_accumulates_into_the_output_once(dt):
    """With beta ≠ 0 only the first band's GEMV reads C; the other bands' partials add to it."""
    compiled = _accumulating_vm(ir.float32 if dt == np.float32 else ir.float64).compile()
    rng = np.random.default_rng()
    tol = 1e-3 if dt == np.float32 else 1e-10
    for k, n in ((3, 5), (701, 401), (2049, 130)):
        a, b, c = (rng.standard_normal(s).astype(dt) for s in ((1, k), (k, n), (1, n)))
        want = 0.5 * (a.astype(np.float64) @ b) + c
        compiled(a, b, c)
        np.testing.assert_allclose(c, want, rtol=tol, atol=tol, err_msg=f"k={k} n={n}")


def test_split_sum_with_an_odd_thread_count():
    """Three threads: uneven bands of the sum and of the output (a child process, so that
    OMP_NUM_THREADS takes effect): the frontend's ``x @ A`` and ``A.T @ x`` plain and
    auto_optimize, and the builder's GEMVs with alpha, beta and a fused epilogue."""
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import test_gemv as t\n"
            "rng = np.random.default_rng()\n"
            "for name in ('vm', 'mv_t', 'atax'):\n"
            "    for opt in (False, True):\n"
            "        for dt in t.DTYPES: t._check(name, dt, opt, rng)\n"
            "for dt in t.DTYPES:\n"
            "    t.test_gemv_and_dot_apply_an_epilogue('vm', dt)\n"
            "    t.test_split_sum_accumulates_into_the_output_once(dt)\n"
            "print('ok')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
