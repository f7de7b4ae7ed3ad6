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


CASES = {
    "histogram": (histogram, lambda rng, n, k: (rng.integers(-k, k, n), rand(rng, k))),
    "accumulate_by_key": (accumulate_by_key, lambda rng, n, k: (rng.integers(0, k, n).astype(np.int32),
                                                                 rand(rng, n, np.float32), rand(rng, k, np.float32))),
    "row_argmax_marks": (row_argmax_marks, lambda rng, n, k: (rand(rng, (n, k)), rand(rng, (n, k), np.int64),
                                                               rand(rng, k, np.int64))),
    "truncating_store": (truncating_store, lambda rng, n, k: (rng.integers(0, k, n), rand(rng, n, low=-4, high=4),
                                                               rand(rng, k, np.int64))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scatter_matches_numpy(rng, name):
    prog, make = CASES[name]
    for n, k in ((1, 1), (5, 3), (200, 17)):
        run_both(prog, *make(rng, n, k), ref=with_symbols(prog.func, N=n, K=k))


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
    with pytest.raises(FrontendError, match="integer-array index"):
        through_array.to_ir()
    with pytest.raises(FrontendError, match="one element"):
        whole_row.to_ir()


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
