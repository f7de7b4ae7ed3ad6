"""The transformation framework a search drives: map connectors and matches with real fields,
one contract for every transformation, a replayable history, and a cheap program copy."""

import copy

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
