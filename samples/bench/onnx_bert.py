"""The BERT encoder layer as an ONNX Runtime inference session: the contender people deploy
BERT on CPUs with.

The graph is built with ``onnx.helper`` from the same operators a PyTorch export produces
(MatMul, Add, Reshape, Transpose, Softmax, LayerNormalization, Gelu(tanh)), weights as
initializers as in a deployed model, and run with ``ORT_ENABLE_ALL`` (ONNX Runtime's own
fusions: MatMul+Add, attention, LayerNorm, Gelu) on ``threads`` intra-op threads.
Needs ``pip install onnx onnxruntime`` (not a flowc dependency).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

WEIGHTS = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "g1", "be1", "w1", "b1", "w2", "b2", "g2", "be2")


def available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        return True
    except ImportError:
        return False


def layer_model(inputs: Sequence, H: int, P: int):
    """The ONNX model of ``bert_encoder.encoder_layer`` for ``inputs`` (``make_inputs``' order:
    x, the weights, scale); x stays an input, the rest become initializers."""
    from onnx import TensorProto, helper, numpy_helper

    x, *weights, scale = inputs
    B, L, E = x.shape
    inits = [numpy_helper.from_array(np.asarray(w, dtype=np.float32), name) for name, w in zip(WEIGHTS, weights)]
    consts = {"scale": np.array(scale, dtype=np.float32), "heads": np.array([B, L, H, P], dtype=np.int64),
              "merged": np.array([B, L, E], dtype=np.int64)}
    inits += [numpy_helper.from_array(v, k) for k, v in consts.items()]
    nodes = []

    def node(op: str, ins: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def linear(src: str, w: str, b: str, out: str) -> str:
        return node("Add", [node("MatMul", [src, w], f"{out}_mm"), b], out)

    def heads(src: str, perm: list[int], out: str) -> str:
        return node("Transpose", [node("Reshape", [src, "heads"], f"{out}_r")], out, perm=perm)

    q = heads(linear("x", "wq", "bq", "q_lin"), [0, 2, 1, 3], "q")
    k = heads(linear("x", "wk", "bk", "k_lin"), [0, 2, 3, 1], "k")
    v = heads(linear("x", "wv", "bv", "v_lin"), [0, 2, 1, 3], "v")
    s = node("Mul", [node("MatMul", [q, k], "qk"), "scale"], "s")
    a = node("Softmax", [s], "a", axis=-1)
    c = node("Transpose", [node("MatMul", [a, v], "av")], "av_t", perm=[0, 2, 1, 3])
    c = node("Reshape", [c, "merged"], "c")
    h = node("Add", [linear(c, "wo", "bo", "o"), "x"], "h_res")
    h = node("LayerNormalization", [h, "g1", "be1"], "h", axis=-1, epsilon=1e-12)
    f = node("Gelu", [linear(h, "w1", "b1", "f1")], "f_act", approximate="tanh")
    f = node("Add", [linear(f, "w2", "b2", "f2"), h], "f_res")
    node("LayerNormalization", [f, "g2", "be2"], "out", axis=-1, epsilon=1e-12)
    graph = helper.make_graph(nodes, "bert_encoder_layer",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, L, E])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [B, L, E])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


def layer_session(inputs: Sequence, H: int, P: int, threads: int = 2) -> Callable[[], np.ndarray]:
    """A zero-argument callable running the layer once with ONNX Runtime (ORT_ENABLE_ALL,
    ``threads`` intra-op threads, one inter-op thread)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(layer_model(inputs, H, P).SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    feed = {"x": np.ascontiguousarray(inputs[0], dtype=np.float32)}
    return lambda: session.run(None, feed)[0]
