"""``Program.compile()`` calls like the decorated function, before and after a JSON round trip.

Size parameters (integer parameters used as sizes or loop counts) and closure arrays are real
fields of the IR (``symbol_params``, ``closure_args``), serialized with it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import flowc
from flowc import ir
from flowc.ir.errors import IRError

N = flowc.symbol("N")
RNG = np.random.default_rng(8)
W = RNG.standard_normal(5)


@flowc.program
def scale(a: flowc.float32[N], T: int):
    for _t in range(T):
        a[:] = a * 0.5


@flowc.program
def weighted(x: flowc.float64[5], n: int, c: flowc.float64):
    y = x * W
    for _t in range(n):
        y = y * c
    return y


def _weighted_ref(x: np.ndarray, n: int, c: float) -> np.ndarray:
    y = x * W
    for _ in range(n):
        y = y * c
    return y


@pytest.mark.parametrize("size", [1, 7, 100])
@pytest.mark.parametrize("steps", [0, 1, 3])
def test_in_place_program_with_a_size_parameter_returns_none(size: int, steps: int) -> None:
    a = RNG.standard_normal(size).astype(np.float32)
    expected = a.copy()
    for _ in range(steps):
        expected = expected * np.float32(0.5)
    assert scale(a, steps) is None
    np.testing.assert_allclose(a, expected, rtol=1e-6)


def test_calling_convention_is_a_field_of_the_ir() -> None:
    p = ir.Program("empty")
    assert p.symbol_params == {} and p.closure_args == {}
    q = weighted.to_ir()
    assert q.symbol_params == {"n": 1}
    assert list(q.closure_args) == ["__closure_W"] and q.closure_args["__closure_W"] is W


def _check_weighted(f) -> None:
    for n in (0, 1, 4):
        x, c = RNG.standard_normal(5), float(RNG.uniform(0.5, 1.5))
        np.testing.assert_allclose(f(x, n, c), _weighted_ref(x, n, c), rtol=1e-12)


def test_ir_compile_has_the_signature_of_the_function() -> None:
    _check_weighted(weighted.to_ir().compile())


def test_calling_convention_survives_json() -> None:
    p = weighted.to_ir()
    q = ir.from_json(p.to_json())
    assert q.symbol_params == p.symbol_params
    assert list(q.closure_args) == list(p.closure_args)
    np.testing.assert_array_equal(q.closure_args["__closure_W"], W)
    assert q.to_json() == p.to_json()
    _check_weighted(q.compile())


def test_closure_values_left_out_are_passed_by_keyword() -> None:
    q = ir.from_json(weighted.to_ir().to_json(closure_values=False))
    assert q.closure_args == {"__closure_W": None}
    f = q.compile()
    x = RNG.standard_normal(5)
    with pytest.raises(TypeError, match="__closure_W"):
        f(x, 2, 0.5)
    np.testing.assert_allclose(f(x, 2, 0.5, __closure_W=W), _weighted_ref(x, 2, 0.5), rtol=1e-12)


def test_size_parameter_must_be_an_int() -> None:
    f = weighted.to_ir().compile()
    with pytest.raises(TypeError, match="'n'"):
        f(RNG.standard_normal(5), 2.0, 0.5)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["symbol_params"].update(n=7), "position"),
    (lambda d: d["symbol_params"].update(n=-1), r"symbol_params\.n"),
    (lambda d: d["symbol_params"].update(n="1"), r"symbol_params\.n"),
    (lambda d: d["symbol_params"].update(zz=0), "zz"),
    (lambda d: d["closure_args"][0].update(values="AAAA"), "bytes"),
    (lambda d: d["closure_args"][0].update(values="!" * 56), "base64"),
    (lambda d: d["closure_args"][0].update(name="x"), "closure"),
])
def test_a_damaged_calling_convention_is_refused(edit, message: str) -> None:
    doc = json.loads(weighted.to_ir().to_json())
    edit(doc)
    with pytest.raises(IRError, match=message):
        ir.from_json(json.dumps(doc))


def test_the_compiled_program_stays_reachable() -> None:
    f = weighted.to_ir().compile()
    assert f.__name__ == "weighted"
    assert [p.name for p in f.compiled.params][:3] == ["x", "c", "__closure_W"]
    assert f.compiled.params[-1].name == "n" and f.compiled.params[-1].kind == "symbol"
