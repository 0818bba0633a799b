"""The reference FiLM network: Conv1D -> tanh -> FiLM (per-channel Mul, Add) -> Conv1D -> ReLU ->
Conv1D -> Flatten -> Gemm -> tanh -> Gemm + residual -> sigmoid, built with onnx.helper from a
seed. Small, made only of operations GNA 2.0 runs, and used by tests and the demo."""
from __future__ import annotations

import numpy as np

INPUT_SHAPE = (1, 8, 64)


def build_reference_net(seed: int = 0):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def const(name, arr):
        return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)

    def conv_w(cout, cin, k):
        return rng.normal(0, 1 / np.sqrt(cin * k), (cout, cin, k))

    c1, c2, c3 = 16, 16, 8
    t1 = INPUT_SHAPE[2] - 2
    t3 = t1 - 4
    inits = [
        const("w1", conv_w(c1, 8, 3)), const("b1", rng.normal(0, 0.1, c1)),
        const("gamma", 1 + rng.normal(0, 0.3, (1, c1, 1))), const("beta", rng.normal(0, 0.2, (1, c1, 1))),
        const("w2", conv_w(c2, c1, 3)), const("b2", rng.normal(0, 0.1, c2)),
        const("w3", conv_w(c3, c2, 3)), const("b3", rng.normal(0, 0.1, c3)),
        const("w4", rng.normal(0, 1 / np.sqrt(c3 * t3), (c3 * t3, 64))), const("b4", rng.normal(0, 0.1, 64)),
        const("w5", rng.normal(0, 0.5 / np.sqrt(64), (64, 64))), const("b5", rng.normal(0, 0.1, 64)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1"),
        helper.make_node("Tanh", ["c1"], ["a1"], name="tanh1"),
        helper.make_node("Mul", ["a1", "gamma"], ["film_scaled"], name="film_gamma"),
        helper.make_node("Add", ["film_scaled", "beta"], ["film"], name="film_beta"),
        helper.make_node("Conv", ["film", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["a2"], name="relu2"),
        helper.make_node("Conv", ["a2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("Flatten", ["c3"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w4", "b4"], ["g4"], name="dense4"),
        helper.make_node("Tanh", ["g4"], ["a4"], name="tanh4"),
        helper.make_node("Gemm", ["a4", "w5", "b5"], ["g5"], name="dense5"),
        helper.make_node("Add", ["g5", "a4"], ["res"], name="residual"),
        helper.make_node("Sigmoid", ["res"], ["y"], name="sigmoid"),
    ]
    graph = helper.make_graph(nodes, "npin_film_reference",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT_SHAPE))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="npin")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference_inputs(n: int, seed: int = 1) -> np.ndarray:
    """Inputs like the network's intended ones: smooth multi-channel signals plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(INPUT_SHAPE[2])
    freq = rng.uniform(0.02, 0.2, (n, INPUT_SHAPE[1], 1))
    phase = rng.uniform(0, 2 * np.pi, (n, INPUT_SHAPE[1], 1))
    amp = rng.uniform(0.2, 1.5, (n, INPUT_SHAPE[1], 1))
    x = amp * np.sin(2 * np.pi * freq * t + phase) + rng.normal(0, 0.05, (n, INPUT_SHAPE[1], INPUT_SHAPE[2]))
    x[rng.random(n) < 0.02] *= 4  # a few loud outliers: what max-abs calibration is bad at
    return x.astype(np.float32)
