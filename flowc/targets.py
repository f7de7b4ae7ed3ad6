"""Targets: what turns an optimized program into a callable on one kind of hardware.

A target is one object that composes one module of each stage::

                      transforms           codegen               runtime
    cpu    auto_optimize(cpu), expand   generate_cpp (C++/OpenMP)   g++ + OpenBLAS, NumPy binder
    cuda   auto_optimize(cuda), expand, generate_cuda (kernels)     nvcc + cuBLAS (or the emulation
           GPUOffload                                               build), device-array binder

Library-node emitters are registered per target (``flowc.codegen.libraries.register(...,
target=...)``); analyses that do not depend on the target (placement of transients, conflict-free
writes, bounds) live in the shared generator and ``flowc.ir``. A third target (HIP, say) is one
generator subclass, one driver module and one ``Target`` subclass here. Only the public API
(``flowc.api``) and this module compose stages.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

from flowc import codegen, runtime, transforms
from flowc.ir.program import Program


class Target(abc.ABC):
    """The stages of one target; a subclass implements the abstract ones."""

    name: str = ""

    def require(self) -> None:
        """Raise a clear error if this target cannot run here (the CPU always can)."""
        return None

    def optimize(self, program: Program) -> None:
        """``auto_optimize=True``: the target's heuristic pipeline (recorded in the history)."""
        transforms.auto_optimize(program, target=self.name)

    def lower(self, program: Program) -> None:
        """What every program needs before code generation for this target."""
        transforms.expand_library_nodes(program, self.name)

    @abc.abstractmethod
    def generate(self, program: Program, instrument: bool) -> codegen.GeneratedCode:
        """The program's source text for this target."""

    @abc.abstractmethod
    def build(self, code: codegen.GeneratedCode, name: str) -> Path:
        """The compiled (cached) shared library of ``code``."""

    @abc.abstractmethod
    def bind(self, program: Program, path: Path, entry: str) -> Any:
        """The library's entry point as a callable taking this target's arrays."""

    @abc.abstractmethod
    def build_key(self) -> str:
        """What decides a library's bytes besides its source (part of the warm-start key)."""

    def __repr__(self) -> str:
        return f"<flowc target {self.name}>"


class CPUTarget(Target):
    """C++ with OpenMP, OpenBLAS GEMMs, NumPy arrays."""

    name = "cpu"

    def generate(self, program: Program, instrument: bool) -> codegen.GeneratedCode:
        return codegen.generate_cpp(program, blas_prefix=runtime.blas_info().prefix, instrument=instrument)

    def build(self, code: codegen.GeneratedCode, name: str) -> Path:
        return runtime.compile_source(code.source, name=name, link_blas=code.uses_blas)

    def bind(self, program: Program, path: Path, entry: str) -> Any:
        return runtime.bind(program, path, entry)

    def build_key(self) -> str:
        # the BLAS symbol prefix is in the generated source only, which a warm start does not generate
        return runtime.build_key() + runtime.blas_info().prefix


class CUDATarget(Target):
    """CUDA kernels and cuBLAS; device arrays (``__cuda_array_interface__``) without copies."""

    name = "cuda"

    def require(self) -> None:
        from flowc.runtime import cuda

        cuda.require_device()

    def lower(self, program: Program) -> None:
        transforms.expand_library_nodes(program, self.name)
        transforms.GPUOffload().apply_everywhere(program)

    def generate(self, program: Program, instrument: bool) -> codegen.GeneratedCode:
        return codegen.generate_cuda(program, blas_prefix=runtime.blas_info().prefix, instrument=instrument)

    def build(self, code: codegen.GeneratedCode, name: str) -> Path:
        from flowc.runtime import cuda

        return runtime.compile_source(code.source, name=name, link_blas=cuda.emulated() and code.uses_blas,
                                      toolchain=cuda.toolchain())

    def bind(self, program: Program, path: Path, entry: str) -> Any:
        from flowc.runtime import cuda

        return cuda.bind(program, path, entry)

    def build_key(self) -> str:
        from flowc.runtime import cuda

        return runtime.build_key(toolchain=cuda.toolchain(), link_blas=cuda.emulated()) + runtime.blas_info().prefix


TARGETS: dict[str, Target] = {t.name: t for t in (CPUTarget(), CUDATarget())}


def get(name: str) -> Target:
    """The target called ``name``; ValueError naming the parameter otherwise."""
    if not isinstance(name, str) or name not in TARGETS:
        raise ValueError(f"parameter 'target' must be one of {', '.join(repr(t) for t in TARGETS)}, got {name!r}")
    return TARGETS[name]
