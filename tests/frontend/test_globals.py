"""Values from the enclosing scope (issue 8): numbers and tuples are captured at the first call,
NumPy arrays are passed at each call (their current contents), mutable containers are refused."""

import numpy as np
import pytest

import flowc

from fe_helpers import assert_same, rand

N = flowc.symbol("N")

LIST = [1.0, 2.0, 3.0]
DICT = {"a": 1.0}
SET = {1, 2}
TUPLE = (2.0, 3)
SCALE = 2.0
TABLE = np.arange(1.0, 4.0)


@flowc.program
def reads_list(x: flowc.float64[N]):
    return x * LIST[0]


@flowc.program
def appends_list(x: flowc.float64[N]):
    LIST.append(4.0)
    return x


@flowc.program
def reads_dict(x: flowc.float64[N]):
    return x * DICT["a"]


@flowc.program
def reads_set(x: flowc.float64[N]):
    return x * len(SET)


@pytest.mark.parametrize("prog, kind, name", [(reads_list, "list", "LIST"), (appends_list, "list", "LIST"),
                                              (reads_dict, "dict", "DICT"), (reads_set, "set", "SET")])
def test_mutable_containers_are_refused(prog, kind, name):
    with pytest.raises(flowc.FrontendError, match=f"'{name}' is a {kind} from the enclosing scope") as info:
        prog.to_ir()
    assert "a tuple for constants" in str(info.value)


def test_closure_list_is_refused(rng):
    values = [1.0, 2.0]

    @flowc.program
    def f(x: flowc.float64[N]):
        return x + values[1]

    with pytest.raises(flowc.FrontendError, match="'values' is a list"):
        f(rand(rng, 3))


@flowc.program
def reads_tuple(x: flowc.float64[N]):
    return x * TUPLE[0] + TUPLE[1] * SCALE


def test_tuples_and_numbers_are_captured_at_first_call(rng):
    global TUPLE, SCALE
    old = TUPLE, SCALE
    x = rand(rng, 5)
    assert_same(reads_tuple(x), x * 2.0 + 3 * 2.0)
    try:
        TUPLE, SCALE = (5.0, 1), 7.0
        assert_same(reads_tuple(x), x * 2.0 + 3 * 2.0)     # the values of the first call
    finally:
        TUPLE, SCALE = old


@flowc.program
def reads_table(x: flowc.float64[N]):
    return x * TABLE[0] + TABLE[2]


@flowc.program
def writes_table(x: flowc.float64[N]):
    TABLE[1] = x[0]
    return x + 1        # a program without a result and with closure arrays crashed in api.py (issue 8, item 1)


def test_global_arrays_are_read_at_each_call(rng):
    """A global NumPy array is an argument passed automatically: in-place changes are seen (numba
    would have frozen its contents), and the program may write into it; rebinding the name is not
    seen (the array object is captured at the first call)."""
    global TABLE
    saved = TABLE.copy()
    original = TABLE
    try:
        for n in (1, 4):
            x = rand(rng, n)
            TABLE[:] = rand(rng, 3)
            assert_same(reads_table(x), x * TABLE[0] + TABLE[2])
            assert_same(writes_table(x), x + 1)
            assert TABLE[1] == x[0]
        TABLE = np.full(3, 100.0)
        x = rand(rng, 3)
        assert_same(reads_table(x), x * original[0] + original[2])
    finally:
        TABLE = original
        TABLE[:] = saved
