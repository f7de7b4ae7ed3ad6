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

from typing import Iterator, Optional

import sympy

from flowc.ir.data import Array
from flowc.ir.expr import Name
from flowc.ir.library import MatMul, gemm_unsupported
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, LibraryNode, MapEntry, MapExit, Tasklet
from flowc.ir.program import Program
from flowc.ir.symbolic import c_strides, canonical_symbol, equal
from flowc.transforms.base import Match, Transformation
from flowc.transforms.scopes import scope_nodes


class LayoutSelection(Transformation):
    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            for n in state.nodes():
                if isinstance(n, MapEntry) and scopes.get(n) is None:
                    yield self.match(state, n, info=n.map.label)

    def plan(self, program: Program, match: Match) -> Optional[tuple]:
        """(source access, destination access, permutation, producer node, producer's state) of a
        pure transposing copy whose source can be stored in any layout, or None."""
        state, (entry,) = self.resolve(program, match)
        body = scope_nodes(state, entry)
        if len(body) != 1 or not isinstance(body[0], Tasklet):
            return None
        t = body[0]
        code = t.code.stmts
        if len(t.inputs) != 1 or len(t.outputs) != 1 or len(code) != 1 or code[0].target != t.outputs[0] \
                or code[0].value != Name(t.inputs[0]):
            return None
        ins = [e for e in state.in_edges(entry) if not e.memlet.is_empty]
        exit_ = state.exit_of(entry)
        outs = state.out_edges(exit_)
        if len(ins) != 1 or len(outs) != 1 or not isinstance(ins[0].src, AccessNode) or \
                not isinstance(outs[0].dst, AccessNode):
            return None
        src, dst = ins[0].src, outs[0].dst
        sdesc, ddesc = program.data[src.data], program.data[dst.data]
        for name, desc in ((src.data, sdesc), (dst.data, ddesc)):
            if not isinstance(desc, Array) or not desc.transient or desc.is_view or \
                    any(d.view_of == name for d in program.data.values() if d is not desc and name == src.data):
                return None
        if src.data == dst.data or dst.data in program.returns or not ddesc.is_c_contiguous() or \
                sdesc.dtype != ddesc.dtype:       # a converting copy is no view
            return None
        params = [canonical_symbol(p) for p in entry.map.params]
        read = state.in_edges(t)[0].memlet.subset
        write = state.out_edges(t)[0].memlet.subset
        if read is None or write is None or len(params) != ddesc.ndim or len(read) != sdesc.ndim:
            return None
        if [r.start for r in write] != params or not all(r.is_index for r in write):
            return None
        for r, size in zip(entry.map.ranges, ddesc.shape):
            if r.start != 0 or r.step != 1 or not equal(r.stop, size):
                return None
        if not all(r.is_index and r.start in params for r in read) or len({r.start for r in read}) != len(params):
            return None
        perm = [params.index(r.start) for r in read]          # source dim d is destination dim perm[d]
        if perm == list(range(len(perm))):
            return None
        if any(not equal(sdesc.shape[d], ddesc.shape[perm[d]]) for d in range(len(perm))):
            return None
        # the source is written once, by something that can write any layout, and read only here
        writers = [(st, e) for st in program.states() for e in st.edges()
                   if isinstance(e.dst, AccessNode) and e.dst.data == src.data and not e.memlet.is_empty]
        readers = [e for st in program.states() for e in st.edges()
                   if isinstance(e.src, AccessNode) and e.src.data == src.data and not e.memlet.is_empty]
        if len(writers) != 1 or len(readers) != 1 or readers[0].dst is not entry:
            return None
        # the copy is the destination's only writer (also through its views): a value written
        # into it earlier would live in the source's memory, which the producer overwrites
        if any(isinstance(e.dst, AccessNode) and program.root_of(e.dst.data) == dst.data and
               not e.memlet.is_empty and e.src is not exit_ for st in program.states() for e in st.edges()):
            return None
        producer_state, producer = writers[0][0], writers[0][1].src
        if isinstance(producer, LibraryNode) and not isinstance(producer, MatMul):
            return None
        if not isinstance(producer, (MatMul, MapExit)):
            return None
        return src, dst, perm, producer, producer_state

    def can_apply(self, program: Program, match: Match) -> bool:
        found = self.plan(program, match)
        if found is None:
            return False
        src, dst, perm, producer, producer_state = found
        if isinstance(producer, MatMul):
            old = program.data[src.data].strides
            program.data[src.data].strides = self.new_strides(program, src.data, dst.data, perm)
            try:
                return gemm_unsupported(program, producer_state, producer) is None
            finally:
                program.data[src.data].strides = old
        return True

    @staticmethod
    def new_strides(program: Program, src: str, dst: str, perm: list[int]) -> tuple:
        dst_strides = c_strides(program.data[dst].shape)
        return tuple(sympy.sympify(dst_strides[perm[d]]) for d in range(len(perm)))

    def apply(self, program: Program, match: Match) -> None:
        state, (entry,) = self.resolve(program, match)
        src, dst, perm, _, _ = self.plan(program, match)
        sdesc, ddesc = program.data[src.data], program.data[dst.data]
        sdesc.strides = self.new_strides(program, src.data, dst.data, perm)
        exit_ = state.exit_of(entry)
        for n in scope_nodes(state, entry) + [entry, exit_]:
            state.remove_node(n)
        program.data[dst.data] = Array(ddesc.dtype, ddesc.shape, ddesc.strides, storage=ddesc.storage,
                                       transient=True, view_of=src.data, offset=0)
        state.add_nedge(src, dst, Memlet.empty())        # the view is readable once the source is written
