"""Emitting IR: lazy expressions become maps with one tasklet, library nodes get their edges.

``store(lw, value, target)`` is the single place where an element-wise value
is computed into a container: a map over the target's shape (or a bare
tasklet for a 0-d target) whose tasklet is the value's whole expression tree,
cast to the target's dtype. Every leaf becomes one input connector with the
element memlet ``A[index]``; identical leaves share a connector.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.data import Scalar
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import Range, Subset, canonical_symbol

from . import types as T
from .context import Lowering
from .elementwise import as_lazy, broadcast_to
from .errors import LoweringError
from .values import Const, Lazy, Ref, Sym, placeholder, placeholder_name


def _subset(lw: Lowering, data: str, index: tuple[Any, ...], block: bool = False) -> Subset:
    desc = lw.desc(data)
    if isinstance(desc, Scalar) or desc.ndim == 0:
        return Subset(())
    if block:
        return Subset.full(desc.shape)
    return Subset(tuple(Range.index(sympy.expand(e)) for e in index))


def aliases(lw: Lowering, lz: Lazy, target: Ref) -> bool:
    """Whether computing ``lz`` element by element into ``target`` could read an element
    of the target's memory after writing it (NumPy evaluates the right-hand side first)."""
    troot = lw.program.root_of(target.data)
    out_idx = tuple(placeholder(k) for k in range(target.ndim))
    mine = None
    for lf in lz.leaves.values():
        if lw.program.root_of(lf.data) != troot:
            continue
        if lf.block or lf.data != target.data:
            return True
        if mine is None:
            mine = tuple(sympy.expand(e) for e in target.index(out_idx))
        if tuple(sympy.expand(e) for e in lf.index) != mine:
            return True
    return False


def store(lw: Lowering, value: Any, target: Ref, *, name: str = "assign", wcr: Optional[str] = None,
          check_alias: bool = True) -> Ref:
    """Compute ``value`` (broadcast to the target's shape) into ``target``."""
    lz = broadcast_to(as_lazy(value), target.shape)
    if check_alias and aliases(lw, lz, target):
        tmp = lw.temp(lz.shape, lz.dtype, "tmp")
        store(lw, lz, tmp, name=name, check_alias=False)
        lz = broadcast_to(as_lazy(tmp), target.shape)
    ndim = target.ndim
    params = [lw.fresh_param(k) for k in range(ndim)]
    psyms = tuple(canonical_symbol(p) for p in params)
    sym_map = {placeholder(k): psyms[k] for k in range(ndim)}
    name_map = {placeholder_name(k): tl.Name(params[k]) for k in range(ndim)}
    node = tl.substitute(lz.node, name_map)
    node = T.cast_to(node, lz.dtype, target.dtype)
    # one connector per distinct leaf
    conns: dict[tuple, str] = {}
    rename: dict[str, tl.Node] = {}
    inputs: dict[str, Memlet] = {}
    for conn, lf in lz.leaves.items():
        index = tuple(sympy.expand(sympy.sympify(e).xreplace(sym_map)) for e in lf.index)
        key = (lf.data, index, lf.block)
        if key in conns:
            rename[conn] = tl.Name(conns[key])
            continue
        c = f"_in{len(conns)}"
        conns[key] = c
        rename[conn] = tl.Name(c)
        inputs[c] = Memlet(lf.data, _subset(lw, lf.data, index, lf.block))
    node = _rename(node, rename)
    code = tl.Code((tl.Assign("_out", node),))
    out_memlet = Memlet(target.data, _subset(lw, target.data, target.index(psyms)), wcr=wcr)
    reads = sorted({m.data for m in inputs.values()})
    sc = lw.op(reads, [target.data])
    state = sc.state
    in_nodes = {d: sc.read(d) for d in reads}
    out_node = sc.write(target.data)
    label = f"{name}_{len(list(state.nodes()))}"
    if ndim == 0:
        tasklet = state.add_tasklet(label, list(inputs), ["_out"], code)
        for c, m in inputs.items():
            state.add_edge(in_nodes[m.data], None, tasklet, c, m)
        state.add_edge(tasklet, "_out", out_node, None, out_memlet)
    else:
        ranges = {p: Range(sympy.Integer(0), s) for p, s in zip(params, target.shape)}
        state.add_mapped_tasklet(label, ranges, inputs, code, {"_out": out_memlet},
                                 input_nodes=in_nodes, output_nodes={target.data: out_node})
    return target


def store_element(lw: Lowering, value: Lazy, indices: tuple[tl.Node, ...], target: str, *,
                  name: str = "scatter") -> None:
    """``target[indices] = value`` where ``indices`` are computed at run time (tasklet-language
    nodes over ``value``'s connectors): one tasklet whose output connector is an array connector
    moving the whole container, stored into at one element (``_out[k] = v``), bounds-checked by
    the generated code like a gather."""
    used = {n for node in (value.node, *indices) for n in tl.names(node)}
    rename: dict[str, tl.Node] = {}
    inputs: dict[str, Memlet] = {}
    for conn, lf in value.leaves.items():
        if conn not in used:
            continue
        c = f"_in{len(inputs)}"
        rename[conn] = tl.Name(c)
        inputs[c] = Memlet(lf.data, _subset(lw, lf.data, tuple(sympy.sympify(e) for e in lf.index), lf.block))
    code = tl.Code((tl.Assign("_out", _rename(value.node, rename), tuple(_rename(i, rename) for i in indices)),))
    reads = sorted({m.data for m in inputs.values()})
    sc = lw.op(reads, [target])
    state = sc.state
    in_nodes = {d: sc.read(d) for d in reads}
    tasklet = state.add_tasklet(f"{name}_{len(list(state.nodes()))}", list(inputs), ["_out"], code)
    for c, m in inputs.items():
        state.add_edge(in_nodes[m.data], None, tasklet, c, m)
    state.add_edge(tasklet, "_out", sc.write(target), None, Memlet(target, _subset(lw, target, (), True)))


def _rename(node: tl.Node, mapping: dict[str, tl.Node]) -> tl.Node:
    """Rename connector names, including subscripted array connectors."""
    if isinstance(node, tl.Subscript):
        new = mapping.get(node.value)
        value = new.id if isinstance(new, tl.Name) else node.value
        return tl.Subscript(value, tuple(_rename(i, mapping) for i in node.indices))
    if isinstance(node, tl.Name):
        return mapping.get(node.id, node)
    if isinstance(node, tl.UnaryOp):
        return tl.UnaryOp(node.op, _rename(node.operand, mapping))
    if isinstance(node, tl.BinOp):
        return tl.BinOp(node.op, _rename(node.left, mapping), _rename(node.right, mapping))
    if isinstance(node, tl.Call):
        return tl.Call(node.func, tuple(_rename(a, mapping) for a in node.args))
    return node


def materialize(lw: Lowering, value: Any, prefix: str = "tmp") -> Ref:
    """A new owned container holding ``value``. A weak scalar (a Python number computed at run
    time, ``c = n + 1``) stays weak: it is still a Python number to NumPy's promotion."""
    lz = as_lazy(value)
    tmp = lw.temp(lz.shape, lz.dtype, prefix)
    out = store(lw, lz, tmp, name=prefix, check_alias=False)
    if isinstance(out, Ref) and not lz.shape and (lz.weak or getattr(value, "array0d", False)):
        out = replace(out, weak=lz.weak, array0d=getattr(value, "array0d", False))
    return out


def copy_to_temp(lw: Lowering, ref: Ref, prefix: str = "copy") -> Ref:
    return materialize(lw, ref, prefix)


def as_ref(lw: Lowering, value: Any, prefix: str = "tmp") -> Ref:
    """A container for ``value``: a Ref as is, anything else computed into a temporary."""
    if isinstance(value, Ref):
        return value
    if isinstance(value, (Const, Sym, Lazy)):
        return materialize(lw, value, prefix)
    raise LoweringError(f"{type(value).__name__} is not an array value")


def library(lw: Lowering, node: LibraryNode, inputs: dict[str, str], outputs: dict[str, str]) -> LibraryNode:
    """Add a library node reading and writing whole containers."""
    sc = lw.op(list(inputs.values()), list(outputs.values()))
    state = sc.state
    state.add_library(node)
    nodes = {data: sc.read(data) for data in dict.fromkeys(inputs.values())}
    for conn, data in inputs.items():
        state.add_edge(nodes[data], None, node, conn, Memlet(data))
    for conn, data in outputs.items():
        state.add_edge(node, conn, sc.write(data), None, Memlet(data))
    return node
