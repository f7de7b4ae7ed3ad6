"""Finding the BLAS that generated code links against.

Library nodes (MatMul, BatchedMatMul) expand on the CPU into calls of a tuned
BLAS. flowc does not depend on a system BLAS: it uses the OpenBLAS shipped by
the pip package ``scipy_openblas32`` (a dependency of flowc), whose symbols all
carry the prefix ``scipy_`` (``scipy_cblas_sgemm``,
``scipy_openblas_set_num_threads``) so that they never clash with the BLAS
that NumPy or SciPy load into the same process. Generated code must therefore
spell BLAS calls as ``<prefix>cblas_sgemm``; :attr:`BlasInfo.prefix` says what
the prefix is, and :func:`flowc.runtime.compile_source` also passes it to the
compiler as the macro ``FLOWC_BLAS_PREFIX`` (and ``BLAS_SYMBOL_PREFIX``, the
spelling ``scipy_openblas32``'s own pkg-config file uses).

Overrides (read on every call, so tests and users can switch):

``FLOWC_BLAS_LIB``
    Path of a BLAS shared library to link instead (``/usr/lib/x86_64-linux-gnu/libopenblas.so.0``).
    Its header directory is ``FLOWC_BLAS_INCLUDE`` if set, else ``<libdir>/../include`` if that
    holds a ``cblas.h``, else the compiler's default search path.
``FLOWC_BLAS_PREFIX``
    Symbol prefix of that library (default: empty for ``FLOWC_BLAS_LIB``, ``scipy_`` for the pip
    package).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from flowc.ir.errors import FlowcError

__all__ = ["BlasInfo", "BlasNotFoundError", "blas_info"]

#: the pip package flowc depends on, and the symbol prefix its OpenBLAS build uses
PIP_PACKAGE = "scipy_openblas32"
PIP_PREFIX = "scipy_"


class BlasNotFoundError(FlowcError):
    """No BLAS library could be located (neither the pip package nor ``FLOWC_BLAS_LIB``)."""


@dataclass(frozen=True)
class BlasInfo:
    """Where a BLAS lives and how its symbols are spelled.

    ``include_dir`` holds ``cblas.h`` (``None``: the compiler's default search path),
    ``lib_dir`` the shared library, ``link_name`` is the name for ``-l`` (``scipy_openblas`` for
    ``libscipy_openblas.so``), and ``prefix`` is prepended to every BLAS symbol.
    """

    include_dir: Optional[Path]
    lib_dir: Path
    link_name: str
    prefix: str
    #: the exact library file (for ``FLOWC_BLAS_LIB`` with a versioned name like ``libopenblas.so.0``
    #: that ``-l`` could not find); ``None``: ``lib_dir / f"lib{link_name}.so"``
    lib_file: Optional[Path] = None

    @property
    def lib_path(self) -> Path:
        """The shared library file that is linked."""
        return self.lib_file if self.lib_file is not None else self.lib_dir / f"lib{self.link_name}.so"

    def compile_flags(self) -> list[str]:
        """Flags for compiling code that includes ``cblas.h`` and uses the prefixed names."""
        flags = [f"-I{self.include_dir}"] if self.include_dir is not None else []
        return flags + [f"-DFLOWC_BLAS_PREFIX={self.prefix}", f"-DBLAS_SYMBOL_PREFIX={self.prefix}"]

    def link_flags(self) -> list[str]:
        """Flags for linking the library, with an rpath so the loader finds it without ``LD_LIBRARY_PATH``."""
        return [str(self.lib_path), f"-Wl,-rpath,{self.lib_dir}"]


def _link_name(filename: str) -> str:
    """``libscipy_openblas.so.0`` -> ``scipy_openblas``."""
    stem = filename
    if stem.startswith("lib"):
        stem = stem[3:]
    return stem.split(".so")[0].split(".dylib")[0]


@functools.cache
def _from_pip_package() -> BlasInfo:
    # find_spec locates the package without importing it: importing scipy_openblas32 would load
    # its library into this process with RTLD_GLOBAL, which flowc does not need.
    spec = importlib.util.find_spec(PIP_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BlasNotFoundError(
            f"no BLAS found: the Python package {PIP_PACKAGE!r} is not installed "
            f"(pip install scipy-openblas32), and FLOWC_BLAS_LIB is not set to a BLAS shared library")
    root = Path(next(iter(spec.submodule_search_locations)))
    lib_dir, include_dir = root / "lib", root / "include"
    libs = sorted(p for p in lib_dir.glob("libscipy_openblas*") if ".so" in p.name or p.suffix == ".dylib") \
        if lib_dir.is_dir() else []
    if not libs:
        raise BlasNotFoundError(f"no BLAS found: {PIP_PACKAGE} at {root} has no libscipy_openblas* in {lib_dir}")
    if not (include_dir / "cblas.h").is_file():
        raise BlasNotFoundError(f"no BLAS headers found: {include_dir / 'cblas.h'} is missing")
    lib = libs[0]
    return BlasInfo(include_dir=include_dir, lib_dir=lib_dir, link_name=_link_name(lib.name),
                    prefix=PIP_PREFIX, lib_file=lib)


@functools.cache
def _from_env(lib: str, prefix: Optional[str], include: Optional[str]) -> BlasInfo:
    path = Path(lib).expanduser()
    if not path.is_file():
        raise BlasNotFoundError(f"FLOWC_BLAS_LIB={lib!r} is not a file; set it to a BLAS shared library")
    path = path.resolve()
    if include:
        include_dir: Optional[Path] = Path(include).expanduser().resolve()
    else:
        guess = path.parent.parent / "include"
        include_dir = guess if (guess / "cblas.h").is_file() else None
    return BlasInfo(include_dir=include_dir, lib_dir=path.parent, link_name=_link_name(path.name),
                    prefix=prefix or "", lib_file=path)


def blas_info() -> BlasInfo:
    """The BLAS generated code links against: ``FLOWC_BLAS_LIB`` if set, else ``scipy_openblas32``.

    Raises :class:`BlasNotFoundError` (a ``FlowcError``) with what to install or set if neither is
    usable. The result is memoized per environment setting, so calling this is cheap.
    """
    lib = os.environ.get("FLOWC_BLAS_LIB")
    prefix = os.environ.get("FLOWC_BLAS_PREFIX")
    if lib:
        return _from_env(lib, prefix, os.environ.get("FLOWC_BLAS_INCLUDE"))
    info = _from_pip_package()
    if prefix is not None and prefix != info.prefix:
        return BlasInfo(info.include_dir, info.lib_dir, info.link_name, prefix, info.lib_file)
    return info
