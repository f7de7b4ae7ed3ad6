"""MapInterchange (loop order): semantics preserved on several programs at several sizes,
the unit-stride choice, refusals where a range depends on a parameter moved inside it, and
replay of the recorded step."""

import numpy as np
import pytest

import flowc
from flowc import ir
from flowc.api import compile_program
from flowc.transforms import MapInterchange
from flowc.transforms.base import replay

N, K = flowc.symbol("N"), flowc.symbol("K")


def tri_rows(A: flowc.float64[N, N], B: flowc.float64[N, K]):
    out = np.zeros((A.shape[0], B.shape[1]))
    for i in range(A.shape[0]):
        out[i] = A[i, i:] @ B[i:, :]
    return out


def column_sums(A: flowc.float64[N, K]):
    out = np.zeros((A.shape[1],))
    for j, i in flowc.map[0:K, 0:N]:
        out[j] += A[i, j] * 2.0
    return out


def stencil(A: flowc.float32[N, K]):
    out = np.zeros(A.shape, dtype=np.float32)
    for j, i in flowc.map[1:K - 1, 0:N]:
        out[i, j] = A[i, j - 1] + A[i, j + 1] - 2 * A[i, j]
    return out


def _inputs(func, rng, n, k):
    if func is tri_rows:
        return rng.standard_normal((n, n)), rng.standard_normal((n, k))
    dtype = np.float32 if func is stencil else np.float64
    return (rng.standard_normal((n, k)).astype(dtype),)


def _stencil_ref(A):
    out = np.zeros_like(A)
    out[:, 1:-1] = A[:, :-2] + A[:, 2:] - 2 * A[:, 1:-1]
    return out


REFERENCES = {tri_rows: tri_rows, column_sums: lambda A: 2.0 * A.sum(axis=0), stencil: _stencil_ref}


@pytest.mark.parametrize("func", [tri_rows, column_sums, stencil])
def test_the_unit_stride_order_preserves_results(rng, func):
    program = flowc.program(func).to_ir()
    applied = MapInterchange().apply_everywhere(program)
    assert applied, "no map changed its loop order"
    compiled = compile_program(program)
    for n, k in ((1, 3), (7, 5), (64, 33), (300, 16)):
        args = _inputs(func, rng, n, k)
        np.testing.assert_allclose(compiled(*args), REFERENCES[func](*args), rtol=1e-5, atol=1e-5)


def test_the_parameter_walking_memory_contiguously_goes_innermost():
    program = flowc.program(column_sums).to_ir()
    (match,) = [m for m in MapInterchange().matches(program)]
    state, (entry,) = MapInterchange.resolve(program, match)
    before = list(entry.map.params)
    MapInterchange().apply(program, match)
    assert entry.map.params == before[::-1]            # j (A's and out's unit stride) now inside i
    assert "loop order already" in MapInterchange().why_not(program, match)


def test_an_explicit_order_and_its_refusals():
    program = flowc.program(stencil).to_ir()
    match = MapInterchange(order=(1, 0)).matches(program)[-1]
    with pytest.raises(ValueError, match="permutation"):
        MapInterchange(order=(0, 0))
    assert "2 parameters" in MapInterchange(order=(2, 0, 1)).why_not(program, match)
    # a triangle: j's range starts at i, so i stays outside j
    tri = ir.Program("triangle")
    tri.add_array("A", ["N", "N"], ir.float64)
    tri.add_array("out", ["N", "N"], ir.float64)
    tri.add_state("main").add_mapped_tasklet("t", {"i": "0:N", "j": "i:N"}, {"a": "A[i, j]"}, "o = a * 2.0",
                                             {"o": "out[i, j]"})
    (m,) = MapInterchange(order=(1, 0)).candidates(tri)
    assert "would become an inner loop" in MapInterchange(order=(1, 0)).why_not(tri, m)


def test_the_step_is_recorded_and_replays_to_the_same_ir():
    program = flowc.program(tri_rows).to_ir()
    lowered = program.to_json()
    MapInterchange().apply_everywhere(program)
    again = ir.from_json(lowered)
    replay(again, program.history)
    assert again.to_json() == program.to_json()


def test_no_parallel_loop_runs_over_a_summed_parameter():
    # after the interchange tri_rows' nest is (i0, i2, i1) and i2 is summed over: the parallel
    # loop collapses only i0, so no two threads accumulate into one element (no atomics)
    from flowc.codegen.cpp import generate_cpp

    program = flowc.program(tri_rows).to_ir()
    MapInterchange().apply_everywhere(program)
    source = generate_cpp(program).source
    nest = next(part for part in source.split("// state ") if "i2 < (N + (-1 * i))" in part)
    assert "#pragma omp parallel for schedule(static)\n" in nest
    assert "collapse" not in nest and "atomic" not in nest


def loop_sums(A: flowc.float64[N, K], T: flowc.int64):
    out = np.zeros((A.shape[1],))
    for t in range(T):
        for j, i in flowc.map[0:K, 0:N]:
            out[j] += A[i, j] * (t + 1.0)
    return out


def _serial_nest(source: str, marker: str) -> list[str]:
    """The loop variables of the one-thread branch (``} else {``) of the nest containing ``marker``."""
    part = next(p for p in source.split("// state ") if marker in p)
    serial = part.split("} else {", 1)[1]
    return [line.split("int64_t ")[1].split(" ")[0] for line in serial.splitlines()
            if line.strip().startswith("for (int64_t")][:3]


def test_one_thread_nests_the_unit_stride_parameter_innermost(rng):
    """Without MapInterchange, a map inside a loop that stays on one thread (below the parallel
    threshold) runs with its unit-stride parameter innermost; the parallel branch keeps the IR's
    order (which loops run in parallel is the search's choice). Results match NumPy."""
    from flowc.codegen.cpp import generate_cpp

    source = generate_cpp(flowc.program(tri_rows).to_ir()).source
    assert _serial_nest(source, "i2 < (N + (-1 * i))")[-1] == "i1_2"        # B[i + i2, i1]: i1 walks B
    source = generate_cpp(flowc.program(loop_sums).to_ir()).source
    assert _serial_nest(source, "zeros[j] = ")[-1] == "j"               # A[i, j] and out[j]: j walks both
    plain_tri, plain_sums = flowc.program(tri_rows), flowc.program(loop_sums)
    for n, k in ((1, 3), (7, 5), (64, 33), (300, 16)):
        a, b = rng.standard_normal((n, n)), rng.standard_normal((n, k))
        np.testing.assert_allclose(plain_tri(a, b), tri_rows(a, b), rtol=1e-10, atol=1e-10)
        a = rng.standard_normal((n, k))
        np.testing.assert_allclose(plain_sums(a, 3), 6.0 * a.sum(axis=0), rtol=1e-10, atol=1e-10)


def test_one_thread_keeps_an_order_the_ranges_need():
    """j's range starts at i: i stays outside j on one thread too, though j has no unit stride."""
    from flowc.codegen.cpp import CppGenerator

    tri = ir.Program("triangle_columns")
    tri.add_array("A", ["N", "N"], ir.float64)
    tri.add_array("out", ["N", "N"], ir.float64)
    st = tri.add_state("main")
    st.add_mapped_tasklet("t", {"j": "0:N", "i": "j:N"}, {"a": "A[i, j]"}, "o = a * 2.0", {"o": "out[i, j]"})
    (entry,) = [n for n in st.nodes() if isinstance(n, ir.MapEntry)]
    generator = CppGenerator(tri, "scipy_", False)
    assert generator._serial_loop_order(st, entry, st.scope_dict()) == (0, 1)
    tri.add_array("C", ["N", "N"], ir.float64)
    st2 = tri.add_state("free")
    st2.add_mapped_tasklet("t2", {"j": "0:N", "i": "0:N"}, {"a": "A[i, j]"}, "o = a * 2.0", {"o": "C[i, j]"})
    (entry2,) = [n for n in st2.nodes() if isinstance(n, ir.MapEntry)]
    assert generator._serial_loop_order(st2, entry2, st2.scope_dict()) == (1, 0)
