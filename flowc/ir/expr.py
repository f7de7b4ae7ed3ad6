"""The tasklet language: scalar expressions, never arbitrary C++.

A tasklet's code is a sequence of assignments ``name = expr`` separated by
``;`` or newlines. Expressions use Python's operator syntax and precedence::

    out = where(x > 0.0f, x, 0.01f * x)
    t = a - m; e = exp(t); out = e

Literals: ``3`` (int64), ``1.5`` / ``1e-12`` (float64), ``1.5f`` (float32),
``True``/``False``, ``inf``, ``nan``. Functions are the ``FUNCTIONS`` table
and casts are dtype names (``float32(x)``). ``table[i, j]`` indexes an array
connector (data-dependent indexing). ``//`` and ``%`` follow Python
(floor) semantics; everything else follows C++ arithmetic on the connector
types, except that no integer operation traps: ``x / 0`` is 0 and
``MIN / -1`` wraps, as NumPy's integer division does. Code is parsed into a small immutable tree; its printed form is
canonical, so print → parse → print is the identity (that is the JSON form).

Control flow, for element code that iterates (a sequential loop inside a map body,
a Mandelbrot iteration, a CSR row's dot product)::

    s = 0.0; for k in range(lo, hi, 1) { s = s + a[i, k] * x[k] }; out = s
    if z > 4.0 { n = t; break } else { z = z * z }

``for v in range(start, stop, step) { ... }`` counts an int64 ``v`` (read-only in the
body, its name unique in the code) from ``start`` (bounds evaluated once, before the
first iteration) with a non-zero integer constant ``step``; ``if c { ... } else { ... }``
branches; ``break`` and ``continue`` act on the innermost loop. Blocks scope names as C
does: a name first assigned inside a block is not visible after it, so a value carried
out of a loop or branch is assigned before it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterator, Union

from flowc.ir import dtypes
from flowc.ir.errors import IRError

#: function name -> number of arguments
FUNCTIONS: dict[str, int] = {
    "exp": 1, "expm1": 1, "log": 1, "log1p": 1, "log2": 1, "log10": 1, "sqrt": 1,
    "tanh": 1, "sinh": 1, "cosh": 1, "sin": 1, "cos": 1, "tan": 1, "arcsin": 1,
    "arccos": 1, "arctan": 1, "erf": 1, "abs": 1, "floor": 1, "ceil": 1, "sign": 1,
    "isnan": 1, "isinf": 1, "rsqrt": 1, "conj": 1, "real": 1, "imag": 1, "angle": 1,
    "min": 2, "max": 2, "fmin": 2, "fmax": 2, "pow": 2, "arctan2": 2, "fmod": 2,
    "where": 3,
}
CASTS = {d.name for d in dtypes.ALL} | {"bool_"}

# Binary operators by precedence, lowest first (Python's order).
_BINARY_LEVELS: list[tuple[str, ...]] = [
    ("or",), ("and",), ("<", "<=", ">", ">=", "==", "!="),
    ("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/", "//", "%"),
]
_PREC = {op: i for i, level in enumerate(_BINARY_LEVELS) for op in level}
_UNARY_PREC = len(_BINARY_LEVELS)          # -x, ~x (not: between and/cmp)
_NOT_LEVEL = 2                             # 'not' is parsed just above comparisons
_NOT_PREC = 1.5                            # and binds looser than them
_POW_PREC = _UNARY_PREC + 1
_ATOM_PREC = _POW_PREC + 1


@dataclass(frozen=True)
class Const:
    value: Union[bool, int, float]
    dtype: str   # "bool", "int64", "float64", "float32"


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class UnaryOp:
    op: str      # "-", "~", "not", "+"
    operand: "Node"


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Call:
    func: str    # a FUNCTIONS name or a cast (dtype name)
    args: tuple["Node", ...]


@dataclass(frozen=True)
class Subscript:
    """``table[i, j]``: an element of an array connector (a connector whose
    memlet moves a whole block), indexed relative to the block's start.
    This is how data-dependent indexing (gathers) stays explicit: the memlet
    still says which block can be touched."""

    value: str
    indices: tuple["Node", ...]


Node = Union[Const, Name, UnaryOp, BinOp, Call, Subscript]


@dataclass(frozen=True)
class Assign:
    """``target = value``; with ``indices``, ``target[indices] = value``: a store into one
    element of the array *output* connector ``target`` (a connector whose memlet moves a whole
    block), indexed relative to the block's start, as ``Subscript`` reads one. This is how a
    write at a data-dependent index (a scatter, ``out[k] = v``) stays explicit: the memlet says
    which block can be written."""

    target: str
    value: Node
    indices: tuple[Node, ...] = ()

    def substitute(self, mapping: dict[str, "Node"]) -> "Assign":
        """``substitute`` in the value and the indices (the target keeps its name)."""
        return Assign(self.target, substitute(self.value, mapping),
                      tuple(substitute(i, mapping) for i in self.indices))

    def nodes(self) -> tuple[Node, ...]:
        """The expressions the statement evaluates: its indices, then its value."""
        return (*self.indices, self.value)

    def __str__(self) -> str:
        where = f"[{', '.join(to_text(i) for i in self.indices)}]" if self.indices else ""
        return f"{self.target}{where} = {to_text(self.value)}"


@dataclass(frozen=True)
class Loop:
    """``for var in range(start, stop, step) { body }``: a counted sequential loop. The bounds
    are evaluated once; ``step`` is a non-zero integer constant, so the direction is known."""

    var: str
    start: Node
    stop: Node
    step: int
    body: tuple["Stmt", ...]

    def substitute(self, mapping: dict[str, Node]) -> "Loop":
        inner = {k: v for k, v in mapping.items() if k != self.var}
        return Loop(self.var, substitute(self.start, mapping), substitute(self.stop, mapping), self.step,
                    tuple(s.substitute(inner) for s in self.body))

    def nodes(self) -> tuple[Node, ...]:
        """The expressions the loop evaluates: its bounds, then its body's."""
        return (self.start, self.stop, *(n for s in self.body for n in s.nodes()))

    def __str__(self) -> str:
        return (f"for {self.var} in range({to_text(self.start)}, {to_text(self.stop)}, {self.step}) "
                f"{_block_text(self.body)}")


@dataclass(frozen=True)
class If:
    """``if test { body } else { orelse }``."""

    test: Node
    body: tuple["Stmt", ...]
    orelse: tuple["Stmt", ...] = ()

    def substitute(self, mapping: dict[str, Node]) -> "If":
        return If(substitute(self.test, mapping), tuple(s.substitute(mapping) for s in self.body),
                  tuple(s.substitute(mapping) for s in self.orelse))

    def nodes(self) -> tuple[Node, ...]:
        return (self.test, *(n for s in (*self.body, *self.orelse) for n in s.nodes()))

    def __str__(self) -> str:
        text = f"if {to_text(self.test)} {_block_text(self.body)}"
        return text + (f" else {_block_text(self.orelse)}" if self.orelse else "")


@dataclass(frozen=True)
class _Jump:
    """A jump out of the innermost loop's iteration: it evaluates and names nothing."""

    def substitute(self, mapping: dict[str, Node]) -> "_Jump":
        return self

    def nodes(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class Break(_Jump):
    """``break``: leave the innermost loop."""

    def __str__(self) -> str:
        return "break"


@dataclass(frozen=True)
class Continue(_Jump):
    """``continue``: the innermost loop's next iteration."""

    def __str__(self) -> str:
        return "continue"


Stmt = Union[Assign, Loop, If, Break, Continue]


def _block_text(stmts: tuple[Stmt, ...]) -> str:
    return "{ " + "; ".join(str(s) for s in stmts) + " }" if stmts else "{ }"


def walk(stmts: tuple[Stmt, ...]) -> Iterator[Stmt]:
    """Every statement of ``stmts``, nested ones included, in program order."""
    for s in stmts:
        yield s
        if isinstance(s, Loop):
            yield from walk(s.body)
        elif isinstance(s, If):
            yield from walk(s.body)
            yield from walk(s.orelse)


@dataclass(frozen=True)
class Code:
    """A tasklet body: statements executed in order."""

    stmts: tuple[Stmt, ...]

    @staticmethod
    def parse(text: str) -> "Code":
        return _Parser(text).parse_code()

    def __str__(self) -> str:
        return "; ".join(str(s) for s in self.stmts)

    def substitute(self, mapping: dict[str, Node]) -> "Code":
        """``substitute`` in every expression (assignment targets and loop variables keep their names)."""
        return Code(tuple(s.substitute(mapping) for s in self.stmts))

    def assignments(self) -> list[Assign]:
        """Every assignment, nested ones included, in program order."""
        return [s for s in walk(self.stmts) if isinstance(s, Assign)]

    def expressions(self) -> list[Node]:
        """Every expression the code evaluates (indices, values, loop bounds, conditions)."""
        return [n for s in self.stmts for n in s.nodes()]

    def is_straight_line(self) -> bool:
        """Whether the code is assignments only (no loop, branch or jump)."""
        return all(isinstance(s, Assign) for s in self.stmts)

    def assigned(self) -> list[str]:
        """Names the code assigns (a stored-into array connector included)."""
        return [s.target for s in self.assignments()]

    def unconditionally_assigned(self) -> set[str]:
        """Names assigned (not stored into) by a top-level statement: set whenever the code runs."""
        return {s.target for s in self.stmts if isinstance(s, Assign) and not s.indices}

    def loop_vars(self) -> list[str]:
        """The loop variables, outermost first."""
        return [s.var for s in walk(self.stmts) if isinstance(s, Loop)]

    def stored(self) -> set[str]:
        """Array output connectors the code stores into (``out[k] = v``)."""
        return {s.target for s in self.assignments() if s.indices}

    def read_names(self) -> set[str]:
        """Names read before (or without) being assigned inside the code, with C's block
        scoping: a name first assigned inside a loop or branch is unknown after it, and a
        loop variable is known inside its loop only."""
        read: set[str] = set()

        def block(stmts: tuple[Stmt, ...], local: set[str]) -> None:
            local = set(local)
            for s in stmts:
                if isinstance(s, Assign):
                    read.update(n for node in s.nodes() for n in names(node) if n not in local)
                    local.add(s.target)
                elif isinstance(s, Loop):
                    read.update(n for node in (s.start, s.stop) for n in names(node) if n not in local)
                    block(s.body, local | {s.var})
                elif isinstance(s, If):
                    read.update(n for n in names(s.test) if n not in local)
                    block(s.body, local)
                    block(s.orelse, local)

        block(self.stmts, set())
        return read


def parse_expr(text: str) -> Node:
    parser = _Parser(text)
    node = parser.parse_expression()
    parser.expect_end()
    return node


def children(node: Node) -> tuple[Node, ...]:
    """The sub-expressions of ``node``."""
    if isinstance(node, UnaryOp):
        return (node.operand,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Subscript):
        return node.indices
    return ()


def names(node: Node) -> Iterator[str]:
    """Every name ``node`` reads (an indexed array connector included)."""
    if isinstance(node, Name):
        yield node.id
    elif isinstance(node, Subscript):
        yield node.value
    for child in children(node):
        yield from names(child)


def subscripted(node: Node) -> Iterator[str]:
    """Names used as arrays (``name[...]``) in ``node``."""
    if isinstance(node, Subscript):
        yield node.value
    for child in children(node):
        yield from subscripted(child)


def substitute(node: Node, mapping: dict[str, Node]) -> Node:
    """Replace names by expressions (used by fusion to inline producers)."""
    if isinstance(node, Name):
        return mapping.get(node.id, node)
    if isinstance(node, UnaryOp):
        return UnaryOp(node.op, substitute(node.operand, mapping))
    if isinstance(node, BinOp):
        return BinOp(node.op, substitute(node.left, mapping), substitute(node.right, mapping))
    if isinstance(node, Call):
        return Call(node.func, tuple(substitute(a, mapping) for a in node.args))
    if isinstance(node, Subscript):
        return Subscript(node.value, tuple(substitute(a, mapping) for a in node.indices))
    return node


# ---------------------------------------------------------------- printing

def _const_text(c: Const) -> str:
    if c.dtype == "bool":
        return "True" if c.value else "False"
    if c.dtype == "int64":
        return str(int(c.value))
    v = float(c.value)
    suffix = "f" if c.dtype == "float32" else ""
    if math.isinf(v):
        return ("-" if v < 0 else "") + "inf" + suffix
    if math.isnan(v):
        return "nan" + suffix
    text = repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    return text + suffix


def _prec(node: Node) -> int:
    if isinstance(node, BinOp):
        return _POW_PREC if node.op == "**" else _PREC[node.op]
    if isinstance(node, UnaryOp):
        return _NOT_PREC if node.op == "not" else _UNARY_PREC
    if isinstance(node, Const) and (str(node.value).startswith("-")):
        return _UNARY_PREC
    return _ATOM_PREC


def to_text(node: Node) -> str:
    """Canonical text with the fewest parentheses that parse back to ``node``."""
    if isinstance(node, Const):
        return _const_text(node)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, Subscript):
        return f"{node.value}[{', '.join(to_text(a) for a in node.indices)}]"
    if isinstance(node, UnaryOp):
        inner = to_text(node.operand)
        if _prec(node.operand) < _prec(node):
            inner = f"({inner})"
        if node.op == "not":
            return f"not {inner}"
        return f"{node.op} {inner}" if inner.startswith(node.op) else f"{node.op}{inner}"
    if isinstance(node, BinOp):
        if node.op == "**":
            left, right = to_text(node.left), to_text(node.right)
            if _prec(node.left) <= _POW_PREC:
                left = f"({left})"
            if _prec(node.right) < _UNARY_PREC:
                right = f"({right})"
            return f"{left} ** {right}"
        own = _PREC[node.op]
        left, right = to_text(node.left), to_text(node.right)
        if _prec(node.left) < own or (own == _PREC["<"] and _prec(node.left) == own):
            left = f"({left})"
        if _prec(node.right) <= own:
            right = f"({right})"
        return f"{left} {node.op} {right}"
    raise IRError(f"not a tasklet expression node: {node!r}")


# ---------------------------------------------------------------- parsing

_TOKEN = re.compile(r"""
    (?P<ws>[ \t]+)
  | (?P<newline>[\n;]+)
  | (?P<number>(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?f?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|//|<<|>>|<=|>=|==|!=|[-+*/%<>&|^~(),=\[\]{}])
""", re.VERBOSE)

#: words that start a statement (never a name assigned or a loop variable)
_KEYWORDS = {"for", "if", "else", "break", "continue"}

_NAMED_CONSTS = {
    "True": Const(True, "bool"), "False": Const(False, "bool"),
    "inf": Const(math.inf, "float64"), "nan": Const(math.nan, "float64"),
    "inff": Const(math.inf, "float32"), "nanf": Const(math.nan, "float32"),
}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise IRError(f"tasklet code {text!r}: unexpected character {text[pos]!r} at {pos}")
            kind = m.lastgroup
            if kind != "ws":
                self.tokens.append((kind, m.group(), pos))
            pos = m.end()
        self.tokens.append(("end", "", len(text)))
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, what: str) -> IRError:
        kind, value, pos = self.peek()
        return IRError(f"tasklet code {self.text!r}: {what} at position {pos} (found {value or 'end'!r})")

    def expect(self, value: str) -> None:
        if self.peek()[1] != value:
            raise self.error(f"expected {value!r}")
        self.take()

    def expect_end(self) -> None:
        while self.peek()[0] == "newline":
            self.take()
        if self.peek()[0] != "end":
            raise self.error("unexpected trailing input")

    def parse_code(self) -> Code:
        stmts = self.parse_block(closing=None, loops=())
        return Code(stmts)

    def parse_block(self, closing: str | None, loops: tuple[str, ...]) -> tuple[Stmt, ...]:
        """Statements up to ``closing`` (``}``; None: the end of the text). ``loops``: the
        variables of the loops around the block (read-only, never reused)."""
        stmts: list[Stmt] = []
        while True:
            while self.peek()[0] == "newline":
                self.take()
            if self.peek()[0] == "end" or (closing is not None and self.peek()[1] == closing):
                if closing is not None:
                    self.expect(closing)
                break
            stmt = self.parse_statement(loops)
            stmts.append(stmt)
            if isinstance(stmt, (Loop, If)):
                continue                         # a block ends the statement
            if self.peek()[0] not in ("newline", "end") and self.peek()[1] != "}":
                raise self.error("expected ';' or a new line after a statement")
        if closing is None and self.peek()[0] != "end":
            raise self.error("unexpected trailing input")
        return tuple(stmts)

    def parse_body(self, loops: tuple[str, ...]) -> tuple[Stmt, ...]:
        self.expect("{")
        return self.parse_block("}", loops)

    def parse_statement(self, loops: tuple[str, ...]) -> Stmt:
        kind, word, _ = self.peek()
        if kind == "name" and word == "for":
            self.take()
            kind, var, _ = self.take()
            if kind != "name" or var in _KEYWORDS or var in _NAMED_CONSTS:
                self.i -= 1
                raise self.error("expected a loop variable")
            if var in loops:
                self.i -= 1
                raise self.error(f"loop variable {var!r} is already the variable of an enclosing loop")
            for w in ("in", "range", "("):
                self.expect(w)
            start = self.parse_expression()
            self.expect(",")
            stop = self.parse_expression()
            self.expect(",")
            step = self.parse_expression()
            if not (isinstance(step, Const) and step.dtype == "int64" and step.value != 0):
                raise self.error("a loop step must be a non-zero integer constant")
            self.expect(")")
            body = self.parse_body(loops + (var,))
            if any(isinstance(s, Assign) and s.target == var for s in walk(body)):
                raise IRError(f"tasklet code {self.text!r}: the body of loop {var!r} assigns its variable")
            return Loop(var, start, stop, int(step.value), body)
        if kind == "name" and word == "if":
            self.take()
            test = self.parse_expression()
            body = self.parse_body(loops)
            orelse: tuple[Stmt, ...] = ()
            if self.peek()[1] == "else":
                self.take()
                orelse = self.parse_body(loops)
            return If(test, body, orelse)
        if kind == "name" and word in ("break", "continue"):
            if not loops:
                raise self.error(f"'{word}' outside a loop")
            self.take()
            return Break() if word == "break" else Continue()
        kind, target, _ = self.take()
        if kind != "name" or target in _NAMED_CONSTS or target in _KEYWORDS:
            self.i -= 1
            raise self.error("expected an assignment target")
        indices = self.parse_indices() if self.peek()[1] == "[" else ()
        self.expect("=")
        return Assign(target, self.parse_expression(), indices)

    def parse_indices(self) -> tuple[Node, ...]:
        """``[i, j, ...]``: one or more index expressions (a subscript read or a store)."""
        self.expect("[")
        indices = [self.parse_expression()]
        while self.peek()[1] == ",":
            self.take()
            indices.append(self.parse_expression())
        self.expect("]")
        return tuple(indices)

    def parse_expression(self, level: int = 0) -> Node:
        if level == _NOT_LEVEL and self.peek()[1] == "not":
            self.take()
            return UnaryOp("not", self.parse_expression(level))
        if level == len(_BINARY_LEVELS):
            return self.parse_unary()
        left = self.parse_expression(level + 1)
        ops = _BINARY_LEVELS[level]
        if level == _PREC["<"]:          # comparisons do not chain in the tasklet language
            if self.peek()[1] in ops:
                op = self.take()[1]
                left = BinOp(op, left, self.parse_expression(level + 1))
                if self.peek()[1] in ops:
                    raise self.error("chained comparisons are not supported; use 'and'")
            return left
        while self.peek()[1] in ops and self.peek()[0] in ("op", "name"):
            op = self.take()[1]
            left = BinOp(op, left, self.parse_expression(level + 1))
        return left

    def parse_unary(self) -> Node:
        if self.peek()[1] in ("-", "+", "~"):
            op = self.take()[1]
            operand = self.parse_unary()
            if op == "-" and isinstance(operand, Const) and operand.dtype != "bool" and \
                    not str(operand.value).startswith("-"):
                return Const(-operand.value, operand.dtype)
            return UnaryOp(op, operand)
        return self.parse_power()

    def parse_power(self) -> Node:
        base = self.parse_atom()
        if self.peek()[1] == "**":
            self.take()
            return BinOp("**", base, self.parse_unary())
        return base

    def parse_atom(self) -> Node:
        kind, value, _ = self.peek()
        if kind == "number":
            self.take()
            if value.endswith("f"):
                return Const(float(value[:-1]), "float32")
            if re.fullmatch(r"\d+", value):
                return Const(int(value), "int64")
            return Const(float(value), "float64")
        if kind == "name":
            if value in _KEYWORDS:
                raise self.error("expected an expression")
            self.take()
            if value in _NAMED_CONSTS:
                return _NAMED_CONSTS[value]
            if self.peek()[1] == "(":
                self.take()
                args: list[Node] = []
                if self.peek()[1] != ")":
                    args.append(self.parse_expression())
                    while self.peek()[1] == ",":
                        self.take()
                        args.append(self.parse_expression())
                self.expect(")")
                func = "bool" if value == "bool_" else value
                if func in CASTS:
                    # complex64(re, im) / complex128(re, im): a complex number from its parts
                    if len(args) != 1 and not (func.startswith("complex") and len(args) == 2):
                        raise IRError(f"cast {value}() takes one argument, got {len(args)}")
                elif func in FUNCTIONS:
                    if len(args) != FUNCTIONS[func]:
                        raise IRError(f"{func}() takes {FUNCTIONS[func]} argument(s), got {len(args)}")
                else:
                    raise IRError(f"unknown tasklet function {value!r}; known: "
                                  f"{', '.join(sorted(FUNCTIONS))} and casts to dtypes")
                return Call(func, tuple(args))
            if self.peek()[1] == "[":
                return Subscript(value, self.parse_indices())
            return Name(value)
        if value == "(":
            self.take()
            node = self.parse_expression()
            self.expect(")")
            return node
        raise self.error("expected an expression")
