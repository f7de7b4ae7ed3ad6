"""Everything outside the subset is a FrontendError that names the file, the line, the column and the
offending source, with what is supported instead."""

import inspect
import math

import numpy as np
import pytest

import flowc

N, M = flowc.symbol("N"), flowc.symbol("M")


def helper(x):
    return x


def expect_error(func, snippet: str, *fragments: str, call_args=None):
    """Lowering ``func`` fails at the line containing ``snippet`` with all ``fragments`` in the message."""
    lines, start = inspect.getsourcelines(func)
    matches = [i for i, line in enumerate(lines) if snippet in line]
    assert matches, f"snippet {snippet!r} not in the source"
    lineno = start + matches[0]
    prog = flowc.program(func)
    with pytest.raises(flowc.FrontendError) as info:
        if call_args is None:
            prog.to_ir()
        else:
            prog(*call_args)
    err = info.value
    text = str(err)
    assert err.filename == __file__ and __file__ in text
    assert err.lineno == lineno and f":{lineno}:" in text, text
    assert snippet in text and "^" in text, text
    assert 0 <= err.col <= len(lines[matches[0]])
    for f in fragments:
        assert f in text, f"{f!r} not in:\n{text}"
    return err


def test_undefined_name_is_named():
    def f(x: flowc.float64[N]):
        return x + undefined_thing  # noqa: F821

    err = expect_error(f, "undefined_thing", "undefined name 'undefined_thing'")
    assert err.hint


def test_unsupported_statements():
    def f_try(x: flowc.float64[N]):
        try:
            x += 1
        except ValueError:
            pass

    expect_error(f_try, "try:", "'try' is not supported")

    def f_with(x: flowc.float64[N]):
        with open("f") as fh:
            x += fh

    expect_error(f_with, "with open", "'with' is not supported")

    def f_break(x: flowc.float64[N]):
        for i in flowc.map[0:N]:
            if x[i] > 2:
                break

    expect_error(f_break, " break", "'break' is not supported inside flowc.map", "supported instead")

    def f_def(x: flowc.float64[N]):
        def g(y):
            return y
        return g(x)

    expect_error(f_def, "def g(y):", "defining functions inside a program")


def test_unsupported_expressions():
    def f_comp(x: flowc.float64[N]):
        return [v for v in x]

    expect_error(f_comp, "[v for v in x]", "list comprehension")

    def f_lambda(x: flowc.float64[N]):
        g = lambda y: y  # noqa: E731
        return g(x)

    expect_error(f_lambda, "lambda y", "lambda")

    def f_str(x: flowc.float64[N]):
        return f"{x}"

    expect_error(f_str, 'f"{x}"', "f-string")


def test_unsupported_numpy_function():
    def f(x: flowc.float64[N]):
        return np.sort(x)

    expect_error(f, "np.sort(x)", "np.sort is not supported", "numpy_subset")

    def g(x: flowc.float64[N]):
        print(x)

    expect_error(g, "print(x)", "print is not supported")


def test_plain_python_function_call():
    def f(x: flowc.float64[N]):
        return helper(x)

    expect_error(f, "helper(x)", "calling the Python function 'helper'", "@flowc.program")


def test_unsupported_keyword_and_wrong_argument_count():
    def f_kw(x: flowc.float64[N]):
        return np.sum(x, bogus=1)

    expect_error(f_kw, "np.sum(x, bogus=1)", "keyword argument 'bogus'")

    def f_many(x: flowc.float64[N]):
        return np.exp(x, x, x, x)

    expect_error(f_many, "np.exp(x, x, x, x)", "np.exp() takes at most")

    def f_missing(x: flowc.float64[N]):
        return np.maximum(x)

    expect_error(f_missing, "np.maximum(x)", "missing the required argument 'x2'")

    def f_where(x: flowc.float64[N]):
        return np.where(x > 0)

    expect_error(f_where, "np.where(x > 0)", "data-dependent shape")


def test_broadcast_shape_mismatch():
    def f(a: flowc.float64[N, 3], b: flowc.float64[4]):
        y = a * 2
        return y + b

    expect_error(f, "y + b", "cannot be broadcast", "(N, 3)", "(4,)")

    def g(a: flowc.float64[N], b: flowc.float64[N]):
        return a[1:] - b          # N - 1 and N are never equal (N and M would be a per-call requirement)

    expect_error(g, "a[1:] - b", "cannot be broadcast")


def test_matmul_and_reshape_mismatch():
    def f(a: flowc.float64[N, 3], b: flowc.float64[4, M]):
        return a @ b

    expect_error(f, "a @ b", "contracted dimensions differ")

    def g(a: flowc.float64[N, 3]):
        return a.reshape(N, 4)

    expect_error(g, "a.reshape(N, 4)", "cannot reshape")


def test_missing_annotation():
    def f(x, y: flowc.float64[N]):
        return x + y

    with pytest.raises(flowc.FrontendError) as info:
        flowc.program(f).to_ir()
    assert "parameter 'x' has no type annotation" in str(info.value)
    assert __file__ in str(info.value) and "def f(x, y" in str(info.value)


def test_bad_annotation():
    def f(x: "not a type"):  # noqa: F722
        return x

    expect_error(f, "def f(x:", "not a flowc type")


def test_return_inside_a_loop():
    def f(x: flowc.float64[N]):
        for i in range(3):
            if x[i] > 0:
                return x
        return x * 2

    expect_error(f, "return x", "'return' inside a loop is not supported")


def test_runtime_range_bound():
    def f(x: flowc.float64[N]):
        k = np.sum(x > 0)
        for i in range(k):
            x[i] = 0

    expect_error(f, "range(k)", "a range() bound must be known before the program runs")


def test_truth_value_of_array():
    def f(x: flowc.float64[N]):
        if x > 0:
            x += 1

    expect_error(f, "if x > 0", "truth value of an array is ambiguous")


def test_boolean_mask_read():
    def f(x: flowc.float64[N]):
        return x[x > 0]

    expect_error(f, "x[x > 0]", "data-dependent shape", "np.where")


def test_map_body_restrictions():
    def f(x: flowc.float64[N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            out[i] = np.sum(x)

    expect_error(f, "np.sum(x)", "not supported inside flowc.map")

    def g(x: flowc.float64[N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            j = 0
            while j < 3:
                out[i] += x[j]
                j += 1

    expect_error(g, "while j < 3:", "a while loop inside flowc.map is not supported", "for loop over range()")


def test_a_loop_variable_read_after_its_loop_is_refused():
    # Python leaves the last value (or the old one when the range is empty): never the old one silently
    def f(x: flowc.float64[N]):
        i = 7
        for i in range(N):  # noqa: B007
            x[i] += 1.0
        return x[i]

    expect_error(f, "return x[i]", "the variable 'i' has no value here")


def test_variable_changes_shape_in_loop():
    def f(x: flowc.float64[N]):
        y = x * 1
        for _ in range(3):
            y = y[1:]
        return y

    expect_error(f, "y = y[1:]", "changes shape")


def test_same_kind_casting_of_in_place_operations():
    def f(x: flowc.int32[N], y: flowc.float64[N]):
        x += y

    expect_error(f, "x += y", "same_kind")


def test_error_inside_nested_program_points_at_the_callee():
    @flowc.program
    def callee(x: flowc.float64[N]):
        return np.fft(x)

    def caller(y: flowc.float64[M]):
        return callee(y)

    lines, start = inspect.getsourcelines(callee.func)
    with pytest.raises(flowc.FrontendError) as info:
        flowc.program(caller).to_ir()
    text = str(info.value)
    assert f":{start + 2}:" in text and "np.fft(x)" in text


def test_nested_program_argument_checks():
    @flowc.program
    def callee(x: flowc.float32[N, N]):
        return x

    def caller(y: flowc.float32[M, 3]):
        return callee(y)

    expect_error(caller, "callee(y)", "does not match its annotation")

    def caller2(y: flowc.float64[M, M]):
        return callee(y)

    expect_error(caller2, "callee(y)", "must be float32")


def test_unsupported_iteration_and_attribute():
    def f(x: flowc.float64[N]):
        for v in x:
            x += v

    expect_error(f, "for v in x:", "iterating over")

    def g(x: flowc.float64[N]):
        return x.flags

    expect_error(g, "x.flags", "attribute 'flags'")


def test_math_of_unsupported_function():
    def f(x: flowc.float64[N]):
        return math.gamma(x)

    expect_error(f, "math.gamma(x)", "math.gamma is not supported")


def test_error_at_first_call():
    def f(x):
        return x.nonexistent()

    with pytest.raises(flowc.FrontendError) as info:
        flowc.program(f)(np.ones(3))
    assert "nonexistent" in str(info.value) and __file__ in str(info.value)


def test_variable_without_a_value_here():
    def f(x: flowc.float64[N]):
        for i in range(N):
            t = x[i] * 2
            x[i] = t
        return x * i

    expect_error(f, "return x * i", "the variable 'i' has no value here")
