"""The ONNX compiler's plan: values in GNA memory, and the stages that will become operations
(docs/gna-quant.md §4).

Every value knows where each of its logical elements lives: `phys` holds, per element, a position
in the value's buffer (or, for a view of the graph inputs that no operation has read yet, an index
into the host's flattened inputs; -1 is a zero the host or a padding region supplies). Layout ops
only rewrite `phys`. Buffers may be placed inside larger ones (Concat, the zeroed margins a padded
convolution reads): `_Buf.root()` resolves where a buffer finally lives.

A stage is `act(sum of terms + bias)`: each term a fully connected product over a window of one
buffer, or a diagonal (element-wise) product over an aligned region, whose weights are constants
or another value's int16 elements. It becomes one GNA operation per term, each later one taking
the earlier one's int32 accumulator as its bias; the last applies the PWL. A convolution stage is
one legacy 1D convolution.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from common.errors import NpinError

ALIGN16 = 32          # int16 elements per 64-byte boundary
ALIGN32 = 16          # int32 elements per 64-byte boundary


class CompileError(NpinError, ValueError):
    """A graph the compiler cannot map: names the node and op, or the rule."""

    hint = "see docs/gna-quant.md for the graphs the compiler maps"


def where(node) -> str:
    return f"node '{node.name or node.output[0]}' ({node.op_type})"


def round_up(n: int, m: int) -> int:
    return -(-n // m) * m


_ids = itertools.count()


class _Buf:
    """A GNA buffer (int16 unless said). `alias` places it inside another at an element offset;
    `gather` (host buffers) says, per element, which flattened input element the host writes
    there (-1: zero)."""

    def __init__(self, name: str, size: int = 0, dtype: str = "int16", gather: np.ndarray | None = None):
        self.name, self.size, self.dtype, self.gather = name, size, dtype, gather
        self.alias: tuple[_Buf, int] | None = None

    def root(self) -> tuple["_Buf", int]:
        buf, off = self, 0
        while buf.alias is not None:
            buf, o = buf.alias
            off += o
        return buf, off

    def need(self, end: int) -> None:
        """Grow so that element `end - 1` (own coordinates) exists."""
        root, off = self.root()
        root.size = max(root.size, off + end)

    def place_in(self, target: "_Buf", offset: int) -> None:
        target.need(offset + self.root()[0].size)
        self.alias = (target, offset)


@dataclass
class _Value:
    name: str
    shape: tuple
    phys: np.ndarray                  # logical-shaped int64 positions (see the module docstring)
    buf: _Buf | None = None           # None: a view of the host's inputs
    writer: np.ndarray | None = None  # logical-shaped: the stage id that wrote each element (host: -1 - input)

    def __post_init__(self):
        self.phys = np.asarray(self.phys, dtype=np.int64).reshape(self.shape)
        if self.writer is None:
            self.writer = np.full(self.shape, -1, np.int64)
        self.writer = np.asarray(self.writer, dtype=np.int64).reshape(self.shape)

    def view(self, name: str, fn: Callable[[np.ndarray], np.ndarray]) -> "_Value":
        """A layout op: the same memory, elements rearranged by `fn` (a numpy indexing function)."""
        phys, writer = fn(self.phys), fn(self.writer)
        return _Value(name, tuple(phys.shape), phys, self.buf, writer)

    def absolute(self) -> np.ndarray:
        """Positions in the root buffer (host views: input indices)."""
        if self.buf is None:
            return self.phys
        return np.where(self.phys >= 0, self.phys + self.buf.root()[1], -1)


@dataclass
class _Term:
    kind: str                             # "fc" or "diag"
    input: _Value
    start: int                            # first element read, in the input buffer's own coordinates
    length: int                           # elements read (fc: K; diag: M)
    weights: np.ndarray | None = None     # fc [M, length] over the window; diag [length]; float
    wvalue: _Value | None = None          # diag: weights are this value's int16 elements
    wstart: int = 0                       # ... from this element of its buffer


@dataclass
class _Stage:
    sid: int
    kind: str                       # "sum" or "conv"
    nodes: list[str]
    m: int                          # output elements written
    bias: np.ndarray                # float [m]
    out: _Value
    pre: Callable                   # tensors -> float pre-activation (logical shape of `out`)
    terms: list[_Term] = field(default_factory=list)
    conv: dict = field(default_factory=dict)   # input, start, filters [F, taps], stride, positions
    act: tuple | None = None
    scale_like: _Value | None = None  # the output must have this value's scale (products that add)
    scale_group: list | None = None   # stages whose outputs share one scale, the smallest any needs
    out_range: float | None = None    # a known bound on |output| (a gate in [0, 1]) instead of calibration
    scale_rule: Callable | None = None  # emitter -> the output scale, derived from others' (products that add)
    headroom: float = 1.0             # calibrated range times this (a state that may grow past calibration)
    onnx: str | None = None           # the ONNX tensor the output is
    post: Callable | None = None      # tensors -> float output, when not the activation of `pre`

    @property
    def is_open(self) -> bool:
        """May still take a folded constant or its activation."""
        return self.act is None and self.scale_like is None and self.scale_group is None and self.scale_rule is None


class Planner:
    """Buffers, stages and the values between them; the lowerings call these helpers."""

    def __init__(self, consts: dict, uses: dict[str, int]):
        self.consts, self.uses = consts, uses
        self.values: dict[str, _Value] = {}
        self.stages: list[_Stage] = []
        self.buffers: list[_Buf] = []
        self.derived: dict[str, Callable] = {}   # internal tensors' float reference, from ONNX's
        self.host_inputs: list[tuple[str, tuple]] = []
        self.if_choices: dict = {}                # If output -> the branch planned (decided at compile time)

    # -- values and buffers ----------------------------------------------------------------------
    def buffer(self, prefix: str, size: int = 0, dtype: str = "int16", gather=None) -> _Buf:
        b = _Buf(f"{prefix}{len(self.buffers)}", size, dtype, gather)
        self.buffers.append(b)
        return b

    def value(self, name: str) -> _Value:
        return self.values[name]

    def set(self, v: _Value) -> _Value:
        self.values[v.name] = v
        return v

    def internal(self, base: str, fn: Callable) -> str:
        """Register a float reference for a tensor ONNX does not have (a decomposed cell's gates)."""
        name = f"{base}#{len(self.derived)}"
        self.derived[name] = fn
        return name

    def materialize(self, v: _Value, pitch_layout: tuple[int, int] | None = None) -> _Value:
        """A host view becomes a host-written buffer: contiguous in logical order, or time-major
        [T, pitch] for a convolution (`pitch_layout` = (C, pitch), v shaped [1, C, T])."""
        if v.buf is not None:
            return v
        if pitch_layout is None:
            n = v.phys.size
            buf = self.buffer("host", round_up(max(n, 8), ALIGN16), gather=None)
            gather = np.full(buf.size, -1, np.int64)
            gather[:n] = v.phys.ravel()
            buf.gather = gather
            return _Value(v.name, v.shape, np.arange(n).reshape(v.shape), buf, v.writer)
        c, pitch = pitch_layout
        t = v.shape[2]
        pos = (np.arange(t)[None, :] * pitch + np.arange(c)[:, None])[None]
        buf = self.buffer("host", round_up(t * pitch, ALIGN16))
        gather = np.full(buf.size, -1, np.int64)
        gather[pos.ravel()] = v.phys.ravel()
        buf.gather = gather
        return _Value(v.name, v.shape, pos, buf, v.writer)

    # -- regions ---------------------------------------------------------------------------------
    @staticmethod
    def window(v: _Value, multiple: int = 8) -> tuple[int, int]:
        """(start, length) of the aligned run of v's buffer that holds all its elements."""
        live = v.phys[v.phys >= 0]
        if live.size == 0:
            raise CompileError(f"value '{v.name}' has no elements in memory")
        lo, hi = int(live.min()), int(live.max()) + 1
        root_off = v.buf.root()[1]
        start = ((lo + root_off) // ALIGN16) * ALIGN16 - root_off
        length = round_up(hi - start, multiple)
        v.buf.need(start + length)
        return start, length

    def same_pattern(self, a: _Value, b: _Value) -> bool:
        if a.shape != b.shape or a.buf is None or b.buf is None:
            return False
        sa, la = self.window(a)
        sb, lb = self.window(b)
        return la == lb and np.array_equal(a.phys - sa, b.phys - sb)

    # -- stages ----------------------------------------------------------------------------------
    def new_stage(self, kind: str, nodes, m: int, out_shape, out_phys, pre: Callable, *, onnx=None,
                  writer_shape=None, dtype_size: int | None = None) -> _Stage:
        sid = len(self.stages)
        buf = self.buffer("t", round_up(max(dtype_size or m, 8), ALIGN16))
        out = _Value(onnx or f"stage{sid}", tuple(out_shape), out_phys, buf, np.full(tuple(out_shape), sid))
        st = _Stage(sid, kind, list(nodes), m, np.zeros(m), out, pre, onnx=onnx)
        self.stages.append(st)
        return st

    def fc(self, nodes, inputs: list[tuple[_Value, np.ndarray]], bias: np.ndarray, out_shape, pre: Callable,
           onnx=None, rows: np.ndarray | None = None) -> _Stage:
        """act(sum_j W_j x_j + bias): W_j [M, *x_j.shape] float over logical elements. `rows` maps
        each logical output element to its row (default: logical order)."""
        m_logical = int(np.prod(out_shape))
        rows = np.arange(m_logical) if rows is None else np.asarray(rows).ravel()
        m = int(rows.max()) + 1
        out_phys = rows.reshape(out_shape)
        st = self.new_stage("sum", nodes, m, out_shape, out_phys, pre, onnx=onnx)
        for x, wl in inputs:
            x = self.materialize(x)
            start, length = self.window(x)
            wt = np.zeros((m, length))
            cols = (x.phys.ravel() - start)
            live = x.phys.ravel() >= 0
            wl = np.asarray(wl, dtype=np.float64).reshape(m_logical, -1)
            rows_full = np.zeros((m, wl.shape[1]))
            rows_full[rows] = wl
            np.add.at(wt.T, cols[live], rows_full[:, live].T)
            st.terms.append(_Term("fc", x, start, length, wt))
        full_bias = np.zeros(m)
        full_bias[rows] = np.broadcast_to(np.asarray(bias, dtype=np.float64).ravel(), (m_logical,))
        st.bias = full_bias
        return st

    def diag(self, nodes, x: _Value, weights, bias, pre: Callable, onnx=None, wvalue: _Value | None = None,
             extra: list | None = None) -> _Stage:
        """act(w * x + bias (+ more diagonal terms)), element-wise over x's aligned region; the
        output keeps x's layout. `weights`/`bias`: float, broadcast to x's logical shape;
        `wvalue`: weights from that value's elements (same layout as x). `extra`: more
        (x_j, weights_j, wvalue_j) terms in the same layout."""
        x = self.materialize(x)
        start, length = self.window(x)
        rel = x.phys - start
        operands = []  # every operand in x's layout before the stage exists: layout stages run first
        for xj, wj, vj in [(x, weights, wvalue)] + list(extra or []):
            xj = self.materialize(xj)
            if xj is not x and not self.same_pattern(xj, x):
                xj = self.gather_like(xj, x)
            if vj is not None:
                vj = self.materialize(vj)
                if not self.same_pattern(vj, x):
                    vj = self.gather_like(vj, x)
            operands.append((xj, wj, vj))
        st = self.new_stage("sum", nodes, length, x.shape, rel, pre, onnx=onnx)
        for xj, wj, vj in operands:
            sj, lj = self.window(xj)
            term = _Term("diag", xj, sj, lj)
            if vj is not None:
                term.wvalue, term.wstart = vj, self.window(vj)[0]
            else:
                w = np.zeros(length)
                w[(xj.phys - sj).ravel()] = np.broadcast_to(np.asarray(wj, dtype=np.float64), x.shape).ravel()
                term.weights = w
            st.terms.append(term)
        b = np.zeros(length)
        b[rel.ravel()] = np.broadcast_to(np.asarray(bias, dtype=np.float64), x.shape).ravel()
        st.bias = b
        return st

    def gather_like(self, v: _Value, like: _Value) -> _Value:
        """v's elements rearranged (or broadcast) into `like`'s layout: a fully connected stage of
        ones, when a layout cannot be absorbed by weights (element-wise operands that differ)."""
        v = self.materialize(v)
        vb = np.broadcast_to(v.phys, like.shape) if v.shape != like.shape else v.phys
        src = _Value(v.name, like.shape, vb, v.buf, np.broadcast_to(v.writer, like.shape))
        start, length = self.window(like)
        rel = (like.phys - start).ravel()
        n = rel.size
        st = self.fc([f"layout of {v.name}"], [(src, np.eye(n))], np.zeros(n), like.shape,
                     pre=self._ref_of(v, like.shape), rows=rel)
        st.out.buf.need(length)
        st.act = ("identity", {})
        return st.out

    def _ref_of(self, v: _Value, shape) -> Callable:
        name = v.name
        return lambda t: np.broadcast_to(t[name], (t[name].shape[0],) + tuple(shape))
