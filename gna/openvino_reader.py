"""Read an OpenVINO IR (.xml + .bin) through openvino and restate it as the equivalent ONNX graph,
so the one compiler serves both formats. Only the ops the compiler maps are translated; anything
else is named in the error."""
from __future__ import annotations

import numpy as np

from common.errors import NpinError

SIMPLE = {"Tanh": "Tanh", "Relu": "Relu", "Sigmoid": "Sigmoid", "Add": "Add", "Multiply": "Mul",
          "Subtract": "Sub", "Divide": "Div"}


class OpenVinoReadError(NpinError, ValueError):
    hint = "pass an OpenVINO IR (.xml with its .bin beside it) that OpenVINO itself can read"


def read_openvino_ir(path):
    """An onnx.ModelProto equivalent to the IR at `path`."""
    import openvino as ov
    from onnx import TensorProto, helper, numpy_helper

    try:
        model = ov.Core().read_model(str(path))
    except Exception as e:  # noqa: BLE001 - openvino raises RuntimeError subclasses with its own text
        raise OpenVinoReadError(f"OpenVINO cannot read {path}: {str(e).splitlines()[0]}") from e
    names: dict[tuple[str, int], str] = {}
    consts: dict[str, np.ndarray] = {}
    nodes, inputs, outputs, inits = [], [], [], []

    def out_name(op, port=0):
        # get_name() is unique within a model (friendly names need not be)
        return names.setdefault((op.get_name(), port), f"{op.get_friendly_name()}:{port}".replace("/", "_"))

    def src(op, i):
        o = op.input_value(i)
        return out_name(o.get_node(), o.get_index())

    def const_of(op, i):
        return consts.get(src(op, i))

    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        attrs = op.get_attributes()
        name = op.get_friendly_name()
        if kind == "Parameter":
            shape = [int(d) for d in op.get_output_shape(0)]
            inputs.append(helper.make_tensor_value_info(out_name(op), TensorProto.FLOAT, shape))
        elif kind == "Constant":
            arr = np.asarray(op.get_data())
            consts[out_name(op)] = arr
            dtype = np.int64 if np.issubdtype(arr.dtype, np.integer) else np.float32
            inits.append(numpy_helper.from_array(arr.astype(dtype), out_name(op)))
        elif kind == "Result":
            shape = [int(d) for d in op.get_output_shape(0)]
            outputs.append(helper.make_tensor_value_info(src(op, 0), TensorProto.FLOAT, shape))
        elif kind in SIMPLE:
            nodes.append(helper.make_node(SIMPLE[kind], [src(op, i) for i in range(op.get_input_size())],
                                          [out_name(op)], name=name))
        elif kind == "Convolution":
            nodes.append(helper.make_node("Conv", [src(op, 0), src(op, 1)], [out_name(op)], name=name,
                                          strides=list(attrs["strides"]), dilations=list(attrs["dilations"]),
                                          pads=list(attrs["pads_begin"]) + list(attrs["pads_end"])))
        elif kind == "MatMul":
            if attrs.get("transpose_a"):
                raise OpenVinoReadError(f"node '{name}' (MatMul): transpose_a is not supported")
            b = const_of(op, 1)
            if b is None:
                raise OpenVinoReadError(f"node '{name}' (MatMul): the weight operand must be a constant")
            wname = f"{out_name(op)}_w"
            inits.append(numpy_helper.from_array((b.T if attrs.get("transpose_b") else b).astype(np.float32), wname))
            nodes.append(helper.make_node("MatMul", [src(op, 0), wname], [out_name(op)], name=name))
        elif kind == "Clamp":
            lo, hi = f"{out_name(op)}_min", f"{out_name(op)}_max"
            inits += [numpy_helper.from_array(np.float32(attrs["min"]), lo), numpy_helper.from_array(np.float32(attrs["max"]), hi)]
            nodes.append(helper.make_node("Clip", [src(op, 0), lo, hi], [out_name(op)], name=name))
        elif kind == "PRelu" and const_of(op, 1) is not None and const_of(op, 1).size == 1:
            nodes.append(helper.make_node("LeakyRelu", [src(op, 0)], [out_name(op)], name=name,
                                          alpha=float(const_of(op, 1).ravel()[0])))
        elif kind in ("Reshape", "Transpose", "Squeeze", "Unsqueeze"):
            arg = const_of(op, 1) if op.get_input_size() > 1 else None
            if kind == "Transpose":
                nodes.append(helper.make_node("Transpose", [src(op, 0)], [out_name(op)], name=name,
                                              perm=[int(v) for v in arg]))
            elif kind == "Reshape" and not attrs.get("special_zero", False) and arg is not None and (arg == 0).any():
                raise OpenVinoReadError(f"node '{name}' (Reshape): zero-sized target dims are not supported")
            else:
                ins = [src(op, 0)] + ([src(op, 1)] if op.get_input_size() > 1 else [])
                nodes.append(helper.make_node(kind, ins, [out_name(op)], name=name))
        else:
            raise OpenVinoReadError(f"node '{name}' ({kind}): this OpenVINO op has no GNA 2.0 mapping in npin")
    graph = helper.make_graph(nodes, "from_openvino", inputs, outputs, inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="npin-openvino")
    onnx_model.ir_version = 8
    return onnx_model
