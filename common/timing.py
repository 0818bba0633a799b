"""Wall-clock timing for benchmarks (figures are compared as ratios within one run)."""
from __future__ import annotations

import time
from typing import Callable


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of fn takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` calls: the least disturbed by a shared machine."""
    return min(timed(fn) for _ in range(repeats))
