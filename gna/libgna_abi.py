"""libGNA's C ABI as data: type codes, record layouts, and the helper an operation uses to describe
itself to the library (gna/ops/ hold the per-operation descriptors; gna/libgna.py runs them)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DT_INT8, DT_INT16, DT_INT32, DT_COMPOUND, DT_PWL, DT_WSF = 3, 4, 5, 12, 13, 14
POOLING = {None: -1, "max": 1, "sum": 2}


def pwl_bytes(pwl) -> bytes:
    rec = np.zeros(pwl.segments, dtype=[("x", "<i4"), ("y", "<i2"), ("s", "<i2")])
    rec["x"], rec["y"], rec["s"] = pwl.x_base, pwl.y_base, pwl.slope
    return rec.tobytes()


def compound_bias_bytes(bias, multiplier) -> bytes:
    """int8 weights: bias and the row's multiplier in one Gna2CompoundBias record per row."""
    rec = np.zeros(len(bias), dtype=[("b", "<i4"), ("m", "u1"), ("r", "u1", 3)])
    rec["b"], rec["m"] = bias, multiplier
    return rec.tobytes()


def weight_scale_bytes(multiplier) -> bytes:
    """Bias grouping with int8 weights: the multipliers as Gna2WeightScaleFactor records."""
    rec = np.zeros(len(multiplier), dtype=[("r0", "u1", 4), ("m", "u1"), ("r1", "u1", 3)])
    rec["m"] = multiplier
    return rec.tobytes()


def new_tensor(ffi, keep: list, shape, code: int, data, layout: bytes = b""):
    """A Gna2Tensor, kept alive in `keep`."""
    t = ffi.new("Gna2Tensor *")
    t.Shape.NumberOfDimensions = len(shape)
    for i, d in enumerate(shape):
        t.Shape.Dimensions[i] = int(d)
    t.Mode = 0
    t.Layout = layout
    t.Type = code
    t.Data = data
    keep.append(t)
    return t


def fill_operation(ffi, keep: list, slot, type_code: int, operands: list, params: list) -> None:
    """Point one Gna2Operation at its operand tensors and parameters (kept alive in `keep`)."""
    opnds = ffi.new("Gna2Tensor *[]", operands)
    prms = ffi.new("void *[]", params) if params else ffi.NULL
    keep += [opnds, prms]
    slot.Type = type_code
    slot.Operands = ffi.cast("const Gna2Tensor **", opnds)
    slot.NumberOfOperands = len(operands)
    slot.Parameters = prms
    slot.NumberOfParameters = len(params)


@dataclass
class Descriptor:
    """What one operation needs to describe itself: its input and output buffers and the cffi
    plumbing (tensors, parameters, memory in the library's arena), kept alive until the run ends."""
    ffi: object
    keep: list
    arena: object
    input: object        # pointer to the operation's input buffer
    output: object       # pointer to its output buffer
    output_type: int     # DT_INT16 or DT_INT32
    weights_at: object = None  # set: the weights operand points here (a graph's int16 buffer), not at a constant
    bias_at: object = None     # set: the bias operand points here (a graph's int32 accumulator)

    def place(self, nbytes: int, data: bytes | None = None):
        return self.arena.place(nbytes, data)

    def tensor(self, shape, code: int, data, layout: bytes = b""):
        return new_tensor(self.ffi, self.keep, shape, code, data, layout)

    def scalar(self, ctype: str, value):
        v = self.ffi.new(ctype, value)
        self.keep.append(v)
        return self.ffi.cast("void *", v)

    def shape(self, *dims):
        s = self.ffi.new("Gna2Shape *")
        s.NumberOfDimensions = len(dims)
        for i, d in enumerate(dims):
            s.Dimensions[i] = int(d)
        self.keep.append(s)
        return self.ffi.cast("void *", s)

    def pwl(self, pwl):
        return self.tensor((pwl.segments,), DT_PWL, self.place(8 * pwl.segments, pwl_bytes(pwl)))

    @property
    def null(self):
        return self.ffi.NULL
