"""`npin pin verify`: a hostile random stream through the Python reference and the host twin.

Both get the same operations — pushes (extremes, zeros, repeats, near-facet vectors), bursts that
overrun the ring, steps on an empty ring, feedback (some of it invalid) — and their states are
compared after every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import MismatchError
from firmware.host_twin import HostTwin
from firmware.slab import ARRAYS, facet_storage, layout_of, read_header
from quant.pin_fixed import FACET_FORMATS, FIRED, PinFixed, PinParams


HEADER_CHECKED = ("step", "ring_head", "ring_tail", "overrun", "last_fired", "fires")
ARRAYS_EVERY_STEP = ("m", "v", "x_last", "armed", "thr_q15")


def random_params(dims: int, facets: int, slots: int, rng: np.random.Generator,
                  facet_format: str = "q15") -> PinParams:
    top = FACET_FORMATS[facet_format][0]
    f = rng.integers(-top, top + 1, size=(facets, dims))
    f[0, : dims // 4] = top              # saturated components
    f[-1, dims // 2:] = -top
    thr_min = int(rng.integers(2000, 9000))
    thr_max = int(rng.integers(24000, 32768))
    return PinParams(
        facets=f, facet_format=facet_format, thr_q15=rng.integers(thr_min, thr_max + 1, size=facets),
        tool=rng.integers(0, 65536, size=facets), eta_q15=int(rng.integers(0, 32768)),
        mu_q15=int(rng.integers(0, 32768)), thr_gain_q15=int(rng.integers(0, 32768)),
        thr_min_q15=thr_min, thr_max_q15=thr_max, hysteresis_q15=int(rng.integers(0, 8000)),
        margin_q15=int(rng.choice([0, 1, int(rng.integers(0, 6000))])),
        min_norm=int(rng.choice([0, 1000, 50000])), slots=slots)


class VectorSource:
    """Vectors that reach every edge of §3: ±32767, −32768, zeros, repeats, near-facet values."""

    def __init__(self, params: PinParams, rng: np.random.Generator):
        self.p, self.rng = params, rng
        self.last = np.zeros(params.dims, np.int64)

    def __call__(self) -> np.ndarray:
        d, rng = self.p.dims, self.rng
        kind = rng.integers(0, 10)
        if kind == 0:
            x = np.full(d, rng.choice([32767, -32768, -32767]))
        elif kind == 1:
            x = np.zeros(d, np.int64)
        elif kind == 2:
            x = self.last.copy()
        elif kind == 3:
            x = rng.choice(np.array([32767, -32768]), size=d)
        elif kind == 4:
            x = rng.integers(-32768, 32768, size=d)
        else:
            k = rng.integers(0, self.p.n_facets)
            f = np.asarray(self.p.facets[k], dtype=np.float64)
            x = f / np.abs(f).max() * 32767 * rng.uniform(-0.2, 1.2) + rng.normal(0, 3000, d)
        x = np.clip(np.round(x), -32768, 32767).astype(np.int64)
        self.last = x
        return x


@dataclass
class VerifyResult:
    steps: int
    fires: int
    empty_steps: int
    overruns: int
    feedbacks: int


def _compare(step: int, ref: PinFixed, buf, full: bool) -> None:
    head = read_header(buf)
    ref_head = dict(step=ref.step_count, ring_head=ref.ring_head, ring_tail=ref.ring_tail,
                    overrun=ref.overrun, last_fired=ref.last_fired, fires=ref.fires)
    for key in HEADER_CHECKED:
        if head[key] != ref_head[key]:
            raise MismatchError(f"step {step}: header '{key}' reference {ref_head[key]} != twin {head[key]}")
    p = ref.params
    lay = layout_of(p)
    ref_arrays = dict(m=ref.m, v=ref.v, x_last=ref.x_last, armed=ref.armed_words(), thr_q15=ref.thr_q15,
                      facet_norm=ref.facet_norm, stamp=ref.stamp, ring=ref.ring.ravel(),
                      facets=facet_storage(p.facets, p.facet_format).ravel(), tool=np.asarray(p.tool))
    names = [n for n, *_ in ARRAYS] if full else ARRAYS_EVERY_STEP
    for name in names:
        got = lay.view(buf, name).astype(np.int64)
        want = np.asarray(ref_arrays[name], dtype=np.int64)
        if not np.array_equal(got, want):
            i = int(np.flatnonzero(got != want)[0])
            raise MismatchError(f"step {step}: '{name}[{i}]' reference {want[i]} != twin {got[i]} "
                                f"({int(np.sum(got != want))} components differ)")


def verify(params: PinParams, steps: int, seed: int, kernels: str = "ref",
           progress=None) -> VerifyResult:
    """Raise MismatchError at the first difference; return counts when all steps agree."""
    rng = np.random.default_rng(seed)
    ref, twin = PinFixed(params), HostTwin(params, kernels)
    source = VectorSource(params, rng)
    done = fires = empty = feedbacks = 0
    while done < steps:
        roll = rng.random()
        n_push = int(rng.integers(params.slots + 1, 2 * params.slots + 3)) if roll < 0.005 else \
            (0 if roll < 0.07 else 1)
        for _ in range(n_push):
            x = source()
            ref.push(x)
            twin.push(x)
        for _ in range(int(rng.integers(1, 3)) if n_push != 1 else 1):
            sa, ea = ref.step()
            sb, eb = twin.step()
            done += 1
            if sa != sb or ea != eb:
                raise MismatchError(f"step {done}: reference returned {sa} {ea}, twin {sb} {eb}")
            fires += sa == FIRED
            empty += sa == 2
            _compare(done, ref, twin.buf, full=done % 64 == 0)
            if progress:
                progress(1)
            if done >= steps:
                break
        if rng.random() < 0.1:
            k = int(rng.integers(0, params.n_facets + 1))   # K itself is out of range
            sign = int(rng.choice([1, -1, 1, -1, 0]))
            ra, rb = ref.feedback(k, sign), twin.feedback(k, sign)
            if ra != rb:
                raise MismatchError(f"after step {done}: feedback({k}, {sign}) reference {ra} twin {rb}")
            feedbacks += 1
    _compare(done, ref, twin.buf, full=True)
    return VerifyResult(done, fires, empty, ref.overrun, feedbacks)
