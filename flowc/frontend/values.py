"""What a Python expression evaluates to while it is being lowered.

The frontend interprets the function body abstractly. Every expression
evaluates to one of these values:

- ``Const``: a compile-time number (a Python literal or closure constant, or
  a NumPy scalar). Python numbers are *weak* in NumPy 2's promotion (NEP 50):
  ``float32_array * 2.0`` stays float32.
- ``Sym``: a symbolic integer (a size symbol, a loop variable, ``x.shape[0]``,
  arithmetic on them). It behaves like a weak Python int.
- ``Ref``: (part of) a container of the program, seen through integer
  indices, slices, transposes and new axes. It is what NumPy calls a view:
  reads and writes go to the underlying container, addressed with affine
  index expressions; ``Lowering.container`` turns it into an IR view when a
  library node needs a whole container.
- ``Lazy``: an element-wise expression not yet computed — one tasklet
  expression tree over *leaves* (elements of containers), with a shape and a
  dtype. Whole NumPy expressions stay lazy until a statement needs the
  result, so ``np.exp(x - m) / s`` becomes one map with one tasklet.
- compile-time Python objects: tuples, modules, functions, dtypes, nested
  programs, slices, strings (``PyValue``), bound methods.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
import sympy

from flowc.ir import expr as tl
from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.symbolic import Expr, canonical_symbol

from .errors import LoweringError

INT64 = dtype_of("int64")


@dataclass(frozen=True)
class Const:
    value: Any
    dtype: DType
    weak: bool

    @property
    def shape(self) -> tuple[Expr, ...]:
        return ()


@dataclass(frozen=True)
class Sym:
    expr: Expr

    @property
    def shape(self) -> tuple[Expr, ...]:
        return ()

    @property
    def dtype(self) -> DType:
        return INT64

    weak = True


@dataclass(frozen=True)
class Axis:
    """One dimension of a Ref: which dimension of the container drives it
    (None for a new axis of size 1), and its start, step and size there."""

    src: Optional[int]
    start: Expr
    step: Expr
    size: Expr


@dataclass(frozen=True)
class Ref:
    data: str
    dtype: DType
    axes: tuple[Axis, ...]
    fixed: tuple[Optional[Expr], ...]    # per container dim: integer index, or None (an axis)
    #: a scalar argument passed as a Python number (weak in NumPy 2's promotion)
    weak: bool = False
    #: a 0-d *array* in NumPy (np.where of 0-d operands), not a NumPy scalar: its ``** 2`` is np.square
    array0d: bool = False

    @staticmethod
    def whole(name: str, desc: Any) -> "Ref":
        shape = tuple(desc.shape)
        return Ref(name, desc.dtype, tuple(Axis(d, sympy.Integer(0), sympy.Integer(1), s)
                                           for d, s in enumerate(shape)), (None,) * len(shape))

    @property
    def shape(self) -> tuple[Expr, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    def index(self, out_index: tuple[Expr, ...]) -> tuple[Expr, ...]:
        """Container index of the element at ``out_index`` (one expression per axis)."""
        idx: list[Expr] = list(self.fixed)
        for a, i in zip(self.axes, out_index):
            if a.src is not None:
                idx[a.src] = a.start + a.step * i
        return tuple(sympy.sympify(e) for e in idx)

    def is_whole(self, desc: Any) -> bool:
        w = Ref.whole(self.data, desc)
        return self.axes == w.axes and self.fixed == w.fixed


@dataclass(frozen=True)
class Leaf:
    """An element of a container read by a lazy expression. ``index`` uses the
    placeholders ``_od0, _od1, ...`` for the expression's output dimensions.
    ``block`` (for gathers) is a whole-range index read in the tasklet by subscript."""

    data: str
    index: tuple[Expr, ...]
    block: bool = False


@dataclass
class Lazy:
    shape: tuple[Expr, ...]
    dtype: DType
    node: tl.Node
    leaves: dict[str, Leaf] = field(default_factory=dict)
    weak: bool = False
    #: see ``Ref.array0d``
    array0d: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class TupleValue:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class PyValue:
    """A compile-time Python object with no array meaning (a string, None, a slice...)."""

    obj: Any


@dataclass(frozen=True)
class ModuleValue:
    module: Any


@dataclass(frozen=True)
class FuncValue:
    """A Python callable resolved at compile time (``np.exp``, ``range``, ``math.erf``)."""

    obj: Any


@dataclass(frozen=True)
class DTypeValue:
    dtype: DType


def dtype_value(v: Any) -> Optional[DType]:
    """The dtype a ``dtype=`` argument names: a dtype, or the builtins ``float``, ``int``, ``bool``,
    ``complex`` (NumPy's float64, int64, bool, complex128); None for anything else."""
    if isinstance(v, DTypeValue):
        return v.dtype
    if isinstance(v, FuncValue) and v.obj in (float, int, bool, complex):
        return dtype_of(np.dtype(v.obj))
    return None


@dataclass(frozen=True)
class ProgramValue:
    """A nested ``@flowc.program``: inlined at its call sites."""

    program: Any

    @property
    def func(self) -> Any:
        return self.program.func


@dataclass(frozen=True)
class MethodValue:
    """``x.sum``, ``np.add.reduce``: an attribute to be called."""

    owner: Any
    name: str


@dataclass(frozen=True)
class MapMarker:
    """``flowc.map`` itself, or ``flowc.map[0:N, 0:M]`` with its ranges."""

    ranges: Optional[tuple[tuple[Expr, Expr, Expr], ...]] = None


Value = Union[Const, Sym, Ref, Lazy, TupleValue, PyValue, ModuleValue, FuncValue, DTypeValue,
              ProgramValue, MethodValue, MapMarker]
ArrayLike = Union[Const, Sym, Ref, Lazy]


def is_arraylike(v: Any) -> bool:
    return isinstance(v, (Const, Sym, Ref, Lazy))


def placeholder(k: int) -> sympy.Symbol:
    """The sympy placeholder for output dimension ``k`` of a lazy expression."""
    return canonical_symbol(f"_od{k}")


def placeholder_name(k: int) -> str:
    return f"_od{k}"


def describe(v: Any) -> str:
    """A short user-facing description of a value, for messages."""
    if isinstance(v, Const):
        return f"the constant {v.value!r}"
    if isinstance(v, Sym):
        return f"the symbolic integer {v.expr}"
    if isinstance(v, (Ref, Lazy)):
        shape = tuple(v.shape)
        return f"a {v.dtype.name} array of shape {shape}" if shape else f"a {v.dtype.name} scalar"
    if isinstance(v, TupleValue):
        return "a tuple"
    if isinstance(v, ModuleValue):
        return f"the module {getattr(v.module, '__name__', '?')}"
    if isinstance(v, FuncValue):
        return f"the function {getattr(v.obj, '__name__', v.obj)!r}"
    if isinstance(v, DTypeValue):
        return f"the dtype {v.dtype.name}"
    if isinstance(v, ProgramValue):
        return "a flowc program"
    if isinstance(v, PyValue):
        return f"the Python object {v.obj!r}"
    if isinstance(v, MethodValue):
        return f"the method {v.name!r}"
    return type(v).__name__


def static_int(v: Any, what: str = "this value") -> int:
    """A compile-time Python int, or a LoweringError."""
    if isinstance(v, Const) and v.dtype.is_integer or isinstance(v, Const) and v.dtype.kind == "b":
        return int(v.value)
    if isinstance(v, Sym) and v.expr.is_Integer:
        return int(v.expr)
    raise LoweringError(f"{what} must be a compile-time integer, not {describe(v)}",
                        "an integer literal or a constant from the enclosing scope")


#: names of the program's integer scalar parameters (they can become symbols)
SCALAR_PARAMS: contextvars.ContextVar[frozenset] = contextvars.ContextVar("flowc_scalar_params",
                                                                          default=frozenset())


class ScalarParameterAsSymbol(Exception):
    """An integer scalar parameter is used where a symbolic integer is needed (``range(n)``,
    ``x[:n]``, ``np.zeros(n)``): lowering restarts with the parameter declared as a size
    symbol (passed by value like any symbol; ``program.symbol_params`` records its position)."""

    def __init__(self, name: str):
        super().__init__(f"parameter {name} used as a symbol")
        self.name = name


def scalar_parameter(v: Any) -> Optional[str]:
    """The name of the integer scalar parameter ``v`` refers to, if any."""
    if isinstance(v, Ref) and v.ndim == 0 and not v.fixed and v.dtype.is_integer and \
            v.data in SCALAR_PARAMS.get():
        return v.data
    return None


def sym_value(v: Any, what: str = "this value") -> Expr:
    """A symbolic integer (size, index, bound), or a LoweringError."""
    if isinstance(v, Sym):
        return v.expr
    if isinstance(v, Const) and (v.dtype.is_integer or v.dtype.kind == "b"):
        return sympy.Integer(int(v.value))
    name = scalar_parameter(v)
    if name is not None:
        raise ScalarParameterAsSymbol(name)
    if isinstance(v, Lazy) and len(v.shape) == 0 and v.dtype.is_integer:
        # arithmetic on integer parameters (``range(1, T - 1)``, ``x[:2 * n]``): with every such
        # parameter a symbol, the expression folds to a symbolic integer
        params = sorted({lf.data for lf in v.leaves.values()} & SCALAR_PARAMS.get())
        if params:
            raise ScalarParameterAsSymbol(params[0])
    if isinstance(v, (Ref, Lazy)) and len(v.shape) == 0 and v.dtype.is_integer:
        raise LoweringError(f"{what} must be known before the program runs (a symbol), but it is computed at "
                            "run time", "a size symbol (flowc.symbol), an integer parameter, an expression of "
                            "sizes such as x.shape[0], or a constant")
    raise LoweringError(f"{what} must be an integer known at compile time or a symbol, not {describe(v)}",
                        "integer literals, size symbols, loop variables and x.shape[i]")


def static_axes(v: Any, ndim: int, what: str = "axis") -> tuple[int, ...]:
    """Normalize an axis argument (int, negative int, tuple) to sorted non-negative axes."""
    items = v.items if isinstance(v, TupleValue) else (v,)
    out = []
    for it in items:
        a = static_int(it, what)
        if not -ndim <= a < ndim:
            raise LoweringError(f"{what} {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise LoweringError(f"repeated {what} in {tuple(out)}")
    return tuple(out)
