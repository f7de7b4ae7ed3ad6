"""Layout selection: store an intermediate in the order its consumer wants, so a
transposing copy becomes free.

::

    C[b,h,l,p] = A @ V             (C row-major: b, h, l, p)
    D[b,l,h,p] = C[b,h,l,p]        (a copy that only transposes)
                    ⇒
    C[b,h,l,p] = A @ V             (C stored in order b, l, h, p: strides LHP, P, HP, 1)
    D = view of C                  (no copy; the GEMM writes the merged heads directly)

The producer must be able to write any layout: a map, or a MatMul whose new
result layout is still a (strided, batched) GEMM result. Refuses when the
intermediate is visible to the caller, has views or other readers, when the
copy does anything but permute dimensions (or converts the type), or when the
copy's result is written anywhere else (an earlier value of it would live in
the intermediate's memory, which the producer overwrites).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import sympy

from flowc.ir.data import Array
from flowc.ir.expr import Assign, Name
from flowc.ir.library import MatMul, gemm_unsupported
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapExit, Node, Tasklet
from flowc.ir.program import Program
from flowc.ir.state import State
from flowc.ir.symbolic import c_strides, canonical_symbol, equal
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.scopes import scope_nodes, top_level_maps


@dataclass(frozen=True)
class TransposingCopy:
    """What ``LayoutSelection`` found: the copy ``dst = permute(src)``, where source
    dimension d is destination dimension ``perm[d]``, and the node that writes ``src``."""

    src: AccessNode
    dst: AccessNode
    perm: tuple[int, ...]
    producer: Node
    producer_state: State


class LayoutSelection(Transformation):
    """Store a transposing copy's source in the copy's order; the copy becomes a view."""

    def candidates(self, program: Program) -> Iterator[Match]:
        for state, n in top_level_maps(program):
            yield self.match(state, n, info=n.map.label)

    def plan(self, program: Program, match: Match) -> TransposingCopy:
        """The pure transposing copy at ``match`` whose source can be stored in any layout."""
        state, (entry,) = self.resolve(program, match)
        body = scope_nodes(state, entry)
        if len(body) != 1 or not isinstance(body[0], Tasklet):
            raise NotApplicable(f"{entry.map.label} is not one tasklet")
        t = body[0]
        code = t.code.stmts
        if len(t.inputs) != 1 or len(t.outputs) != 1 or len(code) != 1 or not isinstance(code[0], Assign) \
                or code[0].target != t.outputs[0] \
                or code[0].indices or code[0].value != Name(t.inputs[0]):
            raise NotApplicable(f"{t!r} does not copy its input")
        ins = [e for e in state.in_edges(entry) if not e.memlet.is_empty]
        exit_ = state.exit_of(entry)
        outs = state.out_edges(exit_)
        if len(ins) != 1 or len(outs) != 1 or not isinstance(ins[0].src, AccessNode) or \
                not isinstance(outs[0].dst, AccessNode):
            raise NotApplicable(f"{entry.map.label} does not copy one container into another")
        src, dst = ins[0].src, outs[0].dst
        sdesc, ddesc = program.data[src.data], program.data[dst.data]
        for name, desc in ((src.data, sdesc), (dst.data, ddesc)):
            if not isinstance(desc, Array) or not desc.transient or desc.is_view or \
                    any(d.view_of == name for d in program.data.values() if d is not desc and name == src.data):
                raise NotApplicable(f"{name} is not a transient array without views")
        if src.data == dst.data or dst.data in program.returns or not ddesc.is_c_contiguous() or \
                sdesc.dtype != ddesc.dtype:       # a converting copy is no view
            raise NotApplicable(f"the copy {src.data} -> {dst.data} cannot become a view "
                                "(same container, returned, not row-major, or converting)")
        params = [canonical_symbol(p) for p in entry.map.params]
        read = state.in_edges(t)[0].memlet.subset
        write = state.out_edges(t)[0].memlet.subset
        not_a_permutation = NotApplicable(f"{entry.map.label} does not only permute dimensions")
        if read is None or write is None or len(params) != ddesc.ndim or len(read) != sdesc.ndim:
            raise not_a_permutation
        if [r.start for r in write] != params or not all(r.is_index for r in write):
            raise not_a_permutation
        for r, size in zip(entry.map.ranges, ddesc.shape):
            if r.start != 0 or r.step != 1 or not equal(r.stop, size):
                raise not_a_permutation
        if not all(r.is_index and r.start in params for r in read) or len({r.start for r in read}) != len(params):
            raise not_a_permutation
        perm = tuple(params.index(r.start) for r in read)          # source dim d is destination dim perm[d]
        if perm == tuple(range(len(perm))):
            raise NotApplicable(f"{entry.map.label} copies without permuting")
        if any(not equal(sdesc.shape[d], ddesc.shape[perm[d]]) for d in range(len(perm))):
            raise not_a_permutation
        # the source is written once, by something that can write any layout, and read only here
        writers = [(st, e) for st in program.states() for e in st.edges()
                   if isinstance(e.dst, AccessNode) and e.dst.data == src.data and not e.memlet.is_empty]
        readers = [e for st in program.states() for e in st.edges()
                   if isinstance(e.src, AccessNode) and e.src.data == src.data and not e.memlet.is_empty]
        if len(writers) != 1 or len(readers) != 1 or readers[0].dst is not entry:
            raise NotApplicable(f"{src.data} has other writers or readers")
        # the copy is the destination's only writer (also through its views): a value written
        # into it earlier would live in the source's memory, which the producer overwrites
        if any(isinstance(e.dst, AccessNode) and program.root_of(e.dst.data) == dst.data and
               not e.memlet.is_empty and e.src is not exit_ for st in program.states() for e in st.edges()):
            raise NotApplicable(f"{dst.data} is also written elsewhere")
        producer_state, producer = writers[0][0], writers[0][1].src
        if not isinstance(producer, (MatMul, MapExit)):
            raise NotApplicable(f"{src.data} is written by {producer!r}, which cannot write any layout")
        if isinstance(producer, MatMul):
            old = sdesc.strides
            sdesc.strides = self.new_strides(program, src.data, dst.data, perm)
            try:
                why = gemm_unsupported(program, producer_state, producer)
            finally:
                sdesc.strides = old
            if why is not None:
                raise NotApplicable(f"the GEMM cannot write {src.data} in that layout: {why}")
        return TransposingCopy(src, dst, perm, producer, producer_state)

    @staticmethod
    def new_strides(program: Program, src: str, dst: str, perm: tuple[int, ...]) -> tuple:
        dst_strides = c_strides(program.data[dst].shape)
        return tuple(sympy.sympify(dst_strides[perm[d]]) for d in range(len(perm)))

    def rewrite(self, program: Program, match: Match, plan: TransposingCopy) -> None:
        state, (entry,) = self.resolve(program, match)
        src, dst, perm = plan.src, plan.dst, plan.perm
        sdesc, ddesc = program.data[src.data], program.data[dst.data]
        sdesc.strides = self.new_strides(program, src.data, dst.data, perm)
        exit_ = state.exit_of(entry)
        for n in scope_nodes(state, entry) + [entry, exit_]:
            state.remove_node(n)
        program.data[dst.data] = Array(ddesc.dtype, ddesc.shape, ddesc.strides, storage=ddesc.storage,
                                       transient=True, view_of=src.data, offset=0)
        state.add_nedge(src, dst, Memlet.empty())        # the view is readable once the source is written
