"""Transformations preserve semantics (checked against NumPy on fresh random inputs,
several programs, several sizes) and refuse where rewriting would be wrong."""

import copy

import numpy as np
import pytest
from builder_programs import ALL, chain, elementwise, layernorm, softmax

import flowc
import flowc.ir as ir
from flowc.transforms import (LocalStorage, MapExpansion, MapFusion, NormalizationFusion, auto_optimize,
                              expand_library_nodes)


def run(program, *args, **syms):
    return flowc.compile_program(program)(*args, **syms)


def apply_validated(program, transformation):
    applied = program.apply(transformation)
    program.validate()
    return applied


def check_same(program, transformed, reference, inputs, sizes=((3, 5), (40, 33)), tol=2e-5):
    plain = flowc.compile_program(program)
    fast = flowc.compile_program(transformed)
    rng = np.random.default_rng()
    for n, m in sizes:
        args, syms = inputs(rng, n, m)
        want = reference(*args, **syms)
        for compiled in (plain, fast):
            if program.returns:
                got = compiled(*args, **syms)
            else:                                   # an in-place program: its first argument is the result
                fresh = [a.copy() for a in args]
                compiled(*fresh, **syms)
                got = fresh[0]
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ---------------------------------------------------------------- map fusion

def chain_inputs(rng, n, m):
    return (rng.standard_normal((n, n), dtype=np.float32),), {}


def test_map_fusion_removes_elementwise_intermediate():
    p = chain()
    q = copy.deepcopy(p)
    assert len(apply_validated(q, MapFusion)) == 1
    assert len(apply_validated(q, LocalStorage)) == 1
    assert isinstance(q.data["T"], ir.Scalar)
    assert q.history[0]["transformation"] == "MapFusion"
    before, after = p.data_movement(N=64), q.data_movement(N=64)
    assert after["total"] == before["total"] - 2 * 64 * 64 * 4      # T written once and read once, no more
    check_same(p, q, lambda x: np.exp(x * 2 + 1) - x, chain_inputs)


def test_map_fusion_keeps_intermediate_that_others_read():
    p = chain(extra_reader=True)
    q = copy.deepcopy(p)
    assert len(apply_validated(q, MapFusion)) == 2           # both consumers fuse, T written out once
    assert not LocalStorage().matches(q) or isinstance(q.data["T"], ir.Array)

    def reference(x):
        t = x * 2 + 1
        return np.exp(t) - x, t * t
    plain, fast = flowc.compile_program(p), flowc.compile_program(q)
    rng = np.random.default_rng()
    for n in (4, 37):
        x = rng.standard_normal((n, n), dtype=np.float32)
        for got in (plain(x), fast(x)):
            for g, w in zip(got, reference(x)):
                np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("index,why", [("j, i", "reads"), ("i, Min(j + 1, N - 1)", "reads")])
def test_map_fusion_refuses_non_local_reads(index, why):
    """A transposed or shifted read needs values another iteration produces."""
    p = chain(consumer_index=index)
    m = MapFusion().candidates(p)
    match = next(m)
    assert not MapFusion().can_apply(p, match)
    assert why in MapFusion().why_not(p, match)
    assert p.apply(MapFusion) == []


def test_map_fusion_refuses_caller_visible_intermediate():
    p = chain(transient=False)
    assert MapFusion().matches(p) == []


def test_map_fusion_refuses_different_ranges():
    p = ir.Program("ranges")
    p.add_array("x", ["N"], ir.float64)
    p.add_transient("T", ["N"], ir.float64)
    p.add_array("y", ["N"], ir.float64)
    st = p.add_state()
    _, _, x1 = st.add_mapped_tasklet("a", {"i": "0:N"}, {"v": "x[i]"}, "o = v + 1.0", {"o": "T[i]"})
    t = next(e.dst for e in st.out_edges(x1))
    st.add_mapped_tasklet("b", {"i": "1:N"}, {"v": "T[i]"}, "o = v * 3.0", {"o": "y[i]"}, input_nodes={"T": t})
    assert MapFusion().matches(p) == []


def test_map_fusion_refuses_write_after_read_hazard():
    """The consumer overwrites an input the producer still reads in other iterations."""
    p = ir.Program("hazard")
    p.add_array("x", ["N"], ir.float64)
    p.add_transient("T", ["N"], ir.float64)
    st = p.add_state()
    xin = st.add_access("x")
    _, _, x1 = st.add_mapped_tasklet("a", {"i": "0:N"}, {"v": "x[0:N]"}, "o = v[N - 1 - i]", {"o": "T[i]"},
                                     input_nodes={"x": xin})
    t = next(e.dst for e in st.out_edges(x1))
    st.add_mapped_tasklet("b", {"i": "0:N"}, {"v": "T[i]"}, "o = v * 2.0", {"o": "x[i]"}, input_nodes={"T": t})
    assert MapFusion().matches(p) == []
    rng = np.random.default_rng()
    x = rng.standard_normal(9)
    want = x[::-1] * 2
    run(p, x)
    np.testing.assert_allclose(x, want)


def test_map_fusion_consumer_reads_producer_input_through_another_node():
    """Both maps read x, each through its own access node: fusing the rows gives the
    consumer's x its own row-level connector (x_1), and fusing the columns must keep it
    rather than share the producer's x connector of the same entry (that left IN_x_1
    without its OUT_x_1 and the program failed validation)."""
    N, M = flowc.symbol("N"), flowc.symbol("M")

    @flowc.program
    def negate_then_add(x: flowc.float64[N, M]):
        t = -x
        return t + x * 2.0

    p = negate_then_add.to_ir()
    q = copy.deepcopy(p)
    auto_optimize(q)
    q.validate()
    assert sum(h["transformation"] == "MapFusion" for h in q.history) == 2
    assert isinstance(q.data["t"], ir.Scalar)
    check_same(p, q, lambda x: -x + x * 2.0,
               lambda rng, n, m: ((rng.standard_normal((n, m)),), {}), sizes=((3, 5), (40, 33), (1, 7)))


def test_map_fusion_keeps_producer_ordering_edges():
    """The producer's exit closes a dangling node (an empty edge in) and orders a later
    overwrite of its input (an empty edge out); both must survive on the fused exit. The
    overwrite's map comes first in node order, so without the edge it ran first."""
    p = ir.Program("ordered")
    p.add_array("x", ["N"], ir.float64)
    p.add_transient("T", ["N"], ir.float64)
    p.add_scalar("s", ir.float64, transient=True)
    p.add_array("y", ["N"], ir.float64)
    p.add_return("y")
    st = p.add_state()
    ce, cx = st.add_map("overwrite", {"k": "0:N"})
    ct = st.add_tasklet("overwrite", [], ["o"], "o = 0.5")
    st.add_edge(ce, None, ct, None, ir.Memlet.empty())
    st.add_memlet_path(ct, cx, st.add_access("x"), memlet=ir.Memlet.parse("x[k]"), src_conn="o")
    e1, _, x1 = st.add_mapped_tasklet("a", {"i": "0:N"}, {"v": "x[i]"}, "o = v + 1.0", {"o": "T[i]"})
    dangling = st.add_tasklet("unused", [], ["o"], "o = 2.0")
    st.add_edge(e1, None, dangling, None, ir.Memlet.empty())
    sn = st.add_access("s")
    st.add_edge(dangling, "o", sn, None, ir.Memlet.parse("s"))
    st.add_edge(sn, None, x1, None, ir.Memlet.empty())
    st.add_nedge(x1, ce)
    t = next(e.dst for e in st.out_edges(x1) if not e.memlet.is_empty)
    st.add_mapped_tasklet("b", {"j": "0:N"}, {"v": "T[j]"}, "o = v * 3.0", {"o": "y[j]"}, input_nodes={"T": t})
    p.validate()
    q = copy.deepcopy(p)
    assert len(apply_validated(q, MapFusion)) == 1
    rng = np.random.default_rng()
    for n in (5, 40):
        x = rng.standard_normal(n)
        for program in (p, q):
            xx = x.copy()
            np.testing.assert_allclose(run(program, xx), (x + 1) * 3)
            np.testing.assert_allclose(xx, 0.5)


# ---------------------------------------------------------------- expansion / local storage

def test_map_expansion_preserves_semantics():
    p, reference, inputs = elementwise()
    q = copy.deepcopy(p)
    assert len(apply_validated(q, MapExpansion)) == 1
    assert sum(isinstance(n, ir.MapEntry) for _, n in q.all_nodes()) == 2
    check_same(p, q, reference, inputs)


def test_local_storage_refuses_transient_used_in_two_states():
    p = ir.Program("two_states")
    p.add_array("x", ["N"], ir.float64)
    p.add_transient("T", ["N"], ir.float64)
    p.add_array("y", ["N"], ir.float64)
    s1 = p.add_state()
    s1.add_mapped_tasklet("a", {"i": "0:N"}, {"v": "x[i]"}, "o = v + 1.0", {"o": "T[i]"})
    s2 = p.add_state()
    s2.add_mapped_tasklet("b", {"i": "0:N"}, {"v": "T[i]"}, "o = v * 3.0", {"o": "y[i]"})
    assert LocalStorage().matches(p) == []


# ---------------------------------------------------------------- normalization fusion

@pytest.mark.parametrize("factory", [softmax, layernorm])
def test_normalization_fusion_one_pass_per_row(factory):
    p, reference, inputs = factory()
    q = copy.deepcopy(p)
    assert NormalizationFusion().matches(q)
    apply_validated(q, NormalizationFusion)
    top_maps = [n for st in q.states() for n, s in st.scope_dict().items() if isinstance(n, ir.MapEntry) and s is None]
    assert len(top_maps) == 1, "the whole chain is one kernel"
    big = [n for n, d in q.data.items() if d.transient and isinstance(d, ir.Array) and d.ndim == 2]
    assert big == [], f"no full-size intermediate survives: {big}"
    sizes = dict(N=256, M=128, E=128)
    assert q.data_movement(**sizes)["total"] < p.data_movement(**sizes)["total"]
    check_same(p, q, reference, inputs, tol=1e-4)


def test_normalization_fusion_refuses_reduction_across_rows():
    """Column sums are not row-local: nothing fuses across them."""
    p = ir.Program("colnorm")
    p.add_array("x", ["N", "M"], ir.float32)
    p.add_transient("s", [1, "M"], ir.float32)
    p.add_array("y", ["N", "M"], ir.float32)
    p.add_return("y")
    st = p.add_state()
    xn = st.add_access("x")
    r = st.add_library(ir.Reduce("colsum", "sum", [0]))
    st.add_edge(xn, None, r, "_in", "x")
    sn = st.add_access("s")
    st.add_edge(r, "_out", sn, None, "s")
    st.add_mapped_tasklet("div", {"i": "0:N", "j": "0:M"}, {"a": "x[i, j]", "b": "s[0, j]"}, "o = a / b",
                          {"o": "y[i, j]"}, input_nodes={"x": xn, "s": sn})
    assert NormalizationFusion().matches(p) == []
    q = copy.deepcopy(p)
    auto_optimize(q)
    q.validate()
    assert "s" in q.data and isinstance(q.data["s"], ir.Array) and q.data["s"].shape[1] != 1
    check_same(p, q, lambda x: x / x.sum(axis=0, keepdims=True),
               lambda rng, n, m: ((rng.uniform(0.5, 1.5, (n, m)).astype(np.float32),), {}), tol=1e-5)


# ---------------------------------------------------------------- the pipeline on every builder program

@pytest.mark.parametrize("name", sorted(ALL))
def test_auto_optimize_preserves_every_builder_program(name):
    program, reference, inputs = ALL[name]()
    q = copy.deepcopy(program)
    auto_optimize(q)
    q.validate()
    assert ir.from_json(q.to_json()).to_json() == q.to_json()
    if inputs is None:          # in-place programs are covered by their own tests
        flowc.compile_program(q)
        return
    check_same(program, q, reference, inputs, tol=1e-4)


def test_history_round_trips_through_json():
    p, _, _ = softmax()
    expand_library_nodes(p)
    p.apply(MapExpansion)
    p.apply(MapFusion)
    kinds = [h["transformation"] for h in p.history]
    assert kinds[:3] == ["LibraryExpansion", "LibraryExpansion", "MapExpansion"]
    assert ir.from_json(p.to_json()).history == p.history


# ---------------------------------------------------------------- layout selection

def test_layout_selection_turns_head_merge_copy_into_a_view():
    from builder_programs import head_merge

    from flowc.transforms import LayoutSelection
    p, reference, inputs = head_merge()
    q = copy.deepcopy(p)
    assert len(apply_validated(q, LayoutSelection)) == 1
    assert q.data["D"].view_of == "C"
    assert not any(isinstance(n, ir.MapEntry) and n.map.label == "merge" for _, n in q.all_nodes())
    sizes = dict(B=2, H=3, L=64, P=16)
    saved = 2 * 2 * 3 * 64 * 16 * 4
    assert q.data_movement(**sizes)["total"] == p.data_movement(**sizes)["total"] - saved
    check_same(p, q, reference, inputs, tol=1e-4)


@pytest.mark.parametrize("variant", [dict(code="o = a * 2.0f"), dict(out_returned=True), dict(extra_reader=True),
                                     dict(order=(0, 2, 3, 1))])
def test_layout_selection_refuses(variant):
    """Not a pure permutation; the copy's result visible to the caller; another reader of the
    intermediate; a layout the GEMM cannot write (the permuted result's rows would not be contiguous)."""
    from builder_programs import head_merge

    from flowc.transforms import LayoutSelection
    p, _, _ = head_merge(**variant)
    assert LayoutSelection().matches(p) == []


N_, M_, B_ = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("B")


def _copy_target_written_before(x: flowc.float32[N_, M_], y: flowc.float32[M_, N_]):
    d = y + 1.0
    c = x * 2.0
    s = d * 3.0          # reads d's first value after c is written
    d[:] = c.T
    return d + s


def test_layout_selection_refuses_copy_target_written_elsewhere():
    """d holds a value before the transposing copy overwrites it; as a view of c, that value
    would live in c's memory and be clobbered when c is produced."""
    from flowc import frontend
    from flowc.transforms import LayoutSelection
    p = frontend.lower(_copy_target_written_before)
    assert LayoutSelection().matches(p) == []
    q = copy.deepcopy(p)
    auto_optimize(q)
    q.validate()
    check_same(p, q, lambda x, y: (x * 2).T + (y + 1) * 3,
               lambda rng, n, m: ((rng.standard_normal((n, m), dtype=np.float32),
                                   rng.standard_normal((m, n), dtype=np.float32)), {}))


def _gemm_then_merge_in_a_later_state(x: flowc.float32[B_, N_, N_], y: flowc.float32[N_, N_]):
    c = x @ y
    z = y * 2.0
    for t in range(2):                   # control flow: the copy lands in another state
        z[t % N_, 0] = 3.0
    d = c.transpose(1, 0, 2).reshape(N_, B_ * N_)
    return d + 1.0, z


def test_layout_selection_with_gemm_producer_in_another_state():
    """The GEMM is checked in its own state (it crashed when looked up in the copy's)."""
    from flowc import frontend
    from flowc.transforms import LayoutSelection
    p = frontend.lower(_gemm_then_merge_in_a_later_state)
    q = copy.deepcopy(p)
    assert len(apply_validated(q, LayoutSelection)) == 1

    def reference(x, y):
        z = y * 2
        z[0, 0] = 3
        z[1 % len(y), 0] = 3
        return (x @ y).transpose(1, 0, 2).reshape(len(y), -1) + 1, z

    for program in (p, q):
        compiled = flowc.compile_program(program)
        rng = np.random.default_rng()
        for b, n in ((2, 3), (3, 17), (1, 1)):
            x, y = rng.standard_normal((b, n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
            for got, want in zip(compiled(x, y), reference(x, y)):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_layout_selection_refuses_converting_copy():
    """D = float64(C) transposed is no view of C."""
    from builder_programs import head_merge

    from flowc.transforms import LayoutSelection
    p, _, _ = head_merge()
    p.data["D"].dtype = ir.float64
    assert LayoutSelection().matches(p) == []


# ---------------------------------------------------------------- tiling

@pytest.mark.parametrize("tile,dims", [(4, None), (7, [0]), (16, [-1]), (3, [0, -2])])
def test_map_tiling_preserves_semantics(tile, dims):
    from flowc.transforms import MapTiling
    p, reference, inputs = elementwise()
    q = copy.deepcopy(p)
    assert len(apply_validated(q, MapTiling(tile=tile, dims=dims))) == 1
    assert q.history[-1]["params"] == {"tile": tile, "dims": dims}
    check_same(p, q, reference, inputs, sizes=((3, 5), (17, 64), (64, 33)))


def test_map_tiling_refuses_accumulation_into_memory():
    """Tiling would reorder a floating-point accumulation into an array."""
    from flowc.transforms import MapTiling
    p = ir.Program("colsum")
    p.add_array("x", ["N", "M"], ir.float64)
    p.add_array("s", ["M"], ir.float64)
    st = p.add_state()
    st.add_mapped_tasklet("acc", {"i": "0:N", "j": "0:M"}, {"a": "x[i, j]"}, "o = a",
                          {"o": ir.Memlet.parse("s[j]", wcr="sum")})
    assert MapTiling(tile=8).matches(p) == []
    with pytest.raises(ValueError):
        MapTiling(tile=0)


# ---------------------------------------------------------------- the BERT layer

def test_auto_optimize_on_bert_layer_removes_the_normalization_traffic():
    """On the encoder layer as the frontend lowers it: the head-merge copy becomes a view and every
    softmax/layernorm chain becomes one kernel, so ~40% of the bytes moved disappear; the result
    still matches NumPy."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "samples"))
    from bert_encoder import encoder_layer, make_inputs, numpy_layer

    from flowc import frontend
    p = frontend.lower(encoder_layer)
    q = copy.deepcopy(p)
    applied = auto_optimize(q)
    q.validate()
    kinds = {m.transformation for m in applied}
    assert {"LayoutSelection", "MapExpansion", "MapFusion", "LocalStorage"} <= kinds
    sizes = dict(B=8, L=128, H=12, P=64, U=3072)
    before, after = p.data_movement(**sizes)["total"], q.data_movement(**sizes)["total"]
    assert after < 0.65 * before, (before, after)
    # every remaining full-size intermediate is a GEMM operand or result
    rng = np.random.default_rng()
    dims = dict(B=2, L=16, H=2, P=8)
    inputs = make_inputs(rng, **dims)
    got = flowc.compile_program(q)(*inputs, H=2, P=8)
    np.testing.assert_allclose(got, numpy_layer(*inputs, H=2, P=8), rtol=1e-4, atol=1e-4)


def _two_softmaxes(a: flowc.float32[N_, M_], b: flowc.float32[N_, M_]):
    ea = np.exp(a - np.max(a, axis=-1, keepdims=True))
    eb = np.exp(b - np.max(b, axis=-1, keepdims=True))
    return ea / np.sum(ea, axis=-1, keepdims=True), eb / np.sum(eb, axis=-1, keepdims=True)


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_normalization_fusion_applies_only_at_its_match():
    """Applied at one softmax's reduction, it fuses that softmax's chain and leaves the other's
    reductions and maps as they were; applied everywhere, both fuse. Either way the results
    still match NumPy."""
    from flowc import frontend
    p = frontend.lower(_two_softmaxes)
    q = copy.deepcopy(p)
    found = NormalizationFusion().matches(q)
    assert len(found) == 4                     # max and sum of each softmax
    state, (node,) = NormalizationFusion.resolve(q, found[0])
    reads = node.operands(state)[0]
    assert reads in ("a", "b")
    q.apply(NormalizationFusion, found[0])
    q.validate()
    assert len(q.history) == 1 and q.history[0]["transformation"] == "NormalizationFusion"
    left = [n for _, n in q.all_nodes() if isinstance(n, ir.Reduce)]
    assert len(left) == 2, "the other softmax's max and sum are untouched"
    other = "b" if reads == "a" else "a"
    st = next(q.states())
    assert any(n.op == "max" and n.operands(st)[0] == other for n in left)
    top = [n for n, s in st.scope_dict().items() if isinstance(n, ir.MapEntry) and s is None]
    assert len(top) >= 3, "one fused kernel plus the other softmax's separate maps"
    r = copy.deepcopy(p)
    r.apply(NormalizationFusion)
    r.validate()
    assert not [n for _, n in r.all_nodes() if isinstance(n, ir.Reduce)]
    assert len(r.history) == 2                 # one per softmax; their other reductions went with them
    for program in (p, q, r):
        compiled = flowc.compile_program(program)
        rng = np.random.default_rng()
        for n, m in ((1, 1), (3, 5), (17, 130)):
            a, b = (rng.standard_normal((n, m), dtype=np.float32) * 3 for _ in range(2))
            for got, want in zip(compiled(a, b), (_np_softmax(a), _np_softmax(b))):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    from flowc.transforms import replay
    assert replay(frontend.lower(_two_softmaxes), q.history).to_json() == q.to_json()


def test_normalization_fusion_in_a_program_with_several_states():
    """The BERT layer lowers to several states; the chain's sub-steps (expansion, fusion, local
    storage) look for matches in every state and must keep to the reduction's own. Before the
    fix, applying NormalizationFusion at any of the layer's reductions raised ("map exit ... has no
    matching map entry"): a match of another state was checked against this one."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "samples"))
    from bert_encoder import encoder_layer, make_inputs, numpy_layer

    from flowc import frontend
    from flowc.transforms import replay
    p = frontend.lower(encoder_layer)
    found = NormalizationFusion().matches(p)
    assert len({m.state for m in found}) >= 2
    rng = np.random.default_rng()
    for m in (found[0], found[-1]):                 # the softmax's max and the last layernorm's sum
        q = p.clone()
        q.apply(NormalizationFusion, m)
        q.validate()
        assert [h["transformation"] for h in q.history] == ["NormalizationFusion"]
        assert replay(frontend.lower(encoder_layer), q.history).to_json() == q.to_json()
        compiled = flowc.compile_program(q)
        for dims in (dict(B=2, L=16, H=2, P=8), dict(B=1, L=5, H=3, P=4)):
            inputs = make_inputs(rng, **dims)
            got = compiled(*inputs, H=dims["H"], P=dims["P"])
            np.testing.assert_allclose(got, numpy_layer(*inputs, H=dims["H"], P=dims["P"]), rtol=1e-4, atol=1e-4)
