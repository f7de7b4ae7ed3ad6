"""Calling a compiled program from Python: argument checking and marshalling.

``bind(program, library_path, entry)`` loads a shared library and returns a
``CompiledProgram``: a callable that takes NumPy arrays and scalars in the
order of ``program.call_signature()``, checks them against the program's data
descriptors, infers the size symbols from the array shapes, allocates the
returned arrays and calls the C entry point.

The C contract (what code generation emits)::

    extern "C" int <entry>(T0* a, T1* b, double alpha, ..., T* ret0, ..., int64_t N, int64_t M);

one parameter per ``Param`` in order: an ``array`` is a pointer to its first
element, a ``scalar`` is passed by value, a ``symbol`` is an ``int64_t``.
Arrays with ``is_return`` are allocated here for each call. Return value 0
means success; ``flowc.ir.errors.LINALG_ERROR`` raises ``numpy.linalg.LinAlgError`` and anything
else ``RuntimeError``, with the text of ``extern "C" const char* flowc_error_message()`` if the
library exports it.

Why generated code
------------------
A call must cost a few microseconds, so that flowc programs can be called in
loops. A generic implementation (loop over the parameters, look up each
descriptor, evaluate symbolic shapes with sympy) costs tens to hundreds of
microseconds. Instead, ``bind`` writes one straight-line Python function per
program, like ``collections.namedtuple`` does: each check is a line with its
constants (dtype objects, ranks, stride tuples) bound as globals, symbolic
shapes such as ``N + 1`` are printed as Python arithmetic over local variables,
and every error branch calls a helper that builds a precise message only when
something is wrong. The text is kept as ``CompiledProgram.binder_source``.

The function becomes ``__call__`` of a one-off subclass of ``CompiledProgram``,
so a call goes straight into it with no forwarding frame. An array's data
pointer is read from the ``data`` field of NumPy's public ``PyArrayObject``
struct (verified against ``__array_interface__`` at import; if the layout
ever differs, ``ndarray.ctypes.data`` is used instead), which is ten times
cheaper than ``ndarray.ctypes.data``.

Symbols: the first input dimension that is a bare symbol (``N`` in ``x: [N, M]``)
defines it; every other dimension, expressions included, is checked against
it. Symbols that no such dimension determines must be passed by keyword
(``prog(x, K=25)``); a keyword that contradicts an inferred value is an error.

Sizes are ``int64_t`` in the native code. Before anything runs, each call checks the program's
requirements (``expr >= 0`` on the sizes), that keyword symbols fit int64 (ctypes wraps larger
ones silently), that the bytes of every array flowc allocates (returned arrays and intermediates,
added up as the native workspace is) fit int64, and that symbolic ``for`` loop counters stay in
int64 (``_int64_facts``). Each check is one line of Python integer arithmetic on the hot path;
the messages are built only on failure.
"""

from __future__ import annotations

import ctypes
import itertools
import keyword
import operator
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import numpy as np
import sympy

from flowc.ir.control import Loop
from flowc.ir.data import Array, Storage
from flowc.ir.dtypes import DType
from flowc.ir.errors import LINALG_ERROR, FlowcError, IRError
from flowc.ir.program import Param, Program
from flowc.ir.symbolic import evaluate, free_symbol_names, permuted_strides
from flowc.runtime.compiler import debug_enabled

__all__ = ["ArrayConvention", "CompiledProgram", "KernelTime", "bind"]


class KernelTime(NamedTuple):
    """One kernel's share of an instrumented program's calls (``CompiledProgram.profile``)."""

    seconds: float
    runs: int
    bytes: float


class _Missing:
    """The default of arguments that were not passed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


# --------------------------------------------------------------------------- data pointers
def _probe_data_offset() -> Optional[int]:
    """Offset of ``PyArrayObject.data`` from the object address, if ``id`` is an address.

    The field follows ``PyObject_HEAD``; this holds for every NumPy release, but the check is
    cheap, so it is verified on a few arrays (a view with an offset among them) before use.
    """
    offset = object.__basicsize__
    try:
        base = np.arange(64, dtype=np.float64)
        samples = [base, base[3:], base[::2], base.reshape(8, 8).T, np.empty(0, np.float32)]
        for a in samples:
            if ctypes.c_void_p.from_address(id(a) + offset).value != a.__array_interface__["data"][0]:
                return None
    except Exception:       # noqa: BLE001 - any surprise means: use the portable way
        return None
    return offset


_DATA_OFFSET = _probe_data_offset()


def _pointer_expr(var: str) -> str:
    """Python expression giving a ctypes argument for the data pointer of ndarray ``var``."""
    if _DATA_OFFSET is not None:
        return f"_fc_vp(_fc_id({var}) + {_DATA_OFFSET})"
    return f"{var}.ctypes.data"


#: builtins the generated code calls, under private names: a parameter may be called ``type``,
#: ``len`` or ``min`` (a local of the generated function, which would shadow the builtin)
BUILTINS: dict[str, Any] = {f"_fc_{b.__name__}": b for b in (isinstance, len, type, int, bool, float, min, max, abs)}


# --------------------------------------------------------------------------- symbolic -> Python
def _py_expr(expr: sympy.Expr, local: dict[str, str]) -> str:
    """Print an integer sympy expression as Python arithmetic over the locals in ``local``.

    Division appears only as ``floor``/``ceiling`` of a quotient or as an exact rational
    coefficient (``N/2``) and is printed as integer floor division, so results stay ``int``.
    """
    e = sympy.sympify(expr)
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        if e.name not in local:
            raise IRError(f"symbol {e.name!r} in a shape or stride is not a parameter of the program")
        return local[e.name]
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        n, d = _py_expr(num, local), _py_expr(den, local)
        return f"(({n}) // ({d}))" if isinstance(e, sympy.floor) else f"(-((-({n})) // ({d})))"
    if e.is_Add:
        return "(" + " + ".join(_py_expr(a, local) for a in e.args) + ")"
    if e.is_Mul:
        num, den = sympy.fraction(e)
        if den != 1:
            return f"(({_py_expr(num, local)}) // ({_py_expr(den, local)}))"
        return "(" + " * ".join(_py_expr(a, local) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and int(e.exp) >= 0:
        return f"({_py_expr(e.base, local)} ** {int(e.exp)})"
    if isinstance(e, (sympy.Min, sympy.Max)):
        fn = "_fc_min" if isinstance(e, sympy.Min) else "_fc_max"
        return f"{fn}(" + ", ".join(_py_expr(a, local) for a in e.args) + ")"
    if isinstance(e, sympy.Mod):
        return f"(({_py_expr(e.args[0], local)}) % ({_py_expr(e.args[1], local)}))"
    if isinstance(e, sympy.Abs):
        return f"_fc_abs({_py_expr(e.args[0], local)})"
    raise IRError(f"cannot evaluate size expression {e} at call time")


def _tuple_expr(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


# --------------------------------------------------------------------------- scalars
class _Complex64(ctypes.Structure):
    _fields_ = [("re", ctypes.c_float), ("im", ctypes.c_float)]


class _Complex128(ctypes.Structure):
    _fields_ = [("re", ctypes.c_double), ("im", ctypes.c_double)]


def _ctypes_of(p: Param) -> Any:
    if p.kind == "array":
        return ctypes.c_void_p
    if p.kind == "symbol":
        return ctypes.c_int64
    if p.dtype.name == "complex64":     # by value as a struct of two floats (the ABI of std::complex)
        return _Complex64
    if p.dtype.name == "complex128":
        return _Complex128
    return p.dtype.ctypes_type


def _int_range(dt: DType) -> tuple[int, int]:
    info = np.iinfo(dt.numpy)
    return int(info.min), int(info.max)


def _kind_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}" if type(value).__module__ not in (
        "builtins",) else type(value).__name__


def _scalar_value(cp: "CompiledProgram", name: str, value: Any, dt: DType) -> Any:
    """Slow path for a scalar argument: accept a Python/NumPy number of a fitting kind."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    want = {"b": "a bool", "i": "an int", "u": "an int", "f": "an int or float",
            "c": "a number"}[dt.kind]
    bad = TypeError(f"{cp._label}: scalar argument {name!r} ({dt.name}) must be {want}, "
                    f"got {_kind_name(value)} {value!r}")
    is_bool = isinstance(value, (bool, np.bool_))
    if dt.kind == "b":
        if not is_bool:
            raise bad
        return bool(value)
    if is_bool:
        raise bad
    if dt.kind in "iu":
        if not isinstance(value, (int, np.integer)):
            raise bad
        v = int(value)
        lo, hi = _int_range(dt)
        if not lo <= v <= hi:
            raise OverflowError(f"{cp._label}: scalar argument {name!r} = {v} is out of range for "
                                f"{dt.name} [{lo}, {hi}]")
        return v
    if dt.kind == "f":
        if not isinstance(value, (int, float, np.integer, np.floating)):
            raise bad
        if dt.name == "float16":        # passed as its bit pattern (ctypes has no half type)
            return int(np.array(value, dtype=np.float16).view(np.uint16))
        return float(value)
    if not isinstance(value, (int, float, complex, np.number)):
        raise bad
    c = complex(value)
    return (_Complex64 if dt.name == "complex64" else _Complex128)(c.real, c.imag)


#: the largest value of the C++ side's int64_t: sizes, symbols, loop counters and byte counts
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_LIMIT_TEXT = f"the int64 limit {INT64_MAX} (2**63 - 1)"


def _symbol_value(cp: "CompiledProgram", name: str, value: Any) -> int:
    """Slow path for a symbol passed by keyword: a non-negative int that fits int64 (ctypes
    would wrap a larger one silently: 2**64 + 2 became 2)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{cp._label}: symbol {name!r} must be a non-negative int, got "
                        f"{_kind_name(value)} {value!r}")
    v = operator.index(value)
    if v < 0:
        raise ValueError(f"{cp._label}: symbol {name!r} must be non-negative, got {v}")
    if v > INT64_MAX:
        raise ValueError(f"{cp._label}: symbol {name!r} = {v} is larger than {_LIMIT_TEXT}")
    return v


# --------------------------------------------------------------------------- the program object
class CompiledProgram:
    """A compiled, loaded program: call it like the original function.

    ``prog(*arrays_and_scalars, **symbols)`` checks the arguments (types, dtypes, ranks,
    shapes, strides), infers size symbols, allocates returned arrays, runs the native code
    and returns nothing, the one returned array, or a tuple of them. Arrays may also be passed
    by keyword under their parameter names. Instances are made by :func:`bind`.

    Attributes: ``program`` (the IR), ``library_path``, ``entry`` (the C symbol), ``params``
    (``program.call_signature()`` at bind time), ``library`` (the ``ctypes.CDLL``),
    ``function`` (the ctypes function), ``binder_source`` (the generated marshalling code).
    """

    program: Program
    library_path: Path
    entry: str
    params: list[Param]
    library: ctypes.CDLL
    function: Any
    binder_source: str
    _label: str
    _symbol_origin: dict[str, tuple[str, int]]
    _error_message: Optional[Callable[[], Optional[bytes]]]
    _dtypes: dict[int, DType]
    _allocations: list[tuple[str, sympy.Expr, str]]
    _int64_checks: list[tuple[sympy.Expr, str]]

    def __call__(self, *args: Any, **symbols: Any) -> Any:   # replaced per program by bind()
        raise TypeError("CompiledProgram objects are made by flowc.runtime.bind()")

    def profile(self) -> dict[str, KernelTime]:
        """What each kernel of an instrumented library (``compile(instrument=True)``, or any
        compile under ``FLOWC_DEBUG``) took in this thread's calls since the last ``profile()``,
        which starts the count again: kernel name (``state/label``, the name ``FLOWC_DEBUG``
        prints, unique: ``Program.kernels``) → ``KernelTime`` (seconds, runs, bytes moved).
        Raises ``FlowcError`` for a library compiled without instrumentation."""
        name_of = getattr(self.library, "flowc_profile_name", None)
        if name_of is None:
            raise FlowcError(f"{self._label} was compiled without instrumentation; compile it with "
                             f"instrument=True (or set FLOWC_DEBUG) to profile its kernels")
        name_of.argtypes, name_of.restype = [ctypes.c_int], ctypes.c_char_p
        read = self.library.flowc_profile
        read.restype = ctypes.c_int
        count = read(None, None, None, ctypes.c_int(0))         # how many kernels; copies nothing
        size = max(1, count)
        seconds, runs, moved = (ctypes.c_double * size)(), (ctypes.c_int64 * size)(), (ctypes.c_double * size)()
        read(seconds, runs, moved, ctypes.c_int(count))
        return {name_of(k).decode(errors="replace"): KernelTime(seconds[k], runs[k], moved[k]) for k in range(count)}

    @property
    def arg_names(self) -> list[str]:
        """Names of the positional parameters (arrays and scalars), in order."""
        return [p.name for p in self.params if p.kind != "symbol" and not p.is_return]

    @property
    def symbol_names(self) -> list[str]:
        """Names of the size symbols the entry point takes, in order."""
        return [p.name for p in self.params if p.kind == "symbol"]

    def __repr__(self) -> str:
        return f"<CompiledProgram {self.program.name} ({', '.join(self.arg_names)}) from {self.library_path}>"

    # ---------------------------------------------------------------- error paths (never on the hot path)
    def _describe(self, name: str) -> str:
        desc = self.program.data[name]
        return f"{desc.dtype.name}[{', '.join(str(s) for s in desc.shape)}]"

    def _err_call(self, extra: tuple, kw: dict) -> None:
        positional = self.arg_names
        if extra:
            raise TypeError(f"{self._label} takes {len(positional)} positional argument(s) "
                            f"({', '.join(positional)}) but {len(positional) + len(extra)} were given")
        name = next(iter(kw))
        raise TypeError(f"{self._label} got an unexpected keyword argument {name!r}; parameters: "
                        f"{', '.join(positional) or '(none)'}; symbols: {', '.join(self.symbol_names) or '(none)'}")

    def _err_not_array(self, name: str, value: Any) -> None:
        raise TypeError(f"{self._label}: argument {name!r} must be a numpy.ndarray ({self._describe(name)}), "
                        f"got {_kind_name(value)}")

    def _err_dtype(self, name: str, value: np.ndarray) -> None:
        want = self.program.data[name].dtype.name
        raise TypeError(f"{self._label}: argument {name!r} must have dtype {want}, got {value.dtype} "
                        f"(no implicit casts; convert with .astype(np.{want}))")

    def _err_ndim(self, name: str, value: np.ndarray) -> None:
        desc = self.program.data[name]
        raise ValueError(f"{self._label}: argument {name!r} must have {desc.ndim} dimension(s) "
                         f"({self._describe(name)}), got {value.ndim} with shape {value.shape}")

    def _err_readonly(self, name: str) -> None:
        raise ValueError(f"{self._label}: argument {name!r} is written in place but the array is read-only "
                         f"(flags.writeable is False); pass a writeable array, e.g. {name}.copy()")

    def _err_alias(self, a: str, b: str) -> None:
        written = _written_roots(self.program)
        raise ValueError(f"{self._label}: arguments {a!r} and {b!r} share memory, and the program writes "
                         f"{' and '.join(repr(n) for n in (a, b) if n in written)} in place; "
                         f"pass a copy (e.g. {a if a not in written else b}.copy())")

    def _err_contradiction(self, symbol: str, given: Any, inferred: int) -> None:
        given = _symbol_value(self, symbol, given)
        if given == inferred:       # e.g. a NumPy integer that agrees
            return
        arr, dim = self._symbol_origin[symbol]
        raise ValueError(f"{self._label}: symbol {symbol!r} = {given} passed by keyword contradicts "
                         f"{symbol} = {inferred} inferred from dimension {dim} of argument {arr!r}")

    def _err_missing_symbol(self, symbol: str) -> None:
        raise TypeError(f"{self._label}: missing value for symbol {symbol!r}: no argument's shape "
                        f"determines it; pass it by keyword, e.g. {self.program.name}(..., {symbol}=...)")

    def _err_requirement(self, index: int, **values: int) -> None:
        expr, why = self.program.requirements[index]
        given = ", ".join(f"{k} = {v}" for k, v in sorted(values.items()))
        raise ValueError(f"{self._label}: {why} needs {expr} >= 0, but {given}")

    def _err_bytes(self, **values: int) -> None:
        """The arrays flowc allocates (returns and intermediates) need more bytes than int64 counts."""
        given = ", ".join(f"{k} = {v}" for k, v in sorted(values.items()))
        total = 0
        for name, nbytes, what in self._allocations:
            b = int(evaluate(nbytes, values))
            total += b
            if b > INT64_MAX:
                raise ValueError(f"{self._label}: {what} {name!r} ({self._describe(name)}) needs {nbytes} = {b} "
                                 f"bytes, more than {_LIMIT_TEXT}, with {given}")
        raise ValueError(f"{self._label}: the arrays flowc allocates ({len(self._allocations)} returned arrays and "
                         f"intermediates) need {total} bytes together, more than {_LIMIT_TEXT}, with {given}")

    def _err_int64(self, index: int, value: int, **values: int) -> None:
        expr, why = self._int64_checks[index]
        given = ", ".join(f"{k} = {v}" for k, v in sorted(values.items()))
        raise ValueError(f"{self._label}: {why}: {expr} = {value} does not fit int64 "
                         f"[{INT64_MIN}, {INT64_MAX}], with {given}")

    def _err_bounds(self, index: int, **values: int) -> None:
        from flowc.ir.bounds import access_requirements

        expr, why = access_requirements(self.program)[index]
        given = ", ".join(f"{k} = {v}" for k, v in sorted(values.items()))
        raise ValueError(f"{self._label}: out of bounds: {why} needs {expr} >= 0, but {given}")

    def _err_shape(self, name: str, got: tuple, expected: tuple) -> None:
        desc = self.program.data[name]
        for d, (g, e, s) in enumerate(zip(got, expected, desc.shape)):
            if g != e:
                origin = ""
                syms = sorted(str(x) for x in sympy.sympify(s).free_symbols)
                if syms:
                    parts = []
                    for x in syms:
                        where = self._symbol_origin.get(x)
                        parts.append(f"{x} from dimension {where[1]} of {where[0]!r}" if where
                                     else f"{x} passed by keyword")
                    origin = f" ({'; '.join(parts)})"
                raise ValueError(f"{self._label}: argument {name!r} has shape {got}, expected "
                                 f"{self._describe(name)} = {expected}: dimension {d} is {g}, expected "
                                 f"{s} = {e}{origin}")
        raise ValueError(f"{self._label}: argument {name!r} has shape {got}, expected {expected}")

    def _err_strides(self, name: str, value: np.ndarray, expected: Optional[tuple]) -> None:
        if expected is None:
            if value.flags.c_contiguous:
                return
            raise ValueError(f"{self._label}: argument {name!r} must be C-contiguous (row-major), got strides "
                             f"{value.strides} for shape {value.shape}; pass np.ascontiguousarray({name})")
        if value.size == 0 or all(g == e or n == 1 for g, e, n in zip(value.strides, expected, value.shape)):
            return
        raise ValueError(f"{self._label}: argument {name!r} must have strides {expected} (bytes) as its "
                         f"descriptor declares, got {value.strides}; make a copy with that layout "
                         f"(e.g. np.ascontiguousarray / np.asfortranarray) or pass a view that has it")

    def _err_returncode(self, rc: int) -> None:
        from flowc.ir.errors import INDEX_ERROR

        if rc == INDEX_ERROR and self._error_message is not None:
            # ir.errors.INDEX_ERROR: a data-dependent subscript (a gather) out of bounds
            # (flowc/codegen/bounds.py): NumPy's exception and message
            raise IndexError(f"{self._label}: {self._error_message().decode(errors='replace')}")
        detail = ""
        if self._error_message is not None:
            raw = self._error_message()
            if raw:
                detail = ": " + raw.decode(errors="replace")
        if rc == LINALG_ERROR and detail:
            # a singular / not positive definite matrix: NumPy's exception and message
            raise np.linalg.LinAlgError(detail[2:])
        raise RuntimeError(f"{self._label}: {self.entry} returned error code {rc}{detail}")


# --------------------------------------------------------------------------- code generation
def _is_plain_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_fc") \
        and name != "self"


def _layout_order(desc: Array) -> Optional[list[int]]:
    """The dimension order (outermost first) whose dense layout has ``desc``'s strides, if any."""
    shape = list(desc.shape)
    if desc.ndim > 6:
        return None
    for order in itertools.permutations(range(desc.ndim)):
        expected = permuted_strides(shape, order)
        if all(sympy.simplify(a - b) == 0 for a, b in zip(desc.strides, expected)):
            return list(order)
    return None


def _written_roots(program: Program) -> set[str]:
    """Containers the program writes: roots of access nodes with a non-empty incoming memlet."""
    written: set[str] = set()
    for state in program.states():
        for n in state.data_nodes():
            if any(not e.memlet.is_empty for e in state.in_edges(n)):
                written.add(program.root_of(n.data))
    return written


class ArrayConvention:
    """What the marshalling code takes as an array and how it reads one: NumPy arrays on the CPU.
    Another target's driver (``flowc.runtime.cuda``) passes its own: an array type with NumPy's
    ``dtype``/``shape``/``strides``/``flags``/``transpose``, an allocator like ``np.empty``, a
    strided constructor like ``np.ndarray``, an overlap test, and the expression of the data pointer."""

    array_type: Any = np.ndarray
    empty: Any = staticmethod(np.empty)
    strided: Any = np.ndarray
    overlap: Any = staticmethod(np.may_share_memory)
    #: more globals of the marshalling code, and ctypes of the parameters ``extra_args`` adds
    names: dict[str, Any] = {}
    extra_ctypes: list[Any] = []

    def pointer(self, var: str) -> str:
        return _pointer_expr(var)

    def extra_args(self, array_vars: list[str]) -> list[str]:
        """Expressions passed after the call signature's arguments (the entry point's extra
        parameters), given the variables of the array arguments in call-signature order."""
        return []


def _generate(program: Program, params: list[Param], debug: bool,
              convention: Optional[ArrayConvention] = None) -> tuple[str, dict[str, Any], dict, list, list]:
    """Source text and globals of the marshalling function, where each symbol comes from, and
    the int64 facts it checks (``_int64_facts``)."""
    conv = convention or ArrayConvention()
    g: dict[str, Any] = {
        "_fc_MISSING": MISSING, "_fc_ndarray": conv.array_type, "_fc_empty": conv.empty,
        "_fc_vp": ctypes.c_void_p.from_address, "_fc_id": id, "_fc_scalar": _scalar_value,
        "_fc_symbol": _symbol_value, "_fc_perf": time.perf_counter, "_fc_print": print,
        "_fc_sys": sys, "_fc_ndarray_new": conv.strided, "_fc_overlap": conv.overlap,
    }
    g.update(BUILTINS)
    g.update(conv.names)
    inputs = [p for p in params if p.kind != "symbol" and not p.is_return]
    returns = [p for p in params if p.is_return]
    symbols = [p.name for p in params if p.kind == "symbol"]

    sig_name: dict[str, str] = {}
    for i, p in enumerate(inputs):
        sig_name[p.name] = p.name if _is_plain_identifier(p.name) else f"_fc_a{i}"
    for s in symbols:
        if not _is_plain_identifier(s):
            raise IRError(f"symbol name {s!r} cannot be a keyword argument")
        if s in sig_name:
            raise IRError(f"symbol {s!r} has the same name as a parameter of program {program.name!r}")
    local = {s: f"_fc_s_{s}" for s in symbols}

    fname = program.name if _is_plain_identifier(program.name) else "flowc_program"
    head = ["self", *(sig_name[p.name] for p in inputs), "*_fc_extra",
            *(f"{s}=_fc_MISSING" for s in symbols), "**_fc_kw"]
    body: list[str] = []
    emit = body.append
    if debug:
        emit("_fc_t0 = _fc_perf()")
    emit("if _fc_extra or _fc_kw:")
    emit("    self._err_call(_fc_extra, _fc_kw)")

    written = _written_roots(program)

    # 1. types, dtypes, ranks; bind symbols from the first bare-symbol dimension
    origin: dict[str, tuple[str, int]] = {}
    shape_var: dict[str, str] = {}
    needs_shape_check: dict[str, bool] = {}
    for i, p in enumerate(inputs):
        v = sig_name[p.name]
        desc = program.data[p.name]
        if p.kind == "scalar":
            continue
        assert isinstance(desc, Array)
        g[f"_fc_dt{i}"] = desc.dtype.numpy
        emit(f"# {p.name}: {desc.dtype.name}[{', '.join(str(s) for s in desc.shape)}]")
        emit(f"if not _fc_isinstance({v}, _fc_ndarray): self._err_not_array({p.name!r}, {v})")
        emit(f"if {v}.dtype is not _fc_dt{i} and {v}.dtype != _fc_dt{i}: self._err_dtype({p.name!r}, {v})")
        sv = shape_var[p.name] = f"_fc_shp{i}"
        emit(f"{sv} = {v}.shape")
        emit(f"if _fc_len({sv}) != {desc.ndim}: self._err_ndim({p.name!r}, {v})")
        if p.name in written:
            emit(f"if not {v}.flags.writeable: self._err_readonly({p.name!r})")
        check = False
        for d, s in enumerate(desc.shape):
            s = sympy.sympify(s)
            if s.is_Symbol and s.name in local and s.name not in origin:
                origin[s.name] = (p.name, d)
                emit(f"{local[s.name]} = {sv}[{d}]")
                emit(f"if {s.name} is not _fc_MISSING and (_fc_type({s.name}) is not _fc_int "
                     f"or {s.name} != {local[s.name]}): self._err_contradiction({s.name!r}, {s.name}, {local[s.name]})")
            else:
                check = True
        needs_shape_check[p.name] = check

    # 2. symbols no shape determines: from keywords
    for s in symbols:
        if s in origin:
            continue
        emit(f"if {s} is _fc_MISSING: self._err_missing_symbol({s!r})")
        emit(f"{local[s]} = {s} if (_fc_type({s}) is _fc_int and 0 <= {s} <= {INT64_MAX}) "
             f"else _fc_symbol(self, {s!r}, {s})")

    # 3. conditions the program assumes of its symbols (constant slice bounds inside symbolic axes)
    for k, (expr, _) in enumerate(program.requirements):
        names = sorted(free_symbol_names(expr))
        values = ", ".join(f"{n}={local[n]}" for n in names)
        emit(f"if not {_py_expr(expr, local)} >= 0: self._err_requirement({k}, {values})")

    # 3b. what the native code computes in int64: the bytes it allocates, its loop counters
    allocations, int64_checks = _int64_facts(program, set(symbols))
    if allocations:
        total = sympy.Add(*(nbytes for _, nbytes, _ in allocations)) + 64 * len(allocations)
        names = sorted(free_symbol_names(total))
        if names:
            values = ", ".join(f"{n}={local[n]}" for n in names)
            emit(f"if {_py_expr(total, local)} > {INT64_MAX}: self._err_bytes({values})")
    for k, (expr, _) in enumerate(int64_checks):
        names = sorted(free_symbol_names(expr))
        values = ", ".join(f"{n}={local[n]}" for n in names)
        emit(f"_fc_v = {_py_expr(expr, local)}")
        emit(f"if not {INT64_MIN} <= _fc_v <= {INT64_MAX}: self._err_int64({k}, _fc_v, {values})")

    # 3b. views and memlet subsets inside their containers for these symbol values (flowc/ir/bounds.py)
    from flowc.ir.bounds import access_requirements

    for k, (expr, _) in enumerate(access_requirements(program)):
        names = sorted(free_symbol_names(expr))
        if not set(names) <= set(local):
            raise IRError(f"bounds of program {program.name!r} use {', '.join(sorted(set(names) - set(local)))}, "
                          "which is not a symbol of the program")
        values = ", ".join(f"{n}={local[n]}" for n in names)
        emit(f"if not {_py_expr(expr, local)} >= 0: self._err_bounds({k}, {values})")

    # 4. shapes and strides of arrays; scalar conversion
    call_args: list[str] = []
    for i, p in enumerate(inputs):
        v = sig_name[p.name]
        desc = program.data[p.name]
        if p.kind == "scalar":
            dt = p.dtype
            if dt.kind == "b":
                emit(f"if _fc_type({v}) is not _fc_bool: {v} = _fc_scalar(self, {p.name!r}, {v}, self._dtypes[{i}])")
            elif dt.kind in "iu":
                lo, hi = _int_range(dt)
                emit(f"if not (_fc_type({v}) is _fc_int and {lo} <= {v} <= {hi}): "
                     f"{v} = _fc_scalar(self, {p.name!r}, {v}, self._dtypes[{i}])")
            elif dt.kind == "f" and dt.name != "float16":
                emit(f"if _fc_type({v}) is not _fc_float: {v} = _fc_scalar(self, {p.name!r}, {v}, self._dtypes[{i}])")
            else:
                emit(f"{v} = _fc_scalar(self, {p.name!r}, {v}, self._dtypes[{i}])")
            call_args.append(v)
            continue
        assert isinstance(desc, Array)
        expected_shape = _tuple_expr([_py_expr(s, local) for s in desc.shape])
        if needs_shape_check[p.name]:
            sv = shape_var[p.name]
            emit(f"if {sv} != {expected_shape}: self._err_shape({p.name!r}, {sv}, {expected_shape})")
        if desc.is_c_contiguous():
            emit(f"if not {v}.flags.c_contiguous: self._err_strides({p.name!r}, {v}, None)")
        else:
            isz = desc.dtype.itemsize
            strides = _tuple_expr([f"{_py_expr(st, local)} * {isz}" for st in desc.strides])
            emit(f"if {v}.strides != {strides}: self._err_strides({p.name!r}, {v}, {strides})")
        call_args.append(conv.pointer(v))

    # the code assumes arguments do not alias: an array it writes must not overlap another argument
    arrays = [p for p in inputs if p.kind == "array"]
    for a, b in itertools.combinations(arrays, 2):
        if a.name in written or b.name in written:
            emit(f"if _fc_overlap({sig_name[a.name]}, {sig_name[b.name]}): self._err_alias({a.name!r}, {b.name!r})")

    # 5. returned arrays
    ret_vars: list[str] = []
    for j, p in enumerate(returns):
        desc = program.data[p.name]
        assert isinstance(desc, Array)
        r = f"_fc_r{j}"
        ret_vars.append(r)
        g[f"_fc_rdt{j}"] = desc.dtype.numpy
        shape = [_py_expr(s, local) for s in desc.shape]
        order = None if desc.is_c_contiguous() else _layout_order(desc)
        emit(f"# return {p.name}: {desc.dtype.name}[{', '.join(str(s) for s in desc.shape)}]")
        if desc.is_c_contiguous():
            emit(f"{r} = _fc_empty({_tuple_expr(shape)}, _fc_rdt{j})")
        elif order is not None:
            inverse = [order.index(d) for d in range(desc.ndim)]
            emit(f"{r} = _fc_empty({_tuple_expr([shape[d] for d in order])}, _fc_rdt{j})"
                 f".transpose({_tuple_expr([str(k) for k in inverse])})")
        else:       # padded or otherwise irregular layout: a flat buffer viewed with the strides
            isz = desc.dtype.itemsize
            total = _py_expr(desc.total_size(), local)
            strides = _tuple_expr([f"{_py_expr(st, local)} * {isz}" for st in desc.strides])
            emit(f"{r} = _fc_ndarray_new({_tuple_expr(shape)}, _fc_rdt{j}, "
                 f"buffer=_fc_empty(_fc_max({total}, 1), _fc_rdt{j}), strides={strides})")
        call_args.append(conv.pointer(r))

    call_args += [local[s] for s in symbols]
    array_vars = [sig_name[p.name] for p in inputs if p.kind == "array"] + ret_vars
    call_args += conv.extra_args(array_vars)
    emit(f"_fc_rc = _fc_fn({', '.join(call_args)})")
    emit("if _fc_rc: self._err_returncode(_fc_rc)")
    if debug:
        emit(f"_fc_print(f'flowc: {fname} took {{(_fc_perf() - _fc_t0) * 1e6:.1f}} us', file=_fc_sys.stderr)")
    if not ret_vars:
        emit("return None")
    elif len(ret_vars) == 1:
        emit(f"return {ret_vars[0]}")
    else:
        emit(f"return ({', '.join(ret_vars)})")

    src = f"def {fname}({', '.join(head)}):\n" + "".join(f"    {line}\n" for line in body)
    return src, g, origin, allocations, int64_checks


def _int64_facts(program: Program, symbols: set[str]) -> tuple[list[tuple[str, sympy.Expr, str]],
                                                                 list[tuple[sympy.Expr, str]]]:
    """What must fit the native code's int64 arithmetic, beyond the symbols themselves.

    Allocations: (name, byte count, kind) of every array flowc allocates (returned arrays and
    non-view intermediates whose sizes depend on symbols; the generated code adds them up, rounded
    to 64 bytes, into one workspace, so the binder checks their sum). Loop counters: expressions
    (with why) whose values a ``for`` loop's counter takes or steps past: its start, its stop and
    ``stop + step - 1`` (the counter after the last step). Bare symbols and constants are left out
    (the symbol check covers them), and so is anything that depends on a loop variable, which only
    the native code knows, or that has no Python spelling here (the native code adds up its
    workspace with overflow checks of its own)."""
    names = {s: s for s in symbols}

    def printable(e: sympy.Expr) -> bool:
        try:
            _py_expr(e, names)
        except IRError:
            return False
        return True

    allocations: list[tuple[str, sympy.Expr, str]] = []
    for name, desc in program.data.items():
        if not isinstance(desc, Array) or desc.view_of is not None:
            continue
        if not (desc.transient or name in program.returns):
            continue
        nbytes = sympy.expand(sympy.sympify(desc.total_size()) * desc.dtype.itemsize)
        if free_symbol_names(nbytes) and free_symbol_names(nbytes) <= symbols and printable(nbytes):
            allocations.append((name, nbytes, "returned array" if name in program.returns else "intermediate"))
    checks: list[tuple[sympy.Expr, str]] = []
    seen: set[sympy.Expr] = set()
    for item in program.body.walk():
        if not isinstance(item, Loop):
            continue
        why = f"the counter of loop {item.var!r} (range({item.start}, {item.stop}, {item.step}))"
        step = item.step
        after = item.stop + step - 1 if step.is_number and step > 0 else \
            item.stop + step + 1 if step.is_number else item.stop + step
        for e in (item.start, item.stop, step, after):
            e = sympy.sympify(e)
            if e.is_Symbol or e.is_Integer or e in seen or not free_symbol_names(e) <= symbols \
                    or not printable(e):
                continue
            seen.add(e)
            checks.append((e, why))
    return allocations, checks


def bind(program: Program, library_path: Path, entry: str, convention: Optional[ArrayConvention] = None,
         base: type = None) -> CompiledProgram:  # type: ignore[assignment]
    """Load ``library_path`` and wrap its function ``entry`` as a callable for ``program``.

    ``entry`` must follow the C contract described in this module's docstring for
    ``program.call_signature()``. The library is loaded with ``RTLD_LOCAL`` so programs never
    see each other's symbols. ``convention`` and ``base`` (a ``CompiledProgram`` subclass whose
    ``_marshal`` the generated function becomes) are another target's driver's (device arrays);
    without them, arrays in GPU memory are refused.
    """
    path = Path(library_path)
    params = program.call_signature()
    on_gpu = [p.name for p in params if p.kind == "array"
              and getattr(program.data[p.name], "storage", Storage.HOST) is Storage.GPU_GLOBAL]
    if on_gpu and convention is None:
        raise FlowcError(f"program {program.name!r} takes GPU arrays ({', '.join(on_gpu)}); "
                         f"flowc.runtime.bind marshals host (NumPy) arrays only")
    try:
        library = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)
    except OSError as exc:
        raise FlowcError(f"cannot load compiled program {program.name!r} from {path}: {exc}") from exc
    try:
        function = getattr(library, entry)
    except AttributeError:
        raise FlowcError(f"{path} exports no function {entry!r} (program {program.name!r})") from None
    function.argtypes = [_ctypes_of(p) for p in params] + list(convention.extra_ctypes if convention else [])
    function.restype = ctypes.c_int
    error_message = getattr(library, "flowc_error_message", None)
    if error_message is not None:
        error_message.argtypes = []
        error_message.restype = ctypes.c_char_p

    debug = debug_enabled()
    source, namespace, origin, allocations, int64_checks = _generate(program, params, debug, convention)
    namespace["_fc_fn"] = function
    code = compile(source, f"<flowc binder for {program.name}>", "exec")
    exec(code, namespace)      # noqa: S102 - the text is generated above from identifiers and constants
    call = namespace[source[4:source.index("(")]]

    if base is None:
        cls = type(f"CompiledProgram_{program.name}", (CompiledProgram,), {"__call__": call})
    else:
        cls = type(f"{base.__name__}_{program.name}", (base,), {"_marshal": call})
    obj: CompiledProgram = object.__new__(cls)
    obj.program, obj.library_path, obj.entry, obj.params = program, path, entry, params
    obj.library, obj.function, obj.binder_source = library, function, source
    obj._label = f"{program.name}()"
    obj._symbol_origin = origin
    obj._error_message = error_message
    obj._allocations, obj._int64_checks = allocations, int64_checks
    obj._dtypes = {i: p.dtype for i, p in enumerate(p for p in params if p.kind != "symbol" and not p.is_return)}
    return obj
