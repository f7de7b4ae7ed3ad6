"""DaCe's spellings (issue 9): programs written for DaCe run unchanged under flowc."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both

# DaCe: dace.symbol(name, dtype=int32, **assumptions), the dtype often positional
NS = flowc.symbol("NS", flowc.int64)
MS = flowc.symbol("MS", np.int32, positive=True)
KS = flowc.symbol("KS", dtype=int)


@flowc.program
def typed_symbols(a: flowc.float64[NS, MS], b: flowc.float64[MS, KS]):
    return a @ b + 1.0


def test_symbol_with_positional_dtype(rng):
    for n, m, k in [(1, 1, 1), (3, 4, 5), (8, 2, 6)]:
        run_both(typed_symbols, rand(rng, (n, m)), rand(rng, (m, k)))


@pytest.mark.parametrize("dtype", [flowc.float64, float, np.float32, flowc.bool_, "N"])
def test_symbol_dtype_must_be_an_integer_type(dtype):
    with pytest.raises(TypeError, match="parameter 'dtype' must be an integer type"):
        flowc.symbol("Q", dtype)
