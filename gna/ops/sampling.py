"""Random operands for conformance models: values pushed to the int16/int32 edges, and random PWLs
across the whole int32 range (each operation's random cases in gna/ops/ draw from these)."""
from __future__ import annotations

import numpy as np

from ..ir import Pwl


def values(rng, shape, dtype, style):
    info = np.iinfo(dtype)
    if style == "small":
        hi = min(info.max, 300)
        return rng.integers(-hi, hi + 1, size=shape).astype(dtype)
    if style == "extreme":
        return rng.choice(np.array([info.min, info.max, info.min + 1, -1, 0, 1, info.max - 1], dtype=dtype), size=shape)
    return rng.integers(info.min, info.max + 1, size=shape, dtype=np.int64).astype(dtype)


def random_pwl(rng, segments: int | None = None, span: str | None = None) -> Pwl:
    n = int(segments or rng.integers(2, 129))
    span = span or rng.choice(["wide", "narrow", "even"])
    if span == "narrow":
        lo = int(rng.integers(-(1 << 20), 1 << 20))
        bases = lo + 4 * np.cumsum(rng.integers(1, 64, size=n))
    elif span == "even":
        step = int(rng.integers(1, (1 << 31) // n // 4)) * 4
        bases = -(n // 2) * step + step * np.arange(n)
    else:
        bases = np.sort(rng.integers(-(1 << 29), 1 << 29, size=n)) * 4  # duplicates are dropped below
    bases = np.clip(bases, -(1 << 31), (1 << 31) - 4).astype(np.int64)
    bases = np.unique(bases & ~3)
    while len(bases) < 2:
        bases = np.array([-4, 0], dtype=np.int64)
    codes = rng.integers(0, 4, size=len(bases))
    return Pwl(x_base=(bases | codes).astype(np.int32), y_base=rng.integers(-32768, 32768, size=len(bases)),
               slope=rng.integers(-32768, 32768, size=len(bases)))


def maybe_pwl(rng, p=0.6):
    return random_pwl(rng) if rng.random() < p else None
