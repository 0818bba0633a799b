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
            return np.minimum(np.maximum(v, lo), hi)  # np.clip on ints costs a limits lookup per call
        return v


class _PwlTables:
    """Per-segment constants and a bucket table that finds each input's segment in a few vector
    steps instead of a binary search (the idea of libGNA's lookup table, done with numpy)."""
    BUCKET_BITS = 16

    def __init__(self, pwl):
        xb = pwl.x_base.astype(np.int64)
        self.base = xb & ~3
        self.shift = 8 * ((xb & 3) + 1)
        self.slope = pwl.slope.astype(np.int64)
        self.y_base = pwl.y_base.astype(np.int64)
        # ((x - b) * slope >> s) + y == (x * slope + ((y << s) - b * slope)) >> s, exactly: adding a
        # multiple of 2^s before a floor shift commutes with it; all terms stay below 2^49.
        self.offset = (self.y_base << self.shift) - self.base * self.slope
        # x > next_base - 1 (not x >= next_base): the last segment's sentinel must stay above any int32 x
        self.next_minus1 = np.append(self.base[1:] - 1, np.iinfo(np.int32).max)
        lo, span = int(self.base[0]), int(self.base[-1] - self.base[0])
        self.lo, self.hi = lo, lo + span
        self.bucket_shift = max(0, span.bit_length() - self.BUCKET_BITS)
        starts = lo + (np.arange((span >> self.bucket_shift) + 1, dtype=np.int64) << self.bucket_shift)
        ends = np.minimum(starts + (1 << self.bucket_shift) - 1, self.hi)
        self.first = (np.searchsorted(self.base, starts, side="right") - 1).astype(np.intp)  # at each bucket's start
        # y is linear within a segment: its extremes over all int32 inputs sit at segment ends
        ends_x = np.append(self.base[1:] - 1, (1 << 31) - 1)
        y_at = [(np.array([b, e]) * self.slope[k] + self.offset[k]) >> self.shift[k]
                for k, (b, e) in enumerate(zip(self.base, ends_x))]
        y_all = np.concatenate(y_at + [self.y_base[:1]])
        self.never_clamps = bool(y_all.min() >= -32768 and y_all.max() <= 32767)
        # float64 twins for the recurrent step: x*slope + offset < 2^50 and the scale is a power of
        # two, so floor((x*slope + offset) * 2^-s) is exact in float64
        self.base_f = self.base.astype(np.float64)
        self.slope_f = self.slope.astype(np.float64)
        self.offset_f = self.offset.astype(np.float64)
        self.inv_f = np.ldexp(1.0, -self.shift)
        self.coef_f = np.stack([self.slope_f, self.offset_f, self.inv_f], axis=1)  # one gather per step
        self.steps = int((np.searchsorted(self.base, ends, side="right") - 1 - self.first).max())

    def segment(self, x: np.ndarray) -> np.ndarray:
        """max{k : base_k <= x} as intp, for int64 x >= base_0 (the caller raises x to base_0).
        Indices are intp and take() clips: numpy's fastest gather (no index conversion or checks)."""
        if self.steps > 6 or x.size < 2048:  # crowded buckets, or too few values to pay for the table
            return np.searchsorted(self.base, x, side="right") - 1
        idx = np.minimum(x, self.hi)
        idx -= self.lo
        idx >>= self.bucket_shift
        k = self.first.take(idx, mode="clip")
        for _ in range(self.steps):
            np.add(k, np.greater(x, self.next_minus1.take(k, mode="clip")), out=k, casting="unsafe")
        return k


def _pwl_tables(pwl) -> _PwlTables:
    cached = pwl.__dict__.get("_tables")
    if cached is None or cached[0] is not pwl.x_base:
        cached = pwl.__dict__["_tables"] = (pwl.x_base, _PwlTables(pwl))
    return cached[1]


def pwl_apply(x: np.ndarray, pwl, sat: _Sat | None = None) -> np.ndarray:
    """PWL of int32 accumulator values -> int16 (docs/gna-model.md §3.6)."""
    t = _pwl_tables(pwl)
    x = np.maximum(np.asarray(x, dtype=np.int64), t.lo)  # x <= b_0 evaluates segment 0 at b_0: y_base_0
    k = t.segment(x)
    y = t.slope.take(k, mode="clip")
    y *= x
    y += t.offset.take(k, mode="clip")
    y >>= t.shift.take(k, mode="clip")
    if t.never_clamps:  # no input can leave int16: skip the check (and the flag cannot be set)
        return y.astype(np.int16)
    return (sat or _Sat()).clamp(y, -32768, 32767).astype(np.int16)


def _as_f64(op, name: str) -> np.ndarray:
    """The operation's constant array as float64, converted once (operations are not mutated
    after construction; the IR treats them as constants, as the hardware's weights are)."""
    cache = op.__dict__.setdefault("_f64", {})
    arr = getattr(op, name)
    hit = cache.get(name)
    if hit is None or hit[0] is not arr:
        hit = cache[name] = (arr, arr.astype(np.float64))
    return hit[1]


def _exact_matmul(w64: np.ndarray, x: np.ndarray) -> np.ndarray:
    """w [M, C] @ x [C, N] exactly, as int64 (see the module docstring for why float64 is exact)."""
    return (w64 @ x.astype(np.float64)).astype(np.int64)


def _chunked_affine(w64: np.ndarray, x: np.ndarray, bias: np.ndarray, mult, chunk: int, sat: _Sat) -> np.ndarray:
    """bias + (mult *) W x with a clamp to int32 after every `chunk` inputs. x: [K, N] int16."""
    s = bias.astype(np.int64)[:, None]
    m = None if mult is None else mult.astype(np.int64)[:, None]
    for c in range(0, w64.shape[1], chunk):
        part = _exact_matmul(w64[:, c:c + chunk], x[c:c + chunk])
        s = sat.clamp(s + (part if m is None else m * part), I32_MIN, I32_MAX)
    return s


def _affine(op: FullyConnectedAffine, x: np.ndarray, sat: _Sat) -> np.ndarray:
    k, n = op.input_shape
    xin = x.reshape(k, n)
    bias = op.bias if op.bias_index is None else op.bias[:, op.bias_index]
    s = _chunked_affine(_as_f64(op, "weights"), xin, bias, op.multiplier, CHUNK_BY_BATCH[n - 1], sat)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _diagonal(op: ElementWiseAffine, x: np.ndarray, sat: _Sat) -> np.ndarray:
    m, n = op.input_shape
    cache = op.__dict__.setdefault("_i64", {})
    if cache.get("src") is not op.weights:
        w = op.weights.astype(np.int64)
        if op.multiplier is not None:
            w = w * op.multiplier.astype(np.int64)
        bound = int(np.max(np.abs(op.bias.astype(np.int64)) + np.abs(w) * 32768))
        cache.update(src=op.weights, w=w[:, None], b=op.bias.astype(np.int64)[:, None], safe=bound <= I32_MAX)
    s = cache["w"] * x.reshape(m, n)
    s += cache["b"]
    if not cache["safe"]:  # only a sum that can leave int32 needs the check
        s = sat.clamp(s, I32_MIN, I32_MAX)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _convolution(op: Convolution, x: np.ndarray, sat: _Sat) -> np.ndarray:
    f, c = op.filters.shape
    x = x.reshape(-1).astype(np.int16)
    p = op.conv_positions
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), c)[::op.stride][:p]  # [P, C]
    raw = (windows @ _as_f64(op, "filters").T).astype(np.int64) + op.bias.astype(np.int64)[None, :]  # [P, F]
    if op.pooling:
        # Window j covers conv positions [j*ps, min(j*ps + w, P)): pad past P with the identity of
        # the reduction so trailing windows are partial, as 2.0 computes them.
        ps, w = op.pool_stride, op.pool_window
        n_win = -(-p // ps)
        fill = np.iinfo(np.int64).min if op.pooling == "max" else 0
        padded = np.full((n_win * ps + w, f), fill, dtype=np.int64)
        padded[:p] = raw
        taps = np.stack([padded[j:j + n_win * ps:ps] for j in range(w)])
        raw = taps.max(axis=0) if op.pooling == "max" else taps.sum(axis=0)
    s = sat.clamp(raw, I32_MIN, I32_MAX)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _recurrent(op: Recurrent, x: np.ndarray, sat: _Sat) -> np.ndarray:
    n, k = op.input_shape
    m = op.outputs
    xin = x.reshape(n, k)
    state = np.zeros((op.delay, m), np.int16) if op.initial_state is None else op.initial_state
    out = np.empty((n, m), dtype=np.int16)
    w64 = _as_f64(op, "weights")
    # The input half of every step does not depend on the feedback: one matrix product for all t,
    # unless a chunk boundary falls inside it (then the clamps need the running sum per chunk).
    chunk = CHUNK_BY_BATCH[0]
    split = k + m <= chunk
    if split:
        # All in float64, exact: |bias| < 2^31, each half's sum < 2^44, times a uint8 multiplier < 2^52.
        cache = op.__dict__.setdefault("_fb", {})
        if cache.get("src") is not w64:  # both column blocks contiguous: BLAS's fast paths
            cache.update(src=w64, wx=np.ascontiguousarray(w64[:, :k]), wf=np.ascontiguousarray(w64[:, k:]))
        x_part = cache["wx"] @ xin.T.astype(np.float64)  # [M, N]
        wf = cache["wf"]
        mult = None if op.multiplier is None else op.multiplier.astype(np.float64)
        bias = op.bias.astype(np.float64)
        if mult is None:
            x_part += bias[:, None]
        return _recurrent_float(op, x_part, wf, mult, bias, state, sat)
    for t in range(n):
        fb = state[t] if t < op.delay else out[t - op.delay]
        v = np.concatenate([xin[t], fb])[:, None]
        s = _chunked_affine(w64, v, op.bias, op.multiplier, chunk, sat)[:, 0]
        out[t] = pwl_apply(s, op.pwl, sat)
    return out


def _recurrent_float(op: Recurrent, x_part, wf, mult, bias, state, sat: _Sat) -> np.ndarray:
    """The recurrent loop for one accumulator chunk, entirely in float64 (every value an exact
    integer below 2^53): the per-step work is a matrix-vector product and a dozen vector ops."""
    t_ = _pwl_tables(op.pwl)
    n, m = x_part.shape[1], op.outputs
    out = np.empty((n, m))
    prev = state.astype(np.float64)
    lo32, hi32 = float(I32_MIN), float(I32_MAX)
    base0, bases, coef = t_.base_f[0], t_.base_f, t_.coef_f
    for t in range(n):
        fb = prev[t] if t < op.delay else out[t - op.delay]
        s = wf @ fb
        if mult is None:
            s += x_part[:, t]
        else:
            s = bias + mult * (s + x_part[:, t])
        lo, hi = s.min(), s.max()
        if lo < lo32 or hi > hi32:
            sat.hit = True
            np.clip(s, lo32, hi32, out=s)
        if lo < base0:
            np.maximum(s, base0, out=s)
        c = coef.take(bases.searchsorted(s, side="right") - 1, axis=0, mode="clip")
        y = s * c[:, 0]
        y += c[:, 1]
        y *= c[:, 2]
        np.floor(y, out=y)
        if not t_.never_clamps and (y.min() < -32768 or y.max() > 32767):
            sat.hit = True
            np.clip(y, -32768.0, 32767.0, out=y)
        out[t] = y
    return out.astype(np.int16)


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
