"""Control flow in the tasklet language (``for``/``if``/``break``/``continue``): the canonical
text, C's block scoping, the validator's rules, and a loop tasklet built with the IR API,
compiled and checked against NumPy."""

import numpy as np
import pytest

import flowc  # noqa: F401  (registers the compiler behind Program.compile)
import flowc.ir as ir
from flowc.ir.expr import Code

ROUND_TRIPS = [
    "s = 0.0; for k in range(lo, hi, 1) { s = s + a[i, k] * x[k] }; out = s",
    "for t in range(0, N, -2) { if z > 4.0 { n = t; break } else { z = z * z; continue } }; o = n",
    "for k in range(0, 3, 1) { }",
    "if a > 0 and not b { c = 1 }",
    "for k in range(i + 1, N, 3) { for j in range(0, k, 1) { o[j, k] = a[k, j] } }",
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_print_parse_print_is_the_identity(text):
    code = Code.parse(text)
    assert str(code) == text
    assert Code.parse(str(code)) == code


def test_names_follow_block_scoping():
    code = Code.parse("for k in range(0, N, 1) { t = a[k]; s = s + t }; o = s + t")
    assert code.read_names() == {"N", "a", "s", "t"}        # t after the loop is not the loop's t
    assert code.loop_vars() == ["k"] and code.stored() == set()
    assert code.unconditionally_assigned() == {"o"}
    renamed = code.substitute({"N": ir.expr.Name("M"), "k": ir.expr.Name("zz")})
    assert str(renamed).startswith("for k in range(0, M, 1)")   # a loop variable is never substituted


@pytest.mark.parametrize("text,why", [
    ("break", "'break' outside a loop"),
    ("for k in range(0, 3, 0) { }", "non-zero integer constant"),
    ("for k in range(0, 3, s) { }", "non-zero integer constant"),
    ("for k in range(0, 3, 1) { k = 1 }", "assigns its variable"),
    ("for k in range(0, 3, 1) { for k in range(0, 1, 1) { } }", "enclosing loop"),
    ("for if in range(0, 3, 1) { }", "loop variable"),
    ("x = for", "expected an expression"),
    ("if a { b = 1", "expected"),
])
def test_malformed_control_flow_is_refused(text, why):
    with pytest.raises(ir.IRError, match=why):
        Code.parse(text)


def _row_sums_until_negative():
    """y[i] = sum of A[i, :] up to the first negative element, a loop tasklet in a map."""
    p = ir.Program("row_prefix")
    p.add_array("A", ["N", "M"], ir.float64)
    p.add_array("y", ["N"], ir.float64)
    st = p.add_state("main")
    code = "s = 0.0; for k in range(0, M, 1) { if row[i, k] < 0.0 { break }; s = s + row[i, k] }; o = s"
    st.add_mapped_tasklet("prefix", {"i": "0:N"}, {"row": "A[0:N, 0:M]"}, code, {"o": "y[i]"})
    return p


def test_a_loop_tasklet_built_by_hand_runs_as_numpy():
    program = _row_sums_until_negative()
    program.validate()
    assert ir.from_json(program.to_json()).to_json() == program.to_json()
    compiled = program.compile()
    rng = np.random.default_rng()
    for n, m in ((1, 1), (5, 9), (40, 3)):
        A = rng.uniform(-0.3, 1.0, (n, m))
        y = rng.random(n)
        compiled(A, y)
        want = [sum(row[:np.argmax(row < 0)] if (row < 0).any() else row) for row in A]
        np.testing.assert_allclose(y, want, rtol=1e-12)


@pytest.mark.parametrize("code,why", [
    ("for i in range(0, M, 1) { }; o = 1.0", "loop variable 'i' is also .* a symbol"),
    ("for row in range(0, M, 1) { }; o = 1.0", "loop variable 'row' is also a connector"),
    ("if M > 1 { o = 1.0 }", "outside a loop or branch"),
    ("for k in range(0, M, 1) { t = row[i, k] }; o = t", "reads 't'"),
    ("for k in range(0, M, 1) { i = row[i, k] }; o = 1.0", "assigns 'i', which is also a symbol"),
])
def test_the_validator_refuses_ill_scoped_loops(code, why):
    p = ir.Program("bad")
    p.add_array("A", ["N", "M"], ir.float64)
    p.add_array("y", ["N"], ir.float64)
    st = p.add_state("main")
    st.add_mapped_tasklet("t", {"i": "0:N"}, {"row": "A[0:N, 0:M]"}, code, {"o": "y[i]"})
    with pytest.raises(ir.IRError, match=why):
        p.validate()
