"""Data movement: byte counts derived from memlets, checked against counts made by hand."""

from __future__ import annotations

import ir_programs as P
import pytest
import sympy

from flowc import ir
from flowc.ir.memlet import Memlet
from flowc.ir.movement import data_movement, data_movement_expr, data_movement_symbolic

N_ = sympy.Symbol("N", integer=True)


def test_axpy_reads_8n_writes_4n() -> None:
    mv = P.axpy().data_movement(N=1000)
    assert mv == {"read": 8000, "written": 4000, "total": 12000,
                  "by_container": {"x": {"read": 4000, "written": 0}, "y": {"read": 4000, "written": 0},
                                   "out": {"read": 0, "written": 4000}}}


def test_axpy_symbolic_total() -> None:
    assert sympy.simplify(data_movement_expr(P.axpy()) - 12 * N_) == 0
    sym = data_movement_symbolic(P.axpy())
    assert sympy.simplify(sym["read"] - 8 * N_) == 0
    assert sympy.simplify(sym["written"] - 4 * N_) == 0


def test_missing_symbol_is_named() -> None:
    with pytest.raises(ir.IRError, match=r"no value for symbol\(s\) N"):
        P.axpy().data_movement()
    with pytest.raises(ir.IRError, match=r"symbol\(s\) M, N"):
        P.reduce_rows().data_movement(K=3)


def test_loop_multiplies_by_trip_count() -> None:
    # per iteration: read x[0:N] and y[0:N], write x[0:N], all float32
    mv = P.time_loop().data_movement(N=100, T=7)
    assert mv["read"] == 7 * 800
    assert mv["written"] == 7 * 400
    assert mv["by_container"] == {"x": {"read": 2800, "written": 2800}, "y": {"read": 2800, "written": 0}}
    assert P.time_loop().data_movement(N=100, T=0)["total"] == 0


def test_triangular_loop_sums_over_the_loop_variable() -> None:
    # iteration t reads A[t, 0:t+1] (t + 1 float64) and writes out[t] once
    n = 10
    mv = P.triangular_loop().data_movement(N=n)
    assert mv["read"] == 8 * sum(t + 1 for t in range(n)) == 440
    assert mv["written"] == 8 * n
    total = data_movement_expr(P.triangular_loop())
    assert sympy.simplify(total - (4 * N_ * (N_ + 1) + 8 * N_)) == 0


def test_strided_loop_with_dependent_volume() -> None:
    p = ir.Program("strided")
    p.add_symbol("N")
    p.add_array("A", ["N"], ir.float32)
    p.add_array("s", [1], ir.float32)
    loop = p.add_loop("t", 1, "N", 3)
    st = loop.body.add_state("prefix")
    st.add_mapped_tasklet("pre", {"j": "0:t"}, inputs={"a": "A[j]"}, code="o = a",
                          outputs={"o": Memlet.parse("s[0]", wcr="sum")})
    p.validate()
    n = 11          # t = 1, 4, 7, 10 reads 1 + 4 + 7 + 10 = 22 elements, writes s[0] once per iteration
    mv = p.data_movement(N=n)
    assert mv["by_container"]["A"] == {"read": 4 * 22, "written": 0}
    assert mv["by_container"]["s"] == {"read": 0, "written": 4 * 4}


def test_transient_scalars_count_zero() -> None:
    mv = P.transient_scalar().data_movement()
    assert mv == {"read": 4, "written": 4, "total": 8,
                  "by_container": {"x": {"read": 4, "written": 0}, "s": {"read": 0, "written": 0},
                                   "y": {"read": 0, "written": 4}}}


def test_scalar_arguments_count() -> None:
    p = ir.Program("scal")
    p.add_array("x", [8], ir.float64)
    p.add_scalar("alpha", ir.float64)
    st = p.add_state("s")
    st.add_mapped_tasklet("scale", {"i": "0:8"}, inputs={"a": "x[i]", "k": "alpha"}, code="o = a * k",
                          outputs={"o": "x[i]"})
    p.validate()
    mv = p.data_movement()
    # the access node of the scalar argument sits outside the map: one 8-byte read, not one per iteration
    assert mv["by_container"]["alpha"] == {"read": 8, "written": 0}
    assert mv["by_container"]["x"] == {"read": 64, "written": 64}


def test_reduce_expanded_and_unexpanded_move_the_same() -> None:
    n, m = 6, 9
    lib = P.reduce_rows().data_movement(N=n, M=m)
    exp = P.reduce_rows(expand=True).data_movement(N=n, M=m)
    assert lib["read"] == exp["read"] == 8 * n * m
    assert lib["written"] == exp["written"] == 8 * n
    assert exp["by_container"]["rsum_acc"] == {"read": 0, "written": 0}


def test_matmul_moves_its_operands_once() -> None:
    sizes = {"M": 3, "N": 5, "K": 7}
    for expand in (False, True):
        mv = P.matmul(expand=expand).data_movement(**sizes)
        assert mv["read"] == 4 * (3 * 7 + 7 * 5)
        assert mv["written"] == 4 * 3 * 5


def test_batched_matmul() -> None:
    sizes = {"Bt": 2, "M": 3, "N": 5, "K": 7}
    for expand in (False, True):
        mv = P.batched_matmul(expand=expand).data_movement(**sizes)
        assert mv["by_container"]["A"] == {"read": 4 * 2 * 3 * 7, "written": 0}
        assert mv["by_container"]["W"] == {"read": 4 * 7 * 5, "written": 0}
        assert mv["by_container"]["C"] == {"read": 0, "written": 4 * 2 * 3 * 5}


def test_views_count_toward_their_base() -> None:
    mv = P.view_transpose().data_movement(N=4, M=3)
    assert mv["by_container"] == {"x": {"read": 48, "written": 0}, "out": {"read": 0, "written": 48}}


def test_copy_counts_one_read_and_one_write() -> None:
    p = ir.Program("cp")
    p.add_array("x", [10], ir.float64)
    p.add_array("y", [2, 5], ir.float32)
    st = p.add_state("s")
    st.add_nedge(st.add_access("x"), st.add_access("y"), Memlet.parse("x[0:5]", other_subset="1, 0:5"))
    p.validate()
    mv = p.data_movement()
    assert mv["by_container"] == {"x": {"read": 40, "written": 0}, "y": {"read": 0, "written": 20}}


def test_branch_counts_the_larger_body() -> None:
    # both bodies of the sample branch move 8N bytes
    assert P.branch().data_movement(N=10)["total"] == 80
    p = ir.Program("br2")
    p.add_symbol("N")
    p.add_symbol("M")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["M"], ir.float32)
    p.add_scalar("flag", ir.int32)
    br = p.add_branch("flag != 0")
    s1 = br.then_body.add_state("small")
    s1.add_nedge(s1.add_access("x"), s1.add_access("y"), Memlet.parse("x[0:2]", other_subset="0:2"))
    s2 = br.else_body.add_state("big")
    s2.add_nedge(s2.add_access("x"), s2.add_access("x"), Memlet.parse("x[0:N]", other_subset="0:N"))
    p.validate()
    # then: 8 + 8 bytes; else: 4N + 4N bytes
    assert p.data_movement(N=10, M=4)["by_container"] == {"x": {"read": 40, "written": 40}}
    assert p.data_movement(N=1, M=4)["by_container"] == {"x": {"read": 8, "written": 0},
                                                         "y": {"read": 0, "written": 8}}
    assert isinstance(data_movement_expr(p), sympy.Expr)


def test_while_body_counts_once() -> None:
    mv = P.while_loop().data_movement(N=16)
    # one iteration: read and write x[0:N] in float64; the condition's scalar n is no memlet
    assert mv["by_container"] == {"x": {"read": 128, "written": 128}}


def test_map_scope_multiplies_inner_access_nodes() -> None:
    # map i in 0:N: t1 writes tmp[i] (an access node inside the scope), t2 reads it back; tmp is an
    # argument (a transient used only inside maps would be a per-thread buffer, counted 0)
    p = ir.Program("inner")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    p.add_array("tmp", ["N"], ir.float32)
    st = p.add_state("s")
    entry, exit_ = st.add_map("m", {"i": "0:N"})
    t1 = st.add_tasklet("t1", ["a"], ["o"], "o = a + 1.0f")
    t2 = st.add_tasklet("t2", ["a"], ["o"], "o = a * 2.0f")
    tmp = st.add_access("tmp")
    st.add_memlet_path(st.add_access("x"), entry, t1, memlet="x[i]", dst_conn="a")
    st.add_edge(t1, "o", tmp, None, "tmp[i]")
    st.add_edge(tmp, None, t2, "a", "tmp[i]")
    st.add_memlet_path(t2, exit_, st.add_access("y"), memlet="y[i]", src_conn="o")
    p.validate()
    mv = p.data_movement(N=50)
    assert mv["by_container"] == {"x": {"read": 200, "written": 0}, "tmp": {"read": 200, "written": 200},
                                  "y": {"read": 0, "written": 200}}


def test_triangular_map_scope() -> None:
    # nested maps i in 0:N, j in 0:i with an access node inside: sum_i i elements
    p = ir.Program("trimap")
    p.add_symbol("N")
    p.add_array("tmp", ["N", "N"], ir.float64)
    st = p.add_state("s")
    oe, ox = st.add_map("outer", {"i": "0:N"})
    ie, ix = st.add_map("inner", {"j": "0:i"})
    t = st.add_tasklet("t", [], ["o"], "o = 1.0")
    tmp = st.add_access("tmp")
    st.add_nedge(oe, ie)
    st.add_nedge(ie, t)
    st.add_edge(t, "o", tmp, None, "tmp[i, j]")
    st.add_nedge(tmp, ix)
    st.add_nedge(ix, ox)
    p.validate()
    assert data_movement(p, {"N": 5})["by_container"]["tmp"] == {"read": 0, "written": 8 * (0 + 1 + 2 + 3 + 4)}
