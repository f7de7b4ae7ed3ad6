"""The transformation framework a search drives: map connectors and matches with real fields,
one contract for every transformation, a replayable history, and a cheap program copy."""

import copy

import numpy as np
import pytest
from builder_programs import layernorm, softmax

import flowc.ir as ir
from flowc.transforms import LocalStorage, MapExpansion, MapFusion
from flowc.transforms.expansion import expand_library_nodes

# ---------------------------------------------------------------- map connectors


def test_scope_connector_fields():
    c = ir.ScopeConnector.parse("IN_x_1")
    assert c == ir.ScopeConnector(incoming=True, name="x_1")
    assert str(c.partner) == "OUT_x_1" and c.partner.partner == c
    assert ir.ScopeConnector.parse("OUT_IN_a").name == "IN_a"       # only the prefix counts
    for text in ("x", "IN_", "OUT_", None, "in_x"):
        assert ir.ScopeConnector.parse(text) is None
    assert ir.in_connector("a") == "IN_a" and ir.out_connector("a") == "OUT_a"
    assert ir.connector_name("OUT_abc") == "abc" and ir.partner_connector("IN_q") == "OUT_q"
    with pytest.raises(ir.IRError, match="not a map connector"):
        ir.connector_name("a")


@pytest.mark.parametrize("factory", [softmax, layernorm])
def test_local_storage_matches_name_their_container(factory):
    p, _, _ = factory()
    expand_library_nodes(p)
    p.apply(MapExpansion)
    p.apply(MapFusion)
    found = LocalStorage().matches(p)
    assert found
    for m in found:
        _, (_, node) = LocalStorage.resolve(p, m)
        assert m.data == node.data
    for m in MapFusion().candidates(copy.deepcopy(p)):
        _, (_, t, _) = MapFusion.resolve(p, m)
        assert m.data == t.data


# ---------------------------------------------------------------- one contract, typed parameters

def _all_transformations():
    from flowc.transforms import (EpilogueFusion, LayoutSelection, MapTiling, NormalizationFusion)
    return [EpilogueFusion(), LayoutSelection(), LocalStorage(), MapExpansion(), MapFusion(), MapTiling(tile=8),
            NormalizationFusion()]


@pytest.mark.parametrize("factory", [softmax, layernorm])
def test_every_transformation_says_why_not_at_each_candidate(factory):
    """why_not is None exactly at the matches, a non-empty reason at every other candidate,
    and apply at a refused candidate raises an IRError carrying that reason."""
    p, _, _ = factory()
    expand_library_nodes(p)
    for t in _all_transformations():
        found = set(t.matches(p))
        for m in t.candidates(p):
            why = t.why_not(p, m)
            assert (why is None) == (m in found), (t, m, why)
            if why is not None:
                assert isinstance(why, str) and why
                q = copy.deepcopy(p)
                with pytest.raises(ir.IRError, match="does not apply"):
                    t.apply(q, m)
                assert q.history == p.history


def test_plans_share_one_shape():
    """plan returns what the rewrite needs or raises NotApplicable: never a reason as a value."""
    from builder_programs import head_merge

    from flowc.transforms import LayoutSelection, NotApplicable
    p, _, _ = head_merge()
    (m,) = LayoutSelection().matches(p)
    plan = LayoutSelection().plan(p, m)
    assert (plan.src.data, plan.dst.data, plan.perm) == ("C", "D", (0, 2, 1, 3))
    q, _, _ = head_merge(extra_reader=True)
    reasons = []
    for m in LayoutSelection().candidates(q):
        with pytest.raises(NotApplicable) as refused:
            LayoutSelection().plan(q, m)
        reasons.append(str(refused.value))
    assert any("other writers or readers" in r for r in reasons), reasons


def test_parameters_are_typed_and_recorded():
    from flowc.transforms import MapTiling, Transformation
    t = MapTiling(tile=16, dims=[0, -1])
    assert t.dims == (0, -1) and t.params() == {"tile": 16, "dims": [0, -1]}
    assert MapTiling.from_params(t.params()) == t
    assert MapTiling(tile=np.int64(8)).params() == {"tile": 8, "dims": None}      # any integer, stored as int
    assert MapExpansion().params() == {"inner": 1, "top_level_only": True}
    for bad, err in ((dict(tile="8"), TypeError), (dict(tile=True), TypeError), (dict(dims=[0.5]), TypeError),
                     (dict(tile=0), ValueError)):
        with pytest.raises(err):
            MapTiling(**bad)
    with pytest.raises(TypeError, match="top_level_only"):
        MapExpansion(top_level_only=1)
    with pytest.raises(ir.IRError, match="no parameter 'tiles'"):
        MapTiling.from_params({"tiles": 8})
    assert {"MapFusion", "MapTiling", "LocalStorage"} <= set(Transformation.registry)


def test_history_entries_are_validated_on_load():
    from builder_programs import elementwise

    from flowc.transforms import MapTiling
    p, _, _ = elementwise()
    p.apply(MapTiling(tile=4, dims=[1]))
    (entry,) = p.history
    assert entry["transformation"] == "MapTiling" and entry["params"] == {"tile": 4, "dims": [1]}
    assert sorted(entry["match"]) == ["labels", "nodes", "state"]
    text = p.to_json()
    assert ir.from_json(text).history == p.history
    for old, new, why in (('"MapTiling"', '"MapTilingX"', "unknown transformation 'MapTilingX'"),
                          ('"tile": 4', '"tile": "4"', "must be an int"),
                          ('"tile": 4', '"size": 4', "no parameter 'size'"),
                          ('"labels"', '"names"', "match must be a dict")):
        assert old in text
        with pytest.raises(ir.IRError, match=why):
            ir.from_json(text.replace(old, new))


# ---------------------------------------------------------------- cheap copies

def _bert():
    import sys
    from pathlib import Path

    from flowc import frontend
    samples = str(Path(__file__).resolve().parent.parent / "samples")
    sys.path.insert(0, samples)
    try:
        from bert_encoder import encoder_layer
    finally:
        sys.path.remove(samples)
    return frontend.lower(encoder_layer)


def _shape(program):
    """Every node's in- and out-edge order (what transformations walk), by node ids."""
    return [(st.name, n.id, [(e.src.id, e.key) for e in st.in_edges(n)], [(e.dst.id, e.key) for e in st.out_edges(n)])
            for st in program.states() for n in st.nodes()]


@pytest.mark.parametrize("factory", ["loop", "branch", "while_loop", "softmax", "bert"])
def test_clone_is_an_independent_equal_copy(factory):
    import builder_programs

    from flowc.transforms import auto_optimize
    p = _bert() if factory == "bert" else getattr(builder_programs, factory)()[0]
    auto_optimize(p)                       # a history, map hints, shrunk data
    before = p.to_json()
    q = p.clone()
    assert q.to_json() == before and _shape(q) == _shape(p)
    assert q.history == p.history and q.history is not p.history
    for name in p.data:
        assert q.data[name] == p.data[name] and q.data[name] is not p.data[name]
    for sp, sq in zip(p.states(), q.states()):
        assert sq.program is q and sq.graph is not sp.graph
        assert not set(map(id, sp.nodes())) & set(map(id, sq.nodes()))
        maps_p = {id(n.map) for n in sp.nodes() if isinstance(n, ir.MapEntry)}
        for n in sq.nodes():
            if isinstance(n, ir.MapEntry):
                assert id(n.map) not in maps_p and sq.exit_of(n).map is n.map
    # changing the copy leaves the original as it was, and the copy behaves like a deep copy
    r = copy.deepcopy(p)
    for program in (q, r):
        for _, n in program.all_nodes():
            if isinstance(n, ir.MapEntry):
                n.map.hints["probe"] = [1]
                n.map.params.append("zz")
        if program.history:
            program.history[0]["params"]["probe"] = 1
        next(iter(program.data.values())).transient = "probe"
    assert p.to_json() == before
    q2, r2 = p.clone(), copy.deepcopy(p)
    q2.apply(MapExpansion(top_level_only=False))
    r2.apply(MapExpansion(top_level_only=False))
    assert q2.to_json() == r2.to_json() and p.to_json() == before


def test_parameter_types_cover_literals_and_fixed_tuples():
    from dataclasses import dataclass
    from typing import Literal, Optional

    from flowc.transforms import Transformation

    @dataclass(frozen=True)
    class _Probe(Transformation):          # a leading underscore: not registered
        order: tuple[int, str] = (0, "a")
        kind: Literal["rows", "cols"] = "rows"
        scale: Optional[float] = None

        def candidates(self, program):
            return iter(())

        def rewrite(self, program, match, plan):
            pass

    assert _Probe(order=[1, "b"], scale=2).params() == {"order": [1, "b"], "kind": "rows", "scale": 2.0}
    with pytest.raises(ValueError, match="2 items"):
        _Probe(order=(1,))
    with pytest.raises(TypeError, match=r"order\[1\]"):
        _Probe(order=(1, 2))
    with pytest.raises(ValueError, match="'rows', 'cols'"):
        _Probe(kind="diag")
    assert "_Probe" not in Transformation.registry


def test_clone_shares_key_dicts_between_successors_and_predecessors():
    # a parallel edge added to a clone must count in both directions: separate key dicts made
    # in_degree miss the second t1 -> MatMul edge EpilogueFusion adds (auto_optimize of a matmul
    # whose left operand also feeds its epilogue crashed in the topological sort)
    import networkx as nx
    import numpy as np

    import flowc

    N, M = flowc.symbol("N"), flowc.symbol("M")

    def f(a: flowc.float32[1, M], b: flowc.float32[N, 1]):
        t1 = -np.cosh(a)
        return np.power(np.matmul(b, t1), np.ceil(t1))

    prog = flowc.program(f, auto_optimize=True)
    rng = np.random.default_rng()
    for n, m in ((1, 1), (3, 5)):
        a, b = rng.random((1, m), dtype=np.float32), rng.random((n, 1), dtype=np.float32)
        np.testing.assert_allclose(prog(a, b), f(a, b), rtol=1e-5)
    clone = prog.to_ir().clone()
    for state in clone.states():
        g = state.graph
        for u, v in list(g.edges()):
            assert g._succ[u][v] is g._pred[v][u]
        u, v = next(iter(g.edges()))
        g.add_edge(u, v)
        assert g.in_degree(v) == sum(len(g._succ[w][v]) for w in g.predecessors(v))
        list(nx.lexicographical_topological_sort(g, key=lambda node: node.id))
