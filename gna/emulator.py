"""Bit-exact GNA 2.0 emulator in numpy (docs/gna-model.md §3 gives the arithmetic).

Dot products are exact: each accumulator chunk is computed as a float64 matrix product, which is
exact because every product is below 2^30 in magnitude and a chunk holds at most 12,288 of them,
so every partial sum BLAS forms is an integer below 2^44 < 2^53. The running int64 sum is clamped
to int32 after each chunk, as 2.0 hardware does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ir import (CHUNK_BY_BATCH, Convolution, Copy, ElementWiseAffine, FullyConnectedAffine, GnaModel,
                 Recurrent, Transposition, output_dtype)

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass
class RunResult:
    output: np.ndarray          # the last operation's output, in its GNA layout and dtype
    outputs: list               # every operation's output
    saturated: bool             # any clamp happened (libGNA's status 2)


class _Sat:
    def __init__(self):
        self.hit = False

    def clamp(self, v: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if v.size and (v.min() < lo or v.max() > hi):
            self.hit = True
            return np.clip(v, lo, hi)
        return v


def pwl_apply(x: np.ndarray, pwl, sat: _Sat | None = None) -> np.ndarray:
    """PWL of int32 accumulator values -> int16 (docs/gna-model.md §3.6)."""
    x = np.asarray(x, dtype=np.int64)
    xb = pwl.x_base.astype(np.int64)
    base = xb & ~3
    shift = 8 * ((xb & 3) + 1)
    k = np.searchsorted(base, x, side="right") - 1
    below = k < 0
    k = np.where(below, 0, k)
    y = ((x - base[k]) * pwl.slope.astype(np.int64)[k] >> shift[k]) + pwl.y_base.astype(np.int64)[k]
    y = np.where(below, int(pwl.y_base[0]), y)
    return (sat or _Sat()).clamp(y, -32768, 32767).astype(np.int16)


def _exact_matmul(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """w [M, C] @ x [C, N] exactly, as int64 (see the module docstring for why float64 is exact)."""
    return (w.astype(np.float64) @ x.astype(np.float64)).astype(np.int64)


def _chunked_affine(w: np.ndarray, x: np.ndarray, bias: np.ndarray, mult, chunk: int, sat: _Sat) -> np.ndarray:
    """bias + (mult *) W x with a clamp to int32 after every `chunk` inputs. x: [K, N] int16."""
    s = np.repeat(bias.astype(np.int64)[:, None], x.shape[1], axis=1)
    m = None if mult is None else mult.astype(np.int64)[:, None]
    for c in range(0, w.shape[1], chunk):
        part = _exact_matmul(w[:, c:c + chunk], x[c:c + chunk])
        s = sat.clamp(s + (part if m is None else m * part), I32_MIN, I32_MAX)
    return s


def _affine(op: FullyConnectedAffine, x: np.ndarray, sat: _Sat) -> np.ndarray:
    k, n = op.input_shape
    xin = x.reshape(k, n)
    bias = op.bias if op.bias_index is None else op.bias[:, op.bias_index]
    s = _chunked_affine(op.weights, xin, bias, op.multiplier, CHUNK_BY_BATCH[n - 1], sat)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _diagonal(op: ElementWiseAffine, x: np.ndarray, sat: _Sat) -> np.ndarray:
    m, n = op.input_shape
    w = op.weights.astype(np.int64)
    if op.multiplier is not None:
        w = w * op.multiplier.astype(np.int64)
    s = sat.clamp(op.bias.astype(np.int64)[:, None] + w[:, None] * x.reshape(m, n).astype(np.int64), I32_MIN, I32_MAX)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _convolution(op: Convolution, x: np.ndarray, sat: _Sat) -> np.ndarray:
    f, c = op.filters.shape
    x = x.reshape(-1).astype(np.int16)
    p = op.conv_positions
    windows = np.lib.stride_tricks.sliding_window_view(x, c)[::op.stride][:p]     # [P, C]
    raw = _exact_matmul(windows, op.filters.T) + op.bias.astype(np.int64)[None, :]  # [P, F], unclamped
    if op.pooling:
        starts = np.arange(0, p, op.pool_stride)
        pooled = np.empty((len(starts), f), dtype=np.int64)
        for j, s0 in enumerate(starts):
            win = raw[s0:min(s0 + op.pool_window, p)]
            pooled[j] = win.max(axis=0) if op.pooling == "max" else win.sum(axis=0)
        raw = pooled
    s = sat.clamp(raw, I32_MIN, I32_MAX)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _recurrent(op: Recurrent, x: np.ndarray, sat: _Sat) -> np.ndarray:
    n, k = op.input_shape
    m = op.outputs
    xin = x.reshape(n, k)
    state = np.zeros((op.delay, m), np.int16) if op.initial_state is None else op.initial_state
    out = np.empty((n, m), dtype=np.int16)
    for t in range(n):
        fb = state[t] if t < op.delay else out[t - op.delay]
        v = np.concatenate([xin[t], fb])[:, None]
        s = _chunked_affine(op.weights, v, op.bias, op.multiplier, CHUNK_BY_BATCH[0], sat)
        out[t] = pwl_apply(s[:, 0], op.pwl, sat)
    return out


def _copy(op: Copy, x: np.ndarray) -> np.ndarray:
    out = np.zeros(op.out_shape, dtype=np.int16)
    out[:op.rows, :op.cols] = x.reshape(op.in_shape)[:op.rows, :op.cols]
    return out


def run_operation(op, x: np.ndarray, sat: _Sat) -> np.ndarray:
    if isinstance(op, FullyConnectedAffine):
        y = _affine(op, x, sat)
    elif isinstance(op, ElementWiseAffine):
        y = _diagonal(op, x, sat)
    elif isinstance(op, Convolution):
        y = _convolution(op, x, sat)
    elif isinstance(op, Recurrent):
        y = _recurrent(op, x, sat)
    elif isinstance(op, Copy):
        y = _copy(op, x)
    elif isinstance(op, Transposition):
        y = np.ascontiguousarray(x.reshape(op.shape).T)
    else:
        raise TypeError(f"not a GNA operation: {type(op).__name__}")
    return y.reshape(op.output_shape).astype(output_dtype(op), copy=False)


def run(model: GnaModel, x: np.ndarray) -> RunResult:
    """Run the model on one input (the first operation's input, int16, in GNA layout)."""
    x = np.asarray(x)
    if x.dtype != np.int16:
        raise ValueError(f"GNA 2.0 inputs are int16, got {x.dtype}")
    if x.size != int(np.prod(model.input_shape)):
        raise ValueError(f"input has {x.size} elements, the model takes {list(model.input_shape)}")
    sat = _Sat()
    outs = []
    for op in model.operations:
        x = run_operation(op, x, sat)
        outs.append(x)
    return RunResult(x, outs, sat.hit)
