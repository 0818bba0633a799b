"""ONNX -> GNA 2.0 compiler (docs/gna-quant.md §4).

The graph must be a chain (each node reads the previous node's output; a residual Add may reach
back across one linear layer, which folds into it). Linear nodes (Conv 1D, Gemm/MatMul, per-channel
Mul/Add) become GNA operations; constants that follow a linear node fold into it; activations
become that operation's PWL. Layout nodes (Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
Identity) cost nothing: every value carries `phys`, the GNA memory index of each logical element,
and the next operation's weights absorb the permutation.

A Conv on C input channels becomes the legacy single-channel 1D convolution over time-major memory
([T, C]): the filter is the kernel unrolled tap-major ([k*C]) and the stride is C times the conv
stride. Its output is again time-major, so convolutions chain.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.errors import NpinError
from quant.pwl_design import activation, design_pwl
from quant.quantizers import calibrate_range, quantize

from .ir import (Convolution, ElementWiseAffine, FullyConnectedAffine, GnaModel, GnaModelError, Pwl,
                 check_model)
from .model_io import model_from_arrays, model_to_arrays

LINEAR = {"Conv", "Gemm", "MatMul"}
ACTIVATIONS = {"Relu": "relu", "LeakyRelu": "leaky_relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Clip": "clip"}
LAYOUT = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout"}
ACC_HEADROOM = 2.0 ** 30   # calibrated pre-activation peak lands at half the int32 range
I8_LIMIT = 127 * 255       # largest |weight| an int8 weight times a uint8 multiplier reaches


class CompileError(NpinError, ValueError):
    """A graph the compiler cannot map: names the node and op, or the rule."""

    hint = "see docs/gna-quant.md for the graphs the compiler maps"


@dataclass
class _Value:
    name: str
    shape: tuple[int, ...]
    phys: np.ndarray  # logical-shaped array of GNA memory positions


@dataclass
class _Stage:
    kind: str                      # "fc", "conv", "diag"
    nodes: list[str]
    input: _Value
    weights: np.ndarray            # float: fc [M, K] over memory order; conv [F, C_fold]; diag [M]
    bias: np.ndarray
    out_shape: tuple[int, ...]
    out_phys: np.ndarray
    pre_name: str                  # ONNX tensor before the activation
    out_name: str                  # ONNX tensor the stage's output corresponds to
    act: tuple[str, dict] | None = None
    conv: dict = field(default_factory=dict)


@dataclass
class CompiledModel:
    model: GnaModel
    input_name: str
    input_shape: tuple[int, ...]
    input_phys: np.ndarray
    input_scale: float
    layers: list[dict]             # per GNA operation: onnx tensor, scale, shape, phys, nodes
    source: str | None = None      # the ONNX file it came from

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(self.input_shape)
        mem = np.zeros(int(np.prod(self.model.input_shape)))  # positions no element maps to: padding
        mem[self.input_phys.ravel()] = x.ravel()
        return quantize(mem, self.input_scale, 16).reshape(self.model.input_shape)

    def dequantize(self, i: int, y: np.ndarray) -> np.ndarray:
        layer = self.layers[i]
        return (y.reshape(-1)[layer["phys"].ravel()] / layer["scale"]).reshape(layer["shape"])

    def save(self, path) -> None:
        arrays = model_to_arrays(self.model)
        arrays["input_phys"] = self.input_phys
        meta = {"input_name": self.input_name, "input_shape": list(self.input_shape), "input_scale": self.input_scale,
                "source": self.source, "layers": []}
        for i, layer in enumerate(self.layers):
            arrays[f"layer{i}.phys"] = layer["phys"]
            meta["layers"].append({k: (list(v) if isinstance(v, tuple) else v) for k, v in layer.items() if k != "phys"})
        arrays["compile.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path) -> "CompiledModel":
        with np.load(path, allow_pickle=False) as data:
            d = {k: data[k] for k in data.files}
        if "compile.json" not in d:
            raise GnaModelError(None, str(path), "not a compiled model (no compile.json); compile with npin gna compile")
        meta = json.loads(bytes(d["compile.json"]).decode())
        layers = []
        for i, layer in enumerate(meta["layers"]):
            layers.append({**layer, "shape": tuple(layer["shape"]), "phys": d[f"layer{i}.phys"]})
        return cls(model_from_arrays(d, str(path)), meta["input_name"], tuple(meta["input_shape"]),
                   d["input_phys"], meta["input_scale"], layers, meta.get("source"))


def _attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _time_major_phys(c: int, t: int) -> np.ndarray:
    """phys[0, c, t] = t*C + c: a [1, C, T] tensor stored time-major."""
    return (np.arange(t)[None, :] * c + np.arange(c)[:, None])[None, :, :]


def load_float_model(path_or_model):
    """The float model as an onnx.ModelProto: an ONNX file, an OpenVINO IR (.xml), or a ModelProto."""
    import onnx

    if not hasattr(path_or_model, "graph") and str(path_or_model).endswith(".xml"):
        from .openvino_reader import OpenVinoReadError, read_openvino_ir

        try:
            path_or_model = read_openvino_ir(path_or_model)
        except OpenVinoReadError as e:
            raise CompileError(str(e)) from e
    try:
        model = onnx.load(str(path_or_model)) if not hasattr(path_or_model, "graph") else path_or_model
        onnx.checker.check_model(model)
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as e:  # noqa: BLE001 - onnx raises many types for a broken file
        raise CompileError(f"not a valid ONNX model: {e}") from e
    return model


@dataclass
class _Walk:
    """The state of the walk down the chain: constants, the value at the chain's end, the stages so
    far and the last one, which may still take folded constants or its activation."""
    consts: dict
    cur: _Value
    graph_input: _Value | None = None
    stages: list = field(default_factory=list)
    open_stage: _Stage | None = None

    def advance(self, name: str, shape=None, phys=None) -> None:
        self.cur = _Value(name, self.cur.shape if shape is None else shape, self.cur.phys if phys is None else phys)

    def start(self, st: _Stage) -> _Stage:
        self.stages.append(st)
        self.open_stage = st
        return st


def _where(node) -> str:
    return f"node '{node.name or node.output[0]}' ({node.op_type})"


def _residual_add(w: _Walk, node, data) -> None:
    """x + f(x) around one linear layer folds into it: W + I (or per-channel weights + 1)."""
    cur = w.cur
    skip = data[0] if data[1] == cur.name else data[1]
    if cur.name not in data:
        raise CompileError(f"{_where(node)}: the graph is not a chain (it reads {data}, the chain is at '{cur.name}')")
    st = w.open_stage
    if st is None or st.act is not None or st.input.name != skip or st.kind == "conv" or \
            st.input.phys.size != cur.phys.size or (st.kind == "diag" and st.input.phys.shape != cur.phys.shape):
        raise CompileError(f"{_where(node)}: a residual Add folds only around one linear layer (Gemm/MatMul "
                           "with as many outputs as inputs, or per-channel Mul/Add) before its activation")
    if st.kind == "fc":
        st.weights = st.weights + np.eye(len(st.weights))[:, st.input.phys.ravel().argsort()]
    else:
        st.weights = st.weights + 1.0
    st.nodes.append(node.name or node.op_type)
    st.pre_name = st.out_name = node.output[0]
    w.advance(node.output[0])


def _layout(w: _Walk, node) -> None:
    """Reshape-like ops move no data on GNA: only the memory-order map changes."""
    op, cur = node.op_type, w.cur
    if op == "Transpose":
        perm = _attr(node, "perm") or list(reversed(range(len(cur.shape))))
        phys = np.transpose(cur.phys, perm)
    elif op == "Flatten":
        axis = _attr(node, "axis", 1)
        phys = cur.phys.reshape(int(np.prod(cur.shape[:axis])), -1)
    elif op == "Reshape":
        shape = [int(v) for v in w.consts[node.input[1]]]
        shape = [cur.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        phys = cur.phys.reshape(shape)
    elif op in ("Squeeze", "Unsqueeze"):
        axes = _attr(node, "axes")
        if axes is None and len(node.input) > 1:
            axes = [int(v) for v in w.consts[node.input[1]]]
        phys = np.squeeze(cur.phys, tuple(axes) if axes else None) if op == "Squeeze" \
            else np.expand_dims(cur.phys, tuple(axes))
    else:
        phys = cur.phys
    out = node.output[0]
    w.advance(out, tuple(phys.shape), phys)
    if w.open_stage is not None:
        w.open_stage.out_phys, w.open_stage.out_shape, w.open_stage.out_name = phys, w.cur.shape, out


def _constant_affine(w: _Walk, node) -> None:
    """Mul/Add/Sub/Div by a constant: folded into the open stage's rows, or a diagonal stage."""
    op = node.op_type
    c = w.consts[[i for i in node.input if i in w.consts][0]]
    if op == "Sub":
        c = -c if node.input[1] in w.consts else None
    if op == "Div":
        c = 1.0 / c if node.input[1] in w.consts else None
    if c is None:
        raise CompileError(f"{_where(node)}: constant on the left of Sub/Div is not a per-channel affine")
    _fold_constant(w, node, c, scale=op in ("Mul", "Div"))


def _batch_norm(w: _Walk, node) -> None:
    """Inference-mode BatchNormalization is a per-channel scale and shift (channels on axis 1)."""
    if len(node.input) < 5 or any(name not in w.consts for name in node.input[1:5]):
        raise CompileError(f"{_where(node)}: scale, bias, mean and variance must be constants")
    gamma, beta, mean, var = (w.consts[name] for name in node.input[1:5])
    scale = gamma / np.sqrt(var + _attr(node, "epsilon", 1e-5))
    shape = (1, -1) + (1,) * (len(w.cur.shape) - 2)
    _fold_constant(w, node, scale.reshape(shape), scale=True)
    _fold_constant(w, node, (beta - mean * scale).reshape(shape), scale=False)


def _fold_constant(w: _Walk, node, c: np.ndarray, scale: bool) -> None:
    """Scale (or shift) the chain's value element-wise by a constant broadcast to its shape."""
    cur, out = w.cur, node.output[0]
    try:
        full = np.broadcast_to(c, cur.shape)
    except ValueError as e:
        raise CompileError(f"{_where(node)}: constant of shape {c.shape} does not broadcast to {cur.shape}") from e
    vec = np.empty(full.size)
    vec[cur.phys.ravel()] = full.ravel()  # per memory position
    st = w.open_stage
    if st is None or st.act is not None:
        st = w.start(_Stage("diag", [], cur, np.ones(full.size), np.zeros(full.size), cur.shape, cur.phys, out, out))
    # fold: the stage's output (memory order) is scaled / shifted element-wise
    if st.kind == "diag" and st.weights.size == vec.size:
        per_out = vec
    else:
        m = st.out_phys.size
        per_out = vec if vec.size == m else None
        if per_out is None:
            raise CompileError(f"{_where(node)}: cannot fold a constant of {vec.size} elements into {m} outputs")
        if st.kind == "conv":  # conv outputs are [P, F]: the constant must be per filter
            f = st.weights.shape[0]
            per_f = per_out.reshape(-1, f)
            if not np.allclose(per_f, per_f[0]):
                raise CompileError(f"{_where(node)}: after a convolution only per-channel constants fold")
            per_out = per_f[0]
    if scale:
        st.weights = st.weights * (per_out[:, None] if st.weights.ndim == 2 else per_out)
        st.bias = st.bias * per_out
    else:
        st.bias = st.bias + per_out
    if not st.nodes or st.nodes[-1] != (node.name or node.op_type):
        st.nodes.append(node.name or node.op_type)
    st.pre_name = st.out_name = out
    w.advance(out)


def _activation(w: _Walk, node) -> None:
    """The open stage's PWL (a diagonal identity stage when none is open)."""
    op, cur = node.op_type, w.cur
    params = {}
    if op == "LeakyRelu":
        params["alpha"] = _attr(node, "alpha", 0.01)
    if op == "Clip":
        lo = w.consts[node.input[1]] if len(node.input) > 1 and node.input[1] else _attr(node, "min", -np.inf)
        hi = w.consts[node.input[2]] if len(node.input) > 2 and node.input[2] else _attr(node, "max", np.inf)
        params.update(min=float(lo), max=float(hi))
    st = w.open_stage
    if st is None or st.act is not None:
        st = w.start(_Stage("diag", [], cur, np.ones(cur.phys.size), np.zeros(cur.phys.size), cur.shape, cur.phys,
                            cur.name, cur.name))
    st.act = (ACTIVATIONS[op], params)
    st.nodes.append(node.name or op)
    st.out_name = node.output[0]
    w.advance(node.output[0])


def _dense(w: _Walk, node) -> None:
    """Gemm / MatMul with constant weights: a FullyConnectedAffine stage, columns in memory order."""
    op, cur, out = node.op_type, w.cur, node.output[0]
    wname = node.input[1]
    if wname not in w.consts:
        raise CompileError(f"{_where(node)}: the weight operand must be a constant")
    wt = w.consts[wname]
    if op == "Gemm":
        if _attr(node, "transA", 0):
            raise CompileError(f"{_where(node)}: transA is not supported")
        wt = wt.T if not _attr(node, "transB", 0) else wt
        wt = wt * _attr(node, "alpha", 1.0)
        b = w.consts[node.input[2]] * _attr(node, "beta", 1.0) if len(node.input) > 2 and node.input[2] else 0.0
    else:
        wt = wt.T
        b = 0.0
    k = wt.shape[1]
    batch = int(np.prod(cur.shape)) // k
    if batch != 1:
        raise CompileError(f"{_where(node)}: batch {batch}; this compiler maps batch 1 (one vector per inference)")
    wm = np.empty_like(wt)
    wm[:, cur.phys.ravel()] = wt  # columns in memory order
    m = wt.shape[0]
    out_shape = tuple(cur.shape[:-1]) + (m,)
    st = w.start(_Stage("fc", [node.name or op], cur, wm, np.broadcast_to(np.asarray(b, dtype=np.float64), (m,)).copy(),
                        out_shape, np.arange(m).reshape(out_shape), out, out))
    w.advance(out, out_shape, st.out_phys)


def _conv_pads(node, t: int, k: int, stride: int) -> tuple[int, int]:
    """(left, right) zero padding of a 1-D Conv from `pads` or `auto_pad`."""
    auto = _attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = max((-(-t // stride) - 1) * stride + k - t, 0)
        small = total // 2
        return (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
    if auto not in ("NOTSET", "VALID"):
        raise CompileError(f"{_where(node)}: auto_pad {auto} is not an ONNX value")
    pads = _attr(node, "pads") or [0, 0]
    return (0, 0) if auto == "VALID" else (int(pads[0]), int(pads[1]))


def _conv(w: _Walk, node) -> None:
    """A 1D convolution over a time-major input: a Convolution stage with tap-major filters. Padding
    of the graph's input is memory layout: the host writes the input into a zeroed, wider buffer."""
    cur, out = w.cur, node.output[0]
    wt = w.consts.get(node.input[1])
    if wt is None or wt.ndim != 3:
        raise CompileError(f"{_where(node)}: only 1D convolutions with constant weights map to GNA 2.0")
    f, cin, k = wt.shape
    if _attr(node, "group", 1) != 1 or any(d != 1 for d in (_attr(node, "dilations") or [1])):
        raise CompileError(f"{_where(node)}: groups and dilation are not in GNA 2.0's 1D convolution")
    stride = (_attr(node, "strides") or [1])[0]
    if len(cur.shape) != 3 or cur.shape[1] != cin:
        raise CompileError(f"{_where(node)}: input shape {cur.shape} is not [1, {cin}, T]")
    t = cur.shape[2]
    if not np.array_equal(cur.phys, _time_major_phys(cin, t)):
        raise CompileError(f"{_where(node)}: its input is not stored time-major ([T, C]) in GNA memory; "
                           "a convolution must follow the graph input or another convolution")
    left, right = _conv_pads(node, t, k, stride)
    width = t
    if left or right:
        if w.stages or cur.name != w.graph_input.name:
            raise CompileError(f"{_where(node)}: padding is mapped on the graph's first convolution (the host "
                               "writes the input into a zeroed, wider buffer); a padded convolution deeper in the "
                               "network needs an offset output buffer, which this compiler does not place yet")
        width = t + left + right
        padded = (np.arange(t)[None, :] + left) * cin + np.arange(cin)[:, None]   # [C, T] -> memory position
        w.graph_input.phys = padded[None]
        cur = _Value(cur.name, cur.shape, w.graph_input.phys)
    folded = wt.transpose(0, 2, 1).reshape(f, k * cin)  # tap-major: coefficient (tau, c) at tau*C + c
    b = w.consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(f)
    p = (width - k) // stride + 1
    st = w.start(_Stage("conv", [node.name or "Conv"], cur, folded, b.copy(), (1, f, p), _time_major_phys(f, p), out, out,
                        conv={"stride": stride * cin, "width": width * cin}))
    w.advance(out, (1, f, p), st.out_phys)


# one lowering per ONNX op that reads the chain's value and nothing else variable; adding an op
# means adding its function here
LOWERINGS = {**{op: _layout for op in LAYOUT}, **{op: _constant_affine for op in ("Mul", "Add", "Sub", "Div")},
             **{op: _activation for op in ACTIVATIONS}, "Gemm": _dense, "MatMul": _dense, "Conv": _conv,
             "BatchNormalization": _batch_norm}


def _graph_input(g, consts) -> _Value:
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise CompileError(f"the graph has {len(inputs)} inputs and {len(g.output)} outputs; GNA models take one of each")
    dims = tuple(d.dim_value for d in inputs[0].type.tensor_type.shape.dim)
    if not dims or any(d <= 0 for d in dims):
        raise CompileError(f"input '{inputs[0].name}' needs a static shape, got {dims}")
    first = next((n for n in g.node if n.op_type not in LAYOUT and n.op_type != "Constant"), None)
    if first is not None and first.op_type == "Conv" and len(dims) == 3:
        phys = _time_major_phys(dims[1], dims[2])
    else:
        phys = np.arange(int(np.prod(dims))).reshape(dims)
    return _Value(inputs[0].name, dims, phys)


# ops that compute shapes or pick constants, not data: evaluated before lowering, or refused
SHAPE_OPS = {"Shape", "Gather", "Cast", "Concat", "ConstantOfShape", "Range", "If", "Slice", "Size", "Equal", "Where"}


def _static_shapes(g) -> dict[str, tuple]:
    shapes = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        dims = tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
        if dims and all(d > 0 for d in dims):
            shapes[v.name] = dims
    return shapes


def _outer_names(graph) -> set[str]:
    """Names a subgraph reads (for evaluating an If whose branches use outer constants)."""
    names = set()
    for node in graph.node:
        names.update(i for i in node.input if i)
        for a in node.attribute:
            if a.g is not None and a.g.node:
                names |= _outer_names(a.g)
    return names


def _fold_constant_subgraphs(g, raw: dict, opsets) -> set[str]:
    """Evaluate, in graph order, every node all of whose inputs are constants (a Shape of a value
    with a static shape counts): Shape/Gather/Concat chains feeding a Reshape, Casts, an If on a
    constant condition. Adds their outputs to `raw`; returns the folded nodes' output names."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    shapes = _static_shapes(g)
    folded: set[str] = set()
    for node in g.node:
        if node.op_type == "Constant":
            continue
        inputs = [i for i in node.input if i]
        if node.op_type == "Shape" and inputs[0] in shapes:
            dims = np.array(shapes[inputs[0]], dtype=np.int64)
            start, end = _attr(node, "start", 0), _attr(node, "end", None)
            raw[node.output[0]] = dims[start:end]
        elif inputs and all(i in raw for i in inputs):
            needed = set(inputs)
            for a in node.attribute:
                if a.g is not None and a.g.node:
                    needed |= {n for n in _outer_names(a.g) if n in raw}
            inits = [numpy_helper.from_array(np.asarray(raw[n]), n) for n in sorted(needed)]
            outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output]
            m = helper.make_model(helper.make_graph([node], "fold", [], outs, inits),
                                  opset_imports=list(opsets))
            try:
                values = ReferenceEvaluator(m).run(None, {})
            except Exception as e:  # noqa: BLE001 - the evaluator raises many types
                raise CompileError(f"{_where(node)}: its inputs are constant but evaluating it failed: {e}") from e
            raw.update(zip(node.output, (np.asarray(v) for v in values)))
        else:
            continue
        folded.update(node.output)
    return folded


def _plan(model) -> tuple[list[_Stage], _Value]:
    """Walk the chain; fold constants and layouts; return the stages and the graph input value."""
    from onnx import numpy_helper

    g = model.graph
    raw = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            raw[node.output[0]] = numpy_helper.to_array(_attr(node, "value"))
    folded = _fold_constant_subgraphs(g, raw, model.opset_import)
    consts = {name: np.asarray(v).astype(np.float64) for name, v in raw.items() if np.asarray(v).dtype != object}
    graph_input = _graph_input(g, consts)
    w = _Walk(consts, _Value(graph_input.name, graph_input.shape, graph_input.phys), graph_input)
    for node in g.node:
        if node.op_type == "Constant" or node.output[0] in folded:
            continue
        data = [i for i in node.input if i and i not in consts]
        if node.op_type in SHAPE_OPS:
            raise CompileError(f"{_where(node)}: reads '{data[0]}', which is not constant when the model is "
                               f"compiled; this compiler evaluates {node.op_type} on constants (shapes, indices) only "
                               "— export with static shapes, or keep it off the data path")
        if node.op_type == "Add" and len(data) == 2:
            _residual_add(w, node, data)
            continue
        if not data or data[0] != w.cur.name:
            raise CompileError(f"{_where(node)}: the graph is not a chain (it reads {data}, the chain is at '{w.cur.name}')")
        lower = LOWERINGS.get(node.op_type)
        if node.op_type in ("Mul", "Add", "Sub", "Div") and len(data) != 1:
            lower = None  # between two activations: not mapped yet
        if lower is None:
            raise CompileError(f"{_where(node)}: op {node.op_type} has no GNA 2.0 mapping in this compiler "
                               f"(supported: Conv 1D, Gemm, MatMul, BatchNormalization, Mul/Add/Sub/Div by constants, residual Add, "
                               f"{', '.join(sorted(ACTIVATIONS))}, {', '.join(sorted(LAYOUT))})")
        lower(w, node)
    if g.output[0].name != w.cur.name:
        raise CompileError(f"graph output '{g.output[0].name}' is not the end of the chain ('{w.cur.name}')")
    if not w.stages:
        raise CompileError("the graph has no linear or activation node to compile")
    return w.stages, graph_input


def calibration_tensors(model, xs: np.ndarray) -> dict[str, np.ndarray]:
    """Every intermediate tensor of the float model (ONNX Runtime) on the calibration inputs."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    inferred = onnx.shape_inference.infer_shapes(m)
    float_t = onnx.TensorProto.FLOAT
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    have = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for o in node.output:
            if o and o not in have and types.get(o, float_t) in (float_t, 0):  # shapes and indices are not data
                m.graph.output.append(onnx.helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None))
                have.add(o)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # unused-initializer notices are not the user's business
    sess = ort.InferenceSession(m.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    collected: dict[str, list] = {n: [] for n in names}
    collected[name] = []
    for x in xs:
        outs = sess.run(names, {name: np.asarray(x, dtype=np.float32)[None] if x.ndim == len(sess.get_inputs()[0].shape) - 1
                                else np.asarray(x, dtype=np.float32)})
        collected[name].append(np.asarray(x, dtype=np.float64))
        for n, o in zip(names, outs):
            collected[n].append(np.asarray(o, dtype=np.float64))
    return {k: np.stack(v) for k, v in collected.items() if v}


def compile_onnx(path_or_model, calib: np.ndarray, *, weights: str = "i16", calibration: str = "mse",
                 max_pwl_error: float = 0.01, weight_scaling: str = "row") -> CompiledModel:
    """Quantize and compile; `calib` is a batch of float inputs [n, *input_shape[1:]] or [n, *input_shape].
    `weight_scaling` (i8 only): "row" gives every row its own multiplier, "tensor" one for all."""
    if weight_scaling not in ("row", "tensor"):
        raise CompileError(f"weight scaling '{weight_scaling}': use row or tensor")
    if weights not in ("i16", "i8"):
        raise CompileError(f"weights '{weights}': use i16 (accuracy) or i8 (performance)")
    model = load_float_model(path_or_model)
    stages, gin = _plan(model)
    tensors = calibration_tensors(model, np.asarray(calib))

    def rng_of(name):
        return calibrate_range(tensors[name], calibration, 16)

    s_x = 32767 / rng_of(gin.name)
    input_scale = s_x
    ops, layers = [], []
    for st in stages:
        pre = tensors[st.pre_name]
        pre_peak = max(float(np.max(np.abs(pre))), 1e-12)
        w = st.weights
        wmax = max(float(np.max(np.abs(w))), 1e-12)
        limit = 32767 if weights == "i16" or st.kind == "conv" else I8_LIMIT
        s_w = min(limit / wmax, ACC_HEADROOM / (pre_peak * s_x))
        s_acc = s_x * s_w
        bias = np.clip(np.round(st.bias * s_acc), -2**31, 2**31 - 1).astype(np.int32)
        if st.act is None:
            f, bp, sat = activation("identity")
        else:
            f, bp, sat = activation(st.act[0], **st.act[1])
        out_rng = rng_of(st.out_name) if st.act is not None else calibrate_range(pre, calibration, 16)
        s_y = 32767 / out_rng
        lo, hi = float(np.min(pre)), float(np.max(pre))
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
        seg = design_pwl(f, s_acc, s_y, lo, hi, breakpoints=bp, saturates=sat, max_error=max_pwl_error)
        pwl = Pwl(seg.x_base, seg.y_base, seg.slope)
        mult = None
        if weights == "i8" and st.kind != "conv":
            omega = w * s_w
            rows = omega.reshape(len(omega), -1) if omega.ndim == 2 else omega[:, None]
            peaks = np.max(np.abs(rows), axis=1)
            if weight_scaling == "tensor":
                peaks = np.full_like(peaks, peaks.max())
            mult = np.clip(np.ceil(peaks / 127), 1, 255).astype(np.uint8)
            wq = np.clip(np.round(rows / mult[:, None]), -127, 127).astype(np.int8).reshape(omega.shape)
        else:
            wq = np.clip(np.round(w * s_w), -32767, 32767).astype(np.int16)
        if st.kind == "fc":
            op = FullyConnectedAffine(wq, bias, 1, multiplier=mult, pwl=pwl)
        elif st.kind == "diag":
            op = ElementWiseAffine(wq, bias, 1, multiplier=mult, pwl=pwl)
        else:
            op = Convolution(wq, bias, st.conv["width"], st.conv["stride"], pwl=pwl)
        ops.append(op)
        layers.append({"onnx": st.out_name, "nodes": st.nodes, "scale": s_y, "shape": tuple(st.out_shape),
                       "phys": st.out_phys, "pwl_segments": int(pwl.segments), "pwl_error": seg.max_error,
                       "acc_scale": s_acc})
        s_x = s_y
    gm = GnaModel(ops)
    try:
        check_model(gm)
    except GnaModelError as e:
        raise CompileError(f"the compiled model breaks a GNA 2.0 rule: {e}") from e
    return CompiledModel(gm, gin.name, gin.shape, gin.phys, input_scale, layers)
