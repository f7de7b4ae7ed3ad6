"""Random programs over flowc's documented NumPy subset, as Python source text.

The generator builds a function statement by statement. Every candidate expression and statement is
first executed with NumPy on sample arrays at two sets of sizes (``SAMPLES``); a candidate that NumPy
rejects at either (a broadcasting error, a casting error, a bad axis) is dropped and another is drawn.
So every generated program is valid NumPy at any sizes (modulo data-dependent errors) and the
generator needs no type system of its own: the sample values give each subexpression's exact dtype
and shape. The two size sets use different primes so that derived lengths (``M // 2``, ``N - 1``)
rarely coincide in both.

The body refers to the size symbols ``K``, ``N``, ``M`` directly (``range(N)``, ``x[: M // 2]``);
the oracle (``oracle.reference``) runs the function with those names bound to integers.
"""

from __future__ import annotations

import random
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

SYMBOLS = ("K", "N", "M")
SAMPLES = ({"K": 3, "N": 7, "M": 11}, {"K": 2, "N": 5, "M": 9})
HEADER = ('import math\nimport numpy as np\nimport flowc\n\n'
          'K, N, M = flowc.symbol("K"), flowc.symbol("N"), flowc.symbol("M")\n')

DTYPES = ["float64"] * 3 + ["float32"] * 4 + ["float16", "int64", "int64", "int32", "bool"]
SHAPES = [("N", "M")] * 4 + [("M",)] * 2 + [("N", 1)] * 2 + [("K", "N", "M")] * 2 + [("N",), (1, "M"), ()]
FLOATS = ("float16", "float32", "float64")
INTS = ("int32", "int64")
CAST_TO = ("float16", "float32", "float64", "int32", "int64", "bool_")

UNARY = ["-{}", "np.abs({})", "np.exp({})", "np.sqrt({})", "np.log({})", "np.log1p({})", "np.sin({})", "np.cos({})",
         "np.tanh({})", "np.arctan({})", "np.floor({})", "np.ceil({})", "np.sign({})", "np.square({})",
         "np.expm1({})", "np.isnan({})", "np.isinf({})", "np.isfinite({})", "np.logical_not({})", "~{}",
         "np.fabs({})", "({} ** 2)", "({} ** 3)", "np.clip({}, -1, 2)", "np.clip({}, None, 0.5)", "abs({})",
         "np.reciprocal({})", "np.negative({})", "np.log2({})", "np.arcsin({})", "np.cosh({})", "math.erf({})"]
BINARY = ["({} + {})"] * 3 + ["({} - {})"] * 2 + ["({} * {})"] * 3 + [
    # np.fmax/np.fmin of +0.0 and -0.0 give the first operand in NumPy's scalar loop and the second in
    # its SIMD loop (8+ elements, and 0-d): "+ 0.0" makes that zero +0.0 either way (docs/numpy_subset.md)
    "({} / {})", "({} // {})", "({} % {})", "np.maximum({}, {})", "np.minimum({}, {})", "(np.fmax({}, {}) + 0.0)",
    "(np.fmin({}, {}) + 0.0)", "np.arctan2({}, {})", "({} > {})", "({} <= {})", "({} == {})", "({} != {})", "({} & {})",
    "({} | {})", "({} ^ {})", "np.logical_and({}, {})", "np.logical_or({}, {})", "np.fmod({}, {})",
    "np.power({}, {})", "np.subtract({}, {})", "np.add({}, {})"]
SHIFTS = ["np.left_shift({}, 3)", "({} >> 2)", "({} << 1)"]
REDUCTIONS = ["sum", "sum", "max", "min", "mean", "prod", "argmax", "argmin", "var", "std", "any", "all"]
CONSTANTS = ["2", "3", "-1", "0.5", "1.5", "2.0", "-0.25", "True", "np.float32(0.5)", "np.int32(3)",
             "np.float64(-1.5)", "np.float16(2.0)", "np.int64(-2)"]


class Reject(Exception):
    """A candidate NumPy refuses at the sample sizes; draw another."""


@dataclass
class Program:
    """A generated function: ``source`` is the ``def f(...)`` text (no module header)."""

    seed: int
    source: str
    name: str = "f"

    def module(self) -> str:
        return HEADER + "\n\n" + self.source


def _run(code: str, envs: list[dict], mode: str = "eval") -> list[Any]:
    out = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for env in envs:
            try:
                if mode == "eval":
                    out.append(eval(code, env))  # noqa: S307 - generated test code
                else:
                    exec(code, env)  # noqa: S102
                    out.append(None)
            except Exception as e:  # NumPy refuses this candidate at these sizes
                raise Reject(str(e)) from None
    return out


def _dtype(v: Any) -> str:
    return np.asarray(v).dtype.name


def _shape(v: Any) -> tuple:
    return np.shape(v)


class Generator:
    """Draws one program; ``generate()`` returns its source."""

    def __init__(self, seed: int):
        self.seed = seed
        self.r = random.Random(seed)
        self.envs: list[dict] = []
        self.names: list[str] = []          # variables in scope, in order of definition
        self.params: list[str] = []
        self.lines: list[str] = []
        self.temp = 0
        self.loop_leaf: tuple[str, list] | None = None

    # --- values -------------------------------------------------------------------------------
    def vals(self, name: str) -> list[Any]:
        return [env[name] for env in self.envs]

    def pick_var(self, pred: Callable[[list], bool] = lambda v: True) -> tuple[str, list]:
        cands = [(n, self.vals(n)) for n in self.names]
        if self.loop_leaf is not None:
            cands += [self.loop_leaf] * 3
        cands = [c for c in cands if pred(c[1])]
        if not cands:
            raise Reject("no variable")
        # recent variables are more likely: programs are chains more than bags
        weights = [1 + i for i in range(len(cands))]
        return self.r.choices(cands, weights)[0]

    def new_temp(self) -> str:
        self.temp += 1
        return f"t{self.temp}"

    # --- parameters ---------------------------------------------------------------------------
    def make_params(self) -> str:
        n = self.r.choice([1, 2, 2, 3, 3, 4])
        sigs = []
        rng = np.random.default_rng(self.seed)
        for k in range(n):
            name = "abcdefg"[k]
            dt = self.r.choice(DTYPES)
            shape = self.r.choice(SHAPES)
            if not shape:
                kind = self.r.choice(["float", "flowc.float64", "flowc.float32", "flowc.int64"])
                sigs.append(f"{name}: {kind}")
                for env in self.envs:
                    env[name] = {"float": 1.25, "flowc.float64": np.float64(-0.75), "flowc.float32": np.float32(1.5),
                                 "flowc.int64": np.int64(3)}[kind]
            else:
                ann = ", ".join(str(s) for s in shape)
                sigs.append(f"{name}: flowc.{'bool_' if dt == 'bool' else dt}[{ann}]")
                for env, sizes in zip(self.envs, SAMPLES):
                    shp = tuple(sizes[s] if isinstance(s, str) else s for s in shape)
                    if dt == "bool":
                        v = rng.random(shp) > 0.5
                    elif dt in INTS:
                        v = rng.integers(-5, 6, shp).astype(dt)
                    else:
                        v = rng.normal(size=shp).astype(dt)
                    env[name] = v
            self.names.append(name)
            self.params.append(name)
        return ", ".join(sigs)

    # --- expressions --------------------------------------------------------------------------
    def leaf(self) -> tuple[str, list]:
        if self.r.random() < 0.12:
            c = self.r.choice(CONSTANTS)
            return c, _run(c, self.envs)
        return self.pick_var()

    def expr(self, depth: int) -> tuple[str, list]:
        for _ in range(30):
            try:
                return self._expr(depth)
            except Reject:
                continue
        raise Reject("no expression")

    def _expr(self, depth: int) -> tuple[str, list]:
        if depth <= 0 or self.r.random() < 0.12:
            return self.leaf()
        kind = self.r.choices(
            ["unary", "binary", "where", "reduce", "matmul", "view", "astype", "concat", "create", "shift"],
            [14, 22, 4, 9, 3, 8, 5, 2, 2, 1])[0]
        if kind == "unary":
            s, sv = self.expr(depth - 1)
            form = self.r.choice(UNARY)
            if "reciprocal" in form and _dtype(sv[0])[0] in "iub":
                raise Reject("integer reciprocal (1 // x: NumPy's value for 0 is arbitrary)")
            src = form.format(s)
        elif kind == "binary":
            a, _ = self.expr(depth - 1)
            b, _ = self.expr(depth - 1)
            src = self.r.choice(BINARY).format(a, b)
        elif kind == "shift":
            a, av = self.expr(depth - 1)
            src = self.r.choice(SHIFTS).format(a)
        elif kind == "where":
            a, _ = self.expr(depth - 1)
            b, _ = self.expr(depth - 1)
            c, _ = self.expr(depth - 1)
            src = f"np.where({c} > {self.r.choice(['0', '0.5', b])}, {a}, {b})"
        elif kind == "reduce":
            return self.reduction(depth)
        elif kind == "matmul":
            a, av = self.expr(depth - 1)
            b, bv = self.expr(depth - 1)
            forms = ["({} @ {})", "({} @ {}.T)", "({}.T @ {})", "np.matmul({}, {})", "np.dot({}, {})"]
            if np.ndim(av[0]) == 0 or np.ndim(bv[0]) == 0:
                # np.dot by a 0-d operand: NumPy scales float32/float64 arrays with BLAS axpy into
                # zeros (alpha 0 skips the array: 0 * inf is 0, not NaN; -0.0 comes out +0.0), a
                # documented difference (docs/numpy_subset.md), so the fuzzer does not generate it
                forms.remove("np.dot({}, {})")
            self.r.shuffle(forms)
            for form in forms:
                src = form.format(a, b)
                try:
                    return src, _run(src, self.envs)
                except Reject:
                    continue
            raise Reject("no matmul")
        elif kind == "view":
            return self.view(depth)
        elif kind == "astype":
            a, av = self.expr(depth - 1)
            to = self.r.choice(CAST_TO)
            if _dtype(av[0]) in FLOATS and to in ("int32", "int64"):
                # NumPy's float -> int of NaN/inf/out-of-range is platform-defined: keep the cast in range
                a = f"np.clip(np.where(np.isnan({a}), 0, {a}), -1000, 1000)"
            if self.r.random() < 0.5 and np.ndim(av[0]) > 0:
                src = f"{a}.astype(np.{to})"
            else:
                src = f"np.{to}({a})"
        elif kind == "concat":
            a, av = self.expr(depth - 1)
            b, bv = self.expr(depth - 1)
            nd = np.ndim(av[0])
            if nd == 0:
                raise Reject("0-d")
            if self.r.random() < 0.5:
                src = f"np.concatenate(({a}, {b}), axis={self.r.randrange(-nd, nd)})"
            else:
                src = f"np.stack(({a}, {b}), axis={self.r.randrange(0, nd + 1)})"
        else:
            a, av = self.pick_var(lambda v: np.ndim(v[0]) > 0)
            src = self.r.choice([
                f"np.zeros_like({a})", f"np.ones_like({a})", f"np.full_like({a}, 2)", f"np.copy({a})",
                "np.arange(M)", "np.ones((N, M), dtype=np.float32)", f"np.zeros(M, dtype=np.{self.r.choice(CAST_TO)})",
                "np.eye(N)", "np.full((N, 1), 0.5)"])
        return src, _run(src, self.envs)

    def reduction(self, depth: int) -> tuple[str, list]:
        a, av = self.expr(depth - 1)
        nd = np.ndim(av[0])
        if nd == 0:
            raise Reject("0-d")
        red = self.r.choice(REDUCTIONS)
        args = []
        choice = self.r.random()
        if choice < 0.3:
            pass
        elif choice < 0.85 or nd == 1:
            args.append(f"axis={self.r.randrange(-nd, nd)}")
        else:
            axes = sorted(self.r.sample(range(nd), 2))
            args.append(f"axis=({axes[0]}, {axes[1]})")
        if self.r.random() < 0.3:
            args.append("keepdims=True")
        if red in ("var", "std") and self.r.random() < 0.3:
            args.append("ddof=1")
        if red in ("max", "min", "sum", "prod") and self.r.random() < 0.1:
            args.append(f"initial={self.r.choice(['0', '1.0', '-2'])}")
        argtext = ", ".join(args)
        if self.r.random() < 0.6:
            src = f"np.{red}({a}{', ' + argtext if argtext else ''})"
        else:
            src = f"{a}.{red}({argtext})"
        return src, _run(src, self.envs)

    def axis_bound(self, v: Any, axis: int) -> str | None:
        """A symbolic name for the length of ``axis`` of the sample values, if it is a size symbol."""
        for s in SYMBOLS:
            if all(np.shape(x)[axis] == sz[s] for x, sz in zip(v, SAMPLES)):
                return s
        return None

    def view(self, depth: int) -> tuple[str, list]:
        a, av = self.expr(depth - 1)
        nd = np.ndim(av[0])
        if nd == 0:
            raise Reject("0-d")
        sym = self.axis_bound(av, -1) or f"{a}.shape[-1]"
        sym0 = self.axis_bound(av, 0) or f"{a}.shape[0]"
        forms = [f"{a}.T", f"np.transpose({a})", f"{a}[::-1]", f"{a}[1:]", f"{a}[:-1]", f"{a}[..., ::-2]",
                 f"{a}[..., {sym} // 2:]", f"{a}[: {sym0} - 1]", f"{a}[{sym0} // 2:]", f"{a}[None]",
                 f"np.expand_dims({a}, {self.r.randrange(0, nd + 1)})", f"{a}.reshape(-1)", f"np.ravel({a})",
                 f"{a}[0]", f"{a}[-1]", f"{a}[..., 0]", f"{a}[:, None]", f"{a}[::2]", f"{a}[..., 1::2]",
                 f"{a}.flatten()", f"{a}.copy()", f"{a}[{sym0} - 1::-1]"]
        if nd == 3:
            forms += [f"np.transpose({a}, (1, 0, 2))", f"np.swapaxes({a}, 0, 2)", f"{a}.reshape(K, -1)",
                      f"{a}[:, 1:, ::-1]", f"{a}.reshape(-1, {sym})"]
        if nd == 2:
            forms += [f"{a}[:, ::-1]", f"{a}[1:, :-1]", f"{a}.reshape({sym}, -1)", f"np.transpose({a}, (1, 0))",
                      f"{a}[:, 1:{sym} - 1]"]
        ones = [i for i in range(nd) if all(np.shape(x)[i] == 1 for x in av)]
        if ones:
            forms.append(f"np.squeeze({a}, axis={ones[0]})")
        src = self.r.choice(forms)
        return src, _run(src, self.envs)

    # --- statements ---------------------------------------------------------------------------
    def emit(self, code: str, indent: int = 1) -> None:
        _run(code, self.envs, "exec")
        for line in code.splitlines():
            self.lines.append("    " * indent + line)

    def statement(self) -> None:
        kind = self.r.choices(["assign", "aug", "setitem", "mask", "loop", "recurrence", "if", "weakif", "while"],
                              [30, 6, 6, 2, 6, 2, 3, 1, 1])[0]
        snapshot = [dict(env) for env in self.envs], list(self.names), list(self.lines), self.temp
        # arrays mutated in place must be restored too: keep copies
        copies = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in env.items()} for env in self.envs]
        try:
            try:
                getattr(self, "st_" + kind)()
            except (IndexError, ValueError, TypeError) as e:   # an empty sample array and the like
                raise Reject(str(e)) from None
        except Reject:
            self.envs, self.names, self.lines, self.temp = [dict(c) for c in copies], snapshot[1], snapshot[2], \
                snapshot[3]
            raise

    def depth(self) -> int:
        return self.r.choice([2, 2, 3, 3, 3, 4])

    def st_assign(self) -> None:
        src, _ = self.expr(self.depth())
        t = self.new_temp()
        self.emit(f"{t} = {src}")
        self.names.append(t)

    def st_aug(self) -> None:
        t, tv = self.pick_var(lambda v: isinstance(v[0], np.ndarray) and v[0].ndim > 0)
        src, _ = self.expr(self.depth() - 1)
        op = self.r.choice(["+=", "-=", "*=", "/=", "//=", "%=", "&=", "|=", "**="])
        if op == "**=":
            src = "2"
        self.emit(f"{t} {op} {src}")

    def target(self, t: str, tv: list) -> str:
        nd = np.ndim(tv[0])
        forms = [f"{t}[:]", f"{t}[::-1]", f"{t}[0]", f"{t}[-1]", f"{t}[1:]", f"{t}[..., :-1]"]
        if nd >= 2:
            forms += [f"{t}[:, 0]", f"{t}[1:, ::-1]", f"{t}[0, 1:]"]
        return self.r.choice(forms)

    def st_setitem(self) -> None:
        t, tv = self.pick_var(lambda v: isinstance(v[0], np.ndarray) and v[0].ndim > 0)
        src, _ = self.expr(self.depth() - 1)
        op = self.r.choice(["=", "=", "+=", "*="])
        self.emit(f"{self.target(t, tv)} {op} {src}")

    def st_mask(self) -> None:
        t, tv = self.pick_var(lambda v: isinstance(v[0], np.ndarray) and v[0].ndim > 0)
        val = self.r.choice(["0", "1", "-1.5", "2"])
        op = self.r.choice(["=", "+="])
        self.emit(f"{t}[{t} > {self.r.choice(['0', '0.5'])}] {op} {val}")

    def loop_header(self, v: list, x: str) -> tuple[str, str]:
        sym = self.axis_bound(v, 0) or f"{x}.shape[0]"
        return self.r.choice([(f"range({sym})", "i"), (f"range(1, {sym})", "i"),
                              (f"range({sym} - 1, -1, -1)", "i"), (f"range(0, {sym}, 2)", "i")])

    def st_loop(self) -> None:
        x, xv = self.pick_var(lambda v: isinstance(v[0], np.ndarray) and v[0].ndim > 0)
        rng, i = self.loop_header(xv, x)
        acc = self.new_temp()
        leaf = (f"{x}[{i}]", [np.asarray(v)[0] for v in xv])
        self.loop_leaf = leaf
        try:
            other, _ = self.expr(self.depth() - 1)
        finally:
            self.loop_leaf = None
        body = self.r.choice(BINARY[:12] + UNARY[:6]).format(leaf[0], other) if self.r.random() < 0.7 else other
        bv = _run(body.replace(f"[{i}]", "[0]"), self.envs)
        if np.ndim(bv[0]) == 0:
            init = f"np.{_dtype(bv[0])}({self.r.choice(['0', '1'])})"
        elif all(np.shape(b) == np.shape(v)[1:] for b, v in zip(bv, xv)):
            init = self.r.choice([f"np.zeros_like({x}[0])", f"{x}[0].copy()", f"np.ones_like({x}[0])"])
        else:
            raise Reject("accumulator shape")
        upd = self.r.choice([f"{acc} += {body}", f"{acc} = {acc} * 0.5 + {body}", f"{acc} = np.maximum({acc}, {body})"])
        self.emit(f"{acc} = {init}\nfor {i} in {rng}:\n    {upd}")
        if any(np.shape(env[acc]) != np.shape(b) for env, b in zip(self.envs, bv)):
            raise Reject("accumulator changes shape")
        # a loop may run zero times (range(1, N) at N = 1): then NumPy's accumulator keeps the dtype of
        # its initial value, which a compiled program cannot know; keep programs whose dtype is stable
        if any(_dtype(env[acc]) != _dtype(_run(init, [env])[0]) for env in self.envs):
            raise Reject("accumulator changes dtype")
        self.names.append(acc)

    def st_recurrence(self) -> None:
        x, xv = self.pick_var(lambda v: isinstance(v[0], np.ndarray) and v[0].ndim > 0
                              and v[0].dtype.kind in "fi")
        sym = self.axis_bound(xv, 0) or f"{x}.shape[0]"
        t = self.new_temp()
        k = self.r.choice(["0.5", "2", "-1"])
        self.emit(f"{t} = {x}.copy()\nfor i in range(1, {sym}):\n    {t}[i] = {t}[i - 1] * {k} + {x}[i]")
        self.names.append(t)

    def st_if(self) -> None:
        c, cv = self.pick_var(lambda v: np.ndim(v[0]) > 0)
        cond = self.r.choice([f"np.sum({c}) > 0", f"np.max({c}) > 1", f"{c}.mean() < 0.5", f"np.any({c} > 1)"])
        a, av = self.expr(self.depth() - 1)
        for _ in range(10):
            b, bv = self.expr(self.depth() - 1)
            if all(_shape(x) == _shape(y) and _dtype(x) == _dtype(y) for x, y in zip(av, bv)):
                break
        else:
            b = f"-{a}"
            _run(b, self.envs)      # both branches must be valid NumPy, not only the one taken
        t = self.new_temp()
        self.emit(f"if {cond}:\n    {t} = {a}\nelse:\n    {t} = {b}")
        self.names.append(t)

    def st_weakif(self) -> None:
        c, _ = self.pick_var(lambda v: np.ndim(v[0]) > 0)
        t = self.new_temp()
        self.emit(f"{t} = 0\nif np.sum({c}) > 0:\n    {t} = 1")
        u = self.new_temp()
        self.emit(f"{u} = {c} + {t}")
        self.names.append(u)

    def st_while(self) -> None:
        x, _ = self.pick_var(lambda v: isinstance(v[0], np.ndarray) and v[0].dtype.kind == "f")
        t = self.new_temp()
        self.emit(f"{t} = {x}.copy()\nit = 0\nwhile it < 3:\n    {t} = {t} * 0.5 + 1\n    it += 1")
        self.names.append(t)

    def generate(self) -> Program:
        for _ in range(50):
            self.envs = [dict(N=s["N"], M=s["M"], K=s["K"], np=np, math=__import__("math")) for s in SAMPLES]
            self.names, self.params, self.lines, self.temp = [], [], [], 0
            sig = self.make_params()
            for _ in range(self.r.choice([1, 2, 2, 3, 3, 4, 5])):
                for _ in range(5):
                    try:
                        self.statement()
                        break
                    except Reject:
                        continue
            temps = [n for n in self.names if n not in self.params]
            if not temps:
                continue
            ret = temps[-1] if self.r.random() < 0.8 else self.r.choice(temps)
            body = "\n".join(self.lines)
            # a size symbol that no parameter's shape has must be passed by keyword: keep to the others
            if any(re.search(rf"\b{s}\b", body) and not re.search(rf"\b{s}\b", sig) for s in SYMBOLS):
                continue
            return Program(self.seed, f"def f({sig}):\n{body}\n    return {ret}\n")
        raise RuntimeError(f"seed {self.seed}: no program")


def generate(seed: int) -> Program:
    """The program of ``seed`` (deterministic)."""
    return Generator(seed).generate()
