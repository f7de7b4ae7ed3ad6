"""GPU offload: the program's arrays live in GPU global memory and its top-level
maps run as GPU kernels (DaCe's ``GPUTransformSDFG``)::

    A (host) ─▶ map i, j (default) ─▶ B (host)
                            ⇒
    A (gpu_global) ─▶ map i, j (gpu_device) ─▶ B (gpu_global)

The cuda target applies it last, after every other transformation (``flowc.targets``),
and again until nothing is left to move, so the order in which a user applies
transformations does not matter: a map a later fusion creates is offloaded too. The
arguments of an offloaded program are device arrays; the cuda driver
(``flowc.runtime.cuda``) stages NumPy arguments to and from the device around each call.
Scalars stay ``register`` storage: code generation keeps those that outlive one kernel in
device memory.
"""

from __future__ import annotations

from typing import Iterator

from flowc.ir.data import Array, Storage
from flowc.ir.nodes import MapEntry, Schedule
from flowc.ir.program import Program
from flowc.transforms.base import Match, NotApplicable, Transformation


def _top_level_maps(program: Program) -> Iterator[MapEntry]:
    for state in program.states():
        scopes = state.scope_dict()
        for node in state.nodes():
            if isinstance(node, MapEntry) and scopes.get(node) is None:
                yield node


class GPUOffload(Transformation):
    """Move every array to GPU global memory and give every top-level map the GPU_DEVICE schedule."""

    def candidates(self, program: Program) -> Iterator[Match]:
        states = list(program.states())
        if states:
            yield self.match(states[0], info="the whole program")

    def plan(self, program: Program, match: Match) -> None:
        host = [n for n, d in program.data.items() if isinstance(d, Array) and d.storage is not Storage.GPU_GLOBAL]
        maps = [m for m in _top_level_maps(program) if m.map.schedule is not Schedule.GPU_DEVICE]
        if not host and not maps:
            raise NotApplicable("every array is in GPU memory and every top-level map is a GPU kernel already")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        for desc in program.data.values():
            if isinstance(desc, Array):
                desc.storage = Storage.GPU_GLOBAL
        for entry in _top_level_maps(program):
            entry.map.schedule = Schedule.GPU_DEVICE
