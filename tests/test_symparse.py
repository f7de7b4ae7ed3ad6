"""flowc's parser of symbolic expressions (flowc.ir.symparse): exact round trip of every
expression the IR holds, sympy's meaning on trusted text, and cheap refusal of hostile text."""

from __future__ import annotations

import copy
import re
import sys
import time
from pathlib import Path
from typing import Iterator

import builder_programs
import ir_programs
import pytest
import sympy

from flowc import ir, transforms
from flowc.ir.control import Loop
from flowc.ir.data import Array
from flowc.ir.errors import IRError
from flowc.ir.nodes import MapEntry
from flowc.ir.symparse import FUNCTIONS, parse

ROOT = Path(__file__).resolve().parent.parent
#: the text of every symbolic expression in the IR of the test suite's programs (frontend programs
#: compiled by tests/frontend, test_transforms, test_runtime, plain and auto-optimized, and the
#: programs of ir_programs.py and builder_programs.py), collected once from their JSON
CORPUS = (Path(__file__).resolve().parent / "data" / "symbolic_exprs.txt").read_text().split("\n")
CORPUS = [line for line in CORPUS if line]


def expressions(p: ir.Program) -> Iterator[sympy.Expr]:
    """Every symbolic expression a program holds."""
    for desc in p.data.values():
        if isinstance(desc, Array):
            yield from (*desc.shape, *desc.strides, desc.offset)
    for e, _ in p.requirements:
        yield e
    for item in p.body.walk():
        if isinstance(item, Loop):
            yield from (item.start, item.stop, item.step)
    for st in p.states():
        for n in st.nodes():
            if isinstance(n, MapEntry):
                for r in n.map.ranges:
                    yield from (r.start, r.stop, r.step)
        for e in st.edges():
            for sub in (e.memlet.subset, e.memlet.other_subset):
                for r in (sub.ranges if sub is not None else ()):
                    yield from (r.start, r.stop, r.step)


def programs() -> Iterator[tuple[str, ir.Program]]:
    import flowc

    for mod in (ir_programs, builder_programs):
        for name, build in mod.ALL.items():
            p = build()
            yield f"{mod.__name__}.{name}", p[0] if isinstance(p, tuple) else p
    sys.path.insert(0, str(ROOT / "samples"))
    try:
        import bert_encoder
        import softmax
    finally:
        sys.path.remove(str(ROOT / "samples"))
    yield "bert", flowc.program(bert_encoder.encoder_layer).to_ir()
    yield "softmax", softmax.softmax.to_ir()


def test_round_trip_of_every_expression_of_the_test_programs() -> None:
    seen = 0
    for name, p in programs():
        variants = [p]
        q = copy.deepcopy(p)
        try:
            transforms.auto_optimize(q, target="cpu")
            variants.append(q)
        except IRError:
            pass
        for v in variants:
            for e in expressions(v):
                e = sympy.sympify(e)
                assert parse(str(e)) == e, (name, str(e))
                seen += 1
    assert seen > 1000


def _sympy_reading(text: str) -> sympy.Expr:
    """What sympify makes of trusted text (flowc's reader before it had its own)."""
    local = {n: sympy.Symbol(n, integer=True) for n in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text)
             if n not in FUNCTIONS}
    local.update({f: cls for f, (cls, _) in FUNCTIONS.items()})
    return sympy.sympify(text, locals=local)


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_text_reads_as_sympy_reads_it_and_prints_back(text: str) -> None:
    e = parse(text)
    assert e == _sympy_reading(text)
    assert str(e) == text


N, M = sympy.Symbol("N", integer=True), sympy.Symbol("M", integer=True)


@pytest.mark.parametrize("e", [
    N, -N, N - 1, 2 * N * M, -2 * N, N / 2, (N + 1) / 2, N / M, 1 / N, M / N**2, N**-2, (N + 1)**2,
    sympy.floor(N / 2), sympy.ceiling(N / 2 - sympy.Rational(1, 2)), sympy.Mod(N, 3), sympy.Abs(N - M),
    sympy.Min(N, M + 1), sympy.Max(0, N - 3), sympy.Min(N, M, 7), sympy.Integer(-5), sympy.Integer(2**62),
    N - 2 * sympy.ceiling(N / 2) + 1, sympy.floor(sympy.Mod(N, 8) / 3),
])
def test_round_trip(e: sympy.Expr) -> None:
    assert parse(str(e)) == e


@pytest.mark.parametrize("text, e", [
    ("N // 2", sympy.floor(N / 2)), ("N % 3", sympy.Mod(N, 3)), ("-N**2", -N**2), ("2**-1", sympy.Rational(1, 2)),
    ("2**3**2", sympy.Integer(512)), ("-(-N)", N), ("+N", N), ("N*M//2*3", 3 * sympy.floor(N * M / 2)),
    ("  N  -  1 ", N - 1),
])
def test_python_precedence(text: str, e: sympy.Expr) -> None:
    assert parse(text) == e


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "unexpected character"),
    ("(lambda: 1)()", "unexpected character"),
    ("N.__class__", "unexpected character"),
    ("exec(N)", "unknown function"),
    ("Min", "is a function"),
    ("Min()", "unexpected"),
    ("floor(N, 2)", "takes 1"),
    ("Mod(N, 0)", "by zero"),
    ("N/0", "division by zero"),
    ("N//0", "division by zero"),
    ("0**-1", "division by zero"),
    ("N**N", "exponent"),
    ("N**65", "exponent"),
    ("10**10**10", "exponent"),
    ("((2**60)**60)**60", "bits"),
    ("9" * 41, "digits"),
    ("1.5", "unexpected character"),
    ("N < M", "unexpected character"),
    ("N M", "unexpected 'M'"),
    ("", "empty"),
    ("(N", "expected '\\)'"),
    ("(" * 100 + "N" + ")" * 100, "nested"),
    ("-" * 100 + "N", "nested"),
    ("N" + "//2" * 100, "nested"),
    ("N" + "+N" * 3000, "characters"),
])
def test_hostile_text_is_refused_fast(text: str, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(IRError, match=message):
        parse(text)
    assert time.perf_counter() - start < 5.0


def test_only_strings() -> None:
    with pytest.raises(IRError, match="must be a string"):
        parse(5)  # type: ignore[arg-type]
