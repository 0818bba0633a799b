"""Baseline comparison. Exact figures (instruction counts, section sizes, updates to the first
pin) may not grow past EXACT_TOLERANCE; noisy ones (host ns per step, serial round trip,
vectors/s) are compared as ratios with NOISY_RATIO, because shared machines swing that much."""
from __future__ import annotations

from dataclasses import dataclass

EXACT_TOLERANCE = 0.01   # +1 %
NOISY_RATIO = 1.5        # 1.5x slower (or a third fewer vectors/s)


@dataclass
class Verdict:
    metric: str
    kind: str
    baseline: float | None
    value: float
    ok: bool
    why: str


def metric_kind(name: str) -> tuple[str, str]:
    """(exact|noisy, lower|higher): which way is better."""
    if name.startswith(("link.", "host.")):
        return "noisy", "higher" if name.endswith("vectors_per_s") else "lower"
    return "exact", "lower"


def compare(current: dict, baseline: dict | None, exact_tol: float = EXACT_TOLERANCE,
            noisy_ratio: float = NOISY_RATIO) -> list[Verdict]:
    out = []
    for name, value in sorted(current.items()):
        kind, better = metric_kind(name)
        base = (baseline or {}).get(name)
        if base is None:
            out.append(Verdict(name, kind, None, value, True, "no baseline"))
            continue
        if kind == "exact":
            limit = base * (1 + exact_tol)
            ok = value <= limit
            why = f"{value:g} vs baseline {base:g} (limit {limit:g}, +{exact_tol:.0%})"
        elif better == "lower":
            ok = value <= base * noisy_ratio
            why = f"{value:.4g} vs baseline {base:.4g} (ratio {value / base if base else float('inf'):.2f}, limit {noisy_ratio:g}x)"
        else:
            ok = value >= base / noisy_ratio
            why = f"{value:.4g} vs baseline {base:.4g} (ratio {value / base if base else float('inf'):.2f}, limit 1/{noisy_ratio:g})"
        out.append(Verdict(name, kind, base, value, ok, why))
    return out
