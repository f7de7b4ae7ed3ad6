"""Structured control flow: blocks of states, counted loops, branches, while loops.

A program's body is a ``Block``: an ordered list whose items are ``State``
(one dataflow graph, run to completion), ``Loop`` (``for var in
range(start, stop, step)``; ``var`` is an integer symbol inside the body),
``Branch`` (``if cond: ... else: ...``) and ``While``. Conditions are
tasklet-language expressions over symbols and ``Scalar`` containers.
Structured (not a state machine) so code generation is a direct walk and
loops stay analyzable for data-movement counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

import sympy

from flowc.ir import expr as tl
from flowc.ir.state import State
from flowc.ir.symbolic import Expr, as_expr

if TYPE_CHECKING:
    from flowc.ir.program import Program


def _as_cond(cond: Any) -> tl.Node:
    return tl.parse_expr(cond) if isinstance(cond, str) else cond


class Loop:
    def __init__(self, program: Optional["Program"], var: str, start: Any, stop: Any, step: Any = 1):
        self.var = var
        self.start: Expr = as_expr(start)
        self.stop: Expr = as_expr(stop)
        self.step: Expr = as_expr(step)
        self.body = Block(program)

    def trip_count(self) -> Expr:
        if self.step == 1:
            return sympy.Max(self.stop - self.start, 0)
        return sympy.Max(sympy.ceiling((self.stop - self.start) / self.step), 0)

    def __repr__(self) -> str:
        return f"Loop({self.var} in {self.start}:{self.stop}:{self.step})"


class Branch:
    def __init__(self, program: Optional["Program"], cond: Any):
        self.cond = _as_cond(cond)
        self.then_body = Block(program)
        self.else_body = Block(program)

    def __repr__(self) -> str:
        return f"Branch(if {tl.to_text(self.cond)})"


class While:
    def __init__(self, program: Optional["Program"], cond: Any):
        self.cond = _as_cond(cond)
        self.body = Block(program)

    def __repr__(self) -> str:
        return f"While({tl.to_text(self.cond)})"


ControlNode = Union[State, Loop, Branch, While]


class Block:
    """An ordered sequence of control-flow items."""

    def __init__(self, program: Optional["Program"] = None):
        self.program = program
        self.items: list[ControlNode] = []

    def _state_name(self, name: Optional[str]) -> str:
        if self.program is None:
            return name or f"state_{len(self.items)}"
        return self.program.unique_state_name(name or "state")

    def add_state(self, name: Optional[str] = None) -> State:
        st = State(self._state_name(name), self.program)
        self.items.append(st)
        return st

    def add_loop(self, var: str, start: Any, stop: Any, step: Any = 1) -> Loop:
        loop = Loop(self.program, var, start, stop, step)
        self.items.append(loop)
        return loop

    def add_branch(self, cond: Any) -> Branch:
        br = Branch(self.program, cond)
        self.items.append(br)
        return br

    def add_while(self, cond: Any) -> While:
        w = While(self.program, cond)
        self.items.append(w)
        return w

    def walk(self) -> Iterator[ControlNode]:
        """Every control-flow item, depth first, in program order."""
        for item in self.items:
            yield item
            for child in child_blocks(item):
                yield from child.walk()

    def states(self) -> Iterator[State]:
        for item in self.walk():
            if isinstance(item, State):
                yield item

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


def child_blocks(item: ControlNode) -> list[Block]:
    if isinstance(item, Loop) or isinstance(item, While):
        return [item.body]
    if isinstance(item, Branch):
        return [item.then_body, item.else_body]
    return []
