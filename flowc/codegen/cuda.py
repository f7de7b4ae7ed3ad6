"""IR → CUDA: the C++ generator with top-level scopes turned into kernels.

The host function is the CPU target's (same signature, same control flow, same
symbolic sizes: one binary serves every size); what runs on the device::

    top-level map scope  → one kernel: a grid-stride loop over the flattened
                           iteration space of its parallel parameters (grid and
                           block from the sizes at run time); the scope's body,
                           nested maps included, runs per thread as on the CPU
    top-level tasklet    → a one-thread kernel
    copy between arrays  → a kernel over the copied elements
    MatMul               → cuBLAS strided batched GEMM (``flowc.codegen.cublas``)
    branch / while       → on the host; a scalar the condition reads is fetched
                           from the device first

Kernels are ``__device__`` lambdas handed to ``flowc::launch_map`` (templates/cuda.h.j2),
so a kernel's arguments are whatever its body names, captured by value: array
pointers, sizes, loop variables. Arrays and the program's scalars live in device
memory: arguments are device pointers (the driver, ``flowc.runtime.cuda``, stages
NumPy arrays), intermediates sit in a per-thread device workspace kept between
calls, and a scalar computed by one kernel and read by another is a slot of that
workspace (``T& x = *fc_dev_x`` in each kernel). An intermediate array that a
kernel's threads write at distinct indices (each thread its own row after map
fusion) is in the workspace at full size; one that every thread uses privately
is a per-thread array of constant size, and refused otherwise.

Write-conflict resolution: a write that distinct threads may make to one element
(by ``ir.symbolic.distinct_elements``, shared with the CPU target) is an atomic (``flowc::atomic_*``;
float sums then round in an unspecified order); everything else is a plain
store. The same source compiles with nvcc and, against flowc's emulation header,
as host C++ (``FLOWC_CUDA_EMULATION``): that is how the kernels are tested
without a GPU.
"""

from __future__ import annotations

from typing import Optional

import sympy

from flowc.codegen.cpp import CppGenerator, GeneratedCode
from flowc.codegen.cxx_expr import cname, cxx_comment, cxx_string, sym_cxx
from flowc.ir import expr as tl
from flowc.ir.data import Array, Scalar
from flowc.ir.errors import INDEX_ERROR, TargetError
from flowc.ir.nodes import AccessNode, LibraryNode, MapEntry, MapExit, Schedule, Tasklet
from flowc.ir.program import Program
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import canonical_symbol, distinct_elements
from flowc.transforms.gpu import twins

#: dtypes the cuda target does not generate yet (complex needs cuComplex arithmetic)
UNSUPPORTED_DTYPES = frozenset({"complex64", "complex128"})
#: the largest per-thread array a kernel keeps on its stack (elements)
MAX_THREAD_ARRAY = 1024
#: write-conflict resolutions through device atomics (compare-and-swap loops where CUDA has no atomic)
_WCR_DEVICE_ATOMIC = {op: f"flowc::atomic_{name}(&{{t}}, ({{ct}}){{v}});"
                      for op, name in (("sum", "add"), ("prod", "mul"), ("max", "max"), ("min", "min"))}


def generate_cuda(program: Program, *, blas_prefix: str = "scipy_", instrument: bool = False) -> GeneratedCode:
    """CUDA source for ``program`` after GPU offload (``flowc.transforms.GPUOffload``) and library
    expansion for the cuda target."""
    from flowc.codegen import cublas  # noqa: F401  (registers the cuBLAS emitter)

    return CudaGenerator(program, blas_prefix, instrument).generate()


class CudaGenerator(CppGenerator):
    """The CUDA target's generator: data overrides (templates, atomics, the device index record)
    and the kernel mapping of top-level scopes."""

    TARGET = "cuda"
    PROGRAM_TEMPLATE = "cuda_program.cu.j2"
    HELPERS_TEMPLATE = "cuda.h.j2"
    LANGUAGE = "cuda"
    WCR_ATOMIC = _WCR_DEVICE_ATOMIC
    index_record = "(*fc_index_error_d)"
    #: float16 is ``flowc::half`` (templates/cuda.h.j2): __half storage, float arithmetic rounded
    #: to half after each operation, as NumPy's float16 loops compute
    CTYPES = {"float16": "flowc::half"}

    def __init__(self, program: Program, blas_prefix: str, instrument: bool):
        for name, desc in program.data.items():
            if desc.dtype.name in UNSUPPORTED_DTYPES:
                raise TargetError(f"{name} is {desc.dtype.name}: the cuda target does not support "
                              f"{desc.dtype.name} yet (float16, float32, float64, integers and bool); use target='cpu'")
        super().__init__(program, blas_prefix, instrument)
        #: device twin → host argument (flowc.transforms.gpu), and each argument's bit in ``fc_on_device``
        self.twins = twins(program)
        arrays = [prm.name for prm in program.call_signature() if prm.kind == "array"]
        self.device_bit = {name: k for k, name in enumerate(arrays)}
        #: scalars at function level: slots of the device workspace, ``fc_dev_<name>`` on the host
        self.device_scalars = [n for n, places in self._placement.items()
                               if places == [(None, None)] and isinstance(program.data[n], Scalar)]
        self._in_kernel = False
        #: the row map of the block-per-row kernel being emitted (None otherwise)
        self._row_entry: Optional[MapEntry] = None
        #: row scalars a block-strided inner map accumulates into: the thread's partial value
        self._partials: dict[str, str] = {}

    # ------------------------------------------------------------ where data lives
    def _place_transients(self) -> dict:
        """The CPU placement, except that an array placed in a map scope whose kernel threads touch
        it at distinct indices moves to function level (device memory, full size)."""
        placement = super()._place_transients()
        for name, places in placement.items():
            if places == [(None, None)] or not isinstance(self.program.data[name], Array):
                continue
            if all(self._partitioned(state, scope, name) for state, scope in places):
                placement[name] = [(None, None)]
        return placement

    def _partitioned(self, state: State, scope: MapEntry, name: str) -> bool:
        """Whether every memlet of ``name`` in the kernel around ``scope`` fixes one dimension per
        parallel parameter of that kernel to the parameter itself: threads own disjoint parts."""
        scopes = state.scope_dict()
        outer = ([scope] + list(state.enclosing_maps(scope, scopes)))[-1]
        params = [str(p) for p in outer.map.params[:self._parallel_count(outer)]]
        edges = [e for e in state.edges() if e.data == name]
        if not edges:
            return False
        for e in edges:
            if e.memlet.is_empty or e.memlet.subset is None:
                return False
            subset = list(e.memlet.subset)
            if not distinct_elements([r.start for r in subset], params):
                return False
            for p in params:
                sym = canonical_symbol(p)
                if not any(r.start == sym and r.size() == 1 for r in subset):
                    return False
        return True

    def _declare(self, name: str) -> None:
        if name in self.device_scalars:
            return                               # a slot of the device workspace
        desc = self.program.data[name]
        if isinstance(desc, Array):              # private to one kernel thread
            size = sympy.sympify(desc.total_size())
            if not size.is_Integer or int(size) > MAX_THREAD_ARRAY:
                raise TargetError(f"{name} ({desc.dtype.name}[{', '.join(map(str, desc.shape))}]) is private to each "
                              f"GPU thread; the cuda target keeps such arrays only at a constant size of at most "
                              f"{MAX_THREAD_ARRAY} elements (index it by the map's parameters to share one array)")
            self.emit(f"{self.ctype_of(desc.dtype)} {cname(name)}[{max(int(size), 1)}];")
            return
        super()._declare(name)

    def _free(self, name: str) -> None:
        return                                   # stack arrays and workspace slots

    WORKSPACE_ALLOC = "flowc::device_workspace"
    WORKSPACE_ALIGN = 256
    WORKSPACE_FAILED = '"out of device memory for intermediates (%lld bytes)", (long long)fc_ws_bytes'

    def _workspace_slots(self, arrays: list[str]) -> list[str]:
        return list(arrays) + self.device_scalars

    def _declare_slot(self, name: str, ct: str, slot: str) -> None:
        if name in self.device_scalars:
            self.emit(f"{ct}* fc_dev_{name} = {slot};")
        elif name in self.twins:        # the caller's device array itself, or a slot its host copy goes to
            host = self.twins[name]
            self.emit(f"{ct}* {cname(name)} = {self._on_device(host)} ? {cname(host)} : {slot};")
        else:
            self.emit(f"{ct}* {cname(name)} = {slot};")

    def extra_params(self) -> list[str]:
        """``fc_on_device``: bit k set when the k-th array argument (call-signature order) is already
        in device memory; its copies to and from a device twin are skipped and the twin is it."""
        return ["int64_t fc_on_device"]

    def _on_device(self, host: str) -> str:
        return f"((fc_on_device >> {self.device_bit[host]}) & 1)"

    def index_declarations(self) -> list[str]:
        if not self.subscripts.sites:
            return []
        table = ", ".join(f"{{\"{cxx_string(s.data)}\", \"{cxx_string(s.tasklet)}\"}}" for s in self.subscripts.sites)
        return ["flowc::IndexError* fc_index_error_d = flowc::device_index_record();",
                'if (!fc_index_error_d) { std::snprintf(flowc::error_message, sizeof flowc::error_message, '
                '"out of device memory"); return 1; }',
                f"static const flowc::IndexSite fc_index_sites[] = {{{table}}};"]

    def index_check(self) -> str:
        return ("{ const flowc::IndexError fc_ie = flowc::fetch(fc_index_error_d); "
                f"if (fc_ie.flag != 0) return flowc::index_error_return(fc_ie, fc_index_sites, {INDEX_ERROR}); }}")

    def condition_prelude(self, cond: tl.Node) -> list[str]:
        """A scalar computed on the device is copied to a host variable of its name."""
        names = sorted(set(tl.names(cond)) & set(self.device_scalars))
        return [f"const {self.ctype(n)} {cname(n)} = flowc::fetch(fc_dev_{n});" for n in names]

    # ------------------------------------------------------------ kernels
    def _kernel_prologue(self) -> None:
        for n in self.device_scalars:
            self.emit(f"{self.ctype(n)}& {cname(n)} = *fc_dev_{n}; (void){cname(n)};")

    def _launch(self, label: str, count: str, body) -> None:
        """One kernel over ``count`` flat indices (``fc_flat``); ``body()`` emits one iteration."""
        self.emit(f'flowc::last_kernel() = "{cxx_string(label)}";')
        self.emit(f"{{ cudaError_t fc_err = flowc::launch_map({count}, [=] __device__ (int64_t fc_flat) {{")
        self.depth += 1
        self._kernel_prologue()
        self._in_kernel = True
        try:
            body()
        finally:
            self._in_kernel = False
        self.depth -= 1
        self.emit("});")
        self.emit(f'  if (int fc_e = flowc::check(fc_err, "{cxx_string(label)}")) return fc_e;')
        self.emit(f'  FLOWC_AFTER_LAUNCH("{cxx_string(label)}"); }}')

    @staticmethod
    def _parallel_count(entry: MapEntry) -> int:
        """The leading parameters a kernel spreads over threads: those whose ranges name no
        parameter of the same map (a triangular inner range runs sequentially per thread)."""
        params = {canonical_symbol(p) for p in entry.map.params}
        n = 0
        for r in entry.map.ranges:
            if r.free_symbols() & params:
                break
            n += 1
        return n

    def emit_scope(self, state: State, entry: Optional[MapEntry], scopes: dict,
                   parallel_params: list[str], in_parallel: bool) -> None:
        if entry is not None or self._in_kernel:
            super().emit_scope(state, entry, scopes, parallel_params, in_parallel)
            return
        for node in state.topological_nodes():
            if scopes.get(node) is not None or isinstance(node, MapExit):
                continue
            timed = self.instrument and not isinstance(node, AccessNode)
            if timed:
                self._timer_start(state, node)
            if isinstance(node, MapEntry) and self._row_kernel(state, node, scopes):
                self.emit_row_kernel(state, node, scopes)
            elif isinstance(node, MapEntry):
                self.emit_kernel_map(state, node, scopes)
            elif isinstance(node, Tasklet):
                self._launch(f"{state.name}/{node.label}", "1",
                             lambda node=node: self.emit_tasklet(state, node, [], scopes))
            elif isinstance(node, AccessNode):
                for e in state.in_edges(node):
                    if isinstance(e.src, AccessNode) and not e.memlet.is_empty:
                        self.emit_kernel_copy(state, e)
            elif isinstance(node, LibraryNode):
                self.emit_library(state, node)
            if timed:
                self._timer_stop(state, node, scopes)

    def emit_library(self, state: State, node: LibraryNode) -> None:
        if self._in_kernel:
            raise TargetError(f"{node!r} is inside a map scope; the cuda target calls libraries from the host only "
                          "(expand it: flowc.transforms.expand_library_nodes(program, 'cuda'))")
        super().emit_library(state, node)

    def emit_kernel_map(self, state: State, entry: MapEntry, scopes: dict) -> None:
        m = entry.map
        n_par = self._parallel_count(entry)
        if n_par == 0:
            raise TargetError(f"{entry!r}: the first range of a map names its own parameters")
        label = f"{state.name}/{entry.label}"
        self.emit(f"{{ // kernel {cxx_comment(label)}")
        self.depth += 1
        sizes = []
        for d, r in enumerate(m.ranges[:n_par]):
            self.emit(f"const int64_t fc_n{d} = flowc::size_max(0, {sym_cxx(r.size())});")
            sizes.append(f"fc_n{d}")

        def body() -> None:
            self.emit("int64_t fc_rest = fc_flat;")
            for d in range(n_par - 1, -1, -1):
                r, p = m.ranges[d], cname(m.params[d])
                step = "" if r.step == 1 else f" * ({sym_cxx(r.step)})"
                if d == 0:
                    self.emit(f"const int64_t {p} = {sym_cxx(r.start)} + fc_rest{step};")
                else:
                    self.emit(f"const int64_t {p} = {sym_cxx(r.start)} + (fc_rest % fc_n{d}){step}; "
                              f"fc_rest /= fc_n{d};")
            self.emit("(void)fc_rest;")
            rest = list(zip(m.params[n_par:], m.ranges[n_par:]))
            for p, r in rest:
                self.emit(self._loop_header(cname(p), r))
                self.depth += 1
            self.emit("{")
            self.depth += 1
            self.emit_scope(state, entry, scopes, [str(p) for p in m.params[:n_par]], True)
            self.depth -= 1
            self.emit("}")
            self.depth -= len(rest)

        self._launch(label, " * ".join(sizes), body)
        self.depth -= 1
        self.emit("}")

    # ------------------------------------------------------------ one block per row
    def _row_kernel(self, state: State, entry: MapEntry, scopes: dict) -> bool:
        """Whether a top-level map is a row-normalization scope: rectangular parameters (each row is
        one point of them: ``b, h, i`` of an attention's scores), and a body of maps over the row
        (one parameter, constant step, no deeper maps, no library calls, no array private to an
        iteration) with at least one reducing into a scalar of the row. Such a scope is one
        thread block per row; other maps are one thread per iteration."""
        if self._parallel_count(entry) != len(entry.map.params):
            return False
        inner = []
        for n, s in scopes.items():
            if n is entry or entry not in state.enclosing_maps(n, scopes):
                continue
            if isinstance(n, LibraryNode):
                return False
            if isinstance(n, MapEntry):
                if s is not entry or len(n.map.params) != 1 or not n.map.ranges[0].step.is_number \
                        or n.map.schedule is Schedule.SEQUENTIAL:      # an order the threads would break
                    return False
                inner.append(n)
        private = [name for name, places in self._placement.items() if isinstance(self.program.data[name], Array)
                   and any(st is state and (sc is entry or sc in inner) for st, sc in places)]
        if not inner or private:
            return False
        return any(self._row_reductions(state, n) for n in inner)

    def _row_reductions(self, state: State, inner: MapEntry) -> dict[str, str]:
        """Scalars of the row that ``inner`` accumulates into, with their operators."""
        out = {}
        for e in state.out_edges(state.exit_of(inner)):
            if e.memlet.wcr is not None and e.data is not None and isinstance(self.program.data[e.data], Scalar) \
                    and e.data not in self.device_scalars:
                out[e.data] = e.memlet.wcr
        return out

    def _sets_row_scalar(self, state: State, inner: MapEntry) -> bool:
        return any(e.memlet.wcr is None and e.data is not None and isinstance(self.program.data[e.data], Scalar)
                   for e in state.out_edges(state.exit_of(inner)))

    def emit_row_kernel(self, state: State, entry: MapEntry, scopes: dict) -> None:
        m = entry.map
        label = f"{state.name}/{entry.label}"
        self.emit(f"{{ // kernel {cxx_comment(label)}: one block per row")
        self.depth += 1
        for d, r in enumerate(m.ranges):
            self.emit(f"const int64_t fc_n{d} = flowc::size_max(0, {sym_cxx(r.size())});")
        rows = " * ".join(f"fc_n{d}" for d in range(len(m.ranges)))
        self.emit(f'flowc::last_kernel() = "{cxx_string(label)}";')
        self.emit(f"{{ cudaError_t fc_err = flowc::launch_rows({rows}, [=] __device__ (int64_t fc_row) {{")
        self.depth += 1
        self._kernel_prologue()
        self.emit("int64_t fc_rest = fc_row; (void)fc_rest;")
        for d in range(len(m.params) - 1, -1, -1):
            r, p = m.ranges[d], cname(m.params[d])
            step = "" if r.step == 1 else f" * ({sym_cxx(r.step)})"
            self.emit(f"const int64_t {p} = {sym_cxx(r.start)} + fc_rest{step};" if d == 0 else
                      f"const int64_t {p} = {sym_cxx(r.start)} + (fc_rest % fc_n{d}){step}; fc_rest /= fc_n{d};")
        self._in_kernel, self._row_entry = True, entry
        try:
            self.emit_scope(state, entry, scopes, [str(p) for p in m.params], True)
        finally:
            self._in_kernel, self._row_entry = False, None
        self.depth -= 1
        self.emit("});")
        self.emit(f'  if (int fc_e = flowc::check(fc_err, "{cxx_string(label)}")) return fc_e;')
        self.emit(f'  FLOWC_AFTER_LAUNCH("{cxx_string(label)}"); }}')
        self.depth -= 1
        self.emit("}")

    def emit_map(self, state: State, entry: MapEntry, scopes: dict, parallel_params: list[str],
                 in_parallel: bool) -> None:
        if self._row_entry is None or scopes.get(entry) is not self._row_entry or self._sets_row_scalar(state, entry):
            # a map that sets a scalar of the row (``mu = sum / M`` over a range of one) runs whole in
            # every thread: each thread's copy of the scalar gets the value
            super().emit_map(state, entry, scopes, parallel_params, in_parallel)
            return
        # a map over the row: the block's threads take every blockDim-th iteration; a reduction
        # into a row scalar accumulates a partial value per thread, combined across the block after
        r, p = entry.map.ranges[0], cname(entry.map.params[0])
        reductions = self._row_reductions(state, entry)
        ops = {"sum": "flowc::op_sum{}", "prod": "flowc::op_prod{}", "max": "flowc::op_max{}", "min": "flowc::op_min{}"}
        for name, op in reductions.items():
            ct = self.ctype(name)
            self._partials[name] = f"fc_part_{cname(name)}"
            self.emit(f"{ct} fc_part_{cname(name)} = flowc::identity<{ct}>({ops[op]});")
        step = sym_cxx(r.step)
        cond = f"{p} > {sym_cxx(r.stop)}" if r.step < 0 else f"{p} < {sym_cxx(r.stop)}"
        self.emit(f"for (int64_t {p} = {sym_cxx(r.start)} + (int64_t)threadIdx.x * ({step}); {cond}; "
                  f"{p} += (int64_t)blockDim.x * ({step})) {{")
        self.depth += 1
        self.emit_scope(state, entry, scopes, parallel_params + [str(entry.map.params[0])], True)
        self.depth -= 1
        self.emit("}")
        for name, op in reductions.items():
            part = self._partials.pop(name)
            self.emit(f"{cname(name)} = {ops[op]}({cname(name)}, flowc::block_reduce({part}, {ops[op]}));")
        self.emit("__syncthreads();     // the row's next map may read what other threads wrote")

    def emit_transfer(self, e: Edge) -> None:
        """A copy between a host argument and its device twin: cudaMemcpyAsync on the caller's stream
        (waited for when it goes to the host), skipped when the argument is on the device already."""
        src, dst = e.src.data, e.dst.data
        to_device = dst in self.twins
        host = self.twins[dst] if to_device else self.twins[src]
        desc = self.program.data[host]
        count = sympy.Mul(*desc.shape)
        nbytes = f"(({sym_cxx(count)}) > 0 ? (int64_t)({sym_cxx(desc.total_size())}) * {desc.dtype.itemsize} : 0)"
        self.emit(f"if (!{self._on_device(host)}) {{ // {'to' if to_device else 'from'} the device: {host}")
        self.emit(f"  if (int fc_e = flowc::transfer({cname(dst)}, {cname(src)}, {nbytes}, {int(to_device)})) "
                  "return fc_e;")
        self.emit("}")

    def emit_kernel_copy(self, state: State, e: Edge) -> None:
        if e.dst.data in self.twins and e.src.data == self.twins[e.dst.data] or \
                e.src.data in self.twins and e.dst.data == self.twins[e.src.data]:
            self.emit_transfer(e)
            return
        extents, dst, src = self.copy_plan(e)
        label = f"{state.name}/copy {e.src.data} -> {e.dst.data}"
        self.emit(f"{{ // kernel {cxx_comment(label)}")
        self.depth += 1
        for k, size in enumerate(extents):
            self.emit(f"const int64_t fc_n{k} = flowc::size_max(0, {sym_cxx(size)});")

        def body() -> None:
            self.emit("int64_t fc_rest = fc_flat; (void)fc_rest;")
            for k in range(len(extents) - 1, -1, -1):
                v = cname(f"fc_c{k}")
                self.emit(f"const int64_t {v} = fc_rest;" if k == 0 else
                          f"const int64_t {v} = fc_rest % fc_n{k}; fc_rest /= fc_n{k};")
            self.emit(f"{dst} = {src};")

        self._launch(label, " * ".join(f"fc_n{k}" for k in range(len(extents))) or "1", body)
        self.depth -= 1
        self.emit("}")

    # ------------------------------------------------------------ inside kernels
    def _schedule(self, entry: MapEntry, in_parallel: bool) -> bool:
        return False                       # nested maps run sequentially in their thread

    def _simd_pragma(self, state: State, entry: MapEntry, scopes: dict) -> str:
        return ""

    def emit_write(self, e: Edge, value: str, parallel_params: list[str]) -> None:
        wcr = e.memlet.wcr
        desc = self.program.data[e.data]
        shared = e.data in self.device_scalars or (
            isinstance(desc, Array) and not distinct_elements(
                [r.start for r in e.memlet.subset] if e.memlet.subset is not None else [], parallel_params))
        if wcr is None or not shared or not self._in_kernel:
            super().emit_write(e, value, parallel_params)
            return
        start = [r.start for r in e.memlet.subset] if e.memlet.subset is not None else []
        self.emit(self.WCR_ATOMIC[wcr].format(t=self.element(e.data, start), v=value, ct=self.ctype_of(desc.dtype)))

    def element(self, data: str, index: list) -> str:
        if data in self._partials:
            return self._partials[data]
        if data in self.device_scalars and not self._in_kernel:
            return f"(*fc_dev_{data})"
        return super().element(data, index)
