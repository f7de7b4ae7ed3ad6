"""Validation: every invariant of the IR, checked in one pass.

``validate_program`` raises ``ValidationError`` at the first broken
invariant. The message names where it is: ``state 's': tasklet 'axpy'
(node 2): ...`` for a node (``repr(node)`` carries the node id), ``state
's': edge ... -> ...`` for an edge, and ``program 'p': container 'x': ...``
for a data descriptor or the signature.

What "valid" means, by level:

*Containers and signature.* Every view's base exists and view chains do not
cycle; shapes, strides and offsets use only free symbols (never a map
parameter or loop variable, never a container's name) and no constant extent
is negative; arguments and returns name existing, non-view, non-transient
containers, returns are Arrays, and every non-transient container is one or
the other.

*Control flow.* State names are unique and each state appears once; a loop
variable names no container and shadows no enclosing loop variable; loop
bounds and ``if``/``while`` conditions use only symbols in scope and (for
conditions) Scalar containers.

*Each state.* The graph is acyclic; node ids are unique; access nodes name
existing data; map entries and exits pair up (one entry and one exit per
``Map`` object, same state, same scope, the exit reachable from the entry);
edges enter or leave a scope only through its entry or exit, so every node in
a scope is reachable from its entry; a map's ``IN_x``/``OUT_x`` connectors pair
up and carry one container; tasklets have exactly one edge per input
connector, at least one per output connector and none on undeclared
connectors, and their code reads only inputs, its own earlier assignments
and symbols in scope, assigns every output and never an input, and
subscripts only input connectors (array connectors), with one index per
dimension of the connector's container; library nodes
have exactly their connectors, whole-container memlets, and pass their own
``check_shapes``.

*Each memlet.* It names existing data with a subset of the container's rank,
uses only symbols in scope (program symbols, loop variables around the state,
parameters of the maps around the edge), has no zero step, and is not
provably out of bounds (an index range bounded over the enclosing map and
loop ranges that provably falls outside the container's extent, e.g.
``A[i + 1]`` for ``i in 0:N`` over ``A[N]``); an edge touching an access node
moves that node's container; ``wcr`` appears only on writes (edges into an
access node or a map exit); tasklet-adjacent memlets move exactly one
element, except at an *array connector* (an input the code subscripts,
``o = t[k]``), whose memlet moves the block the code may index; an access
→ access copy moves equal volumes out of the source and into the
destination (see ``movement.copy_subsets``).

Symbols in scope: ``program.symbols`` plus the free symbols of the data
descriptors' shapes/strides/offsets are the program-wide ("global") symbols;
loop variables are in scope inside their loop's body; map parameters inside
their map's scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional

import networkx as nx
import sympy

from flowc.ir import expr as tl
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, Scalar
from flowc.ir.errors import IRError, ValidationError
from flowc.ir.memlet import WCR_OPS
from flowc.ir.nodes import AccessNode, LibraryNode, Map, MapEntry, MapExit, Node, Schedule, ScopeConnector, Tasklet
from flowc.ir.propagation import propagate_subset
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Range, Subset, free_symbol_names, is_zero

if TYPE_CHECKING:
    from flowc.ir.program import Program

_IDENT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789")


def validate_program(program: "Program") -> None:
    """Check every invariant of ``program``; raise ``ValidationError`` at the first broken one."""
    _Validator(program).run()


def _is_ident(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and not name[0].isdigit() and set(name) <= _IDENT_CHARS


def _provably_equal(a: Any, b: Any) -> bool:
    """Whether two symbolic expressions are equal for all symbol values."""
    return a == b or is_zero(sympy.sympify(a) - sympy.sympify(b))


def _number(e: Any) -> Optional[sympy.Expr]:
    """``e`` expanded if it is a plain number, else None."""
    e = sympy.expand(sympy.sympify(e))
    return e if e.is_number and e.is_real else None


def _subscripts(node: tl.Node) -> list[tl.Subscript]:
    """Every ``name[...]`` in a tasklet expression."""
    out: list[tl.Subscript] = []
    if isinstance(node, tl.Subscript):
        out.append(node)
        children: tuple = node.indices
    elif isinstance(node, tl.UnaryOp):
        children = (node.operand,)
    elif isinstance(node, tl.BinOp):
        children = (node.left, node.right)
    elif isinstance(node, tl.Call):
        children = node.args
    else:
        children = ()
    for c in children:
        out += _subscripts(c)
    return out


class _Validator:
    def __init__(self, program: "Program"):
        self.p = program
        self.data = program.data
        self.local = program.local_symbols()
        self.globals: set[str] = set(program.symbols)
        for desc in self.data.values():
            try:
                self.globals |= desc.free_symbols()
            except Exception:          # malformed descriptor: reported by _check_data
                pass
        self.state_names: set[str] = set()
        self.state_ids: set[int] = set()
        self.map_owner: dict[int, State] = {}
        #: per tasklet, the input connectors its code subscripts (array connectors)
        self.array_connectors: dict[Tasklet, set[str]] = {}

    # ------------------------------------------------------------ messages
    def fail_program(self, msg: str) -> None:
        raise ValidationError(f"program {self.p.name!r}: {msg}")

    def fail_container(self, name: str, msg: str) -> None:
        raise ValidationError(f"program {self.p.name!r}: container {name!r}: {msg}")

    def fail_node(self, st: State, node: Node, msg: str) -> None:
        raise ValidationError(f"state {st.name!r}: {node!r}: {msg}")

    def fail_edge(self, st: State, e: Edge, msg: str) -> None:
        conns = f"{e.src_conn or ''}->{e.dst_conn or ''}"
        raise ValidationError(f"state {st.name!r}: edge {e.src!r} -> {e.dst!r} [{conns}] "
                              f"memlet {e.memlet}: {msg}")

    def fail_control(self, item: Any, msg: str) -> None:
        raise ValidationError(f"program {self.p.name!r}: {item!r}: {msg}")

    # ------------------------------------------------------------ driver
    def run(self) -> None:
        self.check_signature()
        self.check_data()
        self.check_block(self.p.body, {})
        self.check_bounded()

    def check_bounded(self) -> None:
        """Every memlet's bounds can be derived (``flowc/ir/bounds.py``), so the binder can check them."""
        from flowc.ir.bounds import unbounded_subsets

        unbounded = unbounded_subsets(self.p)
        if unbounded:
            raise ValidationError(f"program {self.p.name!r}: {unbounded[0]}; its bounds cannot be checked "
                                  "(indices may use sums, numeric multiples, Min/Max, // by an integer and % by a "
                                  "positive modulus; data-dependent indices go through an array connector, "
                                  "which is checked at run time)")

    # ------------------------------------------------------------ containers
    def check_data(self) -> None:
        for name, desc in self.data.items():
            if not _is_ident(name):
                self.fail_container(name, "the name is not an identifier")
            if not isinstance(desc, (Array, Scalar)):
                self.fail_container(name, f"descriptor {desc!r} is neither an Array nor a Scalar")
            if isinstance(desc, Scalar):
                continue
            if len(desc.strides) != len(desc.shape):
                self.fail_container(name, f"rank {len(desc.shape)} but {len(desc.strides)} strides")
            syms = desc.free_symbols()
            bound = sorted(syms & self.local)
            if bound:
                self.fail_container(name, f"shape/strides/offset use {', '.join(bound)}, which is a map "
                                          "parameter or loop variable; data sizes may use only free symbols")
            clash = sorted(syms & set(self.data))
            if clash:
                self.fail_container(name, f"shape/strides/offset use container name(s) {', '.join(clash)} "
                                          "as symbols")
            for d, s in enumerate(desc.shape):
                n = _number(s)
                if n is not None and n < 0:
                    self.fail_container(name, f"extent {s} of dimension {d} is negative")
            if desc.view_of is not None:
                if desc.view_of not in self.data:
                    self.fail_container(name, f"is a view of unknown container {desc.view_of!r}")
                seen = [name]
                cur = desc.view_of
                while cur is not None:
                    if cur in seen:
                        self.fail_container(name, f"view cycle {' -> '.join(seen + [cur])}")
                    if cur not in self.data:
                        self.fail_container(name, f"view chain reaches unknown container {cur!r}")
                    seen.append(cur)
                    cur = self.data[cur].view_of
                if not desc.transient:
                    self.fail_container(name, "a view owns no memory and must be transient")

    def check_signature(self) -> None:
        seen: set[str] = set()
        for name in self.p.arg_names:
            if name in seen:
                self.fail_container(name, "listed twice in the arguments")
            seen.add(name)
            if name not in self.data:
                self.fail_container(name, "is an argument but no such container exists")
            desc = self.data[name]
            if desc.is_view:
                self.fail_container(name, "a view cannot be an argument")
            if desc.transient:
                self.fail_container(name, "is an argument but marked transient")
        for name in self.p.returns:
            if name in seen:
                self.fail_container(name, "listed twice among arguments and returns")
            seen.add(name)
            if name not in self.data:
                self.fail_container(name, "is returned but no such container exists")
            desc = self.data[name]
            if not isinstance(desc, Array):
                self.fail_container(name, "returned values must be Arrays (use a 1-element or 0-d array)")
            if desc.is_view:
                self.fail_container(name, "a view cannot be returned; return its base or a copy")
            if desc.transient:
                self.fail_container(name, "is returned but marked transient")
        for name, desc in self.data.items():
            if not desc.transient and not desc.is_view and name not in seen:
                self.fail_container(name, "is not transient but neither an argument nor a return value")
        syms: set[str] = set()
        for s in self.p.symbols:
            if not _is_ident(s):
                self.fail_program(f"symbol {s!r} is not an identifier")
            if s in syms:
                self.fail_program(f"symbol {s!r} declared twice")
            syms.add(s)
            if s in self.data:
                self.fail_container(s, "is also declared as a symbol")

    # ------------------------------------------------------------ control flow
    def check_names(self, item: Any, names: Iterable[str], loop_vars: dict[str, Range], what: str,
                    allow_scalars: bool = False) -> None:
        for n in sorted(set(names)):
            if n in self.data:
                if allow_scalars and isinstance(self.data[n], Scalar):
                    continue
                kind = "array" if isinstance(self.data[n], Array) else "container"
                self.fail_control(item, f"{what} reads {kind} {n!r}; only symbols"
                                        f"{' and Scalar containers' if allow_scalars else ''} may appear")
            if n in self.globals or n in loop_vars:
                continue
            if n in self.local:
                self.fail_control(item, f"{what} uses {n!r} outside the map or loop that binds it")
            self.fail_control(item, f"{what} uses unknown symbol {n!r} (declare it with Program.add_symbol)")

    def check_block(self, block: Block, loop_vars: dict[str, Range]) -> None:
        for item in block.items:
            if isinstance(item, State):
                if id(item) in self.state_ids:
                    self.fail_program(f"state {item.name!r} appears twice in the control flow")
                self.state_ids.add(id(item))
                if item.name in self.state_names:
                    self.fail_program(f"two states are named {item.name!r}")
                self.state_names.add(item.name)
                self.check_state(item, loop_vars)
            elif isinstance(item, Loop):
                if not _is_ident(item.var):
                    self.fail_control(item, f"loop variable {item.var!r} is not an identifier")
                if item.var in self.data:
                    self.fail_control(item, f"loop variable {item.var!r} shadows the container of that name")
                if item.var in loop_vars:
                    self.fail_control(item, f"loop variable {item.var!r} shadows an enclosing loop's variable")
                names: set[str] = set()
                for e in (item.start, item.stop, item.step):
                    names |= free_symbol_names(e)
                self.check_names(item, names, loop_vars, "loop bound")
                if item.step == 0:
                    self.fail_control(item, "loop step is 0")
                self.check_block(item.body, {**loop_vars, item.var: Range(item.start, item.stop, item.step)})
            elif isinstance(item, Branch):
                self.check_cond(item, loop_vars)
                self.check_block(item.then_body, loop_vars)
                self.check_block(item.else_body, loop_vars)
            elif isinstance(item, While):
                self.check_cond(item, loop_vars)
                self.check_block(item.body, loop_vars)
            else:
                self.fail_program(f"unknown control-flow item {item!r}")

    def check_cond(self, item: Any, loop_vars: dict[str, Range]) -> None:
        try:
            tl.to_text(item.cond)
        except IRError as exc:
            self.fail_control(item, f"malformed condition: {exc}")
        self.check_names(item, tl.names(item.cond), loop_vars, "condition", allow_scalars=True)

    # ------------------------------------------------------------ states
    def check_state(self, st: State, loop_vars: dict[str, Range]) -> None:
        g = st.graph
        ids: dict[int, Node] = {}
        for n in g.nodes:
            if not isinstance(n, (AccessNode, Tasklet, MapEntry, MapExit, LibraryNode)):
                self.fail_node(st, n, f"unknown node type {type(n).__name__}")
            if n.id in ids:
                self.fail_node(st, n, f"has the same id as {ids[n.id]!r}")
            ids[n.id] = n
            if isinstance(n, AccessNode) and n.data not in self.data:
                self.fail_node(st, n, f"names unknown container {n.data!r}")
        if not nx.is_directed_acyclic_graph(g):
            cycle = nx.find_cycle(g)
            self.fail_node(st, cycle[0][0], "lies on a cycle: " + " -> ".join(repr(c[0]) for c in cycle)
                           + "; a state's dataflow graph must be acyclic")
        exit_entry = self.check_map_pairs(st)
        scope = self.compute_scopes(st, exit_entry)
        for n in st.topological_nodes():
            chain = self.chain(n, scope)
            if isinstance(n, MapEntry):
                self.check_map(st, n, scope, loop_vars)
                self.check_map_connectors(st, n, True)
            elif isinstance(n, MapExit):
                self.check_map_connectors(st, n, False)
            elif isinstance(n, Tasklet):
                self.check_tasklet(st, n, chain, loop_vars)
            elif isinstance(n, LibraryNode):
                self.check_library(st, n)
            elif isinstance(n, AccessNode):
                for e in (*st.in_edges(n), *st.out_edges(n)):
                    conn = e.dst_conn if e.dst is n else e.src_conn
                    if conn is not None:
                        self.fail_edge(st, e, f"access nodes have no connectors (found {conn!r} on {n!r})")
        for e in st.edges():
            self.check_memlet(st, e, scope, loop_vars)

    def check_map_pairs(self, st: State) -> dict[MapExit, MapEntry]:
        entries: dict[int, list[MapEntry]] = {}
        exits: dict[int, list[MapExit]] = {}
        for n in st.topological_nodes():
            if isinstance(n, MapEntry):
                entries.setdefault(id(n.map), []).append(n)
            elif isinstance(n, MapExit):
                exits.setdefault(id(n.map), []).append(n)
        for key, ens in entries.items():
            if len(ens) > 1:
                self.fail_node(st, ens[1], f"shares its Map object with {ens[0]!r}")
            if key not in exits:
                self.fail_node(st, ens[0], "has no matching map exit (same Map object) in this state")
            if len(exits[key]) > 1:
                self.fail_node(st, exits[key][1], f"is a second exit of the map of {ens[0]!r}")
            owner = self.map_owner.setdefault(key, st)
            if owner is not st:
                self.fail_node(st, ens[0], f"its Map object also appears in state {owner.name!r}")
        for key, exs in exits.items():
            if key not in entries:
                self.fail_node(st, exs[0], "has no matching map entry (same Map object) in this state")
        pairs = {exits[k][0]: entries[k][0] for k in entries}
        for x, en in pairs.items():
            if not nx.has_path(st.graph, en, x):
                self.fail_node(st, x, f"is not reachable from its map entry {en!r}; a map scope must be "
                                      "closed (connect an empty memlet from entry to exit for an empty map)")
        return pairs

    def compute_scopes(self, st: State, exit_entry: dict[MapExit, MapEntry]) -> dict[Node, Optional[MapEntry]]:
        """Each node's innermost enclosing map entry, checking that no edge crosses a scope boundary."""
        scope: dict[Node, Optional[MapEntry]] = {}

        def inner(u: Node) -> Optional[MapEntry]:
            return u if isinstance(u, MapEntry) else scope[u]

        def name(s: Optional[MapEntry]) -> str:
            return "the top level" if s is None else f"the scope of {s!r}"

        for v in st.topological_nodes():
            if isinstance(v, MapExit):
                entry = exit_entry[v]
                scope[v] = scope[entry]
                reach = None
                for e in st.in_edges(v):
                    if inner(e.src) is entry:
                        continue
                    if reach is None:
                        reach = nx.descendants(st.graph, entry)
                    if e.src not in reach:
                        self.fail_edge(st, e, f"{e.src!r} enters {v!r} but is not inside map "
                                              f"{entry.map.label!r}: it is not reachable from {entry!r}")
                    self.fail_edge(st, e, f"crosses a scope boundary: {e.src!r} is in {name(inner(e.src))} but "
                                          f"{v!r} closes the scope of {entry!r}")
                continue
            edges = st.in_edges(v)
            if not edges:
                scope[v] = None
                continue
            first = inner(edges[0].src)
            for e in edges[1:]:
                s = inner(e.src)
                if s is not first:
                    self.fail_edge(st, e, f"crosses a scope boundary: {v!r} is fed from {name(first)} and from "
                                          f"{name(s)}; data enters and leaves a map only through its entry/exit")
            scope[v] = first
        return scope

    @staticmethod
    def chain(n: Node, scope: dict[Node, Optional[MapEntry]]) -> list[MapEntry]:
        """Map entries whose scope contains ``n`` (strictly), innermost first."""
        out: list[MapEntry] = []
        s = scope.get(n)
        while s is not None:
            out.append(s)
            s = scope.get(s)
        return out

    def scope_symbols(self, chain: list[MapEntry], loop_vars: dict[str, Range]) -> set[str]:
        names = self.globals | set(loop_vars)
        for en in chain:
            names |= set(en.map.params)
        return names

    def unknown_symbol_msg(self, n: str) -> str:
        if n in self.data:
            return f"uses container {n!r} as a symbol"
        if n in self.local:
            return f"uses {n!r} outside the map or loop that binds it"
        return f"uses unknown symbol {n!r} (declare it with Program.add_symbol)"

    # ------------------------------------------------------------ maps
    def check_map(self, st: State, en: MapEntry, scope: dict[Node, Optional[MapEntry]],
                  loop_vars: dict[str, Range]) -> None:
        m = en.map
        if not isinstance(m, Map):
            self.fail_node(st, en, "has no Map object")
        if not isinstance(m.schedule, Schedule):
            self.fail_node(st, en, f"schedule {m.schedule!r} is not a Schedule")
        if len(m.params) != len(m.ranges):
            self.fail_node(st, en, f"{len(m.params)} parameters but {len(m.ranges)} ranges")
        if not m.params:
            self.fail_node(st, en, "a map needs at least one parameter")
        chain = self.chain(en, scope)
        outer = {p for c in chain for p in c.map.params}
        allowed = self.scope_symbols(chain, loop_vars)
        seen: set[str] = set()
        for p, r in zip(m.params, m.ranges):
            if not _is_ident(p):
                self.fail_node(st, en, f"parameter {p!r} is not an identifier")
            if p in seen:
                self.fail_node(st, en, f"parameter {p!r} appears twice")
            seen.add(p)
            if p in self.data:
                self.fail_node(st, en, f"parameter {p!r} shadows the container of that name")
            if p in outer or p in loop_vars:
                self.fail_node(st, en, f"parameter {p!r} shadows an enclosing map parameter or loop variable")
            if not isinstance(r, Range):
                self.fail_node(st, en, f"range of {p!r} is not a Range")
            if r.step == 0:
                self.fail_node(st, en, f"range of {p!r} has step 0")
            for n in sorted(r.free_symbols() - allowed):
                if n in m.params:
                    self.fail_node(st, en, f"range of {p!r} uses the map's own parameter {n!r}")
                self.fail_node(st, en, f"range of {p!r} {self.unknown_symbol_msg(n)}")

    def check_map_connectors(self, st: State, node: Node, is_entry: bool) -> None:
        ins: dict[str, list[Edge]] = {}
        outs: dict[str, list[Edge]] = {}
        for e in st.in_edges(node):
            if e.memlet.is_empty:
                continue                      # checked by check_memlet
            conn = ScopeConnector.parse(e.dst_conn)
            if conn is None or not conn.incoming:
                self.fail_edge(st, e, f"enters {node!r} on connector {e.dst_conn!r}; data crosses a map through "
                                      "IN_<name>/OUT_<name> connector pairs")
            ins.setdefault(conn.name, []).append(e)
        for e in st.out_edges(node):
            if e.memlet.is_empty:
                continue
            conn = ScopeConnector.parse(e.src_conn)
            if conn is None or conn.incoming:
                self.fail_edge(st, e, f"leaves {node!r} on connector {e.src_conn!r}; data crosses a map through "
                                      "IN_<name>/OUT_<name> connector pairs")
            outs.setdefault(conn.name, []).append(e)
        for x in sorted(ins):
            if x not in outs:
                self.fail_node(st, node, f"connector IN_{x} has no matching OUT_{x}")
            if is_entry and len(ins[x]) != 1:
                self.fail_node(st, node, f"connector IN_{x} has {len(ins[x])} in-edges; exactly one expected")
            names = {e.memlet.data for e in ins[x] + outs[x]}
            if len(names) != 1:
                self.fail_node(st, node, f"connectors IN_{x}/OUT_{x} carry different containers "
                                         f"{', '.join(sorted(names))}")
        for x in sorted(outs):
            if x not in ins:
                self.fail_node(st, node, f"connector OUT_{x} has no matching IN_{x}")

    # ------------------------------------------------------------ tasklets
    def check_tasklet(self, st: State, t: Tasklet, chain: list[MapEntry], loop_vars: dict[str, Range]) -> None:
        for kind, conns in (("input", t.inputs), ("output", t.outputs)):
            if len(set(conns)) != len(conns):
                self.fail_node(st, t, f"duplicate {kind} connector in {list(conns)}")
            for c in conns:
                if not _is_ident(c):
                    self.fail_node(st, t, f"{kind} connector {c!r} is not an identifier")
        both = sorted(set(t.inputs) & set(t.outputs))
        if both:
            self.fail_node(st, t, f"connector(s) {', '.join(both)} are both input and output")
        counts = {c: 0 for c in t.inputs}
        for e in st.in_edges(t):
            if e.memlet.is_empty and e.dst_conn is None:
                continue
            if e.dst_conn not in counts:
                self.fail_edge(st, e, f"enters {t!r} on undeclared input connector {e.dst_conn!r} "
                                      f"(inputs: {', '.join(t.inputs) or 'none'})")
            counts[e.dst_conn] += 1
        for c, k in counts.items():
            if k != 1:
                self.fail_node(st, t, f"input connector {c!r} has {k} in-edges; exactly one expected")
        counts = {c: 0 for c in t.outputs}
        for e in st.out_edges(t):
            if e.memlet.is_empty and e.src_conn is None:
                continue
            if e.src_conn not in counts:
                self.fail_edge(st, e, f"leaves {t!r} on undeclared output connector {e.src_conn!r} "
                                      f"(outputs: {', '.join(t.outputs) or 'none'})")
            counts[e.src_conn] += 1
        for c, k in counts.items():
            if k < 1:
                self.fail_node(st, t, f"output connector {c!r} has no out-edge")
        # the code
        inputs, outputs = set(t.inputs), set(t.outputs)
        allowed = self.scope_symbols(chain, loop_vars)
        for n in sorted(t.code.read_names() - inputs):
            if n in outputs:
                self.fail_node(st, t, f"code reads output connector {n!r} before assigning it")
            if n in self.data:
                self.fail_node(st, t, f"code reads container {n!r} directly; data enters a tasklet only "
                                      "through an input connector")
            if n not in allowed:
                if n in self.local:
                    self.fail_node(st, t, f"code reads {n!r}, a map parameter or loop variable not in scope here")
                self.fail_node(st, t, f"code reads {n!r}, which is neither an input connector, an earlier "
                                      "assignment, nor a symbol in scope")
        for n in sorted(set(t.code.assigned()) & (allowed | set(self.data))):
            self.fail_node(st, t, f"code assigns {n!r}, which is also a symbol or a container; the names code "
                                  "assigns are its own")
        for v in t.code.loop_vars():
            if v in inputs or v in outputs or v in t.code.assigned() or v in allowed or v in self.data:
                self.fail_node(st, t, f"loop variable {v!r} is also a connector, an assigned name, a symbol or "
                                      "a container; loop variables need names of their own")
        arrays: set[str] = set()
        stored = t.code.stored()
        for node in t.code.expressions():
            arrays |= set(tl.subscripted(node))
            for sub in _subscripts(node):
                if sub.value not in inputs:
                    self.fail_node(st, t, f"code indexes {sub.value!r}, which is not an input connector; only "
                                          "array connectors (inputs) can be subscripted")
                e = next((e for e in st.in_edges(t) if e.dst_conn == sub.value and not e.memlet.is_empty), None)
                desc = self.data.get(e.memlet.data) if e is not None else None
                if desc is not None and len(sub.indices) != desc.ndim:
                    self.fail_node(st, t, f"code indexes array connector {sub.value!r} with "
                                          f"{len(sub.indices)} indices but {e.memlet.data!r} has rank {desc.ndim}")
        for stmt in t.code.assignments():
            if stmt.target in stored:
                self.check_store(st, t, stmt, outputs)
        self.array_connectors[t] = arrays | stored
        assigned = t.code.unconditionally_assigned() | stored
        for o in t.outputs:
            if o not in assigned:
                self.fail_node(st, t, f"code never assigns output connector {o!r}" +
                               (" outside a loop or branch (an output is assigned on every path)"
                                if o in t.code.assigned() else ""))
        for i in t.inputs:
            if i in assigned:
                self.fail_node(st, t, f"code assigns input connector {i!r}")

    def check_store(self, st: State, t: Tasklet, stmt: tl.Assign, outputs: set[str]) -> None:
        """``out[indices] = value``: ``out`` an output connector with one edge (with
        write-conflict resolution, ``out[k] += v`` from parallel iterations), only stored into,
        with one index per dimension."""
        if stmt.target not in outputs:
            self.fail_node(st, t, f"code stores into {stmt.target!r}[...], which is not an output connector")
        if not stmt.indices:
            self.fail_node(st, t, f"code assigns array output connector {stmt.target!r} without an index; it "
                                  "is stored into elsewhere")
        edges = [e for e in st.out_edges(t) if e.src_conn == stmt.target and not e.memlet.is_empty]
        if len(edges) != 1:
            self.fail_node(st, t, f"array output connector {stmt.target!r} needs exactly one out-edge")
        desc = self.data.get(edges[0].memlet.data)
        if desc is not None and len(stmt.indices) != desc.ndim:
            self.fail_node(st, t, f"code stores into {stmt.target!r} with {len(stmt.indices)} indices but "
                                  f"{edges[0].memlet.data!r} has rank {desc.ndim}")

    # ------------------------------------------------------------ library nodes
    def check_library(self, st: State, node: LibraryNode) -> None:
        if node.implementation not in node.implementations:
            self.fail_node(st, node, f"implementation {node.implementation!r} is not one of "
                                     f"{', '.join(node.implementations)}")
        for incoming, declared in ((True, node.in_connectors()), (False, node.out_connectors())):
            edges = st.in_edges(node) if incoming else st.out_edges(node)
            counts = {c: 0 for c in declared}
            for e in edges:
                conn = e.dst_conn if incoming else e.src_conn
                if e.memlet.is_empty and conn is None:
                    continue
                if conn not in counts:
                    self.fail_edge(st, e, f"uses undeclared connector {conn!r} of {node!r} "
                                          f"(declared: {', '.join(sorted(declared)) or 'none'})")
                counts[conn] += 1
                desc = self.data.get(e.memlet.data)
                if desc is not None and e.memlet.subset is not None and len(e.memlet.subset) == desc.ndim:
                    for r, dim in zip(e.memlet.subset.ranges, desc.shape):
                        if not (r.step == 1 and _provably_equal(r.start, 0) and _provably_equal(r.stop, dim)):
                            self.fail_edge(st, e, f"{node!r} operates on whole containers; the memlet moves "
                                                  f"part of {e.memlet.data!r} (use a view for a part)")
            for c, k in sorted(counts.items()):
                if k != 1:
                    self.fail_node(st, node, f"{'input' if incoming else 'output'} connector {c!r} has {k} "
                                             "edges; exactly one expected")
        check = getattr(node, "check_shapes", None)
        if check is not None:
            try:
                check(self.p, st)
            except IRError as exc:
                msg = str(exc)
                prefix = f"{node!r}: "
                self.fail_node(st, node, msg[len(prefix):] if msg.startswith(prefix) else msg)

    # ------------------------------------------------------------ memlets
    def check_memlet(self, st: State, e: Edge, scope: dict[Node, Optional[MapEntry]],
                     loop_vars: dict[str, Range]) -> None:
        from flowc.ir.movement import copy_subsets

        m = e.memlet
        if m.is_empty:
            if m.subset is not None or m.wcr is not None or m.other_subset is not None:
                self.fail_edge(st, e, "an empty memlet has no subset and no wcr")
            if e.src_conn is not None or e.dst_conn is not None:
                self.fail_edge(st, e, "an empty memlet (ordering edge) cannot use connectors")
            return
        if m.data not in self.data:
            self.fail_edge(st, e, f"names unknown container {m.data!r}")
        desc = self.data[m.data]
        if m.subset is None:
            self.fail_edge(st, e, "has no explicit subset")
        if len(m.subset) != desc.ndim:
            self.fail_edge(st, e, f"subset has rank {len(m.subset)} but container {m.data!r} has rank {desc.ndim}")
        src_acc, dst_acc = isinstance(e.src, AccessNode), isinstance(e.dst, AccessNode)
        if src_acc and dst_acc:
            if m.data not in (e.src.data, e.dst.data):
                self.fail_edge(st, e, f"copies between {e.src.data!r} and {e.dst.data!r} but names {m.data!r}")
        elif src_acc and m.data != e.src.data:
            self.fail_edge(st, e, f"leaves access node {e.src.data!r} but moves {m.data!r}")
        elif dst_acc and m.data != e.dst.data:
            self.fail_edge(st, e, f"enters access node {e.dst.data!r} but moves {m.data!r}")
        if m.other_subset is not None:
            if not (src_acc and dst_acc):
                self.fail_edge(st, e, "other_subset is only meaningful on an access -> access copy")
            other = e.dst.data if m.data == e.src.data else e.src.data
            if len(m.other_subset) != self.data[other].ndim:
                self.fail_edge(st, e, f"other_subset has rank {len(m.other_subset)} but container {other!r} "
                                      f"has rank {self.data[other].ndim}")
        if m.wcr is not None:
            if m.wcr not in WCR_OPS:
                self.fail_edge(st, e, f"unknown wcr {m.wcr!r}")
            if not isinstance(e.dst, (AccessNode, MapExit)):
                self.fail_edge(st, e, f"write-conflict resolution ({m.wcr}) on a read: the edge enters {e.dst!r}")
        # symbols in scope
        inner = e.src if isinstance(e.src, MapEntry) else scope.get(e.src)
        chain = ([inner] + self.chain(inner, scope)) if inner is not None else []
        allowed = self.scope_symbols(chain, loop_vars)
        used = m.subset.free_symbols() | (m.other_subset.free_symbols() if m.other_subset is not None else set())
        for n in sorted(used - allowed):
            self.fail_edge(st, e, f"subset {self.unknown_symbol_msg(n)}")
        for sub in (m.subset, m.other_subset):
            if sub is not None and any(r.step == 0 for r in sub.ranges):
                self.fail_edge(st, e, "a range has step 0")
        array_conn = (isinstance(e.dst, Tasklet) and e.dst_conn in self.array_connectors.get(e.dst, set())) or \
            (isinstance(e.src, Tasklet) and e.src_conn in self.array_connectors.get(e.src, set()))
        if (isinstance(e.src, Tasklet) or isinstance(e.dst, Tasklet)) and not array_conn:
            vol = m.subset.volume()
            if not _provably_equal(vol, 1):
                t = e.src if isinstance(e.src, Tasklet) else e.dst
                self.fail_edge(st, e, f"moves {vol} elements; a memlet at a tasklet connector ({t!r}) moves "
                                      "exactly one element")
        if src_acc and dst_acc:
            s_sub, d_sub = copy_subsets(self.p, e)
            vs, vd = s_sub.volume(), d_sub.volume()
            if not _provably_equal(vs, vd):
                self.fail_edge(st, e, f"copy moves {vs} elements out of {e.src.data!r} but {vd} into "
                                      f"{e.dst.data!r}")
        # constant bounds
        ranges = [(en.map.params, en.map.ranges) for en in chain]
        ranges += [([v], [r]) for v, r in reversed(list(loop_vars.items()))]
        self.check_bounds(st, e, m.data, m.subset, ranges)
        if m.other_subset is not None:
            other = e.dst.data if m.data == e.src.data else e.src.data
            self.check_bounds(st, e, other, m.other_subset, ranges)

    def check_bounds(self, st: State, e: Edge, name: str, subset: Subset,
                     ranges: list[tuple[list[str], list[Range]]]) -> None:
        """Fail when an index range provably falls outside ``name``'s extent."""
        shape = self.data[name].shape
        if any(not r.step.is_number for _, rs in ranges for r in rs):
            return
        sub = subset
        for params, rs in ranges:
            if sub.free_symbols() & set(params):
                sub = propagate_subset(sub, params, rs, shape)
        for d, (r, dim) in enumerate(zip(sub.ranges, shape)):
            step = _number(r.step)
            if step is None or step == 0:
                continue
            size = _number(r.size())
            if size is not None and size <= 0:
                continue
            last = r.stop - 1 if step == 1 else r.start + (r.size() - 1) * r.step
            lo, hi = (r.start, last) if step > 0 else (last, r.start)
            lo_n = _number(lo)
            if lo_n is not None and lo_n < 0:
                self.fail_edge(st, e, f"index {lo} of dimension {d} of {name!r} is below 0")
            over = _number(hi - dim)
            if over is not None and over >= 0:
                self.fail_edge(st, e, f"index {sympy.expand(hi)} of dimension {d} of {name!r} is out of bounds "
                                      f"(extent {dim})")
