"""The cuda target's driver: building a program's CUDA source, finding the device, and calling
the compiled program with device arrays (Triton's split: ``flowc.codegen.cuda`` is the backend
that writes the source; this module loads and launches it).

Toolchains
----------
- **nvcc** (a GPU is present): ``-gencode`` for the device's architecture (``sm_90a`` plus
  ``compute_90`` PTX when none can be read: a machine without a GPU never uses ``native``),
  ``--extended-lambda`` (kernels are ``__device__`` lambdas), cuBLAS from the ``nvidia-cublas``
  wheel (``pip install flowc[cuda]``: headers, and ``libcublas.so.13`` linked by its versioned
  name with an rpath, since the wheel ships no unversioned ``.so``). ``FLOWC_NVCC`` names another
  nvcc; ``FLOWC_CUDA_ARCH`` (``90a``, ``80``...) another architecture.
- **emulation** (``FLOWC_CUDA_EMULATION=1``, for tests without a GPU): the same source compiled
  by the C++ compiler as host code against ``include/flowc_cuda_emulation.h``: kernels run on
  the CPU, thread after thread; cuBLAS calls go to the CPU BLAS with cuBLAS's column-major
  arguments. ``FLOWC_CUDA_SANITIZE=address`` adds AddressSanitizer (the process must preload
  libasan: see tests/test_cuda_emulation.py).

Without a GPU and without ``FLOWC_CUDA_EMULATION``, ``target="cuda"`` raises: nothing silently
runs on the CPU instead.

Arrays
------
A call accepts, for each array parameter:
- any object with ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors), or with
  ``__dlpack__`` and a CUDA device (JAX arrays, ...), without a copy: its pointer, shape and
  strides are checked like a NumPy array's; results come back as the same kind of array
  (allocated by CuPy or PyTorch; flowc's ``DeviceArray``, which exports
  ``__cuda_array_interface__``, for other kinds), and the work is queued on CuPy's or PyTorch's
  current stream;
- a NumPy array, copied to the device before the call and back after it when the program writes
  it; results come back as NumPy arrays. (Under emulation device memory is host memory: stand-in
  device arrays over host buffers, and DLPack producers on the CPU, take the device path.)
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Optional

import numpy as np

from flowc.ir.errors import CompileError, FlowcError
from flowc.ir.program import Program
from flowc.runtime import binding
from flowc.runtime.compiler import BASE_FLAGS, Toolchain, _compiler_command, compiler_identity, debug_enabled

__all__ = ["DeviceArray", "bind", "check_compiles", "device_count", "emulated", "toolchain"]

INCLUDE_DIR = Path(__file__).parent / "include"
EMULATION_HEADER = INCLUDE_DIR / "flowc_cuda_emulation.h"
#: the architecture code is generated for when the device cannot be asked (and its PTX fallback)
DEFAULT_ARCH = "90a"
PTX_ARCH = "90"


class CudaUnavailableError(FlowcError):
    """``target="cuda"`` on a machine with no usable GPU (and emulation not asked for)."""


def emulated() -> bool:
    """Whether ``FLOWC_CUDA_EMULATION`` asks for the CPU emulation of the cuda target."""
    return os.environ.get("FLOWC_CUDA_EMULATION", "") not in ("", "0")


# ---------------------------------------------------------------- the device
@functools.cache
def _cudart() -> Optional[ctypes.CDLL]:
    """The CUDA runtime library, from nvcc's toolkit or the loader's path; None if absent."""
    candidates = ["libcudart.so.13", "libcudart.so"]
    nvcc = shutil.which(os.environ.get("FLOWC_NVCC") or "nvcc")
    if nvcc:
        root = Path(os.path.realpath(nvcc)).parent.parent
        candidates = [str(p) for d in ("lib64", "lib", "targets/x86_64-linux/lib")
                      for p in sorted((root / d).glob("libcudart.so*"))] + candidates
    for name in candidates:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


@functools.cache
def device_count() -> int:
    """How many CUDA devices the runtime sees (0 without a driver or a GPU)."""
    rt = _cudart()
    if rt is None:
        return 0
    count = ctypes.c_int(0)
    try:
        if rt.cudaGetDeviceCount(ctypes.byref(count)) != 0:
            return 0
    except (AttributeError, OSError):
        return 0
    return count.value


@functools.cache
def device_arch() -> Optional[str]:
    """The current device's compute capability as nvcc spells it (``90a`` for Hopper), or None."""
    if device_count() == 0:
        return None
    rt = _cudart()
    major, minor, dev = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    if rt.cudaGetDevice(ctypes.byref(dev)) != 0:
        return None
    if rt.cudaDeviceGetAttribute(ctypes.byref(major), 75, dev) != 0 or \
            rt.cudaDeviceGetAttribute(ctypes.byref(minor), 76, dev) != 0:
        return None
    arch = f"{major.value}{minor.value}"
    return arch + "a" if arch == "90" else arch


def require_device() -> None:
    """Raise unless the cuda target can run here (a GPU, or emulation asked for)."""
    if emulated() or device_count() > 0:
        return
    raise CudaUnavailableError("target='cuda' needs a CUDA GPU, and none is visible (no driver, or no device); "
                               "set FLOWC_CUDA_EMULATION=1 to run the generated kernels on the CPU for testing")


# ---------------------------------------------------------------- toolchains
@functools.cache
def cublas_paths() -> tuple[Path, Path]:
    """(include dir, lib dir) of the ``nvidia-cublas`` wheel; CompileError if it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for root in roots:
        for header in sorted(root.glob("*/include/cublas_v2.h")):
            lib = header.parent.parent / "lib"
            if list(lib.glob("libcublas.so.*")):
                return header.parent, lib
    raise CompileError("the cuda target needs cuBLAS: pip install 'flowc[cuda]' (the nvidia-cublas wheel)")


def _nvcc() -> str:
    exe = shutil.which(os.environ.get("FLOWC_NVCC") or "nvcc")
    if exe is None:
        raise CompileError("the cuda target needs nvcc on the PATH (or FLOWC_NVCC); it is also installable with "
                           "pip install nvidia-cuda-nvcc")
    return os.path.realpath(exe)


@functools.cache
def _nvcc_version(nvcc: str) -> str:
    try:
        return subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompileError(f"cannot run {nvcc}: {exc}") from exc


def _arch() -> str:
    return os.environ.get("FLOWC_CUDA_ARCH") or device_arch() or DEFAULT_ARCH


def nvcc_flags(arch: str) -> list[str]:
    """The device-code flags: machine code for ``arch``, PTX for ``compute_90`` (or ``arch``)."""
    ptx = PTX_ARCH if arch.startswith("90") else arch.rstrip("a")
    return ["-std=c++17", "-O3", "--extended-lambda", "--expt-relaxed-constexpr",
            f"-gencode=arch=compute_{arch},code=sm_{arch}", f"-gencode=arch=compute_{ptx},code=compute_{ptx}",
            "-Xcompiler", "-fPIC,-fno-math-errno,-fwrapv",
            # unused variables (the scalars every kernel binds), a declared-but-unreferenced label
            "-diag-suppress", "177,550"]


def toolchain() -> Toolchain:
    """The toolchain that builds cuda-target libraries here: nvcc, or the emulation build."""
    if emulated():
        return _emulation_toolchain(os.environ.get("FLOWC_CXX") or "g++",
                                    os.environ.get("FLOWC_CUDA_SANITIZE", ""), debug_enabled())
    return _nvcc_toolchain(_arch(), debug_enabled())


@functools.cache
def _nvcc_toolchain(arch: str, debug: bool) -> Toolchain:
    nvcc = _nvcc()
    include, lib = cublas_paths()
    flags = [*nvcc_flags(arch), "-shared", f"-I{include}"]
    if debug:
        flags += ["-DFLOWC_SYNC_EACH_KERNEL", "-lineinfo"]
    link = [f"-L{lib}", "-l:libcublas.so.13", f"-Xlinker=-rpath,{lib}"]
    return Toolchain("nvcc", (nvcc,), f"{nvcc}\n{_nvcc_version(nvcc)}\narch {arch}", tuple(flags), tuple(link),
                     suffix=".cu")


@functools.cache
def _emulation_toolchain(cxx: str, sanitize: str, debug: bool) -> Toolchain:
    header = EMULATION_HEADER.read_bytes()
    flags = [*BASE_FLAGS, "-DFLOWC_CUDA_EMULATION", f"-I{INCLUDE_DIR}", "-Wno-unused-variable"]
    if sanitize:
        if not re.fullmatch(r"[a-z,]+", sanitize):
            raise ValueError(f"FLOWC_CUDA_SANITIZE must name sanitizers (address, undefined), got {sanitize!r}")
        flags += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-O1"]
    if debug:
        flags.append("-DFLOWC_SYNC_EACH_KERNEL")
    identity = f"{compiler_identity(cxx)}\ncuda emulation {hashlib.sha256(header).hexdigest()}"
    return Toolchain("g++ (CUDA emulation)", _compiler_command(cxx), identity, tuple(flags))


def check_compiles(source: str, *, arch: str = DEFAULT_ARCH, gencode_ptx: bool = True, timeout: float = 600) -> str:
    """Compile ``source`` with nvcc to an object file (no linking, no GPU needed) and return the
    compiler's output (its register and spill report with ``-Xptxas -v``); CompileError with that
    output and the source's path on failure. What CI runs on every generated CUDA source
    (``gencode_ptx=False``: machine code for ``arch`` only, half the time)."""
    import tempfile

    nvcc = _nvcc()
    include, _ = cublas_paths()
    work = Path(tempfile.mkdtemp(prefix="flowc-nvcc-check-"))
    src = work / "program.cu"
    src.write_text(source, encoding="utf-8")
    flags = nvcc_flags(arch)
    if not gencode_ptx:
        flags = [f for f in flags if not f.startswith("-gencode=arch=compute_") or f"code=sm_{arch}" in f]
    argv = [nvcc, *flags, "-Xptxas", "-v", f"-I{include}", "-c", "-o", str(work / "program.o"), str(src)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    output = (proc.stderr + proc.stdout).strip()
    if proc.returncode != 0:
        raise CompileError(f"nvcc failed (exit code {proc.returncode})\n  command: {' '.join(argv)}",
                           source_path=str(src), compiler_output=output)
    shutil.rmtree(work, ignore_errors=True)
    return output


# ---------------------------------------------------------------- device arrays
class _Flags:
    __slots__ = ("writeable", "c_contiguous")

    def __init__(self, writeable: bool, c_contiguous: bool):
        self.writeable, self.c_contiguous = writeable, c_contiguous


@functools.lru_cache(maxsize=1024)
def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return tuple(reversed(strides))


_FLAGS = {(w, c): _Flags(w, c) for w in (False, True) for c in (False, True)}


class DeviceArray:
    """A strided array in device memory, as the marshalling code sees it (NumPy's ``dtype``,
    ``shape``, ``strides`` in bytes, ``flags``); ``owner`` is the caller's object (a CuPy array, a
    PyTorch tensor, the NumPy array it stages) or None for memory flowc allocated and frees. It
    exports ``__cuda_array_interface__``, so CuPy (``cupy.asarray``) and PyTorch
    (``torch.as_tensor``) take it without a copy."""

    __slots__ = ("ptr", "shape", "strides", "dtype", "flags", "owner", "_free", "_base")

    def __init__(self, ptr: int, shape: tuple, strides: Optional[tuple], dtype: np.dtype, writeable: bool = True,
                 owner: Any = None, free: Any = None):
        self.ptr, self.shape, self.dtype, self.owner, self._free = ptr, shape, dtype, owner, free
        self._base: Optional[DeviceArray] = None    # the allocation a view keeps alive
        c_strides = _c_strides(shape, dtype.itemsize)
        self.strides = c_strides if strides is None else tuple(strides)
        self.flags = _FLAGS[writeable, strides is None or self.strides == c_strides]

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"data": (self.ptr, not self.flags.writeable), "shape": self.shape, "typestr": self.dtype.str,
                "strides": None if self.flags.c_contiguous else self.strides, "version": 3}

    def extent(self) -> tuple[int, int]:
        """[lowest, highest) byte addresses the array touches."""
        if any(s == 0 for s in self.shape):
            return self.ptr, self.ptr
        lo = self.ptr + sum(st * (n - 1) for st, n in zip(self.strides, self.shape) if st < 0)
        hi = self.ptr + sum(st * (n - 1) for st, n in zip(self.strides, self.shape) if st > 0) + self.dtype.itemsize
        return lo, hi

    def transpose(self, axes: tuple[int, ...]) -> "DeviceArray":
        owner = self.owner.permute(*axes) if hasattr(self.owner, "permute") else \
            self.owner.transpose(axes) if self.owner is not None else None
        view = DeviceArray(self.ptr, tuple(self.shape[a] for a in axes), tuple(self.strides[a] for a in axes),
                           self.dtype, self.flags.writeable, owner)
        view._base = self._base or self
        return view

    def __del__(self) -> None:
        if self._free is not None and self.ptr:
            self._free(self.ptr)
            self.ptr = 0

    def __repr__(self) -> str:
        return f"DeviceArray(0x{self.ptr:x}, shape={self.shape}, dtype={self.dtype})"



@functools.lru_cache(maxsize=256)
def _kind(cls: type) -> str:
    """Which library allocates results for a caller passing device arrays of class ``cls``."""
    module = cls.__module__.split(".")[0]
    return module if module in ("cupy", "torch") else "flowc"


# ---------------------------------------------------------------- DLPack
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


_DL_CPU, _DL_CUDA, _DL_CUDA_MANAGED = 1, 2, 13
_DL_KINDS = {0: "i", 1: "u", 2: "f", 6: "b"}     # kDLInt, kDLUInt, kDLFloat, kDLBool


def _from_dlpack(value: Any) -> Optional[DeviceArray]:
    """A device view of a DLPack producer whose memory is on a CUDA device (on the CPU, under
    emulation); None for host memory otherwise. The capsule stays owned by the view: DLPack's
    deleter runs when the view is gone."""
    device_type, _ = value.__dlpack_device__()
    on_device = device_type in (_DL_CUDA, _DL_CUDA_MANAGED) or (emulated() and device_type == _DL_CPU)
    if not on_device:
        return None
    capsule = value.__dlpack__()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    t = _DLTensor.from_address(get(capsule, b"dltensor"))      # DLManagedTensor starts with its DLTensor
    kind = _DL_KINDS.get(t.dtype.code)
    if kind is None or t.dtype.lanes != 1:
        raise TypeError(f"a DLPack array of type code {t.dtype.code} with {t.dtype.lanes} lanes is not supported")
    dtype = np.dtype("?") if kind == "b" else np.dtype(f"{kind}{t.dtype.bits // 8}")
    shape = tuple(t.shape[d] for d in range(t.ndim))
    strides = None if not t.strides else tuple(t.strides[d] * dtype.itemsize for d in range(t.ndim))
    return DeviceArray((t.data or 0) + t.byte_offset, shape, strides, dtype, True, capsule)


def _owner(value: Any) -> Any:
    """The CuPy array or PyTorch tensor a result was allocated as."""
    return value.owner if isinstance(value, DeviceArray) and value.owner is not None else value


_DTYPES: dict[str, np.dtype] = {}


def _dtype(typestr: str) -> np.dtype:
    dt = _DTYPES.get(typestr)
    if dt is None:
        dt = _DTYPES[typestr] = np.dtype(typestr)
    return dt


class _Call(threading.local):
    """Per call (and thread): who allocates results (``numpy``: host arrays; ``flowc``: device
    memory, returned as DeviceArray; ``cupy``, ``torch``), and the stream last set."""

    allocator: str = "numpy"
    stream: int = -1


class CudaCompiledProgram(binding.CompiledProgram):
    """A compiled cuda-target program: turns device arrays (``__cuda_array_interface__``, DLPack)
    into ``DeviceArray`` views, sets the caller's stream and calls the generated marshalling code
    (``_marshal``). NumPy arrays go through as host pointers: the generated code copies them to
    their device twins and back (``flowc.transforms.gpu``); a device array's bit in the entry's
    ``fc_on_device`` mask makes it skip those copies. Results come back as the kind of array the
    caller passed: NumPy for NumPy callers, CuPy or PyTorch for theirs, a ``DeviceArray`` for
    other device arrays."""

    _lib: Any
    _inputs: list
    _call_state: _Call

    def _malloc(self, nbytes: int) -> int:
        ptr = self._lib.flowc_cuda_malloc(max(int(nbytes), 1))
        if not ptr:
            raise MemoryError(f"{self._label}: out of device memory ({nbytes} bytes)")
        return ptr

    def _empty(self, shape: tuple, dtype: Any) -> Any:
        """A returned array: a host array for NumPy callers, else device memory of the caller's kind."""
        kind = self._call_state.allocator
        if kind == "numpy":
            return np.empty(shape, dtype)
        dtype = np.dtype(dtype)
        if kind == "cupy":
            import cupy

            arr = cupy.empty(shape, dtype)
            return DeviceArray(arr.data.ptr, tuple(arr.shape), tuple(arr.strides), dtype, True, arr)
        if kind == "torch":
            import torch

            tdt = torch.from_numpy(np.empty(0, dtype)).dtype
            t = torch.empty(shape, dtype=tdt, device="cuda")
            return DeviceArray(t.data_ptr(), tuple(t.shape), tuple(s * dtype.itemsize for s in t.stride()), dtype,
                               True, t)
        n = math.prod(shape) * dtype.itemsize
        return DeviceArray(self._malloc(n), tuple(shape), None, dtype, True, None, self._lib.flowc_cuda_free)

    def _strided(self, shape: tuple, dtype: Any, buffer: Any, strides: tuple) -> Any:
        if isinstance(buffer, np.ndarray):
            return np.ndarray(shape, dtype, buffer=buffer, strides=strides)
        view = DeviceArray(buffer.ptr, tuple(shape), tuple(strides), np.dtype(dtype), True, None)
        view._base = buffer._base or buffer
        return view

    def _device_view(self, value: Any) -> Any:
        """A device array argument as a DeviceArray; anything else unchanged."""
        cai = getattr(value, "__cuda_array_interface__", None)
        if cai is not None:
            if cai.get("mask") is not None:
                raise TypeError(f"{self._label}: masked device arrays are not supported")
            ptr, readonly = cai["data"]
            strides = cai.get("strides")
            return DeviceArray(ptr or 0, tuple(cai["shape"]), None if strides is None else tuple(strides),
                               _dtype(cai["typestr"]), not readonly, value)
        if hasattr(value, "__dlpack__"):
            dev = _from_dlpack(value)
            return dev if dev is not None else np.from_dlpack(value)    # host memory: as a NumPy array
        return value

    def __call__(self, *args: Any, **symbols: Any) -> Any:
        staged = list(args)
        allocator = "numpy"
        for i, p in enumerate(self._inputs[:len(args)]):
            a = args[i]
            if p.kind != "array" or isinstance(a, (np.ndarray, DeviceArray)):
                continue
            staged[i] = dev = self._device_view(a)
            if allocator == "numpy" and isinstance(dev, DeviceArray):
                allocator = _kind(type(a))
        state = self._call_state
        state.allocator = allocator
        stream = 0
        if allocator == "cupy":
            import cupy

            stream = cupy.cuda.get_current_stream().ptr
        elif allocator == "torch":
            import torch

            stream = torch.cuda.current_stream().cuda_stream
        if stream != state.stream:
            self._lib.flowc_cuda_set_stream(ctypes.c_void_p(stream))
            state.stream = stream
        out = self._marshal(*staged, **symbols)
        if allocator in ("cupy", "torch"):           # the caller's kind of device array
            return tuple(_owner(o) for o in out) if isinstance(out, tuple) else _owner(out)
        return out

    def _marshal(self, *args: Any, **kwargs: Any) -> Any:    # replaced per program by bind()
        raise NotImplementedError


def _device_mask(arrays: tuple) -> int:
    """Bit k set when the k-th array argument is in device memory."""
    mask = 0
    for k, a in enumerate(arrays):
        if type(a) is DeviceArray:
            mask |= 1 << k
    return mask


def _overlap(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    if isinstance(a, DeviceArray) and isinstance(b, DeviceArray):
        (lo_a, hi_a), (lo_b, hi_b) = a.extent(), b.extent()
        return lo_a < hi_b and lo_b < hi_a
    return False                 # host and device memory


class _DeviceConvention(binding.ArrayConvention):
    """NumPy arrays or DeviceArrays; the data pointer of either; the device mask after the symbols."""

    def __init__(self, holder: list):
        self.array_type = (np.ndarray, DeviceArray)
        self.empty = lambda shape, dtype: holder[0]._empty(shape, dtype)
        self.strided = lambda shape, dtype, buffer, strides: holder[0]._strided(shape, dtype, buffer, strides)
        self.overlap = _overlap
        self.names = {"_fc_DA": DeviceArray, "_fc_devmask": _device_mask}
        self.extra_ctypes = [ctypes.c_int64]

    def pointer(self, var: str) -> str:
        return f"({var}.ptr if _fc_type({var}) is _fc_DA else {binding._pointer_expr(var)})"

    def extra_args(self, array_vars: list[str]) -> list[str]:
        return [f"_fc_devmask(({', '.join(array_vars)},))"] if array_vars else ["0"]


def bind(program: Program, library_path: Path, entry: str) -> CudaCompiledProgram:
    """Load a cuda-target library and wrap ``entry`` for ``program`` (see the module docstring)."""
    holder: list = []
    obj = binding.bind(program, library_path, entry, convention=_DeviceConvention(holder), base=CudaCompiledProgram)
    holder.append(obj)
    lib = obj.library
    lib.flowc_cuda_malloc.argtypes, lib.flowc_cuda_malloc.restype = [ctypes.c_int64], ctypes.c_void_p
    lib.flowc_cuda_free.argtypes, lib.flowc_cuda_free.restype = [ctypes.c_void_p], None
    lib.flowc_cuda_set_stream.argtypes, lib.flowc_cuda_set_stream.restype = [ctypes.c_void_p], None
    obj._lib = lib
    obj._inputs = [p for p in obj.params if p.kind != "symbol" and not p.is_return]
    obj._call_state = _Call()
    return obj
