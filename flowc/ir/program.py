"""A program: named data descriptors, symbols, and a body of structured control flow.

The program is the unit that is validated, transformed, serialized, rendered
and compiled. Its *call signature* (``call_signature()``) is the single
source of truth that code generation and the runtime agree on: arguments in
order, then returned arrays (allocated by the runtime), then the integer
symbols, each passed by value.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Optional, Sequence

import numpy as np
import sympy

from flowc.ir import expr as tl
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, Data, Scalar, Storage, make_array
from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.errors import IRError
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, Node, Tasklet
from flowc.ir.state import State
from flowc.ir.symbolic import Expr, as_expr, free_symbol_names

_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def _transform_driver(transformation: Any) -> Any:
    """The framework module that defined ``transformation``'s base class.

    The IR does not import the transformations package; it finds the driver
    through the transformation object it is handed."""
    import importlib

    cls = transformation if isinstance(transformation, type) else type(transformation)
    for base in cls.__mro__:
        if base.__name__ == "Transformation":
            return importlib.import_module(base.__module__)
    raise IRError(f"{transformation!r} is not a transformation")


def _shallow(obj: Any) -> Any:
    new = object.__new__(type(obj))
    new.__dict__ = obj.__dict__.copy()
    return new


def _clone_block(block: Block, program: "Program") -> Block:
    """A copy of ``block`` for ``program``: states cloned, loops and branches copied with their
    bodies (their bounds and conditions are immutable expressions)."""
    new = Block(program)
    for item in block.items:
        if isinstance(item, State):
            new.items.append(item.clone(program))
            continue
        twin = copy.copy(item)
        for k, v in vars(item).items():
            if isinstance(v, Block):
                setattr(twin, k, _clone_block(v, program))
        new.items.append(twin)
    return new


@dataclass(frozen=True)
class Param:
    """One parameter of the compiled entry point."""

    name: str
    kind: str                 # "array" (pointer), "scalar" (by value), "symbol" (int64 by value)
    dtype: DType
    is_return: bool = False


class Program:
    #: set by the public API (``flowc``) so ``program.compile()`` works without
    #: the IR importing the stages after it
    compiler: ClassVar[Optional[Callable[..., Any]]] = None

    def __init__(self, name: str):
        if not _IDENT.fullmatch(name):
            raise IRError(f"program name {name!r} is not an identifier")
        self.name = name
        self.data: dict[str, Data] = {}
        self.arg_names: list[str] = []
        self.returns: list[str] = []
        self.symbols: list[str] = []
        self.body = Block(self)
        self.history: list[dict[str, Any]] = []
        #: conditions on the free symbols, checked on every call: (expr, why) means expr >= 0
        self.requirements: list[tuple[Expr, str]] = []
        #: the calling convention of the Python function the program came from (see
        #: ``check_calling_convention``): arrays of the enclosing scope that became trailing
        #: arguments, by argument name (``None``: the value was not loaded with the IR and must
        #: be passed by keyword), and integer parameters that became size symbols, by their
        #: position in the function's parameter list
        self.closure_args: dict[str, Optional[np.ndarray]] = {}
        self.symbol_params: dict[str, int] = {}
        self._state_names: set[str] = set()

    def __deepcopy__(self, memo: dict) -> "Program":
        """A deep copy that shares the closure arrays: they are the enclosing scope's values,
        passed to every call as they are, never copies (a weight matrix is copied once per
        transformation attempt otherwise)."""
        for value in self.closure_args.values():
            if value is not None:
                memo[id(value)] = value
        new = object.__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            setattr(new, key, copy.deepcopy(value, memo))
        return new

    # ------------------------------------------------------------ data
    def _check_new(self, name: str) -> None:
        if not _IDENT.fullmatch(name):
            raise IRError(f"data name {name!r} is not an identifier")
        if name in self.data:
            raise IRError(f"data {name!r} already exists in program {self.name!r}")

    def new_name(self, prefix: str) -> str:
        """A data name not used yet, derived from ``prefix``."""
        if prefix not in self.data:
            return prefix
        i = 0
        while f"{prefix}_{i}" in self.data:
            i += 1
        return f"{prefix}_{i}"

    def add_array(self, name: str, shape: Sequence[Any], dtype: Any, transient: bool = False,
                  strides: Optional[Sequence[Any]] = None, storage: Storage = Storage.HOST,
                  find_new_name: bool = False) -> tuple[str, Array]:
        """Add an array; a non-transient one becomes the next argument."""
        if find_new_name:
            name = self.new_name(name)
        self._check_new(name)
        desc = make_array(dtype, shape, strides=tuple(strides or ()), storage=storage, transient=transient)
        self.data[name] = desc
        if not transient:
            self.arg_names.append(name)
        return name, desc

    def add_transient(self, name: str, shape: Sequence[Any], dtype: Any, **kwargs: Any) -> tuple[str, Array]:
        return self.add_array(name, shape, dtype, transient=True, **kwargs)

    def add_scalar(self, name: str, dtype: Any, transient: bool = False,
                   find_new_name: bool = False) -> tuple[str, Scalar]:
        if find_new_name:
            name = self.new_name(name)
        self._check_new(name)
        desc = Scalar(dtype_of(dtype), transient=transient)
        self.data[name] = desc
        if not transient:
            self.arg_names.append(name)
        return name, desc

    def add_view(self, name: str, base: str, shape: Sequence[Any], strides: Optional[Sequence[Any]] = None,
                 offset: Any = 0, find_new_name: bool = False) -> tuple[str, Array]:
        """A view of ``base`` (reshape/transpose/slice without a copy)."""
        if find_new_name:
            name = self.new_name(name)
        self._check_new(name)
        if base not in self.data:
            raise IRError(f"view {name!r} of unknown data {base!r}")
        base_desc = self.data[base]
        desc = make_array(base_desc.dtype, shape, strides=tuple(strides or ()), transient=True,
                          view_of=base, offset=as_expr(offset), storage=getattr(base_desc, "storage", Storage.HOST))
        self.data[name] = desc
        return name, desc

    def add_return(self, name: str) -> None:
        """Make array ``name`` a returned value: the runtime allocates it per call."""
        desc = self.data.get(name)
        if desc is None:
            raise IRError(f"cannot return unknown data {name!r}")
        if name in self.arg_names:
            self.arg_names.remove(name)
        desc.transient = False
        self.returns.append(name)

    def add_symbol(self, name: str) -> str:
        if not _IDENT.fullmatch(name):
            raise IRError(f"symbol name {name!r} is not an identifier")
        if name not in self.symbols:
            self.symbols.append(name)
        return name

    def require(self, expr: Any, why: str) -> None:
        """Record that ``expr >= 0`` must hold for the program to be valid (a constant slice
        bound inside a symbolic axis, say); the runtime checks it before every call. Conditions
        that hold for all non-negative sizes are dropped."""
        e = as_expr(expr)
        sizes = {x: sympy.Symbol(x.name, integer=True, nonnegative=True) for x in e.free_symbols}
        if e.xreplace(sizes).is_nonnegative:
            return
        if e.is_number:
            raise IRError(f"requirement {why} does not hold")
        if (e, why) not in self.requirements:
            self.requirements.append((e, why))

    def root_offset(self, name: str) -> Expr:
        """Offset of ``name``'s element 0 inside the memory of its root container (views add up)."""
        offset: Expr = sympy.Integer(0)
        while self.data[name].view_of is not None:
            offset += self.data[name].offset
            name = self.data[name].view_of
        return offset

    def root_of(self, name: str) -> str:
        """The container that owns the memory of ``name`` (itself unless a view)."""
        seen = set()
        while self.data[name].view_of is not None:
            if name in seen:
                raise IRError(f"view cycle through {name!r}")
            seen.add(name)
            name = self.data[name].view_of
        return name

    # ------------------------------------------------------------ control flow
    def unique_state_name(self, name: str) -> str:
        candidate, i = name, 0
        while candidate in self._state_names:
            i += 1
            candidate = f"{name}_{i}"
        self._state_names.add(candidate)
        return candidate

    def add_state(self, name: Optional[str] = None) -> State:
        return self.body.add_state(name)

    def add_loop(self, var: str, start: Any, stop: Any, step: Any = 1) -> Loop:
        return self.body.add_loop(var, start, stop, step)

    def add_branch(self, cond: Any) -> Branch:
        return self.body.add_branch(cond)

    def add_while(self, cond: Any) -> While:
        return self.body.add_while(cond)

    def states(self) -> Iterator[State]:
        return self.body.states()

    def all_nodes(self) -> Iterator[tuple[State, Node]]:
        for st in self.states():
            for n in st.nodes():
                yield st, n

    def kernels(self) -> list[tuple[State, Node, str]]:
        """The top-level nodes code generation emits as one kernel each (a map nest, a library
        call, a tasklet; not access nodes), states in control-flow order, each topologically,
        with their names: ``state/label``, and ``#2``, ``#3``... for a name met again. An
        instrumented library times and names its kernels so (``CompiledProgram.profile``)."""
        out: list[tuple[State, Node, str]] = []
        seen: dict[str, int] = {}
        for st in self.states():
            scopes = st.scope_dict()
            for n in st.topological_nodes():
                if scopes.get(n) is None and not isinstance(n, (AccessNode, MapExit)):
                    name = f"{st.name}/{n.label}"
                    seen[name] = seen.get(name, 0) + 1
                    out.append((st, n, name if seen[name] == 1 else f"{name}#{seen[name]}"))
        return out

    # ------------------------------------------------------------ symbols & signature
    def local_symbols(self) -> set[str]:
        """Loop variables and map parameters: symbols bound inside the program."""
        bound = {item.var for item in self.body.walk() if isinstance(item, Loop)}
        for _, n in self.all_nodes():
            if isinstance(n, MapEntry):
                bound |= set(n.map.params)
        return bound

    def used_symbols(self) -> set[str]:
        """Every symbol name the program refers to, bound or free."""
        used: set[str] = set(self.symbols)
        for expr, _ in self.requirements:
            used |= free_symbol_names(expr)
        for desc in self.data.values():
            used |= desc.free_symbols()
        for item in self.body.walk():
            if isinstance(item, Loop):
                for e in (item.start, item.stop, item.step):
                    used |= free_symbol_names(e)
            elif isinstance(item, (Branch, While)):
                used |= {n for n in tl.names(item.cond) if n not in self.data}
            elif isinstance(item, State):
                for n in item.nodes():
                    if isinstance(n, MapEntry):
                        for r in n.map.ranges:
                            used |= r.free_symbols()
                    elif isinstance(n, Tasklet):
                        used |= n.code.read_names() - set(n.inputs)
                for e in item.edges():
                    if not e.memlet.is_empty and e.memlet.subset is not None:
                        used |= e.memlet.subset.free_symbols()
                    if e.memlet.other_subset is not None:
                        used |= e.memlet.other_subset.free_symbols()
        return used

    def free_symbols(self) -> list[str]:
        """Symbols whose values the caller supplies (inferred from shapes or passed by keyword)."""
        return sorted(self.used_symbols() - self.local_symbols())

    def call_signature(self) -> list[Param]:
        params: list[Param] = []
        for name in self.arg_names:
            desc = self.data[name]
            params.append(Param(name, "scalar" if isinstance(desc, Scalar) else "array", desc.dtype))
        for name in self.returns:
            params.append(Param(name, "array", self.data[name].dtype, is_return=True))
        for name in self.free_symbols():
            params.append(Param(name, "symbol", dtype_of("int64")))
        return params

    def check_calling_convention(self) -> None:
        """Check ``closure_args`` and ``symbol_params`` against the arguments and symbols.

        The Python function's parameters are the non-closure arguments (``arg_names`` minus
        the closure arrays, in order) with the size-symbol parameters inserted at their
        positions; the closure arrays are the last arguments, each a non-transient Array whose
        value (when present) has exactly the descriptor's dtype and constant shape."""
        closure = list(self.closure_args)
        if closure and self.arg_names[-len(closure):] != closure:
            raise IRError(f"program {self.name!r}: closure arrays {closure} must be the last arguments "
                          f"(arguments: {self.arg_names})")
        for name, value in self.closure_args.items():
            desc = self.data.get(name)
            if not isinstance(desc, Array):
                raise IRError(f"program {self.name!r}: closure argument {name!r} is not an array")
            if value is None:
                continue
            if not isinstance(value, np.ndarray):
                raise IRError(f"program {self.name!r}: closure argument {name!r} holds "
                              f"{type(value).__name__}, not a NumPy array")
            shape = tuple(int(s) if s.is_Integer else None for s in desc.shape)
            if value.dtype != desc.dtype.numpy or value.shape != shape:
                raise IRError(f"program {self.name!r}: closure argument {name!r} holds {value.dtype}"
                              f"{list(value.shape)}, its descriptor says {desc.dtype.name}{list(desc.shape)}")
        n_params = len(self.arg_names) - len(closure) + len(self.symbol_params)
        positions = sorted(self.symbol_params.values())
        for name, position in self.symbol_params.items():
            if name not in self.symbols:
                raise IRError(f"program {self.name!r}: size parameter {name!r} is not a symbol of the program")
            if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < n_params:
                raise IRError(f"program {self.name!r}: size parameter {name!r} has position {position!r}; "
                              f"the function has {n_params} parameters")
        if len(set(positions)) != len(positions):
            raise IRError(f"program {self.name!r}: two size parameters share a position ({self.symbol_params})")

    # ------------------------------------------------------------ copies
    def clone(self) -> "Program":
        """An independent copy, like ``copy.deepcopy`` but several times cheaper (a search copies
        a program per candidate): the graphs, maps, data descriptors and control flow are new
        objects; what is immutable (sympy expressions, tasklet code, memlets, epilogues) is
        shared. History entries are copied (they are plain JSON data). Attributes this method
        does not know are deep-copied, so it stays correct when Program gains fields."""
        new = Program.__new__(Program)
        known = {"data", "arg_names", "returns", "symbols", "body", "history", "requirements", "_state_names",
                 "closure_args", "symbol_params"}
        for k, v in vars(self).items():
            if k not in known:
                setattr(new, k, copy.deepcopy(v))
        new.data = {k: _shallow(v) for k, v in self.data.items()}   # fields: tuples of expressions, enums
        new.arg_names, new.returns, new.symbols = list(self.arg_names), list(self.returns), list(self.symbols)
        new.history = copy.deepcopy(self.history)                  # plain JSON data
        new.closure_args = dict(self.closure_args)                  # the arrays are shared, as deepcopy does
        new.symbol_params = dict(self.symbol_params)
        new.requirements = list(self.requirements)
        new._state_names = set(self._state_names)
        new.body = _clone_block(self.body, new)
        return new

    # ------------------------------------------------------------ services of the hub
    def validate(self) -> "Program":
        """Check every invariant; raise ``ValidationError`` naming the offending node."""
        from flowc.ir.validate import validate_program

        validate_program(self)
        return self

    def to_json(self, closure_values: bool = True) -> str:
        """The JSON text of the program (``flowc.ir.from_json`` reads it back).

        ``closure_values=False`` leaves out the values of the closure arrays (a cache keyed
        by them need not store them); the loaded program then takes them by keyword."""
        from flowc.ir.serialize import program_to_json

        return program_to_json(self, closure_values=closure_values)

    def data_movement(self, **symbol_values: int) -> dict[str, int]:
        """Bytes read from and written to containers, derived from the memlets."""
        from flowc.ir.movement import data_movement

        return data_movement(self, symbol_values)

    def _repr_svg_(self) -> str:
        from flowc.ir.render import render_svg

        return render_svg(self)

    def apply(self, transformation: Any, match: Any = None, **options: Any) -> list[Any]:
        """Apply a transformation (class or instance) at ``match``, or everywhere
        it matches until none is left. Returns the matches applied; each is
        recorded in ``self.history``."""
        return _transform_driver(transformation).apply(self, transformation, match, **options)

    def matches(self, transformation: Any, **options: Any) -> list[Any]:
        """Where a transformation applies now (nothing is changed)."""
        return _transform_driver(transformation).matches(self, transformation, **options)

    def compile(self, target: str = "cpu", **options: Any) -> Any:
        """Generate, compile and load this program (composed by the public API).

        The result is called like the function the program came from: size parameters at
        their positions, closure arrays appended (those without a stored value are taken by
        keyword, by their argument name), 0-d results as NumPy scalars."""
        if Program.compiler is None:
            raise IRError("no compiler is registered; import flowc to compile programs")
        return Program.compiler(self, target=target, **options)

    def __repr__(self) -> str:
        n_states = sum(1 for _ in self.states())
        return f"Program({self.name!r}: {len(self.data)} data, {n_states} states)"
