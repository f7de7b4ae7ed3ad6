"""A program's history: the transformations applied to it, in order, as plain JSON data.

Each entry is a small typed dict::

    {"transformation": "MapTiling",                  # a registered transformation's name
     "params": {"tile": 64, "dims": [0]},            # its parameters (JSON values)
     "match": {"state": "s0", "nodes": [3], "labels": ["map_x[i=0:N]"]}}

``match`` names the state and the node ids of the pattern (ids are assigned
deterministically, so they are the same in a fresh lowering of the same program) and
the nodes' labels when matched (checked again on replay, so a history replayed onto a
different program fails loudly instead of rewriting the wrong nodes).

The IR does not import the transformations: each transformation registers its name and a
check of its parameters here when its class is defined (``register``), and ``validate_entry``
(run on every entry a JSON file brings in) rejects unknown names and malformed entries with
an ``IRError``.
"""

from __future__ import annotations

from typing import Any, Callable

from flowc.ir.errors import IRError

#: transformation name → a function that raises IRError for parameters it does not accept
_REGISTRY: dict[str, Callable[[dict[str, Any]], Any]] = {}

ENTRY_KEYS = ("transformation", "params", "match")
MATCH_KEYS = ("state", "nodes", "labels")


def register(name: str, check_params: Callable[[dict[str, Any]], Any]) -> None:
    """Make ``name`` a known transformation whose parameters ``check_params`` validates."""
    _REGISTRY[name] = check_params


def known_transformations() -> list[str]:
    return sorted(_REGISTRY)


def _fail(index: int, msg: str) -> IRError:
    return IRError(f"history entry {index}: {msg}")


def validate_entry(entry: Any, index: int = 0) -> dict[str, Any]:
    """Check one history entry's shape, name and parameters; return it unchanged."""
    if not isinstance(entry, dict) or sorted(entry) != sorted(ENTRY_KEYS):
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise _fail(index, f"expected a dict with keys {', '.join(ENTRY_KEYS)}, got {keys}")
    name = entry["transformation"]
    if not isinstance(name, str) or name not in _REGISTRY:
        raise _fail(index, f"unknown transformation {name!r} (known: {', '.join(known_transformations())})")
    params = entry["params"]
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise _fail(index, f"{name}: params must be a dict with string keys, got {params!r}")
    try:
        _REGISTRY[name](params)
    except (IRError, TypeError, ValueError) as exc:
        raise _fail(index, f"{name}: {exc}") from exc
    match = entry["match"]
    if not isinstance(match, dict) or sorted(match) != sorted(MATCH_KEYS):
        raise _fail(index, f"{name}: match must be a dict with keys {', '.join(MATCH_KEYS)}, got {match!r}")
    if not isinstance(match["state"], str):
        raise _fail(index, f"{name}: match state must be a string, got {match['state']!r}")
    nodes, labels = match["nodes"], match["labels"]
    if not isinstance(nodes, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                              for n in nodes):
        raise _fail(index, f"{name}: match nodes must be a list of node ids, got {nodes!r}")
    if not isinstance(labels, list) or len(labels) != len(nodes) or not all(isinstance(s, str) for s in labels):
        raise _fail(index, f"{name}: match labels must be one string per node, got {labels!r}")
    return entry


def validate_history(entries: Any) -> list[dict[str, Any]]:
    """Check every entry of a history read from JSON (``validate_entry``)."""
    if not isinstance(entries, list):
        raise IRError(f"history must be a list of entries, got {type(entries).__name__}")
    return [validate_entry(e, i) for i, e in enumerate(entries)]
