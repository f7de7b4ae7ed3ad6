"""Every program of the frontend tests lowers to IR that validates, round-trips through JSON exactly
and renders (no compilation involved)."""

import importlib

import pytest

import flowc

MODULES = ["test_elementwise", "test_reductions", "test_contractions", "test_indexing", "test_shapes_creation",
           "test_control", "test_programs", "test_linalg"]


def programs():
    for modname in MODULES:
        module = importlib.import_module(modname)
        for name, obj in vars(module).items():
            if isinstance(obj, flowc.ProgramObject) and obj._annotated:
                yield pytest.param(obj, id=f"{modname}.{name}")


@pytest.mark.parametrize("prog", list(programs()))
def test_lowered_ir_validates_and_round_trips(prog):
    p = prog.to_ir()
    p.validate()
    text = p.to_json()
    assert flowc.ir.from_json(text).to_json() == text
    assert "<svg" in p._repr_svg_()


def test_frontend_imports_only_the_ir():
    """The frontend is a stage: it builds IR and knows nothing of code generation or the runtime."""
    import ast
    import pathlib

    root = pathlib.Path(flowc.frontend.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for n in names:
                assert not n.startswith(("flowc.codegen", "flowc.runtime", "flowc.transforms", "flowc.api")), \
                    f"{path.name} imports {n}"
                assert n != "flowc", f"{path.name} imports the public package"
