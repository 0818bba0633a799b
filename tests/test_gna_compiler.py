"""ONNX -> GNA 2.0: every supported op lowered exactly (checked on the GNA parameters), accuracy
against ONNX Runtime within bounds, and clear errors for what does not map."""
import zlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gna import emulator
from gna.ir import Convolution, ElementWiseAffine, FullyConnectedAffine
from gna.onnx_compiler import CompileError, CompiledModel, calibration_tensors, compile_onnx
from gna.reference_net import build_reference_net, reference_inputs
from quant.pwl_design import activation, design_pwl, evaluate
from quant.quantizers import calibrate_range, snr_db

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _rng_per_test(request):
    """Each test draws from its own generator, seeded by its name: inputs do not depend on which
    tests ran before it (or on -k)."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def _graph(nodes, in_shape, out_shape, inits):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
                          [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _snr(model, cm, xs):
    ref = calibration_tensors(model, xs)["y"]
    got = np.stack([cm.dequantize(len(cm.layers) - 1, emulator.run(cm.model, cm.quantize_input(x)).output) for x in xs])
    return snr_db(ref, got.reshape(ref.shape))


def _conv_model(tail=(), cin=8, cout=8, k=3, t=32):
    w = RNG.normal(0, 0.3, (cout, cin, k))
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"])]
    last = "c"
    for i, (op, extra, kw) in enumerate(tail):
        out = "y" if i == len(tail) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, [last, *extra], [out], **kw))
        last = out
    if not tail:
        nodes[0].output[0] = "y"
    return _graph(nodes, (1, cin, t), (1, cout, t - k + 1), {"w": w, "b": RNG.normal(0, 0.1, cout),
                                                            "g": RNG.normal(1, 0.2, (1, cout, 1)),
                                                            "be": RNG.normal(0, 0.2, (1, cout, 1))}), w


def test_conv_lowering_unrolls_channels_tap_major_with_a_channel_stride():
    model, w = _conv_model()
    xs = RNG.normal(0, 1, (8, 1, 8, 32)).astype(np.float32)
    cm = compile_onnx(model, xs)
    (op,) = cm.model.operations
    assert isinstance(op, Convolution) and op.stride == 8 and op.input_width == 32 * 8
    s_w = op.filters.astype(np.float64).max() / (w.transpose(0, 2, 1).reshape(8, 24).max())
    want = np.round(w.transpose(0, 2, 1).reshape(8, 24) * s_w)
    assert np.max(np.abs(op.filters - want)) <= 1  # filter (f) coefficient (tau, c) at tau*C + c
    assert _snr(model, cm, xs) > 60


def test_per_channel_mul_add_after_a_conv_folds_into_it():
    model, _ = _conv_model(tail=[("Mul", ["g"], {}), ("Add", ["be"], {})])
    xs = RNG.normal(0, 1, (8, 1, 8, 32)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert [type(o) for o in cm.model.operations] == [Convolution]
    assert _snr(model, cm, xs) > 60


@pytest.mark.parametrize("act, kw, bound", [("Relu", {}, 60), ("LeakyRelu", {"alpha": 0.1}, 60), ("Tanh", {}, 36),
                                            ("Sigmoid", {}, 36)])
def test_film_after_an_activation_is_an_element_wise_affine(act, kw, bound):
    model, _ = _conv_model(tail=[(act, [], kw), ("Mul", ["g"], {}), ("Add", ["be"], {})])
    xs = RNG.normal(0, 1, (8, 1, 8, 32)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert [type(o) for o in cm.model.operations] == [Convolution, ElementWiseAffine]
    assert _snr(model, cm, xs) > bound


def test_clip_is_exact_breakpoints():
    model = _graph([helper.make_node("Gemm", ["x", "w", "b"], ["g"]), helper.make_node("Clip", ["g", "lo", "hi"], ["y"])],
                   (1, 16), (1, 8), {"w": RNG.normal(0, 0.5, (16, 8)), "b": np.zeros(8), "lo": -0.5, "hi": 0.5})
    xs = RNG.normal(0, 1, (16, 1, 16)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert cm.model.operations[0].pwl.segments == 3 and _snr(model, cm, xs) > 60


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_and_matmul_lower_to_fully_connected(trans_b):
    w = RNG.normal(0, 0.5, (16, 8))
    gemm = _graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=trans_b, alpha=0.5, beta=2.0)],
                  (1, 16), (1, 8), {"w": w.T if trans_b else w, "b": RNG.normal(0, 0.1, 8)})
    matmul = _graph([helper.make_node("MatMul", ["x", "w"], ["y"])], (1, 16), (1, 8), {"w": w})
    xs = RNG.normal(0, 1, (16, 1, 16)).astype(np.float32)
    for model in (gemm, matmul):
        cm = compile_onnx(model, xs)
        (op,) = cm.model.operations
        assert isinstance(op, FullyConnectedAffine) and op.weights.shape == (8, 16)
        assert _snr(model, cm, xs) > 60


def test_flatten_after_conv_permutes_the_dense_weights_instead_of_moving_data():
    model = _graph([helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("Flatten", ["c"], ["f"]),
                    helper.make_node("Gemm", ["f", "w2", "b2"], ["y"])], (1, 8, 16), (1, 8),
                   {"w": RNG.normal(0, 0.3, (4, 8, 3)), "b": np.zeros(4), "w2": RNG.normal(0, 0.3, (56, 8)), "b2": np.zeros(8)})
    xs = RNG.normal(0, 1, (8, 1, 8, 16)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert [type(o) for o in cm.model.operations] == [Convolution, FullyConnectedAffine]
    assert _snr(model, cm, xs) > 55


def test_residual_add_folds_identity_into_the_dense_layer():
    model = _graph([helper.make_node("Gemm", ["x", "w", "b"], ["g"]), helper.make_node("Add", ["g", "x"], ["r"]),
                    helper.make_node("Tanh", ["r"], ["y"])], (1, 16), (1, 16),
                   {"w": RNG.normal(0, 0.2, (16, 16)), "b": np.zeros(16)})
    xs = RNG.normal(0, 1, (16, 1, 16)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert len(cm.model.operations) == 1 and _snr(model, cm, xs) > 36


@pytest.mark.parametrize("nodes, inits, message", [
    ([helper.make_node("Softmax", ["x"], ["y"], name="sm")], {}, "node 'sm' (Softmax): op Softmax has no GNA 2.0 mapping"),
    ([helper.make_node("Conv", ["x", "w"], ["y"], name="cv")], {"w": np.ones((4, 8, 3, 3))},
     "node 'cv' (Conv): only 1D convolutions"),
    ([helper.make_node("Gemm", ["x", "w"], ["g"], name="d"), helper.make_node("Div", ["x", "g"], ["y"], name="div")],
     {"w": np.ones((16, 16))}, "node 'div' (Div): division by a value does not map"),
    ([helper.make_node("Relu", ["x"], ["r"], name="r"), helper.make_node("Pad", ["r", "p"], ["y"], name="pad", mode="reflect")],
     {"p": np.array([0, 2, 0, 2])}, "node 'pad' (Pad): reflect padding inside the network does not map"),
    ([helper.make_node("Pow", ["x", "e"], ["y"], name="cube")], {"e": np.array(3.0)}, "node 'cube' (Pow): exponent 3.0"),
])
def test_unsupported_graphs_name_the_node_and_op(nodes, inits, message):
    shape = (1, 8, 16) if nodes[0].op_type == "Conv" else (1, 16)
    model = _graph(nodes, shape, (1, 8), inits)
    for n in model.graph.initializer:  # integer operands stay integer
        if n.name == "p":
            n.CopyFrom(numpy_helper.from_array(np.array([0, 2, 0, 2], np.int64), "p"))
    with pytest.raises(CompileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_onnx(model, RNG.normal(0, 1, (4, *shape)).astype(np.float32))


def test_shapes_over_the_envelope_are_reported_as_gna_rules():
    model = _graph([helper.make_node("Gemm", ["x", "w"], ["y"])], (1, 65600), (1, 2), {"w": np.ones((65600, 2))})
    with pytest.raises(CompileError, match="breaks a GNA 2.0 rule: layer 0 \\(FullyConnectedAffine\\): inputs K is 65600"):
        compile_onnx(model, RNG.normal(0, 1, (2, 1, 65600)).astype(np.float32))


def test_malformed_onnx_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(CompileError, match="not a valid ONNX model"):
        compile_onnx(tmp_path / "bad.onnx", np.zeros((1, 1, 8), np.float32))


def test_reference_net_i16_and_i8_accuracy_and_save_load(tmp_path):
    model = build_reference_net()
    calib, test = reference_inputs(64, 1), reference_inputs(32, 2)
    results = {}
    for w in ("i16", "i8"):
        cm = compile_onnx(model, calib, weights=w)
        cm.save(tmp_path / f"{w}.npz")
        again = CompiledModel.load(tmp_path / f"{w}.npz")
        results[w] = _snr(model, again, test)
        kinds = [type(o).__name__ for o in cm.model.operations]
        assert kinds == ["Convolution", "ElementWiseAffine", "Convolution", "Convolution", "FullyConnectedAffine",
                         "FullyConnectedAffine"]
    assert results["i16"] > 38 and results["i8"] > 37, results


def test_pwl_designs_meet_the_target_and_evaluate_like_the_emulator():
    from gna.arith import pwl_apply
    from gna.ir import Pwl

    for name, kw, lo, hi in [("tanh", {}, -4, 4), ("sigmoid", {}, -8, 8), ("relu", {}, -3, 3),
                             ("leaky_relu", {"alpha": 0.2}, -3, 3), ("clip", {"min": -1, "max": 2}, -3, 3)]:
        f, bp, sat = activation(name, **kw)
        s_out = 32767 / float(np.max(np.abs(f(np.linspace(lo, hi, 1000)))))
        seg = design_pwl(f, 2.0 ** 24, s_out, lo, hi, breakpoints=bp, saturates=sat)
        assert seg.max_error <= 0.01, name
        if bp is not None:  # one segment per piece, and one more below the range where the first piece slopes
            assert len(bp) + 1 <= len(seg.x_base) <= len(bp) + 2
        xs = np.linspace(lo * 2 ** 24, hi * 2 ** 24, 5000).astype(np.int64)
        assert np.array_equal(evaluate(seg, xs), pwl_apply(xs, Pwl(seg.x_base, seg.y_base, seg.slope)))


def test_calibration_statistics():
    x = np.concatenate([RNG.normal(0, 1, 100_000), [50.0]])
    assert calibrate_range(x, "maxabs") == 50.0
    assert calibrate_range(x, "percentile") < 6
    assert 0 < calibrate_range(x, "mse", bits=8) < 50.0  # at 8 bits clipping the outlier pays


def test_openvino_ir_compiles_like_the_onnx_it_came_from(tmp_path):
    import openvino as ov

    onnx.save(build_reference_net(), str(tmp_path / "ref.onnx"))
    ov.save_model(ov.convert_model(str(tmp_path / "ref.onnx")), str(tmp_path / "ref.xml"), compress_to_fp16=False)
    calib, test = reference_inputs(64, 1), reference_inputs(24, 2)
    from_ir = compile_onnx(tmp_path / "ref.xml", calib)
    from_onnx = compile_onnx(tmp_path / "ref.onnx", calib)
    assert [type(o) for o in from_ir.model.operations] == [type(o) for o in from_onnx.model.operations]
    ref = calibration_tensors(build_reference_net(), test)["y"]
    outs = [np.stack([cm.dequantize(5, emulator.run(cm.model, cm.quantize_input(x)).output) for x in test])
            for cm in (from_ir, from_onnx)]
    snrs = [snr_db(ref, o.reshape(ref.shape)) for o in outs]
    assert min(snrs) > 38 and abs(snrs[0] - snrs[1]) < 0.5, snrs


def test_openvino_op_without_mapping_is_named(tmp_path):
    import openvino as ov

    model = _graph([helper.make_node("Softmax", ["x"], ["y"], name="soft")], (1, 16), (1, 16), {})
    onnx.save(model, str(tmp_path / "s.onnx"))
    ov.save_model(ov.convert_model(str(tmp_path / "s.onnx")), str(tmp_path / "s.xml"))
    with pytest.raises(CompileError, match=r"\(Softmax\): this OpenVINO op has no GNA 2.0 mapping"):
        compile_onnx(tmp_path / "s.xml", RNG.normal(0, 1, (2, 1, 16)).astype(np.float32))


def test_per_row_int8_scaling_beats_plain_per_tensor_max_abs():
    """The calibrated recipe (a multiplier per row, MSE-optimal ranges) against plain max-abs
    scaling (one multiplier for the tensor, max-abs ranges) on the reference net, int8 weights."""
    model = build_reference_net()
    calib, test = reference_inputs(64, 1), reference_inputs(32, 2)
    ours = _snr(model, compile_onnx(model, calib, weights="i8", calibration="mse", weight_scaling="row"), test)
    plain = _snr(model, compile_onnx(model, calib, weights="i8", calibration="maxabs", weight_scaling="tensor"), test)
    assert ours > plain + 0.2, (ours, plain)


def test_accuracy_sweep_orders_the_quantization_choices_as_designed():
    """Per-row int8 scaling is never worse than one multiplier per tensor, a tighter PWL budget
    buys int16 more than 10 dB, and the MSE-optimal range is never worse than the percentile."""
    from toolkit.gna.accuracy import sweep

    net = build_reference_net(0)
    rows = sweep(net, reference_inputs(64, 1), reference_inputs(64, 2))
    snr = {(r["weights"], r["scaling"], r["calibration"], r["pwl_error"]): r["snr_db"] for r in rows}
    assert len(rows) == 18
    for pwl in (0.01, 0.001):
        for cal in ("maxabs", "percentile", "mse"):
            assert snr[("i8", "row", cal, pwl)] >= snr[("i8", "tensor", cal, pwl)]
        for w, sc in (("i16", "row"), ("i8", "row"), ("i8", "tensor")):
            assert snr[(w, sc, "mse", pwl)] >= snr[(w, sc, "percentile", pwl)]
    assert snr[("i16", "row", "mse", 0.001)] > snr[("i16", "row", "mse", 0.01)] + 10


def test_batch_normalization_after_a_conv_folds_into_its_filters():
    """Conv -> BatchNormalization -> Relu, as PyTorch exports a Conv1d/BatchNorm1d block: one GNA
    convolution whose rows and bias carry the normalisation; against ONNX Runtime."""
    w = RNG.normal(0, 0.3, (8, 8, 3))
    bn = {"s": RNG.uniform(0.5, 2, 8), "bb": RNG.normal(0, 0.3, 8), "mu": RNG.normal(0, 0.5, 8),
          "var": RNG.uniform(0.2, 3, 8)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"], epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["y"])]
    model = _graph(nodes, (1, 8, 32), (1, 8, 30), {"w": w, "b": RNG.normal(0, 0.1, 8), **bn})
    xs = RNG.normal(0, 1, (8, 1, 8, 32)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert [type(o) for o in cm.model.operations] == [Convolution]
    assert cm.layers[0]["nodes"] == [model.graph.node[i].name or model.graph.node[i].op_type for i in range(3)]
    assert _snr(model, cm, xs) > 55


def test_batch_normalization_with_a_data_dependent_statistic_is_refused_naming_the_node():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "c", "var"], ["y"], name="bn1")]
    model = _graph(nodes, (1, 8, 32), (1, 8, 30), {"w": RNG.normal(0, 0.3, (8, 8, 3)), "b": np.zeros(8),
                                                   "s": np.ones(8), "bb": np.zeros(8), "var": np.ones(8)})
    with pytest.raises(CompileError, match="node .bn1. \\(BatchNormalization\\): its scale/bias/mean/variance must be a constant"):
        compile_onnx(model, RNG.normal(0, 1, (4, 1, 8, 32)).astype(np.float32))


def test_shape_arithmetic_and_an_if_on_a_constant_fold_before_lowering():
    """What exporters emit around a flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, a
    Cast, and an If whose condition is a constant — all computed at compile time."""
    w2 = RNG.normal(0, 0.2, (8 * 30, 16))
    then_g = helper.make_graph([helper.make_node("Identity", ["w2"], ["wt"])], "then", [],
                               [helper.make_tensor_value_info("wt", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["w2"], ["we"])], "else", [],
                               [helper.make_tensor_value_info("we", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
             helper.make_node("Shape", ["c"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n0"], axis=0),
             helper.make_node("Unsqueeze", ["n0", "axes"], ["n"]),
             helper.make_node("Concat", ["n", "minus1"], ["shape"], axis=0),
             helper.make_node("Cast", ["shape_f"], ["unused"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["c", "shape"], ["flat"]),
             helper.make_node("If", ["cond"], ["wsel"], then_branch=then_g, else_branch=else_g),
             helper.make_node("MatMul", ["flat", "wsel"], ["y"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                          [numpy_helper.from_array(RNG.normal(0, 0.3, (8, 8, 3)).astype(np.float32), "w"),
                           numpy_helper.from_array(np.zeros(8, np.float32), "b"),
                           numpy_helper.from_array(np.array(0, np.int64), "zero"),
                           numpy_helper.from_array(np.array([0], np.int64), "axes"),
                           numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
                           numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "shape_f"),
                           numpy_helper.from_array(np.array(True), "cond"),
                           numpy_helper.from_array(w2.astype(np.float32), "w2")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    xs = RNG.normal(0, 1, (8, 1, 8, 32)).astype(np.float32)
    cm = compile_onnx(model, xs)
    assert [type(o) for o in cm.model.operations] == [Convolution, FullyConnectedAffine]
    assert _snr(model, cm, xs) > 55


def test_a_shape_op_on_the_data_path_is_refused_naming_the_node():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Where", ["cond", "r", "zero"], ["y"], name="pick")]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                          [numpy_helper.from_array(np.ones((1, 16), bool), "cond"),
                           numpy_helper.from_array(np.zeros((1, 16), np.float32), "zero")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(CompileError, match="node 'pick' \\(Where\\): reads 'r', which is not constant"):
        compile_onnx(model, RNG.normal(0, 1, (4, 1, 16)).astype(np.float32))


@pytest.mark.parametrize("kw", [{"pads": [1, 1]}, {"pads": [2, 0]}, {"auto_pad": "SAME_UPPER"},
                                {"auto_pad": "SAME_LOWER", "strides": [2]}])
def test_a_padded_first_convolution_pads_by_memory_layout(kw):
    """PyTorch's Conv1d(padding=k//2) and friends: the host writes the input into a zeroed, wider
    buffer; GNA's convolution reads it unpadded. Against ONNX Runtime, with a second conv after it."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3], **kw),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "w2", "b2"], ["y"])]
    t = 32
    pads = kw.get("pads", [1, 1] if "auto_pad" in kw and "strides" not in kw else [0, 0])
    s = kw.get("strides", [1])[0]
    p1 = (t + sum(pads) - 3) // s + 1 if "auto_pad" not in kw or s == 1 else -(-t // s)
    model = _graph(nodes, (1, 8, t), (1, 8, p1 - 2), {"w": RNG.normal(0, 0.3, (8, 8, 3)), "b": RNG.normal(0, 0.1, 8),
                                                      "w2": RNG.normal(0, 0.3, (8, 8, 3)), "b2": np.zeros(8)})
    xs = RNG.normal(0, 1, (8, 1, 8, t)).astype(np.float32)
    cm = compile_onnx(model, xs)
    first = cm.model.operations[0]
    assert isinstance(first, Convolution) and first.input_width > t * 8   # the wider, zero-padded buffer
    q = cm.quantize_input(xs[0])
    assert np.count_nonzero(q) <= t * 8 and q.size == first.input_width
    assert _snr(model, cm, xs) > 50


def test_padding_deeper_in_the_network_places_the_producer_in_a_zeroed_buffer():
    """A padded convolution after another: the first one's output is written into the middle of
    a zeroed, wider buffer, which the second reads whole (64-byte alignment by leading zero taps)."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "w", "b"], ["y"], pads=[1, 1], name="second")]
    model = _graph(nodes, (1, 8, 32), (1, 8, 30), {"w": RNG.normal(0, 0.3, (8, 8, 3)), "b": RNG.normal(0, 0.1, 8)})
    xs = RNG.normal(0, 1, (8, 1, 8, 32)).astype(np.float32)
    cm = compile_onnx(model, xs)
    first, second = cm.graph.nodes
    assert isinstance(second.op, Convolution) and first.output.buffer == second.input.buffer
    assert first.output.offset - second.input.offset >= 8  # one zero time step (8 channels) before the data
    ref = calibration_tensors(model, xs)["y"]
    got = np.stack([cm.output(x) for x in xs])
    assert snr_db(ref, got.reshape(ref.shape)) > 50


