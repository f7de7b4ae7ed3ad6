"""Write the hostile IR corpus: small flowc IR files, each with one attack.

    PYTHONPATH=. python tests/hostile_ir/make_corpus.py

Each file starts from a valid program of ``tests/ir_programs.py`` and changes one value.
``@MARKER@`` stands for a path that a payload would create if it ever ran; the test
(``tests/test_hostile_ir.py``) substitutes a fresh temporary path and checks it never appears.
``EXPECTED`` gives, per file, a regular expression the ``IRError`` must match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ir_programs  # noqa: E402

RUN = "__import__('os').system('touch @MARKER@')"
LAMBDA = "(lambda: open('@MARKER@', 'w'))()"
CXX = 'x; } int fc_pwned = std::system("touch @MARKER@"); {'


def _first_state(d: dict) -> dict:
    item = d["body"][0]
    while item["type"] != "state":
        item = item["body"][0]
    return item


def _edge(d: dict, data: str = "x") -> dict:
    return next(e for e in _first_state(d)["edges"] if e["memlet"] and e["memlet"]["data"] == data
                and e["dst_conn"] and not e["dst_conn"].startswith("IN_"))


def _tasklet(d: dict) -> dict:
    return next(n for n in _first_state(d)["nodes"] if n["type"] == "tasklet")


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return edit


def _nest(depth: int) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        body = d["body"]
        for k in range(depth):
            loop = {"type": "loop", "var": f"t{k}", "start": "0", "stop": "2", "step": "1", "body": body}
            body = [loop]
        d["body"] = body
    return edit


def _lib_props(**props: Any) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        n = next(n for n in _first_state(d)["nodes"] if n["type"] == "library")
        n["properties"].update(props)
    return edit


def _lib(key: str, value: Any) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        n = next(n for n in _first_state(d)["nodes"] if n["type"] == "library")
        n[key] = value
    return edit


#: file name -> (program, edit, regular expression the error must match)
ATTACKS: dict[str, tuple[str, Callable[[dict], None], str]] = {
    # Python in symbolic expressions (sympify would have evaluated these)
    "code_in_shape.json": ("axpy", _set(("data", 0, "shape", 0), RUN), r"\$\.data\[0\]\.shape\[0\]"),
    "lambda_in_shape.json": ("axpy", _set(("data", 0, "shape", 0), LAMBDA), r"\$\.data\[0\]\.shape\[0\]"),
    "code_in_stride.json": ("axpy", _set(("data", 1, "strides", 0), RUN), r"strides\[0\]"),
    "code_in_offset.json": ("axpy", _set(("data", 1, "offset"), LAMBDA), r"\.offset"),
    "code_in_subset.json": ("axpy", lambda d: _edge(d).__setitem__("memlet", {**_edge(d)["memlet"], "subset": LAMBDA}),
                            r"memlet\.subset"),
    "code_in_map_range.json": ("axpy", lambda d: _first_state(d)["maps"][0].__setitem__("ranges", [f"0:{LAMBDA}"]),
                               r"maps\[0\]\.ranges\[0\]"),
    "code_in_loop_bound.json": ("loop", _set(("body", 0, "stop"), RUN), r"\$\.body\[0\]\.stop"),
    "code_in_requirement.json": ("axpy", _set(("requirements",), [[LAMBDA, "why"]]), r"requirements\[0\]\[0\]"),
    "sympy_class_walk.json": ("axpy", _set(("data", 0, "shape", 0), "N.__class__.__mro__[-1].__subclasses__()"),
                              r"unexpected character"),
    "unknown_function.json": ("axpy", _set(("data", 0, "shape", 0), "exec(N)"), r"unknown function 'exec'"),
    "code_in_branch_condition.json": ("branch", _set(("body", 0, "cond"), RUN), r"\$\.body\[0\]\.cond"),
    # names and labels that would reach generated C++ or the Python binder
    "code_in_data_name.json": ("axpy", _set(("data", 0, "name"), CXX), r"\$\.data\[0\]\.name.*identifier"),
    "code_in_symbol_name.json": ("axpy", _set(("symbols", 0), "N); system(\"touch @MARKER@\""), r"\$\.symbols\[0\]"),
    "code_in_connector.json": ("axpy", lambda d: _tasklet(d).__setitem__("inputs", ["a", CXX]),
                               r"inputs\[1\].*identifier"),
    "code_in_map_param.json": ("axpy", lambda d: _first_state(d)["maps"][0].__setitem__("params", [CXX]),
                               r"params\[0\]"),
    "code_in_loop_var.json": ("loop", _set(("body", 0, "var"), CXX), r"\$\.body\[0\]\.var"),
    "newline_in_state_name.json": ("axpy", lambda d: _first_state(d).__setitem__(
        "name", 'main\nint fc_pwned = std::system("touch @MARKER@");'), r"\$\.body\[0\]\.name.*label"),
    "comment_end_in_map_label.json": ("axpy", lambda d: _first_state(d)["maps"][0].__setitem__(
        "label", 'm */ int fc_pwned = std::system("x"); /* '), r"maps\[0\]\.label"),
    "backslash_in_tasklet_name.json": ("axpy", lambda d: _tasklet(d).__setitem__("name", "axpy\\"),
                                       r"nodes\[\d+\]\.name"),
    "cxx_in_tasklet_code.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", 'o = a; std::system("touch @MARKER@")'), r"\.code"),
    "cxx_in_store_index.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", 'o[a]; std::system("touch @MARKER@"); o[0] = a'), r"\.code"),
    "store_into_input_connector.json": ("axpy", lambda d: _tasklet(d).__setitem__("code", "a[0] = b; o = b"),
                                        r"stores into 'a'\[\.\.\.\], which is not an output connector"),
    # control flow in tasklet code (loops in map bodies)
    "cxx_in_tasklet_loop.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", 'for k in range(0, 3, 1); std::system("touch @MARKER@"); { }; o = a'), r"\.code"),
    "tasklet_loop_var_is_connector.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", "for a in range(0, N, 1) { }; o = b"), r"loop variable 'a' is also a connector"),
    "tasklet_output_set_in_branch.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", "if a > b { o = a }"), r"never assigns output connector 'o' outside a loop or branch"),
    "tasklet_break_outside_loop.json": ("axpy", lambda d: _tasklet(d).__setitem__("code", "break; o = a"),
                                        r"'break' outside a loop"),
    "tasklet_block_local_read_after.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", "for k in range(0, N, 1) { t = a }; o = t + b"), r"reads 't'"),
    "deep_tasklet_loops.json": ("axpy", lambda d: _tasklet(d).__setitem__(
        "code", "".join(f"for k{i} in range(0, 2, 1) {{ " for i in range(3000)) + "}" * 3000 + "; o = a"),
        r"nested|\.code"),
    "store_rank_mismatch.json": ("axpy", lambda d: _tasklet(d).__setitem__("code", "o[0, 0] = a + b"),
                                 r"stores into 'o' with 2 indices but 'out' has rank 1"),
    "unknown_function_in_tasklet.json": ("axpy", lambda d: _tasklet(d).__setitem__("code", "o = system(a)"),
                                         r"unknown tasklet function 'system'"),
    "huge_literal_in_tasklet.json": ("axpy", lambda d: _tasklet(d).__setitem__("code", "o = a + " + "9" * 5000),
                                     r"\.code"),
    "cxx_in_wcr.json": ("axpy", lambda d: _edge(d).__setitem__("memlet", {**_edge(d)["memlet"], "wcr": CXX}),
                        r"memlet\.wcr"),
    "cxx_in_library_implementation.json": ("matmul", _lib("implementation", 'blas"); system("x'),
                                           r"implementation"),
    "unknown_library_class.json": ("matmul", _lib("class", "os.system"), r"unknown library node class"),
    "python_object_as_library_property.json": ("matmul", _lib_props(__class__="x"), r"unknown key"),
    "infinite_alpha.json": ("matmul", _lib_props(alpha=float("inf")), r"properties\.alpha.*finite"),
    "string_alpha.json": ("matmul", _lib_props(alpha="1.5"), r"properties\.alpha"),
    "reduce_axis_out_of_range.json": ("reduce", _lib_props(axes=[10**12]), r"axes\[0\].*out of range"),
    # sizes that would hang or overflow
    "huge_exponent.json": ("axpy", _set(("data", 0, "shape", 0), "10**10**10"), r"exponent"),
    "huge_power.json": ("axpy", _set(("data", 0, "shape", 0), "((2**60)**60)**60"), r"bits"),
    "huge_literal.json": ("axpy", _set(("data", 0, "shape", 0), "9" * 100), r"digits"),
    "long_expression.json": ("axpy", _set(("data", 0, "shape", 0), "N" + "+N" * 10000), r"characters"),
    "deep_expression.json": ("axpy", _set(("data", 0, "shape", 0), "(" * 500 + "N" + ")" * 500), r"nested"),
    "deep_floor_chain.json": ("axpy", _set(("data", 0, "shape", 0), "N" + "//2" * 500), r"nested"),
    "division_by_zero.json": ("axpy", _set(("data", 0, "shape", 0), "N/0"), r"division by zero"),
    "deep_control_flow.json": ("axpy", _nest(400), r"nested"),
    "negative_size.json": ("axpy", _set(("data", 0, "shape", 0), "-5"), r"extent -5"),
    "fractional_size.json": ("axpy", _set(("data", 0, "shape", 0), "1/2"), r"extent 1/2"),
    "node_id_out_of_range.json": ("axpy", lambda d: _tasklet(d).__setitem__("id", 2**40), r"\.id.*out of range"),
    # wrong types and unknown values
    "shape_not_a_string.json": ("axpy", _set(("data", 0, "shape", 0), 5), r"shape\[0\].*string"),
    "transient_not_a_bool.json": ("axpy", _set(("data", 0, "transient"), "no"), r"transient.*true or false"),
    "unknown_dtype.json": ("axpy", _set(("data", 0, "dtype"), "float128"), r"dtype"),
    "unknown_storage.json": ("axpy", _set(("data", 0, "storage"), "/dev/mem"), r"storage"),
    "unknown_node_type.json": ("axpy", lambda d: _tasklet(d).__setitem__("type", "python"), r"\.type"),
    "unknown_schedule.json": ("axpy", lambda d: _first_state(d)["maps"][0].__setitem__("schedule", "eval"),
                              r"schedule"),
    "unknown_key.json": ("axpy", _set(("data", 0, "__reduce__"), "os.system"), r"unknown key"),
    "history_not_objects.json": ("axpy", _set(("history",), ["__import__('os')"]), r"history\[0\]"),
    "edge_to_missing_node.json": ("axpy", lambda d: _edge(d).__setitem__("dst", 999), r"no node with id 999"),
    "bad_closure_values.json": ("axpy", _set(("closure_args",), [{"name": "x", "values": "$$$$"}]),
                                r"closure_args\[0\]"),
    # structurally fine, refused by validate(): memory outside an array
    "subset_out_of_bounds.json": ("axpy", lambda d: _edge(d).__setitem__("memlet", {**_edge(d)["memlet"],
                                                                                   "subset": "i + 1"}),
                                  r"out of bounds"),
    "map_range_out_of_bounds.json": ("axpy", lambda d: _first_state(d)["maps"][0].__setitem__("ranges", ["0:N + 3"]),
                                     r"out of bounds"),
    "negative_index.json": ("axpy", lambda d: _edge(d).__setitem__("memlet", {**_edge(d)["memlet"],
                                                                             "subset": "i - 1"}),
                            r"below 0"),
    "non_affine_subset.json": ("axpy", lambda d: _edge(d).__setitem__("memlet", {**_edge(d)["memlet"],
                                                                                "subset": "i * i"}),
                               r"cannot be derived"),
    "symbolic_product_subset.json": ("axpy", lambda d: _edge(d).__setitem__("memlet", {**_edge(d)["memlet"],
                                                                                      "subset": "i * N"}),
                                     r"cannot be derived"),
    "access_to_unknown_data.json": ("axpy", lambda d: next(n for n in _first_state(d)["nodes"]
                                                           if n["type"] == "access").__setitem__("data", "secret"),
                                    r"secret"),
}


def build() -> dict[str, str]:
    """Every attack's file text."""
    out = {}
    for fname, (prog, edit, _) in ATTACKS.items():
        doc = json.loads(ir_programs.ALL[prog]().to_json())
        edit(doc)
        out[fname] = json.dumps(doc, indent=1, allow_nan=True) + "\n"
    return out


EXPECTED = {fname: regex for fname, (_, _, regex) in ATTACKS.items()}


if __name__ == "__main__":
    for fname, text in build().items():
        (HERE / fname).write_text(text)
    print(f"wrote {len(ATTACKS)} files to {HERE}")
