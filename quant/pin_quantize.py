"""Float Pin config -> fixed-point Pin parameters, and how often the two decide differently.

Formats (docs/pin-spec.md §1): facets become symmetric Q15 or symmetric Q7, each facet scaled on
its own to use the full range (the cosine does not see a facet's scale). Inputs share one scale
chosen from calibration data. Every rate, threshold and the margin becomes Q15 by rounding half
away from zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pin_fixed import FACET_FORMATS, FIRED, PinFixed, PinParams
from .pin_float import PinConfigFloat, PinFloat
from .q15 import I16_MAX, q15_from_float, q15_scalar

# The Mind overshoots its inputs while momentum builds (by up to about 1/(1-mu) in the worst
# case); a quarter of full scale for the calibrated peak leaves room for typical settings.
DEFAULT_HEADROOM = 0.25


@dataclass(frozen=True)
class InputScale:
    """x_q15 = round(x * scale)."""

    scale: float
    statistic: str
    peak: float

    def quantize(self, x) -> np.ndarray:
        return np.clip(np.round(np.asarray(x, dtype=np.float64) * self.scale), -32768, 32767).astype(np.int64)


def calibrate_input_scale(samples: np.ndarray, *, headroom: float = DEFAULT_HEADROOM,
                          percentile: float = 99.99) -> InputScale:
    """Scale that puts the given percentile of |x| at ``headroom`` of full scale."""
    a = np.abs(np.asarray(samples, dtype=np.float64)).ravel()
    if a.size == 0:
        raise ValueError("calibration needs at least one sample vector")
    peak = float(np.percentile(a, percentile))
    if peak <= 0:
        raise ValueError("calibration samples are all zero; the input scale is undefined")
    return InputScale(headroom * I16_MAX / peak, f"p{percentile:g}", peak)


def quantize_facets(facets: np.ndarray, facet_format: str) -> np.ndarray:
    """Each row scaled to its own full range, rounded half away from zero: symmetric Q15 or Q7."""
    if facet_format not in FACET_FORMATS:
        raise ValueError(f"facet format {facet_format!r} is not one of {sorted(FACET_FORMATS)}")
    f = np.asarray(facets, dtype=np.float64)
    peak = np.max(np.abs(f), axis=1, keepdims=True)
    if np.any(peak == 0):
        raise ValueError(f"facet {int(np.argmax(peak.ravel() == 0))} is all zeros; it has no direction")
    top = FACET_FORMATS[facet_format][0]
    return q15_from_float(f / peak * (top / 32768), symmetric=True)


def quantize_pin(cfg: PinConfigFloat, input_scale: InputScale, facet_format: str = "q15") -> PinParams:
    facets = quantize_facets(cfg.facets, facet_format)
    thr_min = q15_scalar(cfg.threshold_min, lo=1)
    thr_max = q15_scalar(cfg.threshold_max, lo=thr_min)
    thr = np.array([min(max(q15_scalar(t, lo=1), thr_min), thr_max) for t in cfg.thresholds])
    return PinParams(
        facets=facets, facet_format=facet_format, thr_q15=thr, tool=np.asarray(cfg.tool, dtype=np.int64),
        eta_q15=q15_scalar(cfg.eta), mu_q15=q15_scalar(cfg.mu),
        thr_gain_q15=q15_scalar(cfg.threshold_gain), thr_min_q15=thr_min, thr_max_q15=thr_max,
        hysteresis_q15=q15_scalar(cfg.hysteresis), margin_q15=q15_scalar(cfg.margin),
        min_norm=int(round(cfg.min_norm * input_scale.scale)), slots=cfg.slots,
    )


@dataclass(frozen=True)
class DisagreementReport:
    steps: int
    float_fires: int
    fixed_fires: int
    disagreements: int
    first: list[tuple[int, int | None, int | None]]  # (step, float facet, fixed facet)

    @property
    def agreement(self) -> float:
        return 1.0 - self.disagreements / max(self.steps, 1)

    def lines(self) -> list[str]:
        out = [f"steps {self.steps}, fires float {self.float_fires} / fixed {self.fixed_fires}, "
               f"decisions differ on {self.disagreements} steps (agreement {self.agreement:.4%})"]
        out += [f"  step {s}: float {a if a is not None else '-'} vs fixed {b if b is not None else '-'}"
                for s, a, b in self.first]
        return out


def decision_disagreement(cfg: PinConfigFloat, params: PinParams, input_scale: InputScale,
                          stream, feedback=None) -> DisagreementReport:
    """Run the float and the fixed Pin on the same stream; count steps whose decisions differ.

    ``feedback``, if given, maps step -> (facet, sign), applied to both after that step.
    """
    flt, fix = PinFloat(cfg), PinFixed(params)
    feedback = feedback or {}
    diffs, first, ff, xf = 0, [], 0, 0
    for i, x in enumerate(np.asarray(stream), start=1):
        a = flt.consume(x)
        status, ev = fix.consume(input_scale.quantize(x))
        b = ev.facet if status == FIRED else None
        ff += a is not None
        xf += b is not None
        if a != b:
            diffs += 1
            if len(first) < 10:
                first.append((i, a, b))
        if i in feedback:
            k, sign = feedback[i]
            flt.feedback(k, sign)
            fix.feedback(k, sign)
    return DisagreementReport(len(stream), ff, xf, diffs, first)
