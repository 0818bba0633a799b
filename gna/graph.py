"""A GNA 2.0 model as memory: named buffers and operations placed in them (docs/gna-model.md §6).

A chain (`GnaModel`) hands each operation's output to the next. Real networks need more: two
operations reading one buffer, an output written at an offset into a zeroed, wider buffer (the
padding a convolution reads), an element-wise product whose diagonal weights are another
operation's int16 output, a sum whose int32 bias is another operation's accumulator (libGNA takes
any pointer for every operand). A `GnaGraph` says where every operand lives. 2.0 rules on top of
each operation's own: every operand address is 64-byte aligned; inputs, diagonal weights read from
memory are int16; a bias read from memory is an int32 accumulator; operations run in list order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .arith import Sat
from .ir import (LAYER_DESCRIPTOR_BYTES, MAX_LAYERS, MAX_MODEL_BYTES, CNN_SCRATCH_BYTES, Copy, ElementWiseAffine,
                 FullyConnectedAffine, GnaModel, GnaModelError, Recurrent, _check_op, output_dtype)
from .model_io import model_from_arrays, model_to_arrays

ALIGN_BYTES = 64
DTYPES = {"int16": np.dtype(np.int16), "int32": np.dtype(np.int32)}
GRAPH_FORMAT, GRAPH_VERSION = "npin-gna-graph", 1


@dataclass(frozen=True)
class Ref:
    """An operand's place: a buffer and an element offset into it."""
    buffer: str
    offset: int = 0


@dataclass
class Buffer:
    elements: int
    dtype: str = "int16"

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype].itemsize


@dataclass
class Placed:
    """One operation and where its operands live. `weights` (ElementWiseAffine only) points the
    diagonal at an int16 buffer; `bias` points an affine's bias at an int32 accumulator buffer."""
    op: object
    input: Ref
    output: Ref
    weights: Ref | None = None
    bias: Ref | None = None


@dataclass
class GnaGraph:
    buffers: dict[str, Buffer] = field(default_factory=dict)
    nodes: list[Placed] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)    # buffers the host writes before an inference
    outputs: list[str] = field(default_factory=list)   # buffers the host reads after it

    @property
    def operations(self) -> list:
        return [n.op for n in self.nodes]

    def check(self) -> "GnaGraph":
        check_graph(self)
        return self


def _input_elements(op) -> int:
    if isinstance(op, Copy):  # reads `cols` of each of `rows` rows of its [Hi, Wi] input
        return (op.rows - 1) * op.in_shape[1] + op.cols
    return int(np.prod(op.input_shape))


def _region(g: GnaGraph, i: int, kind: str, what: str, ref: Ref, count: int, dtype: str) -> None:
    buf = g.buffers.get(ref.buffer)
    if buf is None:
        raise GnaModelError(i, kind, f"{what} names buffer '{ref.buffer}', which the graph does not have")
    if buf.dtype != dtype:
        raise GnaModelError(i, kind, f"{what} is {dtype} but buffer '{ref.buffer}' holds {buf.dtype}")
    if ref.offset < 0 or ref.offset + count > buf.elements:
        raise GnaModelError(i, kind, f"{what} needs elements {ref.offset}..{ref.offset + count - 1} of buffer "
                                     f"'{ref.buffer}', which has {buf.elements}")
    if (ref.offset * buf.itemsize) % ALIGN_BYTES:
        raise GnaModelError(i, kind, f"{what} starts {ref.offset * buf.itemsize} bytes into '{ref.buffer}'; GNA 2.0 "
                                     f"operands start on {ALIGN_BYTES}-byte boundaries")


def check_graph(g: GnaGraph) -> None:
    if not 1 <= len(g.nodes) <= MAX_LAYERS:
        raise GnaModelError(None, "graph", f"{len(g.nodes)} operations; GNA 2.0 takes 1..{MAX_LAYERS}")
    for name in g.inputs + g.outputs:
        if name not in g.buffers:
            raise GnaModelError(None, "graph", f"input/output buffer '{name}' is not declared")
    for i, n in enumerate(g.nodes):
        op, kind = n.op, n.op.kind
        if isinstance(op, Recurrent):
            raise GnaModelError(i, kind, "a Recurrent operation reads its feedback from before its output buffer; "
                                         "graphs lower recurrent cells to affine and diagonal operations instead")
        _check_op(i, op)
        _region(g, i, kind, "input", n.input, _input_elements(op), "int16")
        _region(g, i, kind, "output", n.output, int(np.prod(op.output_shape)), output_dtype(op).name)
        if n.weights is not None:
            if not isinstance(op, ElementWiseAffine) or op.weights.dtype != np.int16:
                raise GnaModelError(i, kind, "only an int16 ElementWiseAffine reads its weights from a buffer")
            _region(g, i, kind, "weights", n.weights, len(op.weights), "int16")
        if n.bias is not None:
            if not isinstance(op, (ElementWiseAffine, FullyConnectedAffine)) or op.multiplier is not None \
                    or getattr(op, "bias_index", None) is not None:
                raise GnaModelError(i, kind, "only an affine with int16 weights and a plain bias reads its bias "
                                             "from a buffer")
            _region(g, i, kind, "bias", n.bias, op.output_shape[0], "int32")
    size = graph_bytes(g)
    if size > MAX_MODEL_BYTES:
        raise GnaModelError(None, "graph", f"needs {size} bytes of GNA memory; GNA 2.0 addresses {MAX_MODEL_BYTES}")


def graph_bytes(g: GnaGraph) -> int:
    """GNA memory the graph references: buffers and constants, each rounded to 4 KiB, the layer
    descriptors, and libGNA's 2 MiB scratch buffer (docs/gna-model.md §1)."""
    def page(n):
        return -(-n // 4096) * 4096

    total = page(LAYER_DESCRIPTOR_BYTES * len(g.nodes)) + CNN_SCRATCH_BYTES
    total += sum(page(b.elements * b.itemsize) for b in g.buffers.values())
    for n in g.nodes:
        for name in ("weights", "filters", "bias"):
            arr = getattr(n.op, name, None)
            if arr is not None and not (name == "weights" and n.weights) and not (name == "bias" and n.bias):
                total += page(arr.nbytes)
        if getattr(n.op, "pwl", None) is not None:
            total += page(8 * n.op.pwl.segments)
    return total


# -- emulation --------------------------------------------------------------------------------

def new_memory(g: GnaGraph) -> dict[str, np.ndarray]:
    return {name: np.zeros(b.elements, DTYPES[b.dtype]) for name, b in g.buffers.items()}


def run_graph(g: GnaGraph, inputs: dict[str, np.ndarray], memory: dict | None = None,
              backend: str = "numpy") -> tuple[dict, bool]:
    """One inference on the emulator (`backend` "numpy" or "native"): write `inputs` (buffer ->
    int16), run every operation in order, return (memory, saturated). Pass `memory` back in to keep
    what the host did not write."""
    from .emulator import run_operation

    mem = new_memory(g) if memory is None else memory
    for name, x in inputs.items():
        x = np.asarray(x)
        if x.dtype != np.int16 or x.size != g.buffers[name].elements:
            raise ValueError(f"input '{name}' must be {g.buffers[name].elements} int16 values, got {x.size} {x.dtype}")
        mem[name][:] = x.ravel()
    sat = Sat()
    for n in g.nodes:
        op = n.op
        src = mem[n.input.buffer]
        x = src[n.input.offset:n.input.offset + _input_elements(op)]
        if isinstance(op, Copy):
            x = np.concatenate([x, np.zeros(int(np.prod(op.in_shape)) - x.size, np.int16)])
        if n.weights is not None or n.bias is not None:
            op = _bound(op, mem, n)
        y = run_operation(op, x, sat, backend)
        out = mem[n.output.buffer]
        out[n.output.offset:n.output.offset + y.size] = y.ravel()
    return mem, sat.hit


def _bound(op, mem, n: Placed):
    """The operation with its memory-read operands filled in from this inference's buffers."""
    import dataclasses

    kw = {}
    if n.weights is not None:
        kw["weights"] = mem[n.weights.buffer][n.weights.offset:n.weights.offset + len(op.weights)].copy()
    if n.bias is not None:
        m = op.output_shape[0]
        kw["bias"] = mem[n.bias.buffer][n.bias.offset:n.bias.offset + m].copy()
    return dataclasses.replace(op, **kw)


# -- the file ---------------------------------------------------------------------------------

def _ref(r: Ref | None):
    return None if r is None else [r.buffer, r.offset]


def graph_to_arrays(g: GnaGraph) -> dict[str, np.ndarray]:
    arrays = model_to_arrays(GnaModel(g.operations))
    doc = {"format": GRAPH_FORMAT, "version": GRAPH_VERSION, "inputs": g.inputs, "outputs": g.outputs,
           "buffers": {k: [b.elements, b.dtype] for k, b in g.buffers.items()},
           "nodes": [{"input": _ref(n.input), "output": _ref(n.output), "weights": _ref(n.weights),
                      "bias": _ref(n.bias)} for n in g.nodes]}
    arrays["graph.json"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    return arrays


def graph_from_arrays(data, where: str = "graph") -> GnaGraph:
    try:
        doc = json.loads(bytes(data["graph.json"]).decode())
    except (KeyError, ValueError) as e:
        raise GnaModelError(None, where, "not an npin GNA graph (no readable graph.json)") from e
    if doc.get("format") != GRAPH_FORMAT or doc.get("version") != GRAPH_VERSION:
        raise GnaModelError(None, where, f"format {doc.get('format')} v{doc.get('version')}; this npin reads "
                                         f"{GRAPH_FORMAT} v{GRAPH_VERSION}")
    ops = model_from_arrays(data, where, chain=False).operations

    def ref(v):
        return None if v is None else Ref(v[0], int(v[1]))

    try:
        g = GnaGraph({k: Buffer(int(v[0]), str(v[1])) for k, v in doc["buffers"].items()},
                     [Placed(op, ref(d["input"]), ref(d["output"]), ref(d["weights"]), ref(d["bias"]))
                      for op, d in zip(ops, doc["nodes"])], list(doc["inputs"]), list(doc["outputs"]))
        if len(g.nodes) != len(ops) or any(b.dtype not in DTYPES for b in g.buffers.values()):
            raise ValueError("operations and their placements do not pair up, or a buffer type is unknown")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
        raise GnaModelError(None, where, f"graph.json is malformed ({e!r})") from e
    return g.check()
