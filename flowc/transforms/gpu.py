"""GPU offload: the program works on device copies of its arrays, with explicit host↔device
copies, and its top-level maps run as GPU kernels (DaCe's ``GPUTransformSDFG``)::

    A (host arg) ─▶ map i, j ─▶ B (host arg)
                            ⇒
    gpu_copy_in:   A (host) ─▶ A_gpu (gpu_global)
    ...            A_gpu ─▶ map i, j (gpu_device) ─▶ B_gpu (gpu_global)
    gpu_copy_out:  B_gpu ─▶ B (host)

Every array argument (and returned array) that the program uses gets a device twin: the states
use the twin, a first state copies each argument in (returned arrays excepted: they start
empty) and a last state copies each argument the program writes, and each returned array,
back out. Intermediates are moved to device memory. So ``data_movement()`` counts the
host↔device traffic separately (``transfers``) from the device memory traffic.

When a caller passes device arrays (CuPy, PyTorch, DLPack), the generated code skips the copies
of those arguments and uses them in place: the copy nodes describe what a host caller costs.

The cuda target applies it last, after every other transformation (``flowc.targets``), so
the order in which a user applies transformations does not matter; applied again it moves
only what was added since (a map a later fusion created, a new intermediate).
"""

from __future__ import annotations

from typing import Iterator

from flowc.ir.data import Array, Storage
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, Schedule
from flowc.ir.program import Program
from flowc.ir.state import State
from flowc.transforms.base import Match, NotApplicable, Transformation

#: names of the states that copy arguments in and results out
COPY_IN, COPY_OUT = "gpu_copy_in", "gpu_copy_out"


def _top_level_maps(program: Program) -> Iterator[MapEntry]:
    for state in program.states():
        scopes = state.scope_dict()
        for node in state.nodes():
            if isinstance(node, MapEntry) and scopes.get(node) is None:
                yield node


def _is_copy_state(state: State) -> bool:
    return state.name.startswith(COPY_IN) or state.name.startswith(COPY_OUT)


def host_arguments(program: Program) -> list[str]:
    """Array arguments and returned arrays, in calling order."""
    names = [n for n in program.arg_names if isinstance(program.data[n], Array)] + list(program.returns)
    return [n for n in names if program.data[n].view_of is None]


def twins(program: Program) -> dict[str, str]:
    """Device twin → host argument, read off the copy states."""
    out = {}
    for state in program.states():
        if not _is_copy_state(state):
            continue
        for e in state.edges():
            if isinstance(e.src, AccessNode) and isinstance(e.dst, AccessNode):
                src, dst = e.src.data, e.dst.data
                host, dev = (src, dst) if state.name.startswith(COPY_IN) else (dst, src)
                out[dev] = host
    return out


class GPUOffload(Transformation):
    """Give every array argument a device twin with explicit copies, move intermediates to device
    memory, and give every top-level map the GPU_DEVICE schedule."""

    def candidates(self, program: Program) -> Iterator[Match]:
        states = list(program.states())
        if states:
            yield self.match(states[0], info="the whole program")

    @staticmethod
    def _used_on_host(program: Program) -> list[str]:
        """Arguments that states other than the copy states still use directly."""
        args = set(host_arguments(program))
        used = []
        for state in program.states():
            if _is_copy_state(state):
                continue
            for n in state.data_nodes():
                root = program.root_of(n.data)
                if root in args and root not in used:
                    used.append(root)
        return [n for n in host_arguments(program) if n in used]

    def plan(self, program: Program, match: Match) -> None:
        args = set(host_arguments(program))
        stay = [n for n, d in program.data.items() if isinstance(d, Array) and n not in args
                and d.storage is not Storage.GPU_GLOBAL]
        maps = [m for m in _top_level_maps(program) if m.map.schedule is not Schedule.GPU_DEVICE]
        if not stay and not maps and not self._used_on_host(program):
            raise NotApplicable("every array is in GPU memory and every top-level map is a GPU kernel already")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        moved = self._used_on_host(program)
        renamed: dict[str, str] = {}
        for name in moved:
            desc = program.data[name]
            twin = program.new_name(f"{name}_gpu")
            program.data[twin] = Array(desc.dtype, desc.shape, desc.strides, storage=Storage.GPU_GLOBAL,
                                       transient=True)
            renamed[name] = twin
        for desc in program.data.values():                   # views of an argument see its twin
            if isinstance(desc, Array) and desc.view_of in renamed:
                desc.view_of = renamed[desc.view_of]
        written: set[str] = set()
        for state in program.states():
            if _is_copy_state(state):
                continue
            for n in state.data_nodes():
                if n.data in renamed:
                    if state.in_degree(n) > 0:
                        written.add(n.data)
                    n.data = renamed[n.data]
            for e in list(state.edges()):
                if e.memlet.data in renamed:
                    m = e.memlet
                    state.set_memlet(e, Memlet(renamed[m.data], m.subset, m.wcr, m.other_subset))
            state.touch()
        for n in state_views_written(program, renamed):
            written.add(n)
        args = set(host_arguments(program))
        for name, desc in program.data.items():
            if isinstance(desc, Array) and name not in args:
                desc.storage = Storage.GPU_GLOBAL
        copy_in = [n for n in moved if n not in program.returns]
        copy_out = [n for n in moved if n in program.returns or n in written]
        if copy_in:
            st = program.body.add_state(COPY_IN)
            program.body.items.insert(0, program.body.items.pop())
            for n in copy_in:
                st.add_edge(st.add_access(n), None, st.add_access(renamed[n]), None, Memlet(n))
        if copy_out:
            st = program.body.add_state(COPY_OUT)
            for n in copy_out:
                st.add_edge(st.add_access(renamed[n]), None, st.add_access(n), None, Memlet(renamed[n]))
        for entry in _top_level_maps(program):
            entry.map.schedule = Schedule.GPU_DEVICE


def state_views_written(program: Program, renamed: dict[str, str]) -> set[str]:
    """Arguments written through a view (the view's access node has incoming edges)."""
    out = set()
    twin_of = {v: k for k, v in renamed.items()}
    for state in program.states():
        for n in state.data_nodes():
            desc = program.data[n.data]
            if isinstance(desc, Array) and desc.view_of is not None and state.in_degree(n) > 0:
                root = program.root_of(n.data)
                if root in twin_of:
                    out.add(twin_of[root])
    return out
