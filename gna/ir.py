"""A model IR for Intel GNA 2.0: the operations the 2.0 hardware runs, with every 2.0 rule checked
up front (docs/gna-model.md). A model is a chain: each operation reads the previous one's output
buffer (flat memory: shapes may differ, element counts may not).

Layouts are GNA's: affine, element-wise and bias-grouping operands are interleaved ([K, N], element
(k, n) at k*N + n); recurrent and copy are flat ([N, K]); the legacy convolution's output is
position-major with the filter index fastest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.errors import NpinError

MAX_BATCH = 8
MAX_ELEMENTS = 65528          # per operand dimension, multiple of 8
MAX_OUTPUTS = 65535
MAX_LAYERS = 4096
MAX_MODEL_BYTES = 256 << 20   # all GNA memory a model references, each buffer rounded to 4 KiB
LAYER_DESCRIPTOR_BYTES = 128
PWL_SEGMENTS = (2, 128)
CNN_FILTERS = (4, 65532)      # multiple of 4
CNN_FILTER_SIZE = (8, 768)    # multiple of 8
CNN_POOL = (1, 6)
RNN_OUTPUT_MULTIPLE = 32
# Accumulator chunk (elements per vector) before each int32 clamp, by batch size 1..8.
CHUNK_BY_BATCH = (12288, 6144, 4032, 3072, 2400, 2016, 1728, 1536)
CNN_SCRATCH_BYTES = 2 << 20   # libGNA's one scratch buffer for convolution without pooling


class GnaModelError(NpinError, ValueError):
    """An operation breaks a GNA 2.0 rule: names the layer, the rule and the limit."""

    hint = "check the model against docs/gna-model.md"

    def __init__(self, layer: int | None, kind: str, rule: str):
        where = f"layer {layer} ({kind})" if layer is not None else kind
        super().__init__(f"{where}: {rule}")
        self.layer, self.kind, self.rule = layer, kind, rule


def _i(a, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a), dtype=dtype)


def _normalize_affine(op) -> None:
    """Weights keep their type (the checks judge it); bias is int32, a multiplier uint8."""
    op.weights = np.ascontiguousarray(op.weights)
    op.bias = _i(op.bias, np.int32)
    if op.multiplier is not None:
        op.multiplier = _i(op.multiplier, np.uint8)


@dataclass
class Pwl:
    """Piecewise-linear activation: per segment xBase (int32; its low 2 bits code the shift
    8*(code+1)), yBase and slope (int16). Segment bases (xBase & ~3) must increase."""
    x_base: np.ndarray
    y_base: np.ndarray
    slope: np.ndarray

    def __post_init__(self):
        self.x_base = _i(self.x_base, np.int32)
        self.y_base = _i(self.y_base, np.int16)
        self.slope = _i(self.slope, np.int16)

    @property
    def segments(self) -> int:
        return len(self.x_base)

    def check(self, layer: int | None, kind: str) -> None:
        if not (len(self.x_base) == len(self.y_base) == len(self.slope)):
            raise GnaModelError(layer, kind, "PWL x_base, y_base and slope differ in length")
        lo, hi = PWL_SEGMENTS
        if not lo <= self.segments <= hi:
            raise GnaModelError(layer, kind, f"PWL has {self.segments} segments; GNA 2.0 takes {lo}..{hi}")
        bases = self.x_base.astype(np.int64) & ~3
        if np.any(np.diff(bases) <= 0):
            raise GnaModelError(layer, kind, "PWL segment bases (x_base & ~3) must strictly increase")


@dataclass
class FullyConnectedAffine:
    """out[m, n] = bias[m] + sum_k W[m, k] x[k, n], clamped to int32 after every accumulator chunk;
    int8 weights scale each row's products by a uint8 multiplier (compound bias). With bias
    grouping, bias is [M, NB] and column bias_index is used."""
    weights: np.ndarray                 # [M, K] int16 or int8
    bias: np.ndarray                    # [M] or [M, NB] (grouping) int32
    batch: int = 1
    multiplier: np.ndarray | None = None  # [M] uint8, int8 weights only
    bias_index: int | None = None        # set: bias grouping
    pwl: Pwl | None = None
    kind = "FullyConnectedAffine"

    def __post_init__(self):
        _normalize_affine(self)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.weights.shape[1], self.batch)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.weights.shape[0], self.batch)


@dataclass
class ElementWiseAffine:
    """out[m, n] = clamp32(bias[m] + w[m] x[m, n]) (diagonal weights: the FiLM layer)."""
    weights: np.ndarray                 # [M] int16 or int8
    bias: np.ndarray                    # [M] int32
    batch: int = 1
    multiplier: np.ndarray | None = None
    pwl: Pwl | None = None
    kind = "ElementWiseAffine"

    def __post_init__(self):
        _normalize_affine(self)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (len(self.weights), self.batch)

    output_shape = input_shape


@dataclass
class Convolution:
    """Legacy 1D CNN: one input channel of W samples, F filters of C taps, stride s; optional max
    or sum pooling (window, stride 1..6) over the conv positions; output [positions, F]."""
    filters: np.ndarray                 # [F, C] int16
    bias: np.ndarray                    # [F] int32
    input_width: int
    stride: int = 1
    pooling: str | None = None          # None, "max" or "sum"
    pool_window: int = 1
    pool_stride: int = 1
    pwl: Pwl | None = None
    kind = "Convolution"

    def __post_init__(self):
        self.filters = _i(self.filters, np.int16)
        self.bias = _i(self.bias, np.int32)

    @property
    def conv_positions(self) -> int:
        return (self.input_width - self.filters.shape[1]) // self.stride + 1

    @property
    def positions(self) -> int:
        p = self.conv_positions
        return -(-p // self.pool_stride) if self.pooling else p

    @property
    def input_shape(self) -> tuple[int, int]:
        return (1, self.input_width)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.positions, self.filters.shape[0])


@dataclass
class Recurrent:
    """For t = 0..N-1: out[t] = PWL(bias + W [x_t | out[t - delay]]); rows before 0 come from the
    initial state. Input [N, K] and output [N, M] are flat; W is [M, K + M]."""
    weights: np.ndarray                 # [M, K + M] int16 or int8
    bias: np.ndarray                    # [M] int32
    pwl: Pwl
    batch: int = 1
    delay: int = 1
    multiplier: np.ndarray | None = None
    initial_state: np.ndarray | None = None  # [delay, M] int16; zeros when None
    kind = "Recurrent"

    def __post_init__(self):
        _normalize_affine(self)
        if self.initial_state is not None:
            self.initial_state = _i(self.initial_state, np.int16)

    @property
    def outputs(self) -> int:
        return self.weights.shape[0]

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.batch, self.weights.shape[1] - self.weights.shape[0])

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.batch, self.outputs)


@dataclass
class Copy:
    """Copy the first `cols` elements of the first `rows` rows of a flat [Hi, Wi] input into a
    [Ho, Wo] output; the rest of the output is zero."""
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    rows: int
    cols: int
    kind = "Copy"

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.in_shape)

    @property
    def output_shape(self) -> tuple[int, int]:
        return tuple(self.out_shape)


@dataclass
class Transposition:
    """[A, B] -> [B, A]: flat to interleaved or back (one side 1..8, the other 8..65528, x8)."""
    shape: tuple[int, int]
    kind = "Transposition"

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.shape)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.shape[1], self.shape[0])


Operation = FullyConnectedAffine | ElementWiseAffine | Convolution | Recurrent | Copy | Transposition
OPERATIONS = (FullyConnectedAffine, ElementWiseAffine, Convolution, Recurrent, Copy, Transposition)


def output_dtype(op) -> np.dtype:
    """int16 after a PWL (or for data movement, which has none); int32 accumulators otherwise."""
    if not hasattr(op, "pwl"):
        return np.dtype(np.int16)
    return np.dtype(np.int16 if op.pwl is not None else np.int32)


@dataclass
class GnaModel:
    operations: list = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int]:
        return self.operations[0].input_shape

    @property
    def output_shape(self) -> tuple[int, int]:
        return self.operations[-1].output_shape

    def check(self) -> "GnaModel":
        check_model(self)
        return self


# -- validation --------------------------------------------------------------------------------

def _check_op(i: int, op) -> None:
    from .ops import spec_of  # the registry imports this module

    spec_of(op, i).check(i, op)
    pwl = getattr(op, "pwl", None)
    if pwl is not None:
        pwl.check(i, op.kind)


def model_bytes(model: GnaModel) -> int:
    """GNA memory the model references, as libGNA counts it against the 2.0 limit: every buffer
    rounded up to 4 KiB, the layer descriptors (128 bytes each) as one buffer, and — once any
    affine, element-wise, recurrent or convolution layer is present — the library's 2 MiB
    scratch buffer (measured with `npin gna probe`; docs/gna-model.md §1)."""
    def page(n):
        return -(-n // 4096) * 4096

    total = page(LAYER_DESCRIPTOR_BYTES * len(model.operations))
    total += page(2 * int(np.prod(model.input_shape)))
    for op in model.operations:
        total += page(output_dtype(op).itemsize * int(np.prod(op.output_shape)))
        for name in ("weights", "filters", "bias"):
            arr = getattr(op, name, None)
            if arr is not None:
                total += page(arr.nbytes * (2 if name == "bias" and getattr(op, "multiplier", None) is not None else 1))
        if getattr(op, "pwl", None) is not None:
            total += page(8 * op.pwl.segments)
    if any(hasattr(op, "pwl") for op in model.operations):  # any layer that computes, not only moves data
        total += CNN_SCRATCH_BYTES
    return total


def check_model(model: GnaModel) -> None:
    ops = model.operations
    if not 1 <= len(ops) <= MAX_LAYERS:
        raise GnaModelError(None, "model", f"{len(ops)} operations; GNA 2.0 takes 1..{MAX_LAYERS}")
    for i, op in enumerate(ops):
        _check_op(i, op)
        if i > 0:
            prev = ops[i - 1]
            if output_dtype(prev) != np.int16:
                raise GnaModelError(i, op.kind, f"its input is layer {i - 1}'s int32 output; GNA 2.0 inputs are "
                                                "int16 (give that layer a PWL activation)")
            # GNA buffers are flat memory: a reshape between layers is free, the element count is not
            if np.prod(prev.output_shape) != np.prod(op.input_shape):
                raise GnaModelError(i, op.kind, f"input {list(op.input_shape)} holds a different number of elements "
                                                f"than layer {i - 1}'s output {list(prev.output_shape)}")
    size = model_bytes(model)
    if size > MAX_MODEL_BYTES:
        raise GnaModelError(None, "model", f"needs {size} bytes of GNA memory; GNA 2.0 addresses {MAX_MODEL_BYTES}")
