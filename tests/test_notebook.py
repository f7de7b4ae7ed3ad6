"""Execute samples/notebooks/transform_bert.ipynb at size "tiny" so the walk-through cannot rot.

Needs the dev extra's notebook tools (nbclient, nbformat, ipykernel); skipped without them.
The kernel is a ``python3`` spec pinned to this interpreter (``sys.executable``, found first
through ``JUPYTER_PATH``, so a user-level ``python3`` spec pointing at another Python cannot
shadow it); it inherits this process's environment: ``FLOWC_NOTEBOOK_SIZE=tiny`` and conftest's
private ``FLOWC_CACHE_DIR``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs nbformat (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="needs nbclient (pip install -e '.[dev]')")
pytest.importorskip("ipykernel", reason="needs ipykernel (pip install -e '.[dev]') to run the notebook's kernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "samples" / "notebooks" / "transform_bert.ipynb"
STEPS = ("numpy", "lowered", "LayoutSelection", "expand_library_nodes", "MapExpansion", "MapFusion",
         "LocalStorage", "EpilogueFusion", "auto_optimize")


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o:
            out.append(o["data"].get("text/plain", ""))
    return "".join(out)


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"commit the notebook with outputs cleared:\n{cell.source}"


def test_notebook_runs_at_tiny_size(monkeypatch, tmp_path):
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (flowc tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("FLOWC_NOTEBOOK_SIZE", "tiny")      # the kernel, started below, inherits it
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()          # raises CellExecutionError (with the cell and traceback) if any cell fails

    finals = [c for c in nb.cells if "final-table" in c.get("metadata", {}).get("tags", [])]
    assert len(finals) == 1, "the summary cell is tagged 'final-table'"
    table = _text(finals[0])
    assert "BERT tiny" in table
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:] if line.strip()}
    for step in STEPS:
        assert step in rows, f"step {step!r} missing from the final table:\n{table}"
    # the optimized program moves fewer bytes than the lowered one, and auto_optimize matches the manual sequence
    moved = {step: float(cols[0]) for step, cols in rows.items() if cols[0] != "-"}
    assert moved["EpilogueFusion"] < moved["LocalStorage"] < moved["lowered"]
    assert moved["auto_optimize"] == moved["EpilogueFusion"]
