"""The integer arithmetic of GNA 2.0 that several operations share: int32 saturation with its flag,
PWL evaluation, and exact chunked dot products (docs/gna-model.md §3). Used by the operations'
emulation in gna/ops/.

Dot products are exact: each accumulator chunk is computed as a float64 matrix product, which is
exact because every product is below 2^30 in magnitude and a chunk holds at most 12,288 of them,
so every partial sum BLAS forms is an integer below 2^44 < 2^53. The running int64 sum is clamped
to int32 after each chunk, as 2.0 hardware does.
"""
from __future__ import annotations

import numpy as np

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


class Sat:
    def __init__(self):
        self.hit = False

    def clamp(self, v: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if v.size and (v.min() < lo or v.max() > hi):
            self.hit = True
            return np.minimum(np.maximum(v, lo), hi)  # np.clip on ints costs a limits lookup per call
        return v


class PwlTables:
    """Per-segment constants and a bucket table that finds each input's segment in a few vector
    steps instead of a binary search (the idea of libGNA's lookup table, done with numpy)."""
    BUCKET_BITS = 16

    def __init__(self, pwl, bucket_bits: int = BUCKET_BITS):
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
        self.bucket_shift = max(0, span.bit_length() - bucket_bits)
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


def pwl_tables(pwl) -> PwlTables:
    cached = pwl.__dict__.get("_tables")
    if cached is None or cached[0] is not pwl.x_base:
        cached = pwl.__dict__["_tables"] = (pwl.x_base, PwlTables(pwl))
    return cached[1]


def pwl_apply(x: np.ndarray, pwl, sat: Sat | None = None) -> np.ndarray:
    """PWL of int32 accumulator values -> int16 (docs/gna-model.md §3.6)."""
    t = pwl_tables(pwl)
    x = np.maximum(np.asarray(x, dtype=np.int64), t.lo)  # x <= b_0 evaluates segment 0 at b_0: y_base_0
    k = t.segment(x)
    y = t.slope.take(k, mode="clip")
    y *= x
    y += t.offset.take(k, mode="clip")
    y >>= t.shift.take(k, mode="clip")
    if t.never_clamps:  # no input can leave int16: skip the check (and the flag cannot be set)
        return y.astype(np.int16)
    return (sat or Sat()).clamp(y, -32768, 32767).astype(np.int16)


def as_f64(op, name: str) -> np.ndarray:
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


def chunked_affine(w64: np.ndarray, x: np.ndarray, bias: np.ndarray, mult, chunk: int, sat: Sat) -> np.ndarray:
    """bias + (mult *) W x with a clamp to int32 after every `chunk` inputs. x: [K, N] int16."""
    s = bias.astype(np.int64)[:, None]
    m = None if mult is None else mult.astype(np.int64)[:, None]
    for c in range(0, w64.shape[1], chunk):
        part = _exact_matmul(w64[:, c:c + chunk], x[c:c + chunk])
        s = sat.clamp(s + (part if m is None else m * part), I32_MIN, I32_MAX)
    return s
