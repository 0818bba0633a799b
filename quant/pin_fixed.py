"""Python reference of the fixed-point Neural Pin: docs/pin-spec.md (layout version 2) made
executable.

Straightforward on purpose: every comparison of scores is an exact cross-multiplication in Python
ints, every counter is masked to 32 bits. The C core reaches the same bits by cheaper, equivalent
means.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.errors import NpinError

from .q15 import I16_MAX, I16_MIN, isqrt, rshr15, sat16

U32 = 0xFFFFFFFF

OK, FIRED, EMPTY = 0, 1, 2
ERR_MAGIC, ERR_VERSION, ERR_SHAPE, ERR_PARAM, ERR_FACET, ERR_ARG = -1, -2, -3, -4, -5, -6
STATUS_NAMES = {
    OK: "NPIN_OK", FIRED: "NPIN_FIRED", EMPTY: "NPIN_EMPTY", ERR_MAGIC: "NPIN_ERR_MAGIC",
    ERR_VERSION: "NPIN_ERR_VERSION", ERR_SHAPE: "NPIN_ERR_SHAPE", ERR_PARAM: "NPIN_ERR_PARAM",
    ERR_FACET: "NPIN_ERR_FACET", ERR_ARG: "NPIN_ERR_ARG",
}

MAX_DIMS, MAX_FACETS, MIN_SLOTS, MAX_SLOTS = 2048, 1024, 2, 64
# facet format -> (largest magnitude, numpy storage type); docs/pin-spec.md §1
FACET_FORMATS = {"q15": (I16_MAX, "<i2"), "q7": (127, "<i1")}


class PinSpecError(NpinError, ValueError):
    """Parameters outside docs/pin-spec.md; ``code`` is the C status the core would return."""

    hint = "see docs/pin-spec.md §2 for the allowed parameters"

    def __init__(self, code: int, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.code = code


@dataclass(frozen=True)
class PinParams:
    """Everything fixed when a slab is laid out (docs/pin-spec.md §2)."""

    facets: np.ndarray              # (K, D) raw integers in `facet_format`
    facet_format: str               # "q15" (int16) or "q7" (int8)
    thr_q15: np.ndarray             # (K,) initial thresholds
    tool: np.ndarray                # (K,) tool ids
    eta_q15: int
    mu_q15: int
    thr_gain_q15: int
    thr_min_q15: int
    thr_max_q15: int
    hysteresis_q15: int
    margin_q15: int
    min_norm: int
    slots: int = 32

    @property
    def dims(self) -> int:
        return int(self.facets.shape[1])

    @property
    def n_facets(self) -> int:
        return int(self.facets.shape[0])


def check_params(p: PinParams) -> None:
    """The checks of ``npin_slab_prepare``, in the same order, raising with the same code."""
    f = np.asarray(p.facets)
    if p.facet_format not in FACET_FORMATS:
        raise PinSpecError(ERR_SHAPE, f"facet format {p.facet_format!r} is not one of {sorted(FACET_FORMATS)}")
    if f.ndim != 2:
        raise PinSpecError(ERR_SHAPE, f"facets must be a K x D matrix, got shape {f.shape}")
    k, d = f.shape
    r = p.slots
    if not (8 <= d <= MAX_DIMS and d % 8 == 0):
        raise PinSpecError(ERR_SHAPE, f"D={d} is not a multiple of 8 in [8, {MAX_DIMS}]")
    if not 1 <= k <= MAX_FACETS:
        raise PinSpecError(ERR_SHAPE, f"K={k} is outside [1, {MAX_FACETS}]")
    if not (MIN_SLOTS <= r <= MAX_SLOTS and r & (r - 1) == 0):
        raise PinSpecError(ERR_SHAPE, f"slots={r} is not a power of two in [{MIN_SLOTS}, {MAX_SLOTS}]")
    if np.asarray(p.thr_q15).shape != (k,) or np.asarray(p.tool).shape != (k,):
        raise PinSpecError(ERR_SHAPE, "thresholds and tool map need one entry per facet")
    for name in ("eta_q15", "mu_q15", "thr_gain_q15", "hysteresis_q15", "margin_q15"):
        val = getattr(p, name)
        if not 0 <= val <= I16_MAX:
            raise PinSpecError(ERR_PARAM, f"{name}={val} is outside [0, {I16_MAX}]")
    if not 1 <= p.thr_min_q15 <= p.thr_max_q15 <= I16_MAX:
        raise PinSpecError(ERR_PARAM, f"need 1 <= thr_min_q15 ({p.thr_min_q15}) <= thr_max_q15 "
                                      f"({p.thr_max_q15}) <= {I16_MAX}")
    thr = np.asarray(p.thr_q15)
    if np.any(thr < p.thr_min_q15) or np.any(thr > p.thr_max_q15):
        raise PinSpecError(ERR_PARAM, "every threshold must lie in [thr_min_q15, thr_max_q15]")
    if not 0 <= p.min_norm <= U32:
        raise PinSpecError(ERR_PARAM, f"min_norm={p.min_norm} does not fit u32")
    if np.any(np.asarray(p.tool) < 0) or np.any(np.asarray(p.tool) > 0xFFFF):
        raise PinSpecError(ERR_PARAM, "tool ids must fit u16")
    top = FACET_FORMATS[p.facet_format][0]
    if np.any(f < -top) or np.any(f > top):
        raise PinSpecError(ERR_FACET, f"{p.facet_format} facet components must lie in [-{top}, {top}]")
    zero = np.flatnonzero(~np.any(f != 0, axis=1))
    if len(zero):
        raise PinSpecError(ERR_FACET, f"facet {int(zero[0])} is all zeros: it has no direction")


@dataclass
class PinEvent:
    step: int
    facet: int
    score_q15: int
    tool: int


@dataclass
class PinFixed:
    """One slab's worth of state, driven one call at a time."""

    params: PinParams
    m: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    x_last: np.ndarray = field(init=False)
    thr_q15: np.ndarray = field(init=False)
    facet_norm: np.ndarray = field(init=False)
    stamp: np.ndarray = field(init=False)
    ring: np.ndarray = field(init=False)
    step_count: int = 0
    ring_head: int = 0
    ring_tail: int = 0
    overrun: int = 0
    armed: int = 0                  # bit k set: facet k armed (the slab stores it as u32 words)
    last_fired: int = -1
    fires: int = 0

    def __post_init__(self) -> None:
        p = self.params
        check_params(p)
        d, k, r = p.dims, p.n_facets, p.slots
        self._f = np.asarray(p.facets, dtype=np.int64)
        self.m = np.zeros(d, np.int64)
        self.v = np.zeros(d, np.int64)
        self.x_last = np.zeros(d, np.int64)
        self.thr_q15 = np.asarray(p.thr_q15, dtype=np.int64).copy()
        self.facet_norm = np.array([isqrt(int(n)) for n in (self._f * self._f).sum(axis=1)],
                                   dtype=np.int64)
        self._fn = [int(n) for n in self.facet_norm]
        self.stamp = np.zeros(r, np.int64)
        self.ring = np.zeros((r, d), np.int64)
        self.armed = (1 << k) - 1

    # -- producer -------------------------------------------------------------------------
    def push(self, x) -> None:
        x = np.asarray(x, dtype=np.int64)
        if x.shape != (self.params.dims,):
            raise PinSpecError(ERR_ARG, f"vector has shape {x.shape}, expected ({self.params.dims},)")
        if np.any(x < I16_MIN) or np.any(x > I16_MAX):
            raise PinSpecError(ERR_ARG, "vector components must fit int16")
        idx = self.ring_head
        slot = idx & (self.params.slots - 1)
        self.ring[slot] = x
        self.stamp[slot] = (2 * (idx + 1)) & U32
        self.ring_head = (idx + 1) & U32

    # -- consumer -------------------------------------------------------------------------
    def step(self) -> tuple[int, PinEvent | None]:
        r = self.params.slots
        while True:
            h = self.ring_head
            if h == self.ring_tail:
                return EMPTY, None
            pending = (h - self.ring_tail) & U32
            if pending > r:
                self.overrun = (self.overrun + pending - r) & U32
                self.ring_tail = (h - r) & U32
            slot = self.ring_tail & (r - 1)
            want = (2 * (self.ring_tail + 1)) & U32
            diff = _s32(int(self.stamp[slot]) - want)
            if diff < 0:
                return EMPTY, None
            if diff > 0:  # overwritten by a newer index; cannot happen sequentially, kept for parity
                self.overrun = (self.overrun + 1) & U32
                self.ring_tail = (self.ring_tail + 1) & U32
                continue
            self.x_last = self.ring[slot].copy()
            self.ring_tail = (self.ring_tail + 1) & U32
            return self.consume(self.x_last)

    def consume(self, x: np.ndarray) -> tuple[int, PinEvent | None]:
        """§3 then §4 on one vector that has already left the ring."""
        p = self.params
        self.m, self.v = update_q15(self.m, self.v, x, p.eta_q15, p.mu_q15)
        self.step_count = (self.step_count + 1) & U32
        dots, rm = self.dots()
        fn = self._fn

        def at_least(k: int, t: int) -> bool:          # c_k >= t / 2^15
            return 0 >= t if rm == 0 else (dots[k] << 15) >= t * rm * fn[k]

        for k in range(p.n_facets):                      # 1. re-arm
            bit = 1 << k
            if not self.armed & bit and not at_least(k, int(self.thr_q15[k]) - p.hysteresis_q15):
                self.armed |= bit
        b, r = ranked_top2(dots, fn)                     # 2. argmax and runner-up
        if not self.armed & (1 << b) or rm < p.min_norm or not at_least(b, int(self.thr_q15[b])):
            return OK, None
        if r is not None and ((dots[b] * fn[r] - dots[r] * fn[b]) << 15) < p.margin_q15 * rm * fn[b] * fn[r]:
            return OK, None                              # 3. the lead over the runner-up
        self.armed &= ~(1 << b)                          # 4. fire
        self.last_fired = b
        self.fires = (self.fires + 1) & U32
        return FIRED, PinEvent(self.step_count, b, score_q15(dots[b], rm * fn[b]), int(p.tool[b]))

    def dots(self) -> tuple[list[int], int]:
        """dot_k of the Mind with every facet, and rm = isqrt(Σ m²) (§4)."""
        rm = isqrt(int(np.dot(self.m, self.m)))
        return [int(d) for d in self._f @ self.m], rm

    def scores(self) -> tuple[list[int], int]:
        """score_q15 of every facet as the event would report it, and rm."""
        dots, rm = self.dots()
        return [score_q15(dk, rm * fk) for dk, fk in zip(dots, self._fn)], rm

    def armed_words(self) -> np.ndarray:
        """The armed bitmap as the slab stores it: ceil(K/32) u32 words."""
        n = (self.params.n_facets + 31) // 32
        return np.array([(self.armed >> (32 * i)) & U32 for i in range(n)], dtype=np.int64)

    def feedback(self, facet: int, sign: int) -> int:
        p = self.params
        if not 0 <= facet < p.n_facets or sign not in (1, -1):
            return ERR_ARG
        thr = int(self.thr_q15[facet])
        if sign > 0:
            thr -= int(rshr15((thr - p.thr_min_q15) * p.thr_gain_q15))
        else:
            thr += int(rshr15((p.thr_max_q15 - thr) * p.thr_gain_q15))
        self.thr_q15[facet] = thr
        return OK


def ranked_top2(dots: list[int], fn: list[int]) -> tuple[int, int | None]:
    """The argmax b and the runner-up r of c_k = dot_k / fn_k (rm is common), exactly, ties to the
    lowest index (§4 step 2); r is None when K = 1."""
    b = 0
    for k in range(1, len(dots)):
        if dots[k] * fn[b] > dots[b] * fn[k]:
            b = k
    r = None
    for k in range(len(dots)):
        if k != b and (r is None or dots[k] * fn[r] > dots[r] * fn[k]):
            r = k
    return b, r


def score_q15(dot: int, den: int) -> int:
    """The reported score: clamp(floordiv(dot·2^15, den)), 0 when den = 0."""
    if den == 0:
        return 0
    return min(max((dot << 15) // den, I16_MIN), I16_MAX)


def update_q15(m: np.ndarray, v: np.ndarray, x: np.ndarray, eta_q15: int, mu_q15: int):
    """§3 for a whole vector; inputs and outputs are int64 arrays holding int16 values."""
    delta = sat16(x - m)
    a = mu_q15 * v + eta_q15 * delta
    v_new = sat16(rshr15(a))
    return sat16(m + v_new), v_new


def _s32(a: int) -> int:
    a &= U32
    return a - (1 << 32) if a & 0x80000000 else a
