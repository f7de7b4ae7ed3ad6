"""CPU scheduling transformations (MapSchedule, GemmRowBlocks): results unchanged against
NumPy on several programs and sizes, the generated loops say what was chosen, refusals where
the choice means nothing, and the choices survive JSON and replay."""

import json
import subprocess

import numpy as np
import pytest
import sympy

import flowc
import flowc.ir as ir
from flowc.codegen import generate_cpp
from flowc.codegen.cxx_expr import sym_cxx
from flowc.ir.errors import IRError
from flowc.runtime.compiler import BASE_FLAGS
from flowc.transforms import GemmRowBlocks, MapSchedule, auto_optimize, expand_library_nodes, replay

N, M, B = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("B")


@flowc.program
def scaled_softmax(x: flowc.float32[N, M]):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True) * 2.0


@flowc.program
def lower_triangle(a: flowc.float64[N, N], out: flowc.float64[N, N]):
    for i in flowc.map[0:N]:
        for j in flowc.map[0:i + 1]:
            out[i, j] = a[i, j] * a[i, j] + 1.0


@flowc.program
def mlp(x: flowc.float32[N, M], w: flowc.float32[M, M], b: flowc.float32[M]):
    return np.maximum(x @ w + b, 0.0)


@flowc.program
def batched(q: flowc.float64[B, N, M], k: flowc.float64[B, M, N]):
    return q @ k


def _np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True) * 2.0


def _inputs(name, rng, n, m):
    if name == "scaled_softmax":
        x = rng.standard_normal((n, m), dtype=np.float32)
        return (x,), lambda: _np_softmax(x)
    if name == "lower_triangle":
        a, out = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        want = np.where(np.tri(n, dtype=bool), a * a + 1.0, out)
        return (a, out), lambda: want
    if name == "mlp":
        x, w, b = (rng.standard_normal(s, dtype=np.float32) for s in ((n, m), (m, m), (m,)))
        return (x, w, b), lambda: np.maximum(x @ w + b, 0.0)
    q, k = rng.standard_normal((3, n, m)), rng.standard_normal((3, m, n))
    return (q, k), lambda: q @ k


PROGRAMS = {"scaled_softmax": scaled_softmax, "lower_triangle": lower_triangle, "mlp": mlp,
            "batched": batched}


def _check(name, program, sizes=((1, 3), (7, 5), (70, 129))):
    compiled = flowc.compile_program(program)
    rng = np.random.default_rng()
    for n, m in sizes:
        args, want = _inputs(name, rng, n, m)
        got = compiled(*args)
        if got is None:
            got = args[-1]
        np.testing.assert_allclose(got, want(), rtol=2e-5, atol=2e-5)


def _lowered(name, optimize=True):
    p = PROGRAMS[name].to_ir()
    if optimize:
        auto_optimize(p)
    return p


SCHEDULES = [MapSchedule(parallel=False), MapSchedule(threshold=0), MapSchedule(threshold=0, chunk=3),
             MapSchedule(threshold=1 << 40)]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_map_schedule_keeps_results(name, schedule):
    p = _lowered(name, optimize=name != "mlp")     # optimized, mlp's bias and ReLU run inside the GEMM
    applied = p.apply(schedule)
    if name != "batched":                      # batched is one GEMM: no map at all
        assert applied, f"{schedule} found no top-level map in {name}"
    p.validate()
    _check(name, p)


@pytest.mark.parametrize("name", ["mlp", "batched"])
@pytest.mark.parametrize("blocks", [1, 2, 5, 64])
def test_gemm_row_blocks_keep_results(name, blocks):
    p = _lowered(name)
    assert len(p.apply(GemmRowBlocks(row_blocks=blocks))) == 1
    assert p.history[-1]["params"] == {"row_blocks": blocks}
    _check(name, p)


def test_the_generated_loops_say_what_was_chosen():
    p = _lowered("lower_triangle", optimize=False)
    default = generate_cpp(p).source
    assert "schedule(static)" in default and " if (" in default.split("omp parallel for", 1)[1].split("\n")[0]
    (m,) = MapSchedule(threshold=0, chunk=2).matches(p)
    p.apply(MapSchedule(threshold=0, chunk=2), m)
    line = next(ln for ln in generate_cpp(p).source.splitlines() if "omp parallel for" in ln)
    assert "schedule(dynamic, 2)" in line and " if (" not in line
    p.apply(MapSchedule(parallel=False), MapSchedule(parallel=False).matches(p)[0])
    assert "omp parallel" not in generate_cpp(p).source
    q = _lowered("mlp")
    q.apply(GemmRowBlocks(row_blocks=6))
    assert "fc_RB = flowc::size_min(6, fc_M)" in generate_cpp(q).source


def test_refusals_say_why():
    p = _lowered("lower_triangle", optimize=False)
    (m,) = MapSchedule(parallel=False).matches(p)
    p.apply(MapSchedule(parallel=False), m)
    assert "already" in MapSchedule(parallel=False).why_not(p, m)
    with pytest.raises(IRError, match="already"):
        p.apply(MapSchedule(parallel=False), m)
    # nested maps are not top-level: no match there
    state, (entry,) = MapSchedule().resolve(p, m)
    assert all(x.nodes == m.nodes for x in MapSchedule(threshold=0).matches(p))
    # a GPU-scheduled map is the cuda target's
    entry.map.schedule = ir.Schedule.GPU_DEVICE
    assert "GPU" in MapSchedule(threshold=0).why_not(p, m)
    with pytest.raises(ValueError, match="row_blocks"):
        GemmRowBlocks(row_blocks=0)
    with pytest.raises(ValueError, match="chunk"):
        MapSchedule(chunk=0)
    with pytest.raises(ValueError, match="sequential"):
        MapSchedule(parallel=False, chunk=4)
    with pytest.raises(ValueError, match="threshold"):
        MapSchedule(threshold=-1)


def test_gemv_has_no_row_blocks():
    @flowc.program
    def matvec(a: flowc.float64[N, M], x: flowc.float64[M]):
        return a @ x
    p = matvec.to_ir()
    auto_optimize(p)
    cands = list(GemmRowBlocks(row_blocks=4).candidates(p))
    assert cands and "matrix-vector" in GemmRowBlocks(row_blocks=4).why_not(p, cands[0])


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_choices_survive_json_and_replay(name):
    p = _lowered(name)
    p.apply(MapSchedule(threshold=0, chunk=5))
    p.apply(GemmRowBlocks(row_blocks=3))
    text = p.to_json()
    again = ir.from_json(text)
    assert again.to_json() == text
    fresh = replay(PROGRAMS[name].to_ir(), p.history)
    assert fresh.to_json() == text
    _check(name, again, sizes=((4, 6), (33, 17)))


def test_untouched_programs_write_no_schedule_fields():
    """Files written before these fields existed read and write the same."""
    doc = json.loads(_lowered("scaled_softmax").to_json())
    maps = [m for st in _states(doc) for m in st["maps"]]
    assert maps and all("chunk" not in m and "parallel_threshold" not in m for m in maps)


@pytest.mark.parametrize("field,value", [("chunk", 0), ("chunk", "4); system(\"id\""), ("parallel_threshold", -1),
                                         ("parallel_threshold", 1.5), ("parallel_threshold", True)])
def test_hostile_schedule_fields_are_refused(field, value):
    p = _lowered("scaled_softmax")
    doc = json.loads(p.to_json())
    target = next(m for st in _states(doc) for m in st["maps"])
    target[field] = value
    with pytest.raises(IRError, match=field):
        ir.from_json(json.dumps(doc))


@pytest.mark.parametrize("value", [0, -3, "8", 1 << 20])
def test_hostile_row_blocks_are_refused(value):
    p = _lowered("mlp")
    doc = json.loads(p.to_json())
    node = next(n for st in _states(doc) for n in st["nodes"] if n.get("class") == "MatMul")
    node["properties"]["row_blocks"] = value
    with pytest.raises(IRError, match="row_blocks"):
        ir.from_json(json.dumps(doc))


def _states(doc):
    """Every state object of a program's JSON, wherever the control flow nests it."""
    found = []

    def walk(x):
        if isinstance(x, dict):
            if x.get("type") == "state":
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(doc)
    return found


@flowc.program
def escape_counts(c: flowc.complex128[N, N]):
    z = np.zeros_like(c)
    count = np.zeros(c.shape, np.int64)
    for _i in range(12):
        z = z * z + c
        count = count + (np.abs(z) < 2.0)
    return count


def _sizes_shared_by_pointer(source: str, sizes: list[str], tmp_path) -> set[str]:
    """The size parameters GCC passes into OpenMP regions by pointer (its omplower dump shows
    ``.omp_data_o.N = &N;``): those whose address the generated code takes somewhere."""
    src, dump = tmp_path / "k.cpp", tmp_path / "k.omplower"
    src.write_text(source)
    subprocess.run(["g++", *BASE_FLAGS, "-c", str(src), "-o", str(tmp_path / "k.o"),
                    f"-fdump-tree-omplower={dump}"], check=True, capture_output=True)
    text = dump.read_text()
    return {n for n in sizes if f"= &{n};" in text}


def _gemv_then_add(x: flowc.float64[N], a: flowc.float64[N, M], y: flowc.float64[M]):
    return y + 2.0 * (x @ a)


def test_sizes_are_never_taken_by_reference(tmp_path):
    """``std::max`` takes references: a size parameter whose address is taken is shared into every
    OpenMP region by pointer, where any int64 store may alias it, so the loop bound is reloaded
    after each store and the loop does not vectorize (the fused Mandelbrot step under
    auto_optimize ran 5x slower than its two unfused loops). Min and max of sizes, in symbolic
    expressions and in the BLAS emitters' leading dimensions, are by value: checked on GCC's own
    view of the OpenMP regions, after checking that the check sees a reference."""
    n = ir.symbol("N")
    assert sym_cxx(sympy.Max(n, n * n)) == "flowc::size_max(N, (N * N))"
    assert sym_cxx(sympy.Min(n, 4, ir.symbol("M"))).startswith("flowc::size_min(flowc::size_min(")
    by_reference = ("#include <algorithm>\n#include <cstdint>\nextern \"C\" void f(double* a, int64_t N) {\n"
                    "  if (std::max<int64_t>(N, 2) > 3)\n"
                    "    #pragma omp parallel for\n    for (int64_t i = 0; i < N; ++i) a[i] = 1.0;\n}\n")
    assert _sizes_shared_by_pointer(by_reference, ["N"], tmp_path) == {"N"}
    c = np.zeros((5, 5), np.complex128)
    vectors = (np.zeros(5), np.zeros((5, 7)), np.zeros(7))
    layer = (np.zeros((5, 7), np.float32), np.zeros((7, 7), np.float32), np.zeros(7, np.float32))
    for fn, args in ((escape_counts, (c,)), (flowc.program(_gemv_then_add), vectors), (mlp, layer)):
        for opt in (False, True):
            work = fn.to_ir(*args)
            if opt:
                auto_optimize(work, target="cpu")
            expand_library_nodes(work, "cpu")
            sizes = [prm.name for prm in work.call_signature() if prm.kind == "symbol"]
            assert not _sizes_shared_by_pointer(generate_cpp(work).source, sizes, tmp_path), (fn, opt)
    rng = np.random.default_rng()
    for n_ in (1, 7, 130):
        c = rng.uniform(-2, 1, (n_, n_)) + 1j * rng.uniform(-1.5, 1.5, (n_, n_))
        z, want = np.zeros_like(c), np.zeros(c.shape, np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(12):
                z = z * z + c
                want = want + (np.abs(z) < 2.0)
        np.testing.assert_array_equal(escape_counts(c), want)
