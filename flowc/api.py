"""The public API's composition: the one place that runs the stages in order.

    Python function ─frontend.lower─▶ Program ─transforms─▶ Program
        ─codegen.generate_cpp─▶ C++ ─runtime.compile_source─▶ .so ─runtime.bind─▶ callable

``@flowc.program`` wraps a function in a ``ProgramObject``: lowered and
compiled at the first call (or ``.compile()``), called through the runtime's
generated marshalling code after that. Annotated parameters give one binary
for all sizes; unannotated arrays get a fresh symbol per dimension, so one
binary serves every shape of a given dtype and rank.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import sys
import time
from typing import Any, Callable, Optional, Union

import numpy as np

from flowc import codegen, frontend, runtime, transforms
from flowc.ir.data import ArrayType
from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.program import Program
from flowc.ir.symbolic import symbol as make_symbol

TARGETS = ("cpu",)


def debug_enabled() -> bool:
    """``FLOWC_DEBUG`` set (and not 0): print generated source and per-kernel timings."""
    return os.environ.get("FLOWC_DEBUG", "") not in ("", "0")


def compile_program(program: Program, target: str = "cpu", auto_optimize: bool = False,
                    instrument: Optional[bool] = None) -> runtime.CompiledProgram:
    """Lower a copy of ``program`` for ``target``, generate code, compile (cached) and bind it."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not supported; supported: {', '.join(TARGETS)}")
    instrument = debug_enabled() if instrument is None else instrument
    start = time.perf_counter()
    work = copy.deepcopy(program)
    if auto_optimize:
        transforms.auto_optimize(work, target=target)
    transforms.expand_library_nodes(work, target)
    work.validate()
    code = codegen.generate_cpp(work, blas_prefix=runtime.blas_info().prefix, instrument=instrument)
    if instrument:
        print(f"[flowc] generated source of {program.name}:\n{code.source}", file=sys.stderr)
    path = runtime.compile_source(code.source, name=program.name)
    compiled = runtime.bind(work, path, code.entry)
    if instrument:
        print(f"[flowc] {program.name}: ready in {time.perf_counter() - start:.3f} s ({path})", file=sys.stderr)
    return compiled


Program.compiler = staticmethod(compile_program)


def _adapt_call(call: Callable[..., Any], program: Program) -> Callable[..., Any]:
    """Make the compiled entry point callable like the Python function: integer parameters
    that became size symbols (``program.symbol_params``) are taken from their positions,
    closure arrays are appended, and 0-d results come back as NumPy scalars."""
    closure = list(getattr(program, "closure_args", {}).values())
    symbol_params = sorted(getattr(program, "symbol_params", {}).items(), key=lambda kv: -kv[1])
    zero_d = [program.data[r].ndim == 0 for r in program.returns]
    if not closure and not symbol_params and not any(zero_d):
        return call
    single = len(zero_d) == 1

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if symbol_params:
            args = list(args)
            for name, position in symbol_params:      # highest position first: the rest stay put
                if position < len(args):
                    value = args.pop(position)
                    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                        raise TypeError(f"{program.name}(): parameter {name!r} is a size; expected an int, "
                                        f"got {type(value).__name__}")
                    kwargs[name] = int(value)
        out = call(*args, *closure, **kwargs)
        if single:
            return out[()] if zero_d[0] else out
        return tuple(o[()] if z else o for o, z in zip(out, zero_d))
    return wrapped


class ProgramObject:
    """A ``@flowc.program`` function: call it like the original, or inspect and compile its IR."""

    __flowc_program__ = True

    def __init__(self, func: Callable[..., Any], target: str = "cpu", auto_optimize: Union[bool, str] = False):
        if target not in TARGETS:
            raise ValueError(f"target {target!r} is not supported; supported: {', '.join(TARGETS)}")
        if auto_optimize not in (False, True, "search"):
            raise ValueError(f"auto_optimize must be False, True or 'search', got {auto_optimize!r}")
        self.func = func
        self.target = target
        self.auto_optimize = auto_optimize
        functools.update_wrapper(self, func)
        self._call: Optional[Callable[..., Any]] = None
        self._by_signature: dict[tuple, Callable[..., Any]] = {}
        self._annotated = self._all_annotated()

    def _all_annotated(self) -> bool:
        import inspect

        params = inspect.signature(self.func).parameters.values()
        return all(p.annotation is not inspect.Parameter.empty for p in params)

    def to_ir(self, *example_args: Any) -> Program:
        """The program as IR (a fresh copy each call). Unannotated parameters
        need example arguments to type them."""
        return frontend.lower(self.func, arg_types=self._infer_types(example_args) or None)

    def compile(self, *example_args: Any, target: Optional[str] = None,
                sizes: Optional[dict[str, int]] = None) -> Callable[..., Any]:
        program = self.to_ir(*example_args)
        if self.auto_optimize == "search":     # tuned for the sizes of the example (stored, replayed later)
            searched = transforms.auto_search(program, target=target or self.target, example_args=example_args,
                                              sizes=sizes or {})
            compiled = compile_program(searched.program, target=target or self.target)
        else:
            compiled = compile_program(program, target=target or self.target, auto_optimize=self.auto_optimize)
        return _adapt_call(compiled, program)

    def _infer_types(self, args: tuple) -> dict[str, Union[ArrayType, DType, type]]:
        import inspect

        types: dict[str, Union[ArrayType, DType]] = {}
        for (name, p), value in zip(inspect.signature(self.func).parameters.items(), args):
            if p.annotation is not inspect.Parameter.empty:
                continue
            if isinstance(value, np.ndarray):
                # a dimension of size 1 stays 1 (it broadcasts); the others get their own symbol
                shape = tuple(1 if s == 1 else make_symbol(f"_{name}_{d}") for d, s in enumerate(value.shape))
                types[name] = ArrayType(dtype_of(value.dtype), shape)
            elif isinstance(value, np.generic):
                types[name] = dtype_of(value.dtype)
            elif isinstance(value, (bool, int, float)):
                types[name] = type(value)        # a Python number: weak in NumPy 2's promotion
            else:
                raise TypeError(f"{self.func.__name__}(): cannot infer a flowc type for parameter {name!r} "
                                f"from {type(value).__name__}; annotate it (e.g. flowc.float64[N])")
        return types

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = self._call
        if call is None:
            if self._annotated and self.auto_optimize != "search":
                call = self._call = self.compile()
            else:
                key = tuple((a.dtype.str, tuple(s == 1 for s in a.shape)) if isinstance(a, np.ndarray)
                            else (type(a), getattr(a, "dtype", None)) for a in args)
                call = self._by_signature.get(key)
                if call is None:
                    call = self._by_signature[key] = self.compile(
                        *args, **({"sizes": kwargs} if self.auto_optimize == "search" else {}))
        return call(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<flowc.program {self.func.__name__}>"


def program(func: Optional[Callable[..., Any]] = None, *, target: str = "cpu",
            auto_optimize: Union[bool, str] = False) -> Any:
    """``@flowc.program`` or ``@flowc.program(target="cpu", auto_optimize=True)``;
    ``auto_optimize="search"`` runs ``flowc.transforms.auto_search`` at the first call of each
    argument signature, for the sizes of that call (the result is stored and replayed later)."""
    if func is None:
        return lambda f: ProgramObject(f, target=target, auto_optimize=auto_optimize)
    return ProgramObject(func, target=target, auto_optimize=auto_optimize)


class _MapRange:
    """``flowc.map[0:N, 0:M]``: a parallel loop inside a program; plain Python iterates the product."""

    def __getitem__(self, ranges: Any) -> Any:
        if not isinstance(ranges, tuple):
            ranges = (ranges,)
        spans = [range(r.start or 0, r.stop, r.step or 1) for r in ranges]
        return iter(spans[0]) if len(spans) == 1 else itertools.product(*spans)


map = _MapRange()  # noqa: A001 - DaCe's spelling
