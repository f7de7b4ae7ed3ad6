"""Graph transformations: each rewrites a Program and preserves its semantics.

Use them through the IR (``ir.apply(MapFusion)``, ``ir.matches(MapFusion)``)
or all at once with ``auto_optimize``.
"""

from flowc.ir.program import Program
from flowc.transforms.base import Match, NotApplicable, Transformation, apply, matches, replay
from flowc.transforms.epilogue import EpilogueFusion
from flowc.transforms.expansion import LibraryExpansion, expand_library_nodes
from flowc.transforms.gemv_pair import GemvPairFusion
from flowc.transforms.interchange import MapInterchange
from flowc.transforms.gpu import GPUOffload
from flowc.transforms.layout import LayoutSelection
from flowc.transforms.local_storage import LocalStorage
from flowc.transforms.map_expansion import MapExpansion
from flowc.transforms.map_fusion import MapFusion
from flowc.transforms.normalization import NormalizationFusion
from flowc.transforms.schedule import GemmRowBlocks, MapSchedule
from flowc.transforms.tiling import MapTiling
from flowc.transforms.search import SearchReport, SearchResult, auto_search  # noqa: E402 - uses the above

#: the fixed pipeline of ``auto_optimize``, in order (each applied until it no longer matches)
PIPELINE = (
    "LayoutSelection: store intermediates in the order their transposing copies want; the copies become views",
    "LibraryExpansion: expand library nodes the target has no tuned call for (Reduce → maps; GEMMs stay BLAS)",
    "GemvPairFusion (cpu): A @ x and r @ A over one matrix become one sweep over it",
    "MapExpansion: split element-wise maps into row and column levels",
    "MapFusion: fuse producer→consumer maps, rows first, then columns inside fused rows",
    "LocalStorage: shrink intermediates to registers and per-thread row buffers",
    "EpilogueFusion: element-wise scopes left after a GEMM (bias, activation) run inside it, block by block",
)


def auto_optimize(program: Program, target: str = "cpu") -> list[Match]:
    """Apply the fixed heuristic pipeline (``PIPELINE``); returns what was applied (every step is
    also in ``program.history``, so ``replay`` on a fresh lowering reproduces the result).

    On the cuda target, intermediates shrink to registers only (a GPU thread has no room for a
    row buffer) and GEMM epilogues stay kernels of their own; GPU offload comes last (the target
    applies it)."""
    applied: list[Match] = LayoutSelection().apply_everywhere(program)
    applied += expand_library_nodes(program, target)
    if target == "cpu":
        applied += GemvPairFusion().apply_everywhere(program)
    steps = (MapExpansion(), MapFusion(), LocalStorage()) if target != "cuda" else \
        (MapExpansion(), MapFusion(), LocalStorage(registers_only=True))
    for t in steps:
        applied += t.apply_everywhere(program)
    if target != "cuda":
        applied += EpilogueFusion().apply_everywhere(program)
    return applied


__all__ = [
    "PIPELINE", "EpilogueFusion", "GPUOffload", "GemmRowBlocks", "GemvPairFusion", "LayoutSelection",
    "LibraryExpansion", "LocalStorage", "MapExpansion", "MapFusion", "MapInterchange", "MapSchedule", "MapTiling",
    "Match", "NormalizationFusion", "NotApplicable", "Transformation", "apply", "auto_optimize",
    "expand_library_nodes", "SearchReport", "SearchResult", "auto_search", "matches", "replay",
]
