"""auto_search: the searched program is correct, the choice logic is deterministic under a fake
timer, the store replays without timing (also in a new process), damaged entries are searched
again, a failing or wrong candidate never wins, the budget is respected, and the CLI and the
decorator work.

Timings are never asserted (the machine is shared): the logic tests inject ``timer=``, a
deterministic function of the candidate's configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import flowc
from flowc import frontend
from flowc.transforms import auto_optimize, auto_search, search, search_cache, search_space
from flowc.transforms.search_space import build, neighbours
from flowc.transforms.tiling import MapTiling

ROOT = Path(__file__).resolve().parent.parent
N, M, E, D, K = (flowc.symbol(s) for s in ("N", "M", "E", "D", "K"))


def softmax(x: flowc.float32[N, M]):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm(x: flowc.float32[N, E], g: flowc.float32[E], b: flowc.float32[E]):
    mu = np.mean(x, axis=-1, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    return d / np.sqrt(var + 1e-5) * g + b


def mlp(x: flowc.float32[N, E], w1: flowc.float32[E, D], b1: flowc.float32[D],
        w2: flowc.float32[D, E], b2: flowc.float32[E]):
    f = x @ w1 + b1
    f = 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f * f * f)))
    return f @ w2 + b2


def attention(q: flowc.float32[N, D], k: flowc.float32[K, D], v: flowc.float32[K, E], scale: flowc.float32):
    s = (q @ k.T) * scale
    s = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return (s / np.sum(s, axis=-1, keepdims=True)) @ v


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_layernorm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


def np_mlp(x, w1, b1, w2, b2):
    f = x @ w1 + b1
    f = 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f ** 3)))
    return f @ w2 + b2


def np_attention(q, k, v, scale):
    return np_softmax((q @ k.T) * scale) @ v


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


CASES = {
    "softmax": (softmax, dict(N=64, M=96),
                lambda rng, n: (_f32(rng, n, 37) * 3,), np_softmax),
    "layernorm": (layernorm, dict(N=64, E=96),
                  lambda rng, n: (_f32(rng, n, 40), _f32(rng, 40), _f32(rng, 40)), np_layernorm),
    "mlp": (mlp, dict(N=32, E=48, D=64),
            lambda rng, n: (_f32(rng, n, 24), _f32(rng, 24, 40) * 0.2, _f32(rng, 40),
                            _f32(rng, 40, 24) * 0.2, _f32(rng, 24)), np_mlp),
    "attention": (attention, dict(N=32, K=48, D=16, E=24),
                  lambda rng, n: (_f32(rng, n, 8), _f32(rng, 20, 8), _f32(rng, 20, 12), np.float32(0.35)),
                  np_attention),
}


def fake_timer(speed: dict[str, float] = None, default=None, log=None):
    """A deterministic timer: auto_optimize takes 1.0; a candidate whose description contains
    a key of ``speed`` takes that; others ``default`` (by default a value in [0.8, 1.2)
    derived from the description's hash, so the search composes and confirms something)."""
    speed = speed or {}

    def timer(run, cand):
        if log is not None:
            log.append(cand.description)
        if not cand.config:
            return [1.0, 1.0, 1.0]
        for key, t in speed.items():
            if key in cand.description:
                return [t, t, t]
        if default is not None:
            return [default] * 3
        h = int(hashlib.sha256(cand.description.encode()).hexdigest()[:8], 16)
        return [0.8 + 0.4 * (h % 1000) / 1000] * 3
    return timer


@pytest.fixture
def tune_dir(tmp_path, monkeypatch):
    d = tmp_path / "tune"
    monkeypatch.setenv("FLOWC_TUNE_DIR", str(d))
    return d


# ---------------------------------------------------------------- the space

@pytest.mark.parametrize("name", sorted(CASES))
def test_empty_configuration_is_auto_optimize(name):
    """The search's incumbent is exactly auto_optimize's program (same history, same IR)."""
    fn = CASES[name][0]
    p = frontend.lower(fn)
    q = p.clone()
    auto_optimize(q)
    built = build(p, frozenset())
    assert built.program.to_json() == q.to_json()
    assert built.program.history == q.history
    assert neighbours(built.points), "the space has decisions"


def test_space_comes_from_the_transformations_matches():
    """MLP: the epilogue fusions are decision points; softmax: normalization fusion and tiling
    of its row map are; every neighbour configuration differs in one decision."""
    mlp_points = build(frontend.lower(mlp), frozenset(), sizes=CASES["mlp"][1]).points
    assert any(pt.key[0] == "EpilogueFusion" for pt in mlp_points)
    sm = build(frontend.lower(softmax), frozenset(), sizes=dict(N=64, M=96)).points
    kinds = {pt.key[0] for pt in sm}
    assert {"NormalizationFusion", "MapTiling", "MapFusion", "MapExpansion"} <= kinds
    tiles = [alt for pt in sm if pt.key[0] == "MapTiling" for alt in pt.alternatives]
    assert tiles and all(t < 64 for t in tiles), "tile sizes below the map's extent at the requested sizes"
    assert all(len(c) == 1 for c in neighbours(sm))


@flowc.program
def triangle(a: flowc.float64[N, N], out: flowc.float64[N, N]):
    for i in flowc.map[0:N]:
        for j in flowc.map[0:i + 1]:
            out[i, j] = a[i, j] * 2.0 + a[j, i]


def test_scheduling_choices_are_decision_points_where_they_can_matter(monkeypatch):
    """A small map may run on one thread or always fork, a triangle gets dynamic chunks, a
    large map gets neither; a GEMM with few batch entries gets T, 2T, 4T row blocks."""
    from flowc.transforms import search_space
    monkeypatch.setattr(search_space, "threads", lambda: 3)
    tri = build(triangle.to_ir(), frozenset(), sizes=dict(N=50)).points
    (pt,) = [p for p in tri if p.key[0] == "MapSchedule"]
    assert pt.alternatives == ["sequential", "always", "dynamic"]
    big = build(frontend.lower(softmax), frozenset(), sizes=dict(N=4096, M=512)).points
    assert not [p for p in big if p.key[0] == "MapSchedule"]
    blocks = [p.alternatives for p in build(frontend.lower(mlp), frozenset(), sizes=CASES["mlp"][1]).points
              if p.key[0] == "GemmRowBlocks"]
    assert blocks == [[3, 6, 12], [3, 6, 12]]


@pytest.mark.parametrize("choice", ["sequential", "always", "dynamic"])
def test_a_scheduling_choice_builds_replays_and_keeps_results(choice):
    p = triangle.to_ir()
    point = next(pt for pt in build(p, frozenset(), sizes=dict(N=50)).points if pt.key[0] == "MapSchedule")
    built = build(p, frozenset({search_space_choice(point.key, choice)}), sizes=dict(N=50))
    assert built.program.history[-1]["transformation"] == "MapSchedule"
    from flowc.transforms import replay
    assert replay(triangle.to_ir(), built.program.history).to_json() == built.program.to_json()
    compiled = flowc.compile_program(built.program)
    rng = np.random.default_rng()
    for n in (1, 7, 60):
        a, out = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        want = np.where(np.tri(n, dtype=bool), 2 * a + a.T, out)
        compiled(a, out)
        np.testing.assert_allclose(out, want, rtol=1e-12)


def search_space_choice(key, value):
    from flowc.transforms.search_space import Choice
    return Choice(key, value)


# ---------------------------------------------------------------- correctness

@pytest.mark.parametrize("name", sorted(CASES))
def test_searched_program_matches_numpy(name, tune_dir):
    fn, sizes, make, reference = CASES[name]
    result = auto_search(frontend.lower(fn), sizes=sizes, budget_s=300, timer=fake_timer())
    report = result.report
    assert report.timings > 1 and not report.cache_hit
    assert report.counts().get("timed", 0) + report.counts().get("chosen", 0) >= 1
    compiled = flowc.compile_program(result.program)
    rng = np.random.default_rng()
    for n in (1, 5, 33):
        args = make(rng, n)
        np.testing.assert_allclose(compiled(*args), reference(*args), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the choice logic

def test_the_fastest_candidate_beyond_noise_wins_and_ties_go_to_auto_optimize(tune_dir):
    p = frontend.lower(softmax)
    sizes = dict(N=256, M=256)
    win = auto_search(p, sizes=sizes, timer=fake_timer({"MapTiling(tile=32)": 0.5}, default=1.0), cache=False)
    assert win.report.chosen == "auto_optimize + MapTiling(tile=32) at max_outer[_o0=0:N]", win.report.chosen
    assert win.program.history[-1]["transformation"] == "MapTiling"
    assert win.program.history[-1]["params"]["tile"] == 32
    assert win.report.speedup == pytest.approx(2.0)
    # 2% faster is within the 3% tolerance: auto_optimize's program is kept
    tie = auto_search(p, sizes=sizes, timer=fake_timer({"MapTiling(tile=32)": 0.98}, default=1.0), cache=False)
    assert tie.report.chosen == "auto_optimize"
    q = p.clone()
    auto_optimize(q)
    assert tie.program.to_json() == q.to_json()


def test_winners_compose_greedily():
    """Two independent winners: the combination is timed and kept when faster than either."""
    def timer(run, cand):
        d = cand.description
        t = 1.0 - 0.2 * ("NormalizationFusion at Reduce max" in d) - 0.3 * ("MapTiling(tile=16)" in d)
        return [t] * 3
    r = auto_search(frontend.lower(softmax), sizes=dict(N=256, M=256), timer=timer, cache=False)
    assert "NormalizationFusion at Reduce max" in r.report.chosen and "MapTiling(tile=16)" in r.report.chosen
    assert r.report.speedup == pytest.approx(1 / 0.5)


# ---------------------------------------------------------------- failing candidates

def test_a_candidate_that_raises_or_differs_is_discarded(monkeypatch, tune_dir):
    """Tiling raises while building; a fused candidate 'compiles' to wrong results; compiling
    another raises: all are reported and none wins, though the timer calls them fastest."""
    def broken_rewrite(self, program, match, plan):
        raise RuntimeError("injected transformation bug")
    monkeypatch.setattr(MapTiling, "rewrite", broken_rewrite)
    real_compile = search._compile
    compiles = []

    def faulty_compile(program, target):
        compiled = real_compile(program, target)
        kinds = [h["transformation"] for h in program.history]
        compiles.append(kinds)
        if kinds.count("MapFusion") == 3:           # the configurations that leave out one fusion
            return lambda *a, **k: compiled(*a, **k) * 1.01
        if "NormalizationFusion" in kinds:
            raise RuntimeError("injected compiler crash")
        return compiled
    monkeypatch.setattr(search, "_compile", faulty_compile)
    r = auto_search(frontend.lower(softmax), sizes=dict(N=64, M=96), timer=fake_timer(default=0.5), cache=False)
    status = {c.description: (c.status, c.reason) for c in r.report.candidates}
    tiling = [s for d, s in status.items() if "MapTiling" in d]
    assert tiling and all(s == "failed" and "injected transformation bug" in why for s, why in tiling)
    differs = [s for d, s in status.items() if s[0] == "differs"]
    assert differs and all("differs from auto_optimize" in why for _, why in differs)
    crashed = [s for d, s in status.items() if "NormalizationFusion" in d]
    assert crashed and all(s == "failed" and "injected compiler crash" in why for s, why in crashed)
    assert "MapTiling" not in r.report.chosen and "NormalizationFusion" not in r.report.chosen
    x = np.random.default_rng().standard_normal((7, 96)).astype(np.float32)
    np.testing.assert_allclose(flowc.compile_program(r.program)(x), np_softmax(x), rtol=1e-5, atol=1e-6)


def test_a_tiny_budget_returns_auto_optimize(tune_dir):
    p = frontend.lower(layernorm)
    log: list[str] = []
    r = auto_search(p, sizes=dict(N=64, E=96), budget_s=0, timer=fake_timer(log=log))
    q = p.clone()
    auto_optimize(q)
    assert r.program.to_json() == q.to_json()
    assert log == [] and r.report.timings == 0
    assert r.report.cache_path is None and not list(tune_dir.glob("*.json")), "an untimed result is not stored"


def test_the_budget_stops_the_search(monkeypatch, tune_dir):
    """With a budget shorter than the candidates take, candidates are skipped and the search
    returns within the budget plus one evaluation."""
    import time as _time

    def slow_timer(run, cand):
        _time.sleep(0.4)
        return [1.0] * 3
    start = _time.monotonic()
    r = auto_search(frontend.lower(softmax), sizes=dict(N=64, M=96), budget_s=3, timer=slow_timer, cache=False)
    assert r.report.counts().get("skipped", 0) >= 1 and not r.report.complete
    assert _time.monotonic() - start < 3 + 5       # one evaluation in progress may finish (compile included)


# ---------------------------------------------------------------- the store

def test_second_call_replays_without_timing(tune_dir):
    p = frontend.lower(mlp)
    sizes = CASES["mlp"][1]
    first = auto_search(p, sizes=sizes, timer=fake_timer({"EpilogueFusion": 0.5}))
    assert first.report.timings > 0 and first.report.cache_path
    assert "no EpilogueFusion" in first.report.chosen
    stored = json.loads(Path(first.report.cache_path).read_text())
    assert stored["history"] == first.program.history and stored["sizes"] == sizes

    def must_not_time(run, cand):
        raise AssertionError("a cache hit must not time anything")
    second = auto_search(frontend.lower(mlp), sizes=sizes, timer=must_not_time)
    assert second.report.cache_hit and second.report.timings == 0
    assert second.program.to_json() == first.program.to_json()
    # other sizes are another entry
    other = auto_search(frontend.lower(mlp), sizes={**sizes, "N": 64}, timer=fake_timer())
    assert not other.report.cache_hit and other.report.timings > 0


def test_cache_hit_in_a_new_process(tune_dir):
    sizes = dict(N=64, M=96)
    first = auto_search(frontend.lower(softmax), sizes=sizes, timer=fake_timer({"tile=16": 0.7}))
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); import test_auto_search as t\n"
        "from flowc import frontend; from flowc.transforms import auto_search\n"
        "def never(run, cand): raise AssertionError('timed')\n"
        "start = time.perf_counter()\n"
        "r = auto_search(frontend.lower(t.softmax), sizes=dict(N=64, M=96), timer=never)\n"
        "print(r.report.cache_hit, r.report.timings, time.perf_counter() - start)\n"
        "print(r.program.to_json())\n")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert out.returncode == 0, out.stderr
    head, ir_json = out.stdout.split("\n", 1)
    hit, timings, _seconds = head.split()
    assert (hit, timings) == ("True", "0")
    assert ir_json.strip() == first.program.to_json().strip()


@pytest.mark.parametrize("damage", ["not json", "wrong format", "unknown transformation", "does not replay"])
def test_damaged_entry_warns_and_searches_again(tune_dir, damage):
    sizes = dict(N=64, E=96)
    first = auto_search(frontend.lower(layernorm), sizes=sizes, timer=fake_timer())
    path = Path(first.report.cache_path)
    entry = json.loads(path.read_text())
    if damage == "not json":
        path.write_text("{'history': [")
    elif damage == "wrong format":
        path.write_text(json.dumps({**entry, "format": "pickle"}))
    elif damage == "unknown transformation":
        entry["history"][0]["transformation"] = "os.system"
        path.write_text(json.dumps(entry))
    else:
        entry["history"][0]["match"]["labels"] = ["somewhere else"] * len(entry["history"][0]["match"]["labels"])
        path.write_text(json.dumps(entry))
    log: list[str] = []
    with pytest.warns(UserWarning, match="searching again"):
        again = auto_search(frontend.lower(layernorm), sizes=sizes, timer=fake_timer(log=log))
    assert log and again.report.timings > 0 and not again.report.cache_hit
    assert search_cache.load(Path(again.report.cache_path).stem)["history"] == again.program.history


# ---------------------------------------------------------------- API, decorator, CLI

def test_arguments_are_checked():
    p = frontend.lower(softmax)
    with pytest.raises(ValueError, match="sizes"):
        auto_search(p)
    with pytest.raises(ValueError, match="sizes: no value for M"):
        auto_search(p, sizes=dict(N=4))
    with pytest.raises(TypeError, match="sizes\\['N'\\] must be an int"):
        auto_search(p, sizes=dict(N=4.0, M=4))
    with pytest.raises(ValueError, match="sizes: Q is not a size symbol of softmax"):
        auto_search(p, sizes=dict(N=4, M=4, Q=2))
    with pytest.raises(ValueError, match="budget_s"):
        auto_search(p, sizes=dict(N=4, M=4), budget_s=-1)
    with pytest.raises(ValueError, match="target"):
        auto_search(p, sizes=dict(N=4, M=4), target="tpu")
    with pytest.raises(ValueError, match="auto_optimize must be"):
        flowc.program(softmax, auto_optimize="fast")


def test_example_args_give_the_sizes(tune_dir):
    x = np.zeros((48, 80), np.float32)
    r = auto_search(frontend.lower(softmax), example_args=(x,), timer=fake_timer(), cache=False)
    assert r.report.sizes == dict(N=48, M=80)


def test_decorator_search(monkeypatch, tune_dir):
    class Fake:
        def __init__(self, repeats):
            pass

        def __call__(self, run, cand):
            run()
            return fake_timer({"tile=16": 0.6})(run, cand)
    monkeypatch.setattr(search, "RepeatTimer", Fake)
    sm = flowc.program(softmax, auto_optimize="search")
    rng = np.random.default_rng()
    x = _f32(rng, 50, 70)
    np.testing.assert_allclose(sm(x), np_softmax(x), rtol=1e-5, atol=1e-6)
    entries = list(tune_dir.glob("*.json"))
    assert len(entries) == 1 and "tile=16" in json.loads(entries[0].read_text())["chosen"]
    for shape in ((1, 1), (3, 70), (64, 9)):
        y = _f32(rng, *shape)
        np.testing.assert_allclose(sm(y), np_softmax(y), rtol=1e-5, atol=1e-6)


def test_cli_tunes_and_stores(tune_dir, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "flowc", "tune", "samples/softmax.py:softmax",
                          "--sizes", "N=32,M=64", "--budget", "4"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "chosen:" in out.stdout and "stored:" in out.stdout
    (entry,) = tune_dir.glob("*.json")
    stored = json.loads(entry.read_text())
    assert stored["sizes"] == {"M": 64, "N": 32} and stored["program"] == "softmax"
    # the decorator finds what the command line stored: it replays, timing nothing
    sys.path.insert(0, str(ROOT / "samples"))
    try:
        import softmax as sample
    finally:
        sys.path.remove(str(ROOT / "samples"))

    class NoTiming:
        def __init__(self, repeats):
            pass

        def __call__(self, run, cand):
            raise AssertionError("the stored result must be replayed, not searched again")
    monkeypatch.setattr(search, "RepeatTimer", NoTiming)
    tuned = flowc.program(sample.softmax.func, auto_optimize="search")
    x = np.random.default_rng().standard_normal((32, 64)).astype(np.float32)
    np.testing.assert_allclose(tuned(x), np_softmax(x), rtol=1e-5, atol=1e-6)
    bad = subprocess.run([sys.executable, "-m", "flowc", "tune", "samples/softmax.py:softmax", "--sizes", "N=x"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "N must be an integer" in bad.stderr


def _hammer(args):
    """Write entries under one key over and over (a process of the concurrency test)."""
    key, n, worker = args
    for i in range(n):
        search_cache.save(key, {"history": [], "chosen": f"worker {worker} round {i}", "pad": "x" * 20000})
    return n


def test_store_is_safe_under_concurrent_writers_and_readers(tune_dir):
    """Several processes write one entry while this one reads it: every read is a whole entry."""
    import multiprocessing as mp

    key = "0" * 32
    search_cache.save(key, {"history": [], "chosen": "first"})
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        pending = pool.map_async(_hammer, [(key, 40, w) for w in range(3)])
        reads = 0
        while not pending.ready() or reads < 20:
            entry = search_cache.load(key)           # DamagedEntry if a torn file were seen
            assert entry["history"] == [] and entry["chosen"]
            reads += 1
        assert pending.get(timeout=120) == [40, 40, 40]
    assert not list(tune_dir.glob(".*.tmp")), "no temporary files left behind"


def test_progress_lines_with_flowc_debug(monkeypatch, capsys, tune_dir):
    monkeypatch.setenv("FLOWC_DEBUG", "1")
    auto_search(frontend.lower(softmax), sizes=dict(N=64, M=96), timer=fake_timer(), cache=False, progress=None)
    err = capsys.readouterr().err
    assert "[flowc] auto_search softmax:" in err and "left)" in err


def test_a_hanging_candidate_is_discarded(monkeypatch, tune_dir):
    """A candidate whose checking run does not return within candidate_timeout_s is reported as
    failed (timed out) and the search goes on to the others."""
    import threading
    import time as _time

    real_compile = search._compile
    release = threading.Event()

    def hanging_compile(program, target):
        compiled = real_compile(program, target)
        if any(h["transformation"] == "MapTiling" and h["params"]["tile"] == 16 for h in program.history):
            def hang(*a, **k):
                release.wait(30)                   # a hung kernel (released at the end of the test)
                return compiled(*a, **k)
            return hang
        return compiled
    monkeypatch.setattr(search, "_compile", hanging_compile)
    start = _time.monotonic()
    try:
        r = auto_search(frontend.lower(softmax), sizes=dict(N=64, M=96), timer=fake_timer({"tile=16": 0.1}),
                        cache=False, candidate_timeout_s=0.5)
    finally:
        release.set()
    assert _time.monotonic() - start < 25
    hung = [c for c in r.report.candidates if "tile=16" in c.description]
    assert hung and all(c.status == "failed" and "TimeoutError" in c.reason for c in hung)
    assert "tile=16" not in r.report.chosen
    assert any(c.status in ("timed", "chosen") and "tile=32" in c.description for c in r.report.candidates)
    with pytest.raises(ValueError, match="candidate_timeout_s"):
        auto_search(frontend.lower(softmax), sizes=dict(N=4, M=4), candidate_timeout_s=0)


# ---------------------------------------------------------------- local choices timed in their kernels

def two_maps(a: flowc.float32[N, M], b: flowc.float32[N, M]):
    out = np.empty((N, M), dtype=np.float32)
    for j, i in flowc.map[0:M, 0:N]:           # written column by column: MapInterchange helps
        out[i, j] = a[i, j] * 2.0 + b[i, j] * b[i, j]
    return out, np.sqrt(np.abs(b)) + 1.0


def two_matmuls(x: flowc.float32[N, M], w: flowc.float32[M, M], v: flowc.float32[M, M]):
    return np.tanh(x @ w) @ v + x @ v


class KernelFakeTimer:
    """A deterministic timer that also times kernels: every kernel takes 1.0 per run, except
    that in a probe with a choice whose description contains ``fast`` the kernels whose name
    contains ``where`` take 0.2. Whole programs are timed by ``fake_timer(whole)``. The
    kernel names are the instrumented library's own (one real run reads them)."""

    def __init__(self, fast: str, where: str, whole: dict[str, float]):
        self.fast, self.where, self.whole = fast, where, fake_timer(whole, default=1.0)
        self.probes: list[frozenset] = []

    def __call__(self, run, cand):
        return self.whole(run, cand)

    def kernels(self, run, profile, cand):
        self.probes.append(cand.config)
        profile()
        run()
        names = list(profile())
        hit = any(self.fast in c.describe() for c in cand.config)
        return [{n: 0.2 if hit and self.where in n else 1.0 for n in names}] * 3


@pytest.mark.parametrize("fn,sizes", [(two_maps, dict(N=64, M=48)), (two_matmuls, dict(N=40, M=24)),
                                      (softmax, dict(N=64, M=96)), (mlp, dict(N=32, E=48, D=64)),
                                      (attention, dict(N=32, K=48, D=16, E=24))],
                         ids=["two_maps", "two_matmuls", "softmax", "mlp", "attention"])
def test_local_choices_know_their_kernel_by_the_profiles_name(fn, sizes):
    """Every local decision point (loop order, tiles, threads) names the kernel its node is in
    as the instrumented library's profile names it, repeated names (several GEMMs in one
    state) numbered as the profile numbers them; also after a probe changed it."""
    p = frontend.lower(fn)
    built = build(p, frozenset(), sizes=sizes)
    local = [pt for pt in built.points if pt.key[0] in search_space.LOCAL_PHASES]
    assert local and all(pt.key in built.kernels for pt in local)
    args, kw = search.random_inputs(p, sizes)
    for config in [frozenset()] + [c for c in neighbours(local)][:3]:
        b = build(p, config, sizes=sizes)
        compiled = flowc.compile_program(b.program, instrument=True)
        compiled(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kw)
        profile = compiled.profile()
        assert list(profile) == b.kernel_order              # the same names, numbered alike, in order
        assert set(b.kernels.values()) <= set(profile)
        assert all(k.runs == 1 for k in profile.values())


def test_local_choices_are_timed_together_in_their_kernels(tune_dir):
    """One probe per choice a kernel has (not one program per choice): the interchange wins its
    kernel, tiles and schedules do not; the winners are assembled, checked, timed whole and
    confirmed; the result matches NumPy and replays."""
    p = frontend.lower(two_maps)
    sizes = dict(N=64, M=48)
    timer = KernelFakeTimer("MapInterchange", "map[", {"MapInterchange": 0.3})
    r = auto_search(p, sizes=sizes, timer=timer, cache=False)
    base = build(p, frozenset(), sizes=sizes)
    per_kernel: dict[str, int] = {}
    for pt in base.points:
        if pt.key in base.kernels:
            per_kernel[base.kernels[pt.key]] = per_kernel.get(base.kernels[pt.key], 0) + len(pt.alternatives)
    assert len(per_kernel) >= 2, "the program has two kernels with local choices"
    assert len(timer.probes) == 1 + max(per_kernel.values())          # auto_optimize, then the probes
    assert timer.probes[0] == frozenset()
    for probe in timer.probes[1:]:               # at most one choice per kernel in a probe
        kernels = [base.kernels[c.key] for c in probe]
        assert len(kernels) == len(set(kernels))
    kernel_rows = [c for c in r.report.candidates if c.kernel is not None]
    assert len(kernel_rows) == sum(per_kernel.values())
    assert all(c.status == "kernel" and c.kernel_base_s == 1.0 for c in kernel_rows)
    assert {c.description for c in kernel_rows if c.median < 1.0} == {
        d for d in (c.description for c in kernel_rows) if "MapInterchange" in d}
    # single local choices were timed in their kernel: none is timed again as a whole program
    whole = [c for c in r.report.candidates if c.kernel is None and len(c.config) == 1]
    assert not [c for c in whole if next(iter(c.config)).phase in search_space.LOCAL_PHASES
                and c.status == "timed"]
    assert "MapInterchange" in r.report.chosen
    assert "kernel" in r.report.table() and "the kernels' fastest choices, together" in r.report.table()
    rng = np.random.default_rng()
    for n, m in ((64, 48), (7, 130)):
        a, b = _f32(rng, n, m), _f32(rng, n, m)
        out, root = flowc.compile_program(r.program)(a, b)
        np.testing.assert_allclose(out, a * 2 + b * b, rtol=1e-6)
        np.testing.assert_allclose(root, np.sqrt(np.abs(b)) + 1, rtol=1e-6)
    replayed = search.replay(frontend.lower(two_maps), r.report.chosen_history)
    assert replayed.to_json() == r.program.to_json()


def test_a_probe_that_differs_discards_its_choices(monkeypatch, tune_dir):
    """A probe whose result is wrong times none of its choices (they are reported as failed
    with the reason, and left to be tried as whole programs, where tiling is wrong again) and
    the search goes on to a correct program."""
    real_compile = search._compile

    def faulty_compile(program, target, instrument=False):
        compiled = real_compile(program, target, instrument)
        if any(h["transformation"] == "MapTiling" for h in program.history):
            def wrong(*a, **k):
                out = compiled(*a, **k)
                return tuple(o * 1.01 for o in out)
            wrong.profile = compiled.profile
            return wrong
        return compiled
    monkeypatch.setattr(search, "_compile", faulty_compile)
    timer = KernelFakeTimer("MapTiling", "map[", {"MapTiling": 0.3})
    r = auto_search(frontend.lower(two_maps), sizes=dict(N=64, M=48), timer=timer, cache=False)
    tiled = [c for c in r.report.candidates if c.kernel is not None and "MapTiling" in c.description]
    assert tiled and all(c.status == "failed" and "differs" in c.reason for c in tiled)
    whole = [c for c in r.report.candidates if c.kernel is None and "MapTiling" in c.description]
    assert whole and all(c.status == "differs" for c in whole)
    assert "MapTiling" not in r.report.chosen
    a, b = (np.random.default_rng().standard_normal((9, 31)).astype(np.float32) for _ in range(2))
    out, root = flowc.compile_program(r.program)(a, b)
    np.testing.assert_allclose(out, a * 2 + b * b, rtol=1e-6)


def test_kernel_winners_that_lose_together_are_tried_one_by_one(tune_dir):
    """Both kernels have a winner in isolation (the fake makes every kernel of the probe with a
    sequential schedule fast), but the assembled program is no faster (a choice can cost
    outside its kernel): each pick is then timed alone as a whole program, and the one that
    is fast alone wins."""
    timer = KernelFakeTimer("MapSchedule(sequential)", "/", {"; ": 1.0, "MapSchedule(sequential)": 0.5})
    r = auto_search(frontend.lower(two_maps), sizes=dict(N=64, M=48), timer=timer, cache=False)
    assembled = [c for c in r.report.candidates if c.reason == "the kernels' fastest choices, together"]
    assert len(assembled) == 1 and len(assembled[0].config) == 2 and assembled[0].median == 1.0
    for choice in assembled[0].config:
        alone = [c for c in r.report.candidates if c.kernel is None and c.config == frozenset({choice})]
        assert len(alone) == 1 and alone[0].status in ("timed", "chosen"), choice
    assert r.report.chosen.count("MapSchedule(sequential)") == 1 and "; " not in r.report.chosen


def test_a_probe_that_changes_more_than_kernels_is_not_compared_kernel_by_kernel():
    """Kernel-by-kernel comparison needs the probe to have auto_optimize's containers and
    kernel count: a local choice does (schedules), a fusion left out does not."""
    p = frontend.lower(softmax)
    sizes = dict(N=64, M=96)
    base = build(p, frozenset(), sizes=sizes)
    by_phase = {}
    for config in neighbours(base.points):
        by_phase.setdefault(next(iter(config)).phase, config)
    local = build(p, by_phase["MapSchedule"], sizes=sizes, baseline=base)
    assert search._Search.changed_more_than_kernels(base, local) == ""
    unfused = build(p, by_phase["MapFusion"], sizes=sizes, baseline=base)
    assert search._Search.changed_more_than_kernels(base, unfused) != ""
