"""NumPy 2's weak Python scalars across control flow: a variable that only ever holds Python
numbers keeps weak promotion after an ``if``, ``for`` or ``while`` reassigns it (``c = 0; if ...:
c = 1; x + c`` keeps x's dtype); a variable that may hold an array scalar is strong."""

import numpy as np
import pytest

import flowc

from fe_helpers import assert_same, rand

N = flowc.symbol("N")

DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool"]


def _ftype(dt: str):
    return getattr(flowc, "bool_" if dt == "bool" else dt)


def _programs(dt: str) -> dict:
    X = _ftype(dt)

    @flowc.program
    def int_in_if(x: X[N]):
        c = 0
        if np.sum(x) > 0:
            c = 1
        return x + c

    @flowc.program
    def int_in_if_else(x: X[N]):
        c = 2
        if np.sum(x) > 3:
            c = 3
        else:
            c = c * 2
        return x * c

    @flowc.program
    def int_in_for(x: X[N]):
        c = 0
        for _i in range(x.shape[0]):
            c = c + 1
        return x + c

    @flowc.program
    def int_aug_in_for(x: X[N]):
        c = 1
        for i in range(x.shape[0]):
            c += i
        return c - x

    @flowc.program
    def float_in_if(x: X[N]):
        c = 0
        if np.sum(x) > 0:
            c = 1.5
        return x * c

    @flowc.program
    def float_in_for(x: X[N]):
        c = 0.5
        for _i in range(x.shape[0]):
            c = c + 0.25
        return x + c

    @flowc.program
    def array_scalar_in_if(x: X[N]):
        c = 0
        if np.sum(x) > 0:
            c = x[0]
        return x + c

    @flowc.program
    def array_scalar_initial(x: X[N]):
        c = x[0]
        for _i in range(x.shape[0]):
            c = c + 1
        return x + c

    return {p.func.__name__: p for p in (int_in_if, int_in_if_else, int_in_for, int_aug_in_for, float_in_if,
                                          float_in_for, array_scalar_in_if, array_scalar_initial)}


@pytest.mark.parametrize("dt", DTYPES)
def test_python_numbers_stay_weak_across_control_flow(rng, dt):
    progs = _programs(dt)
    for n in (1, 4, 9):
        for name, prog in progs.items():
            if dt == "bool" and name in ("int_aug_in_for", "array_scalar_in_if"):
                # bool - bool array is an error in NumPy; 0 or a bool array scalar give int64 or bool
                # depending on the data, where flowc picks one dtype for c
                continue
            x = rand(rng, n, dt)
            for sign in (1, -1):
                xs = x if dt == "bool" else (x * sign).astype(dt)
                with np.errstate(all="ignore"):
                    exp = prog.func(xs.copy())
                out = prog(xs.copy())
                if name == "float_in_if":
                    # c is an int or a float depending on the data: flowc types it once, as a weak
                    # float (what NumPy gives when the branch is taken)
                    want = np.result_type(xs.dtype, 1.5)
                    assert np.asarray(out).dtype == want, (name, dt)
                    assert_same(out, np.asarray(exp).astype(want))
                    continue
                assert np.asarray(out).dtype == np.asarray(exp).dtype, (name, dt)
                assert_same(out, exp)
