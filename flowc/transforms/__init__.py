"""Graph transformations: each rewrites a Program and preserves its semantics."""

from flowc.transforms.expansion import expand_library_nodes


def auto_optimize(program, target: str = "cpu") -> list[str]:
    """The fixed heuristic pipeline (grows with the transformations in this package)."""
    return []


__all__ = ["auto_optimize", "expand_library_nodes"]
