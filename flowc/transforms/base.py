"""The transformation framework.

One contract for every transformation::

    t.matches(program)            # where it applies now: a list of Match
    t.why_not(program, match)     # None if it applies at ``match``, else the reason
    t.apply(program, match)       # rewrite at ``match`` only, and record it in program.history

A subclass implements three methods: ``candidates`` (the pattern: every place it
could apply), ``plan`` (the legality check; returns what the rewrite needs, or raises
``NotApplicable`` with the reason) and ``rewrite`` (the change at one match, given the
plan). Its options — tile sizes, dimension orders, how many map levels to split — are
typed dataclass fields, checked when the transformation is made, and recorded with every
match it is applied at::

    {"transformation": "MapTiling", "params": {"tile": 64, "dims": [0]},
     "match": {"state": "s0", "nodes": [3], "labels": ["tile_me[i=0:N, j=0:M]"]}}

A ``Match`` names the state, the ids of the pattern's nodes and their labels, so it is
printable, stable while the program is not changed elsewhere, and the same in a fresh
lowering of the same program: ``replay(program, history)`` applies a recorded history
again (``flowc.ir.history`` checks entries read from JSON).

    ir.matches(MapFusion)            # where it applies (notebook-friendly)
    ir.apply(MapFusion)              # everywhere, until no match is left
    ir.apply(MapFusion, match)       # at one place
    ir.apply(MapTiling(tile=64))     # transformations with parameters are instances
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import functools
import numbers
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator, Optional, Union

from flowc.ir import history as ir_history
from flowc.ir.errors import IRError
from flowc.ir.nodes import Node
from flowc.ir.program import Program
from flowc.ir.state import State


class NotApplicable(Exception):
    """Raised by ``Transformation.plan``: the transformation does not apply at this match
    (the message says why)."""


@dataclass(frozen=True)
class Match:
    """Where a transformation applies: a state and the ids of the pattern's nodes, and
    ``data``, the container the match is about where there is one (the intermediate a
    fusion removes, the transient ``LocalStorage`` shrinks)."""

    transformation: str
    state: str
    nodes: tuple[int, ...]
    info: str = field(default="", compare=False)
    data: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "nodes": list(self.nodes)}

    def __str__(self) -> str:
        return f"{self.transformation} in {self.state} at nodes {list(self.nodes)}" + \
            (f": {self.info}" if self.info else "")


# ---------------------------------------------------------------- typed parameters

def _check_value(name: str, value: Any, tp: Any) -> Any:
    """``value`` as a field of type ``tp`` stores it (a list or tuple for a tuple field: JSON
    has no tuples); a TypeError or ValueError naming the parameter if it is not one."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _check_value(name, value, inner[0])
    if origin is typing.Literal:
        if not any(type(value) is type(a) and value == a for a in args):
            raise ValueError(f"parameter {name!r} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"parameter {name!r} must be a sequence, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = [args[0]] * len(value)
        elif len(args) != len(value):
            raise ValueError(f"parameter {name!r} must have {len(args)} items, got {len(value)}")
        else:
            items = list(args)
        return tuple(_check_value(f"{name}[{i}]", v, t) for i, (v, t) in enumerate(zip(value, items)))
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"parameter {name!r} must be a bool, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"parameter {name!r} must be an int, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"parameter {name!r} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"parameter {name!r} must be a string, got {value!r}")
        return value
    raise TypeError(f"parameter {name!r}: type {tp!r} is not a serializable parameter type "
                    "(use bool, int, float, str, Literal, Optional or tuple[...])")


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


# ---------------------------------------------------------------- the base class

class Transformation(abc.ABC):
    """Base class of every transformation (see the module docstring for the contract).

    Parameters are fields of a ``@dataclass(frozen=True)`` subclass with bool, int, float,
    str, ``Literal[...]``, ``Optional[...]`` or ``tuple[..., ...]`` types; they are checked
    on construction (``__post_init__``; a subclass that adds its own checks calls
    ``super().__post_init__()``) and serialized by ``params()``."""

    #: every transformation class by name (for replay and for checking histories)
    registry: ClassVar[dict[str, type["Transformation"]]] = {}
    #: fixed-point application stops after this many rewrites (guards against ping-pong)
    max_rewrites: ClassVar[int] = 10_000

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.__name__.startswith("_"):
            return
        Transformation.registry[cls.__name__] = cls
        ir_history.register(cls.__name__, cls.from_params)

    def __post_init__(self) -> None:
        hints = _param_types(type(self))
        for f in dataclasses.fields(self):   # type: ignore[arg-type]
            object.__setattr__(self, f.name, _check_value(f.name, getattr(self, f.name), hints[f.name]))

    # ------------------------------------------------------------ what subclasses implement
    @abc.abstractmethod
    def candidates(self, program: Program) -> Iterator[Match]:
        """The pattern: every place the transformation could apply."""

    def plan(self, program: Program, match: Match) -> Any:
        """The legality check at ``match``: what ``rewrite`` needs, or ``NotApplicable``
        (raised with the reason). The default: always applicable, nothing to plan."""
        return None

    @abc.abstractmethod
    def rewrite(self, program: Program, match: Match, plan: Any) -> None:
        """The change at ``match`` only (``plan`` is what ``plan`` returned there)."""

    # ------------------------------------------------------------ the contract
    def why_not(self, program: Program, match: Match) -> Optional[str]:
        """None if the transformation applies at ``match``, else the reason it does not."""
        try:
            self.plan(program, match)
        except NotApplicable as exc:
            return str(exc)
        return None

    def can_apply(self, program: Program, match: Match) -> bool:
        return self.why_not(program, match) is None

    def matches(self, program: Program) -> list[Match]:
        """Every match where the transformation applies now (nothing is changed)."""
        return [m for m in self.candidates(program) if self.can_apply(program, m)]

    def apply(self, program: Program, match: Match) -> Match:
        """Rewrite at ``match`` (an IRError saying why if it does not apply) and record it."""
        entry = self.history_entry(program, match)       # the labels as matched, before the rewrite
        self.rewrite_at(program, match)
        program.history.append(entry)
        return match

    def apply_everywhere(self, program: Program) -> list[Match]:
        """Apply at the first match, then again, until none is left; returns what was applied."""
        applied: list[Match] = []
        while len(applied) < self.max_rewrites:
            found = next(iter(self.matches_lazily(program)), None)
            if found is None:
                break
            applied.append(self.apply(program, found))
        return applied

    # ------------------------------------------------------------ helpers
    def matches_lazily(self, program: Program) -> Iterator[Match]:
        return (m for m in self.candidates(program) if self.can_apply(program, m))

    def rewrite_at(self, program: Program, match: Match) -> None:
        """Plan and rewrite at ``match`` without recording it (for transformations composed
        of others: the composite is what the history records)."""
        try:
            plan = self.plan(program, match)
        except NotApplicable as exc:
            raise IRError(f"{match} does not apply (any more): {exc}") from exc
        self.rewrite(program, match, plan)

    def match(self, state: State, *nodes: Node, info: str = "", data: Optional[str] = None) -> Match:
        return Match(type(self).__name__, state.name, tuple(n.id for n in nodes), info, data)

    @staticmethod
    def resolve(program: Program, match: Match) -> tuple[State, list[Node]]:
        for st in program.states():
            if st.name == match.state:
                return st, [st.node_by_id(i) for i in match.nodes]
        raise IRError(f"{match}: no state named {match.state!r}")

    def history_entry(self, program: Program, match: Match) -> dict[str, Any]:
        """The JSON form of applying this transformation at ``match`` (``flowc.ir.history``)."""
        _, nodes = self.resolve(program, match)
        return {"transformation": type(self).__name__, "params": self.params(),
                "match": {**match.to_dict(), "labels": [n.label for n in nodes]}}

    # ------------------------------------------------------------ parameters
    def params(self) -> dict[str, Any]:
        """This instance's parameters as JSON values (recorded in the history)."""
        if not dataclasses.is_dataclass(self):
            return {}
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Transformation":
        """The instance ``params`` (a history entry's JSON) describes; IRError if it is not one."""
        names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise IRError(f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))} "
                          f"(parameters: {', '.join(names) or 'none'})")
        hints = _param_types(cls) if names else {}
        try:
            values = {k: _check_value(k, v, hints[k]) for k, v in params.items()}
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise IRError(f"{cls.__name__}: {exc}") from exc

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({opts})"


TransformationLike = Union[Transformation, type]


@functools.cache
def _param_types(cls: type) -> dict[str, Any]:
    """A transformation class's parameter types (resolving the annotations is slow; replaying a
    long history makes and checks hundreds of instances)."""
    return typing.get_type_hints(cls)


def as_transformation(t: TransformationLike, **options: Any) -> Transformation:
    if isinstance(t, type) and issubclass(t, Transformation):
        return t(**options)
    if isinstance(t, Transformation):
        if options:
            raise TypeError("pass options to the transformation's constructor, not with an instance")
        return t
    raise TypeError(f"{t!r} is not a flowc transformation")


def apply(program: Program, transformation: TransformationLike, match: Optional[Match] = None,
          **options: Any) -> list[Match]:
    """Apply at ``match``, or everywhere until no match is left; returns what was applied."""
    t = as_transformation(transformation, **options)
    if match is not None:
        return [t.apply(program, match)]
    return t.apply_everywhere(program)


def matches(program: Program, transformation: TransformationLike, **options: Any) -> list[Match]:
    return as_transformation(transformation, **options).matches(program)


def transformation_of(entry: dict[str, Any]) -> Transformation:
    """The transformation instance a history entry records."""
    entry = ir_history.validate_entry(entry)
    return Transformation.registry[entry["transformation"]].from_params(entry["params"])


def replay(program: Program, history: Iterable[dict[str, Any]]) -> Program:
    """Apply the recorded ``history`` to ``program`` (a fresh lowering of the program it was
    recorded on), entry by entry; returns ``program``. An entry that does not apply is an
    IRError naming it."""
    for i, entry in enumerate(list(history)):
        t = transformation_of(entry)
        m = entry["match"]
        match = Match(entry["transformation"], m["state"], tuple(m["nodes"]))
        try:
            _, nodes = t.resolve(program, match)
            found = [n.label for n in nodes]
            if found != m["labels"]:
                raise IRError(f"the nodes are {found}, not {m['labels']}: the history was recorded on another program")
            t.apply(program, match)
        except IRError as exc:
            raise IRError(f"replaying history entry {i} ({entry['transformation']}): {exc}") from exc
    return program
