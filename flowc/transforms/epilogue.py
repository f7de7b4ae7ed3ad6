"""Epilogue fusion: the element-wise work after a contraction runs inside it.

::

    A, B ─▶ [MatMul] ─▶ T ─▶ [map e: y = gelu(t + b[e₂])] ─▶ Y
                          ⇒
    A, B, b ─▶ [MatMul + epilogue: out = gelu(acc + b[_e2])] ─▶ Y

The GEMM writes Y itself, and code generation applies the epilogue to each
block of rows right after the GEMM produced it, while the block is still in
cache: T and its round trip through memory are gone. Applied again, an
epilogue absorbs the next element-wise map too.

The consumer must be element-wise over T: a map, or a row map around a
column map as ``MapExpansion`` leaves them, whose parameters index T one
each over its full extent, whose body is tasklets connected through
registers, and which writes one array Y of T's shape and type at the same
index. Refuses when T escapes (not a transient, a view, read elsewhere),
when the scope reads T at another element (a transpose, a stencil), reduces,
or writes more than Y, when Y is read by the scope or shares memory with the
GEMM's operands (the GEMM would overwrite what it still reads), when Y's rows
are not contiguous (BLAS writes it), and when the GEMM accumulates into its
output (beta ≠ 0).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.data import Array, Scalar
from flowc.ir.epilogue import ACC, OUT, Epilogue, index_symbol
from flowc.ir.library import MatMul
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, Node, Tasklet, partner_connector
from flowc.ir.program import Program
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Subset, canonical_symbol, equal, is_positive, is_zero
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.scopes import why_not_private


@dataclass
class _Plan:
    """What the rewrite needs, found while checking legality."""

    nest: list[MapEntry]                       # outermost first
    body: list[Node]                           # tasklets and registers of the innermost scope
    tasklets: list[Tasklet]                    # in dataflow order
    dim_of: dict[sympy.Symbol, int]            # map parameter → result dimension
    write: Edge                                # the innermost write of Y
    inputs: list[Edge] = field(default_factory=list)   # innermost reads of other data


class EpilogueFusion(Transformation):
    """Fuse the element-wise scope that is a MatMul result's only reader into the MatMul."""

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            for mm in state.nodes():
                if not isinstance(mm, MatMul) or scopes.get(mm) is not None:
                    continue
                for e in state.out_edges(mm):
                    for e2 in state.out_edges(e.dst):
                        if isinstance(e.dst, AccessNode) and isinstance(e2.dst, MapEntry):
                            yield self.match(state, mm, e.dst, e2.dst,
                                             info=f"{mm.label} -> {e.data} -> {e2.dst.map.label}", data=e.data)

    # ------------------------------------------------------------ legality
    def plan(self, program: Program, match: Match) -> _Plan:
        state, (mm, t, entry) = self.resolve(program, match)
        assert isinstance(mm, MatMul) and isinstance(t, AccessNode) and isinstance(entry, MapEntry)
        if mm.beta != 0.0:
            raise NotApplicable("the GEMM accumulates into its output (beta != 0)")
        why = _private_result(program, state, mm, t, entry)
        if why:
            raise NotApplicable(why)
        nest, body = _perfect_nest(state, entry)
        if any(not isinstance(n, (Tasklet, AccessNode)) for n in body):
            raise NotApplicable("the consumer's body is not tasklets and registers")
        params = [canonical_symbol(p) for m in nest for p in m.map.params]
        for m in nest:
            if any(not is_zero(r.start) or r.step != 1 for r in m.map.ranges):
                raise NotApplicable(f"{m.map.label} does not start at 0 with step 1")
        t_desc = program.data[t.data]
        innermost, inner_exit = nest[-1], state.exit_of(nest[-1])
        dim_of: dict[sympy.Symbol, int] = {}
        writes, inputs = [], []
        body_set = set(body)
        for n in body:
            if isinstance(n, AccessNode):
                desc = program.data[n.data]
                if not isinstance(desc, Scalar) or not desc.transient:
                    raise NotApplicable(f"{n.data} inside the consumer is not a register")
                if len(state.in_edges(n)) != 1 or not isinstance(state.in_edges(n)[0].src, Tasklet):
                    raise NotApplicable(f"register {n.data} is not written by exactly one tasklet")
                if any(not isinstance(e.dst, Tasklet) or e.memlet.wcr for e in state.out_edges(n)):
                    raise NotApplicable(f"register {n.data} is read by something other than a tasklet")
                continue
            assert isinstance(n, Tasklet)
            if not n.code.is_straight_line():
                raise NotApplicable(f"{n!r} has a loop or a branch")
            if any(s.indices or next(tl.subscripted(s.value), None) for s in n.code.stmts):
                raise NotApplicable(f"{n!r} indexes an array by data")
            if {canonical_symbol(x) for x in n.code.read_names()} & set(params):
                raise NotApplicable(f"{n!r} reads a map parameter as a value")
            if ACC in n.code.read_names() - set(n.inputs):
                raise NotApplicable(f"{n!r} reads a symbol named {ACC!r}, which in an epilogue is the GEMM's value")
            for e in state.in_edges(n):
                if e.memlet.is_empty:
                    continue
                if e.src is innermost:
                    if e.memlet.subset is None or not all(r.is_index for r in e.memlet.subset):
                        raise NotApplicable(f"{n!r} reads a block of {e.data}, not an element")
                    if e.data == t.data:
                        why = _element_of(e, params, t_desc.shape, dim_of)
                        if why:
                            raise NotApplicable(why)
                    else:
                        inputs.append(e)
                elif e.src not in body_set:
                    raise NotApplicable(f"{n!r} has an input from outside the scope")
            for e in state.out_edges(n):
                if e.memlet.is_empty:
                    continue
                if e.dst is inner_exit:
                    writes.append(e)
                elif e.dst not in body_set:
                    raise NotApplicable(f"{n!r} writes outside the scope")
                elif not isinstance(e.dst, AccessNode) or e.memlet.wcr:
                    raise NotApplicable(f"{n!r} writes {e.data} other than by storing a register")
        if len(dim_of) != len(params) or len(params) != t_desc.ndim:
            raise NotApplicable(f"the consumer does not read {t.data} at its own element (one parameter per dimension)")
        if len(writes) != 1 or writes[0].memlet.wcr is not None:
            raise NotApplicable("the consumer must write exactly one array, without a reduction")
        write = writes[0]
        why = _checks_output(program, state, mm, t.data, write, dim_of, nest, inputs)
        if why:
            raise NotApplicable(why)
        order = {n: i for i, n in enumerate(state.topological_nodes())}
        tasklets = sorted((n for n in body if isinstance(n, Tasklet)), key=order.__getitem__)
        return _Plan(nest, body, tasklets, dim_of, write, inputs)

    # ------------------------------------------------------------ rewrite
    def rewrite(self, program: Program, match: Match, plan: _Plan) -> None:
        state, (mm, t, entry) = self.resolve(program, match)
        assert isinstance(mm, MatMul)
        epilogue, entering = _inline_body(program, state, plan, t.data, set(mm.in_connectors()))
        mm.epilogue = epilogue if mm.epilogue is None else mm.epilogue.then(epilogue)

        outer_entry, outer_exit = plan.nest[0], state.exit_of(plan.nest[0])
        for conn, e in entering.items():
            # a library node takes whole containers; the epilogue indexes the container itself
            # (a consumer reading one row of it, ``t[N - 1, j]``, moved only that part into the map)
            whole = Memlet(e.memlet.data, Subset.full(program.data[e.memlet.data].shape))
            state.add_edge(e.src, e.src_conn, mm, conn, whole)
        for e in state.in_edges(outer_entry):
            if e.memlet.is_empty and e.src is not t:
                state.add_edge(e.src, e.src_conn, mm, None, e.memlet)
        out = next(e for e in state.out_edges(outer_exit) if e.data == plan.write.data)
        state.add_edge(mm, "_c", out.dst, None, Memlet(out.data, out.memlet.subset))
        for e in state.out_edges(outer_exit):
            if e is not out and e.memlet.is_empty:
                state.add_edge(out.dst, None, e.dst, e.dst_conn, e.memlet)
        doomed = [t, *plan.body, *plan.nest, *(state.exit_of(m) for m in plan.nest)]
        for n in doomed:
            state.remove_node(n)
        _drop_unused(program, {t.data, *(n.data for n in plan.body if isinstance(n, AccessNode))})
        state.touch()


def _inline_body(program: Program, state: State, plan: _Plan, t_name: str,
                 taken: set[str]) -> tuple[Epilogue, dict[str, Edge]]:
    """The consumer's tasklets as one epilogue (reads of T become ``acc``, registers become
    locals, each other element read a new input connector not in ``taken``), and for each new
    connector the edge that brings its data into the outermost map."""
    to_index = {p: index_symbol(d) for p, d in plan.dim_of.items()}
    reads: list[tuple[str, tuple]] = []
    conn_of: dict[tuple, str] = {}
    entering: dict[str, Edge] = {}
    stmts: list[tl.Assign] = []
    fresh = (f"_v{i}" for i in itertools.count())
    register: dict[AccessNode, tl.Node] = {}
    result: Optional[tl.Node] = None
    for n in plan.tasklets:
        env: dict[str, tl.Node] = {}
        for e in state.in_edges(n):
            if e.memlet.is_empty:
                continue
            if e.data == t_name and e.src is plan.nest[-1]:
                env[e.dst_conn] = tl.Name(ACC)
            elif e.src is plan.nest[-1]:
                index = tuple(r.start.xreplace(to_index) for r in e.memlet.subset)
                key = (e.data, index)
                if key not in conn_of:
                    conn = conn_of[key] = _fresh_connector(taken)
                    reads.append((conn, index))
                    entering[conn] = _outermost(state, e, plan.nest)
                env[e.dst_conn] = tl.Name(conn_of[key])
            else:
                env[e.dst_conn] = register[e.src]
        # an output connector has its data's type (a register's may differ from the
        # expression's): the value stored through it is converted explicitly
        out_type = {e.src_conn: program.data[e.data].dtype.name
                    for e in state.out_edges(n) if not e.memlet.is_empty}
        for s in n.code.stmts:
            name = next(fresh)
            value = tl.substitute(s.value, env)
            if s.target in out_type:
                value = tl.Call(out_type[s.target], (value,))
            stmts.append(tl.Assign(name, value))
            env[s.target] = tl.Name(name)
        for e in state.out_edges(n):
            if e.dst is plan.write.dst:
                result = env[e.src_conn]
            elif isinstance(e.dst, AccessNode):
                register[e.dst] = env[e.src_conn]
    assert result is not None
    stmts.append(tl.Assign(OUT, result))
    return Epilogue(tl.Code(tuple(stmts)), tuple(reads)), entering


# ---------------------------------------------------------------- helpers
def _perfect_nest(state: State, entry: MapEntry) -> tuple[list[MapEntry], list[Node]]:
    """The maps nested one inside the other from ``entry`` (each the only thing in its parent),
    outermost first, and the nodes in the innermost one's scope."""
    scopes = state.scope_dict()
    nest = [entry]
    while True:
        children = [n for n, s in scopes.items() if s is nest[-1]]
        inner = [n for n in children if isinstance(n, MapEntry)]
        if len(inner) != 1 or set(children) != {inner[0], state.exit_of(inner[0])}:
            return nest, children
        nest.append(inner[0])


def _private_result(program: Program, state: State, mm: MatMul, t: AccessNode, entry: MapEntry) -> Optional[str]:
    """Why the GEMM's result T is not a private intermediate that only ``entry`` reads."""
    why = why_not_private(program, t.data)
    if why:
        return why
    if [e for e in state.in_edges(t) if e.src is not mm] or len(state.out_edges(t)) != 1:
        return f"{t.data} has other writers or readers"
    for st in program.states():
        if any(n.data == t.data and n is not t for n in st.data_nodes()):
            return f"{t.data} is accessed elsewhere"
    return None


def _element_of(e: Edge, params: list[sympy.Symbol], shape: tuple, dim_of: dict) -> Optional[str]:
    """Record which parameter indexes each dimension of the GEMM result; None if consistent."""
    for d, r in enumerate(e.memlet.subset):
        p = r.start
        if p not in params or dim_of.get(p, d) != d or any(q != p and v == d for q, v in dim_of.items()):
            return f"the consumer reads {e.data}[{e.memlet.subset}], not the element its parameters name"
        dim_of[p] = d
    return None


def _checks_output(program: Program, state: State, mm: MatMul, t_name: str, write: Edge,
                   dim_of: dict, nest: list[MapEntry], inputs: list[Edge]) -> Optional[str]:
    """Why the GEMM cannot write the consumer's output Y directly, or None."""
    t_desc, y_desc = program.data[t_name], program.data[write.data]
    if not isinstance(y_desc, Array) or y_desc.dtype != t_desc.dtype or y_desc.ndim != t_desc.ndim or \
            any(not equal(a, b) for a, b in zip(y_desc.shape, t_desc.shape)):
        return f"{write.data} is not an array of {t_name}'s shape and type"
    by_dim = {d: p for p, d in dim_of.items()}
    if [r.start for r in write.memlet.subset] != [by_dim[d] for d in range(t_desc.ndim)] or \
            not all(r.is_index for r in write.memlet.subset):
        return f"the consumer writes {write.data}[{write.memlet.subset}], not the element it reads"
    for p, d in dim_of.items():
        rng = next(r for m in nest for q, r in zip(m.map.params, m.map.ranges) if canonical_symbol(q) == p)
        if not equal(rng.stop, t_desc.shape[d]):
            return f"the consumer covers {rng} of dimension {d}, not all of {t_desc.shape[d]}"
    if not is_zero(y_desc.strides[-1] - 1) or not is_positive(y_desc.strides[-2]):
        return f"{write.data}'s rows are not contiguous and ascending; BLAS cannot write it"
    y_root = program.root_of(write.data)
    a_name, b_name, _ = mm.operands(state)
    if y_root in {program.root_of(a_name), program.root_of(b_name)}:
        return f"the GEMM would overwrite its operand {y_root} while reading it"
    touched = {program.root_of(e.data) for e in inputs}
    touched |= {program.root_of(e.data) for e in state.in_edges(mm) if not e.memlet.is_empty}
    if y_root in touched:
        return f"the consumer reads {y_root}, which it also writes"
    return None


def _outermost(state: State, e: Edge, nest: list[MapEntry]) -> Edge:
    """The edge entering the outermost map of ``nest`` that ``e`` (inside it) continues."""
    while e.src in nest:
        conn = partner_connector(e.src_conn)
        e = next(i for i in state.in_edges(e.src) if i.dst_conn == conn)
    return e


def _fresh_connector(taken: set[str]) -> str:
    i = 0
    while f"_x{i}" in taken:
        i += 1
    taken.add(f"_x{i}")
    return f"_x{i}"


def _drop_unused(program: Program, names: set[str]) -> None:
    """Forget transients no access node names any more."""
    used = {n.data for st in program.states() for n in st.data_nodes()}
    for name in names - used:
        desc = program.data.get(name)
        if desc is not None and desc.transient and not any(d.view_of == name for d in program.data.values()):
            del program.data[name]


__all__ = ["EpilogueFusion"]
