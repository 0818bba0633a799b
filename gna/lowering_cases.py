"""Small ONNX models that exercise the compiler's graph lowerings (placement, products and sums of
activations, deep padded/strided/dilated convolutions, LSTM, GRU), built from a seed: the tests
compile them, and `npin gna golden` records what libGNA computes on them."""
from __future__ import annotations

import numpy as np


def model_of(nodes, inputs: dict, outputs: dict, inits: dict, ints=()):
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in inputs.items()],
                          [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in outputs.items()],
                          [numpy_helper.from_array(np.asarray(v, np.int64 if k in ints else np.float32), k)
                           for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def concat(rng):
    from onnx import helper

    nodes = [helper.make_node("Split", ["x", "sp"], ["a", "b"], axis=1),
             helper.make_node("Gemm", ["a", "w1"], ["g1"]), helper.make_node("Tanh", ["g1"], ["t1"]),
             helper.make_node("Gemm", ["b", "w2"], ["g2"]), helper.make_node("Concat", ["t1", "g2"], ["y"], axis=1)]
    return model_of(nodes, {"x": (1, 48)}, {"y": (1, 40)}, {"sp": [24, 24], "w1": rng.normal(0, 0.3, (24, 24)),
                                                            "w2": rng.normal(0, 0.3, (24, 16))}, ints=("sp",)), {"x": (1, 48)}


def binary(op):
    def build(rng):
        from onnx import helper

        nodes = [helper.make_node("Gemm", ["x", "w1"], ["a0"]), helper.make_node("Tanh", ["a0"], ["a"]),
                 helper.make_node("Gemm", ["x", "w2"], ["b"]), helper.make_node(op, ["a", "b"], ["y"])]
        return model_of(nodes, {"x": (1, 32)}, {"y": (1, 32)}, {"w1": rng.normal(0, 0.3, (32, 32)),
                                                                "w2": rng.normal(0, 0.3, (32, 32))}), {"x": (1, 32)}
    return build


def conv(rng):
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1]), helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1", "b1"], ["y"], pads=[2, 2], strides=[2], dilations=[2])]
    return model_of(nodes, {"x": (1, 8, 24)}, {"y": (1, 8, 12)},
                    {"w0": rng.normal(0, 0.3, (8, 8, 3)), "b0": rng.normal(0, 0.1, 8),
                     "w1": rng.normal(0, 0.3, (8, 8, 3)), "b1": rng.normal(0, 0.1, 8)}), {"x": (1, 8, 24)}


def lstm(rng, hidden=32, inp=16, steps=2, state_inputs=True):
    from onnx import helper

    ins = {"x": (steps, 1, inp)}
    names = ["x", "W", "R", "B", ""]
    if state_inputs:
        ins.update({"h0": (1, 1, hidden), "c0": (1, 1, hidden)})
        names += ["h0", "c0"]
    nodes = [helper.make_node("LSTM", names, ["Y", "Yh", "Yc"], hidden_size=hidden)]
    outs = {"Y": (steps, 1, 1, hidden), "Yh": (1, 1, hidden), "Yc": (1, 1, hidden)}
    return model_of(nodes, ins, outs, {"W": rng.normal(0, 0.3, (1, 4 * hidden, inp)),
                                       "R": rng.normal(0, 0.3, (1, 4 * hidden, hidden)),
                                       "B": rng.normal(0, 0.2, (1, 8 * hidden))}), ins


def gru(rng, hidden=32, linear_before_reset=1):
    from onnx import helper

    nodes = [helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["Y", "Yh"], hidden_size=hidden,
                              linear_before_reset=linear_before_reset)]
    ins = {"x": (2, 1, 16), "h0": (1, 1, hidden)}
    return model_of(nodes, ins, {"Y": (2, 1, 1, hidden), "Yh": (1, 1, hidden)},
                    {"W": rng.normal(0, 0.3, (1, 3 * hidden, 16)), "R": rng.normal(0, 0.3, (1, 3 * hidden, hidden)),
                     "B": rng.normal(0, 0.2, (1, 6 * hidden))}), ins


CASES = {"concat": concat, "mul": binary("Mul"), "sub": binary("Sub"), "conv": conv, "lstm": lstm, "gru": gru}


def feeds(rng, inputs: dict, n: int, scale=1.0) -> dict:
    return {k: rng.normal(0, scale, (n, *v)).astype(np.float32) for k, v in inputs.items()}
