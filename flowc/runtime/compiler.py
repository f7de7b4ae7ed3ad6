"""Compiling generated C++ into a shared library, with a content-addressed disk cache.

``compile_source`` is the one place flowc invokes a C++ compiler. It is
called with the complete text of a translation unit and returns the path of a
shared library that exports whatever the text exports, checked and loadable.

The cache
---------
A library is named by a sha256 over its source text and the *build key*
(:func:`build_key`): the compiler's identity (resolved path plus its
``--version`` output, computed once per process), the host CPU (model and
feature flags, since libraries are built with ``-march=native``), the full flag
list, and the BLAS library path. So an edit to the source, a compiler upgrade,
a flag change or a switch of BLAS each produce a new entry, and equal inputs
always map to the same file: a second call (in this process or any later one)
returns the existing library without starting the compiler.

Where, and what an entry is (``<name>_<hash>.so``, its manifest, the source
beside it as ``<name>_<hash>.cpp`` for people to read), how entries are
verified, what happens when the directory is unusable and how concurrent
compiles of one entry are serialized: see :mod:`flowc.runtime.cache`. In
short: a hit is verified against its manifest (size and sha256, once per
process) and loaded once; a damaged entry or one that fails to load is
removed with a warning and rebuilt; an unusable directory falls back to a
private one with a warning; N processes or threads that need the same missing
library compile it once. ``FLOWC_CACHE=0`` turns the cache off: every call
compiles into a fresh temporary directory (left in place, since the returned
library must outlive the call).

Environment
-----------
``FLOWC_CXX`` (compiler command, default ``g++``; may be a wrapper like
``ccache g++``), ``FLOWC_CXXFLAGS`` (appended to the flags, shell syntax),
``FLOWC_CACHE_DIR``, ``FLOWC_CACHE``, ``FLOWC_DEBUG`` (print the source path
and the compile time to stderr).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from flowc.ir.errors import CompileError
from flowc.runtime import cache
from flowc.runtime.blas import BlasInfo, blas_info
from flowc.runtime.cache import cache_dir

__all__ = ["BASE_FLAGS", "Toolchain", "build_key", "cache_dir", "cached_library", "compile_source", "compiler_identity",
           "debug_enabled", "host_identity"]

#: the flags every library is built with. ``-fno-math-errno`` lets ``sqrt`` inline and
#: ``-fno-trapping-math`` lets loops with selects (clamps, ``where``, fast exp/tanh) vectorize;
#: neither changes a result (flowc never reads errno or floating-point exception flags).
#: ``-ffp-contract=off`` keeps ``a * b + c`` two roundings, as NumPy computes it (GCC's default
#: fuses it into one FMA, and a result truncated to an integer then differs: ``int(-24 + -40 * -0.7)``
#: is 3 with FMA and 4 in NumPy); flowc's own polynomials (exp, tanh) use explicit FMAs.
#: ``-fwrapv`` makes signed integer overflow wrap, as NumPy's integer arithmetic does (without
#: it overflow is undefined behaviour and the optimizer's result depends on the expression).
#: ``-fcx-fortran-rules`` makes complex ``*`` the plain formula (``ac - bd``, ``ad + bc``) and ``/``
#: a scaled one, as NumPy computes them: C++'s default retries a product that came out NaN (C99
#: Annex G) through a library call, which gives other values than NumPy's where a factor is inf
#: or NaN and made a diverging Mandelbrot iteration several times slower.
#: ``-ffast-math`` is never used because it does (reassociation, no NaN/Inf handling).
BASE_FLAGS: tuple[str, ...] = ("-std=c++17", "-O3", "-march=native", "-fopenmp", "-fPIC", "-shared",
                               "-fno-math-errno", "-fno-trapping-math", "-fwrapv",
                               "-ffp-contract=off", "-fcx-fortran-rules")

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def debug_enabled() -> bool:
    """Whether ``FLOWC_DEBUG`` asks for diagnostics (set, non-empty and not ``0``)."""
    value = os.environ.get("FLOWC_DEBUG", "")
    return value not in ("", "0")


@functools.cache
def _compiler_command(cxx: str) -> tuple[str, ...]:
    """``FLOWC_CXX`` split into argv with the executable resolved to an absolute path."""
    argv = shlex.split(cxx)
    if not argv:
        raise CompileError("FLOWC_CXX is empty; set it to a C++ compiler such as g++")
    exe = shutil.which(argv[0])
    if exe is None:
        raise CompileError(f"C++ compiler {argv[0]!r} not found on PATH; install g++ or set FLOWC_CXX")
    return (os.path.realpath(exe), *argv[1:])


@functools.cache
def compiler_identity(cxx: str = "g++") -> str:
    """The resolved compiler command and its ``--version`` output; memoized per process.

    Part of every cache key, so libraries built by another compiler (or version) are never reused.
    """
    argv = _compiler_command(cxx)
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
        version = out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompileError(f"cannot run C++ compiler {' '.join(argv)!r}: {exc}") from exc
    return " ".join(argv) + "\n" + version


@functools.cache
def host_identity() -> str:
    """The CPU this process runs on (architecture, model, feature flags); memoized per process.

    Part of the cache key because libraries are built with ``-march=native``: a cache directory
    shared between machines (a home directory on a network file system) must not hand a library
    built for one CPU to another that lacks its instructions.
    """
    parts = [platform.machine()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            seen: set[str] = set()
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "flags", "Features", "CPU part") and key not in seen:
                    seen.add(key)
                    parts.append(f"{key}: {value.strip()}")
    except OSError:
        parts.append(platform.processor())
    return "\n".join(parts)


@functools.lru_cache(maxsize=64)
def _split_flags(text: str) -> tuple[str, ...]:
    return tuple(shlex.split(text))


def _flags(extra_flags: Sequence[str], blas: Optional[BlasInfo]) -> tuple[list[str], list[str]]:
    """Compile flags (before the source file) and link flags (after it)."""
    compile_flags = [*BASE_FLAGS, *_split_flags(os.environ.get("FLOWC_CXXFLAGS", "")), *extra_flags]
    link_flags: list[str] = []
    if blas is not None:
        compile_flags += blas.compile_flags()
        link_flags += blas.link_flags()
    return compile_flags, link_flags




#: bumped when the layout of an entry changes, so old entries are never read as new ones
_ENTRY_FORMAT = "flowc-library-2"


@dataclass(frozen=True)
class Toolchain:
    """A compiler other than the default C++ one (``FLOWC_CXX`` with ``BASE_FLAGS``): the CUDA
    target's nvcc, or g++ building CUDA source against the emulation header. Everything in it is
    part of the cache key; ``identity`` names the compiler and what it builds for (its version,
    the GPU architecture)."""

    name: str                       # what it is, for messages ("nvcc", "g++ (CUDA emulation)")
    argv: tuple[str, ...]           # the compiler command, resolved
    identity: str
    compile_flags: tuple[str, ...]
    link_flags: tuple[str, ...] = ()
    suffix: str = ".cpp"            # of the source file (nvcc picks the language by it)


class _Build:
    """Everything but the source that decides a library's bytes, resolved once per request."""

    def __init__(self, extra_flags: Sequence[str], link_blas: bool, toolchain: Optional[Toolchain] = None):
        blas = blas_info() if link_blas else None
        if toolchain is None:
            self.cxx = os.environ.get("FLOWC_CXX") or "g++"
            self.argv = _compiler_command(self.cxx)
            identity = compiler_identity(self.cxx)
            self.compile_flags, self.link_flags = _flags(extra_flags, blas)
            self.suffix = ".cpp"
        else:
            self.cxx, self.argv, identity = toolchain.name, toolchain.argv, toolchain.identity
            self.compile_flags = [*toolchain.compile_flags, *extra_flags]
            self.link_flags = list(toolchain.link_flags)
            if blas is not None:
                self.compile_flags += blas.compile_flags()
                self.link_flags += blas.link_flags()
            self.suffix = toolchain.suffix
        h = hashlib.sha256()
        for part in (_ENTRY_FORMAT, identity, host_identity(), "\0".join(self.compile_flags),
                     "\0".join(self.link_flags), str(blas.lib_path) if blas is not None else ""):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0\1\0")
        self.key = h.hexdigest()

    def stem(self, source: str, name: str) -> str:
        h = hashlib.sha256(self.key.encode())
        h.update(source.encode("utf-8", "surrogatepass"))
        return f"{_NAME_SAFE.sub('_', name)[:64] or 'flowc'}_{h.hexdigest()[:24]}"


def build_key(extra_flags: Sequence[str] = (), link_blas: bool = True, toolchain: Optional[Toolchain] = None) -> str:
    """A sha256 over what decides a library's bytes apart from its source (compiler, CPU, flags,
    BLAS). Part of the key of a cached lowered program, which names its library without its source."""
    return _Build(extra_flags, link_blas, toolchain).key


# ---------------------------------------------------------------- verified, loaded entries
_checked: dict[Path, Path] = {}          # library path -> itself, once verified and loaded in this process
_handles: dict[Path, ctypes.CDLL] = {}   # keeps each checked library loaded for the process's lifetime


def _library_files(stem: str) -> tuple[str, ...]:
    return (f"{stem}.so",)


def _check(directory: Path, stem: str) -> tuple[str, Optional[Path]]:
    """Verify the entry against its manifest and load it once: ``("ok", path)`` or (why, None)."""
    path = directory / f"{stem}.so"
    if path in _checked:
        return "ok", path
    status, _ = cache.verify(directory, stem, _library_files(stem))
    if status != "ok":
        return status, None
    try:
        _handles[path] = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)
    except OSError as exc:
        return f"damaged: it cannot be loaded ({exc})", None
    _checked[path] = path
    return "ok", path


def cached_library(stem: str) -> Optional[Path]:
    """The verified, loaded library ``<stem>.so`` of the cache, or None (missing or damaged; a
    damaged entry is removed with a warning). Never compiles; for callers that know the stem."""
    if not cache.cache_enabled():
        return None

    def lookup(directory: Path) -> Optional[Path]:
        status, path = _check(directory, stem)
        if status.startswith("damaged"):
            with cache.locked(directory, stem):
                status, path = _check(directory, stem)
                if status.startswith("damaged"):
                    cache.remove(directory, stem, _library_files(stem), status[len("damaged: "):])
        if path is not None:
            cache.stats["hits"] += 1
        return path

    return cache.with_fallback(lookup)


def compile_source(source: str, *, name: str, extra_flags: Sequence[str] = (), link_blas: bool = True,
                   toolchain: Optional[Toolchain] = None) -> Path:
    """Compile one C++ translation unit into a shared library and return its path.

    ``name`` only labels the files (``<name>_<hash>.so``); the content hash decides identity.
    ``extra_flags`` are appended after the base flags and ``FLOWC_CXXFLAGS``. With ``link_blas``
    the BLAS from :func:`flowc.runtime.blas_info` is on the include path and linked with an rpath.
    ``toolchain`` replaces the default C++ compiler and its flags (the CUDA target's).

    A verified cache hit returns the existing library without running any subprocess. On a
    compiler failure raises :class:`flowc.ir.errors.CompileError` whose message holds the
    compiler's output and the path of the saved source.
    """
    build = _Build(extra_flags, link_blas, toolchain)
    stem = build.stem(source, name)
    if not cache.cache_enabled():
        try:
            work = Path(tempfile.mkdtemp(prefix=f"flowc-{stem}-"))
            lib = work / f"{stem}.so"
            _compile(build, source, name, work / f"{stem}{build.suffix}", lib, work / f"{stem}{build.suffix}")
        except OSError as exc:
            raise CompileError(f"cannot compile {name!r} in a temporary directory (FLOWC_CACHE=0): {exc}; "
                               f"set TMPDIR to a writable directory, or enable the cache (FLOWC_CACHE_DIR)") from exc
        return lib

    def cached(directory: Path) -> Path:
        status, path = _check(directory, stem)
        if path is not None:
            cache.stats["hits"] += 1
            return path
        directory.mkdir(parents=True, exist_ok=True)
        with cache.locked(directory, stem):          # one compile per entry; the others wait, then load
            status, path = _check(directory, stem)
            if path is not None:
                cache.stats["hits"] += 1
                return path
            if status.startswith("damaged"):
                cache.remove(directory, stem, _library_files(stem), status[len("damaged: "):])
            work = Path(tempfile.mkdtemp(prefix=f".tmp-{stem}-", dir=directory))
            try:
                saved_src = directory / f"{stem}{build.suffix}"
                _compile(build, source, name, work / f"{stem}{build.suffix}", work / f"{stem}.so", saved_src)
                cache.write_entry(directory, stem, {f"{stem}.so": work / f"{stem}.so"})
            finally:
                shutil.rmtree(work, ignore_errors=True)
            status, path = _check(directory, stem)
            if path is None:
                raise CompileError(f"the library compiled for {name!r} is {status[len('damaged: '):]}",
                                   source_path=str(saved_src))
            return path

    return cache.with_fallback(cached)


def _compile(build: _Build, source: str, name: str, src: Path, lib: Path, saved_src: Path) -> None:
    """Run the compiler on ``source`` (written to ``src``, then moved to ``saved_src``) into ``lib``.

    A compiler that fails because the disk is full raises ``OSError(ENOSPC)`` (a cache problem,
    which the caller answers by falling back to another directory); other failures raise
    :class:`CompileError` with the compiler's output."""
    argv = [*build.argv, *build.compile_flags, "-o", str(lib), str(src), *build.link_flags]
    src.write_text(source, encoding="utf-8")
    start = time.perf_counter()
    output, code = _run_compiler(argv)
    elapsed = time.perf_counter() - start
    cache.stats["compiles"] += 1
    if src != saved_src:
        os.replace(src, saved_src)      # the source stays readable next to the library
    if code != 0:
        if "No space left on device" in output:
            raise OSError(errno.ENOSPC, f"the compiler ran out of disk space: {output[-300:]}", str(lib.parent))
        raise CompileError(
            f"compiling {name!r} failed" + (f" (exit code {code})" if code is not None else "")
            + f"\n  command: {shlex.join(argv)}",
            source_path=str(saved_src), compiler_output=output)
    if debug_enabled():
        print(f"flowc: compiled {name} in {elapsed:.3f} s: {saved_src}", file=sys.stderr)


def _run_compiler(argv: list[str]) -> tuple[str, Optional[int]]:
    """Run the compiler: (its output, its exit code or None if it could not start)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True)
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc}", None
    return (proc.stderr + proc.stdout).strip(), proc.returncode
