"""Compiling generated C++ into a shared library, with a content-addressed disk cache.

``compile_source`` is the one place flowc invokes a C++ compiler. It is
called with the complete text of a translation unit and returns the path of a
shared library that exports whatever the text exports.

The cache
---------
A library is named by a sha256 over everything that determines its bytes: the
source text, the compiler's identity (resolved path plus its ``--version``
output, computed once per process), the host CPU (model and feature flags, since
libraries are built with ``-march=native``), the full flag list, and the BLAS
library path. So an edit to the source, a compiler upgrade, a flag change or a switch
of BLAS each produce a new entry, and equal inputs always map to the same file:
a second call (in this process or any later one) returns the existing library
without starting the compiler. A hit costs the hash and one ``stat``.

Where: ``$FLOWC_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowc``, else
``~/.cache/flowc``. Entries are ``<name>_<hash>.so`` with the source beside it
as ``<name>_<hash>.cpp`` for people to read. ``FLOWC_CACHE=0`` turns the cache
off: every call compiles into a fresh temporary directory (left in place, since
the returned library must outlive the call).

Atomicity: a compile writes into a private temporary directory inside the cache
directory and then ``os.replace``-s the result into its final name. A rename
within one file system is atomic, so another process either sees no library or
a complete one, never a half-written file; two processes compiling the same
source at once both succeed and the last rename wins (the contents are equal).

Environment
-----------
``FLOWC_CXX`` (compiler command, default ``g++``; may be a wrapper like
``ccache g++``), ``FLOWC_CXXFLAGS`` (appended to the flags, shell syntax),
``FLOWC_CACHE_DIR``, ``FLOWC_CACHE``, ``FLOWC_DEBUG`` (print the source path
and the compile time to stderr).
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Optional, Sequence

from flowc.ir.errors import CompileError
from flowc.runtime.blas import BlasInfo, blas_info

__all__ = ["BASE_FLAGS", "cache_dir", "compile_source", "compiler_identity", "debug_enabled", "host_identity"]

#: the flags every library is built with. ``-fno-math-errno`` lets ``sqrt`` inline and
#: ``-fno-trapping-math`` lets loops with selects (clamps, ``where``, fast exp/tanh) vectorize;
#: neither changes a result (flowc never reads errno or floating-point exception flags).
#: ``-fwrapv`` makes signed integer overflow wrap, as NumPy's integer arithmetic does (without
#: it overflow is undefined behaviour and the optimizer's result depends on the expression).
#: ``-ffast-math`` is never used because it does (reassociation, no NaN/Inf handling).
BASE_FLAGS: tuple[str, ...] = ("-std=c++17", "-O3", "-march=native", "-fopenmp", "-fPIC", "-shared",
                               "-fno-math-errno", "-fno-trapping-math", "-fwrapv")

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def debug_enabled() -> bool:
    """Whether ``FLOWC_DEBUG`` asks for diagnostics (set, non-empty and not ``0``)."""
    value = os.environ.get("FLOWC_DEBUG", "")
    return value not in ("", "0")


def cache_dir() -> Path:
    """The cache directory in force now (see the module docstring); not created here."""
    explicit = os.environ.get("FLOWC_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "flowc"
    return Path.home() / ".cache" / "flowc"


def _cache_enabled() -> bool:
    return os.environ.get("FLOWC_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


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


def compile_source(source: str, *, name: str, extra_flags: Sequence[str] = (), link_blas: bool = True) -> Path:
    """Compile one C++ translation unit into a shared library and return its path.

    ``name`` only labels the files (``<name>_<hash>.so``); the content hash decides identity.
    ``extra_flags`` are appended after the base flags and ``FLOWC_CXXFLAGS``. With ``link_blas``
    the BLAS from :func:`flowc.runtime.blas_info` is on the include path and linked with an rpath.

    A cache hit returns the existing library without running any subprocess. On a compiler
    failure raises :class:`flowc.ir.errors.CompileError` whose message holds the compiler's
    output and the path of the saved source.
    """
    cxx = os.environ.get("FLOWC_CXX") or "g++"
    identity = compiler_identity(cxx)
    blas = blas_info() if link_blas else None
    compile_flags, link_flags = _flags(extra_flags, blas)

    h = hashlib.sha256()
    for part in (source, identity, host_identity(), "\0".join(compile_flags), "\0".join(link_flags),
                 str(blas.lib_path) if blas is not None else ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0\1\0")
    digest = h.hexdigest()
    stem = f"{_NAME_SAFE.sub('_', name)[:64] or 'flowc'}_{digest[:24]}"

    use_cache = _cache_enabled()
    if use_cache:
        directory = cache_dir()
        final = directory / f"{stem}.so"
        if final.exists():
            if debug_enabled():
                print(f"flowc: cache hit for {name}: {directory / (stem + '.cpp')}", file=sys.stderr)
            return final
        directory.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{stem}-", dir=directory))
    else:
        directory = work = Path(tempfile.mkdtemp(prefix=f"flowc-{stem}-"))
        final = directory / f"{stem}.so"

    src, lib = work / f"{stem}.cpp", work / f"{stem}.so"
    saved_src = directory / f"{stem}.cpp"
    argv = [*_compiler_command(cxx), *compile_flags, "-o", str(lib), str(src), *link_flags]
    try:
        src.write_text(source, encoding="utf-8")
        start = time.perf_counter()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True)
            output, code = (proc.stderr + proc.stdout).strip(), proc.returncode
        except OSError as exc:
            output, code = f"cannot run {argv[0]}: {exc}", None
        elapsed = time.perf_counter() - start
        if work != directory:
            os.replace(src, saved_src)      # the source stays readable next to the library
        if code != 0:
            raise CompileError(
                f"compiling {name!r} failed" + (f" (exit code {code})" if code is not None else "")
                + f"\n  command: {shlex.join(argv)}",
                source_path=str(saved_src), compiler_output=output)
        if work != directory:
            os.replace(lib, final)          # atomic: readers see no library or a complete one
    finally:
        if work != directory:
            shutil.rmtree(work, ignore_errors=True)
    if debug_enabled():
        print(f"flowc: compiled {name} in {elapsed:.3f} s: {saved_src}", file=sys.stderr)
    return final
