"""The compile cache under damage, misconfiguration and concurrency, and warm starts.

Each scenario that involves a new process runs a child Python (the frontend reads a program's
source from its file, so programs live in a module written to ``tmp_path``). Every child checks
its results against NumPy on fresh random inputs at several sizes and reports ``cache.stats``
(compiles, hits, damaged entries, lowered-program hits) and the cache warnings it saw.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import flowc
from flowc import fingerprint
from flowc.runtime import cache, compiler

ROOT = Path(__file__).resolve().parents[1]

MODULE = '''
import numpy as np
import flowc

N = flowc.symbol("N")
SCALE = {scale}
W = np.linspace(0.5, 1.5, 4) * {w}


@flowc.program
def inner(a: flowc.float64[N]):
    return np.exp(a) * {inner}


@flowc.program
def prog(x: flowc.float64[N], y: flowc.float64[N]):
    return inner(x) * SCALE + y * {k} + np.sum(W)


def reference(x, y):
    return np.exp(x) * {inner} * SCALE + y * {k} + np.sum(W)
'''

CHILD = '''
import json, sys, time, warnings
sys.path.insert(0, {moddir!r})
import numpy as np
import flowc
from flowc.runtime import cache
{setup}
import progmod
ready, count = {ready!r}, {count}
if ready:                           # processes that start together: each waits until all are ready
    import os
    open(os.path.join(ready, str(os.getpid())), "w").close()
    while len(os.listdir(ready)) < count:
        time.sleep(0.001)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    rng = np.random.default_rng()
    for n in (1, 7, 64):
        x, y = rng.standard_normal(n), rng.standard_normal(n)
        got, want = progmod.prog(x, y), progmod.reference(x, y)
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12), (n, got, want)
print(json.dumps({{"stats": cache.stats,
                  "warnings": [str(w.message) for w in caught if issubclass(w.category, flowc.runtime.CacheWarning)],
                  "all_warnings": [f"{{w.category.__name__}}: {{w.message}}" for w in caught]}}))
'''


def write_module(directory: Path, *, scale: float = 2.0, k: float = 3.0, inner: float = 0.5, w: float = 1.0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "progmod.py").write_text(MODULE.format(scale=scale, k=k, inner=inner, w=w))
    return directory


def run_child(moddir: Path, cache_dir: Path, *, setup: str = "", ready: str = "", count: int = 0) -> subprocess.Popen:
    env = {**os.environ, "FLOWC_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    code = CHILD.format(moddir=str(moddir), setup=setup, ready=ready, count=count)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"child failed with {proc.returncode}:\n{err}"
    return json.loads(out.strip().splitlines()[-1])


def child(moddir: Path, cache_dir: Path, setup: str = "") -> dict:
    return result(run_child(moddir, cache_dir, setup=setup))


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A module directory and a cache that holds its program (compiled by one child)."""
    base = tmp_path_factory.mktemp("warm")
    moddir = write_module(base / "mod")
    first = child(moddir, base / "cache")
    assert first["stats"]["compiles"] == 1 and first["stats"]["program_stores"] == 1
    return moddir, base / "cache"


def copy_cache(warm: tuple[Path, Path], tmp_path: Path) -> Path:
    target = tmp_path / "cache"
    shutil.copytree(warm[1], target, ignore=shutil.ignore_patterns("*.lock"))
    return target


def only(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- damaged entries
def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(p: Path) -> None:
    p.write_bytes(np.random.default_rng().integers(0, 256, p.stat().st_size, dtype=np.uint8).tobytes())


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _no_manifest(p: Path) -> None:
    p.with_name(p.name.replace(".so", ".manifest.json")).unlink()


def _bad_manifest(p: Path) -> None:
    m = p.with_name(p.name.replace(".so", ".manifest.json"))
    doc = json.loads(m.read_text())
    doc["files"][p.name]["sha256"] = "0" * 64
    m.write_text(json.dumps(doc))


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty, _no_manifest, _bad_manifest],
                         ids=["truncated", "garbage", "zero-length", "manifest-missing", "manifest-mismatch"])
def test_damaged_library_is_removed_and_rebuilt(warm_cache: tuple[Path, Path], tmp_path: Path, damage) -> None:
    cache_dir = copy_cache(warm_cache, tmp_path)
    lib = only(cache_dir, "prog_*.so")
    damage(lib)
    got = child(warm_cache[0], cache_dir)
    assert got["stats"]["compiles"] == 1 and got["stats"]["damaged"] == 1, got
    assert len(got["warnings"]) == 1 and lib.name in got["warnings"][0] and "rebuilt" in got["warnings"][0]
    again = child(warm_cache[0], cache_dir)                  # the rebuilt entry is whole: a plain hit
    assert again["stats"]["compiles"] == 0 and again["stats"]["damaged"] == 0 and not again["warnings"], again


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty])
def test_damaged_program_entry_is_removed_and_lowered_again(warm_cache: tuple[Path, Path], tmp_path: Path,
                                                            damage) -> None:
    cache_dir = copy_cache(warm_cache, tmp_path)
    entry = only(cache_dir, "prog_*.program.json")
    damage(entry)
    got = child(warm_cache[0], cache_dir)
    # lowered again, same source: the library is a verified hit, the program entry is stored again
    assert got["stats"]["program_hits"] == 0 and got["stats"]["program_stores"] == 1, got
    assert got["stats"]["compiles"] == 0 and got["stats"]["damaged"] == 1, got
    assert len(got["warnings"]) == 1 and entry.name in got["warnings"][0]


def test_library_that_cannot_be_loaded_is_rebuilt(warm_cache: tuple[Path, Path], tmp_path: Path) -> None:
    """Intact bytes (the manifest matches) that the dynamic loader refuses: removed and rebuilt."""
    cache_dir = copy_cache(warm_cache, tmp_path)
    lib = only(cache_dir, "prog_*.so")
    stem = lib.name[: -len(".so")]
    (cache_dir / f"{stem}.manifest.json").unlink()
    lib.write_bytes(b"\x7fELF not really a library")
    cache.write_entry(cache_dir, stem, {lib.name: lib.read_bytes()})
    got = child(warm_cache[0], cache_dir)
    assert got["stats"]["compiles"] == 1 and got["stats"]["damaged"] == 1, got
    assert "cannot be loaded" in got["warnings"][0]


# ---------------------------------------------------------------- unusable cache directory
def make_program(directory: Path, k: float) -> tuple[flowc.ProgramObject, callable]:
    """A fresh program (new source, so a new cache entry) in its own module."""
    name = f"fresh_{str(k).replace('.', '_').replace('-', 'm')}_{time.time_ns()}"
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(f'''
        import numpy as np
        import flowc
        N = flowc.symbol("N")

        @flowc.program
        def prog(x: flowc.float64[N]):
            return np.tanh(x) * {k} + x

        def reference(x):
            return np.tanh(x) * {k} + x
    '''))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.prog, mod.reference


def check(prog, reference) -> None:
    rng = np.random.default_rng()
    for n in (1, 5, 33):
        x = rng.standard_normal(n)
        np.testing.assert_allclose(prog(x), reference(x), rtol=1e-12, atol=1e-12)


@pytest.fixture
def fresh_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "_fallbacks", {})


def cache_warnings(record: list) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, cache.CacheWarning)]


def test_cache_path_under_a_regular_file_falls_back_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_fallback: None) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "file" / "cache"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check(*make_program(tmp_path, 1.25))
        check(*make_program(tmp_path, 2.5))            # a second program: no second warning
    messages = cache_warnings(record)
    assert len(messages) == 1, messages
    assert str(tmp_path / "file" / "cache") in messages[0] and "FLOWC_CACHE_DIR" in messages[0]
    assert "regular file" in messages[0]


def test_unwritable_cache_dir_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         fresh_fallback: None) -> None:
    """A read-only directory (simulated: the tests may run as root, who may write anyway)."""
    ro = tmp_path / "readonly"
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(ro))
    real_mkstemp = cache.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's spelling
        if dir is not None and Path(dir) == ro:
            raise PermissionError(errno.EACCES, "Permission denied", str(ro))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cache.tempfile, "mkstemp", mkstemp)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check(*make_program(tmp_path, -0.75))
    messages = cache_warnings(record)
    assert len(messages) == 1 and str(ro) in messages[0] and "not writable" in messages[0], messages


def test_full_disk_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_fallback: None) -> None:
    full = tmp_path / "full"
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(full))
    real = compiler._run_compiler

    def run_compiler(argv: list[str]):
        if any(a.startswith(str(full)) for a in argv):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(argv)

    monkeypatch.setattr(compiler, "_run_compiler", run_compiler)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check(*make_program(tmp_path, 0.125))
    messages = cache_warnings(record)
    assert len(messages) == 1 and str(full) in messages[0] and "no space left" in messages[0], messages


def test_compiler_reporting_a_full_disk_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   fresh_fallback: None) -> None:
    """g++ itself failing with ENOSPC is a cache problem, not a CompileError about the program."""
    full = tmp_path / "full"
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(full))
    real = compiler._run_compiler

    def run_compiler(argv: list[str]):
        if any(a.startswith(str(full)) for a in argv):
            return "/usr/bin/ld: final link failed: No space left on device", 1
        return real(argv)

    monkeypatch.setattr(compiler, "_run_compiler", run_compiler)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check(*make_program(tmp_path, 0.375))
    assert len(cache_warnings(record)) == 1


def test_no_usable_directory_at_all_raises_compile_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         fresh_fallback: None) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "file" / "cache"))
    monkeypatch.setattr(cache.tempfile, "tempdir", str(tmp_path / "file" / "tmp"))
    prog, _ = make_program(tmp_path, 4.5)
    with pytest.raises(flowc.CompileError, match="FLOWC_CACHE_DIR"):
        prog(np.random.default_rng().standard_normal(3))


# ---------------------------------------------------------------- concurrency
def test_threads_calling_one_new_program_lower_and_compile_once(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    import flowc.api as api

    lowerings = []
    real_lower = api.frontend.lower

    def counting_lower(*args, **kwargs):
        lowerings.append(threading.get_ident())
        time.sleep(0.2)                     # widen the window in which other threads arrive
        return real_lower(*args, **kwargs)

    monkeypatch.setattr(api.frontend, "lower", counting_lower)
    prog, reference = make_program(tmp_path, 0.625)
    before = cache.stats["compiles"]
    barrier = threading.Barrier(4)
    rng = np.random.default_rng()
    inputs = [rng.standard_normal(n) for n in (1, 4, 9, 40)]
    results: list = [None] * 4
    errors: list = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = prog(inputs[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(lowerings) == 1 and cache.stats["compiles"] - before == 1
    for x, got in zip(inputs, results):
        np.testing.assert_allclose(got, reference(x), rtol=1e-12, atol=1e-12)


def test_threads_compiling_one_source_compile_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    source = f'extern "C" int flowc_t() {{ return {time.time_ns() % 100000}; }}\n'
    before = cache.stats["compiles"]
    paths: list = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        paths.append(compiler.compile_source(source, name="threads", link_blas=False))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and len(paths) == 4 and cache.stats["compiles"] - before == 1


def test_processes_starting_together_lower_and_compile_once(tmp_path: Path) -> None:
    moddir = write_module(tmp_path / "mod", k=5.0)
    (tmp_path / "ready").mkdir()
    procs = [run_child(moddir, tmp_path / "cache", ready=str(tmp_path / "ready"), count=4) for _ in range(4)]
    stats = [result(p)["stats"] for p in procs]
    assert sum(s["compiles"] for s in stats) == 1, stats
    # one process lowered it; the others waited for its entry and started warm
    assert sum(s["program_stores"] for s in stats) == 1 and sum(s["program_hits"] for s in stats) == 3, stats
    assert len(list((tmp_path / "cache").glob("*.cpp"))) == 1


# ---------------------------------------------------------------- warm starts
NO_FRONTEND = '''
import flowc.frontend, flowc.transforms
def _refuse(*a, **k):
    raise AssertionError("a warm start must not lower or transform")
flowc.frontend.lower = _refuse
flowc.transforms.auto_optimize = flowc.transforms.expand_library_nodes = _refuse
'''


def test_warm_start_skips_frontend_transforms_and_compiler(warm_cache: tuple[Path, Path], tmp_path: Path) -> None:
    cache_dir = copy_cache(warm_cache, tmp_path)
    got = child(warm_cache[0], cache_dir, setup=NO_FRONTEND)
    assert got["stats"]["program_hits"] == 1 and got["stats"]["compiles"] == 0 and not got["warnings"], got


@pytest.mark.parametrize("change", [dict(k=4.0), dict(scale=-1.5), dict(inner=0.25), dict(w=2.0)],
                         ids=["source", "global-constant", "called-program", "global-array"])
def test_a_change_misses(warm_cache: tuple[Path, Path], tmp_path: Path, change: dict) -> None:
    """Each child checks its result against the changed reference, so a stale hit would fail there too."""
    cache_dir = copy_cache(warm_cache, tmp_path)
    moddir = write_module(tmp_path / "mod", **change)
    got = child(moddir, cache_dir)
    assert got["stats"]["program_hits"] == 0 and got["stats"]["program_stores"] == 1, got


def test_a_change_of_flowc_misses(warm_cache: tuple[Path, Path], tmp_path: Path) -> None:
    cache_dir = copy_cache(warm_cache, tmp_path)
    setup = "import flowc.fingerprint as f\nf.flowc_source_hash = lambda: 'another flowc'\n"
    got = child(warm_cache[0], cache_dir, setup=setup)
    assert got["stats"]["program_hits"] == 0 and got["stats"]["program_stores"] == 1, got


def test_flowc_source_hash_covers_its_files(tmp_path: Path) -> None:
    package = Path(fingerprint.__file__).resolve().parent
    copy = tmp_path / "flowc"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = fingerprint.source_hash(copy)
    assert first == fingerprint.source_hash(copy) == fingerprint.flowc_source_hash()
    for rel in ("transforms/map_fusion.py", "codegen/templates"):
        target = copy / rel
        if target.is_dir():
            target = sorted(target.glob("*.j2"))[0]
        target.write_text(target.read_text() + "\n# edited\n")
        second = fingerprint.source_hash(copy)
        assert second != first
        first = second


NOTE_CLASS = """
class LoweringNote(UserWarning):
    pass
"""

WARN_ON_LOWER = NOTE_CLASS + """
import warnings, flowc.api
_real = flowc.api.frontend.lower
def _lower(*a, **k):
    warnings.warn("a note from lowering", LoweringNote)
    return _real(*a, **k)
flowc.api.frontend.lower = _lower
"""


def test_warnings_of_lowering_are_replayed_by_a_warm_start(tmp_path: Path) -> None:
    moddir = write_module(tmp_path / "mod", k=6.0)
    first = child(moddir, tmp_path / "cache", setup=WARN_ON_LOWER)
    second = child(moddir, tmp_path / "cache", setup=NOTE_CLASS + NO_FRONTEND)
    assert second["stats"]["program_hits"] == 1
    note = "LoweringNote: a note from lowering"
    assert first["all_warnings"].count(note) == second["all_warnings"].count(note) == 1, (first, second)


def test_unannotated_program_warm_start(tmp_path: Path) -> None:
    moddir = tmp_path / "mod"
    moddir.mkdir()
    (moddir / "progmod.py").write_text(textwrap.dedent('''
        import numpy as np
        import flowc

        @flowc.program
        def prog(x, y):
            return np.maximum(x, y) * 2.0 - y

        def reference(x, y):
            return np.maximum(x, y) * 2.0 - y
    '''))
    first = child(moddir, tmp_path / "cache")
    second = child(moddir, tmp_path / "cache", setup=NO_FRONTEND)
    # size 1 broadcasts, so sizes 1 and 7/64 are two signatures, each stored once and read back once
    assert first["stats"]["program_stores"] == second["stats"]["program_hits"] == 2, (first, second)
    assert second["stats"]["compiles"] == 0


def test_key_sees_module_attributes_and_closures() -> None:
    import types

    mod = types.ModuleType("cfg")
    mod.SCALE = 2.0
    cell_value = np.arange(3.0)

    def f(x):
        return x * mod.SCALE + cell_value

    k1, arrays = fingerprint.program_key(f, {}, ())
    assert arrays[0] is cell_value
    mod.SCALE = 3.0
    k2, _ = fingerprint.program_key(f, {}, ())
    cell_value[0] = 7.0
    k3, _ = fingerprint.program_key(f, {}, ())
    assert len({k1, k2, k3}) == 3
    assert fingerprint.program_key(f, {}, ("cpu", True))[0] != fingerprint.program_key(f, {}, ("cpu", False))[0]
