"""The nodes of a state's dataflow graph.

- ``AccessNode``: a read or write of a named container at this point.
- ``Tasklet``: a scalar computation in the tasklet language (``expr.Code``)
  with named input and output connectors; every connector moves one element.
- ``MapEntry``/``MapExit``: the two ends of a parametric parallel scope. The
  nodes between them run once per point of ``params`` over ``ranges``; edges
  cross the scope through connector pairs ``IN_x``/``OUT_x``.
- ``LibraryNode``: a whole operation (MatMul, Reduce, ...) that code
  generation calls a tuned library for, or that expands into maps.

Nodes are plain objects compared by identity; a state numbers them (``id``)
for JSON and for messages.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from flowc.ir.errors import IRError
from flowc.ir.expr import Code
from flowc.ir.symbolic import Range

#: prefixes of the connectors by which data enters (``IN_x``) and leaves (``OUT_x``) a map entry or exit
IN_PREFIX, OUT_PREFIX = "IN_", "OUT_"


@dataclass(frozen=True)
class ScopeConnector:
    """A connector of a map entry or exit: data named ``name`` enters the node by ``IN_name``
    (``incoming``) and leaves it by ``OUT_name``. The pair ``IN_x``/``OUT_x`` is one path
    through the scope boundary; ``partner`` is the other end of that path on the same node.

    Edges store connectors as text (that is the JSON form); this is the one place that
    text is built and taken apart."""

    incoming: bool
    name: str

    @staticmethod
    def parse(text: Optional[str]) -> Optional["ScopeConnector"]:
        """The connector ``text`` names, or None if it is not an ``IN_``/``OUT_`` connector."""
        if text is None:
            return None
        if text.startswith(IN_PREFIX) and len(text) > len(IN_PREFIX):
            return ScopeConnector(True, text[len(IN_PREFIX):])
        if text.startswith(OUT_PREFIX) and len(text) > len(OUT_PREFIX):
            return ScopeConnector(False, text[len(OUT_PREFIX):])
        return None

    @property
    def partner(self) -> "ScopeConnector":
        return ScopeConnector(not self.incoming, self.name)

    def __str__(self) -> str:
        return (IN_PREFIX if self.incoming else OUT_PREFIX) + self.name


def in_connector(name: str) -> str:
    """``IN_name``: where data named ``name`` enters a map entry or exit."""
    return IN_PREFIX + name


def out_connector(name: str) -> str:
    """``OUT_name``: where data named ``name`` leaves a map entry or exit."""
    return OUT_PREFIX + name


def connector_name(text: Optional[str]) -> str:
    """The ``x`` of ``IN_x`` or ``OUT_x``; an IRError for any other connector."""
    conn = ScopeConnector.parse(text)
    if conn is None:
        raise IRError(f"{text!r} is not a map connector (IN_<name> or OUT_<name>)")
    return conn.name


def partner_connector(text: Optional[str]) -> str:
    """``OUT_x`` for ``IN_x`` and ``IN_x`` for ``OUT_x``: the other end of the path through the node."""
    conn = ScopeConnector.parse(text)
    if conn is None:
        raise IRError(f"{text!r} is not a map connector (IN_<name> or OUT_<name>)")
    return str(conn.partner)


class Schedule(str, enum.Enum):
    """How a map's iterations run. DEFAULT lets code generation decide
    (outermost map parallel, nested maps sequential)."""

    DEFAULT = "default"
    SEQUENTIAL = "sequential"
    CPU_MULTICORE = "cpu_multicore"
    GPU_DEVICE = "gpu_device"
    GPU_THREAD_BLOCK = "gpu_thread_block"


class Node:
    id: int = -1

    @property
    def label(self) -> str:
        return type(self).__name__

    def in_connectors(self) -> Optional[set[str]]:
        """Connectors edges may enter by; None: any (checked elsewhere)."""
        return set()

    def out_connectors(self) -> Optional[set[str]]:
        return set()

    def clone(self, maps: dict[int, "Map"]) -> "Node":
        """A copy for ``Program.clone``: lists, dicts and sets a transformation might change in
        place are copied; everything else (tasklet code, epilogues, names) is immutable and
        shared. ``maps`` holds the copies of the maps seen so far (by ``id``), so that an
        entry and its exit keep sharing one ``Map``."""
        new = object.__new__(type(self))
        d = self.__dict__.copy()
        for k, v in d.items():
            if type(v) in (list, dict, set):
                d[k] = v.copy()
        new.__dict__ = d
        return new

    def __repr__(self) -> str:
        return f"{self.label} (node {self.id})"


class AccessNode(Node):
    def __init__(self, data: str):
        self.data = data

    @property
    def label(self) -> str:
        return self.data

    def in_connectors(self) -> Optional[set[str]]:
        return None

    def out_connectors(self) -> Optional[set[str]]:
        return None

    def __repr__(self) -> str:
        return f"access node {self.data!r} (node {self.id})"


class Tasklet(Node):
    def __init__(self, name: str, inputs: Sequence[str], outputs: Sequence[str], code: Any):
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.code = code if isinstance(code, Code) else Code.parse(code)

    @property
    def label(self) -> str:
        return self.name

    def in_connectors(self) -> set[str]:
        return set(self.inputs)

    def out_connectors(self) -> set[str]:
        return set(self.outputs)

    def __repr__(self) -> str:
        return f"tasklet {self.name!r} (node {self.id})"


@dataclass(eq=False)
class Map:
    """A parallel scope's parameters, ranges and schedule (shared by entry and exit)."""

    label: str
    params: list[str]
    ranges: list[Range]
    schedule: Schedule = Schedule.DEFAULT
    #: tile sizes etc. that transformations attach for code generation
    hints: dict[str, Any] = field(default_factory=dict)
    #: CPU: the work (elements the scope touches) from which a parallel map uses the thread
    #: pool; below it one thread runs it. None: the code generator's default (``MapSchedule``)
    parallel_threshold: Optional[int] = None
    #: CPU: iterations per dynamically scheduled chunk; None: a static, even split
    chunk: Optional[int] = None

    def __str__(self) -> str:
        return f"{self.label}[{', '.join(f'{p}={r}' for p, r in zip(self.params, self.ranges))}]"

    def copy(self) -> "Map":
        """An independent copy (ranges are immutable and shared; hints, JSON values, are copied)."""
        new = object.__new__(Map)
        new.__dict__ = {**self.__dict__, "params": list(self.params), "ranges": list(self.ranges),
                        "hints": _copy_json(self.hints)}
        return new


def _copy_json(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    return copy.deepcopy(value) if type(value) not in (str, int, float, bool, type(None)) else value


def _clone_scope_node(node: "MapEntry | MapExit", maps: dict[int, Map]) -> "MapEntry | MapExit":
    new = object.__new__(type(node))
    new.__dict__ = node.__dict__.copy()
    m = maps.get(id(node.map))
    if m is None:
        m = maps[id(node.map)] = node.map.copy()
    new.map = m
    return new


class MapEntry(Node):
    def __init__(self, map_: Map):
        self.map = map_

    def clone(self, maps: dict[int, Map]) -> "MapEntry":
        return _clone_scope_node(self, maps)

    @property
    def label(self) -> str:
        return f"{self.map}"

    def in_connectors(self) -> None:
        return None

    def out_connectors(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"map entry {self.map.label!r} (node {self.id})"


class MapExit(Node):
    def __init__(self, map_: Map):
        self.map = map_

    def clone(self, maps: dict[int, Map]) -> "MapExit":
        return _clone_scope_node(self, maps)

    @property
    def label(self) -> str:
        return f"end {self.map.label}"

    def in_connectors(self) -> None:
        return None

    def out_connectors(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"map exit {self.map.label!r} (node {self.id})"


class LibraryNode(Node):
    """Base of library nodes. Subclasses define their connectors, their
    semantics (``reference``) and ``expand`` into plain maps."""

    #: registry of subclasses by class name, for JSON
    kinds: dict[str, type["LibraryNode"]] = {}
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    implementations: tuple[str, ...] = ("pure",)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        LibraryNode.kinds[cls.__name__] = cls

    def __init__(self, name: str, implementation: Optional[str] = None):
        self.name = name
        self.implementation = implementation or self.implementations[0]

    @property
    def label(self) -> str:
        return f"{type(self).__name__} {self.name}"

    def in_connectors(self) -> set[str]:
        return set(self.inputs)

    def out_connectors(self) -> set[str]:
        return set(self.outputs)

    def properties(self) -> dict[str, Any]:
        """JSON-serializable parameters (besides name and implementation)."""
        return {}

    def __repr__(self) -> str:
        return f"library node {self.label!r} (node {self.id})"
