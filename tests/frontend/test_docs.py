"""docs/numpy_subset.md lists exactly the callables in the frontend's function table."""

import pathlib
import re

from flowc.frontend import numpy_functions  # noqa: F401  (fills the table)
from flowc.frontend.registry import FUNCTIONS, METHODS

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "numpy_subset.md"


def documented() -> set[str]:
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)\(\)`", DOC.read_text()))


def test_every_documented_function_is_supported():
    missing = documented() - set(FUNCTIONS) - set(METHODS)
    assert not missing, f"documented but not in the function table: {sorted(missing)}"


def test_every_supported_function_is_documented():
    undocumented = (set(FUNCTIONS) | set(METHODS)) - documented()
    assert not undocumented, f"supported but missing from docs/numpy_subset.md: {sorted(undocumented)}"
