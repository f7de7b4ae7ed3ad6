"""The lowering context: the program being built, where new states go, names, views.

States. Operations are appended to the *current state* as long as that is
safe, so producer and consumer of an intermediate meet in one dataflow graph
(which is what fusion transformations need). An operation starts a new state
when it would read a container that an earlier operation of the state wrote
through another name (a view), or write a container the state already read
or wrote. Reads of a container written earlier in the state are chained from
the writing access node, which orders them. Control flow (loops, branches,
inlined callees) always closes the current state.

Containers. ``container(ref)`` gives a library node the whole container it
needs: the Ref's own container, an IR view of it (strides and offset relative
to the root container, as code generation addresses views), or a copy when
no strided view can express it.
"""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import sympy

from flowc.ir.control import Block
from flowc.ir.data import Array, Scalar
from flowc.ir.dtypes import DType
from flowc.ir.nodes import AccessNode
from flowc.ir.program import Program
from flowc.ir.state import State
from flowc.ir.bounds import upper_bound
from flowc.ir.symbolic import Expr, Range, c_strides

from .errors import LoweringError, Source
from .values import Axis, Ref, Value


class StateCtx:
    """Bookkeeping for the state operations are currently appended to."""

    def __init__(self, state: State, program: Program):
        self.state = state
        self.program = program
        self.written: dict[str, AccessNode] = {}
        self.touched_roots: set[str] = set()
        self.written_roots: set[str] = set()

    def conflicts(self, reads: list[str], writes: list[str]) -> bool:
        root = self.program.root_of
        for r in reads:
            if r not in self.written and root(r) in self.written_roots:
                return True
        return any(root(w) in self.touched_roots for w in writes)

    def read(self, data: str) -> AccessNode:
        self.touched_roots.add(self.program.root_of(data))
        node = self.written.get(data)
        return node if node is not None else self.state.add_access(data)

    def write(self, data: str) -> AccessNode:
        node = self.state.add_access(data)
        root = self.program.root_of(data)
        self.written[data] = node
        self.touched_roots.add(root)
        self.written_roots.add(root)
        return node


@dataclass
class Frame:
    """One function being lowered: the program itself, or an inlined callee."""

    source: Source
    func: Any
    globals: dict[str, Any]
    closure: dict[str, Any]
    env: dict[str, Value] = field(default_factory=dict)
    #: the callee's size symbols -> the caller's expressions (inlining)
    sym_subs: dict[str, Expr] = field(default_factory=dict)
    #: variables that live in a container across loop iterations / branch arms
    carried: dict[str, Ref] = field(default_factory=dict)
    #: carried variables that stay views of a container defined before their loop (``v = t[::-1]``)
    aliases: dict[str, Ref] = field(default_factory=dict)
    #: names of the size symbols in the function's globals and closure (computed on first use)
    symbol_names: Optional[set[str]] = None
    #: names the function assigns anywhere (local to the whole function; computed on first use)
    assigned: Optional[set[str]] = None


class Lowering:
    def __init__(self, program: Program):
        self.program = program
        self.blocks: list[Block] = [program.body]
        self.sc: Optional[StateCtx] = None
        self.frames: list[Frame] = []
        #: names that are symbols (size symbols, loop variables, map parameters)
        self.reserved: set[str] = set()
        #: loop variables and map parameters: symbols no data descriptor may use
        self.bound: set[str] = set()
        #: the ranges of the sequential loops' variables (bounds for loop-dependent intermediates)
        self.loop_ranges: dict[str, Range] = {}
        #: transients created by the frontend for values (safe to write in place)
        self.owned: set[str] = set()
        self.view_cache: dict[tuple, str] = {}
        self.closure_ids: dict[int, str] = {}
        self.dry_depth = 0
        #: inside a flowc.map body: only element code, no states of its own
        self.in_map = False
        self._counter = 0
        #: differences of sizes already required zero (``require_equal``)
        self.equalities: set[Any] = set()
        #: the AST nodes being lowered, innermost last, with their sources (``location``)
        self.nodes: list[tuple[Source, ast.AST]] = []

    def location(self) -> str:
        """``file:line`` of the innermost node being lowered (for messages of run-time checks)."""
        if not self.nodes:
            return "<unknown>"
        source, node = self.nodes[-1]
        line = source.first_line + (getattr(node, "lineno", None) or source.tree.lineno) - 1
        return f"{source.filename}:{line}"

    def require(self, expr: Any, why: str) -> None:
        """A condition ``expr >= 0`` on the program's size symbols that the code relies on
        (a constant slice bound inside a symbolic axis): checked by the runtime on every
        call. Conditions on loop variables or map parameters are the program's own business."""
        e = sympy.sympify(expr)
        if {s.name for s in e.free_symbols} & self.bound:
            return
        if e.is_number:
            if e < 0:
                raise LoweringError(f"{why} is out of bounds")
            return
        self.program.require(e, why)

    def require_equal(self, a: Any, b: Any, why: str) -> bool:
        """Record that sizes ``a`` and ``b`` must be equal (two requirements, ``a - b >= 0`` and
        ``b - a >= 0``); False, and nothing recorded, where they depend on a loop variable or
        map parameter, which no per-call check can see."""
        d = sympy.sympify(a) - sympy.sympify(b)
        if {s.name for s in d.free_symbols} & self.bound:
            return False
        if d in self.equalities or -d in self.equalities:
            return True
        self.equalities.add(d)
        self.require(d, why)
        self.require(-d, why)
        return True

    # ------------------------------------------------------------ frames and blocks
    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    @property
    def block(self) -> Block:
        return self.blocks[-1]

    @contextlib.contextmanager
    def in_block(self, block: Block) -> Iterator[None]:
        self.end_state()
        self.blocks.append(block)
        try:
            yield
        finally:
            self.end_state()
            self.blocks.pop()

    def end_state(self) -> None:
        self.sc = None

    def op(self, reads: list[str], writes: list[str]) -> StateCtx:
        """The state an operation reading ``reads`` and writing ``writes`` goes into."""
        if self.in_map:
            raise LoweringError("this operation is not supported inside flowc.map",
                                "inside flowc.map, write element code (name = expression, "
                                "array[indices] = expression); do array operations outside the map")
        if self.sc is None or self.sc.conflicts(reads, writes):
            self.sc = StateCtx(self.block.add_state("s"), self.program)
        return self.sc

    # ------------------------------------------------------------ names
    def fresh(self, prefix: str) -> str:
        """A name used by no container and no symbol."""
        prefix = prefix.lstrip("_") or "t"
        if prefix.startswith("fc_") or prefix.startswith("flowc"):
            prefix = "v_" + prefix
        taken = self.program.data.keys() | self.reserved | set(self.program.symbols) | self.scope_symbols()
        if prefix not in taken:
            return prefix
        i = 1
        while f"{prefix}_{i}" in taken:
            i += 1
        return f"{prefix}_{i}"

    def scope_symbols(self) -> set[str]:
        """Names of size symbols visible to the functions being lowered (a container must not
        take the name of a symbol that the program may use later)."""
        out: set[str] = set()
        for f in self.frames:
            if f.symbol_names is None:
                f.symbol_names = {v.name for v in (*f.globals.values(), *f.closure.values())
                                  if isinstance(v, sympy.Symbol)}
            out |= f.symbol_names
        return out

    def fresh_param(self, k: int) -> str:
        self._counter += 1
        name = self.fresh(f"i{k}")
        self.reserved.add(name)
        self.bound.add(name)
        return name

    def uses_bound(self, *exprs: Any) -> bool:
        """Whether sizes/offsets mention a loop variable or map parameter (not allowed in descriptors)."""
        for e in exprs:
            for s in sympy.sympify(e).free_symbols:
                if s.name in self.bound:
                    return True
        return False

    # ------------------------------------------------------------ containers
    def temp(self, shape: tuple[Expr, ...], dtype: DType, prefix: str = "tmp") -> Ref:
        """A new transient owned by the frontend (a Scalar when 0-d)."""
        if self.in_map:
            raise LoweringError("this operation creates an array, which is not supported inside flowc.map",
                                "inside flowc.map, write element code; do array operations outside the map")
        capacity = self._capacity(shape)
        name = self.fresh(prefix)
        if len(shape) == 0:
            self.program.add_scalar(name, dtype, transient=True)
        else:
            self.program.add_transient(name, list(capacity), dtype)
        self.owned.add(name)
        whole = Ref.whole(name, self.program.data[name])
        if capacity == tuple(shape):
            return whole
        # the first ``shape`` elements of a buffer sized for the largest iteration
        return Ref(name, dtype, tuple(Axis(d, sympy.Integer(0), sympy.Integer(1), sympy.sympify(n))
                                      for d, n in enumerate(shape)), whole.fixed)

    def _capacity(self, shape: tuple[Expr, ...]) -> tuple[Expr, ...]:
        """The container shape for an intermediate of ``shape``: itself, or, where it depends on
        sequential loop variables (``a[:i] * 2`` inside ``for i in range(1, N)``), each
        dimension's largest value over the loops (``N - 1``), allocated once before them."""
        if not self.uses_bound(*shape):
            return tuple(shape)
        out = []
        for n in shape:
            hi = upper_bound(n, self.loop_ranges) if self.uses_bound(n) else n
            if hi is None or self.uses_bound(hi):
                raise LoweringError(f"an intermediate array of shape ({', '.join(map(str, shape))}) depends on a "
                                    "loop variable in a way flowc cannot bound",
                                    "sizes that are linear in the loop variables of range() loops, or compute "
                                    "into an array allocated before the loop")
            out.append(sympy.Max(hi, 0))
        return tuple(out)

    def desc(self, name: str) -> Any:
        return self.program.data[name]

    def view_of(self, ref: Ref) -> Optional[tuple[str, tuple[Expr, ...], tuple[Expr, ...], Expr]]:
        """(root, shape, strides, offset) of a strided view equal to ``ref``; None if 0-d or a Scalar."""
        desc = self.desc(ref.data)
        if isinstance(desc, Scalar) or ref.ndim == 0:
            return None
        root = self.program.root_of(ref.data)
        offset = sympy.sympify(desc.offset) if desc.view_of is not None else sympy.Integer(0)
        for d, f in enumerate(ref.fixed):
            if f is not None:
                offset += desc.strides[d] * f
        for a in ref.axes:
            if a.src is not None:
                offset += desc.strides[a.src] * a.start
        strides: list[Expr] = []
        for k, a in enumerate(ref.axes):
            if a.src is not None:
                strides.append(sympy.expand(desc.strides[a.src] * a.step))
            else:
                inner = next((ref.axes[j] for j in range(k + 1, ref.ndim) if ref.axes[j].src is not None), None)
                strides.append(sympy.expand(desc.strides[inner.src] * inner.step * inner.size)
                               if inner is not None else sympy.Integer(1))
        return root, ref.shape, tuple(strides), sympy.expand(offset)

    def make_view(self, root: str, shape: tuple[Expr, ...], strides: tuple[Expr, ...], offset: Expr,
                  prefix: str) -> str:
        key = (root, tuple(shape), tuple(strides), offset)
        name = self.view_cache.get(key)
        if name is not None and name in self.program.data:
            return name
        name = self.fresh(prefix)
        self.program.add_view(name, root, list(shape), strides=list(strides), offset=offset)
        self.view_cache[key] = name
        return name

    def container(self, ref: Ref, *, contiguous: bool = False, blas: bool = False) -> str:
        """A whole container equal to ``ref``: itself, a view, or a copy.

        ``contiguous``: C-contiguous required. ``blas``: positive strides with a
        unit stride in one of the last two dimensions (a GEMM operand)."""
        desc = self.desc(ref.data)
        if ref.is_whole(desc) and self._layout_ok(desc.shape, desc.strides, contiguous, blas):
            return ref.data
        view = self.view_of(ref)
        if view is not None and self._layout_ok(view[1], view[2], contiguous, blas) and \
                not self.uses_bound(*view[1], *view[2], view[3]):
            return self.make_view(*view, prefix=f"{ref.data}_view")
        from .emit import copy_to_temp  # local import: emit builds on this module

        return copy_to_temp(self, ref).data

    @staticmethod
    def _layout_ok(shape: tuple[Expr, ...], strides: tuple[Expr, ...], contiguous: bool, blas: bool) -> bool:
        if contiguous:
            want = c_strides(shape)
            return all(s == 1 or sympy.simplify(a - b) == 0 for s, a, b in zip(shape, strides, want))
        if blas:
            if any(sympy.sympify(s).is_negative for s in strides):
                return False
            if len(shape) < 2:
                return True
            rs, cs = strides[-2], strides[-1]
            unit = sympy.simplify(cs - 1) == 0 or sympy.simplify(rs - 1) == 0
            return bool(unit) and not (sympy.sympify(rs) == 0 or sympy.sympify(cs) == 0)
        return True

    def is_argument(self, name: str) -> bool:
        root = self.program.root_of(name)
        return root in self.program.arg_names or root in self.program.returns

    def data_dtype(self, name: str) -> DType:
        return self.program.data[name].dtype

    def is_array(self, name: str) -> bool:
        return isinstance(self.program.data[name], Array)

    # ------------------------------------------------------------ dry runs
    @contextlib.contextmanager
    def dry_run(self) -> Iterator[Block]:
        """Lower something into a scratch block, then forget everything it created.

        Used to learn the dtypes and shapes a loop body or branch arm gives its
        variables before the containers that carry them are created."""
        p = self.program
        saved = (list(p.data), list(p.arg_names), list(p.symbols), dict(getattr(p, "closure_args", {})),
                 dict(self.view_cache), set(self.owned), set(self.reserved), dict(self.closure_ids),
                 [(f, dict(f.env), dict(f.carried)) for f in self.frames], self.sc, list(self.blocks))
        scratch = Block(p)
        self.dry_depth += 1
        self.sc = None
        self.blocks.append(scratch)
        try:
            yield scratch
        finally:
            self.dry_depth -= 1
            (data_keys, args, syms, closures, views, owned, reserved, cids, frames, sc, blocks) = saved
            keep = set(data_keys)
            for k in [k for k in p.data if k not in keep]:
                del p.data[k]
            p.arg_names[:] = args
            p.symbols[:] = syms
            if hasattr(p, "closure_args"):
                p.closure_args = closures
            self.view_cache, self.owned, self.reserved, self.closure_ids = views, owned, reserved, cids
            for f, env, carried in frames:
                f.env, f.carried = env, carried
            self.sc = sc
            self.blocks = blocks
