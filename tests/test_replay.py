"""Every step of every pipeline is recorded, and ``replay`` of a recorded history on a fresh
lowering of the same program gives the same IR, byte for byte (``flowc.ir.serialize``).

Covered: every program of tests/ir_programs.py and tests/builder_programs.py, every module-level
flowc function the test files define (found by their annotations; the few the frontend rejects
on purpose are the error tests' inputs), and the BERT encoder layer; each plain (the compile
pipeline's library expansion alone) and with ``auto_optimize``.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import builder_programs
import ir_programs
import pytest

import flowc
import flowc.ir as ir
from flowc import frontend
from flowc.ir.data import ArrayType
from flowc.ir.dtypes import DType
from flowc.transforms import (LibraryExpansion, MapFusion, MapTiling, auto_optimize, expand_library_nodes,
                              replay)

TESTS = Path(__file__).resolve().parent
SAMPLES = TESTS.parent / "samples"


def _is_flowc_function(fn) -> bool:
    if not inspect.isfunction(fn) or fn.__name__.startswith("test_"):
        return False
    params = list(inspect.signature(fn).parameters.values())
    return bool(params) and all(isinstance(p.annotation, (ArrayType, DType)) for p in params)


def _frontend_functions() -> dict[str, object]:
    """Module-level flowc functions (plain or decorated) of the test files."""
    found: dict[str, object] = {}
    for path in sorted(TESTS.glob("test_*.py")) + sorted((TESTS / "frontend").glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        name = f"_replay_scan_{path.parent.name}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
        for attr, value in vars(module).items():
            fn = value.func if isinstance(value, flowc.ProgramObject) else value
            if _is_flowc_function(fn) and fn.__module__ == name:
                found[f"{path.stem}.{attr}"] = fn
    return found


def _lowerable(functions: dict[str, object]) -> dict[str, object]:
    ok = {}
    for key, fn in functions.items():
        try:
            frontend.lower(fn)
        except flowc.FrontendError:
            continue          # an input of the error tests: rejected on purpose
        ok[key] = fn
    return ok


FRONTEND = _lowerable(_frontend_functions())


def _bert():
    sys.path.insert(0, str(SAMPLES))
    try:
        from bert_encoder import encoder_layer
    finally:
        sys.path.remove(str(SAMPLES))
    return frontend.lower(encoder_layer)


FACTORIES = {
    **{f"ir_programs.{k}": f for k, f in ir_programs.ALL.items()},
    **{f"builder_programs.{k}": (lambda f=f: f()[0]) for k, f in builder_programs.ALL.items()},
    **{f"builder_programs.{f.__name__}": (lambda f=f: f()[0])
       for f in (builder_programs.softmax, builder_programs.layernorm, builder_programs.head_merge)},
    "builder_programs.chain": builder_programs.chain,
    **{f"frontend.{k}": (lambda fn=fn: frontend.lower(fn)) for k, fn in FRONTEND.items()},
    "samples.bert_encoder": _bert,
}


def test_the_scan_finds_the_frontend_programs():
    assert len(FRONTEND) >= 60, sorted(FRONTEND)
    assert "test_transforms._copy_target_written_before" in FRONTEND


def _pipeline(program: ir.Program, optimize: bool) -> None:
    """What ``flowc.compile_program`` does to the program before code generation."""
    if optimize:
        auto_optimize(program)
    expand_library_nodes(program)


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "auto_optimize"])
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_history_replays_to_the_same_ir(name, optimize):
    make = FACTORIES[name]
    done = make()
    _pipeline(done, optimize)
    done.validate()
    want = done.to_json()
    history = ir.from_json(want).history          # through JSON: what a tuning database would store
    assert history == done.history
    if optimize and any(isinstance(n, ir.Reduce) for _, n in make().all_nodes()):
        assert any(h["transformation"] == "LibraryExpansion" for h in history)
    base = make()
    lowered = base.to_json()
    fresh = base.clone()                            # how a search explores: replay onto a cheap copy
    replay(fresh, history)
    assert fresh.to_json() == want
    assert base.to_json() == lowered


def test_softmax_auto_optimize_replays():
    """The reported failure: the history lacked library expansion, so replay stopped at the
    first MapFusion ("does not apply (any more)")."""
    done = builder_programs.softmax()[0]
    auto_optimize(done)
    kinds = [h["transformation"] for h in done.history]
    assert kinds.index("LibraryExpansion") < kinds.index("MapFusion")
    fresh = replay(builder_programs.softmax()[0], done.history)
    assert fresh.to_json() == done.to_json()


def test_replay_with_parameters_and_on_the_wrong_program():
    p = builder_programs.elementwise()[0]
    p.apply(MapTiling(tile=8, dims=[1]))
    assert replay(builder_programs.elementwise()[0], p.history).to_json() == p.to_json()
    other = builder_programs.softmax()[0]
    with pytest.raises(ir.IRError, match="history entry 0 .*MapTiling"):
        replay(other, p.history)
    with pytest.raises(ir.IRError, match="unknown transformation"):
        replay(builder_programs.elementwise()[0], [{**p.history[0], "transformation": "Nope"}])


def test_library_expansion_is_a_transformation():
    p = builder_programs.softmax()[0]
    (reduce_max, reduce_sum) = LibraryExpansion().matches(p)
    p.apply(LibraryExpansion, reduce_sum)
    assert [h["transformation"] for h in p.history] == ["LibraryExpansion"]
    assert sum(isinstance(n, ir.Reduce) for _, n in p.all_nodes()) == 1
    m = builder_programs.matmul()[0]
    (cand,) = LibraryExpansion().candidates(m)
    assert "stays a BLAS call on cpu" in LibraryExpansion().why_not(m, cand)
    with pytest.raises(ValueError, match="target"):
        LibraryExpansion(target="tpu")
    assert not MapFusion().matches(builder_programs.softmax()[0])
