"""JSON form of a program: an exact, deterministic round trip.

``program_from_json(program_to_json(p))`` rebuilds ``p`` with the same data
descriptors (in order), the same node ids, the same edges (keys, connectors,
memlets), the same control flow and the same ``history``; and
``program_to_json(program_from_json(t)) == t`` for any text ``t`` this module
wrote.

The format (``"format": "flowc-ir"``, ``"version": 1``) is plain JSON:

- symbolic expressions are their sympy text (``symbolic.parse_expr`` reads
  them back); a subset is its text (``"i, 0:N"``) when that text parses back
  to an equal subset, else a list of ``[start, stop, step]`` texts;
- tasklet code is its canonical text (``str(Code)``), conditions are
  ``expr.to_text`` of the condition tree;
- nodes are listed in graph order with their ids; map nodes refer to an entry
  of the state's ``maps`` list (so entry and exit share one ``Map`` object);
  library nodes are stored by class name (``LibraryNode.kinds``) with
  ``properties()``, and rebuilt as ``cls(name, implementation=...,
  **properties)``;
- edges are listed in the state graph's edge order with their multigraph keys
  and refer to nodes by id;
- map ``hints`` and ``program.history`` are stored as they are, so they must
  hold JSON values (numbers, strings, booleans, None, lists, string-keyed dicts);
  a tuple would come back as a list. History entries are checked on reading
  (``flowc.ir.history``: known transformation names, their parameters, match shape).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Optional

from flowc.ir import expr as tl
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, Scalar, Storage
from flowc.ir.dtypes import dtype_of
from flowc.ir.errors import IRError
from flowc.ir.history import validate_history
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, LibraryNode, Map, MapEntry, MapExit, Node, Schedule, Tasklet
from flowc.ir.state import State
from flowc.ir.symbolic import Range, Subset, as_expr, expr_str, parse_expr, split_top_level

FORMAT = "flowc-ir"
VERSION = 1


# ================================================================ writing

def program_to_json(program: Any) -> str:
    """The JSON text of ``program`` (deterministic; ``indent=1``)."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "name": program.name,
        "symbols": list(program.symbols),
        "arg_names": list(program.arg_names),
        "returns": list(program.returns),
        "data": [_data_to(name, desc) for name, desc in program.data.items()],
        "body": _block_to(program.body),
        "history": program.history,
        "requirements": [[expr_str(e), why] for e, why in program.requirements],
    }
    try:
        return json.dumps(doc, indent=1, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise IRError(f"program {program.name!r} cannot be written as JSON: {exc} "
                      "(map hints and history must hold JSON values)") from exc


def _e(expr: Any) -> str:
    return expr_str(expr)


@functools.lru_cache(maxsize=4096)
def _text_is_exact(r: Range) -> bool:
    """Whether ``str(r)`` parses back to ``r`` (cached: parsing is the slow part of writing)."""
    try:
        return Range.parse(str(r)) == r
    except IRError:
        return False


def _range_to(r: Range) -> Any:
    return str(r) if _text_is_exact(r) else [_e(r.start), _e(r.stop), _e(r.step)]


def _subset_to(s: Optional[Subset]) -> Any:
    if s is None:
        return None
    if all(_text_is_exact(r) for r in s.ranges):
        return str(s)
    return [[_e(r.start), _e(r.stop), _e(r.step)] for r in s.ranges]


def _data_to(name: str, desc: Any) -> dict[str, Any]:
    if isinstance(desc, Scalar):
        return {"name": name, "kind": "scalar", "dtype": desc.dtype.name, "transient": desc.transient,
                "storage": desc.storage.value}
    if isinstance(desc, Array):
        return {"name": name, "kind": "array", "dtype": desc.dtype.name,
                "shape": [_e(s) for s in desc.shape], "strides": [_e(s) for s in desc.strides],
                "offset": _e(desc.offset), "storage": desc.storage.value, "transient": desc.transient,
                "view_of": desc.view_of}
    raise IRError(f"container {name!r}: cannot serialize descriptor {desc!r}")


def _block_to(block: Block) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in block.items:
        if isinstance(item, State):
            out.append(_state_to(item))
        elif isinstance(item, Loop):
            out.append({"type": "loop", "var": item.var, "start": _e(item.start), "stop": _e(item.stop),
                        "step": _e(item.step), "body": _block_to(item.body)})
        elif isinstance(item, Branch):
            out.append({"type": "branch", "cond": tl.to_text(item.cond), "then": _block_to(item.then_body),
                        "else": _block_to(item.else_body)})
        elif isinstance(item, While):
            out.append({"type": "while", "cond": tl.to_text(item.cond), "body": _block_to(item.body)})
        else:
            raise IRError(f"cannot serialize control-flow item {item!r}")
    return out


def _memlet_to(m: Memlet) -> Optional[dict[str, Any]]:
    if m.is_empty and m.subset is None and m.wcr is None and m.other_subset is None:
        return None
    return {"data": m.data, "subset": _subset_to(m.subset), "wcr": m.wcr,
            "other_subset": _subset_to(m.other_subset)}


def _state_to(st: State) -> dict[str, Any]:
    maps: list[Map] = []
    map_index: dict[int, int] = {}

    def map_ref(m: Map) -> int:
        if id(m) not in map_index:
            map_index[id(m)] = len(maps)
            maps.append(m)
        return map_index[id(m)]

    nodes: list[dict[str, Any]] = []
    for n in st.graph.nodes:
        if isinstance(n, AccessNode):
            nodes.append({"id": n.id, "type": "access", "data": n.data})
        elif isinstance(n, Tasklet):
            nodes.append({"id": n.id, "type": "tasklet", "name": n.name, "inputs": list(n.inputs),
                          "outputs": list(n.outputs), "code": str(n.code)})
        elif isinstance(n, MapEntry):
            nodes.append({"id": n.id, "type": "map_entry", "map": map_ref(n.map)})
        elif isinstance(n, MapExit):
            nodes.append({"id": n.id, "type": "map_exit", "map": map_ref(n.map)})
        elif isinstance(n, LibraryNode):
            cls = type(n).__name__
            if LibraryNode.kinds.get(cls) is not type(n):
                raise IRError(f"state {st.name!r}: {n!r}: library class {cls} is not registered")
            nodes.append({"id": n.id, "type": "library", "class": cls, "name": n.name,
                          "implementation": n.implementation, "properties": n.properties()})
        else:
            raise IRError(f"state {st.name!r}: cannot serialize {n!r}")
    edges = [{"src": u.id, "src_conn": d["src_conn"], "dst": v.id, "dst_conn": d["dst_conn"], "key": k,
              "memlet": _memlet_to(d["memlet"])}
             for u, v, k, d in st.graph.edges(keys=True, data=True)]
    return {
        "type": "state", "name": st.name, "next_id": st._next_id,
        "maps": [{"label": m.label, "params": list(m.params), "ranges": [_range_to(r) for r in m.ranges],
                  "schedule": Schedule(m.schedule).value, "hints": m.hints} for m in maps],
        "nodes": nodes, "edges": edges,
    }


# ================================================================ reading

def program_from_json(text: str) -> Any:
    """Rebuild a program from ``program_to_json`` text."""
    from flowc.ir.program import Program

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IRError(f"not flowc IR JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IRError("not flowc IR JSON (missing \"format\": \"flowc-ir\")")
    if doc.get("version") != VERSION:
        raise IRError(f"flowc IR JSON version {doc.get('version')!r} is not supported (expected {VERSION})")
    try:
        p = Program(doc["name"])
        p.symbols = list(doc["symbols"])
        for d in doc["data"]:
            p.data[d["name"]] = _data_from(d)
        p.arg_names = list(doc["arg_names"])
        p.returns = list(doc["returns"])
        _block_from(p, p.body, doc["body"])
        p.history = validate_history(doc["history"])
        p.requirements = [(as_expr(e), why) for e, why in doc.get("requirements", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise IRError(f"malformed flowc IR JSON: {type(exc).__name__}: {exc}") from exc
    return p


def _data_from(d: dict[str, Any]) -> Any:
    if d["kind"] == "scalar":
        return Scalar(dtype_of(d["dtype"]), transient=d["transient"], storage=Storage(d["storage"]))
    if d["kind"] == "array":
        return Array(dtype_of(d["dtype"]), tuple(parse_expr(s) for s in d["shape"]),
                     strides=tuple(parse_expr(s) for s in d["strides"]), storage=Storage(d["storage"]),
                     transient=d["transient"], view_of=d["view_of"], offset=parse_expr(d["offset"]))
    raise IRError(f"container {d.get('name')!r}: unknown kind {d['kind']!r}")


@functools.lru_cache(maxsize=4096)
def _parse_range(text: str) -> Range:
    return Range.parse(text)          # Ranges are immutable: sharing parsed ones is safe


def _range_from(x: Any) -> Range:
    if isinstance(x, str):
        return _parse_range(x)
    return Range.make(*(parse_expr(t) for t in x))


def _subset_from(x: Any) -> Optional[Subset]:
    if x is None:
        return None
    if isinstance(x, str):
        text = x.strip()
        return Subset(tuple(_parse_range(p) for p in split_top_level(text, ","))) if text else Subset(())
    return Subset(tuple(_range_from(r) for r in x))


def _block_from(p: Any, block: Block, items: list[dict[str, Any]]) -> None:
    for it in items:
        kind = it["type"]
        if kind == "state":
            block.items.append(_state_from(p, it))
        elif kind == "loop":
            loop = block.add_loop(it["var"], parse_expr(it["start"]), parse_expr(it["stop"]),
                                  parse_expr(it["step"]))
            _block_from(p, loop.body, it["body"])
        elif kind == "branch":
            br = block.add_branch(tl.parse_expr(it["cond"]))
            _block_from(p, br.then_body, it["then"])
            _block_from(p, br.else_body, it["else"])
        elif kind == "while":
            w = block.add_while(tl.parse_expr(it["cond"]))
            _block_from(p, w.body, it["body"])
        else:
            raise IRError(f"unknown control-flow item type {kind!r}")


def _state_from(p: Any, d: dict[str, Any]) -> State:
    st = State(d["name"], p)
    p._state_names.add(d["name"])
    maps = [Map(m["label"], list(m["params"]), [_range_from(r) for r in m["ranges"]], Schedule(m["schedule"]),
                dict(m["hints"])) for m in d["maps"]]
    by_id: dict[int, Node] = {}
    for nd in d["nodes"]:
        kind = nd["type"]
        node: Node
        if kind == "access":
            node = AccessNode(nd["data"])
        elif kind == "tasklet":
            node = Tasklet(nd["name"], nd["inputs"], nd["outputs"], tl.Code.parse(nd["code"]))
        elif kind == "map_entry":
            node = MapEntry(maps[nd["map"]])
        elif kind == "map_exit":
            node = MapExit(maps[nd["map"]])
        elif kind == "library":
            cls = LibraryNode.kinds.get(nd["class"])
            if cls is None:
                raise IRError(f"state {d['name']!r}: unknown library node class {nd['class']!r} "
                              f"(known: {', '.join(sorted(LibraryNode.kinds))})")
            node = cls(nd["name"], implementation=nd["implementation"], **nd["properties"])
        else:
            raise IRError(f"state {d['name']!r}: unknown node type {kind!r}")
        node.id = int(nd["id"])
        if node.id in by_id:
            raise IRError(f"state {d['name']!r}: node id {node.id} appears twice")
        by_id[node.id] = node
        st.graph.add_node(node)
    st._next_id = int(d["next_id"])
    for ed in d["edges"]:
        m = ed["memlet"]
        memlet = Memlet(None) if m is None else Memlet(m["data"], _subset_from(m["subset"]), m["wcr"],
                                                       _subset_from(m["other_subset"]))
        st.graph.add_edge(by_id[ed["src"]], by_id[ed["dst"]], key=ed["key"], src_conn=ed["src_conn"],
                          dst_conn=ed["dst_conn"], memlet=memlet)
    touch = getattr(st, "touch", None)        # built through the graph directly: drop cached analyses
    if touch is not None:
        touch()
    return st
