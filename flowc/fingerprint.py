"""The key of a lowered program: a sha256 over everything its lowering reads.

A warm start (a new process, a program compiled before) skips the frontend and the
transformations when it finds the lowered, optimized program under this key
(:mod:`flowc.runtime.program_cache`). So the key must change whenever lowering could give a
different program:

- the function: its source text, file, first line, name, defaults and (evaluated) annotations;
- every name its code reads (``co_names`` and free variables, through nested code objects), as
  the frontend would resolve it: closure cell, module global, else builtin; values by content
  (numbers by ``repr``, NumPy arrays by dtype, shape and a sha256 of their bytes, symbols by
  ``srepr``, tuples and lists element-wise); a ``@flowc.program`` it calls by the same rules,
  recursively; a module by its name plus those of its attributes whose names the code reads
  (``cfg.W`` puts ``W`` in ``co_names``); functions and other callables by qualified name
  (the frontend calls only NumPy functions it knows by name and inlines flowc programs);
  any other object by its type (the frontend refuses such objects, so no program is stored);
- the argument types of an unannotated function, and what the caller adds (target,
  ``auto_optimize``, instrumentation, the build key of the C++ compiler);
- flowc itself: a sha256 over the text of its own source files (read once per process, about
  0.7 MB), not the version string, which stays the same while flowc is developed; plus the
  versions of Python, NumPy and SymPy.

The arrays met on the way are returned in the order they were met, so a warm start can pass the
live closure arrays (identity matters: a program may write them) to the cached program.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
import types
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import sympy

__all__ = ["closure_positions", "flowc_source_hash", "program_key", "source_hash"]

_FORMAT = "flowc-program-key-1"


@functools.cache
def flowc_source_hash() -> str:
    """A sha256 over flowc's own source files (Python, templates, headers); once per process."""
    return source_hash(Path(__file__).resolve().parent)


def source_hash(root: Path) -> str:
    """A sha256 over the source files of the package at ``root`` and the versions it runs with."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".j2", ".h") and p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0\1\0")
    h.update(f"{sys.version}|numpy {np.__version__}|sympy {sympy.__version__}".encode())
    return h.hexdigest()


def _code_names(code: types.CodeType, out: set[str]) -> set[str]:
    out.update(code.co_names)
    out.update(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_names(const, out)
    return out


class _Key:
    """One walk over a function and what it reads, feeding a sha256."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.arrays: list[np.ndarray] = []
        self.functions: dict[int, int] = {}
        self.modules: set[int] = set()

    def put(self, *parts: Any) -> None:
        for part in parts:
            self.h.update(str(part).encode("utf-8", "surrogatepass"))
            self.h.update(b"\0")

    def function(self, func: Callable[..., Any]) -> None:
        seen = self.functions.get(id(func))
        if seen is not None:                 # recursion (refused by the frontend) or a second use
            self.put("function-again", seen)
            return
        self.functions[id(func)] = len(self.functions)
        code = func.__code__
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            source = None
        self.put("function", getattr(func, "__module__", ""), func.__qualname__, code.co_filename,
                 code.co_firstlineno, source, code.co_code.hex())
        for default in (func.__defaults__ or ()):
            self.value(default, frozenset())
        for k, default in sorted((func.__kwdefaults__ or {}).items()):
            self.put("kwdefault", k)
            self.value(default, frozenset())
        try:
            annotations = dict(inspect.get_annotations(func, eval_str=True))
        except Exception:
            annotations = dict(getattr(func, "__annotations__", {}) or {})
        for k, ann in sorted(annotations.items()):
            self.put("annotation", k)
            self.value(ann, frozenset())
        names = _code_names(code, set())
        cells = dict(zip(code.co_freevars, func.__closure__ or ()))
        module_globals = getattr(func, "__globals__", {})
        builtins = module_globals.get("__builtins__", {})
        builtins = builtins if isinstance(builtins, dict) else vars(builtins)
        for name in sorted(names):
            if name in cells:
                try:
                    obj = cells[name].cell_contents
                except ValueError:
                    self.put(name, "empty-cell")
                    continue
                self.put(name, "cell")
            elif name in module_globals:
                obj = module_globals[name]
                self.put(name, "global")
            elif name in builtins:
                self.put(name, "builtin")        # fixed for a given Python version, which is in the key
                continue
            else:
                self.put(name, "absent")
                continue
            self.value(obj, frozenset(names))

    def value(self, obj: Any, names: frozenset[str]) -> None:
        if obj is None or obj is Ellipsis or isinstance(obj, (bool, int, float, complex, str, bytes, slice)):
            self.put(type(obj).__name__, repr(obj))
        elif isinstance(obj, np.ndarray):
            data = np.ascontiguousarray(obj)
            self.put("ndarray", obj.dtype.str, obj.shape, len(self.arrays),
                     hashlib.sha256(data.view(np.uint8).reshape(-1) if data.size else b"").hexdigest())
            self.arrays.append(obj)
        elif isinstance(obj, np.generic):
            self.put("npscalar", obj.dtype.str, repr(obj.item()))
        elif isinstance(obj, sympy.Basic):
            self.put("sympy", sympy.srepr(obj))
        elif getattr(obj, "__flowc_program__", False) and callable(getattr(obj, "func", None)):
            self.put("program")
            self.function(obj.func)
        elif isinstance(obj, (tuple, list)):
            self.put(type(obj).__name__, len(obj))
            for item in obj:
                self.value(item, names)
        elif isinstance(obj, types.ModuleType):
            self.put("module", obj.__name__)
            if id(obj) in self.modules:
                return
            self.modules.add(id(obj))
            for name in sorted(names):
                if name in vars(obj):
                    self.put("attribute", name)
                    self.value(vars(obj)[name], names)
        elif isinstance(obj, (type, np.dtype)) or callable(obj):
            self.put("named", type(obj).__module__, type(obj).__qualname__, getattr(obj, "__module__", ""),
                     getattr(obj, "__qualname__", getattr(obj, "__name__", "")), repr(obj)
                     if isinstance(obj, (type, np.dtype, np.ufunc)) or type(obj).__module__.startswith("flowc")
                     else "")
        else:
            # the frontend refuses other objects, so they cannot shape a stored program; their type
            # is enough to tell them apart from what it accepts
            self.put("object", type(obj).__module__, type(obj).__qualname__, repr(obj)
                     if type(obj).__module__.startswith("flowc") else "")


def program_key(func: Callable[..., Any], arg_types: dict[str, Any], extra: tuple) -> tuple[str, list[np.ndarray]]:
    """The sha256 (hex) of a lowering of ``func`` and the NumPy arrays met, in walk order.

    ``arg_types``: the types inferred for unannotated parameters; ``extra``: what else decides
    the stored program (target, options, the build key), each turned into text."""
    walk = _Key()
    walk.put(_FORMAT, flowc_source_hash(), *extra)
    for name, typ in sorted(arg_types.items()):
        walk.put("arg", name)
        walk.value(typ, frozenset())
    walk.function(func)
    return walk.h.hexdigest(), walk.arrays


def closure_positions(closure_args: dict[str, Any], arrays: list[np.ndarray]) -> Optional[dict[str, int]]:
    """Where each closure array of a lowered program is among ``arrays`` (by identity), or None
    if one was reached some way the key does not see (then the program is not stored)."""
    positions: dict[str, int] = {}
    for cname, arr in closure_args.items():
        index = next((i for i, a in enumerate(arrays) if a is arr), None)
        if index is None:
            return None
        positions[cname] = index
    return positions
