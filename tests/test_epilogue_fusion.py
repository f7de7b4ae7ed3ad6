"""EpilogueFusion: element-wise work after a GEMM runs inside it. Every fused
program is compared with NumPy on fresh random inputs at several sizes; the
refusals are built with the IR builder so each one isolates one hazard."""

import copy

import numpy as np
import pytest

import flowc
import flowc.ir as ir
from flowc.api import _adapt_call
from flowc.transforms import EpilogueFusion, auto_optimize
from flowc.transforms.expansion import expand_library_nodes

M, K, N, B = (flowc.symbol(s) for s in "MKNB")


def gelu(t):
    return 0.5 * t * (1.0 + np.tanh(0.7978845608028654 * (t + 0.044715 * t * t * t)))


def bias_gelu(a: flowc.float32[M, K], w: flowc.float32[K, N], b: flowc.float32[N]):
    f = a @ w + b
    return 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f * f * f)))


def folded_scale(x: flowc.float32[B, M, K], w: flowc.float32[K, N], b: flowc.float32[N], s: flowc.float32):
    return (x @ w + b) * s


def batched_residual(x: flowc.float64[B, M, K], y: flowc.float64[B, K, N], r: flowc.float64[B, M, N]):
    return np.tanh(x @ y + r)


def row_scaled(a: flowc.float32[M, K], w: flowc.float32[K, N], c: flowc.float32[M, 1], r: flowc.float32[M, N]):
    return a @ w * c - r


def inputs_for(name, rng, m, k, n, b=3):
    f32 = dict(dtype=np.float32)
    return {
        "bias_gelu": lambda: ((rng.standard_normal((m, k), **f32), rng.standard_normal((k, n), **f32),
                               rng.standard_normal(n, **f32)), {}),
        "folded_scale": lambda: ((rng.standard_normal((b, m, k), **f32), rng.standard_normal((k, n), **f32),
                                  rng.standard_normal(n, **f32), np.float32(rng.uniform(0.5, 2))), {}),
        "batched_residual": lambda: ((rng.standard_normal((b, m, k)), rng.standard_normal((b, k, n)),
                                      rng.standard_normal((b, m, n))), {}),
        "row_scaled": lambda: ((rng.standard_normal((m, k), **f32), rng.standard_normal((k, n), **f32),
                                rng.standard_normal((m, 1), **f32), rng.standard_normal((m, n), **f32)), {}),
    }[name]()


PROGRAMS = {
    "bias_gelu": (bias_gelu, lambda a, w, b: gelu(a @ w + b)),
    "folded_scale": (folded_scale, lambda x, w, b, s: (x @ w + b) * s),
    "batched_residual": (batched_residual, lambda x, y, r: np.tanh(x @ y + r)),
    "row_scaled": (row_scaled, lambda a, w, c, r: a @ w * c - r),
}
SIZES = ((1, 2, 3), (5, 7, 4), (40, 33, 67))


def lower(fn):
    return flowc.program(fn).to_ir()


def compiled(program):
    return _adapt_call(flowc.compile_program(program), program)


def matmuls(program):
    return [n for _, n in program.all_nodes() if isinstance(n, ir.MatMul)]


def check(program, reference, name, tol=2e-4):
    call = compiled(program)
    rng = np.random.default_rng()
    for m, k, n in SIZES:
        args, syms = inputs_for(name, rng, m, k, n)
        np.testing.assert_allclose(call(*args, **syms), reference(*args), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_epilogue_fusion_on_plain_maps(name):
    """Applied to the frontend's IR: every element-wise map after the GEMM is absorbed, one at a time."""
    fn, reference = PROGRAMS[name]
    p = lower(fn)
    expand_library_nodes(p)
    applied = p.apply(EpilogueFusion)
    p.validate()
    assert applied and all(h["transformation"] == "EpilogueFusion" for h in p.history)
    (mm,) = matmuls(p)
    assert mm.epilogue is not None
    assert not any(isinstance(n, ir.MapEntry) for _, n in p.all_nodes()), "the whole chain should be absorbed"
    check(p, reference, name)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_auto_optimize_fuses_epilogues(name):
    fn, reference = PROGRAMS[name]
    p = lower(fn)
    applied = auto_optimize(p)
    p.validate()
    assert any(m.transformation == "EpilogueFusion" for m in applied)
    check(p, reference, name)


def test_epilogue_removes_the_intermediate_round_trip():
    p = lower(bias_gelu)
    expand_library_nodes(p)
    q = copy.deepcopy(p)
    q.apply(EpilogueFusion)
    sizes = dict(M=64, K=32, N=48)
    before, after = p.data_movement(**sizes)["total"], q.data_movement(**sizes)["total"]
    # every intermediate of the chain was written once and read at least once; now the GEMM writes the result
    assert after < before - 2 * 64 * 48 * 4


@pytest.mark.parametrize("name", ["bias_gelu", "batched_residual"])
def test_pure_expansion_applies_the_epilogue(name):
    """Without BLAS (implementation='pure') the epilogue folds into the accumulator's finish."""
    fn, reference = PROGRAMS[name]
    p = lower(fn)
    expand_library_nodes(p)
    p.apply(EpilogueFusion)
    for mm in matmuls(p):
        mm.implementation = "pure"
    expand_library_nodes(p)
    p.validate()
    assert not matmuls(p)
    check(p, reference, name)


def test_epilogue_round_trips_through_json():
    p = lower(folded_scale)
    expand_library_nodes(p)
    p.apply(EpilogueFusion)
    q = ir.from_json(p.to_json())
    assert q.to_json() == p.to_json()
    (mm,) = matmuls(q)
    assert str(mm.epilogue) == str(matmuls(p)[0].epilogue)
    check(q, PROGRAMS["folded_scale"][1], "folded_scale")


def test_epilogue_composes_in_order():
    """(t + b) then * 2 then - 1 is not the same as any other order."""
    e1 = ir.Epilogue.make("out = acc + b", [("b", ["_e1"])])
    e2 = ir.Epilogue.make("t = acc * 2.0; out = t - 1.0", [])
    both = e1.then(e2)
    assert both.connectors == ["b"]
    assert [s.target for s in both.code.stmts][-1] == "out"
    p = _gemm_program("o = t", "Y[i, j]")
    st = next(p.states())
    (mm,) = matmuls(p)
    p.add_array("bias", ["N"], ir.float32)
    mm.epilogue = both
    st.add_edge(st.add_access("bias"), None, mm, "b", "bias[0:N]")
    p.validate()
    call = flowc.compile_program(p)
    rng = np.random.default_rng()
    a, w = rng.standard_normal((6, 5), dtype=np.float32), rng.standard_normal((5, 4), dtype=np.float32)
    bias = rng.standard_normal(4, dtype=np.float32)
    np.testing.assert_allclose(call(a, w, bias), (a @ w + bias) * 2 - 1, rtol=1e-5, atol=1e-5)


def test_bad_epilogues_are_rejected():
    with pytest.raises(ir.IRError, match="end by assigning"):
        ir.Epilogue.make("t = acc")
    with pytest.raises(ir.IRError, match="distinct"):
        ir.Epilogue.make("out = acc + acc", [("acc", [])])
    p = _gemm_program("o = t", "Y[i, j]")
    (mm,) = matmuls(p)
    mm.epilogue = ir.Epilogue.make("out = acc + z", [])
    with pytest.raises(ir.IRError, match="unknown names"):
        flowc.compile_program(p)


# ---------------------------------------------------------------- refusals

def _gemm_program(code, out, *, ranges=None, t_extra=None, y_dtype=ir.float32, beta=0.0, reads=None,
                  n="N", k="K"):
    """Y = map over T = A @ B (A[M, k], B[k, n], T transient)."""
    p = ir.Program("gemm_then")
    p.add_array("A", ["M", k], ir.float32)
    p.add_array("Bm", [k, n], ir.float32)
    p.add_array("T", ["M", n], ir.float32, transient=True)
    p.add_array("Y", ["M", n], y_dtype)
    p.add_return("Y")
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("mm", beta=beta))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("Bm"), None, mm, "_b", "Bm")
    if beta:
        st.add_edge(st.add_access("T"), None, mm, "_cin", "T")
    t = st.add_access("T")
    st.add_edge(mm, "_c", t, None, "T")
    inputs = {"t": reads or "T[i, j]", **(t_extra or {})}
    st.add_mapped_tasklet("ew", ranges or {"i": "0:M", "j": f"0:{n}"}, inputs, code, {"o": out},
                          input_nodes={"T": t})
    return p


def _only_match(p):
    t = EpilogueFusion()
    cands = list(t.candidates(p))
    assert len(cands) == 1
    return t, cands[0]


def test_builder_program_fuses_and_runs():
    p = _gemm_program("o = t * 3.0f + 1.0f", "Y[i, j]")
    q = copy.deepcopy(p)
    q.apply(EpilogueFusion)
    q.validate()
    assert "T" not in q.data
    rng = np.random.default_rng()
    for m, k, n in SIZES:
        a, w = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        np.testing.assert_allclose(flowc.compile_program(q)(a, w), (a @ w) * 3 + 1, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case,why", [
    (dict(reads="T[j, i]"), "not the element it reads"),               # transposed read
    (dict(reads="T[i, Min(j + 1, N - 1)]"), "parameters name"),        # a stencil
    (dict(ranges={"i": "0:M", "j": "0:N - 1"}, out="Y[i, j]"), "not all of"),  # partial coverage
    (dict(y_dtype=ir.float64), "shape and type"),                       # the store would convert
    (dict(beta=1.0), "beta"),                                           # accumulates into T
    (dict(out="Y[j, i]"), "not the element it reads"),                  # a transposing store
])
def test_refuses(case, why):
    out = case.pop("out", "Y[i, j]")
    square = case.get("reads") == "T[j, i]" or out == "Y[j, i]"     # so the transposed access is in bounds
    p = _gemm_program("o = t + 1.0f", out, n="M" if square else "N", **case)
    t, match = _only_match(p)
    assert not t.can_apply(p, match)
    assert why in t.why_not(p, match)


def test_refuses_when_the_result_escapes():
    p = _gemm_program("o = t + 1.0f", "Y[i, j]")
    p.data["T"].transient = False
    p.add_return("T")
    t, match = _only_match(p)
    assert "transient" in t.why_not(p, match)


def test_refuses_when_another_reader_needs_the_product():
    p = _gemm_program("o = t + 1.0f", "Y[i, j]")
    p.add_array("Z", ["M", "N"], ir.float32)
    p.add_return("Z")
    st = next(p.states())
    t_node = next(n for n in st.data_nodes() if n.data == "T" and st.in_edges(n))
    st.add_mapped_tasklet("other", {"i": "0:M", "j": "0:N"}, {"t": "T[i, j]"}, "o = t * t", {"o": "Z[i, j]"},
                          input_nodes={"T": t_node})
    assert not EpilogueFusion().matches(p)


def test_refuses_to_overwrite_an_operand_or_an_input():
    # Y = A @ B + A (square): the GEMM would write A while reading it
    p = _gemm_program("o = t + a", "A[i, j]", t_extra={"a": "A[i, j]"}, n="M", k="M")
    t, match = _only_match(p)
    assert "overwrite" in t.why_not(p, match)
    # Y = A @ B + Y: the epilogue would read Y after the GEMM replaced it
    q = _gemm_program("o = t + y", "Y[i, j]", t_extra={"y": "Y[i, j]"})
    t, match = _only_match(q)
    assert "also writes" in t.why_not(q, match)


def test_refuses_a_reduction_consumer():
    p = ir.Program("gemm_rowsum")
    p.add_array("A", ["M", "K"], ir.float32)
    p.add_array("Bm", ["K", "N"], ir.float32)
    p.add_array("T", ["M", "N"], ir.float32, transient=True)
    p.add_array("s", ["M"], ir.float32)
    p.add_return("s")
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("mm"))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("Bm"), None, mm, "_b", "Bm")
    t = st.add_access("T")
    st.add_edge(mm, "_c", t, None, "T")
    _, entry, exit_ = st.add_mapped_tasklet("rowsum", {"i": "0:M", "j": "0:N"}, {"t": "T[i, j]"}, "o = t",
                                            {"o": ir.Memlet.parse("s[i]", wcr="sum")}, input_nodes={"T": t})
    tr, match = _only_match(p)
    assert not tr.can_apply(p, match)


# ---------------------------------------------------------------- regressions

def _two_tasklets(code1, code2, *, between="r", reg_dtype=ir.int32):
    """Y = map { t1(T) -> between -> t2 } over T = A @ B; ``between`` is a register
    (a transient scalar of ``reg_dtype``) or an array element ``Z[i, j]`` passed tasklet to tasklet."""
    p = ir.Program("two_tasklets")
    p.add_array("A", ["M", "K"], ir.float32)
    p.add_array("Bm", ["K", "N"], ir.float32)
    p.add_array("T", ["M", "N"], ir.float32, transient=True)
    p.add_array("Y", ["M", "N"], ir.float32)
    p.add_return("Y")
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("mm"))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("Bm"), None, mm, "_b", "Bm")
    t = st.add_access("T")
    st.add_edge(mm, "_c", t, None, "T")
    entry, exit_ = st.add_map("ew", {"i": "0:M", "j": "0:N"})
    t1 = st.add_tasklet("t1", ["t"], ["o"], code1)
    t2 = st.add_tasklet("t2", ["x"], ["o"], code2)
    st.add_memlet_path(t, entry, t1, memlet=ir.Memlet.parse("T[i, j]"), dst_conn="t")
    if between == "r":
        p.add_scalar("r", reg_dtype, transient=True)
        r = st.add_access("r")
        st.add_edge(t1, "o", r, None, ir.Memlet("r", ir.Subset(())))
        st.add_edge(r, None, t2, "x", ir.Memlet("r", ir.Subset(())))
    else:
        p.add_array("Z", ["M", "N"], ir.float32)
        st.add_edge(t1, "o", t2, "x", ir.Memlet.parse(between))
    st.add_memlet_path(t2, exit_, st.add_access("Y"), memlet=ir.Memlet.parse("Y[i, j]"), src_conn="o")
    p.validate()
    return p


@pytest.mark.parametrize("implementation", ["blas", "pure"])
def test_register_types_survive_fusion(implementation):
    """A register converts what is stored in it (here to int32, so 'x / 3' divides integers);
    the epilogue must convert too. Integer-valued inputs keep the products exact."""
    p = _two_tasklets("o = t * 0.5f", "o = x / 3")
    assert p.apply(EpilogueFusion)
    for mm in matmuls(p):
        mm.implementation = implementation
    call = flowc.compile_program(p)
    rng = np.random.default_rng()
    for m, k, n in SIZES:
        a, w = (rng.integers(-4, 5, shape).astype(np.float32) for shape in ((m, k), (k, n)))
        np.testing.assert_array_equal(call(a, w), np.fix(np.fix(a @ w * 0.5) / 3))


def test_refuses_a_tasklet_writing_straight_into_another():
    """t1 -> t2 through Z[i, j] also stores Z: that is a write the epilogue would lose."""
    p = _two_tasklets("o = t * 2.0f", "o = x + 1.0f", between="Z[i, j]")
    t, match = _only_match(p)
    assert "other than by storing a register" in t.why_not(p, match)


def test_refuses_a_symbol_named_acc():
    acc = flowc.symbol("acc")

    def scaled(a: flowc.float32[M, acc], w: flowc.float32[acc, N]):
        return a @ w * acc

    p = lower(scaled)
    expand_library_nodes(p)
    t, match = _only_match(p)
    assert "named 'acc'" in t.why_not(p, match)


def loop_scaled(a: flowc.float32[M, K], w: flowc.float32[K, N]):
    s = np.zeros((M, N), dtype=np.float32)
    for it in range(3):
        y = a @ w * it
        s += y
    return s


def test_epilogue_reads_a_loop_variable():
    """The loop variable is read only by the fused code: it must stay a known name."""
    p = lower(loop_scaled)
    expand_library_nodes(p)
    assert p.apply(EpilogueFusion)
    p.validate()
    (mm,) = matmuls(p)
    assert "it" in mm.epilogue.free_names()
    call = compiled(p)
    rng = np.random.default_rng()
    for m, k, n in SIZES:
        a, w = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        np.testing.assert_allclose(call(a, w), 3 * (a @ w), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("implementation", ["blas", "pure"])
@pytest.mark.parametrize("epi,reference", [
    (ir.Epilogue.make("acc = acc * 2.0f; t = acc; out = t + acc"), lambda t, b: 4 * t),
    (ir.Epilogue.make("b = b * 2.0f; out = acc + b", [("b", ["_e1"])]), lambda t, b: t + 2 * b),
    (ir.Epilogue.make("out = acc + b", [("b", ["_e1"])]).then(ir.Epilogue.make("acc = acc * 2.0f; out = acc + acc")),
     lambda t, b: 4 * (t + b)),
], ids=["acc", "input", "composed"])
def test_epilogue_code_may_assign_acc_and_inputs(epi, reference, implementation):
    """Assigning ``acc`` or an input makes a local from there on, in code generation,
    in pure expansion and when composing."""
    p = _gemm_program("o = t", "Y[i, j]")
    st = next(p.states())
    (mm,) = matmuls(p)
    mm.epilogue, mm.implementation = epi, implementation
    if epi.connectors:
        p.add_array("bias", ["N"], ir.float32)
        st.add_edge(st.add_access("bias"), None, mm, "b", "bias[0:N]")
    p.validate()
    call = flowc.compile_program(p)
    rng = np.random.default_rng()
    a, w = rng.standard_normal((6, 5), dtype=np.float32), rng.standard_normal((5, 4), dtype=np.float32)
    bias = rng.standard_normal(4, dtype=np.float32)
    got = call(a, w, bias) if epi.connectors else call(a, w)
    np.testing.assert_allclose(got, reference(a @ w, bias), rtol=1e-5, atol=1e-5)


def test_pure_expansion_keeps_ordering_edges():
    """R reads Y before the consumer overwrites it (an ordering edge); fused, the edge
    enters the MatMul, and its pure expansion must keep it. The reduction feeding R is
    expanded after the MatMul, so nothing else orders the two."""
    p = ir.Program("war")
    for name, shape in (("A", ["M", "K"]), ("Bm", ["K", "N"]), ("x", ["N"]), ("Y", ["M", "N"]), ("Z", ["M", "N"])):
        p.add_array(name, shape, ir.float32)
    p.add_array("T", ["M", "N"], ir.float32, transient=True)
    p.add_array("s", [1], ir.float32, transient=True)
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("mm", implementation="pure"))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("Bm"), None, mm, "_b", "Bm")
    t = st.add_access("T")
    st.add_edge(mm, "_c", t, None, "T")
    red = st.add_library(ir.Reduce("red", "sum", axes=(0,)))
    st.add_edge(st.add_access("x"), None, red, "_in", "x")
    s = st.add_access("s")
    st.add_edge(red, "_out", s, None, "s")
    _, _, r_exit = st.add_mapped_tasklet("R", {"i": "0:M", "j": "0:N"}, {"y": "Y[i, j]", "v": "s[0]"}, "o = y * v",
                                         {"o": "Z[i, j]"}, input_nodes={"s": s})
    _, entry, _ = st.add_mapped_tasklet("ew", {"i": "0:M", "j": "0:N"}, {"t": "T[i, j]"}, "o = t + 1.0f",
                                        {"o": "Y[i, j]"}, input_nodes={"T": t})
    st.add_nedge(r_exit, entry)
    assert p.apply(EpilogueFusion)
    call = flowc.compile_program(p)
    rng = np.random.default_rng()
    for m, k, n in SIZES:
        a, w = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        x, y0 = rng.standard_normal(n, dtype=np.float32), rng.standard_normal((m, n), dtype=np.float32)
        y, z = y0.copy(), np.zeros((m, n), np.float32)
        call(a, w, x, y, z)
        np.testing.assert_allclose(z, y0 * x.sum(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(y, a @ w + 1, rtol=1e-4, atol=1e-4)


def test_refuses_a_reversed_output_view():
    """Y = Z[::-1]: its row stride is -N, which BLAS cannot take as a leading dimension
    (fused, the GEMM wrote past Z)."""
    p = _gemm_program("o = t + 1.0f", "Y[i, j]")
    del p.data["Y"]
    p.returns.remove("Y")
    p.add_array("Z", ["M", "N"], ir.float32)
    p.add_view("Y", "Z", ["M", "N"], strides=["-N", 1], offset="(M - 1) * N")
    p.validate()
    t, match = _only_match(p)
    assert "ascending" in t.why_not(p, match)


def row_of_transient_in_epilogue(c: flowc.float64[N, M], d: flowc.float64[N, M]):
    t = np.logical_not(c > 0.5)
    return np.power(t[-1], c.T @ d) + (c.T @ d)


def test_epilogue_reading_one_row_of_a_container_takes_the_whole_container(rng):
    """The consumer reads t[N - 1, j]: the map moved only that row in, and the fused GEMM got the
    partial memlet, which a library node may not have (found by the fuzzer: ValidationError after
    auto_optimize). The epilogue indexes the container itself, so the library node takes all of it."""
    prog = flowc.program(row_of_transient_in_epilogue, auto_optimize=True)
    for n, m in ((1, 1), (3, 4), (6, 2)):
        c, d = rng.standard_normal((n, m)), rng.standard_normal((n, m))
        np.testing.assert_allclose(prog(c, d), row_of_transient_in_epilogue(c, d), rtol=1e-12)
