"""Assignment at data-dependent indices (issue 9: scatter): ``counts[x[i]] += 1`` and
``out[k] = v`` with ``k`` computed from data, in sequential code, checked against the
undecorated function run by NumPy on fresh inputs at several sizes; NumPy's index rules
(negative from the end, out of bounds an IndexError) and its scalar assignment casts."""

import numpy as np
import pytest

import flowc
import flowc.ir as ir
from flowc import FrontendError

from fe_helpers import rand, run_both, with_symbols

N, K = flowc.symbol("N"), flowc.symbol("K")


@flowc.program
def histogram(x: flowc.int64[N], counts: flowc.float64[K]):
    for i in range(N):
        counts[x[i]] += 1.0


@flowc.program
def accumulate_by_key(keys: flowc.int32[N], v: flowc.float32[N], out: flowc.float32[K]):
    for i in range(N):
        k = keys[i]
        out[k] = out[k] + v[i] * 2.0


@flowc.program
def row_argmax_marks(a: flowc.float64[N, K], marks: flowc.int64[N, K], hits: flowc.int64[K]):
    for i in range(N):
        j = np.argmax(a[i, :])
        marks[i, j] = i + 1
        hits[j] += 1


@flowc.program
def truncating_store(x: flowc.int64[N], v: flowc.float64[N], out: flowc.int64[K]):
    for i in range(N):
        out[x[i]] = v[i] * 2.5


@flowc.program
def histogram_map(x: flowc.int64[N], w: flowc.float64[N], counts: flowc.float64[K], n: flowc.int64[K]):
    for i in flowc.map[0:N]:
        if w[i] > -0.5:
            counts[x[i]] += w[i]
            n[x[i]] += 1


@flowc.program
def signed_updates_map(x: flowc.int32[N], w: flowc.float32[N], acc: flowc.float64[K], scale: flowc.float64[K]):
    for i in flowc.map[0:N]:
        k = x[i] % K
        acc[k] -= w[i]
        scale[K - 1 - k] *= 1.0 + 0.001 * w[i]


CASES = {
    "histogram": (histogram, lambda rng, n, k: (rng.integers(-k, k, n), rand(rng, k))),
    "accumulate_by_key": (accumulate_by_key, lambda rng, n, k: (rng.integers(0, k, n).astype(np.int32),
                                                                 rand(rng, n, np.float32), rand(rng, k, np.float32))),
    "row_argmax_marks": (row_argmax_marks, lambda rng, n, k: (rand(rng, (n, k)), rand(rng, (n, k), np.int64),
                                                               rand(rng, k, np.int64))),
    "truncating_store": (truncating_store, lambda rng, n, k: (rng.integers(0, k, n), rand(rng, n, low=-4, high=4),
                                                               rand(rng, k, np.int64))),
    "histogram_map": (histogram_map, lambda rng, n, k: (rng.integers(-k, k, n), rand(rng, n), rand(rng, k),
                                                         rand(rng, k, np.int64))),
    "signed_updates_map": (signed_updates_map, lambda rng, n, k: (rng.integers(-50, 50, n).astype(np.int32),
                                                                   rand(rng, n, np.float32), rand(rng, k),
                                                                   rand(rng, k))),
}


def _histogram_loop(x, w, counts, n):
    for i in range(len(x)):
        if w[i] > -0.5:
            counts[x[i]] += w[i]
            n[x[i]] += 1


def _signed_updates_loop(x, w, acc, scale):
    k_all = len(acc)
    for i in range(len(x)):
        k = x[i] % k_all
        acc[k] -= w[i]
        scale[k_all - 1 - k] *= 1.0 + 0.001 * w[i]


#: the flowc.map bodies as sequential loops (what the undecorated function runs, element by element)
MAP_REFERENCES = {"histogram_map": _histogram_loop, "signed_updates_map": _signed_updates_loop}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scatter_matches_numpy(rng, name):
    prog, make = CASES[name]
    # the largest size runs the maps on the thread pool (atomic updates from several threads)
    for n, k in ((1, 1), (5, 3), (200, 17), (60000, 7)):
        if n > 1000 and name not in MAP_REFERENCES:
            continue
        ref = MAP_REFERENCES.get(name) or with_symbols(prog.func, N=n, K=k)
        run_both(prog, *make(rng, n, k), ref=ref)


def test_the_store_is_explicit_in_the_ir():
    program = histogram.to_ir()
    stores = [n for _, n in program.all_nodes() if isinstance(n, ir.Tasklet) and n.code.stored()]
    assert len(stores) == 1 and str(stores[0].code).startswith("_out[")
    again = ir.from_json(program.to_json())
    assert again.to_json() == program.to_json()


def test_an_index_out_of_bounds_is_an_index_error(rng):
    x = np.array([0, 2, 5], dtype=np.int64)                # 5 is past the end of counts[3]
    counts = rand(rng, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        histogram(x, counts)


def test_scatter_through_an_index_array_and_whole_rows_are_refused():
    @flowc.program
    def through_array(idx: flowc.int64[N], v: flowc.float64[N], out: flowc.float64[K]):
        out[idx] = v

    @flowc.program
    def whole_row(x: flowc.int64[N], v: flowc.float64[K], out: flowc.float64[K, K]):
        for i in range(N):
            out[x[i]] = v
    @flowc.program
    def racing_store(x: flowc.int64[N], v: flowc.float64[N], out: flowc.float64[K]):
        for i in flowc.map[0:N]:
            out[x[i]] = v[i]
    with pytest.raises(FrontendError, match="integer-array index"):
        through_array.to_ir()
    with pytest.raises(FrontendError, match="one element"):
        whole_row.to_ir()
    with pytest.raises(FrontendError, match=r"\+=, -= or \*=") as info:
        racing_store.to_ir()
    assert "out[x[i]] = v[i]" in str(info.value)


@pytest.mark.parametrize("code,why", [
    ("_out[_in0] = 1.0; _out = 2.0", "without an index"),
    ("_out[_in0, _in0] = 1.0", "indices"),
    ("_in0[_in0] = 1.0", "not an output connector"),
])
def test_malformed_stores_fail_validation(code, why):
    p = ir.Program("bad")
    p.add_array("k", [1], ir.int64)
    p.add_array("out", ["N"], ir.float64)
    st = p.add_state()
    t = st.add_tasklet("t", ["_in0"], ["_out"], code)
    st.add_edge(st.add_access("k"), None, t, "_in0", ir.Memlet.parse("k[0]"))
    st.add_edge(t, "_out", st.add_access("out"), None, ir.Memlet.parse("out[0:N]"))
    with pytest.raises(ir.IRError, match=why):
        p.validate()
