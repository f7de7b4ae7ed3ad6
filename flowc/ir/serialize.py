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
  a tuple would come back as a list; history entries are checked on reading
  (``flowc.ir.history``: known transformation names, their parameters, match shape);
- the calling convention: ``symbol_params`` (size parameter -> position in the
  function's parameter list) and ``closure_args``, one entry per closure array
  with its bytes as little-endian base64 (``"values"``), or ``null`` when written
  with ``closure_values=False``; the dtype and shape are the descriptor's.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from typing import Any, Optional

import numpy as np

from flowc.ir import expr as tl
from flowc.ir import jsoncheck as J
from flowc.ir import library, library_extra  # noqa: F401  (registers every library node class for reading)
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, Scalar, Storage
from flowc.ir.dtypes import BY_NAME, dtype_of
from flowc.ir.errors import IRError
from flowc.ir.history import validate_history
from flowc.ir.memlet import WCR_OPS, Memlet
from flowc.ir.nodes import AccessNode, LibraryNode, Map, MapEntry, MapExit, Node, Schedule, Tasklet
from flowc.ir.state import State
from flowc.ir.symbolic import Range, Subset, expr_str, split_top_level

FORMAT = "flowc-ir"
VERSION = 1


# ================================================================ writing

def program_to_json(program: Any, closure_values: bool = True) -> str:
    """The JSON text of ``program`` (deterministic; ``indent=1``); ``closure_values=False``
    leaves out the bytes of the closure arrays."""
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
        "symbol_params": dict(program.symbol_params),
        "closure_args": [{"name": name, "values": _array_to(value) if closure_values else None}
                         for name, value in program.closure_args.items()],
    }
    try:
        return json.dumps(doc, indent=1, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise IRError(f"program {program.name!r} cannot be written as JSON: {exc} "
                      "(map hints and history must hold JSON values)") from exc


def _array_to(value: Optional[np.ndarray]) -> Optional[str]:
    if value is None:
        return None
    little = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    return base64.b64encode(little.tobytes()).decode("ascii")


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


def _label_to(text: str, what: str) -> str:
    """A label as written: one ``program_from_json`` reads back (checked when written, so a
    program that cannot round-trip fails here, not when someone loads the file)."""
    try:
        return J.label(text, J.ROOT)
    except IRError:
        raise IRError(f"{what} {text!r} cannot be written as IR JSON: a label has 1 to 200 printable "
                      "ASCII characters, no backslash, no '/*' or '*/'") from None


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
            nodes.append({"id": n.id, "type": "tasklet", "name": _label_to(n.name, "tasklet"), "inputs": list(n.inputs),
                          "outputs": list(n.outputs), "code": str(n.code)})
        elif isinstance(n, MapEntry):
            nodes.append({"id": n.id, "type": "map_entry", "map": map_ref(n.map)})
        elif isinstance(n, MapExit):
            nodes.append({"id": n.id, "type": "map_exit", "map": map_ref(n.map)})
        elif isinstance(n, LibraryNode):
            cls = type(n).__name__
            if LibraryNode.kinds.get(cls) is not type(n):
                raise IRError(f"state {st.name!r}: {n!r}: library class {cls} is not registered")
            nodes.append({"id": n.id, "type": "library", "class": cls, "name": _label_to(n.name, "library node"),
                          "implementation": n.implementation, "properties": n.properties()})
        else:
            raise IRError(f"state {st.name!r}: cannot serialize {n!r}")
    edges = [{"src": u.id, "src_conn": d["src_conn"], "dst": v.id, "dst_conn": d["dst_conn"], "key": k,
              "memlet": _memlet_to(d["memlet"])}
             for u, v, k, d in st.graph.edges(keys=True, data=True)]
    return {
        "type": "state", "name": _label_to(st.name, "state"), "next_id": st._next_id,
        "maps": [_map_to(m) for m in maps],
        "nodes": nodes, "edges": edges,
    }


def _map_to(m: Map) -> dict[str, Any]:
    out = {"label": _label_to(m.label, "map"), "params": list(m.params), "ranges": [_range_to(r) for r in m.ranges],
           "schedule": Schedule(m.schedule).value, "hints": m.hints}
    for name in MAP_SCHEDULE_FIELDS:          # written only when set: older files stay as they were
        if getattr(m, name) is not None:
            out[name] = getattr(m, name)
    return out


#: the CPU scheduling fields of a map (``MapSchedule`` sets them), optional in JSON
MAP_SCHEDULE_FIELDS = ("parallel_threshold", "chunk")


# ================================================================ reading

def program_from_json(text: str) -> Any:
    """Rebuild a program from ``program_to_json`` text.

    The text is untrusted: every value is checked (``jsoncheck``) and a value that does not
    fit raises ``IRError`` naming its JSON path. Symbolic expressions are read by flowc's own
    parser and tasklet code by the tasklet language's; nothing is evaluated. The loaded
    program is not validated here (``Program.validate()``; compiling validates)."""
    from flowc.ir.program import Program

    if not isinstance(text, (str, bytes, bytearray)):
        raise IRError(f"IR JSON must be text, not {type(text).__name__}")
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IRError(f"not flowc IR JSON: {exc}") from exc
    except RecursionError:
        raise IRError("not flowc IR JSON: nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IRError("not flowc IR JSON (missing \"format\": \"flowc-ir\")")
    if doc.get("version") != VERSION:
        raise IRError(f"flowc IR JSON version {doc.get('version')!r} is not supported (expected {VERSION})")
    try:
        return _program_from(Program, doc)
    except RecursionError:
        raise IRError("IR JSON: nested too deeply (control flow or expressions)") from None


def _program_from(program_cls: Any, doc: Any) -> Any:
    root = J.ROOT
    J.fields(doc, root, ("format", "version", "name", "symbols", "arg_names", "returns", "data", "body",
                         "history"), ("requirements", "symbol_params", "closure_args"))
    p = program_cls(J.ident(doc["name"], root / "name"))
    p.symbols = J.idents(doc["symbols"], root / "symbols")
    for i, d in enumerate(J.seq(doc["data"], root / "data")):
        name, desc = _data_from(d, root / "data" / i)
        if name in p.data:
            raise J.fail(root / "data" / i / "name", f"container {name!r} appears twice")
        p.data[name] = desc
    p.arg_names = J.idents(doc["arg_names"], root / "arg_names")
    p.returns = J.idents(doc["returns"], root / "returns")
    for key in ("arg_names", "returns"):
        for i, name in enumerate(getattr(p, key)):
            if name not in p.data:
                raise J.fail(root / key / i, f"no container named {name!r}")
    _block_from(p, p.body, doc["body"], root / "body", 0)
    p.history = _history_from(doc["history"], root / "history")
    reqs = J.seq(doc.get("requirements", []), root / "requirements")
    for i, r in enumerate(reqs):
        pair = J.seq(r, root / "requirements" / i)
        if len(pair) != 2:
            raise J.fail(root / "requirements" / i, "expected [expression, reason]")
        p.requirements.append((J.expr(pair[0], root / "requirements" / i / 0),
                               J.text(pair[1], root / "requirements" / i / 1, 1000)))
    sp = doc.get("symbol_params", {})
    if not isinstance(sp, dict):
        raise J.fail(root / "symbol_params", "expected an object")
    p.symbol_params = {J.ident(k, root / "symbol_params"): J.integer(v, root / "symbol_params" / k)
                       for k, v in sp.items()}
    for i, c in enumerate(J.seq(doc.get("closure_args", []), root / "closure_args")):
        at = root / "closure_args" / i
        J.fields(c, at, ("name", "values"))
        name = J.ident(c["name"], at / "name")
        if c["values"] is not None:
            J.text(c["values"], at / "values", 1 << 40)
        try:
            p.closure_args[name] = _array_from(p, name, c["values"])
        except IRError as exc:
            raise J.fail(at, str(exc)) from None
    try:
        p.check_calling_convention()
    except IRError as exc:
        raise J.fail(root, str(exc)) from None
    return p


def _array_from(p: Any, name: str, text: Optional[str]) -> Optional[np.ndarray]:
    """A closure array's value from its base64 bytes; dtype and (constant) shape are its descriptor's."""
    if text is None:
        return None
    desc = p.data.get(name)
    if not isinstance(desc, Array) or not all(s.is_Integer and s >= 0 for s in desc.shape):
        raise IRError(f"closure argument {name!r} is not an array of constant shape")
    shape = tuple(int(s) for s in desc.shape)
    expected = int(np.prod(shape, dtype=object)) * desc.dtype.itemsize
    if len(text) != 4 * ((expected + 2) // 3):
        raise IRError(f"closure argument {name!r}: expected {expected} bytes of base64 values")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise IRError(f"closure argument {name!r}: its values are not base64: {exc}") from None
    if len(raw) != expected:
        raise IRError(f"closure argument {name!r}: {len(raw)} bytes of values, expected {expected}")
    little = desc.dtype.numpy.newbyteorder("<")
    return np.frombuffer(raw, dtype=little).astype(desc.dtype.numpy).reshape(shape)


def _history_from(x: Any, path: J.Path) -> list[dict[str, Any]]:
    """The transformation history: a list of objects (plain JSON values, shown, never run)."""
    out = J.seq(x, path)
    for i, h in enumerate(out):
        if not isinstance(h, dict):
            raise J.fail(path / i, "a history entry must be an object")
    try:
        return validate_history(out)
    except IRError as exc:
        raise J.fail(path, str(exc)) from None


def _data_from(d: Any, path: J.Path) -> tuple[str, Any]:
    kind = J.choice(J.fields(d, path, ("name", "kind", "dtype", "transient", "storage"),
                             ("shape", "strides", "offset", "view_of")).get("kind"), path / "kind",
                    ("scalar", "array"))
    name = J.ident(d["name"], path / "name")
    dtype = dtype_of(J.choice(d["dtype"], path / "dtype", tuple(BY_NAME)))
    transient = J.boolean(d["transient"], path / "transient")
    storage = Storage(J.choice(d["storage"], path / "storage", tuple(s.value for s in Storage)))
    if kind == "scalar":
        J.fields(d, path, ("name", "kind", "dtype", "transient", "storage"))
        return name, Scalar(dtype, transient=transient, storage=storage)
    J.fields(d, path, ("name", "kind", "dtype", "transient", "storage", "shape", "strides", "offset", "view_of"))
    shape = tuple(J.expr(s, path / "shape" / i) for i, s in enumerate(J.seq(d["shape"], path / "shape")))
    strides = tuple(J.expr(s, path / "strides" / i) for i, s in enumerate(J.seq(d["strides"], path / "strides")))
    if len(strides) != len(shape):
        raise J.fail(path / "strides", f"{len(strides)} strides for rank {len(shape)}")
    for i, s in enumerate(shape):
        if s.is_number and not (s.is_Integer and s >= 0):
            raise J.fail(path / "shape" / i, f"extent {s} is not a non-negative integer")
    return name, Array(dtype, shape, strides=strides, storage=storage, transient=transient,
                       view_of=J.opt_ident(d["view_of"], path / "view_of"),
                       offset=J.expr(d["offset"], path / "offset"))


@functools.lru_cache(maxsize=4096)
def _parse_range(text: str) -> Range:
    return Range.parse(text)          # Ranges are immutable: sharing parsed ones is safe


def _range_from(x: Any, path: J.Path) -> Range:
    try:
        if isinstance(x, str):
            return _parse_range(J.text(x, path, J.MAX_TEXT))
        parts = J.seq(x, path)
        if len(parts) != 3:
            raise J.fail(path, "a range is its text or [start, stop, step]")
        return Range(*(J.expr(t, path / i) for i, t in enumerate(parts)))
    except IRError as exc:
        if str(exc).startswith("IR JSON"):
            raise
        raise J.fail(path, str(exc)) from None


def _subset_from(x: Any, path: J.Path) -> Optional[Subset]:
    if x is None:
        return None
    if isinstance(x, str):
        text = J.text(x, path).strip()
        if not text:
            return Subset(())
        return Subset(tuple(_range_from(p, path) for p in split_top_level(text, ",")))
    return Subset(tuple(_range_from(r, path / i) for i, r in enumerate(J.seq(x, path))))


def _cond_from(x: Any, path: J.Path) -> Any:
    try:
        return tl.parse_expr(J.text(x, path))
    except (IRError, ValueError) as exc:
        raise J.fail(path, str(exc)) from None


_MAX_NESTING = 200


def _block_from(p: Any, block: Block, items: Any, path: J.Path, depth: int) -> None:
    if depth > _MAX_NESTING:
        raise J.fail(path, f"control flow nested deeper than {_MAX_NESTING} levels")
    for i, it in enumerate(J.seq(items, path)):
        at = path / i
        if not isinstance(it, dict):
            raise J.fail(at, "expected an object")
        kind = J.choice(it.get("type"), at / "type", ("state", "loop", "branch", "while"))
        if kind == "state":
            block.items.append(_state_from(p, it, at))
        elif kind == "loop":
            J.fields(it, at, ("type", "var", "start", "stop", "step", "body"))
            loop = block.add_loop(J.ident(it["var"], at / "var"), J.expr(it["start"], at / "start"),
                                  J.expr(it["stop"], at / "stop"), J.expr(it["step"], at / "step"))
            _block_from(p, loop.body, it["body"], at / "body", depth + 1)
        elif kind == "branch":
            J.fields(it, at, ("type", "cond", "then", "else"))
            br = block.add_branch(_cond_from(it["cond"], at / "cond"))
            _block_from(p, br.then_body, it["then"], at / "then", depth + 1)
            _block_from(p, br.else_body, it["else"], at / "else", depth + 1)
        else:
            J.fields(it, at, ("type", "cond", "body"))
            w = block.add_while(_cond_from(it["cond"], at / "cond"))
            _block_from(p, w.body, it["body"], at / "body", depth + 1)


_SCHEDULES = tuple(s.value for s in Schedule)


def _map_from(m: Any, path: J.Path) -> Map:
    J.fields(m, path, ("label", "params", "ranges", "schedule", "hints"), MAP_SCHEDULE_FIELDS)
    params = J.idents(m["params"], path / "params")
    ranges = [_range_from(r, path / "ranges" / i) for i, r in enumerate(J.seq(m["ranges"], path / "ranges"))]
    if not params or len(params) != len(ranges):
        raise J.fail(path, f"{len(params)} parameters and {len(ranges)} ranges (one range per parameter, "
                           "at least one)")
    hints = m["hints"]
    if not isinstance(hints, dict):
        raise J.fail(path / "hints", "expected an object")
    out = Map(J.label(m["label"], path / "label"), params, ranges,
              Schedule(J.choice(m["schedule"], path / "schedule", _SCHEDULES)), dict(hints))
    if "parallel_threshold" in m:
        out.parallel_threshold = J.integer(m["parallel_threshold"], path / "parallel_threshold")
    if "chunk" in m:
        out.chunk = J.integer(m["chunk"], path / "chunk", 1, 1 << 30)
    return out


def _library_from(nd: Any, path: J.Path) -> LibraryNode:
    J.fields(nd, path, ("id", "type", "class", "name", "implementation", "properties"))
    cls = LibraryNode.kinds.get(nd["class"]) if isinstance(nd["class"], str) else None
    if cls is None or cls.__name__.startswith("_"):
        known = ", ".join(sorted(k for k in LibraryNode.kinds if not k.startswith("_")))
        raise J.fail(path / "class", f"unknown library node class {nd['class']!r} (known: {known})")
    name = J.label(nd["name"], path / "name")
    impl = nd["implementation"]
    if impl is not None:
        J.choice(impl, path / "implementation", cls.implementations)
    props = nd["properties"]
    if not isinstance(props, dict):
        raise J.fail(path / "properties", "expected an object")
    at = path / "properties"
    if cls.__name__ == "MatMul":
        J.fields(props, at, (), ("alpha", "beta", "epilogue", "row_blocks"))
        props = dict(props)
        if "row_blocks" in props:
            J.integer(props["row_blocks"], at / "row_blocks", 1, 1 << 16)
        for key in ("alpha", "beta"):
            if key in props:
                props[key] = J.number(props[key], at / key)
        if props.get("epilogue") is not None:
            props["epilogue"] = _epilogue_from(props["epilogue"], at / "epilogue")
    elif cls.__name__ == "Reduce":
        J.fields(props, at, (), ("op", "axes"))
        if "op" in props:
            J.text(props["op"], at / "op", 20)
        if "axes" in props:
            [J.integer(a, at / "axes" / i, 0, 64) for i, a in enumerate(J.seq(props["axes"], at / "axes"))]
    try:
        return cls(name, implementation=impl, **props)
    except (IRError, TypeError, ValueError) as exc:
        raise J.fail(path, f"{cls.__name__}: {exc}") from None


def _epilogue_from(x: Any, path: J.Path) -> Any:
    from flowc.ir.epilogue import Epilogue

    J.fields(x, path, ("code", "reads"))
    code = _code_from(x["code"], path / "code")
    reads = []
    for i, r in enumerate(J.seq(x["reads"], path / "reads")):
        pair = J.seq(r, path / "reads" / i)
        if len(pair) != 2:
            raise J.fail(path / "reads" / i, "expected [connector, [index, ...]]")
        idx = tuple(J.expr(e, path / "reads" / i / 1 / k) for k, e in enumerate(J.seq(pair[1], path / "reads" / i / 1)))
        reads.append((J.ident(pair[0], path / "reads" / i / 0), idx))
    return Epilogue(code, tuple(reads))


def _code_from(x: Any, path: J.Path) -> Any:
    try:
        return tl.Code.parse(J.text(x, path))
    except (IRError, ValueError) as exc:
        raise J.fail(path, str(exc)) from None


def _state_from(p: Any, d: dict[str, Any], path: J.Path) -> State:
    J.fields(d, path, ("type", "name", "next_id", "maps", "nodes", "edges"))
    name = J.label(d["name"], path / "name")
    if name in p._state_names:
        raise J.fail(path / "name", f"a second state named {name!r}")
    st = State(name, p)
    p._state_names.add(name)
    next_id = J.integer(d["next_id"], path / "next_id")
    maps = [_map_from(m, path / "maps" / i) for i, m in enumerate(J.seq(d["maps"], path / "maps"))]
    by_id: dict[int, Node] = {}
    for i, nd in enumerate(J.seq(d["nodes"], path / "nodes")):
        at = path / "nodes" / i
        if not isinstance(nd, dict):
            raise J.fail(at, "expected an object")
        kind = J.choice(nd.get("type"), at / "type", ("access", "tasklet", "map_entry", "map_exit", "library"))
        node: Node
        if kind == "access":
            J.fields(nd, at, ("id", "type", "data"))
            node = AccessNode(J.ident(nd["data"], at / "data"))
        elif kind == "tasklet":
            J.fields(nd, at, ("id", "type", "name", "inputs", "outputs", "code"))
            node = Tasklet(J.label(nd["name"], at / "name"), J.idents(nd["inputs"], at / "inputs"),
                           J.idents(nd["outputs"], at / "outputs"), _code_from(nd["code"], at / "code"))
        elif kind in ("map_entry", "map_exit"):
            J.fields(nd, at, ("id", "type", "map"))
            m = maps[J.integer(nd["map"], at / "map", 0, len(maps) - 1)] if maps else None
            if m is None:
                raise J.fail(at / "map", "the state has no maps")
            node = MapEntry(m) if kind == "map_entry" else MapExit(m)
        else:
            node = _library_from(nd, at)
        node.id = J.integer(nd["id"], at / "id", 0, max(next_id - 1, 0))
        if node.id >= next_id:
            raise J.fail(at / "id", f"node id {node.id} is not below next_id {next_id}")
        if node.id in by_id:
            raise J.fail(at / "id", f"node id {node.id} appears twice")
        by_id[node.id] = node
        st.graph.add_node(node)
    st._next_id = next_id
    for i, ed in enumerate(J.seq(d["edges"], path / "edges")):
        at = path / "edges" / i
        J.fields(ed, at, ("src", "src_conn", "dst", "dst_conn", "key", "memlet"))
        ends = []
        for end in ("src", "dst"):
            nid = J.integer(ed[end], at / end)
            if nid not in by_id:
                raise J.fail(at / end, f"no node with id {nid} in this state")
            ends.append(by_id[nid])
        m = ed["memlet"]
        if m is None:
            memlet = Memlet(None)
        else:
            J.fields(m, at / "memlet", ("data", "subset", "wcr", "other_subset"))
            wcr = m["wcr"]
            if wcr is not None:
                J.choice(wcr, at / "memlet" / "wcr", WCR_OPS)
            memlet = Memlet(J.ident(m["data"], at / "memlet" / "data"),
                            _subset_from(m["subset"], at / "memlet" / "subset"), wcr,
                            _subset_from(m["other_subset"], at / "memlet" / "other_subset"))
        key = J.integer(ed["key"], at / "key")
        if st.graph.has_edge(ends[0], ends[1], key):
            raise J.fail(at / "key", f"a second edge {ed['src']} -> {ed['dst']} with key {key}")
        st.graph.add_edge(ends[0], ends[1], key=key, src_conn=J.opt_ident(ed["src_conn"], at / "src_conn"),
                          dst_conn=J.opt_ident(ed["dst_conn"], at / "dst_conn"), memlet=memlet)
    touch = getattr(st, "touch", None)        # built through the graph directly: drop cached analyses
    if touch is not None:
        touch()
    return st
