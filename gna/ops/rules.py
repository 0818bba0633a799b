"""Checks several operations share (each names the layer, the rule and the 2.0 limit)."""
from __future__ import annotations

import numpy as np

from ..ir import GnaModelError
from ..libgna_abi import DT_COMPOUND, DT_INT8, DT_INT16, DT_INT32, compound_bias_bytes


def in_range(layer, kind, what, value, lo, hi, multiple=1):
    if not lo <= value <= hi or value % multiple:
        mult = f", a multiple of {multiple}" if multiple > 1 else ""
        raise GnaModelError(layer, kind, f"{what} is {value}; GNA 2.0 takes {lo}..{hi}{mult}")


def weight_type(layer, kind, w, allowed=(np.int16, np.int8)):
    if w.dtype not in [np.dtype(t) for t in allowed]:
        names = " or ".join(np.dtype(t).name for t in allowed)
        raise GnaModelError(layer, kind, f"weights are {w.dtype}; GNA 2.0 takes {names}")


def multiplier(layer, kind, op, rows):
    if op.weights.dtype == np.int8:
        if op.multiplier is None or op.multiplier.shape != (rows,):
            raise GnaModelError(layer, kind, f"int8 weights need a uint8 multiplier per row ({rows}) "
                                             "(compound bias or weight scale factors)")
    elif op.multiplier is not None:
        raise GnaModelError(layer, kind, "a multiplier goes with int8 weights only (int16 weights take a plain int32 bias)")


def plain_bias(layer, kind, op, rows):
    if op.bias.shape != (rows,):
        raise GnaModelError(layer, kind, f"bias must be [M] = [{rows}], got {list(op.bias.shape)}")


def weights_and_bias(op, d):
    """The common operands of affine, element-wise and recurrent: input, output, weights, bias
    (compound records with int8 weights unless the bias is grouped)."""
    wcode = DT_INT8 if op.weights.dtype == np.int8 else DT_INT16
    w = d.weights_at if d.weights_at is not None else d.place(op.weights.nbytes, op.weights.tobytes())
    if op.multiplier is not None and getattr(op, "bias_index", None) is None:
        data, bcode = compound_bias_bytes(op.bias, op.multiplier), DT_COMPOUND
    else:
        data, bcode = np.ascontiguousarray(op.bias, dtype="<i4").tobytes(), DT_INT32
    b = d.bias_at if d.bias_at is not None else d.place(len(data), data)
    return [d.tensor(op.input_shape, DT_INT16, d.input), d.tensor(op.output_shape, d.output_type, d.output),
            d.tensor(op.weights.shape, wcode, w), d.tensor(op.bias.shape, bcode, b)]
