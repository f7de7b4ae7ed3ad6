"""The public API's composition: the one place that runs the stages in order.

    Python function ─frontend.lower─▶ Program ─transforms─▶ Program
        ─target.generate─▶ C++/CUDA ─target.build─▶ .so ─target.bind─▶ callable

(a target, ``flowc.targets``, picks one module of each stage: ``cpu`` or ``cuda``).

``@flowc.program`` wraps a function in a ``ProgramObject``: lowered and
compiled at the first call (or ``.compile()``), called through the runtime's
generated marshalling code after that. Annotated parameters give one binary
for all sizes; unannotated arrays get a fresh symbol per dimension, so one
binary serves every shape of a given dtype and rank.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import time
import warnings
from typing import Any, Callable, Optional, Union

import numpy as np

from flowc import fingerprint, frontend, runtime, targets, transforms
from flowc.ir.data import ArrayType
from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.program import Program
from flowc.ir.symbolic import symbol as make_symbol

TARGETS = tuple(targets.TARGETS)


def debug_enabled() -> bool:
    """``FLOWC_DEBUG`` set (and not 0): print generated source and per-kernel timings."""
    return os.environ.get("FLOWC_DEBUG", "") not in ("", "0")


def compile_program(program: Program, target: str = "cpu", auto_optimize: bool = False,
                    instrument: Optional[bool] = None) -> runtime.CompiledProgram:
    """Lower a copy of ``program`` for ``target``, generate code, compile (cached) and bind it."""
    return _build(program, target, auto_optimize, instrument)[0]


def _build(program: Program, target: str, auto_optimize: bool,
           instrument: Optional[bool]) -> tuple[runtime.CompiledProgram, Program, str, Any]:
    """``compile_program``, also returning the program as compiled, its entry point and library path."""
    tgt = targets.get(target)
    tgt.require()
    instrument = debug_enabled() if instrument is None else instrument
    start = time.perf_counter()
    work = program.clone()
    if auto_optimize:
        tgt.optimize(work)
    tgt.lower(work)
    work.validate()
    code = tgt.generate(work, instrument)
    debug = debug_enabled()
    if debug:
        print(f"[flowc] generated source of {program.name}:\n{code.source}", file=sys.stderr)
    path = tgt.build(code, program.name)
    compiled = tgt.bind(work, path, code.entry)
    if debug:
        print(f"[flowc] {program.name}: ready in {time.perf_counter() - start:.3f} s ({path})", file=sys.stderr)
    return compiled, work, code.entry, path


def compile_ir(program: Program, target: str = "cpu", **options: Any) -> Callable[..., Any]:
    """``Program.compile()``: the compiled program, called like the function it came from."""
    return _adapt_call(compile_program(program, target=target, **options), program)


Program.compiler = staticmethod(compile_ir)


def _adapt_call(call: Callable[..., Any], program: Program) -> Callable[..., Any]:
    """Make the compiled entry point callable like the Python function: integer parameters
    that became size symbols (``program.symbol_params``) are taken from their positions,
    closure arrays (``program.closure_args``) are appended — a closure array loaded without
    its value is taken by keyword, by its argument name — and 0-d results come back as NumPy
    scalars. A program that returns nothing returns None. The ``CompiledProgram`` underneath
    (its ``binder_source``, ``params``...) is the wrapper's ``compiled`` attribute."""
    closure = list(program.closure_args.items())
    symbol_params = sorted(program.symbol_params.items(), key=lambda kv: -kv[1])
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
        extra = []
        for name, value in closure:
            if value is None:
                if name not in kwargs:
                    raise TypeError(f"{program.name}(): the closure array {name!r} was not stored with the "
                                    f"program; pass it as {name}=...")
                value = kwargs.pop(name)
            extra.append(value)
        out = call(*args, *extra, **kwargs)
        if not zero_d:
            return out
        if single:
            return out[()] if zero_d[0] else out
        return tuple(o[()] if z else o for o, z in zip(out, zero_d))
    wrapped.__name__ = wrapped.__qualname__ = program.name
    wrapped.compiled = call          # type: ignore[attr-defined]  # the CompiledProgram underneath
    wrapped.profile = call.profile   # type: ignore[attr-defined]  # its kernel profile (instrumented builds)
    return wrapped


# ---------------------------------------------------------------- the lowered-program cache (warm starts)
def _program_key(func: Callable[..., Any], arg_types: dict[str, Any],
                 options: tuple) -> Optional[tuple[str, list[np.ndarray]]]:
    """The cache key of lowering ``func`` (see :mod:`flowc.fingerprint`), or None when the
    cache is off or the function cannot be keyed (then it is simply lowered every time)."""
    if not runtime.cache_enabled():
        return None
    try:
        # the build key names the compiler, CPU, flags and BLAS library of the target (options[0])
        return fingerprint.program_key(func, arg_types, (*options, targets.get(options[0]).build_key()))
    except Exception:       # noqa: BLE001 - an object the key cannot read: lower as usual
        return None


def _warm_start(func: Callable[..., Any], key: tuple[str, list[np.ndarray]], instrument: bool,
                target: str) -> Optional[Callable[..., Any]]:
    """The callable for a program stored under ``key``, skipping the frontend and transformations;
    None on a miss. A missing or damaged library is rebuilt from the stored IR."""
    digest, arrays = key
    stored = runtime.program_cache.load(func.__name__, digest)
    if stored is None or any(i >= len(arrays) for i in stored.closure.values()):
        return None
    work = stored.program
    tgt = targets.get(target)
    path = runtime.cached_library(stored.library)
    if path is None:
        path = tgt.build(tgt.generate(work, instrument), work.name)
    compiled = tgt.bind(work, path, stored.entry)
    _replay(stored.warnings)
    # the IR names the closure arrays (stored without values); the live ones are those the key met
    work.closure_args = {cname: arrays[i] for cname, i in stored.closure.items()}
    return _adapt_call(compiled, work)


def _replay(notes: list[tuple[str, str, str, int]]) -> list[tuple[str, str, str, int]]:
    """Warn each note again (category by ``module.qualname`` among the ``Warning`` classes already
    defined, never imported; UserWarning if it is not among them) and return the notes."""
    if notes:
        known: dict[str, type] = {}
        pending = [Warning]
        while pending:
            cls = pending.pop()
            known[f"{cls.__module__}.{cls.__qualname__}"] = cls
            pending.extend(cls.__subclasses__())
        for category, message, filename, lineno in notes:
            warnings.warn_explicit(message, known.get(category, UserWarning), filename, lineno)
    return notes


def _store(func: Callable[..., Any], key: tuple[str, list[np.ndarray]], program: Program, work: Program,
           entry: str, path: Any, notes: list[tuple[str, str, str, int]]) -> None:
    """Store the compiled ``work`` under ``key`` unless a closure array escaped the key's walk.
    A program the IR cannot write as JSON is simply not stored (said under ``FLOWC_DEBUG``)."""
    digest, arrays = key
    closure = fingerprint.closure_positions(program.closure_args, arrays)
    if closure is None:
        return
    try:
        runtime.program_cache.store(func.__name__, digest, work, path, entry, closure, notes)
    except Exception as exc:     # noqa: BLE001 - failing to store must never fail the call
        if debug_enabled():
            print(f"[flowc] {program.name}: not stored for warm starts: {exc}", file=sys.stderr)


class ProgramObject:
    """A ``@flowc.program`` function: call it like the original, or inspect and compile its IR."""

    __flowc_program__ = True

    def __init__(self, func: Callable[..., Any], target: str = "cpu", auto_optimize: Union[bool, str] = False):
        targets.get(target)             # ValueError for an unknown target
        if auto_optimize not in (False, True, "search"):
            raise ValueError(f"auto_optimize must be False, True or 'search', got {auto_optimize!r}")
        self.func = func
        self.target = target
        self.auto_optimize = auto_optimize
        functools.update_wrapper(self, func)
        self._call: Optional[Callable[..., Any]] = None
        self._by_signature: dict[tuple, Callable[..., Any]] = {}
        self._lock = threading.RLock()      # the first call lowers and compiles once, whatever the threads
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
        """Lower and compile for ``example_args`` (needed for unannotated parameters); a program
        compiled before, in this process or another, is read back from the cache instead
        (see :mod:`flowc.fingerprint` for what must be equal). With ``auto_optimize="search"`` the
        program is tuned for the sizes of the example (``sizes`` names the size parameters); the
        search stores its choice and replays it later (:func:`flowc.transforms.auto_search`)."""
        target = target or self.target
        if self.auto_optimize == "search":
            program = self.to_ir(*example_args)
            searched = transforms.auto_search(program, target=target, example_args=example_args, sizes=sizes or {})
            return _adapt_call(compile_program(searched.program, target=target), program)
        arg_types = self._infer_types(example_args)
        instrument = debug_enabled()
        key = _program_key(self.func, arg_types, (target, self.auto_optimize, instrument))
        if key is None:
            return self._lower_and_build(arg_types, target, instrument, None)
        warm = _warm_start(self.func, key, instrument, target)
        if warm is not None:
            return warm
        # lower and compile once across threads and processes: the others wait here, then load it
        with runtime.program_cache.exclusive(self.func.__name__, key[0]):
            warm = _warm_start(self.func, key, instrument, target)
            if warm is not None:
                return warm
            return self._lower_and_build(arg_types, target, instrument, key)

    def _lower_and_build(self, arg_types: dict[str, Any], target: str, instrument: bool,
                         key: Optional[tuple[str, list[np.ndarray]]]) -> Callable[..., Any]:
        with warnings.catch_warnings(record=True) as caught:     # the filters in force stay in force
            program = frontend.lower(self.func, arg_types=arg_types or None)
            compiled, work, entry, path = _build(program, target, self.auto_optimize, instrument)
        notes = _replay([(f"{w.category.__module__}.{w.category.__qualname__}", str(w.message), w.filename,
                          w.lineno) for w in caught if not issubclass(w.category, runtime.CacheWarning)])
        for w in caught:
            if issubclass(w.category, runtime.CacheWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if key is not None:
            _store(self.func, key, program, work, entry, path, notes)
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
                with self._lock:
                    call = self._call
                    if call is None:
                        call = self._call = self.compile()
            else:
                key = tuple((a.dtype.str, tuple(s == 1 for s in a.shape)) if isinstance(a, np.ndarray)
                            else (type(a), getattr(a, "dtype", None)) for a in args)
                call = self._by_signature.get(key)
                if call is None:
                    with self._lock:
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
