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


# -- random models of the same ops, of random sizes (tests and the conformance of unseen models) --

def _i(rng, lo, hi) -> int:
    return int(rng.integers(lo, hi))


def random_conv(rng):
    """Two Conv1D: random channels, kernel, stride and padding, then a dilated one."""
    from onnx import helper

    c, t, k = _i(rng, 1, 12), _i(rng, 8, 40), _i(rng, 1, 6)
    f1, f2, s, d, pad = _i(rng, 2, 20), _i(rng, 2, 20), _i(rng, 1, 4), _i(rng, 1, 3), _i(rng, 0, k)
    t1 = (t + 2 * pad - k) // s + 1
    if t1 < 3:
        return None
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[pad, pad], strides=[s]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1", "b1"], ["y"], pads=[d, d], dilations=[d])]
    return model_of(nodes, {"x": (1, c, t)}, {"y": (1, f2, t1)},
                    {"w0": rng.normal(0, 0.3, (f1, c, k)), "b0": rng.normal(0, 0.1, f1),
                     "w1": rng.normal(0, 0.3, (f2, f1, 3)), "b1": rng.normal(0, 0.1, f2)}), {"x": (1, c, t)}


def random_recurrent(rng):
    """An LSTM or a GRU (either reset order) of random sizes over 1-3 steps."""
    hid, inp, steps = _i(rng, 4, 48), _i(rng, 3, 30), _i(rng, 1, 4)
    if rng.random() < 0.5:
        return lstm(rng, hidden=hid, inp=inp, steps=steps)
    from onnx import helper

    nodes = [helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["Y", "Yh"], hidden_size=hid,
                              linear_before_reset=_i(rng, 0, 2))]
    ins = {"x": (steps, 1, inp), "h0": (1, 1, hid)}
    return model_of(nodes, ins, {"Y": (steps, 1, 1, hid), "Yh": (1, 1, hid)},
                    {"W": rng.normal(0, 0.3, (1, 3 * hid, inp)), "R": rng.normal(0, 0.3, (1, 3 * hid, hid)),
                     "B": rng.normal(0, 0.2, (1, 6 * hid))}), ins


def random_concat(rng):
    """Split, two dense branches, Concat with the input itself, a dense layer, a square."""
    from onnx import helper

    n = _i(rng, 3, 40)
    a, m1, m2 = _i(rng, 1, n), _i(rng, 1, 30), _i(rng, 1, 30)
    nodes = [helper.make_node("Split", ["x", "sp"], ["p", "q"], axis=1), helper.make_node("Gemm", ["p", "w1"], ["g1"]),
             helper.make_node("Sigmoid", ["g1"], ["s1"]), helper.make_node("Gemm", ["q", "w2"], ["g2"]),
             helper.make_node("Concat", ["s1", "g2", "x"], ["cc"], axis=1), helper.make_node("Gemm", ["cc", "w3"], ["g3"]),
             helper.make_node("Tanh", ["g3"], ["t3"]), helper.make_node("Mul", ["t3", "t3"], ["y"])]
    return model_of(nodes, {"x": (1, n)}, {"y": (1, 16)},
                    {"sp": [a, n - a], "w1": rng.normal(0, 0.3, (a, m1)), "w2": rng.normal(0, 0.3, (n - a, m2)),
                     "w3": rng.normal(0, 0.3, (m1 + m2 + n, 16))}, ints=("sp",)), {"x": (1, n)}


def random_mixed(rng):
    """A gated conv (channel halves, sigmoid, product), a zero Pad, a strided conv, a mean over
    time into an LSTM step with a state, and the state concatenated as the output."""
    from onnx import helper

    c, t, f, hid = _i(rng, 2, 9), _i(rng, 4, 12), 2 * _i(rng, 2, 10), _i(rng, 8, 40)
    half = f // 2
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1]),
             helper.make_node("Slice", ["c0", "s0", "e0", "a1"], ["lo"]),
             helper.make_node("Slice", ["c0", "s1", "e1", "a1"], ["hi"]),
             helper.make_node("Sigmoid", ["hi"], ["gate"]), helper.make_node("Mul", ["lo", "gate"], ["glu"]),
             helper.make_node("Pad", ["glu", "pp"], ["gp"]),
             helper.make_node("Conv", ["gp", "w1", "b1"], ["c1"], strides=[2]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("ReduceMean", ["r1"], ["m"], axes=[2], keepdims=0),
             helper.make_node("Unsqueeze", ["m", "a0"], ["xs"]),
             helper.make_node("LSTM", ["xs", "W", "R", "B", "", "h0", "c0s"], ["Y", "Yh", "Yc"], hidden_size=hid),
             helper.make_node("Concat", ["Yh", "Yc"], ["y"], axis=2)]
    ins = {"x": (1, c, t), "h0": (1, 1, hid), "c0s": (1, 1, hid)}
    return model_of(nodes, ins, {"y": (1, 1, 2 * hid)},
                    {"w0": rng.normal(0, 0.3, (f, c, 3)), "b0": rng.normal(0, 0.1, f), "s0": [0], "e0": [half],
                     "s1": [half], "e1": [f], "a1": [1], "a0": [0], "pp": [0, 0, 1, 0, 0, 1],
                     "w1": rng.normal(0, 0.3, (8, half, 3)), "b1": rng.normal(0, 0.1, 8),
                     "W": rng.normal(0, 0.3, (1, 4 * hid, 8)), "R": rng.normal(0, 0.3, (1, 4 * hid, hid)),
                     "B": rng.normal(0, 0.2, (1, 8 * hid))},
                    ints=("s0", "e0", "s1", "e1", "a1", "a0", "pp")), ins


RANDOM = {"conv": random_conv, "recurrent": random_recurrent, "concat": random_concat, "mixed": random_mixed}


def random_model(rng, kind: str):
    """(model, input shapes) of `kind`, drawn until the sizes make a valid model."""
    while True:
        made = RANDOM[kind](rng)
        if made is not None:
            return made
