"""The transformation framework.

A transformation is a *pattern* (``candidates``: places in a program it could
apply), a check (``can_apply``: whether rewriting there preserves semantics),
and a rewrite (``apply``). A ``Match`` names the state and node ids, so it is
printable, serializable into the program's history, and stable while the
program is not changed elsewhere.

    ir.matches(MapFusion)            # where it applies (notebook-friendly)
    ir.apply(MapFusion)              # everywhere, until no match is left
    ir.apply(MapFusion, match)       # at one place
    ir.apply(MapTiling(tile=64))     # transformations with options are instances
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Optional, Union

from flowc.ir.errors import IRError
from flowc.ir.nodes import Node
from flowc.ir.program import Program
from flowc.ir.state import State


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
        return {"state": self.state, "nodes": list(self.nodes), "info": self.info}

    def __str__(self) -> str:
        return f"{self.transformation} in {self.state} at nodes {list(self.nodes)}" + \
            (f": {self.info}" if self.info else "")


class Transformation(abc.ABC):
    """Base class. Subclasses implement ``candidates`` and ``apply``, and ``can_apply``
    wherever a candidate is not always legal."""

    #: fixed-point application stops after this many rewrites (guards against ping-pong)
    max_rewrites: ClassVar[int] = 10_000

    @abc.abstractmethod
    def candidates(self, program: Program) -> Iterator[Match]:
        """The pattern: every place the transformation could apply."""

    def can_apply(self, program: Program, match: Match) -> bool:
        return True

    @abc.abstractmethod
    def apply(self, program: Program, match: Match) -> None:
        """The rewrite at one match (``can_apply`` holds there)."""

    # ------------------------------------------------------------ helpers for subclasses
    def match(self, state: State, *nodes: Node, info: str = "", data: Optional[str] = None) -> Match:
        return Match(type(self).__name__, state.name, tuple(n.id for n in nodes), info, data)

    @staticmethod
    def resolve(program: Program, match: Match) -> tuple[State, list[Node]]:
        for st in program.states():
            if st.name == match.state:
                return st, [st.node_by_id(i) for i in match.nodes]
        raise IRError(f"{match}: no state named {match.state!r}")

    # ------------------------------------------------------------ driver
    def matches(self, program: Program) -> list[Match]:
        return [m for m in self.candidates(program) if self.can_apply(program, m)]

    def apply_at(self, program: Program, match: Match) -> Match:
        if not self.can_apply(program, match):
            raise IRError(f"{match} does not apply (any more)")
        self.apply(program, match)
        program.history.append({"transformation": type(self).__name__, "options": self.options(),
                                **match.to_dict()})
        return match

    def apply_everywhere(self, program: Program) -> list[Match]:
        applied: list[Match] = []
        while len(applied) < self.max_rewrites:
            found = next((m for m in self.candidates(program) if self.can_apply(program, m)), None)
            if found is None:
                break
            applied.append(self.apply_at(program, found))
        return applied

    def options(self) -> dict[str, Any]:
        """The options this instance was made with (recorded in the history)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


TransformationLike = Union[Transformation, type]


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
        return [t.apply_at(program, match)]
    return t.apply_everywhere(program)


def matches(program: Program, transformation: TransformationLike, **options: Any) -> list[Match]:
    return as_transformation(transformation, **options).matches(program)
