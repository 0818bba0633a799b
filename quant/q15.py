"""Q15 arithmetic primitives, exactly as docs/pin-spec.md §1 defines them.

All functions work on Python ints or numpy int64 arrays and never overflow: callers pass
values already widened to int64.
"""
from __future__ import annotations

import math

import numpy as np

Q15_ONE = 1 << 15
I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def sat16(a):
    """Saturate to int16."""
    return np.clip(a, I16_MIN, I16_MAX)


def rshr15(a):
    """Round half up, then shift right by 15: ``(a + 2**14) >> 15`` (floor shift)."""
    return (a + (1 << 14)) >> 15


def isqrt(n: int) -> int:
    if n < 0:
        raise ValueError(f"isqrt of negative value {n}")
    return math.isqrt(int(n))


def q15_from_float(x, *, symmetric: bool = False):
    """Round to nearest (half away from zero) and saturate; symmetric drops -32768."""
    lo = -I16_MAX if symmetric else I16_MIN
    # Half away from zero, written out: numpy's round-half-even would make the spec harder to state.
    xs = np.asarray(x, dtype=np.float64) * Q15_ONE
    q = np.sign(xs) * np.floor(np.abs(xs) + 0.5)
    return np.clip(q, lo, I16_MAX).astype(np.int64)


def q15_scalar(x: float, *, lo: int = 0, hi: int = I16_MAX) -> int:
    """One Q15 parameter: round half away from zero, then clamp to [lo, hi]."""
    v = math.copysign(math.floor(abs(x) * Q15_ONE + 0.5), x)
    return int(min(max(v, lo), hi))
