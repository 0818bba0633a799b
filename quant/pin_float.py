"""The float Neural Pin: the design the fixed-point Pin approximates (same rules, real numbers)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PinConfigFloat:
    facets: np.ndarray          # (K, D), any scale: only directions matter
    thresholds: np.ndarray      # (K,) cosine thresholds
    tool: np.ndarray            # (K,) tool ids
    eta: float
    mu: float
    threshold_gain: float
    threshold_min: float
    threshold_max: float
    hysteresis: float
    min_norm: float = 0.0       # in input units
    slots: int = 32

    @property
    def dims(self) -> int:
        return int(self.facets.shape[1])

    @property
    def n_facets(self) -> int:
        return int(self.facets.shape[0])


@dataclass
class PinFloat:
    cfg: PinConfigFloat
    m: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    thr: np.ndarray = field(init=False)
    armed: np.ndarray = field(init=False)
    steps: int = 0

    def __post_init__(self) -> None:
        f = np.asarray(self.cfg.facets, dtype=np.float64)
        self._fhat = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-300)
        self.m = np.zeros(self.cfg.dims)
        self.v = np.zeros(self.cfg.dims)
        self.thr = np.asarray(self.cfg.thresholds, dtype=np.float64).copy()
        self.armed = np.ones(self.cfg.n_facets, dtype=bool)

    def consume(self, x) -> int | None:
        """Update with x; return the fired facet or None."""
        c = self.cfg
        self.v = c.mu * self.v + c.eta * (np.asarray(x, dtype=np.float64) - self.m)
        self.m = self.m + self.v
        self.steps += 1
        norm = float(np.linalg.norm(self.m))
        scores = self._fhat @ self.m / norm if norm > 0 else np.zeros(c.n_facets)
        self.armed |= scores < self.thr - c.hysteresis
        cand = self.armed & (scores >= self.thr) & (norm >= c.min_norm)
        if not cand.any():
            return None
        best = int(np.argmax(np.where(cand, scores, -np.inf)))
        self.armed[best] = False
        return best

    def feedback(self, facet: int, sign: int) -> None:
        c = self.cfg
        if sign > 0:
            self.thr[facet] -= (self.thr[facet] - c.threshold_min) * c.threshold_gain
        else:
            self.thr[facet] += (c.threshold_max - self.thr[facet]) * c.threshold_gain
