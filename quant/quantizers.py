"""Symmetric integer quantizers and calibration statistics (docs/gna-quant.md §1).

x_q = clamp(round(x * scale), -(2^(b-1) - 1), 2^(b-1) - 1); scale = (2^(b-1) - 1) / range.
"""
from __future__ import annotations

import numpy as np

CALIBRATIONS = ("maxabs", "percentile", "mse")


def qmax(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def scale_for(range_abs: float, bits: int) -> float:
    """Scale that maps +-range_abs to the full signed range of `bits`."""
    if not np.isfinite(range_abs) or range_abs <= 0:
        raise ValueError(f"quantization range must be positive and finite, got {range_abs}")
    return qmax(bits) / float(range_abs)


def quantize(x, scale: float, bits: int, dtype=None) -> np.ndarray:
    q = np.clip(np.round(np.asarray(x, dtype=np.float64) * scale), -qmax(bits), qmax(bits))
    return q.astype(dtype or {8: np.int8, 16: np.int16, 32: np.int32}[bits])


def per_row_ranges(w: np.ndarray) -> np.ndarray:
    """max |w| of each row (output channel); a zero row gets the smallest positive range."""
    r = np.max(np.abs(np.asarray(w, dtype=np.float64).reshape(len(w), -1)), axis=1)
    return np.where(r > 0, r, np.finfo(np.float64).tiny)


def _mse_of_clip(a: np.ndarray, t: float, bits: int) -> float:
    s = scale_for(t, bits)
    return float(np.mean((np.clip(np.round(a * s), -qmax(bits), qmax(bits)) / s - a) ** 2))


def calibrate_range(samples, method: str = "mse", bits: int = 16, percentile: float = 99.99) -> float:
    """The |x| range a tensor is quantized to: max-abs, a percentile of |x|, or the clipping
    threshold with the least quantization MSE on the samples (grid over 0.05..1 x max-abs)."""
    a = np.abs(np.asarray(samples, dtype=np.float64).ravel())
    a = a[np.isfinite(a)]
    if a.size == 0 or a.max() <= 0:
        return 1.0  # an all-zero tensor: any scale represents it exactly
    peak = float(a.max())
    if method == "maxabs":
        return peak
    if method == "percentile":
        return max(float(np.percentile(a, percentile)), peak * 1e-6)
    if method == "mse":
        sub = a if a.size <= 200_000 else np.random.default_rng(0).choice(a, 200_000, replace=False)
        signed = np.concatenate([sub, -sub])
        grid = peak * np.linspace(0.05, 1.0, 96)
        errs = [_mse_of_clip(signed, t, bits) for t in grid]
        return float(grid[int(np.argmin(errs))])
    raise ValueError(f"calibration method '{method}' is not one of {', '.join(CALIBRATIONS)}")


def snr_db(reference, test) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    err = np.asarray(test, dtype=np.float64) - ref
    p_ref, p_err = float(np.sum(ref ** 2)), float(np.sum(err ** 2))
    if p_err == 0:
        return float("inf")
    return 10.0 * np.log10(max(p_ref, 1e-300) / p_err)
