"""Loading an IR file never runs code: payloads in every symbolic field of the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ir_programs import axpy

from flowc import ir
from flowc.ir.errors import IRError


def _doc() -> dict:
    return json.loads(axpy().to_json())


def _payloads(marker: Path) -> list[str]:
    """Python that creates ``marker`` when evaluated (plain and sympy-specific spellings)."""
    m = str(marker)
    return [
        f"__import__('os').system('touch {m}')",
        f"N + __import__('pathlib').Path('{m}').touch()",
        f"(lambda: open('{m}', 'w'))()",
        f"Symbol('x').__class__.__mro__[-1].__subclasses__() and open('{m}', 'w')",
        f"N*open('{m}','w').close()",
    ]


def _places(doc: dict, payload: str) -> list[dict]:
    """Copies of ``doc`` with ``payload`` in a shape, a stride, a memlet subset and a map range."""
    out = []
    for path in (("data", 0, "shape", 0), ("data", 0, "strides", 0), ("data", 0, "offset")):
        d = json.loads(json.dumps(doc))
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = payload
        out.append(d)
    d = json.loads(json.dumps(doc))
    d["body"][0]["maps"][0]["ranges"][0] = f"0:{payload}"
    out.append(d)
    d = json.loads(json.dumps(doc))
    edge = next(e for e in d["body"][0]["edges"] if e["memlet"] is not None)
    edge["memlet"]["subset"] = payload
    out.append(d)
    d = json.loads(json.dumps(doc))
    d["requirements"] = [[payload, "why"]]
    out.append(d)
    return out


def test_from_json_never_evaluates_python(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for payload in _payloads(marker):
        for doc in _places(_doc(), payload):
            with pytest.raises(IRError):
                ir.from_json(json.dumps(doc))
            assert not marker.exists(), f"loading IR ran code: {payload!r}"
