"""JSON round trip: text-exact and structurally exact."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sympy
from ir_programs import ALL, axpy, matmul, reduce_rows, time_loop

from flowc import ir
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, LibraryNode, MapEntry, MapExit, Tasklet
from flowc.ir.symbolic import Range, Subset


def structure(p: ir.Program) -> Any:
    """Everything a program holds, as comparable plain values (maps by identity within a state)."""
    def node(n: Any, maps: list) -> tuple:
        if isinstance(n, AccessNode):
            return ("access", n.id, n.data)
        if isinstance(n, Tasklet):
            return ("tasklet", n.id, n.name, tuple(n.inputs), tuple(n.outputs), n.code)
        if isinstance(n, (MapEntry, MapExit)):
            if not any(m is n.map for m in maps):
                maps.append(n.map)
            idx = next(i for i, m in enumerate(maps) if m is n.map)
            m = n.map
            return (type(n).__name__, n.id, idx, m.label, tuple(m.params), tuple(m.ranges), m.schedule,
                    json.dumps(m.hints, sort_keys=True))
        if isinstance(n, LibraryNode):
            return ("library", type(n).__name__, n.id, n.name, n.implementation,
                    json.dumps(n.properties(), sort_keys=True))
        raise AssertionError(n)

    def block(b: Block) -> tuple:
        out = []
        for it in b.items:
            if isinstance(it, ir.State):
                maps: list = []
                nodes = tuple(node(n, maps) for n in it.graph.nodes)
                edges = tuple((u.id, v.id, k, d["src_conn"], d["dst_conn"], d["memlet"])
                              for u, v, k, d in it.graph.edges(keys=True, data=True))
                out.append(("state", it.name, it._next_id, nodes, edges))
            elif isinstance(it, Loop):
                out.append(("loop", it.var, it.start, it.stop, it.step, block(it.body)))
            elif isinstance(it, Branch):
                out.append(("branch", it.cond, block(it.then_body), block(it.else_body)))
            elif isinstance(it, While):
                out.append(("while", it.cond, block(it.body)))
        return tuple(out)

    data = tuple((name, type(d).__name__, d) for name, d in p.data.items())
    return (p.name, tuple(p.symbols), tuple(p.arg_names), tuple(p.returns), data, block(p.body),
            json.dumps(p.history))


def round_trip(p: ir.Program) -> ir.Program:
    text = p.to_json()
    q = ir.from_json(text)
    assert q.to_json() == text
    assert structure(q) == structure(p)
    assert q.history == p.history
    return q


@pytest.mark.parametrize("name", sorted(ALL))
def test_round_trip_is_exact(name: str) -> None:
    p = ALL[name]()
    q = round_trip(p)
    q.validate()
    assert list(q.free_symbols()) == list(p.free_symbols())
    assert q.call_signature() == p.call_signature()


@pytest.mark.parametrize("name", sorted(ALL))
def test_round_trip_preserves_movement(name: str) -> None:
    p = ALL[name]()
    q = ir.from_json(p.to_json())
    values = {s: 3 + i for i, s in enumerate(p.free_symbols())}
    assert q.data_movement(**values) == p.data_movement(**values)


def test_output_is_deterministic_json_with_a_version() -> None:
    a, b = axpy().to_json(), axpy().to_json()
    assert a == b
    doc = json.loads(a)
    assert doc["format"] == "flowc-ir" and doc["version"] == 1
    assert [d["name"] for d in doc["data"]] == ["x", "y", "out"]
    (state,) = doc["body"]
    assert state["type"] == "state" and state["name"] == "main"
    tasklet = next(n for n in state["nodes"] if n["type"] == "tasklet")
    assert tasklet["code"] == "o = 2.0f * a + b"
    assert {e["memlet"]["subset"] for e in state["edges"]} == {"i", "0:N"}


def test_unknown_version_is_refused() -> None:
    doc = json.loads(axpy().to_json())
    doc["version"] = 99
    with pytest.raises(ir.IRError, match="version 99"):
        ir.from_json(json.dumps(doc))
    with pytest.raises(ir.IRError, match="not flowc IR JSON"):
        ir.from_json("{}")


def test_maps_are_shared_by_entry_and_exit() -> None:
    q = ir.from_json(reduce_rows(expand=True).to_json())
    (st,) = list(q.states())
    for entry in [n for n in st.nodes() if isinstance(n, MapEntry)]:
        assert st.exit_of(entry).map is entry.map


def test_history_hints_and_schedules_survive() -> None:
    p = axpy()
    (st,) = list(p.states())
    entry = next(n for n in st.nodes() if isinstance(n, MapEntry))
    entry.map.hints = {"tile": [32, 8], "vectorize": True, "note": "x<y & z"}
    entry.map.schedule = ir.Schedule.CPU_MULTICORE
    entry = {"transformation": "MapTiling", "params": {"tile": 32, "dims": [0]},
             "match": {"state": st.name, "nodes": [entry.id], "labels": [entry.label]}}
    p.history.append(entry)
    q = round_trip(p)
    (qs,) = list(q.states())
    qentry = next(n for n in qs.nodes() if isinstance(n, MapEntry))
    assert qentry.map.hints == {"tile": [32, 8], "vectorize": True, "note": "x<y & z"}
    assert qentry.map.schedule is ir.Schedule.CPU_MULTICORE
    assert q.history == [entry]


def test_node_ids_and_next_id_survive_removal() -> None:
    p = axpy()
    (st,) = list(p.states())
    extra = st.add_access("x")
    st.add_access("y")
    st.remove_node(extra)
    q = round_trip(p)
    (qs,) = list(q.states())
    assert sorted(n.id for n in qs.nodes()) == sorted(n.id for n in st.nodes())
    assert qs.add_access("x").id == st.add_access("x").id


def test_edge_keys_survive() -> None:
    p = ir.Program("keys")
    p.add_array("x", [4], ir.float32)
    p.add_array("y", [4], ir.float32)
    st = p.add_state("s")
    x, y = st.add_access("x"), st.add_access("y")
    e0 = st.add_nedge(x, y, "x[0:2]")
    st.add_nedge(x, y, "x[2:4]")
    st.remove_edge(e0)                       # leaves key 1 alone
    q = round_trip(p)
    (qs,) = list(q.states())
    assert [e.key for e in qs.edges()] == [1]


def test_library_properties_survive() -> None:
    p = matmul()
    q = round_trip(p)
    (qs,) = list(q.states())
    mm = next(n for n in qs.nodes() if isinstance(n, ir.MatMul))
    assert (mm.alpha, mm.beta, mm.implementation, mm.name) == (0.5, 0.0, "blas", "mm")
    r = next(n for n in next(iter(round_trip(reduce_rows()).states())).nodes() if isinstance(n, ir.Reduce))
    assert (r.op, r.axes) == ("sum", (1,))


def test_memlet_details_survive() -> None:
    p = ir.Program("cp")
    p.add_symbol("N")
    p.add_array("x", ["N", "N"], ir.float64)
    p.add_array("y", ["2*N"], ir.float64)
    st = p.add_state("s")
    st.add_nedge(st.add_access("x"), st.add_access("y"), Memlet.parse("x[1, 0:N]", other_subset="N:2*N"))
    st.add_nedge(st.add_access("x"), st.add_access("y"), Memlet.parse("x[0:N:2, 0]", other_subset="0:N:2"))
    t = st.add_tasklet("t", ["a"], ["o"], "o = a")
    st.add_edge(st.add_access("y"), None, t, "a", "y[N - 1]")
    st.add_edge(t, "o", st.add_access("x"), None, Memlet.parse("x[0, Max(0, N - 2)]", wcr="max"))
    q = round_trip(p)
    memlets = [e.memlet for e in next(iter(q.states())).edges()]
    assert Memlet.parse("x[0, Max(0, N - 2)]", wcr="max") in memlets


def test_subset_whose_text_does_not_round_trip_is_stored_exactly() -> None:
    # N*(N + 1) : N**2 + N + 1 is a single index, but printing it as one index would lose the stop's form
    n = sympy.Symbol("N", integer=True)
    r = Range(n * (n + 1), n**2 + n + 1, sympy.Integer(1))
    assert r.is_index and Range.parse(str(r)) != r
    p = ir.Program("odd")
    p.add_symbol("N")
    p.add_array("x", ["N**2 + N + 1"], ir.float32)
    p.add_array("y", [1], ir.float32)
    st = p.add_state("s")
    t = st.add_tasklet("t", ["a"], ["o"], "o = a")
    st.add_edge(st.add_access("x"), None, t, "a", Memlet("x", Subset((r,))))
    st.add_edge(t, "o", st.add_access("y"), None, "y[0]")
    st2 = p.add_state("s2")
    st2.add_mapped_tasklet("m", [("i", r)], inputs={"a": "x[i]"}, code="o = a", outputs={"o": "y[0]"})
    q = round_trip(p)
    doc = json.loads(p.to_json())
    texts = [e["memlet"]["subset"] for e in doc["body"][0]["edges"] if e["memlet"]["data"] == "x"]
    assert texts == [[["N*(N + 1)", "N**2 + N + 1", "1"]]]
    assert doc["body"][1]["maps"][0]["ranges"] == [["N*(N + 1)", "N**2 + N + 1", "1"]]
    (e,) = [e for e in next(iter(q.states())).edges() if e.data == "x"]
    assert e.memlet.subset == Subset((r,))


def test_control_flow_round_trip() -> None:
    p = time_loop()
    inner = p.add_loop("k", "N - 1", -1, -2)
    w = inner.body.add_while("(n > 0) and not (k == 3)")
    br = w.body.add_branch("k % 2 == 0")
    br.then_body.add_state("even")
    p.add_scalar("n", ir.int64)
    q = round_trip(p)
    items = list(q.body.walk())
    assert [type(i).__name__ for i in items] == ["Loop", "State", "Loop", "While", "Branch", "State"]
    assert items[2].step == -2 and items[2].stop == -1
    assert ir.expr.to_text(items[3].cond) == "n > 0 and not k == 3"
    # state names stay registered: a new state gets a fresh name
    assert q.add_state("even").name == "even_1"


def test_tasklet_code_with_every_construct() -> None:
    good = ("t = where(a > 0.0f, a, 0.01f * a); u = -t ** 2 + sqrt(abs(t)) // 3.0; "
            "v = float64(u) % 7; w = not (a < 1.5e-12) or False; o = min(t, v) + float32(w) - inf")
    p, st, t = _single(good)
    q = round_trip(p)
    qt = next(n for n in next(iter(q.states())).nodes() if isinstance(n, Tasklet))
    assert qt.code == t.code and str(qt.code) == str(t.code)


def _single(code: str) -> tuple[ir.Program, ir.State, Tasklet]:
    p = ir.Program("single")
    p.add_array("x", [4], ir.float32)
    p.add_array("y", [4], ir.float32)
    st = p.add_state("s")
    t = st.add_tasklet("t", ["a"], ["o"], code)
    st.add_edge(st.add_access("x"), None, t, "a", "x[0]")
    st.add_edge(t, "o", st.add_access("y"), None, "y[0]")
    return p, st, t


def test_views_strides_and_storage_survive() -> None:
    p = ir.Program("v")
    p.add_symbol("N")
    p.add_array("x", ["N", 4], ir.float16, strides=[8, 2], storage=ir.Storage.GPU_GLOBAL)
    p.add_view("xt", "x", [4, "N"], strides=[2, 8], offset="N + 1")
    p.add_transient("tmp", [], ir.int32)
    p.add_scalar("s", ir.complex64)
    q = round_trip(p)
    assert q.data["xt"].view_of == "x" and q.data["xt"].offset == sympy.Symbol("N", integer=True) + 1
    assert q.data["x"].storage is ir.Storage.GPU_GLOBAL and q.data["x"].dtype is ir.float16
    assert q.data["tmp"].shape == ()


def test_non_json_hints_are_refused_clearly() -> None:
    p = axpy()
    entry = next(n for n in next(iter(p.states())).nodes() if isinstance(n, MapEntry))
    entry.map.hints = {"bad": object()}
    with pytest.raises(ir.IRError, match="JSON"):
        p.to_json()
