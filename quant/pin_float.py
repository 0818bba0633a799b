"""The float Neural Pin: the design the fixed-point Pin approximates (the rules of
docs/pin-spec.md §3-§4 on real numbers), plus the fast path the tuner uses to replay a stream
under many thresholds."""
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
    margin: float = 0.0         # the lead over the runner-up a fire needs (cosine units)
    min_norm: float = 0.0       # in input units
    slots: int = 32

    @property
    def dims(self) -> int:
        return int(self.facets.shape[1])

    @property
    def n_facets(self) -> int:
        return int(self.facets.shape[0])


def unit_rows(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-300)


def mind_trajectory(x: np.ndarray, eta: float, mu: float) -> np.ndarray:
    """The Mind after each row of x (§3 on real numbers), starting from zero."""
    x = np.asarray(x, dtype=np.float64)
    m, v = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    out = np.empty_like(x)
    if mu == 0.0:  # a moving average: m_t = (1 - eta) m_{t-1} + eta x_t
        for i in range(len(x)):
            m = m + eta * (x[i] - m)
            out[i] = m
        return out
    for i in range(len(x)):
        v = mu * v + eta * (x[i] - m)
        m = m + v
        out[i] = m
    return out


def cosine_scores(minds: np.ndarray, facets_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, K) cosines of each Mind with each facet (0 where the Mind is zero), and the Mind norms."""
    norm = np.linalg.norm(minds, axis=1)
    s = minds @ facets_unit.T
    return np.where(norm[:, None] > 0, s / np.maximum(norm, 1e-300)[:, None], 0.0), norm


@dataclass
class PinFloat:
    cfg: PinConfigFloat
    m: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    thr: np.ndarray = field(init=False)
    armed: np.ndarray = field(init=False)
    steps: int = 0

    def __post_init__(self) -> None:
        self._fhat = unit_rows(self.cfg.facets)
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
        s, norm = cosine_scores(self.m[None], self._fhat)
        return self.decide(s[0], float(norm[0]))

    def decide(self, s: np.ndarray, norm: float) -> int | None:
        """§4 on one step's scores: re-arm, argmax, fire rule."""
        c = self.cfg
        self.armed |= s < self.thr - c.hysteresis
        b = int(np.argmax(s))                       # first maximum: the lowest index
        if not self.armed[b] or norm < c.min_norm or s[b] < self.thr[b]:
            return None
        if len(s) > 1 and s[b] - np.max(np.delete(s, b)) < c.margin:
            return None
        self.armed[b] = False
        return b

    def feedback(self, facet: int, sign: int) -> None:
        c = self.cfg
        if sign > 0:
            self.thr[facet] -= (self.thr[facet] - c.threshold_min) * c.threshold_gain
        else:
            self.thr[facet] += (c.threshold_max - self.thr[facet]) * c.threshold_gain


def rank_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step: the argmax (lowest index among equals), its score, and its lead over the
    runner-up (the best of the other facets; +inf with one facet)."""
    T, K = scores.shape
    rows = np.arange(T)
    best = scores.argmax(axis=1)                     # numpy's argmax returns the first maximum
    top = scores[rows, best]
    if K == 1:
        return best, top, np.full(T, np.inf)
    rest = scores.copy()
    rest[rows, best] = -np.inf
    return best, top, top - rest.max(axis=1)


def replay(cfg: PinConfigFloat, scores: np.ndarray, norms: np.ndarray, truth=None, ranked=None) -> np.ndarray:
    """The float Pin's decision per step (facet or -1) on precomputed scores, i.e. on a trajectory
    made with the same eta and mu; ``truth(step, facet) -> bool`` gives feedback after each fire.
    Same rule as PinFloat.decide, with the argmax and the lead computed for all steps at once
    (``ranked``: rank_scores(scores), when the caller replays the same scores many times)."""
    best, top, lead = ranked if ranked is not None else rank_scores(scores)
    thr = np.asarray(cfg.thresholds, dtype=np.float64).copy()
    disarmed: set[int] = set()
    out = np.full(len(scores), -1)
    h, gain, lo, hi = cfg.hysteresis, cfg.threshold_gain, cfg.threshold_min, cfg.threshold_max
    for t in range(len(scores)):
        if disarmed:
            row = scores[t]
            disarmed = {k for k in disarmed if row[k] >= thr[k] - h}
        b = int(best[t])
        if b in disarmed or norms[t] < cfg.min_norm or top[t] < thr[b] or lead[t] < cfg.margin:
            continue
        disarmed.add(b)
        out[t] = b
        if truth is not None and gain > 0:
            thr[b] += (lo - thr[b]) * gain if truth(t, b) else (hi - thr[b]) * gain
    return out
