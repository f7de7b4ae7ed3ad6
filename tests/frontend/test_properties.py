"""Property-based tests: random element-wise and reduction programs over random (broadcast) shapes,
each compiled once and compared with NumPy at several sizes.

Hypothesis draws an expression tree over up to three input arrays whose annotated shapes are suffixes
of a symbolic shape (some dimensions 1, so they broadcast), with mixed float32/float64 inputs and
Python constants (weak scalars). The program's source is generated, registered with ``linecache`` so
the frontend can read it, compiled once (about half a second), and run at two random sizes.
"""

import linecache
import itertools

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import flowc

from fe_helpers import assert_same

SYMS = ("D0", "D1", "D2")
#: no shrinking: every shrink step compiles a program; the failing example is printed as drawn
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
_counter = itertools.count()

UNARY = ["np.tanh({})", "np.abs({})", "np.exp(np.tanh({}))", "np.sqrt(np.abs({}))", "-{}", "np.log1p(np.abs({}))",
         "np.sin({})", "({} ** 2)", "np.floor({} * 4)", "np.sign({})"]
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} / (1.5 + np.abs({})))", "np.maximum({}, {})",
          "np.minimum({}, {})", "np.where({} > {}, 1.0, -1.0)"]
CONSTS = ["2.0", "3", "0.5", "1"]


@st.composite
def inputs(draw):
    rank = draw(st.integers(1, 3))
    dims = SYMS[3 - rank:]
    n = draw(st.integers(1, 3))
    arrays = []
    for _ in range(n):
        r = draw(st.integers(1, rank))
        shape = [d if draw(st.booleans()) or r == 1 else "1" for d in dims[rank - r:]]
        if all(s == "1" for s in shape):
            shape[-1] = dims[-1]
        arrays.append((shape, draw(st.sampled_from(["float32", "float64"]))))
    return dims, arrays


@st.composite
def expressions(draw, names, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.integers(0, 5)) == 0:
            return draw(st.sampled_from(CONSTS))
        return draw(st.sampled_from(names))
    if draw(st.booleans()):
        return draw(st.sampled_from(UNARY)).format(draw(expressions(names, depth - 1)))
    return draw(st.sampled_from(BINARY)).format(draw(expressions(names, depth - 1)),
                                                 draw(expressions(names, depth - 1)))


def make_program(body: str, arrays: list, dims: tuple) -> tuple:
    """A flowc program and a NumPy function from generated source."""
    params = ", ".join(f"a{i}: flowc.{dt}[{', '.join(shape)}]" for i, (shape, dt) in enumerate(arrays))
    name = f"prop_{next(_counter)}"
    src = f"def {name}({params}):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    filename = f"<flowc-property-{name}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    namespace = {"np": np, "flowc": flowc, **{d: flowc.symbol(d) for d in dims}}
    exec(compile(src, filename, "exec"), namespace)
    return flowc.program(namespace[name]), namespace[name]


def random_args(rng, arrays, sizes):
    out = []
    for shape, dt in arrays:
        concrete = tuple(1 if s == "1" else sizes[s] for s in shape)
        out.append((rng.random(concrete) * 2 - 1).astype(dt))
    return out


def check_at_sizes(prog, func, arrays, dims, rng):
    free = set(prog.to_ir().free_symbols())
    for _ in range(2):
        sizes = {d: int(rng.integers(1, 7)) for d in dims}
        args = random_args(rng, arrays, sizes)
        ref = func.__globals__.copy()
        ref.update(sizes)
        import types

        numpy_func = types.FunctionType(func.__code__, ref)
        kwargs = {d: v for d, v in sizes.items() if d in free}
        f32 = any(a.dtype == np.float32 for a in args)
        assert_same(prog(*[a.copy() for a in args], **kwargs), numpy_func(*args), float32_inputs=f32)


@settings(max_examples=6, deadline=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data())
def test_random_elementwise_programs(data):
    dims, arrays = data.draw(inputs())
    names = [f"a{i}" for i in range(len(arrays))]
    expr = data.draw(expressions(names))
    if expr in CONSTS:
        expr = f"({names[0]} + {expr})"
    prog, func = make_program(f"return {expr}", arrays, dims)
    check_at_sizes(prog, func, arrays, dims, np.random.default_rng())


@settings(max_examples=6, deadline=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data())
def test_random_reduction_programs(data):
    dims, arrays = data.draw(inputs())
    names = [f"a{i}" for i in range(len(arrays))]
    expr = data.draw(expressions(names, depth=2))
    rank = max(len(s) for s, _ in arrays)
    op = data.draw(st.sampled_from(["np.sum", "np.max", "np.min", "np.mean", "np.prod"]))
    axis_kind = data.draw(st.sampled_from(["none", "int", "neg", "tuple"]))
    if axis_kind == "none":
        axis = "None"
    elif axis_kind == "int":
        axis = str(data.draw(st.integers(0, rank - 1)))
    elif axis_kind == "neg":
        axis = str(-data.draw(st.integers(1, rank)))
    else:
        axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
        axis = "(" + ", ".join(map(str, axes)) + ",)"
    keep = data.draw(st.booleans())
    body = (f"t = {expr} + 0 * {names[0]}\n"
            f"t = t + np.zeros(({', '.join(dims)},))\n"
            f"r = {op}(t, axis={axis}, keepdims={keep})\n")
    if keep and data.draw(st.booleans()):
        body += "return t - r\n"         # broadcast the kept dimensions back (the softmax pattern)
    else:
        body += "return r\n"
    prog, func = make_program(body, arrays, dims)
    check_at_sizes(prog, func, arrays, dims, np.random.default_rng())
