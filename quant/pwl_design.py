"""PWL activation design for GNA (docs/gna-quant.md §3): map an int32 accumulator (scale s_in
counts per unit) through f to int16 (scale s_out), as GNA's segments compute it:

    y = ((x - b_k) * slope_k >> 8 (c_k + 1)) + yBase_k,   x <= b_0 gives yBase_0.

Piecewise-linear functions get their exact breakpoints; smooth ones get the fewest segments whose
integer evaluation stays within the error target. Below the design range the output holds f(lo)
(GNA's x <= b_0 rule); above it the last segment continues (flat for saturating functions).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
MAX_SEGMENTS = 128


@dataclass(frozen=True)
class PwlSegments:
    x_base: np.ndarray  # int32 with the shift code in the low 2 bits
    y_base: np.ndarray  # int16
    slope: np.ndarray   # int16
    max_error: float    # worst |y - f| on the design grid, as a fraction of the output's full scale


def _slope_code(m: float) -> tuple[int, int]:
    """(slope, code) with slope * 2^-(8(code+1)) closest to m and |slope| <= 32767."""
    best = (0, 3)
    for code in (3, 2, 1, 0):
        q = round(m * 2.0 ** (8 * (code + 1)))
        if abs(q) <= 32767:
            return q, code
        best = (max(-32767, min(32767, q)), code)
    return best


def _q16(v: float) -> int:
    return int(max(-32768, min(32767, round(v))))


def evaluate(seg: PwlSegments, x: np.ndarray) -> np.ndarray:
    """The integer PWL, as GNA computes it (int64 in, int16 out)."""
    x = np.asarray(x, dtype=np.int64)
    xb = seg.x_base.astype(np.int64)
    base, shift = xb & ~3, 8 * ((xb & 3) + 1)
    k = np.clip(np.searchsorted(base, x, side="right") - 1, 0, None)
    y = ((np.maximum(x, base[0]) - base[k]) * seg.slope.astype(np.int64)[k] >> shift[k]) + seg.y_base.astype(np.int64)[k]
    return np.clip(y, -32768, 32767).astype(np.int16)


def _build(points: list[tuple[int, float, float]], s_in: float, s_out: float) -> tuple[np.ndarray, ...]:
    """points: (int base, float y at base in output counts, float slope in counts per count)."""
    xb, yb, sl = [], [], []
    for base, y0, m in points:
        base = int(max(I32_MIN, min(I32_MAX - 3, base))) & ~3
        slope, code = _slope_code(m)
        if xb and (base & ~3) <= (xb[-1] & ~3):
            continue
        xb.append(base | code)
        # GNA floors (x - b) * slope >> shift, half a count low on average: a sloped segment's
        # yBase takes the half back, so the output rounds to nearest and a state fed back through
        # an identity PWL does not drift down a count every two inferences
        yb.append(_q16(y0 + (0.5 if slope else 0.0)))
        sl.append(slope)
    return (np.array(xb, dtype=np.int64).astype(np.int32), np.array(yb, dtype=np.int16),
            np.array(sl, dtype=np.int16))


def _error(seg_arrays, f, s_in, s_out, lo_i, hi_i, full_scale) -> float:
    xs = np.unique(np.linspace(lo_i, hi_i, 20001).astype(np.int64))
    seg = PwlSegments(*seg_arrays, 0.0)
    want = np.clip(f(xs / s_in) * s_out, -32768, 32767)
    return float(np.max(np.abs(evaluate(seg, xs) - want))) / full_scale


def design_pwl(f: Callable[[np.ndarray], np.ndarray], s_in: float, s_out: float, lo: float, hi: float, *,
               breakpoints: list[float] | None = None, max_error: float = 0.01,
               saturates: bool = False) -> PwlSegments:
    """Segments for f on [lo, hi] (float input units). `breakpoints` marks f piecewise linear
    with those kinks (then segments are exact up to slope rounding); otherwise segments are
    grown greedily as long as a line stays within the target. `saturates`: f is flat beyond
    [lo, hi] (tanh, sigmoid), so the last segment is made flat."""
    lo_i = max(I32_MIN, math.floor(lo * s_in))
    hi_i = min(I32_MAX, math.ceil(hi * s_in))
    grid = np.linspace(lo, hi, 4001)
    full_scale = max(float(np.max(np.abs(f(grid)))) * s_out, 1.0)

    def counts(xf):
        return float(f(np.array([xf]))[0]) * s_out

    if breakpoints is not None:
        kinks = sorted(b for b in breakpoints if lo < b < hi)
        edges = [lo] + kinks + [hi]
        points = []
        for a, b in zip(edges[:-1], edges[1:]):
            m = (counts(b) - counts(a)) / max((b - a) * s_in, 1e-300)
            points.append((math.floor(a * s_in), counts(a), m))
        # GNA holds yBase_0 below the first base: a segment before the calibrated range continues
        # the first piece (|x| keeps growing below it) as far as its yBase stays in int16
        m0 = points[0][2]
        if m0:
            below = (32767 * -np.sign(m0) - counts(lo)) / (m0 * s_in)   # input units below lo, <= 0
            start = max((I32_MIN + 4) / s_in, lo + min(below, 0.0), lo - 4 * (hi - lo))
            base = math.floor(start * s_in)
            if base < points[0][0] - 4:
                points.insert(0, (base, counts(lo) + m0 * (base - lo * s_in), m0))
        # beyond hi the last linear piece continues (ReLU, LeakyReLU, identity)
        arrays = _build(points, s_in, s_out)
        if len(arrays[0]) < 2:  # GNA needs two segments: split the single one
            mid = math.floor((lo + hi) / 2 * s_in)
            points.append((mid, counts(mid / s_in), points[-1][2]))
            arrays = _build(points, s_in, s_out)
        return PwlSegments(*arrays, _error(arrays, f, s_in, s_out, lo_i, hi_i, full_scale))

    def greedy(tol):
        """Segments as long as a line stays within tol; None if 128 do not reach hi."""
        points, a = [], lo
        room = MAX_SEGMENTS - (1 if saturates else 0)   # the flat tail needs one
        while a < hi:
            if len(points) == room:
                return None
            lo_b, hi_b = a, hi
            for _ in range(40):  # the longest [a, b] a line serves within tol
                b = (lo_b + hi_b) / 2 if hi_b - lo_b > 1e-12 else hi_b
                xs = np.linspace(a, b, 64)
                ya, yb_ = counts(a), counts(b)
                chord = ya + (yb_ - ya) * (xs - a) / max(b - a, 1e-300)
                dev = f(xs) * s_out - chord
                if (dev.max() - dev.min()) / 2 <= tol * full_scale:
                    lo_b = b
                else:
                    hi_b = b
            b = lo_b if lo_b > a else min(hi, a + (hi - lo) / MAX_SEGMENTS)
            xs = np.linspace(a, b, 64)
            ya, yb_ = counts(a), counts(b)
            m = (yb_ - ya) / max((b - a) * s_in, 1e-300)
            chord = ya + (yb_ - ya) * (xs - a) / max(b - a, 1e-300)
            dev = f(xs) * s_out - chord
            shift = (dev.max() + dev.min()) / 2  # centre the line in the deviation band
            start = math.floor(a * s_in)
            points.append((start, ya + shift + m * (start - a * s_in), m))
            a = b
        if saturates:
            points.append((math.floor(hi * s_in), counts(hi), 0.0))
        if len(points) < 2:
            points.append((math.floor(hi * s_in), counts(hi), 0.0))
        arrays = _build(points, s_in, s_out)
        return PwlSegments(*arrays, _error(arrays, f, s_in, s_out, lo_i, hi_i, full_scale))

    # tighten until the budget is met; when 128 segments cannot meet it, the tightest line
    # tolerance that still covers the range (bisected) gives the best design there is
    tol, best, failed = max_error * 0.8, None, None
    for _ in range(6):
        seg = greedy(tol)
        if seg is None:
            failed = tol
            break
        if best is None or seg.max_error < best.max_error:
            best = seg
        if seg.max_error <= max_error:
            return seg
        tol *= 0.6
    if failed is None:
        return best
    ok = failed
    while True:  # a covering tolerance above the failing one
        ok *= 2
        seg = greedy(ok)
        if seg is not None:
            break
    best = seg if best is None or seg.max_error < best.max_error else best
    for _ in range(12):
        mid = (failed + ok) / 2
        seg = greedy(mid)
        if seg is None:
            failed = mid
        else:
            ok = mid
            if seg.max_error < best.max_error:
                best = seg
    return best


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    # name: (f, breakpoints or None, saturates)
    "identity": (lambda x: x, [], False),
    "relu": (lambda x: np.maximum(x, 0.0), [0.0], False),
    "tanh": (np.tanh, None, True),
    "sigmoid": (_sigmoid, None, True),
    "sqrt": (lambda x: np.sqrt(np.maximum(x, 0.0)), None, False),
    "exp": (np.exp, None, False),
    "abs": (np.abs, [0.0], False),
    "softsign": (lambda x: x / (1.0 + np.abs(x)), None, False),
}
LOG_FLOOR = 1e-6   # log's design range starts this fraction of its upper end above zero


def _log_of(hi: float):
    floor = max(hi, 1e-30) * LOG_FLOOR
    return lambda x: np.log(np.maximum(x, floor))


def activation(name: str, **params) -> tuple[Callable, list | None, bool]:
    if name == "leaky_relu":
        alpha = float(params.get("alpha", 0.01))
        return (lambda x: np.where(x >= 0, x, alpha * x), [0.0], False)
    if name == "clip":
        a, b = float(params["min"]), float(params["max"])
        return (lambda x: np.clip(x, a, b), [a, b], False)
    if name == "log":  # -inf at 0: the design holds log(floor) below a floor under the calibrated top
        return (_log_of(float(params.get("hi", 1.0))), None, False)
    if name not in ACTIVATIONS:
        raise ValueError(f"no PWL design for activation '{name}'")
    return ACTIVATIONS[name]
