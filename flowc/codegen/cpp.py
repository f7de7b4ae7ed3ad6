"""IR → C++17 with OpenMP: one function per program, called through ctypes.

Layout of the generated file (templates/program.cpp.j2)::

    helpers (templates/helpers.h.j2)        Python-semantics ops, atomics
    BLAS prototypes (when MatMul uses it)
    extern "C" int flowc_<name>(args..., returns..., symbols...) {
        transient allocations
        control flow → for / if / while
          state → its nodes in topological order
            map      → loop nest; outermost map `#pragma omp parallel for`
            tasklet  → a block: load inputs, run the code, store outputs
            copy     → a loop nest between two access nodes
            library  → an emitter from ``libraries.EMITTERS``
        frees
    }

Indices are int64. Symbolic sizes are parameters, so one binary serves every
size. Every element access goes through the container's strides, and views
resolve to their root container's pointer plus an offset.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jinja2
import sympy

from flowc.codegen.bounds import Site, SubscriptChecker, to_sympy
from flowc.codegen.cxx_expr import cname, cxx_comment, cxx_string, sym_cxx, tasklet_cxx
from flowc.codegen.libraries import EMITTERS, EmitContext
from flowc.ir import expr as tl
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, Scalar
from flowc.ir.errors import INDEX_ERROR, IRError
from flowc.ir.loop_order import order_conflict, unit_stride_order
from flowc.ir.movement import scope_work
from flowc.ir.nodes import AccessNode, LibraryNode, MapEntry, MapExit, Node, Schedule, Tasklet
from flowc.ir.program import Program
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Expr, Range, canonical_symbol, distinct_elements

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
    keep_trailing_newline=True, undefined=jinja2.StrictUndefined)

#: the per-call record of the first out-of-bounds subscript (see flowc/codegen/bounds.py)
_INDEX_RECORD = "fc_index_error"

#: loops over fewer elements run on the calling thread: waking the pool costs more than they do
PARALLEL_MIN_ELEMENTS = 16384
#: the same for loops that only move data and do arithmetic (a stencil sweep, a copy): memory-bound,
#: so a second thread gains little (a 160K-element Jacobi sweep: 57 µs on one thread, 45 µs on two),
#: while every parallel region is a barrier that can wait a whole scheduler slice for a descheduled
#: thread on a busy machine (measured: one region in ten took 20-40 ms, 2·T regions per time loop)
PARALLEL_MIN_ELEMENTS_MEMORY_BOUND = 1 << 18
#: tasklet functions that cost about as much as arithmetic (everything else in ``tl.FUNCTIONS`` is
#: a libm call: a map using one is compute-bound)
_CHEAP_FUNCTIONS = frozenset({"abs", "floor", "ceil", "sign", "isnan", "isinf", "min", "max", "where"})
_COSTLY_OPS = frozenset({"//", "%", "**"})

_WCR_SCALAR = {"sum": "{t} = {t} + {v};", "prod": "{t} = {t} * {v};",
               "max": "{t} = flowc::max({t}, {v});", "min": "{t} = flowc::min({t}, {v});"}
_WCR_ATOMIC = {"sum": "#pragma omp atomic\n{t} += {v};", "prod": "flowc::atomic_mul(&{t}, ({ct}){v});",
               "max": "flowc::atomic_max(&{t}, ({ct}){v});", "min": "flowc::atomic_min(&{t}, ({ct}){v});"}


@dataclass
class GeneratedCode:
    """Generated source and the name of its entry point."""

    source: str
    entry: str
    language: str = "c++"
    uses_blas: bool = False
    kernels: list[str] = field(default_factory=list)


def generate_cpp(program: Program, *, blas_prefix: str = "scipy_", instrument: bool = False) -> GeneratedCode:
    """C++ source for ``program`` (library nodes other than BLAS MatMul must be expanded first)."""
    return CppGenerator(program, blas_prefix, instrument).generate()


def checked_size_cxx(expr: Expr, flag: str) -> str:
    """A symbolic size as int64 C++ whose sums and products set the bool ``flag`` when they
    overflow instead of wrapping (the value is then meaningless). Other operations (floor, Min,
    ...) are printed as plain int64 arithmetic by ``sym_cxx``."""
    e = sympy.sympify(expr)
    if e.is_Add:
        return functools.reduce(lambda a, b: f"flowc::add_ck({a}, {b}, {flag})",
                                (checked_size_cxx(t, flag) for t in e.as_ordered_terms()))
    if e.is_Mul and sympy.fraction(e)[1] == 1:
        return functools.reduce(lambda a, b: f"flowc::mul_ck({a}, {b}, {flag})",
                                (checked_size_cxx(f, flag) for f in e.as_ordered_factors()))
    if e.is_Pow and e.exp.is_Integer and int(e.exp) > 0:
        return functools.reduce(lambda a, b: f"flowc::mul_ck({a}, {b}, {flag})",
                                [checked_size_cxx(e.base, flag)] * int(e.exp))
    return f"(int64_t){sym_cxx(e)}"


class CppGenerator:
    """IR → one C++ translation unit. A subclass for another target (``flowc.codegen.cuda``)
    overrides the data below (templates, spellings of atomics) and the few emitters whose
    mapping differs (top-level scopes become kernels there); the walk over control flow,
    states, scopes, tasklets, subscripts and copies is shared."""

    #: the target whose library emitters this generator uses (``libraries.EMITTERS``)
    TARGET = "cpu"
    #: jinja2 templates of the translation unit and of its runtime helpers
    PROGRAM_TEMPLATE = "program.cpp.j2"
    HELPERS_TEMPLATE = "helpers.h.j2"
    #: a write-conflict resolution into memory other iterations may write too
    WCR_ATOMIC = _WCR_ATOMIC
    #: the C++ expression of the per-call index-error record (see ``flowc.codegen.bounds``)
    index_record = _INDEX_RECORD
    #: dtype name → the target's C++ spelling where it differs from ``DType.ctype``
    CTYPES: dict[str, str] = {}

    def ctype_of(self, dtype: Any) -> str:
        """The C++ spelling of ``dtype`` on this target."""
        return self.CTYPES.get(dtype.name, dtype.ctype)

    def __init__(self, program: Program, blas_prefix: str, instrument: bool):
        self.program = program
        self.ctx = EmitContext(self, blas_prefix)
        self.instrument = instrument
        self.lines: list[str] = []
        self.depth = 1
        self.kernels: list[str] = []
        #: instrumented builds: each kernel's name (``Program.kernels``), by id of its node
        self._kernel_names: Optional[dict[int, str]] = None
        self._placement = self._place_transients()
        #: scope-local arrays allocated once per thread outside their loop nest
        self._hoisted: set[str] = set()
        #: sequential loops (program-level for/while) around the code being emitted
        self._loop_depth = 0
        #: run-time checks of data-dependent subscripts
        self.subscripts = SubscriptChecker({canonical_symbol(prm.name) for prm in program.call_signature()
                                            if prm.kind == "symbol"})

    # ------------------------------------------------------------ output
    def emit(self, text: str) -> None:
        for line in text.split("\n"):
            self.lines.append("  " * self.depth + line if line else "")

    def open(self, header: str) -> None:
        self.emit(header + " {")
        self.depth += 1

    def close(self, trailer: str = "") -> None:
        self.depth -= 1
        self.emit("}" + trailer)

    # ------------------------------------------------------------ data access
    def ctype(self, data: str) -> str:
        return self.ctype_of(self.program.data[data].dtype)

    def root_offset(self, data: str) -> Expr:
        """Offset of ``data``'s element 0 inside its root container's memory."""
        return self.program.root_offset(data)

    def flat_index(self, data: str, index: list[Expr]) -> Expr:
        desc = self.program.data[data]
        flat = self.root_offset(data)
        for i, s in zip(index, desc.strides):
            flat += i * s
        return sympy.expand(flat)

    def pointer(self, data: str) -> str:
        """C++ expression for the address of ``data``'s element 0."""
        root = cname(self.program.root_of(data))
        off = self.root_offset(data)
        return root if off == 0 else f"({root} + {sym_cxx(off)})"

    def element(self, data: str, index: list[Expr]) -> str:
        desc = self.program.data[data]
        if isinstance(desc, Scalar):
            return cname(data)
        return f"{cname(self.program.root_of(data))}[{sym_cxx(self.flat_index(data, index))}]"

    # ------------------------------------------------------------ transients
    def _place_transients(self) -> dict[str, list[tuple[State, Optional[MapEntry]]]]:
        """Where each transient is declared: function level (scope None) or in map scopes."""
        scopes_of: dict[str, set] = {}
        for state in self.program.states():
            scopes = state.scope_dict()
            for n in state.data_nodes():
                desc = self.program.data.get(n.data)
                if desc is None or not desc.transient or desc.view_of is not None:
                    continue
                scopes_of.setdefault(n.data, set()).add((state, scopes[n]))
        placement: dict[str, list] = {}
        for name, places in scopes_of.items():
            if any(s is None for _, s in places):
                placement[name] = [(None, None)]
                continue
            chosen = []
            for state, s in places:
                ancestors = set(state.enclosing_maps(s))
                if not any((state, a) in places for a in ancestors):
                    chosen.append((state, s))
            placement[name] = chosen
        for name, desc in self.program.data.items():
            if desc.transient and desc.view_of is None and name not in placement:
                placement[name] = [(None, None)]
        return placement

    def _declare(self, name: str) -> None:
        desc = self.program.data[name]
        ct = self.ctype_of(desc.dtype)
        if isinstance(desc, Scalar):
            self.emit(f"{ct} {cname(name)};")
        else:
            self.emit(f"{ct}* {cname(name)} = flowc::alloc<{ct}>({sym_cxx(desc.total_size())});")

    #: the workspace: its allocator (a per-thread buffer kept between calls), slot alignment, and
    #: what a failed allocation says
    WORKSPACE_ALLOC = "flowc::workspace"
    WORKSPACE_ALIGN = 64
    WORKSPACE_FAILED = '"out of memory for intermediates"'

    def _workspace_slots(self, arrays: list[str]) -> list[str]:
        """The data that gets a slot of the workspace (a subclass adds its own: device scalars)."""
        return arrays

    def _declare_slot(self, name: str, ct: str, slot: str) -> None:
        self.emit(f"{ct}* {cname(name)} = {slot};")

    def _declare_workspace(self, arrays: list[str]) -> None:
        """Function-level transient arrays live at fixed offsets in one per-thread workspace
        that persists across calls: no allocation per call, and no first-touch page faults
        (which cost ~10 ms per call for the BERT layer's ~100 MB of intermediates)."""
        slots = self._workspace_slots(arrays)
        if not slots:
            return
        align = self.WORKSPACE_ALIGN
        offset: sympy.Expr = sympy.Integer(0)
        places = []
        # the size is added up with overflow checks: a wrapped byte count (8 * 2**61 is 0 in int64)
        # would hand the program a buffer far smaller than what it writes
        self.emit("bool fc_ws_overflow = false;")
        self.emit("int64_t fc_ws_bytes = 0;")
        for name in slots:
            desc = self.program.data[name]
            places.append((name, offset))
            count = sympy.expand(desc.total_size()) if isinstance(desc, Array) else sympy.Integer(1)
            offset = offset + align * sympy.ceiling(count * desc.dtype.itemsize / align)
            self.emit(f"fc_ws_bytes = flowc::add_ck(fc_ws_bytes, flowc::round_ck(flowc::mul_ck("
                      f"{checked_size_cxx(count, 'fc_ws_overflow')}, (int64_t){desc.dtype.itemsize}, fc_ws_overflow), "
                      f"{align}, fc_ws_overflow), fc_ws_overflow);")
        self.emit('if (fc_ws_overflow) { std::snprintf(flowc::error_message, sizeof flowc::error_message, '
                  '"the intermediates need more than 2**63 - 1 bytes"); return 1; }')
        self.emit(f"char* fc_ws = static_cast<char*>({self.WORKSPACE_ALLOC}(fc_ws_bytes));")
        self.emit('if (!fc_ws) { std::snprintf(flowc::error_message, sizeof flowc::error_message, '
                  f'{self.WORKSPACE_FAILED}); return 1; }}')
        for name, off in places:
            self._declare_slot(name, self.ctype(name), f"reinterpret_cast<{self.ctype(name)}*>(fc_ws + {sym_cxx(off)})")

    def _free(self, name: str) -> None:
        if isinstance(self.program.data[name], Array):
            self.emit(f"std::free({cname(name)});")

    def _scope_transients(self, state: State, entry: Optional[MapEntry]) -> list[str]:
        return [n for n, places in self._placement.items()
                if any(st is state and s is entry for st, s in places)]

    # ------------------------------------------------------------ program
    def generate(self) -> GeneratedCode:
        p = self.program
        params = []
        for prm in p.call_signature():
            if prm.kind == "array":
                params.append(f"{self.ctype_of(prm.dtype)}* {cname(prm.name)}")
            elif prm.kind == "scalar" and prm.dtype.name == "float16":
                # passed as its bit pattern: ctypes has no half type, and a _Float16 by value
                # travels in a vector register where ctypes' uint16 travels in an integer one
                params.append(f"uint16_t fc_bits_{prm.name}")
                self.emit(f"{self.ctype_of(prm.dtype)} {cname(prm.name)}; "
                          f"std::memcpy(&{cname(prm.name)}, &fc_bits_{prm.name}, 2);")
            elif prm.kind == "scalar":
                params.append(f"{self.ctype_of(prm.dtype)} {cname(prm.name)}")
            else:
                params.append(f"int64_t {cname(prm.name)}")
        params += self.extra_params()
        function_level = [n for n, places in self._placement.items() if places == [(None, None)]]
        self._declare_workspace([n for n in function_level if isinstance(p.data[n], Array)])
        for n in function_level:
            if isinstance(p.data[n], Scalar):
                self._declare(n)
        self.emit_block(p.body)
        self.lines[:0] = ["  " + line for line in self.index_declarations()]
        if self.instrument:
            self.lines.insert(0, "  flowc::read_print_flag();")
        source = _TEMPLATES.get_template(self.PROGRAM_TEMPLATE).render(
            helpers=_TEMPLATES.get_template(self.HELPERS_TEMPLATE).render(),
            blas_prototypes=self.ctx.blas_prototypes(),
            entry=f"flowc_{p.name}", params=", ".join(params), body="\n".join(self.lines),
            program_name=p.name, profile=self.profile_block())
        return GeneratedCode(source, f"flowc_{p.name}", language=self.LANGUAGE, uses_blas=self.ctx.uses_blas,
                             kernels=self.kernels)

    LANGUAGE = "c++"

    def extra_params(self) -> list[str]:
        """Parameters of the entry point after the call signature's (a target's driver passes them)."""
        return []

    def index_declarations(self) -> list[str]:
        """Lines that start the entry point: the index-error record and the table of checked sites."""
        return self.subscripts.declarations(self.index_record)

    def index_check(self) -> str:
        """The test after a state whose subscripts were checked."""
        return self.subscripts.check_after(self.index_record, INDEX_ERROR)

    def emit_block(self, block: Block) -> None:
        for item in block:
            if isinstance(item, State):
                self.emit_state(item)
            elif isinstance(item, Loop):
                v = cname(item.var)
                step = item.step
                if step.is_number:
                    cond = f"{v} < {sym_cxx(item.stop)}" if step > 0 else f"{v} > {sym_cxx(item.stop)}"
                else:
                    s = sym_cxx(step)
                    cond = f"({s} > 0) ? ({v} < {sym_cxx(item.stop)}) : ({v} > {sym_cxx(item.stop)})"
                self.open(f"for (int64_t {v} = {sym_cxx(item.start)}; {cond}; {v} += {sym_cxx(step)})")
                self._loop_depth += 1
                self.emit_block(item.body)
                self._loop_depth -= 1
                self.close()
            elif isinstance(item, Branch):
                prelude = self.condition_prelude(item.cond)
                if prelude:
                    self.open("")
                    self.emit("\n".join(prelude))
                self.open(f"if ({self.condition(item.cond)})")
                self.emit_block(item.then_body)
                if len(item.else_body):
                    self.close(" else {")
                    self.depth += 1
                    self.emit_block(item.else_body)
                self.close()
                if prelude:
                    self.close()
            elif isinstance(item, While):
                prelude = self.condition_prelude(item.cond)
                if prelude:     # evaluated before every iteration
                    self.open("while (true)")
                    self.emit("\n".join(prelude))
                    self.emit(f"if (!({self.condition(item.cond)})) break;")
                else:
                    self.open(f"while ({self.condition(item.cond)})")
                self._loop_depth += 1
                self.emit_block(item.body)
                self._loop_depth -= 1
                self.close()
            else:
                raise IRError(f"unknown control-flow item {item!r}")

    def condition(self, cond: tl.Node) -> str:
        return tasklet_cxx(cond, cname, type_names=self.CTYPES)

    def condition_prelude(self, cond: tl.Node) -> list[str]:
        """Statements that make the values ``cond`` reads available to the host (none here)."""
        return []

    # ------------------------------------------------------------ states and scopes
    def emit_state(self, state: State) -> None:
        self.emit(f"// state {cxx_comment(state.name)}")
        scopes = state.scope_dict()
        checked = len(self.subscripts.sites)
        self.emit_scope(state, None, scopes, parallel_params=[], in_parallel=False)
        if len(self.subscripts.sites) > checked:
            self.emit(self.index_check())

    def emit_scope(self, state: State, entry: Optional[MapEntry], scopes: dict,
                   parallel_params: list[str], in_parallel: bool) -> None:
        local = [n for n in self._scope_transients(state, entry) if n not in self._hoisted] if entry else []
        for name in local:
            self._declare(name)
        for node in state.topological_nodes():
            if scopes.get(node) is not entry or isinstance(node, MapExit):
                continue
            timed = self.instrument and entry is None and not isinstance(node, AccessNode)
            if timed:
                self._timer_start(state, node)
            if isinstance(node, MapEntry):
                self.emit_map(state, node, scopes, parallel_params, in_parallel)
            elif isinstance(node, Tasklet):
                self.emit_tasklet(state, node, parallel_params, scopes)
            elif isinstance(node, AccessNode):
                self.emit_copies(state, node, in_parallel)
            elif isinstance(node, LibraryNode):
                self.emit_library(state, node)
            if timed:
                self._timer_stop(state, node, scopes)
        for name in local:
            self._free(name)

    def emit_library(self, state: State, node: LibraryNode) -> None:
        key = (self.TARGET, type(node).__name__, node.implementation)
        if key not in EMITTERS:
            raise IRError(f"{node!r} ({node.implementation}) has no {self.TARGET} emitter; expand it first "
                          f"(flowc.transforms.expand_library_nodes(program, {self.TARGET!r}))")
        EMITTERS[key](self.ctx, state, node)

    def _schedule(self, entry: MapEntry, in_parallel: bool) -> bool:
        """Whether this map's loops run in parallel."""
        sched = entry.map.schedule
        if sched in (Schedule.GPU_DEVICE, Schedule.GPU_THREAD_BLOCK):
            raise IRError(f"{entry!r} has GPU schedule {sched.value}; compile it with target='cuda'")
        if sched == Schedule.SEQUENTIAL or in_parallel:
            return False
        return True

    def emit_map(self, state: State, entry: MapEntry, scopes: dict, parallel_params: list[str],
                 in_parallel: bool) -> None:
        m = entry.map
        parallel = self._schedule(entry, in_parallel)
        # Arrays local to this scope or a nested one: one buffer per thread, not per iteration.
        hoist = []
        if scopes.get(entry) is None:
            inside = {entry} | {n for n in scopes
                                 if isinstance(n, MapEntry) and entry in state.enclosing_maps(n, scopes)}
            hoist = [n for n, places in self._placement.items() if isinstance(self.program.data[n], Array)
                     and any(st is state and s in inside for st, s in places)]
            self._hoisted |= set(hoist)
        min_work = self._min_elements(state, entry, scopes) if m.parallel_threshold is None else m.parallel_threshold
        condition = f"{sym_cxx(scope_work(state, entry))} >= {int(min_work)}" if parallel and min_work else ""
        if condition and not hoist and self._loop_depth:
            # inside a sequential loop, decide before entering OpenMP: a parallel region whose
            # if-clause is false still costs ~0.5 us to enter, per map and iteration
            self.emit(f"if ({condition}) {{")
            self.depth += 1
            self._emit_map_loops(state, entry, scopes, parallel_params, in_parallel, True, "", [])
            self.depth -= 1
            self.emit("} else {")
            self.depth += 1
            self._emit_map_loops(state, entry, scopes, parallel_params, in_parallel, False, "", [])
            self.depth -= 1
            self.emit("}")
            return
        threshold = f" if ({condition})" if condition else ""
        self._emit_map_loops(state, entry, scopes, parallel_params, in_parallel, parallel, threshold, hoist)

    def _emit_map_loops(self, state: State, entry: MapEntry, scopes: dict, parallel_params: list[str],
                        in_parallel: bool, parallel: bool, threshold: str, hoist: list[str]) -> None:
        """The loop nest of a map: parallel (an OpenMP loop with ``threshold``, its if-clause) or
        not (a simd loop where its iterations allow), around the scope's body; ``hoist``: arrays
        declared once per thread around it."""
        m = entry.map
        params = [cname(p) for p in m.params]
        rectangular = not any(r.free_symbols() & set(m.params) for r in m.ranges)
        how = f"schedule(dynamic, {int(m.chunk)})" if m.chunk else "schedule(static)"
        if hoist:
            self.emit("{")
            self.depth += 1
            if parallel:
                self.emit(f"#pragma omp parallel{threshold}")
                self.emit("{")
                self.depth += 1
            for name in hoist:
                self._declare(name)
        if parallel:
            nested = any(isinstance(n, MapEntry) and s is entry for n, s in scopes.items())
            # keep the innermost loop for vectorization, unless a nested map already is that loop
            n_par = (len(params) if nested else max(1, len(params) - 1)) if rectangular else 1
            # no collapsed loop over a parameter a write-conflict resolution sums over (its
            # iterations would collide in atomics) when a leading parameter is free of that
            n_par = min(n_par, self._conflict_free_prefix(state, entry)) or n_par
            clause = f" collapse({n_par})" if n_par > 1 else ""
            clause += self._parallel_reductions(state, entry, scopes)

            self.emit(f"#pragma omp for {how}{clause}" if hoist else
                      f"#pragma omp parallel for {how}{clause}{threshold}")
            parallel_params = parallel_params + m.params[:n_par]
        else:
            simd = self._simd_pragma(state, entry, scopes)
            if simd:
                self.emit(simd)
        for k in (range(len(params)) if parallel else self._serial_loop_order(state, entry, scopes)):
            self.emit(self._loop_header(params[k], m.ranges[k]))
            self.depth += 1
        self.emit("{")
        self.depth += 1
        self.emit_scope(state, entry, scopes, parallel_params, in_parallel or parallel)
        self.depth -= 1
        self.emit("}")
        self.depth -= len(params)
        if hoist:
            for name in hoist:
                self._free(name)
            if parallel:
                self.depth -= 1
                self.emit("}")
            self.depth -= 1
            self.emit("}")

    def _serial_loop_order(self, state: State, entry: MapEntry, scopes: dict) -> tuple[int, ...]:
        """The nesting of a map's loops on one thread: the parameter with the most unit-stride
        accesses innermost, where the ranges allow (what ``MapInterchange`` does to the IR, which
        the search also weighs against which loops run in parallel; here nothing does)::

            for i1 { for i2 { sum[i1] += A[i2] * B[i2, i1]; } }     (B read with stride K)
            for i2 { for i1 { sum[i1] += A[i2] * B[i2, i1]; } }     (B and sum contiguous)

        A sum over one parameter adds each element's terms in the same order as before; a sum
        over two parameters into one element may add them in another."""
        order = unit_stride_order(self.program, state, entry, scopes)     # ties keep the innermost
        return tuple(range(len(order))) if order_conflict(entry, order) else order

    def _conflict_free_prefix(self, state: State, entry: MapEntry) -> int:
        """How many leading parameters of ``entry`` every write with write-conflict resolution
        leaving its scope depends on (distinct values, distinct elements)."""
        edges = [e for e in state.in_edges(state.exit_of(entry)) if e.memlet.wcr is not None and
                 e.memlet.subset is not None]
        k = 0
        for p in entry.map.params:
            sym = canonical_symbol(p)
            if not all(any(sym in r.start.free_symbols for r in e.memlet.subset) for e in edges):
                break
            k += 1
        return k

    def _loop_header(self, p: str, r: Range) -> str:
        step = r.step
        if step.is_number and step < 0:
            cond = f"{p} > {sym_cxx(r.stop)}"
        elif step.is_number:
            cond = f"{p} < {sym_cxx(r.stop)}"
        else:
            s = sym_cxx(step)
            cond = f"({s} > 0) ? ({p} < {sym_cxx(r.stop)}) : ({p} > {sym_cxx(r.stop)})"
        inc = f"++{p}" if step == 1 else f"{p} += {sym_cxx(step)}"
        return f"for (int64_t {p} = {sym_cxx(r.start)}; {cond}; {inc})"

    def _min_elements(self, state: State, entry: MapEntry, scopes: dict) -> int:
        """The parallel threshold of a map scope: ``PARALLEL_MIN_ELEMENTS`` when its elements cost
        more than a few loads and flops (a libm call, a nested reduction loop, a library call), else
        the higher ``PARALLEL_MIN_ELEMENTS_MEMORY_BOUND``. (A nested element-wise map, such as the
        inner loop auto_optimize splits off for vectorization, is the same sweep: ``_work`` counts
        its elements already.)"""
        for n in scopes:
            if n is entry or entry not in state.enclosing_maps(n, scopes):
                continue
            if isinstance(n, LibraryNode):
                return PARALLEL_MIN_ELEMENTS
            if isinstance(n, MapEntry) and any(e.memlet.wcr is not None for e in state.out_edges(state.exit_of(n))):
                return PARALLEL_MIN_ELEMENTS
            if isinstance(n, Tasklet) and (not n.code.is_straight_line() or any(map(_costly, n.code.expressions()))):
                return PARALLEL_MIN_ELEMENTS              # a loop in the element code, or a libm call
            if isinstance(n, Tasklet) and self._touches_complex(state, n):
                return PARALLEL_MIN_ELEMENTS           # complex arithmetic: several flops an element
        return PARALLEL_MIN_ELEMENTS_MEMORY_BOUND

    def _touches_complex(self, state: State, node: Node) -> bool:
        """Whether ``node`` reads or writes complex data."""
        return any(e.data is not None and self.program.data[e.data].dtype.kind == "c"
                   for e in state.in_edges(node) + state.out_edges(node))

    def _parallel_reductions(self, state: State, entry: MapEntry, scopes: dict) -> str:
        """Reduction clauses for scalars declared outside a parallel map that its
        iterations accumulate into (each thread gets a private copy, combined at the end)."""
        inside = {n for n in scopes if n is entry or entry in state.enclosing_maps(n, scopes)}
        inside.add(state.exit_of(entry))
        ops: dict[str, str] = {}
        for e in state.edges():
            if e.memlet.wcr is None or e.src not in inside or e.data is None:
                continue
            if not isinstance(self.program.data[e.data], Scalar):
                continue
            places = self._placement.get(e.data, [(None, None)])
            if any(st is state and s in inside for st, s in places):
                continue                                   # declared inside: private already
            op = {"sum": "+", "prod": "*", "max": "fc_max", "min": "fc_min"}[e.memlet.wcr]
            if ops.setdefault(cname(e.data), op) != op:
                raise IRError(f"{entry!r}: {e.data} is reduced with two different operators")
        return "".join(f" reduction({op}:{v})" for v, op in ops.items())

    def _simd_pragma(self, state: State, entry: MapEntry, scopes: dict) -> str:
        """``#pragma omp simd`` for an innermost map loop whose iterations provably do not
        interact: every array write lands at an index that moves with the loop parameter,
        and the only values carried across iterations are reductions into register scalars
        (which get reduction clauses; max/min keep NaN propagation via ``fc_max``/``fc_min``).
        This is what lets GCC vectorize float reductions without ``-ffast-math``."""
        if len(entry.map.params) != 1:
            return ""
        param = canonical_symbol(entry.map.params[-1])
        body = [n for n in scopes if entry in state.enclosing_maps(n, scopes)]
        if any(isinstance(n, (MapEntry, LibraryNode)) for n in body):
            return ""
        if any(isinstance(n, Tasklet) and not n.code.is_straight_line() for n in body):
            return ""                            # a loop with exits: nothing for simd lanes to share
        if any(self._touches_complex(state, n) for n in body):
            # std::complex arithmetic forced into simd lanes runs element by element with
            # shuffles around it (mandel: 34 ms with the pragma, 17 without, measured)
            return ""
        body_set = set(body) | {entry}
        exit_ = state.exit_of(entry)
        local_scalars = {n.data for n in body if isinstance(n, AccessNode)}
        reductions: dict[str, str] = {}
        for e in state.edges():
            if e.memlet.is_empty or e.data is None or e.src not in body_set:
                continue
            if not isinstance(e.src, Tasklet) and e.dst is not exit_:
                continue
            desc = self.program.data[e.data]
            if isinstance(desc, Scalar):
                if e.data in local_scalars and e.dst is not exit_:
                    continue                     # private to one iteration
                if e.memlet.wcr is None:
                    return ""                    # a value carried to the next iteration
                if e.dst is exit_ or isinstance(e.src, Tasklet):
                    op = {"sum": "+", "prod": "*", "max": "fc_max", "min": "fc_min"}[e.memlet.wcr]
                    if reductions.setdefault(cname(e.data), op) != op:
                        return ""
                continue
            if e.memlet.wcr is not None:
                return ""                        # accumulation into memory
            if e.memlet.subset is not None and not any(param in r.start.free_symbols for r in e.memlet.subset):
                return ""                        # every iteration writes the same element
        clauses = " ".join(f"reduction({op}:{v})" for v, op in reductions.items())
        return f"#pragma omp simd {clauses}".rstrip()

    # ------------------------------------------------------------ tasklets
    def emit_tasklet(self, state: State, node: Tasklet, parallel_params: list[str],
                     scopes: Optional[dict] = None) -> None:
        code = node.code
        arrays = {a for part in code.expressions() for a in tl.subscripted(part)}
        stored = code.stored()                       # array output connectors: out[k] = v
        store_wcr: dict[str, Optional[str]] = {}     # ... and how a store combines (out[k] += v)
        # the code's own names live in fc_v_*, apart from the temporaries printed here (fc_ix*, fc_lo*)
        local = {c: f"fc_v_{c}" for c in (*node.inputs, *node.outputs, *code.assigned(), *code.loop_vars())}
        array_base: dict[str, tuple[str, list[Expr], list[Range]]] = {}
        self.emit("{")
        self.depth += 1
        for e in state.in_edges(node):
            if e.memlet.is_empty or e.dst_conn is None:
                continue
            start = [r.start for r in e.memlet.subset] if e.memlet.subset is not None else []
            if e.dst_conn in arrays:
                array_base[e.dst_conn] = (e.data, start, list(e.memlet.subset))
                continue
            self.emit(f"const {self.ctype(e.data)} {local[e.dst_conn]} = {self.element(e.data, start)};")
        out_edges = state.out_edges(node)
        for conn in node.outputs:
            edges = [e for e in out_edges if e.src_conn == conn]
            if conn in stored:
                if len(edges) != 1:
                    raise IRError(f"{node!r}: array output connector {conn!r} needs exactly one out-edge")
                e = edges[0]
                array_base[conn] = (e.data, [r.start for r in e.memlet.subset], list(e.memlet.subset))
                store_wcr[conn] = e.memlet.wcr
                continue
            ct = self.ctype(edges[0].data) if edges else "double"
            self.emit(f"{ct} {local[conn]};")
        declared = set(node.inputs) | set(node.outputs)

        def name_of(n: str) -> str:
            return local[n] if n in local else cname(n)

        # map parameters around the tasklet bound the indices that use them
        params: dict[sympy.Symbol, Range] = {}
        if scopes is not None:
            for en in state.enclosing_maps(node, scopes):
                params.update({canonical_symbol(p): r for p, r in zip(en.map.params, en.map.ranges)})
        counter = iter(range(1 << 30))

        def subscript_of(n: str, idx: list[str], nodes: tuple[tl.Node, ...], value: Optional[str] = None) -> str:
            """A checked read of array connector ``n`` (or, with ``value``, a checked store)."""
            if n not in array_base:
                raise IRError(f"{node!r}: {n!r} is indexed but is not an array connector")
            data, start, block = array_base[n]
            desc = self.program.data[data]

            def flat(indices: list[str]) -> str:
                return " + ".join([sym_cxx(self.flat_index(data, start))] +
                                  [f"({i}) * {sym_cxx(st)}" for i, st in zip(indices, desc.strides)])

            # the block a subscript may address: from the block's start to its last element, or
            # (with a step) to the container's end
            extents = [r.stop - r.start if r.step == 1 else dim - r.start
                       for r, dim in zip(block, desc.shape)]
            dims = [(nd, text, ext, f"fc_ix{next(counter)}") for nd, text, ext in zip(nodes, idx, extents)]
            base, site = cname(self.program.root_of(data)), Site(data, node.label)
            printer = lambda x: tasklet_cxx(x, name_of, subscript_of, self.CTYPES)  # noqa: E731
            if value is not None:
                return self.subscripts.store(base, dims, flat, self._store_write(store_wcr.get(n), value, desc,
                                                                                 parallel_params),
                                             site, printer, set(local) - set(params_of_loops), params,
                                             self.index_record)
            return self.subscripts.element(base, dims, flat, self.ctype_of(desc.dtype), site, printer,
                                           set(local) - set(params_of_loops), params, self.index_record)

        #: loop variables whose bounds are symbolic: bounds checks treat them as map parameters
        params_of_loops: set[str] = set()

        def cxx(n: tl.Node) -> str:
            return tasklet_cxx(n, name_of, subscript_of, self.CTYPES)

        def statements(stmts: tuple[tl.Stmt, ...], declared: set[str]) -> None:
            declared = set(declared)                 # C's block scoping, as the tasklet language's
            for s in stmts:
                if isinstance(s, tl.Loop):
                    self._emit_tasklet_loop(s, local, cxx, params, params_of_loops,
                                            lambda body: statements(body, declared), next(counter))
                elif isinstance(s, tl.If):
                    self.emit(f"if ({cxx(s.test)}) {{")
                    self.depth += 1
                    statements(s.body, declared)
                    self.depth -= 1
                    if s.orelse:
                        self.emit("} else {")
                        self.depth += 1
                        statements(s.orelse, declared)
                        self.depth -= 1
                    self.emit("}")
                elif isinstance(s, (tl.Break, tl.Continue)):
                    self.emit("break;" if isinstance(s, tl.Break) else "continue;")
                elif s.indices:                      # stored element: converted as an assignment converts
                    idx = [cxx(i) for i in s.indices]
                    self.emit(subscript_of(s.target, idx, s.indices, cxx(s.value)))
                elif s.target in declared:
                    self.emit(f"{local[s.target]} = {cxx(s.value)};")
                else:
                    self.emit(f"auto {local[s.target]} = {cxx(s.value)};")
                    declared.add(s.target)

        statements(code.stmts, declared)
        for e in out_edges:
            if e.memlet.is_empty or e.src_conn is None or e.src_conn in stored:
                continue
            self.emit_write(e, local[e.src_conn], parallel_params)
        self.depth -= 1
        self.emit("}")

    def _emit_tasklet_loop(self, loop: tl.Loop, local: dict[str, str], cxx: Callable[[tl.Node], str],
                           params: dict[sympy.Symbol, Range], symbolic: set[str],
                           body: Callable[[tuple[tl.Stmt, ...]], None], serial: int) -> None:
        """A tasklet's ``for v in range(start, stop, step)``: bounds evaluated once; where they are
        symbolic (sizes, map parameters, enclosing loops' variables), subscripts in the body are
        proved in bounds with the variable's range as a map parameter's would be."""
        v = local[loop.var]
        lo, hi = f"fc_lo{serial}", f"fc_hi{serial}"
        self.emit("{")
        self.depth += 1
        self.emit(f"const int64_t {lo} = {cxx(loop.start)};")
        self.emit(f"const int64_t {hi} = {cxx(loop.stop)};")
        bounds = [to_sympy(b, set(local) - symbolic) for b in (loop.start, loop.stop)]
        sym = canonical_symbol(loop.var)
        if loop.step > 0 and None not in bounds:
            params[sym] = Range(bounds[0], bounds[1], sympy.Integer(loop.step))
            symbolic.add(loop.var)
        cmp = "<" if loop.step > 0 else ">"
        inc = "++" + v if loop.step == 1 else f"{v} += {loop.step}"
        self.emit(f"for (int64_t {v} = {lo}; {v} {cmp} {hi}; {inc}) {{")
        self.depth += 1
        body(loop.body)
        self.depth -= 1
        self.emit("}")
        params.pop(sym, None)
        symbolic.discard(loop.var)
        self.depth -= 1
        self.emit("}")

    def _store_write(self, wcr: Optional[str], value: str, desc: Any,
                     parallel_params: list[str]) -> Callable[[str], str]:
        """How a tasklet's store at a data-dependent element writes: an assignment, or with
        write-conflict resolution an update, atomic inside a parallel map (any iteration may hit
        the element)."""
        if wcr is None:
            return lambda t: f"{t} = {value};"
        forms = self.WCR_ATOMIC if parallel_params else _WCR_SCALAR
        return lambda t: forms[wcr].format(t=t, v=value, ct=self.ctype_of(desc.dtype))

    def emit_write(self, e: Edge, value: str, parallel_params: list[str]) -> None:
        start = [r.start for r in e.memlet.subset] if e.memlet.subset is not None else []
        target = self.element(e.data, start)
        wcr = e.memlet.wcr
        if wcr is None:
            self.emit(f"{target} = {value};")
            return
        desc = self.program.data[e.data]
        if isinstance(desc, Scalar) or distinct_elements(start, parallel_params):
            self.emit(_WCR_SCALAR[wcr].format(t=target, v=value))
        else:
            self.emit(self.WCR_ATOMIC[wcr].format(t=target, v=value, ct=self.ctype_of(desc.dtype)))

    # ------------------------------------------------------------ copies
    def emit_copies(self, state: State, node: AccessNode, in_parallel: bool) -> None:
        for e in state.in_edges(node):
            if not isinstance(e.src, AccessNode) or e.memlet.is_empty:
                continue
            self.emit_copy(e, in_parallel)

    def copy_plan(self, e: Edge) -> tuple[list[Expr], str, str]:
        """A copy between two access nodes as a loop nest: the extent of each loop (over the
        dimensions of size other than 1; loop ``k``'s variable is ``fc_c<k>``), and the C++ of the
        destination and source elements. ``memlet.subset`` is in ``memlet.data``, ``other_subset``
        (or the whole container) in the other one."""
        src, dst = e.src.data, e.dst.data
        m = e.memlet
        other = dst if m.data == src else src
        other_subset = m.other_subset or _full(self.program.data[other].shape)
        src_sub, dst_sub = (m.subset, other_subset) if m.data == src else (other_subset, m.subset)
        src_dims = [r for r in src_sub if r.size() != 1]
        dst_dims = [r for r in dst_sub if r.size() != 1]
        if len(src_dims) != len(dst_dims):
            raise IRError(f"copy {src} -> {dst}: subsets {src_sub} and {dst_sub} have different shapes")
        idx = [f"fc_c{k}" for k in range(len(src_dims))]

        def index_of(sub):
            it = iter(idx)
            out = []
            for r in sub:
                if r.size() == 1:
                    out.append(r.start)
                else:
                    out.append(r.start + canonical_symbol(next(it)) * r.step)
            return out

        return ([r.size() for r in src_dims], self.element(dst, index_of(dst_sub)),
                self.element(src, index_of(src_sub)))

    def emit_copy(self, e: Edge, in_parallel: bool) -> None:
        """Copy between two access nodes: a loop nest, parallel unless it runs inside a parallel scope."""
        extents, dst, src = self.copy_plan(e)
        if extents and not in_parallel:
            self.emit(f"#pragma omp parallel for schedule(static) if ({sym_cxx(sympy.Mul(*extents))} >= "
                      f"{PARALLEL_MIN_ELEMENTS_MEMORY_BOUND})")
        for k, size in enumerate(extents):
            v = cname(f"fc_c{k}")     # sym_cxx prints these symbols through cname too
            self.emit(f"for (int64_t {v} = 0; {v} < {sym_cxx(size)}; ++{v})")
            self.depth += 1
        self.emit(f"{dst} = {src};")
        self.depth -= len(extents)

    # ------------------------------------------------------------ instrumentation
    def _timer_start(self, state: State, node: Node) -> None:
        self.emit("{ double fc_t0 = flowc::now();")

    def _timer_stop(self, state: State, node: Node, scopes: dict) -> None:
        if self._kernel_names is None:
            self._kernel_names = {id(n): name for _, n, name in self.program.kernels()}
        self.kernels.append(self._kernel_names[id(node)])
        moved = self._moved_bytes(state, node)
        self.emit(f"  flowc::kernel_done({len(self.kernels) - 1}, flowc::now() - fc_t0, "
                  f"(double)({sym_cxx(moved)})); }}")

    def profile_block(self) -> str:
        """The instrumented library's kernel profile: per calling thread, each kernel's seconds,
        runs and bytes since the last ``flowc_profile`` call (which copies and resets the first
        ``n`` and returns how many kernels there are), ``flowc_profile_name(k)``, and a line per
        run on stderr when ``FLOWC_DEBUG`` is set (read once per call of the entry point).
        Empty for a library that is not instrumented."""
        if not self.instrument:
            return ""
        count = len(self.kernels)
        size = max(1, count)
        literals = ", ".join(f'"{cxx_string(k)}"' for k in self.kernels) or '""'
        return "\n".join([
            "// ---- instrumentation: seconds, runs and bytes per kernel (flowc.runtime.CompiledProgram.profile)",
            "namespace flowc {",
            f"static const char* const kernel_names[{size}] = {{{literals}}};",
            f"static thread_local double kernel_seconds[{size}], kernel_bytes[{size}];",
            f"static thread_local int64_t kernel_runs[{size}];",
            "static thread_local bool print_kernels = false;   // FLOWC_DEBUG, read at each entry",
            "inline void read_print_flag() {",
            '  const char* v = std::getenv("FLOWC_DEBUG");',
            '  print_kernels = v != nullptr && *v != 0 && std::strcmp(v, "0") != 0;',
            "}",
            "inline void kernel_done(int k, double seconds, double bytes) {",
            "  kernel_seconds[k] += seconds; kernel_bytes[k] += bytes; kernel_runs[k] += 1;",
            "  if (print_kernels)",
            '    std::fprintf(stderr, "[flowc] %-40s %9.3f ms %8.2f GB/s\\n", kernel_names[k], seconds * 1e3,',
            "                 bytes / (seconds > 0 ? seconds : 1e-30) / 1e9);",
            "}",
            "}  // namespace flowc",
            f'extern "C" const char* flowc_profile_name(int k) {{ return k >= 0 && k < {count} ? '
            'flowc::kernel_names[k] : ""; }',
            "extern \"C\" int flowc_profile(double* seconds, int64_t* runs, double* bytes, int n) {",
            f"  for (int k = 0; k < n && k < {count}; ++k) {{",
            "    seconds[k] = flowc::kernel_seconds[k]; runs[k] = flowc::kernel_runs[k];",
            "    bytes[k] = flowc::kernel_bytes[k];",
            "    flowc::kernel_seconds[k] = flowc::kernel_bytes[k] = 0; flowc::kernel_runs[k] = 0;",
            "  }",
            f"  return {count};",
            "}",
        ])

    def _moved_bytes(self, state: State, node: Node) -> Expr:
        if isinstance(node, MapEntry):
            edges = state.in_edges(node) + state.out_edges(state.exit_of(node))
        else:
            edges = state.in_edges(node) + state.out_edges(node)
        total: Expr = sympy.Integer(0)
        for e in edges:
            if e.memlet.is_empty or e.memlet.subset is None:
                continue
            desc = self.program.data[e.data]
            if isinstance(desc, Scalar) and desc.transient:
                continue
            total += e.memlet.subset.volume() * desc.dtype.itemsize
        return total


def _full(shape):
    from flowc.ir.symbolic import Subset

    return Subset.full(shape)


def _costly(node: tl.Node) -> bool:
    """Whether a tasklet expression calls libm or divides integers (costs well above a load)."""
    if isinstance(node, tl.Call) and node.func in tl.FUNCTIONS and node.func not in _CHEAP_FUNCTIONS:
        return True
    if isinstance(node, tl.BinOp) and node.op in _COSTLY_OPS:
        return True
    return any(_costly(c) for c in tl.children(node))
