"""Loading an IR file never runs code: payloads in every symbolic field of the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ir_programs import axpy

import flowc
from flowc import ir
from flowc.ir.errors import IRError


def _doc() -> dict:
    return json.loads(axpy().to_json())


def _payloads(marker: Path) -> list[str]:
    """Python that creates ``marker`` when evaluated (plain and sympy-specific spellings)."""
    m = str(marker)
    return [
        f"__import__('os').system('touch {m}')",
        f"N + __import__('pathlib').Path('{m}').touch()",
        f"(lambda: open('{m}', 'w'))()",
        f"Symbol('x').__class__.__mro__[-1].__subclasses__() and open('{m}', 'w')",
        f"N*open('{m}','w').close()",
    ]


def _places(doc: dict, payload: str) -> list[dict]:
    """Copies of ``doc`` with ``payload`` in a shape, a stride, a memlet subset and a map range."""
    out = []
    for path in (("data", 0, "shape", 0), ("data", 0, "strides", 0), ("data", 0, "offset")):
        d = json.loads(json.dumps(doc))
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = payload
        out.append(d)
    d = json.loads(json.dumps(doc))
    d["body"][0]["maps"][0]["ranges"][0] = f"0:{payload}"
    out.append(d)
    d = json.loads(json.dumps(doc))
    edge = next(e for e in d["body"][0]["edges"] if e["memlet"] is not None)
    edge["memlet"]["subset"] = payload
    out.append(d)
    d = json.loads(json.dumps(doc))
    d["requirements"] = [[payload, "why"]]
    out.append(d)
    return out


def test_from_json_never_evaluates_python(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for payload in _payloads(marker):
        for doc in _places(_doc(), payload):
            with pytest.raises(IRError):
                ir.from_json(json.dumps(doc))
            assert not marker.exists(), f"loading IR ran code: {payload!r}"


@pytest.mark.parametrize("label", [
    'main\nint fc_pwned = 1;',
    'main\r\nint fc_pwned = 1;',
    'main */ int fc_pwned = 1; /*',
    'main\\',                       # a trailing backslash would splice the next line into the comment
])
def test_labels_cannot_escape_comments_of_generated_code(label: str) -> None:
    """Labels are printed into comments of the C++ source; a label built with the builder API
    (which does not check them) must stay inside its comment."""
    from flowc import codegen

    p = ir.Program("labels")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    s = p.add_state(label)
    s.add_mapped_tasklet("t", {"i": "0:N"}, inputs={"a": "x[i]"}, code="o = a * 2.0f", outputs={"o": "y[i]"})
    source = codegen.generate_cpp(p, instrument=True).source
    lines = source[source.index("int flowc_labels("):].split("\n")        # the program's function
    for k, line in enumerate(lines):
        if "fc_pwned" in line:
            assert line.lstrip().startswith(("//", "std::fprintf")), line
        if line.lstrip().startswith("//"):
            assert "*/" not in line and "/*" not in line, line
            assert not line.endswith("\\"), (line, lines[k + 1])
    assert "int fc_pwned" not in "\n".join(ln for ln in lines if not ln.lstrip().startswith("//")
                                           and "std::fprintf" not in ln)


def test_a_program_with_hostile_labels_compiles_and_computes(rng) -> None:
    """The escaped labels are valid C++: an instrumented build prints them and computes correctly."""
    import numpy as np

    from flowc.api import compile_program

    p = ir.Program("labels")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    s = p.add_state('m"\\n\n*/ \u00e9??=')
    s.add_mapped_tasklet('t"\\', {"i": "0:N"}, inputs={"a": "x[i]"}, code="o = a * 2.0f", outputs={"o": "y[i]"})
    f = compile_program(p, instrument=True)
    for n in (1, 37):
        x = rng.standard_normal(n).astype(np.float32)
        y = np.empty_like(x)
        f(x, y)
        np.testing.assert_allclose(y, 2 * x, rtol=1e-6)


def test_symbolic_helpers_never_evaluate_text(tmp_path: Path) -> None:
    """Every entry point of flowc.ir.symbolic that accepts text reads it with flowc's parser."""
    from flowc.ir import symbolic

    marker = tmp_path / "pwned"
    payload = f"(lambda: open('{marker}', 'w'))()"
    for call in (lambda: symbolic.as_expr(payload), lambda: symbolic.equal(payload, 1),
                 lambda: symbolic.is_zero(payload), lambda: symbolic.is_positive(payload),
                 lambda: symbolic.Range.parse(f"0:{payload}"), lambda: symbolic.Subset.parse(payload),
                 lambda: symbolic.Range.make(0, 1).subs({}) and symbolic.Range(payload, 1, 1).subs({})):
        with pytest.raises(IRError):
            call()
        assert not marker.exists()


NULL = flowc.symbol("NULL")


@flowc.program
def _macro_names(EOF: flowc.float64[NULL], stderr: flowc.float64, M_PI: int):
    out = EOF * stderr
    for INT64_MAX in range(M_PI):
        out[:] = out + EOF * INT64_MAX
    return out


@pytest.mark.parametrize("n", [1, 6, 33])
def test_names_that_are_macros_of_system_headers_compile(n: int, rng) -> None:
    """Parameters, symbols and loop variables named like C macros (NULL, EOF, stderr, M_PI,
    INT64_MAX) are renamed in the generated C++, not expanded by the preprocessor."""
    import numpy as np

    x, c, steps = rng.standard_normal(n), float(rng.uniform(0.5, 2.0)), int(rng.integers(1, 5))
    expected = x * c
    for t in range(steps):
        expected = expected + x * t
    np.testing.assert_allclose(_macro_names(x, c, steps), expected, rtol=1e-12)
