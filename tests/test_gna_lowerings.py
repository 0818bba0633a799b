"""Every ONNX op the compiler lowers onto GNA 2.0 graphs (docs/gna-quant.md §4): each test builds a
model that uses it, checks the GNA operations it became and where they live, and bounds the
output's SNR against ONNX Runtime. With libGNA present, the same graphs run bit-exact there."""
import zlib

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from gna.ir import ElementWiseAffine
from gna.lowering_cases import CASES, lstm, model_of
from gna.onnx_compiler import CompileError, calibration_tensors, compile_onnx
from quant.quantizers import snr_db
from tests.parts import needs

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _rng_per_test(request):
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def feeds(inputs: dict, n: int, scale=1.0) -> dict:
    return {k: RNG.normal(0, scale, (n, *v)).astype(np.float32) for k, v in inputs.items()}


def check(model, inputs: dict, n=24, **kw):
    """Compile on one batch, measure on another drawn narrower (so the SNR measures the lowering,
    not inputs beyond the calibrated range): (compiled model, SNR of every output in dB)."""
    calib, test = feeds(inputs, 48, scale=1.5), feeds(inputs, n)
    cm = compile_onnx(model, calib, **kw)
    ref = calibration_tensors(model, test)
    snrs = {}
    for o in cm.outputs:
        got = np.stack([cm.run({k: v[i] for k, v in test.items()})[0][o["name"]] for i in range(n)])
        snrs[o["name"]] = snr_db(ref[o["name"]], got.reshape(ref[o["name"]].shape))
    return cm, snrs


def kinds(cm):
    return [type(n.op).__name__ for n in cm.graph.nodes]


def test_slice_split_concat_are_memory_placement():
    """Two Gemms read halves of the input (a Slice and a Split), their outputs are concatenated:
    the producers write side by side into one buffer, each part on a 64-byte boundary."""
    nodes = [helper.make_node("Slice", ["x", "s0", "e0", "ax"], ["a"]),
             helper.make_node("Split", ["x", "sp"], ["b0", "b1"], axis=1),
             helper.make_node("Gemm", ["a", "w1"], ["g1"]), helper.make_node("Tanh", ["g1"], ["t1"]),
             helper.make_node("Gemm", ["b1", "w2"], ["g2"]), helper.make_node("Relu", ["g2"], ["t2"]),
             helper.make_node("Concat", ["t1", "t2"], ["y"], axis=1)]
    m = model_of(nodes, {"x": (1, 48)}, {"y": (1, 40)},
                 {"s0": [0], "e0": [24], "ax": [1], "sp": [24, 24], "w1": RNG.normal(0, 0.3, (24, 24)),
                  "w2": RNG.normal(0, 0.3, (24, 16))}, ints=("s0", "e0", "ax", "sp"))
    cm, snr = check(m, {"x": (1, 48)})
    assert kinds(cm) == ["FullyConnectedAffine", "FullyConnectedAffine"]
    a, b = cm.graph.nodes
    assert a.output.buffer == b.output.buffer and {a.output.offset, b.output.offset} == {0, 32}
    assert snr["y"] > 45, snr


@pytest.mark.parametrize("op", ["Mul", "Add", "Sub"])
def test_two_activations_combine_on_diagonal_operations(op):
    """A product points a diagonal's weights at the other activation's buffer (one operation); a
    sum or difference is two diagonals, the second taking the first's int32 accumulator as bias."""
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["a0"]), helper.make_node("Tanh", ["a0"], ["a"]),
             helper.make_node("Gemm", ["x", "w2"], ["b0"]), helper.make_node("Sigmoid", ["b0"], ["b"]),
             helper.make_node(op, ["a", "b"], ["y"])]
    m = model_of(nodes, {"x": (1, 32)}, {"y": (1, 32)}, {"w1": RNG.normal(0, 0.3, (32, 32)),
                                                         "w2": RNG.normal(0, 0.3, (32, 32))})
    cm, snr = check(m, {"x": (1, 32)})
    last = cm.graph.nodes[-1]
    assert isinstance(last.op, ElementWiseAffine)
    if op == "Mul":
        assert kinds(cm)[2:] == ["ElementWiseAffine"] and last.weights is not None and last.bias is None
    else:
        assert kinds(cm)[2:] == ["ElementWiseAffine", "ElementWiseAffine"]
        assert last.bias is not None and last.bias.buffer == cm.graph.nodes[-2].output.buffer
        assert cm.graph.buffers[last.bias.buffer].dtype == "int32"
    assert snr["y"] > 35, snr


@pytest.mark.parametrize("op, bound, budget", [("Sqrt", 30, 0.002), ("Exp", 30, 0.0003), ("Log", 20, 0.002),
                                               ("Abs", 40, 0.002), ("Softsign", 35, 0.002), ("Tanh", 30, 0.002),
                                               ("Sigmoid", 30, 0.002)])
def test_unary_functions_are_designed_pwl_segments(op, bound, budget):
    """The PWL error budget is a fraction of the output's full scale: exp, steep at its top, needs
    a tighter one for the same SNR over its inputs."""
    pre = [helper.make_node("Gemm", ["x", "w"], ["g"])]
    src = "g"
    if op in ("Sqrt", "Log"):  # positive inputs
        pre.append(helper.make_node("Mul", ["g", "g"], ["sq"]))
        pre.append(helper.make_node("Add", ["sq", "one"], ["pos"]))
        src = "pos"
    m = model_of(pre + [helper.make_node(op, [src], ["y"])], {"x": (1, 16)}, {"y": (1, 16)},
                 {"w": RNG.normal(0, 0.3, (16, 16)), "one": np.full(16, 0.1)})
    cm, snr = check(m, {"x": (1, 16)}, max_pwl_error=budget)
    assert cm.graph.nodes[-1].op.pwl.segments >= 2
    assert snr["y"] > bound, snr


def test_pow_two_is_a_product_and_the_sum_of_squares_adds_in_int32():
    """|X| = sqrt(re^2 + im^2) as an STFT front-end computes it: the two squares add as products
    in one accumulator (no int16 square in between), the sqrt is that stage's PWL."""
    nodes = [helper.make_node("Gemm", ["x", "wr"], ["re"]), helper.make_node("Gemm", ["x", "wi"], ["im"]),
             helper.make_node("Pow", ["re", "two"], ["r2"]), helper.make_node("Pow", ["im", "two"], ["i2"]),
             helper.make_node("Add", ["r2", "i2"], ["p"]), helper.make_node("Sqrt", ["p"], ["y"])]
    m = model_of(nodes, {"x": (1, 32)}, {"y": (1, 24)}, {"wr": RNG.normal(0, 0.3, (32, 24)),
                                                         "wi": RNG.normal(0, 0.3, (32, 24)), "two": np.array(2.0)})
    cm, snr = check(m, {"x": (1, 32)}, max_pwl_error=0.001)
    assert kinds(cm) == ["FullyConnectedAffine", "FullyConnectedAffine", "ElementWiseAffine", "ElementWiseAffine"]
    prod1, prod2 = cm.graph.nodes[2:]
    assert prod1.weights.buffer == prod1.input.buffer and prod2.weights.buffer == prod2.input.buffer
    assert prod2.bias.buffer == prod1.output.buffer and prod1.op.pwl is None
    assert snr["y"] > 40, snr


@pytest.mark.parametrize("kw", [{"pads": [1, 1], "strides": [2]}, {"pads": [2, 2], "dilations": [2]},
                                {"auto_pad": "SAME_UPPER"}, {"pads": [1, 1], "group": 4}])
def test_padded_strided_dilated_grouped_convolutions_deep_in_the_network(kw):
    """Conv 1D anywhere: the producer's output is placed in a zeroed, wider buffer; stride, dilation
    and groups are the filter's layout over time-major memory."""
    cin = 8
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1]), helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], kernel_shape=[3], **kw),
             helper.make_node("Relu", ["c1"], ["y"])]
    group = kw.get("group", 1)
    t = 24
    k_eff = 1 + 2 * kw.get("dilations", [1])[0]
    s = kw.get("strides", [1])[0]
    pads = sum(kw.get("pads", [1, 1]))
    t_out = -(-t // s) if "auto_pad" in kw else (t + pads - k_eff) // s + 1
    m = model_of(nodes, {"x": (1, cin, t)}, {"y": (1, 8, t_out)},
                 {"w0": RNG.normal(0, 0.3, (cin, cin, 3)), "b0": RNG.normal(0, 0.1, cin),
                  "w1": RNG.normal(0, 0.3, (8, cin // group, 3)), "b1": RNG.normal(0, 0.1, 8)})
    cm, snr = check(m, {"x": (1, cin, t)})
    assert kinds(cm) == ["Convolution", "Convolution"]
    first, second = cm.graph.nodes
    assert first.output.buffer == second.input.buffer and first.output.offset > second.input.offset
    assert second.op.stride == s * cin
    assert snr["y"] > 38, snr  # held-out inputs: calibration clipping included


def test_reduce_mean_and_sum_over_an_axis_are_affine_rows():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("ReduceMean", ["r"], ["m"], axes=[2], keepdims=0),
             helper.make_node("ReduceSum", ["r", "ax"], ["s"], keepdims=1)]
    m = model_of(nodes, {"x": (1, 8, 16)}, {"m": (1, 8), "s": (1, 1, 16)}, {"ax": [1]}, ints=("ax",))
    cm, snr = check(m, {"x": (1, 8, 16)})
    assert kinds(cm) == ["ElementWiseAffine", "FullyConnectedAffine", "FullyConnectedAffine"]
    assert min(snr.values()) > 45, snr


def _lstm_model(steps=1, state_inputs=True):
    return lstm(RNG, steps=steps, state_inputs=state_inputs)


@pytest.mark.parametrize("steps, state_inputs", [(1, True), (3, False)])
def test_lstm_is_affine_and_diagonal_operations_per_step(steps, state_inputs):
    model, ins = _lstm_model(steps, state_inputs)
    cm, snr = check(model, ins)
    per_step = ["FullyConnectedAffine"] * 6 + ["ElementWiseAffine"] * 4   # gates o,f | i | g; c; tanh c; h
    assert kinds(cm) == per_step * steps
    gates_x, gates_h = cm.graph.nodes[:2]
    assert gates_h.bias.buffer == gates_x.output.buffer                 # W x + R h + b in one accumulator
    cell = cm.graph.nodes[6:8]
    assert all(n.weights is not None for n in cell)                     # f*c + i*g: weights are the gates
    assert min(snr.values()) > 30, snr


def test_gru_both_reset_orders():
    for lbr in (0, 1):
        hidden, inp = 32, 16
        nodes = [helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["Y", "Yh"], hidden_size=hidden,
                                  linear_before_reset=lbr)]
        ins = {"x": (2, 1, inp), "h0": (1, 1, hidden)}
        m = model_of(nodes, ins, {"Y": (2, 1, 1, hidden), "Yh": (1, 1, hidden)},
                     {"W": RNG.normal(0, 0.3, (1, 3 * hidden, inp)), "R": RNG.normal(0, 0.3, (1, 3 * hidden, hidden)),
                      "B": RNG.normal(0, 0.2, (1, 6 * hidden))})
        cm, snr = check(m, ins)
        assert set(kinds(cm)) == {"FullyConnectedAffine", "ElementWiseAffine"}
        assert min(snr.values()) > 25, (lbr, snr)


def test_a_carried_state_is_found_by_name_and_fed_back():
    """A recurrent model exported with its state as an input and the next state as an output
    (Silero's state -> stateN): streaming on GNA tracks ONNX Runtime streaming."""
    hidden = 32
    nodes = [helper.make_node("Gather", ["state", "i0"], ["h0"], axis=0),
             helper.make_node("Gather", ["state", "i1"], ["c0"], axis=0),
             helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["Y", "Yh", "Yc"], hidden_size=hidden),
             helper.make_node("Concat", ["Yh", "Yc"], ["stateN"], axis=0),
             helper.make_node("Squeeze", ["Y", "sq"], ["y"])]
    m = model_of(nodes, {"x": (1, 1, 16), "state": (2, 1, hidden)}, {"y": (1, 1, hidden), "stateN": (2, 1, hidden)},
                 {"W": RNG.normal(0, 0.3, (1, 4 * hidden, 16)), "R": RNG.normal(0, 0.3, (1, 4 * hidden, hidden)),
                  "B": RNG.normal(0, 0.2, (1, 8 * hidden)), "i0": np.array([0]), "i1": np.array([1]), "sq": [1]},
                 ints=("i0", "i1", "sq"))
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    xs = RNG.normal(0, 1, (200, 1, 1, 16)).astype(np.float32)
    st, states, ref = np.zeros((2, 1, hidden), np.float32), [], []
    for x in xs:
        states.append(st)
        y, st = sess.run(None, {"x": x, "state": st})
        ref.append(y)
    cm = compile_onnx(m, {"x": xs[:100], "state": np.stack(states[:100])})
    assert cm.state == [("state", "stateN")]
    s = cm.stream()
    got = [s.step({"x": x})["y"] for x in xs]
    assert snr_db(np.stack(ref), np.stack(got).reshape(np.stack(ref).shape)) > 30


def test_an_if_on_an_input_given_at_compile_time_is_planned_as_its_branch():
    """Silero's sr input picks the 16 kHz branch: with --const sr=16000 the If disappears and the
    branch's nodes (data path included) are lowered; calibration sees the tensors inside it."""
    then_g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["gt"]), helper.make_node("Relu", ["gt"], ["ot"])],
                               "then", [], [helper.make_tensor_value_info("ot", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["oe"])], "else", [],
                               [helper.make_tensor_value_info("oe", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Equal", ["sr", "k16"], ["is16"]),
             helper.make_node("If", ["is16"], ["y"], then_branch=then_g, else_branch=else_g)]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16]),
                                       helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                          [numpy_helper.from_array(np.array(16000, np.int64), "k16"),
                           numpy_helper.from_array(RNG.normal(0, 0.3, (16, 16)).astype(np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    cm = compile_onnx(m, RNG.normal(0, 1, (16, 1, 16)).astype(np.float32), consts={"sr": 16000})
    assert kinds(cm) == ["FullyConnectedAffine"] and cm.layers[-1]["nodes"][-1] != "Neg"
    with pytest.raises(CompileError, match="input 'sr' is not float32: give its value at compile time"):
        compile_onnx(m, RNG.normal(0, 1, (16, 1, 16)).astype(np.float32))


@needs("libgna")
@pytest.mark.parametrize("weights", ["i16", "i8"])
@pytest.mark.parametrize("build", ["concat", "mul", "sub", "conv", "lstm", "gru"])
def test_new_lowerings_run_bit_exact_on_libgna(build, weights):
    from gna import libgna
    from gna.graph import run_graph

    model, ins = GRAPHS[build]()
    cm = compile_onnx(model, feeds(ins, 32), weights=weights)
    with libgna.GraphSession(cm.graph) as sess:
        for i in range(4):
            bufs = cm.host_buffers({k: v[0] for k, v in feeds(ins, 1).items()})
            want, sat_e = run_graph(cm.graph, bufs)
            got, sat_l = sess.run(bufs)
            for name in want:
                assert np.array_equal(want[name], got[name]), (build, name)
            assert sat_e == sat_l


GRAPHS = {name: (lambda build=build: build(RNG)) for name, build in CASES.items()}


def test_pad_transpose_reshape_squeeze_are_layout():
    """A [T, C] input transposed to [1, C, T], reflect-padded on the host, a conv, then a zero Pad
    (the next conv's margins), Squeeze/Unsqueeze/Reshape around a Gemm: only convolutions and the
    affine are GNA operations."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
             helper.make_node("Unsqueeze", ["xt", "ax0"], ["x3"]),
             helper.make_node("Pad", ["x3", "p1"], ["xp"], mode="reflect"),
             helper.make_node("Conv", ["xp", "w0", "b0"], ["c0"]), helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Pad", ["r0", "p1"], ["rp"]),
             helper.make_node("Conv", ["rp", "w1", "b1"], ["c1"]), helper.make_node("Tanh", ["c1"], ["t1"]),
             helper.make_node("Squeeze", ["t1", "ax0"], ["s"]),
             helper.make_node("Reshape", ["s", "flat"], ["f"]),
             helper.make_node("Gemm", ["f", "w2"], ["y"])]
    t, c = 16, 8
    m = model_of(nodes, {"x": (t, c)}, {"y": (1, 8)},
                 {"ax0": [0], "p1": [0, 0, 1, 0, 0, 1], "flat": [1, -1], "w0": RNG.normal(0, 0.3, (8, c, 3)),
                  "b0": RNG.normal(0, 0.1, 8), "w1": RNG.normal(0, 0.3, (8, 8, 3)), "b1": RNG.normal(0, 0.1, 8),
                  "w2": RNG.normal(0, 0.2, (8 * t, 8))}, ints=("ax0", "p1", "flat"))
    cm, snr = check(m, {"x": (t, c)})
    assert kinds(cm) == ["Convolution", "Convolution", "FullyConnectedAffine"]
    host = cm.host[cm.graph.nodes[0].input.buffer]
    assert np.count_nonzero(np.bincount(host[host >= 0])) == t * c      # every input element written ...
    assert (host >= 0).sum() == (t + 2) * c                             # ... and the reflected edges twice
    assert snr["y"] > 38, snr


def test_a_residual_around_several_layers_is_a_sum_of_two_activations():
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["g1"]), helper.make_node("Relu", ["g1"], ["r1"]),
             helper.make_node("Gemm", ["r1", "w2"], ["g2"]), helper.make_node("Tanh", ["g2"], ["t2"]),
             helper.make_node("Gemm", ["t2", "w3"], ["g3"]), helper.make_node("Add", ["g3", "x"], ["y"])]
    m = model_of(nodes, {"x": (1, 32)}, {"y": (1, 32)}, {k: RNG.normal(0, 0.25, (32, 32)) for k in ("w1", "w2", "w3")})
    cm, snr = check(m, {"x": (1, 32)})
    assert kinds(cm) == ["FullyConnectedAffine"] * 3 + ["ElementWiseAffine"] * 2
    assert snr["y"] > 40, snr


RANDOM_CASES = [(kind, seed) for kind in ("conv", "recurrent", "concat", "mixed") for seed in range(3)]


def _random_compiled(kind, seed, weights):
    from gna.lowering_cases import random_model

    rng = np.random.default_rng(1000 + seed)
    model, ins = random_model(rng, kind)
    cm = compile_onnx(model, {k: rng.normal(0, 1.5, (24, *v)).astype(np.float32) for k, v in ins.items()},
                      weights=weights)
    return model, ins, cm, {k: rng.normal(0, 1, (8, *v)).astype(np.float32) for k, v in ins.items()}


@pytest.mark.parametrize("kind, seed", RANDOM_CASES)
def test_random_models_of_these_ops_compile_within_bounds(kind, seed):
    """Models of random sizes (channels, kernels, strides, paddings, hidden sizes, splits): what a
    user brings is not sized to our tests."""
    model, ins, cm, test = _random_compiled(kind, seed, "i16")
    ref = calibration_tensors(model, test)
    for o in cm.outputs:
        got = np.stack([cm.run({k: v[i] for k, v in test.items()})[0][o["name"]] for i in range(8)])
        assert snr_db(ref[o["name"]], got.reshape(ref[o["name"]].shape)) > 20, (kind, seed, o["name"])


@needs("libgna")
@pytest.mark.parametrize("weights", ["i16", "i8"])
@pytest.mark.parametrize("kind, seed", RANDOM_CASES)
def test_random_models_run_bit_exact_on_libgna(kind, seed, weights):
    from gna import libgna
    from gna.graph import run_graph

    _, _, cm, test = _random_compiled(kind, seed, weights)
    with libgna.GraphSession(cm.graph) as sess:
        for i in range(4):
            bufs = cm.host_buffers({k: v[i] for k, v in test.items()})
            want, sat_e = run_graph(cm.graph, bufs)
            got, sat_l = sess.run(bufs)
            assert all(np.array_equal(want[b], got[b]) for b in want) and sat_e == sat_l, (kind, seed, weights)
