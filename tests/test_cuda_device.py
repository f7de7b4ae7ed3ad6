"""The cuda target on a real GPU: ``pytest -m gpu tests/test_cuda_device.py`` (skipped without one).
The programs of ``tests/cuda_programs.py`` with NumPy arrays (staged to the device and back), CuPy
arrays and PyTorch CUDA tensors (zero-copy, results of the caller's kind, on its current stream)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

import flowc
from flowc.runtime import cuda

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # the repository root

from tests.cuda_programs import CASES, check  # noqa: E402

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(cuda.device_count() == 0, reason="no CUDA GPU visible (see tests/test_cuda.py "
                                                                  "for the emulated run of the same programs)")]


@pytest.fixture(autouse=True)
def real_device(monkeypatch):
    monkeypatch.delenv("FLOWC_CUDA_EMULATION", raising=False)


@pytest.mark.parametrize("auto_optimize", [False, True], ids=["plain", "auto_optimize"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_program_matches_numpy_on_the_gpu(case, auto_optimize, rng):
    prog = flowc.program(case.func, target="cuda", auto_optimize=auto_optimize)
    for n in (*case.sizes, 1000 if case.name not in ("bert_layer", "batched_transposed", "attention") else 9):
        args, kw = case.make(rng, n)
        before = copy.deepcopy(args)
        check(case, prog(*args, **kw), before)


def _device_args(module: str, args: tuple) -> tuple:
    if module == "cupy":
        cp = pytest.importorskip("cupy")
        return tuple(cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
    torch = pytest.importorskip("torch")
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).cuda() if isinstance(a, np.ndarray) else a for a in args)


@pytest.mark.parametrize("module", ["cupy", "torch"])
@pytest.mark.parametrize("name", ["softmax", "layernorm", "matmul_bias_gelu", "attention", "time_loop"])
def test_device_arrays_in_device_arrays_out(module, name, rng):
    case = next(c for c in CASES if c.name == name)
    prog = flowc.program(case.func, target="cuda", auto_optimize=True)
    args, kw = case.make(rng, 33 if name != "attention" else 9)
    before = copy.deepcopy(args)
    out = prog(*_device_args(module, args), **kw)
    outs = out if isinstance(out, tuple) else (out,)
    assert all(type(o).__module__.split(".")[0] == module for o in outs), [type(o) for o in outs]
    host = tuple(o.get() if module == "cupy" else o.cpu().numpy() for o in outs)
    check(case, host if isinstance(out, tuple) else host[0], before)
