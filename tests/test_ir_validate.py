"""Validation: every sample program is valid; each broken invariant is caught and named."""

from __future__ import annotations

import pytest
from ir_programs import ALL, axpy, matmul, time_loop

from flowc import ir
from flowc.ir.data import Array
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, Tasklet
from flowc.ir.symbolic import Subset


def expect(p: ir.Program, *fragments: str) -> str:
    """Validation fails and the message contains every fragment."""
    with pytest.raises(ir.ValidationError) as info:
        p.validate()
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


def only_state(p: ir.Program) -> ir.State:
    (st,) = list(p.states())
    return st


def nodes_of(st: ir.State, kind: type, **attrs: object) -> list:
    return [n for n in st.nodes() if isinstance(n, kind) and all(getattr(n, k) == v for k, v in attrs.items())]


def one(st: ir.State, kind: type, **attrs: object):
    (n,) = nodes_of(st, kind, **attrs)
    return n


def edge(st: ir.State, src, dst) -> ir.Edge:
    (e,) = [e for e in st.edges() if e.src is src and e.dst is dst]
    return e


@pytest.mark.parametrize("name", sorted(ALL))
def test_sample_programs_are_valid(name: str) -> None:
    assert ALL[name]().validate() is not None


def test_expanded_library_nodes_stay_valid_inside_a_loop() -> None:
    p = ir.Program("loopmm")
    p.add_symbol("N")
    p.add_array("A", ["N", "N"], ir.float32)
    p.add_array("B", ["N", "N"], ir.float32)
    loop = p.add_loop("t", 0, 3)
    st = loop.body.add_state("mm")
    mm = st.add_library(ir.MatMul("mm", beta=1.0))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("A"), None, mm, "_b", "A")
    st.add_edge(st.add_access("B"), None, mm, "_cin", "B")
    st.add_edge(mm, "_c", st.add_access("B"), None, "B")
    p.validate()
    mm.expand(p, st)
    p.validate()


# ------------------------------------------------------------------ containers and signature

def test_access_node_of_unknown_container() -> None:
    p = axpy()
    ghost = only_state(p).add_access("ghost")
    expect(p, "state 'main'", repr(ghost), "unknown container 'ghost'")


def test_view_of_unknown_base() -> None:
    p = axpy()
    p.data["v"] = Array(ir.float32, ("N",), transient=True, view_of="nowhere")
    expect(p, "container 'v'", "unknown container 'nowhere'")


def test_view_cycle() -> None:
    p = axpy()
    p.data["v1"] = Array(ir.float32, ("N",), transient=True, view_of="v2")
    p.data["v2"] = Array(ir.float32, ("N",), transient=True, view_of="v1")
    expect(p, "container 'v1'", "view cycle", "v1 -> v2 -> v1")


def test_view_must_be_transient() -> None:
    p = axpy()
    p.add_view("xv", "x", ["N"])
    p.data["xv"].transient = False
    expect(p, "container 'xv'", "must be transient")


def test_shape_uses_map_parameter() -> None:
    p = axpy()
    p.add_transient("tmp", ["i"], ir.float32)         # i is the map's parameter
    expect(p, "container 'tmp'", "use i,", "map parameter or loop variable")


def test_shape_uses_loop_variable() -> None:
    p = time_loop()
    p.add_transient("tmp", ["N", "t + 1"], ir.float32)
    expect(p, "container 'tmp'", "use t", "map parameter or loop variable")


def test_negative_constant_extent() -> None:
    p = axpy()
    p.add_transient("tmp", [-3], ir.float32)
    expect(p, "container 'tmp'", "negative")


def test_argument_must_exist() -> None:
    p = axpy()
    p.arg_names.append("ghost")
    expect(p, "container 'ghost'", "argument", "no such container")


def test_return_must_exist() -> None:
    p = axpy()
    p.returns.append("ghost")
    expect(p, "container 'ghost'", "returned", "no such container")


def test_return_must_be_an_array() -> None:
    p = axpy()
    p.add_scalar("s", ir.float32, transient=True)
    p.add_return("s")
    expect(p, "container 's'", "must be Arrays")


def test_return_must_not_be_a_view() -> None:
    p = axpy()
    p.add_view("xv", "x", ["N"])
    p.add_return("xv")
    expect(p, "container 'xv'", "view cannot be returned")


def test_non_transient_container_must_be_in_the_signature() -> None:
    p = axpy()
    p.data["stray"] = Array(ir.float32, (4,))
    expect(p, "container 'stray'", "neither an argument nor a return")


def test_symbol_named_like_a_container() -> None:
    p = axpy()
    p.add_symbol("x")
    expect(p, "container 'x'", "also declared as a symbol")


# ------------------------------------------------------------------ graph structure

def test_state_graph_must_be_acyclic() -> None:
    p = axpy()
    st = only_state(p)
    out, x = one(st, AccessNode, data="out"), one(st, AccessNode, data="x")
    st.add_nedge(out, x, "out[0:N]")
    expect(p, "state 'main'", "cycle", repr(out), repr(x))


def test_node_ids_unique() -> None:
    p = axpy()
    st = only_state(p)
    y = one(st, AccessNode, data="y")
    x = one(st, AccessNode, data="x")
    y.id = x.id
    expect(p, "state 'main'", "same id")


def test_state_names_unique() -> None:
    p = axpy()
    extra = p.add_state("other")
    extra.name = "main"
    expect(p, "two states are named 'main'")


# ------------------------------------------------------------------ tasklets

def _single_tasklet(code: str, inputs=("a",), outputs=("o",), in_memlet: str = "x[0]",
                    out_memlet: str = "y[0]") -> tuple[ir.Program, ir.State, Tasklet]:
    p = ir.Program("t")
    p.add_array("x", [4], ir.float32)
    p.add_array("y", [4], ir.float32)
    st = p.add_state("s")
    t = st.add_tasklet("t", list(inputs), list(outputs), code)
    if inputs:
        st.add_edge(st.add_access("x"), None, t, inputs[0], in_memlet)
    if outputs:
        st.add_edge(t, outputs[0], st.add_access("y"), None, out_memlet)
    return p, st, t


def test_single_tasklet_is_valid() -> None:
    _single_tasklet("o = a * 2.0f")[0].validate()


def test_tasklet_input_without_edge() -> None:
    p, st, t = _single_tasklet("o = a + b", inputs=("a", "b"))
    expect(p, "state 's'", repr(t), "input connector 'b' has 0 in-edges")


def test_tasklet_input_with_two_edges() -> None:
    p, st, t = _single_tasklet("o = a")
    st.add_edge(st.add_access("x"), None, t, "a", "x[1]")
    expect(p, repr(t), "input connector 'a' has 2 in-edges")


def test_tasklet_output_without_edge() -> None:
    p, st, t = _single_tasklet("o = a; q = a", outputs=("o", "q"))
    expect(p, repr(t), "output connector 'q' has no out-edge")


def test_edge_on_undeclared_connector() -> None:
    p, st, t = _single_tasklet("o = a")
    st.add_edge(st.add_access("x"), None, t, "zz", "x[1]")
    expect(p, repr(t), "undeclared input connector 'zz'")


def test_edge_from_undeclared_output_connector() -> None:
    p, st, t = _single_tasklet("o = a")
    st.add_edge(t, "zz", st.add_access("y"), None, "y[1]")
    expect(p, repr(t), "undeclared output connector 'zz'")


def test_tasklet_reads_unknown_name() -> None:
    p, _, t = _single_tasklet("o = a + q")
    expect(p, repr(t), "reads 'q'")


def test_tasklet_reads_container_directly() -> None:
    p, _, t = _single_tasklet("o = a + y")
    expect(p, repr(t), "reads container 'y' directly")


def test_tasklet_reads_map_parameter_out_of_scope() -> None:
    p, st, t = _single_tasklet("o = a * i")
    st.add_mapped_tasklet("m", {"i": "0:4"}, inputs={"a": "x[i]"}, code="o = a", outputs={"o": "y[i]"})
    expect(p, repr(t), "reads 'i'", "not in scope")


def test_tasklet_may_read_symbols_in_scope() -> None:
    p = axpy()
    st = only_state(p)
    t = one(st, Tasklet)
    t.code = ir.Code.parse("o = 2.0f * a + b + float32(i) / float32(N)")
    p.validate()


def test_tasklet_must_assign_outputs() -> None:
    p, _, t = _single_tasklet("z = a")
    expect(p, repr(t), "never assigns output connector 'o'")


def test_tasklet_must_not_assign_inputs() -> None:
    p, _, t = _single_tasklet("a = 1.0f; o = a")
    expect(p, repr(t), "assigns input connector 'a'")


def test_tasklet_reads_output_before_assigning() -> None:
    p, _, t = _single_tasklet("o = o + a")
    expect(p, repr(t), "reads output connector 'o' before assigning")


def test_tasklet_memlet_moves_one_element() -> None:
    p, _, t = _single_tasklet("o = a", in_memlet="x[0:2]")
    expect(p, "state 's'", repr(t), "moves 2 elements")


# ------------------------------------------------------------------ memlets

def test_memlet_rank_matches_container() -> None:
    p, _, t = _single_tasklet("o = a", in_memlet="x[0, 0]")
    expect(p, "rank 2", "container 'x' has rank 1")


def test_memlet_of_unknown_container() -> None:
    p, st, t = _single_tasklet("o = a")
    e = edge(st, one(st, AccessNode, data="x"), t)
    st.set_memlet(e, Memlet("ghost", Subset.parse("0")))
    expect(p, "unknown container 'ghost'")


def test_memlet_at_access_node_names_its_container() -> None:
    p, st, t = _single_tasklet("o = a")
    e = edge(st, one(st, AccessNode, data="x"), t)
    st.set_memlet(e, Memlet.parse("y[0]"))
    expect(p, "leaves access node 'x' but moves 'y'")


def test_memlet_symbol_outside_its_scope() -> None:
    p = axpy()
    st = only_state(p)
    x, entry = one(st, AccessNode, data="x"), one(st, MapEntry)
    st.set_memlet(edge(st, x, entry), Memlet.parse("x[i]"))
    msg = expect(p, "state 'main'", repr(x), repr(entry), "'i' outside the map or loop that binds it")
    assert "edge" in msg


def test_memlet_unknown_symbol() -> None:
    p, st, t = _single_tasklet("o = a", in_memlet="x[Q]")
    expect(p, "unknown symbol 'Q'")


def test_memlet_index_out_of_constant_bounds() -> None:
    p, _, t = _single_tasklet("o = a", in_memlet="x[4]")
    expect(p, "dimension 0 of 'x' is out of bounds", "extent 4")


def test_memlet_negative_index() -> None:
    p, _, t = _single_tasklet("o = a", out_memlet="y[-1]")
    expect(p, "below 0")


def test_memlet_index_provably_out_of_symbolic_bounds() -> None:
    p = ir.Program("shift")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    st = p.add_state("s")
    st.add_mapped_tasklet("shift", {"i": "0:N"}, inputs={"a": "x[i + 1]"}, code="o = a", outputs={"o": "y[i]"})
    expect(p, "of 'x' is out of bounds")


def test_in_bounds_shift_is_valid() -> None:
    p = ir.Program("shift")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    st = p.add_state("s")
    st.add_mapped_tasklet("shift", {"i": "0:N - 1"}, inputs={"a": "x[i + 1]"}, code="o = a",
                          outputs={"o": "y[i]"})
    p.validate()


def test_loop_index_out_of_bounds() -> None:
    p = time_loop()
    (st,) = list(p.states())
    t = one(st, Tasklet)
    e = [e for e in st.in_edges(t) if e.dst_conn == "b"][0]
    st.set_memlet(e, Memlet.parse("y[t]"))     # t runs to T - 1 but y has N elements: not provable
    p.validate()
    p.add_loop("u", 0, "N + 1").body.add_state("tail")
    tail = [s for s in p.states() if s.name == "tail"][0]
    tk = tail.add_tasklet("tk", ["a"], ["o"], "o = a")
    tail.add_edge(tail.add_access("x"), None, tk, "a", "x[u]")
    tail.add_edge(tk, "o", tail.add_access("y"), None, "y[0]")
    expect(p, "state 'tail'", "dimension 0 of 'x' is out of bounds")


def test_wcr_only_on_writes() -> None:
    p = axpy()
    st = only_state(p)
    entry, t = one(st, MapEntry), one(st, Tasklet)
    e = [e for e in st.out_edges(entry) if e.dst_conn == "a"][0]
    st.set_memlet(e, Memlet.parse("x[i]", wcr="sum"))
    expect(p, "write-conflict resolution (sum) on a read", repr(t))


def test_copy_volumes_must_match() -> None:
    p = ir.Program("cp")
    p.add_array("x", [8], ir.float32)
    p.add_array("y", [8], ir.float32)
    st = p.add_state("s")
    x, y = st.add_access("x"), st.add_access("y")
    st.add_nedge(x, y, Memlet.parse("x[0:4]", other_subset="2:5"))
    expect(p, "copy moves 4 elements out of 'x' but 3 into 'y'", repr(x), repr(y))


def test_copy_with_equal_volumes_is_valid() -> None:
    p = ir.Program("cp")
    p.add_array("x", [8], ir.float32)
    p.add_array("y", [2, 4], ir.float32)
    st = p.add_state("s")
    st.add_nedge(st.add_access("x"), st.add_access("y"), Memlet.parse("x[0:4]", other_subset="1, 0:4"))
    st.add_nedge(st.add_access("x"), st.add_access("y"), "x[0:8]")
    p.validate()


def test_empty_memlet_cannot_use_a_connector() -> None:
    p, st, t = _single_tasklet("o = a")
    st.set_memlet(edge(st, one(st, AccessNode, data="x"), t), Memlet.empty())
    expect(p, repr(t), "empty memlet (ordering edge) cannot use connectors")


# ------------------------------------------------------------------ maps and scopes

def test_map_entry_without_exit() -> None:
    p = axpy()
    st = only_state(p)
    entry, exit_ = one(st, MapEntry), one(st, MapExit)
    st.remove_node(exit_)
    expect(p, "state 'main'", repr(entry), "no matching map exit")


def test_map_exit_without_entry() -> None:
    p = axpy()
    st = only_state(p)
    entry, exit_ = one(st, MapEntry), one(st, MapExit)
    st.remove_node(entry)
    expect(p, "state 'main'", repr(exit_), "no matching map entry")


def test_map_object_shared_between_states() -> None:
    p = axpy()
    st = only_state(p)
    entry = one(st, MapEntry)
    other = p.add_state("other")
    e2, x2 = other.add_node(MapEntry(entry.map)), other.add_node(MapExit(entry.map))
    other.add_nedge(e2, x2)
    expect(p, "state 'other'", repr(e2), "also appears in state 'main'")


def test_map_exit_reachable_from_entry() -> None:
    p = ir.Program("m")
    st = p.add_state("s")
    entry, exit_ = st.add_map("empty", {"i": "0:4"})
    expect(p, repr(exit_), "not reachable from its map entry")


def test_map_in_and_out_connectors_pair_up() -> None:
    p = axpy()
    st = only_state(p)
    entry = one(st, MapEntry)
    st.add_edge(one(st, AccessNode, data="x"), None, entry, "IN_z", "x[0:N]")
    expect(p, repr(entry), "IN_z has no matching OUT_z")


def test_map_connector_must_be_in_or_out() -> None:
    p = axpy()
    st = only_state(p)
    entry = one(st, MapEntry)
    st.add_edge(one(st, AccessNode, data="x"), None, entry, "weird", "x[0:N]")
    expect(p, repr(entry), "connector 'weird'")


def test_map_connector_pair_carries_one_container() -> None:
    p = axpy()
    st = only_state(p)
    entry, t = one(st, MapEntry), one(st, Tasklet)
    e = [e for e in st.out_edges(entry) if e.dst_conn == "b"][0]
    st.remove_edge(e)
    st.add_edge(entry, "OUT_x", t, "b", "y[i]")
    expect(p, repr(entry), "IN_x/OUT_x carry different containers")


def test_node_in_scope_must_be_reachable_from_entry() -> None:
    p = axpy()
    st = only_state(p)
    exit_ = one(st, MapExit)
    stray = st.add_tasklet("stray", ["a"], ["o"], "o = a")
    st.add_edge(st.add_access("x"), None, stray, "a", "x[0]")
    st.add_edge(stray, "o", exit_, "IN_out", "out[0]")
    expect(p, "state 'main'", repr(stray), repr(exit_), "not reachable from")


def test_edge_crossing_scope_boundary() -> None:
    p = axpy()
    st = only_state(p)
    t, out = one(st, Tasklet), one(st, AccessNode, data="out")
    st.add_edge(t, "o", out, None, "out[0]")        # skips the map exit
    expect(p, "state 'main'", repr(t), repr(out), "crosses a scope boundary")


def test_nested_map_edge_skipping_inner_exit() -> None:
    p = matmul(expand=True)
    st = only_state(p)
    body = one(st, Tasklet, name="mm_body")
    outer_exit = one(st, MapExit, label="end mm_outer")
    st.add_edge(body, "o", outer_exit, "IN_C", "C[_i, _j]")
    expect(p, repr(body), repr(outer_exit), "crosses a scope boundary")


def test_map_parameter_shadows_container() -> None:
    p = ir.Program("m")
    p.add_array("x", [4], ir.float32)
    st = p.add_state("s")
    st.add_mapped_tasklet("m", {"x": "0:4"}, inputs={}, code="o = 1.0f", outputs={"o": "x[x]"})
    expect(p, "map entry 'm'", "parameter 'x' shadows the container")


def test_map_range_uses_unknown_symbol() -> None:
    p = ir.Program("m")
    p.add_array("x", [4], ir.float32)
    st = p.add_state("s")
    _, entry, _ = st.add_mapped_tasklet("m", {"i": "0:Z"}, inputs={}, code="o = 1.0f", outputs={"o": "x[0]"})
    expect(p, repr(entry), "unknown symbol 'Z'")


# ------------------------------------------------------------------ library nodes

def test_library_node_missing_connector() -> None:
    p = matmul()
    st = only_state(p)
    mm = one(st, ir.MatMul)
    st.remove_edge([e for e in st.in_edges(mm) if e.dst_conn == "_b"][0])
    expect(p, repr(mm), "connector '_b' has 0 edges")


def test_library_node_extra_connector() -> None:
    p = matmul()
    st = only_state(p)
    mm = one(st, ir.MatMul)
    st.add_edge(st.add_access("C"), None, mm, "_cin", "C")     # beta == 0: no _cin connector
    expect(p, repr(mm), "undeclared connector '_cin'")


def test_library_node_shapes_checked() -> None:
    p = ir.Program("badmm")
    p.add_array("A", ["M", "K"], ir.float32)
    p.add_array("B", ["N", "N"], ir.float32)                    # K x N expected
    p.add_array("C", ["M", "N"], ir.float32)
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("mm"))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("B"), None, mm, "_b", "B")
    st.add_edge(mm, "_c", st.add_access("C"), None, "C")
    expect(p, "state 'main'", repr(mm), "do not match")


def test_library_node_works_on_whole_containers() -> None:
    p = matmul()
    st = only_state(p)
    mm = one(st, ir.MatMul)
    e = [e for e in st.in_edges(mm) if e.dst_conn == "_a"][0]
    st.set_memlet(e, Memlet.parse("A[0:M, 0:1]"))
    expect(p, repr(mm), "whole containers")


def test_reduce_shapes_checked() -> None:
    p = ir.Program("badreduce")
    p.add_array("A", ["N", "M"], ir.float64)
    p.add_array("B", ["M"], ir.float64)                         # reducing axis 1 leaves [N]
    st = p.add_state("main")
    r = st.add_library(ir.Reduce("r", "sum", [1]))
    st.add_edge(st.add_access("A"), None, r, "_in", "A")
    st.add_edge(r, "_out", st.add_access("B"), None, "B")
    expect(p, repr(r), "but the output is")


# ------------------------------------------------------------------ control flow

def test_loop_variable_shadows_container() -> None:
    p = axpy()
    p.add_loop("x", 0, 4).body.add_state("inner")
    expect(p, "Loop(x in 0:4:1)", "shadows the container")


def test_nested_loop_variable_shadows_outer() -> None:
    p = axpy()
    outer = p.add_loop("t", 0, 4)
    outer.body.add_loop("t", 0, 2)
    expect(p, "Loop(t in 0:2:1)", "shadows an enclosing loop")


def test_loop_bound_unknown_symbol() -> None:
    p = axpy()
    p.add_loop("t", 0, "Q")
    expect(p, "Loop(t in 0:Q:1)", "unknown symbol 'Q'")


def test_loop_variable_not_in_scope_after_loop() -> None:
    p = time_loop()
    st = p.add_state("after")
    tk = st.add_tasklet("tk", ["a"], ["o"], "o = a")
    st.add_edge(st.add_access("x"), None, tk, "a", "x[t]")
    st.add_edge(tk, "o", st.add_access("y"), None, "y[0]")
    expect(p, "state 'after'", "'t' outside the map or loop that binds it")


def test_branch_condition_reads_array() -> None:
    p = axpy()
    p.add_branch("x > 0")
    expect(p, "Branch(if x > 0)", "reads array 'x'")


def test_while_condition_unknown_name() -> None:
    p = axpy()
    p.add_while("k < N")
    expect(p, "While(k < N)", "unknown symbol 'k'")


def test_condition_may_read_scalars_and_symbols() -> None:
    p = axpy()
    p.add_scalar("k", ir.int32)
    p.add_while("k < N").body.add_state("body")
    p.validate()


# ------------------------------------------------------------------ array connectors (data-dependent indexing)

def _gather(code: str = "o = t[k]", table: str = "table[0:T]") -> tuple[ir.Program, ir.State, Tasklet]:
    p = ir.Program("gather")
    p.add_array("table", ["T"], ir.float32)
    p.add_array("idx", ["N"], ir.int64)
    p.add_array("out", ["N"], ir.float32)
    st = p.add_state("s")
    t, _, _ = st.add_mapped_tasklet("g", {"i": "0:N"}, {"t": table, "k": "idx[i]"}, code, {"o": "out[i]"})
    return p, st, t


def test_array_connector_moves_a_block() -> None:
    p, _, _ = _gather()
    p.validate()
    assert p.data_movement(T=10, N=3)["by_container"]["table"] == {"read": 40, "written": 0}


def test_array_connector_index_count_matches_rank() -> None:
    p, _, t = _gather("o = t[k, 0]")
    expect(p, repr(t), "indexes array connector 't' with 2 indices", "rank 1")


def test_only_inputs_can_be_subscripted() -> None:
    p, _, t = _gather("o = t[k] + out[k]")
    expect(p, repr(t), "reads container 'out' directly")
    p, _, t = _gather("z = 1.0f; o = t[k] + z[0]")
    expect(p, repr(t), "indexes 'z', which is not an input connector")


def test_plain_connector_still_moves_one_element() -> None:
    p, _, t = _gather("o = t * float32(k)")
    expect(p, repr(t), "moves T elements")
