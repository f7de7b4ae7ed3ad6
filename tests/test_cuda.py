"""The cuda target without a GPU: every test program runs in the CPU emulation of its kernels
(``FLOWC_CUDA_EMULATION=1``: the generated CUDA source compiled as host C++ against flowc's
emulation header) against NumPy, plain and with ``auto_optimize``, at several sizes; nvcc compiles
the same sources for sm_90a; the target refuses what it cannot run, clearly.

On a GPU, ``pytest -m gpu tests/test_cuda_device.py`` runs the same programs on the device."""

from __future__ import annotations

import copy
import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import flowc
from flowc import targets, transforms
from flowc.runtime import cuda

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))       # the repository root: tests.cuda_programs and tests.fuzz import from it

from tests.cuda_programs import CASES, Case, N, check  # noqa: E402


@pytest.fixture(autouse=True)
def emulation(monkeypatch):
    monkeypatch.setenv("FLOWC_CUDA_EMULATION", "1")


def _run(case: Case, auto_optimize: bool, rng: np.random.Generator) -> None:
    prog = flowc.program(case.func, target="cuda", auto_optimize=auto_optimize)
    for n in case.sizes:
        args, kw = case.make(rng, n)
        before = copy.deepcopy(args)
        check(case, prog(*args, **kw), before)


@pytest.mark.parametrize("auto_optimize", [False, True], ids=["plain", "auto_optimize"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_program_matches_numpy_in_emulation(case, auto_optimize, rng):
    _run(case, auto_optimize, rng)


def test_gather_out_of_bounds_raises_index_error(rng):
    from tests.cuda_programs import gather

    prog = flowc.program(gather, target="cuda")
    x = rng.standard_normal((4, 5)).astype(np.float32)
    with pytest.raises(IndexError, match="out of bounds"):
        prog(x, np.array([0, 4, 1]))
    np.testing.assert_array_equal(prog(x, np.array([3, -4])), x[[3, -4]] * 2)


def test_device_arrays_are_used_in_place(rng):
    """An object with ``__cuda_array_interface__`` is read and written where it is (in emulation
    device memory is host memory, so a NumPy buffer can stand for a device allocation)."""
    from tests.cuda_programs import time_loop

    class FakeDeviceArray:
        def __init__(self, a: np.ndarray):
            self.host = a
            self.__cuda_array_interface__ = {"data": (a.ctypes.data, False), "shape": a.shape,
                                             "typestr": a.dtype.str, "strides": None, "version": 3}

    prog = flowc.program(time_loop, target="cuda")
    a = rng.standard_normal((6, 4))
    want = a.copy()
    for _ in range(2):
        want[1:, :] = want[1:, :] * 0.5 + want[:-1, :] * 0.25
    dev = FakeDeviceArray(a)
    out = prog(dev, 2)
    np.testing.assert_allclose(a, want, rtol=1e-12)          # written in place, no copy back needed
    # a result for a caller of an unknown device-array kind is flowc's DeviceArray, itself a device array
    assert isinstance(out, cuda.DeviceArray)
    cai = out.__cuda_array_interface__
    assert cai["shape"] == want.shape and cai["typestr"] == want.dtype.str
    host = np.ctypeslib.as_array((ctypes.c_double * want.size).from_address(cai["data"][0])).reshape(want.shape)
    np.testing.assert_allclose(host, want, rtol=1e-12)


def test_device_array_checks_match_numpy_checks(rng):
    from tests.cuda_programs import softmax

    class Strided:
        def __init__(self, a):
            self.a = a
            self.__cuda_array_interface__ = {"data": (a.ctypes.data, False), "shape": a.shape,
                                             "typestr": a.dtype.str, "strides": a.strides, "version": 3}

    prog = flowc.program(softmax, target="cuda")
    x = rng.standard_normal((5, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="strides|contiguous"):
        prog(Strided(x[:, ::2]))
    with pytest.raises(TypeError, match="dtype|float32"):
        prog(Strided(x.astype(np.float64)))


def complex_double(a: flowc.complex64[N]):
    return a + a


def test_unsupported_dtype_is_refused_with_a_target_error():
    prog = flowc.program(complex_double, target="cuda")
    with pytest.raises(flowc.TargetError, match="complex64.*target='cpu'"):
        prog(np.ones(3, np.complex64))


def test_cuda_without_a_gpu_or_emulation_raises(monkeypatch):
    monkeypatch.delenv("FLOWC_CUDA_EMULATION")
    if cuda.device_count() > 0:
        pytest.skip("a GPU is present: the cuda target runs for real here")
    from tests.cuda_programs import softmax

    with pytest.raises(cuda.CudaUnavailableError, match="FLOWC_CUDA_EMULATION"):
        flowc.program(softmax, target="cuda")(np.ones((2, 3), np.float32))


def test_unknown_target_names_the_parameter():
    with pytest.raises(ValueError, match="parameter 'target' must be one of 'cpu', 'cuda'"):
        flowc.program(lambda a: a, target="tpu")


def test_gpu_offload_is_a_recorded_transformation_and_the_cpu_refuses_its_result():
    from tests.cuda_programs import softmax

    ir = flowc.program(softmax).to_ir()
    transforms.expand_library_nodes(ir, "cpu")
    applied = transforms.GPUOffload().apply_everywhere(ir)
    assert len(applied) == 1 and ir.history[-1]["transformation"] == "GPUOffload"
    assert transforms.GPUOffload().matches(ir) == []           # nothing left to move
    fresh = flowc.program(softmax).to_ir()
    transforms.replay(fresh, ir.history)
    assert fresh.to_json() == ir.to_json()
    from flowc.codegen import generate_cpp

    with pytest.raises(flowc.IRError, match="target='cuda'"):
        generate_cpp(ir)


def test_registers_only_local_storage_leaves_no_row_buffers():
    from tests.cuda_programs import layernorm

    ir = flowc.program(layernorm).to_ir()
    targets.get("cuda").optimize(ir)
    from flowc.ir.data import Array

    scoped = [n for n, d in ir.data.items() if isinstance(d, Array) and d.transient and d.ndim == 1]
    assert not scoped, scoped


def _cuda_sources() -> list[tuple[str, str]]:
    """(name, CUDA source) of every test program, plain and auto-optimized, as the target builds them."""
    out = []
    for case in CASES:
        for ao in (False, True):
            ir = flowc.program(case.func).to_ir()
            tgt = targets.get("cuda")
            if ao:
                tgt.optimize(ir)
            tgt.lower(ir)
            # the first case also instrumented: the kernel profile's code must build for nvcc too
            for instrument in (False, True) if case is CASES[0] else (False,):
                name = f"{case.name}-{'opt' if ao else 'plain'}{'-instrumented' if instrument else ''}"
                out.append((name, tgt.generate(ir, instrument).source))
    return out


def test_instrumented_cuda_program_profiles_its_kernels(rng):
    """The kernel profile on the cuda target (emulated): each top-level scope is a kernel with
    its runs, and the result still matches NumPy."""
    case = CASES[0]
    compiled = flowc.compile_program(flowc.program(case.func).to_ir(), target="cuda", auto_optimize=True,
                                     instrument=True)
    for n in case.sizes:
        args, kw = case.make(rng, n)
        before = copy.deepcopy(args)
        check(case, compiled(*args, **kw), before)
        profile = compiled.profile()
        assert profile and all(k.runs == 1 and k.seconds >= 0 for k in profile.values()), profile


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on the PATH (CI has nvcc 13.0)")
@pytest.mark.timeout(1800)
def test_every_generated_cuda_source_compiles_with_nvcc():
    from concurrent.futures import ThreadPoolExecutor

    sources = _cuda_sources()

    def compile_one(item):
        name, source = item
        try:
            report = cuda.check_compiles(source, gencode_ptx=False)
        except flowc.CompileError as exc:
            return name, f"FAILED: {exc}\n{exc.compiler_output[-3000:] if exc.compiler_output else ''}"
        spills = [line for line in report.splitlines() if "spill" in line and " 0 bytes spill stores" not in line]
        return name, "; ".join(spills)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(compile_one, sources))
    failed = [f"{n}: {r}" for n, r in results if r.startswith("FAILED")]
    assert not failed, "\n\n".join(failed)
    spilled = [f"{n}: {r}" for n, r in results if r]
    assert not spilled, "register spills:\n" + "\n".join(spilled)


def test_emulation_under_address_sanitizer(tmp_path):
    """The emulation build with AddressSanitizer, in a process that preloads libasan: the softmax,
    the attention block and a gather run clean (an out-of-bounds access would abort it)."""
    libasan = subprocess.run(["g++", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not libasan or not Path(libasan).exists():
        pytest.skip("g++ has no libasan here")
    script = (
        "import numpy as np, flowc\n"
        "from tests.cuda_programs import CASES, check\n"
        "rng = np.random.default_rng()\n"
        "for case in CASES:\n"
        "    if case.name not in ('softmax', 'attention', 'gather', 'batched_transposed'):\n"
        "        continue\n"
        "    prog = flowc.program(case.func, target='cuda', auto_optimize=True)\n"
        "    for n in case.sizes:\n"
        "        args, kw = case.make(rng, n)\n"
        "        check(case, prog(*args, **kw), args)\n"
        "print('clean')\n")
    env = dict(os.environ, FLOWC_CUDA_EMULATION="1", FLOWC_CUDA_SANITIZE="address", LD_PRELOAD=libasan,
               ASAN_OPTIONS="detect_leaks=0", FLOWC_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(REPO),
                          timeout=900)
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr[-4000:]


@pytest.mark.timeout(1800)
def test_random_programs_match_numpy_on_the_cuda_target(tmp_path, monkeypatch):
    """The differential fuzzer's programs (tests/fuzz/), compiled for the cuda target and run in
    emulation: NumPy's results, dtypes and shapes, plain and auto_optimize, or a clean refusal."""
    from tests.fuzz.report import check_seed

    monkeypatch.setenv("FLOWC_FUZZ_TARGET", "cuda")       # the workers inherit the environment
    count = int(os.environ.get("FLOWC_FUZZ_CUDA_COUNT", "48"))
    report, failing, text, ok = check_seed(20261208, count, tmp_path, min(2, os.cpu_count() or 1), 10)
    assert not failing, f"{len(failing)} of {count} programs differ from NumPy on cuda\n{report}\n\n{text}"
    assert ok >= 0.3 * count, f"only {ok} of {count} programs were compared on cuda\n{report}"


def test_dlpack_producers_are_device_arrays(rng):
    """An object that only speaks DLPack (``__dlpack__``/``__dlpack_device__``) is read and written
    where it is; under emulation a CPU DLPack producer stands in for a device one."""
    from tests.cuda_programs import time_loop

    class DLPackOnly:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    prog = flowc.program(time_loop, target="cuda")
    a = rng.standard_normal((5, 3))
    want = a.copy()
    want[1:, :] = want[1:, :] * 0.5 + want[:-1, :] * 0.25
    prog(DLPackOnly(a), 1)
    np.testing.assert_allclose(a, want, rtol=1e-12)
    with pytest.raises(TypeError, match="dtype|float64"):
        prog(DLPackOnly(a.astype(np.float32)), 1)


def test_offload_makes_host_device_copies_explicit_and_counted():
    """After GPUOffload an argument is copied in (unless it is a returned array), a written argument
    and each returned array are copied out, the kernels use device twins, and data_movement()
    counts the transfers apart from the device traffic."""
    from flowc.ir.data import Storage
    from tests.cuda_programs import softmax, time_loop

    ir = flowc.program(softmax).to_ir()
    targets.get("cuda").lower(ir)
    names = [st.name for st in ir.states()]
    assert names[0].startswith("gpu_copy_in") and names[-1].startswith("gpu_copy_out")
    assert ir.data["x"].storage is Storage.HOST and ir.data["x_gpu"].storage is Storage.GPU_GLOBAL
    n, m = 300, 70
    dm = ir.data_movement(N=n, M=m)
    assert dm["transfers"] == {"host_to_device": 4 * n * m, "device_to_host": 4 * n * m}
    assert dm["by_storage"]["gpu_global"]["read"] >= 4 * n * m
    assert transforms.GPUOffload().matches(ir) == []

    ir = flowc.program(time_loop).to_ir()            # a written argument goes both ways
    targets.get("cuda").lower(ir)
    dm = ir.data_movement(N=9, M=4, T=2)
    assert dm["transfers"]["host_to_device"] == 8 * 36
    assert dm["transfers"]["device_to_host"] == 8 * 36 * 2        # the argument and the returned copy


def test_numpy_and_device_arguments_mix_in_one_call(rng):
    """A NumPy argument is copied by the generated code, a device one used in place (its copy
    skipped by the fc_on_device mask); the result follows the device argument's kind."""
    from tests.cuda_programs import elementwise

    class FakeDeviceArray:
        def __init__(self, a):
            self.a = a
            self.__cuda_array_interface__ = {"data": (a.ctypes.data, False), "shape": a.shape,
                                             "typestr": a.dtype.str, "strides": None, "version": 3}

    prog = flowc.program(elementwise, target="cuda", auto_optimize=True)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((4, 6), (6,), (4, 1)))
    want = np.exp(a) * 2 + b - np.sqrt(np.abs(c)) * np.tanh(a)
    np.testing.assert_allclose(prog(a, b, c), want, rtol=1e-5, atol=1e-5)    # all NumPy: a NumPy result
    out = prog(a, FakeDeviceArray(b), c)                                      # one on the device
    assert isinstance(out, cuda.DeviceArray)
    host = np.ctypeslib.as_array((ctypes.c_float * want.size).from_address(out.ptr)).reshape(want.shape)
    np.testing.assert_allclose(host, want, rtol=1e-5, atol=1e-5)


def test_a_new_process_starts_warm(tmp_path):
    """The lowered, offloaded program and its library are cached: a second process neither lowers
    nor compiles (the warm start of the CPU target, on the cuda target)."""
    script = ("import numpy as np, flowc\n"
              "from flowc.runtime import cache\n"
              "from tests.cuda_programs import softmax\n"
              "x = np.random.default_rng().standard_normal((5, 7)).astype(np.float32)\n"
              "y = flowc.program(softmax, target='cuda', auto_optimize=True)(x)\n"
              "e = np.exp(x - x.max(1, keepdims=True))\n"
              "assert np.allclose(y, e / e.sum(1, keepdims=True), rtol=1e-5)\n"
              "print(cache.stats['compiles'], cache.stats['program_hits'])\n")
    env = dict(os.environ, FLOWC_CUDA_EMULATION="1", FLOWC_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(REPO),
                           timeout=600) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr[-3000:]
    assert runs[0].stdout.split() == ["1", "0"] and runs[1].stdout.split() == ["0", "1"], [r.stdout for r in runs]


def lapack_solve(a: flowc.float64[N, N], b: flowc.float64[N]):
    return np.linalg.solve(a, b)


def test_lapack_nodes_are_refused_on_the_gpu_with_a_target_error():
    with pytest.raises(flowc.TargetError, match="Solve.*no implementation on the cuda target.*target='cpu'"):
        flowc.program(lapack_solve, target="cuda")(np.eye(3) * 2, np.ones(3))
