"""ONNX -> GNA 2.0 compiler (docs/gna-quant.md §4).

The float model is planned onto GNA memory (gna/onnx_plan.py: values, buffers, stages; one
lowering per ONNX op in gna/onnx_lowerings.py, convolutions in gna/onnx_conv.py, recurrent cells in
gna/onnx_recurrent.py), calibrated on ONNX Runtime's tensors, and emitted stage by stage as
operations placed in buffers (gna/onnx_emit.py, gna/graph.py). Constant subgraphs are evaluated first; what is left
that depends on data and has no lowering is refused, naming the node.
"""
from __future__ import annotations

import numpy as np

from quant.quantizers import calibrate_range

from .compiled import CompiledModel
from .graph import check_graph
from .ir import GnaModelError
from .onnx_emit import Emitter, carried_scales, live_stages
from .onnx_lowerings import LOWERINGS, attr
from .onnx_plan import CompileError, Planner, _Value, where

__all__ = ["CompileError", "CompiledModel", "calibration_tensors", "compile_onnx", "load_float_model"]

# ops that compute shapes or pick constants, not data: evaluated on constants, refused on data
SHAPE_OPS = {"Shape", "ConstantOfShape", "Range", "If", "Size", "Equal", "Where", "Loop"}
STATE_SUFFIXES = ("N", "_out", "_next", "_new", "n")


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


def evaluate(node, raw: dict, opsets) -> None:
    """Run one node whose inputs are all known (ONNX's reference evaluator); outputs into `raw`."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    needed = {i for i in node.input if i}
    for a in node.attribute:
        if a.g is not None and a.g.node:
            needed |= {n for n in _outer_names(a.g) if n in raw}
    inits = [numpy_helper.from_array(np.asarray(raw[n]), n) for n in sorted(needed)]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output]
    m = helper.make_model(helper.make_graph([node], "fold", [], outs, inits), opset_imports=list(opsets))
    try:
        values = ReferenceEvaluator(m).run(None, {})
    except Exception as e:  # noqa: BLE001 - the evaluator raises many types
        raise CompileError(f"{where(node)}: its inputs are constant but evaluating it failed: {e}") from e
    raw.update(zip(node.output, (np.asarray(v) for v in values)))


def _fold_constant_subgraphs(g, raw: dict, opsets) -> set[str]:
    """Evaluate, in graph order, every node all of whose inputs are constants (a Shape of a value
    with a static shape counts): Shape/Gather/Concat chains feeding a Reshape, Casts, an If on a
    constant condition. Adds their outputs to `raw`; returns the folded nodes' output names."""
    shapes = _static_shapes(g)
    folded: set[str] = set()
    for node in g.node:
        if node.op_type == "Constant":
            continue
        inputs = [i for i in node.input if i]
        if node.op_type == "Shape" and inputs[0] in shapes:
            dims = np.array(shapes[inputs[0]], dtype=np.int64)
            start, end = attr(node, "start", 0), attr(node, "end", None)
            raw[node.output[0]] = dims[start:end]
        elif inputs and all(i in raw for i in inputs):
            if node.op_type == "If":
                branch = attr(node, "then_branch" if bool(np.asarray(raw[inputs[0]]).ravel()[0]) else "else_branch")
                inner = {o for n in branch.node for o in n.output} | {t.name for t in branch.initializer}
                if any(n not in raw and n not in inner for n in _outer_names(branch)):
                    continue   # the taken branch computes on data: the planner plans it
            evaluate(node, raw, opsets)
        else:
            continue
        folded.update(node.output)
    return folded


def _feeds(model, xs) -> tuple[list[str], dict[str, np.ndarray]]:
    """The data inputs' names and their calibration batches [n, ...] (an array for a one-input
    model, or a dict by input name)."""
    names = data_inputs(model)
    if not isinstance(xs, dict):
        if len(names) != 1:
            raise CompileError(f"the model has {len(names)} data inputs {names}: give the calibration inputs as a dict "
                               "(an .npz with one array per input)")
        xs = {names[0]: xs}
    missing = [n for n in names if n not in xs]
    if missing:
        raise CompileError(f"no calibration inputs for {missing}", "save one array per input name in the .npz")
    dims = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    out = {}
    for n in names:
        x = np.asarray(xs[n], dtype=np.float32)
        size = int(np.prod(dims[n])) if dims[n] and all(d > 0 for d in dims[n]) else None
        if size is not None and x.ndim >= 1 and x[0].size == size:
            x = x.reshape((len(x), *dims[n]))
        elif size is not None and x.size == size:
            x = x.reshape((1, *dims[n]))
        elif size is not None:
            raise CompileError(f"calibration inputs for '{n}' are {list(x.shape)}: {x[0].size if x.ndim else 1} "
                               f"values per sample, the model takes {dims[n]} ({size})",
                               "save a batch [n, *input shape] of float inputs")
        out[n] = x
    counts = {len(v) for v in out.values()}
    if len(counts) != 1:
        raise CompileError(f"calibration batches differ in length: { {k: len(v) for k, v in out.items()} }")
    return names, out


def data_inputs(model) -> list[str]:
    inits = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def calibration_tensors(model, xs) -> dict[str, np.ndarray]:
    """Every float tensor of the model (ONNX Runtime) on the calibration inputs, [n, *shape]."""
    import onnx
    import onnxruntime as ort

    names, feeds = _feeds(model, xs)
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
    outs_names = [o.name for o in sess.get_outputs()]
    collected: dict[str, list] = {n: [] for n in outs_names + names}
    for k in range(len(next(iter(feeds.values())))):
        outs = sess.run(outs_names, {n: feeds[n][k] for n in names})
        for n in names:
            collected[n].append(np.asarray(feeds[n][k], dtype=np.float64))
        for n, o in zip(outs_names, outs):
            collected[n].append(np.asarray(o, dtype=np.float64))
    return {k: np.stack(v) for k, v in collected.items() if v}


class _Tensors(dict):
    """ONNX Runtime's tensors, plus the float reference of internal values computed on demand."""

    def __init__(self, base: dict, derived: dict):
        super().__init__(base)
        self.derived = derived

    def __missing__(self, name):
        if name not in self.derived:
            raise KeyError(name)
        v = np.asarray(self.derived[name](self), dtype=np.float64)
        self[name] = v
        return v


# -- planning ---------------------------------------------------------------------------------

def _consts_and_uses(model, fixed: dict) -> tuple[dict, dict, set]:
    from onnx import numpy_helper

    g = model.graph
    raw = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    raw.update({k: np.asarray(v) for k, v in (fixed or {}).items()})
    for node in g.node:
        if node.op_type == "Constant":
            raw[node.output[0]] = numpy_helper.to_array(attr(node, "value"))
    folded = _fold_constant_subgraphs(g, raw, model.opset_import)
    consts = {name: (np.asarray(v).astype(np.float64) if np.asarray(v).dtype.kind == "f" else np.asarray(v))
              for name, v in raw.items() if np.asarray(v).dtype != object and np.asarray(v).dtype.kind in "biuf"}
    uses: dict[str, int] = {}

    def count(nodes):
        for node in nodes:
            if node.output[0] in folded:
                continue
            for i in node.input:
                if i and i not in consts:
                    uses[i] = uses.get(i, 0) + 1
            for a in node.attribute:
                if a.g is not None and a.g.node:
                    count(a.g.node)
                    for o in a.g.output:
                        uses[o.name] = uses.get(o.name, 0) + 1

    count(g.node)
    for o in g.output:
        uses[o.name] = uses.get(o.name, 0) + 1
    return consts, uses, folded


def _plan_nodes(p: Planner, nodes, model, folded: set) -> None:
    consts = p.consts
    for node in nodes:
        if node.op_type == "Constant":
            from onnx import numpy_helper

            v = numpy_helper.to_array(attr(node, "value"))
            consts[node.output[0]] = v.astype(np.float64) if v.dtype.kind == "f" else v
            continue
        if node.output[0] in folded:
            continue
        inputs = [i for i in node.input if i]
        if node.op_type == "Shape" and inputs[0] in p.values:  # the planner knows every value's shape
            dims = np.array(p.value(inputs[0]).shape, dtype=np.int64)
            consts[node.output[0]] = dims[attr(node, "start", 0):attr(node, "end", None)]
            continue
        if node.op_type == "If" and inputs[0] in consts:  # decided now: plan the branch it takes
            branch = attr(node, "then_branch" if bool(np.asarray(consts[inputs[0]]).ravel()[0]) else "else_branch")
            from onnx import numpy_helper

            for t in branch.initializer:
                v = numpy_helper.to_array(t)
                consts[t.name] = v.astype(np.float64) if v.dtype.kind == "f" else v
            _plan_nodes(p, list(branch.node), model, set())
            for o, out in zip(branch.output, node.output):
                if o.name in consts:
                    consts[out] = consts[o.name]
                else:
                    p.set(p.value(o.name).view(out, lambda a: a))
            p.if_choices[node.output[0]] = branch
            continue
        if inputs and all(i in consts for i in inputs) and node.op_type not in ("If", "Loop"):
            raw = {i: consts[i] for i in inputs}
            evaluate(node, raw, model.opset_import)
            consts.update({o: (v.astype(np.float64) if v.dtype.kind == "f" else v) for o, v in raw.items()
                           if o in node.output})
            continue
        data = [i for i in node.input if i and i not in consts]
        op = node.op_type
        if op == "Cast" and attr(node, "to") == 1:
            LOWERINGS["Identity"](p, node)
            continue
        lower = LOWERINGS.get(op)
        if lower is None:
            if op in SHAPE_OPS or op == "Cast":
                raise CompileError(f"{where(node)}: reads '{data[0] if data else '?'}', which is not constant when the "
                                   f"model is compiled; {op} is evaluated on constants (shapes, indices) only — export "
                                   "with static shapes, or give the input's value with --const")
            raise CompileError(f"{where(node)}: op {op} has no GNA 2.0 mapping in this compiler (supported: "
                               f"{', '.join(sorted(LOWERINGS))}; Cast to float; constant subgraphs)")
        missing = [i for i in data if i not in p.values]
        if missing:
            raise CompileError(f"{where(node)}: reads '{missing[0]}', which no mapped node produced")
        lower(p, node)


def inline_chosen_ifs(model, choices: dict):
    """The model with each If the planner decided replaced by the branch it took (ONNX Runtime
    then shows the tensors inside it, for calibration)."""
    import onnx
    from onnx import helper

    if not choices:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for _ in range(64):
        g = m.graph
        hit = next((n for n in g.node if n.op_type == "If" and n.output[0] in choices), None)
        if hit is None:
            return m
        branch = choices[hit.output[0]]
        glue = [helper.make_node("Identity", [o.name], [out], name=f"{hit.name or 'If'}/{out}")
                for o, out in zip(branch.output, hit.output)]
        nodes = list(g.node)
        at = nodes.index(hit)
        nodes[at:at + 1] = list(branch.node) + glue
        del g.node[:]
        g.node.extend(nodes)
        g.initializer.extend(branch.initializer)
    raise CompileError("If nodes nest more than 64 deep")


def _plan(model, fixed: dict | None = None) -> Planner:
    g = model.graph
    consts, uses, folded = _consts_and_uses(model, fixed)
    p = Planner(consts, uses)
    offset = 0
    for k, name in enumerate(n for n in data_inputs(model) if n not in consts):
        vi = next(i for i in g.input if i.name == name)
        dims = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        if vi.type.tensor_type.elem_type != 1:
            raise CompileError(f"input '{name}' is not float32: give its value at compile time (--const {name}=...)")
        if not dims or any(d <= 0 for d in dims):
            raise CompileError(f"input '{name}' needs a static shape, got {dims}: export with fixed shapes, or fix "
                               "the dimension with --input-shape")
        n = int(np.prod(dims))
        idx = np.arange(offset, offset + n).reshape(dims)
        p.set(_Value(name, dims, idx, None, -1 - idx))  # each input element its own writer: its own scale
        p.host_inputs.append((name, dims))
        offset += n
    _plan_nodes(p, list(g.node), model, folded)
    for o in g.output:
        if o.name not in p.values:
            raise CompileError(f"graph output '{o.name}' is constant or was not produced")
    if not p.stages:
        raise CompileError("the graph has no node that computes on GNA")
    return p


def _state_pairs(model, outputs: list[str], state, shapes: dict) -> list[tuple[str, str]]:
    """(input, output) pairs fed back between inferences: as given, or an output named like an
    input plus a suffix (Silero's state -> stateN) with the same shape."""
    if state:
        pairs = [tuple(s.split("=", 1)) if isinstance(s, str) else tuple(s) for s in state]
        for i, o in pairs:
            if i not in data_inputs(model) or o not in outputs:
                raise CompileError(f"state pair {i}={o}: '{i}' must be a data input and '{o}' an output")
        return pairs
    pairs = []
    for i in data_inputs(model):
        for o in outputs:
            if shapes.get(i) == shapes.get(o) and any(o == i + sfx for sfx in STATE_SUFFIXES):
                pairs.append((i, o))
    return pairs


def reference(path_or_model, xs, consts: dict | None = None, shapes: dict | None = None):
    """(model as planned, plan, float tensors on `xs`): the model with its inputs fixed and its
    decided Ifs inlined, the plan, and ONNX Runtime's tensors plus the decomposed ops' internals
    (what calibration and per-layer accuracy compare against)."""
    model = load_float_model(path_or_model)
    if consts or shapes:
        model = _fix_inputs(model, consts or {}, shapes or {})
    p = _plan(model)
    model = inline_chosen_ifs(model, p.if_choices)
    return model, p, _Tensors(calibration_tensors(model, xs), p.derived)


def compile_onnx(path_or_model, calib, *, weights: str = "i16", calibration: str = "mse",
                 max_pwl_error: float = 0.01, weight_scaling: str = "row", consts: dict | None = None,
                 shapes: dict | None = None, state=None) -> CompiledModel:
    """Quantize and compile. `calib`: float inputs [n, ...] (one data input) or {input name: [n, ...]}.
    `consts`: values for inputs that are fixed (a sample rate); `shapes`: static shapes for inputs
    exported with dynamic ones. `state`: ["in=out", ...] pairs fed back
    between inferences (found by name when not given). `weight_scaling` (i8): "row" or "tensor"."""
    if weight_scaling not in ("row", "tensor"):
        raise CompileError(f"weight scaling '{weight_scaling}': use row or tensor")
    if weights not in ("i16", "i8"):
        raise CompileError(f"weights '{weights}': use i16 (accuracy) or i8 (performance)")
    model, p, tensors = reference(path_or_model, calib, consts, shapes)
    shapes = {name: tuple(v.shape) for name, v in p.values.items()}
    pairs = _state_pairs(model, [o.name for o in model.graph.output], state, shapes)
    outs = [p.value(o.name) for o in model.graph.output]
    for v in outs:
        if v.buf is None or np.any(v.phys < 0):
            raise CompileError(f"graph output '{v.name}' is (part of) an input or padding, not computed on GNA")
    em = Emitter(p, tensors, np.zeros(0), weights, calibration, max_pwl_error, weight_scaling)
    scales = []
    for name, dims in p.host_inputs:
        pair = next((o for i, o in pairs if i == name), None)
        scales.append(np.full(int(np.prod(dims)), 32767 / calibrate_range(tensors[name], calibration, 16))
                      if pair is None else carried_scales(em, p, p.value(pair), tensors[name]))
    input_scales = np.concatenate(scales)
    em.scale.update({-1 - g: float(sc) for g, sc in enumerate(input_scales)})
    for st in live_stages(p, outs):
        em.emit(st)
    g = em.graph
    for b in p.buffers:
        root, _ = b.root()
        if root.gather is not None and root.name in g.buffers:
            g.buffers[root.name].elements = max(g.buffers[root.name].elements, root.size)
    host = {}
    for name in g.inputs:
        root = next(b for b in p.buffers if b.name == name)
        gather = np.full(g.buffers[name].elements, -1, np.int64)
        gather[:len(root.gather)] = root.gather
        host[name] = gather
    outputs = []
    for v in outs:
        r = em.ref(v.buf, 0)
        outputs.append({"name": v.name, "shape": tuple(v.shape), "buffer": r.buffer, "positions": v.absolute(),
                        "scales": em.scales_of(v)})
        if r.buffer not in g.outputs:
            g.outputs.append(r.buffer)
    try:
        check_graph(g)
    except GnaModelError as e:
        raise CompileError(f"the compiled model breaks a GNA 2.0 rule: {e}") from e
    inputs = []
    for (n, dims), sc in zip(p.host_inputs, scales):
        uniform = bool(np.all(sc == sc[0]))
        inputs.append({"name": n, "shape": list(dims), "offset": int(p.values[n].phys.ravel()[0]),
                       "scale": float(sc[0]) if uniform else [float(v) for v in sc]})
    return CompiledModel(g, inputs, host, outputs, em.layers, pairs)


def _fix_inputs(model, consts: dict, shapes: dict):
    """Inputs given a value at compile time become initializers (a sample rate, a mode flag);
    inputs given a shape get it (a batch of 1, a 576-sample window), and shapes are inferred again."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for name in list(consts) + list(shapes):
        if not any(i.name == name for i in m.graph.input):
            raise CompileError(f"the model has no input '{name}' (inputs: {[i.name for i in m.graph.input]})",
                               "name one of those inputs in --const / --input-shape")
    for name, value in consts.items():
        vi = next(i for i in m.graph.input if i.name == name)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        m.graph.input.remove(vi)
    for name, dims in shapes.items():
        vi = next(i for i in m.graph.input if i.name == name)
        shape = vi.type.tensor_type.shape
        if len(shape.dim) != len(dims):
            raise CompileError(f"input '{name}' has {len(shape.dim)} dimensions; the shape given has {len(dims)}")
        for d, v in zip(shape.dim, dims):
            d.Clear()
            d.dim_value = int(v)
    del m.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(m)
    except Exception as e:  # noqa: BLE001 - onnx raises many types
        raise CompileError(f"shapes do not infer with the inputs fixed: {e}") from e
