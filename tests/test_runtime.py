"""Tests of flowc.runtime: compiling (with the disk cache), BLAS discovery, binding and marshalling.

The C++ here is written by hand so these tests do not depend on code generation; the
``Program``s are built with the IR builder only for their call signatures.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import sympy

from flowc import ir
from flowc.ir.errors import CompileError
from flowc.runtime import BlasNotFoundError, CompiledProgram, bind, blas_info, compile_source
from flowc.runtime import binding as binding_mod
from flowc.runtime import compiler as compiler_mod

RNG = np.random.default_rng()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flowc-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test compiles into a per-module cache, never into ~/.cache."""
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(cache))
    for var in ("FLOWC_CACHE", "FLOWC_DEBUG", "FLOWC_CXX", "FLOWC_CXXFLAGS", "FLOWC_BLAS_LIB", "FLOWC_BLAS_PREFIX"):
        monkeypatch.delenv(var, raising=False)


# One library with several entry points: one compile for most tests.
KERNELS = r"""
#include <cstdint>
#include <cmath>

static const char* g_error = "";
extern "C" const char* flowc_error_message() { return g_error; }

extern "C" int flowc_scale(const float* x, float* y, int64_t N) {
    for (int64_t i = 0; i < N; ++i) y[i] = 2.0f * x[i];
    return 0;
}

// out[i, j] = alpha * a[i, j] + b[i, j] (+ k if flag)
extern "C" int flowc_axpy(const double* a, const double* b, double alpha, int32_t k, bool flag,
                          double* out, int64_t M, int64_t N) {
    #pragma omp parallel for
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
            out[i * N + j] = alpha * a[i * N + j] + b[i * N + j] + (flag ? k : 0);
    return 0;
}

// x[N], y[N + 1]: y[i] += x[i] in place, y[N] = sum(x); no returns
extern "C" int flowc_accum(const float* x, float* y, int64_t N) {
    float s = 0;
    for (int64_t i = 0; i < N; ++i) { y[i] += x[i]; s += x[i]; }
    y[N] = s;
    return 0;
}

// out[N + K] = x padded with K copies of x[N-1]; K only by keyword
extern "C" int flowc_pad(const int64_t* x, int64_t* out, int64_t K, int64_t N) {
    for (int64_t i = 0; i < N; ++i) out[i] = x[i];
    for (int64_t i = 0; i < K; ++i) out[N + i] = x[N - 1];
    return 0;
}

// a is column-major [M, N] (strides 1, M); returns (t: column-major copy * 3, s: row sums)
extern "C" int flowc_colmajor(const float* a, float* t, float* s, int64_t M, int64_t N) {
    for (int64_t i = 0; i < M; ++i) {
        float acc = 0;
        for (int64_t j = 0; j < N; ++j) { t[i + j * M] = 3.0f * a[i + j * M]; acc += a[i + j * M]; }
        s[i] = acc;
    }
    return 0;
}

// p is [M, N] with rows padded to N + 1 elements
extern "C" int flowc_padded(const float* a, float* p, int64_t M, int64_t N) {
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) p[i * (N + 1) + j] = a[i * N + j];
    return 0;
}

// a 0-d input and a 0-d output
extern "C" int flowc_zerod(const double* a, double* r) { r[0] = a[0] + 1.0; return 0; }

extern "C" int flowc_fail(const float* x, int64_t N) {
    g_error = "flowc_fail: the input was rejected on purpose";
    return N > 0 ? 7 : 0;
}
"""

SGEMM = r"""
#include <cstdint>
#include <cblas.h>
extern "C" int flowc_mm(const float* a, const float* b, float* c, int64_t K, int64_t M, int64_t N) {
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K,
                      1.0f, a, (int)K, b, (int)N, 0.0f, c, (int)N);
    return 0;
}
"""


def _scale_program() -> ir.Program:
    p = ir.Program("scale")
    p.add_array("x", ["N"], "float32")
    p.add_array("y", ["N"], "float32")
    p.add_return("y")
    return p


def _axpy_program() -> ir.Program:
    p = ir.Program("axpy")
    p.add_array("a", ["M", "N"], "float64")
    p.add_array("b", ["M", "N"], "float64")
    p.add_scalar("alpha", "float64")
    p.add_scalar("k", "int32")
    p.add_scalar("flag", "bool")
    p.add_array("out", ["M", "N"], "float64")
    p.add_return("out")
    return p


def _accum_program() -> ir.Program:
    p = ir.Program("accum")
    p.add_array("x", ["N"], "float32")
    p.add_array("y", ["N + 1"], "float32")
    return p


def _pad_program() -> ir.Program:
    p = ir.Program("pad")
    p.add_array("x", ["N"], "int64")
    p.add_array("out", ["N + K"], "int64")
    p.add_return("out")
    return p


def _colmajor_program() -> ir.Program:
    p = ir.Program("colmajor")
    p.add_array("a", ["M", "N"], "float32", strides=[1, "M"])
    p.add_array("t", ["M", "N"], "float32", strides=[1, "M"])
    p.add_array("s", ["M"], "float32")
    p.add_return("t")
    p.add_return("s")
    return p


def _fail_program() -> ir.Program:
    p = ir.Program("fail")
    p.add_array("x", ["N"], "float32")
    return p


@pytest.fixture(scope="module")
def kernels(cache: Path) -> Path:
    old = os.environ.get("FLOWC_CACHE_DIR")
    os.environ["FLOWC_CACHE_DIR"] = str(cache)
    try:
        return compile_source(KERNELS, name="kernels", link_blas=False)
    finally:
        if old is None:
            del os.environ["FLOWC_CACHE_DIR"]
        else:
            os.environ["FLOWC_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def scale(kernels: Path) -> CompiledProgram:
    return bind(_scale_program(), kernels, "flowc_scale")


@pytest.fixture(scope="module")
def axpy(kernels: Path) -> CompiledProgram:
    return bind(_axpy_program(), kernels, "flowc_axpy")


@pytest.fixture(scope="module")
def pad(kernels: Path) -> CompiledProgram:
    return bind(_pad_program(), kernels, "flowc_pad")


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape, dtype=np.float32)


# --------------------------------------------------------------------------- results
def test_scale_matches_numpy_at_several_sizes(scale: CompiledProgram) -> None:
    for n in (1, 17, 1000, 4099):
        x = _f32(n)
        y = scale(x)
        assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (n,)
        np.testing.assert_array_equal(y, 2 * x)
    x = _f32(33)
    np.testing.assert_array_equal(scale(x=x), 2 * x)        # arrays by keyword
    np.testing.assert_array_equal(scale(x, N=33), 2 * x)    # an agreeing symbol is fine
    np.testing.assert_array_equal(scale(x, N=np.int64(33)), 2 * x)
    assert "def scale(" in scale.binder_source


def test_view_with_offset_is_passed_at_its_first_element(scale: CompiledProgram) -> None:
    base = _f32(50)
    view = base[7:40]
    np.testing.assert_array_equal(scale(view), 2 * view)


def test_scalars_symbols_and_2d(axpy: CompiledProgram) -> None:
    for m, n in ((3, 5), (64, 33)):
        a = RNG.standard_normal((m, n))
        b = RNG.standard_normal((m, n))
        alpha = float(RNG.standard_normal())
        np.testing.assert_allclose(axpy(a, b, alpha, 4, True), alpha * a + b + 4, rtol=1e-12)
        np.testing.assert_allclose(axpy(a, b, alpha, 4, False), alpha * a + b, rtol=1e-12)
    a, b = RNG.standard_normal((4, 6)), RNG.standard_normal((4, 6))
    # ints for a float parameter, NumPy scalars of fitting kinds
    np.testing.assert_allclose(axpy(a, b, 2, np.int16(3), np.bool_(True)), 2 * a + b + 3, rtol=1e-12)
    np.testing.assert_allclose(axpy(a, b, np.float32(0.5), 1, True), 0.5 * a + b + 1, rtol=1e-12)
    np.testing.assert_allclose(axpy(b=b, a=a, alpha=1.5, k=2, flag=True), 1.5 * a + b + 2, rtol=1e-12)


def test_in_place_program_returns_none_and_checks_expression_shapes(kernels: Path) -> None:
    accum = bind(_accum_program(), kernels, "flowc_accum")
    for n in (5, 300):
        x, y = _f32(n), _f32(n + 1)
        expected = y.copy()
        expected[:n] += x
        assert accum(x, y) is None
        np.testing.assert_allclose(y[:n], expected[:n], rtol=1e-6)
        np.testing.assert_allclose(y[n], x.sum(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"'y'.*dimension 0 is 5, expected N \+ 1 = 6"):
        accum(_f32(5), _f32(5))


def test_symbol_from_keyword(pad: CompiledProgram) -> None:
    for n, k in ((4, 3), (100, 0), (7, 20)):
        x = RNG.integers(-1000, 1000, n)
        out = pad(x, K=k)
        np.testing.assert_array_equal(out, np.concatenate([x, np.full(k, x[-1])]))


def test_declared_strides_and_several_returns(kernels: Path) -> None:
    prog = bind(_colmajor_program(), kernels, "flowc_colmajor")
    for m, n in ((3, 4), (40, 17)):
        a = np.asfortranarray(_f32(m, n))
        t, s = prog(a)
        assert t.shape == (m, n) and t.flags.f_contiguous
        np.testing.assert_allclose(t, 3 * a, rtol=1e-6)
        np.testing.assert_allclose(s, a.sum(axis=1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"'a'.*strides"):
        prog(_f32(3, 4))     # C order, but the descriptor says column-major


def test_padded_return_layout_and_0d_arrays(kernels: Path) -> None:
    p = ir.Program("padded")
    p.add_array("a", ["M", "N"], "float32")
    p.add_array("p", ["M", "N"], "float32", strides=["N + 1", 1])
    p.add_return("p")
    padded = bind(p, kernels, "flowc_padded")
    for m, n in ((2, 3), (31, 9)):
        a = _f32(m, n)
        out = padded(a)
        assert out.shape == (m, n) and out.strides == ((n + 1) * 4, 4)
        np.testing.assert_array_equal(out, a)
    z = ir.Program("zerod")
    z.add_array("a", [], "float64")
    z.add_array("r", [], "float64")
    z.add_return("r")
    zerod = bind(z, kernels, "flowc_zerod")
    a = np.array(RNG.standard_normal())
    r = zerod(a)
    assert r.shape == () and r == a + 1.0


def test_gpu_arrays_are_refused_at_bind(kernels: Path) -> None:
    p = ir.Program("scale")
    p.add_array("x", ["N"], "float32", storage=ir.Storage.GPU_GLOBAL)
    p.add_array("y", ["N"], "float32")
    with pytest.raises(ir.FlowcError, match="GPU arrays"):
        bind(p, kernels, "flowc_scale")


def test_nonzero_return_code_raises_with_library_message(kernels: Path) -> None:
    fail = bind(_fail_program(), kernels, "flowc_fail")
    assert fail(_f32(0)) is None
    with pytest.raises(RuntimeError, match="rejected on purpose") as info:
        fail(_f32(3))
    assert "7" in str(info.value)


# --------------------------------------------------------------------------- error paths
def test_not_an_array(scale: CompiledProgram) -> None:
    with pytest.raises(TypeError, match=r"'x'.*numpy\.ndarray.*got list"):
        scale([1.0, 2.0])


def test_wrong_dtype_is_not_cast(scale: CompiledProgram) -> None:
    with pytest.raises(TypeError, match=r"'x'.*float32.*got float64"):
        scale(RNG.standard_normal(8))


def test_wrong_rank(scale: CompiledProgram) -> None:
    with pytest.raises(ValueError, match=r"'x'.*1 dimension.*got 2"):
        scale(_f32(3, 4))


def test_wrong_shape_names_parameter_and_dimension(axpy: CompiledProgram) -> None:
    with pytest.raises(ValueError, match=r"'b'.*dimension 1 is 6, expected N = 5.*from dimension 1 of 'a'"):
        axpy(RNG.standard_normal((4, 5)), RNG.standard_normal((4, 6)), 1.0, 1, True)


def test_non_contiguous_suggests_ascontiguousarray(scale: CompiledProgram) -> None:
    with pytest.raises(ValueError, match=r"'x'.*C-contiguous.*np\.ascontiguousarray\(x\)"):
        scale(_f32(20)[::2])


def test_missing_and_extra_positional(axpy: CompiledProgram, scale: CompiledProgram) -> None:
    a = RNG.standard_normal((2, 2))
    with pytest.raises(TypeError, match="'flag'"):
        axpy(a, a, 1.0, 1)
    with pytest.raises(TypeError, match=r"takes 1 positional argument\(s\) \(x\) but 2"):
        scale(_f32(3), _f32(3))
    with pytest.raises(TypeError, match="'x'"):
        scale()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        scale(_f32(3), z=1)


def test_scalar_kinds(axpy: CompiledProgram) -> None:
    a = RNG.standard_normal((2, 3))
    with pytest.raises(TypeError, match=r"'k'.*int32.*float"):
        axpy(a, a, 1.0, 2.5, True)
    with pytest.raises(TypeError, match=r"'alpha'"):
        axpy(a, a, "1.0", 1, True)
    with pytest.raises(TypeError, match=r"'flag'.*bool"):
        axpy(a, a, 1.0, 1, 1)
    with pytest.raises(TypeError, match=r"'alpha'"):
        axpy(a, a, True, 1, True)
    with pytest.raises(OverflowError, match=r"'k'.*int32"):
        axpy(a, a, 1.0, 2**31, True)


def test_missing_symbol(pad: CompiledProgram) -> None:
    with pytest.raises(TypeError, match=r"symbol 'K'.*K="):
        pad(RNG.integers(0, 9, 4))


def test_bad_symbol_values(pad: CompiledProgram) -> None:
    x = RNG.integers(0, 9, 4)
    with pytest.raises(ValueError, match="'K'.*non-negative"):
        pad(x, K=-1)
    with pytest.raises(TypeError, match="'K'"):
        pad(x, K=2.0)


def test_contradicting_symbol(scale: CompiledProgram) -> None:
    with pytest.raises(ValueError, match=r"'N' = 4.*contradicts N = 3.*dimension 0 of argument 'x'"):
        scale(_f32(3), N=4)
    with pytest.raises(TypeError, match="'N'"):
        scale(_f32(3), N=3.0)


def test_missing_entry_point(kernels: Path) -> None:
    with pytest.raises(ir.FlowcError, match="flowc_nope"):
        bind(_scale_program(), kernels, "flowc_nope")


# --------------------------------------------------------------------------- compiling and the cache
def test_compile_error_shows_compiler_output_and_source_path() -> None:
    src = "extern \"C\" int flowc_broken() { return undeclared_thing; }\n"
    with pytest.raises(CompileError) as info:
        compile_source(src, name="broken", link_blas=False)
    err = info.value
    assert "undeclared_thing" in str(err) and "error" in err.compiler_output
    assert err.source_path and err.source_path in str(err)
    assert Path(err.source_path).read_text() == src


def test_cache_hit_returns_same_path_without_compiling(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    src = f"// {uuid.uuid4()}\nextern \"C\" int flowc_one() {{ return 1; }}\n"
    first = compile_source(src, name="one", link_blas=False)
    assert first.parent == cache and first.with_suffix(".cpp").read_text() == src
    mtime = first.stat().st_mtime_ns

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise AssertionError("the compiler ran on a cache hit")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    start = time.perf_counter()
    second = compile_source(src, name="one", link_blas=False)
    hit_s = time.perf_counter() - start
    assert second == first and second.stat().st_mtime_ns == mtime
    assert hit_s < 0.05     # generous: a hit is tens of microseconds
    # different flags are a different entry (and here would need the compiler)
    with pytest.raises(AssertionError, match="compiler ran"):
        compile_source(src, name="one", link_blas=False, extra_flags=["-DSOMETHING=1"])


def test_cache_dir_env_is_respected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "mine"))
    path = compile_source("extern \"C\" int flowc_two() { return 2; }\n", name="two", link_blas=False)
    assert path.parent == tmp_path / "mine" and path.with_suffix(".cpp").exists()
    assert ctypes.CDLL(str(path)).flowc_two() == 2
    assert not [p for p in (tmp_path / "mine").iterdir() if p.name.startswith(".tmp")]


def test_cache_location_fallbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLOWC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compiler_mod.cache_dir() == tmp_path / "flowc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compiler_mod.cache_dir() == tmp_path / "home" / ".cache" / "flowc"


def test_cache_disabled_compiles_elsewhere(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("FLOWC_CACHE", "0")
    src = "extern \"C\" int flowc_three() { return 3; }\n"
    a = compile_source(src, name="three", link_blas=False)
    b = compile_source(src, name="three", link_blas=False)
    assert a != b and a.parent != cache and b.parent != cache
    assert ctypes.CDLL(str(a)).flowc_three() == 3


def test_cxxflags_env_changes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    src = "extern \"C\" int flowc_four() { return FOUR; }\n"
    monkeypatch.setenv("FLOWC_CXXFLAGS", "-DFOUR=4")
    path = compile_source(src, name="four", link_blas=False)
    assert ctypes.CDLL(str(path)).flowc_four() == 4
    monkeypatch.setenv("FLOWC_CXXFLAGS", "-DFOUR=44")
    other = compile_source(src, name="four", link_blas=False)
    assert other != path and ctypes.CDLL(str(other)).flowc_four() == 44


def test_missing_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWC_CXX", "no-such-compiler-xyz")
    with pytest.raises(CompileError, match="no-such-compiler-xyz"):
        compile_source("int x;\n", name="nocxx", link_blas=False)


def _compile_in_child(src: str, cache: str, barrier: "multiprocessing.synchronize.Barrier",
                      results: "multiprocessing.Queue[str]") -> None:
    os.environ["FLOWC_CACHE_DIR"] = cache
    compiler_mod.compiler_identity(os.environ.get("FLOWC_CXX") or "g++")   # warm up outside the race
    barrier.wait()
    path = compile_source(src, name="race", link_blas=False)
    assert ctypes.CDLL(str(path)).flowc_race() == 42
    results.put(str(path))


def test_concurrent_compiles_of_same_source_both_succeed(cache: Path) -> None:
    # a body big enough that the two compiles overlap; a fresh token so neither process hits the cache
    body = "\n".join(f"static int f{i}(int x) {{ return x * {i} + {i % 7}; }}" for i in range(300))
    src = f"// {uuid.uuid4()}\n{body}\nextern \"C\" int flowc_race() {{ return 42; }}\n"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_compile_in_child, args=(src, str(cache), barrier, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    paths = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert paths[0] == paths[1]
    assert ctypes.CDLL(paths[0]).flowc_race() == 42
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp")]


def test_debug_output(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], kernels: Path) -> None:
    monkeypatch.setenv("FLOWC_DEBUG", "1")
    src = f"// {uuid.uuid4()}\nextern \"C\" int flowc_five() {{ return 5; }}\n"
    path = compile_source(src, name="five", link_blas=False)
    err = capfd.readouterr().err
    assert str(path.with_suffix(".cpp")) in err and " s" in err
    prog = bind(_scale_program(), kernels, "flowc_scale")
    prog(_f32(4))
    assert "flowc: scale took" in capfd.readouterr().err


# --------------------------------------------------------------------------- BLAS
def test_blas_info_finds_pip_openblas() -> None:
    info = blas_info()
    assert info.prefix == "scipy_" and info.link_name == "scipy_openblas"
    assert info.include_dir is not None and (info.include_dir / "cblas.h").is_file()
    assert info.lib_path.is_file() and info.lib_path.parent == info.lib_dir


def test_blas_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = blas_info()
    monkeypatch.setenv("FLOWC_BLAS_LIB", str(tmp_path / "libnothing.so"))
    with pytest.raises(BlasNotFoundError, match="FLOWC_BLAS_LIB"):
        blas_info()
    monkeypatch.setenv("FLOWC_BLAS_LIB", str(real.lib_path))
    monkeypatch.setenv("FLOWC_BLAS_PREFIX", "scipy_")
    info = blas_info()
    assert info.lib_path == real.lib_path.resolve() and info.prefix == "scipy_"
    assert info.include_dir == real.include_dir.resolve()


def test_sgemm_from_handwritten_cpp_matches_numpy() -> None:
    p = ir.Program("mm")
    p.add_array("a", ["M", "K"], "float32")
    p.add_array("b", ["K", "N"], "float32")
    p.add_array("c", ["M", "N"], "float32")
    p.add_return("c")
    mm = bind(p, compile_source(SGEMM, name="mm"), "flowc_mm")
    for m, k, n in ((8, 16, 4), (65, 130, 33)):
        a, b = _f32(m, k), _f32(k, n)
        np.testing.assert_allclose(mm(a, b), a @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))


# --------------------------------------------------------------------------- internals
def test_size_expressions_print_as_integer_python() -> None:
    n, m = ir.symbol("N"), ir.symbol("M")
    local = {"N": "n", "M": "m"}
    cases = [n + 1, 2 * n * m, sympy.floor(n / 2), sympy.ceiling(n / 3), sympy.Max(n, m) - 1, sympy.Mod(n, 4), n**2]
    for expr in cases:
        text = binding_mod._py_expr(expr, local)
        for nv, mv in ((7, 3), (12, 5), (0, 1)):
            value = eval(text, dict(binding_mod.BUILTINS), {"n": nv, "m": mv})   # noqa: S307 - text generated from a sympy expr
            assert isinstance(value, int) and value == int(expr.subs({n: nv, m: mv})), (expr, text)


# --------------------------------------------------------------------------- frontend programs: writes, aliasing
import flowc  # noqa: E402

_N = flowc.symbol("N")


@flowc.program
def axpy_inplace(x: flowc.float64[_N], y: flowc.float64[_N]):
    y[:] = x * 2.0 + y


@flowc.program
def shift(x: flowc.float64[_N], y: flowc.float64[_N]):
    y[1:] = x[:-1] + 1.0


@flowc.program
def add(x: flowc.float64[_N], y: flowc.float64[_N]):
    return x + y


def test_read_only_array_written_in_place_is_rejected():
    x, y = RNG.standard_normal(9), RNG.standard_normal(9)
    frozen = y.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="'y' is written in place but the array is read-only"):
        axpy_inplace(x, frozen)
    np.testing.assert_array_equal(frozen, y)
    x.flags.writeable = False           # only read: fine
    want = x * 2.0 + y
    axpy_inplace(x, y)
    np.testing.assert_allclose(y, want)


def test_aliased_arguments_of_an_in_place_program_are_rejected():
    for size in (5, 100, 50000):
        a = RNG.standard_normal(size)
        with pytest.raises(ValueError, match="'x' and 'y' share memory.*writes 'y'"):
            shift(a, a)
        with pytest.raises(ValueError, match="share memory"):
            shift(a, a[:])
        b = a.copy()
        shift(a, b)                     # disjoint: NumPy's result
        want = a.copy()
        want[1:] = a[:-1] + 1.0
        np.testing.assert_allclose(b, want)
        np.testing.assert_allclose(add(a, a), 2 * a)    # nothing written: aliasing is fine
