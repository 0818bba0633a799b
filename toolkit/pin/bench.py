"""`npin pin bench`: host cost of one step (update + K-facet check), C twin vs numpy float32.

Figures are ratios taken inside one run; absolute times on shared machines are noisy, so each
path is timed in several rounds and the best round is kept.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from common.timing import best_of
from firmware.host_twin import KERNELS, HostTwin
from quant.pin_fixed import FACET_FORMATS, PinParams

from .synth import SHAPES




@dataclass
class BenchResult:
    dims: int
    facets: int
    c_ns: dict[str, float]
    numpy_ns: float
    facet_format: str = "q15"
    label: str = "mission shape"

    def table(self) -> list[str]:
        out = [f"D={self.dims} K={self.facets} {self.facet_format.upper()} facets ({self.label}): ns per step "
               f"(update + {self.facets}-facet check), best of rounds"]
        for name, ns in self.c_ns.items():
            out.append(f"  C twin [{name:6}] {ns:10.1f} ns   {self.numpy_ns / ns:7.1f}x numpy")
        out.append(f"  numpy float32     {self.numpy_ns:10.1f} ns      1.0x")
        if "ref" in self.c_ns:
            for name, ns in self.c_ns.items():
                if name != "ref":
                    out.append(f"  [{name}] kernels: {self.c_ns['ref'] / ns:.1f}x the reference C kernels")
        return out

    def step_line(self) -> str:
        best = min((k for k in self.c_ns if k != "ref"), key=self.c_ns.get, default="ref")
        ns = self.c_ns[best]
        ref = f", {self.c_ns['ref'] / ns:.1f}x reference" if "ref" in self.c_ns else ""
        return (f"step: {ns:.0f} ns at D={self.dims} K={self.facets} ({isa_of(best)}), "
                f"{self.numpy_ns / ns:.1f}x numpy{ref}")

    def lines(self) -> list[str]:
        return self.table() + [self.step_line()]

    def as_dict(self) -> dict:
        return {"dims": self.dims, "facets": self.facets, "facet_format": self.facet_format, "label": self.label,
                "c_twin_ns": self.c_ns, "numpy_float32_ns": self.numpy_ns}


def isa_of(kernels: str) -> str:
    """The instruction set a kernel set runs on this machine."""
    from firmware.host_twin import _cpu_flags

    if kernels == "avx2":
        return "AVX2"
    if kernels == "native":
        if {"avx512_vnni", "avx512bw"} <= _cpu_flags:
            return "AVX-512 VNNI"
        return "AVX-512" if "avx512bw" in _cpu_flags else "AVX2"
    return "portable C"


def _bench_params(dims: int, facets: int, rng, facet_format: str = "q15", slots: int = 32) -> PinParams:
    top = FACET_FORMATS[facet_format][0]
    return PinParams(
        facets=rng.integers(-top, top + 1, (facets, dims)), facet_format=facet_format,
        thr_q15=np.full(facets, 16000), tool=np.arange(facets), eta_q15=8192, mu_q15=16384, thr_gain_q15=4096,
        thr_min_q15=8000, thr_max_q15=31000, hysteresis_q15=3000, margin_q15=1600, min_norm=0, slots=slots)


def numpy_step_loop(facets: np.ndarray, xs: np.ndarray, repeat: int) -> float:
    """The same step in float32 numpy; returns seconds for repeat * len(xs) steps."""
    f = facets.astype(np.float32)
    fnorm = np.linalg.norm(f, axis=1)
    m = np.zeros(f.shape[1], np.float32)
    v = np.zeros_like(m)
    thr = np.full(f.shape[0], 0.5, np.float32)
    armed = np.ones(f.shape[0], bool)
    eta, mu, hyst, margin = np.float32(0.25), np.float32(0.5), np.float32(0.1), np.float32(0.05)
    t0 = time.perf_counter()
    for _ in range(repeat):
        for x in xs:
            v = mu * v + eta * (x - m)
            m = m + v
            scores = (f @ m) / (fnorm * (np.linalg.norm(m) + np.float32(1e-30)))
            armed |= scores < thr - hyst
            top2 = np.argpartition(scores, -2)[-2:] if len(scores) > 1 else np.array([0, 0])
            b, r = (top2[1], top2[0]) if scores[top2[1]] >= scores[top2[0]] else (top2[0], top2[1])
            if armed[b] and scores[b] >= thr[b] and (len(scores) == 1 or scores[b] - scores[r] >= margin):
                armed[b] = False
    return time.perf_counter() - t0


def bench(dims: int = 512, facets: int = 16, rounds: int = 5, kernels: list[str] | None = None,
          seed: int = 0, facet_format: str = "q15", slots: int = 32, label: str = "mission shape") -> BenchResult:
    rng = np.random.default_rng(seed)
    params = _bench_params(dims, facets, rng, facet_format, slots)
    xs = rng.integers(-12000, 12000, (32, dims)).astype(np.int16)  # one ring's worth, cache-resident
    kernels = kernels or ["ref"] + [k for k in ("avx2", "native") if k in KERNELS]
    c_ns = {}
    for name in kernels:
        twin = HostTwin(params, name)
        ffi, lib = twin.ffi, twin.lib
        xp = ffi.from_buffer("int16_t[]", xs)
        lib.npin_twin_consume_n(twin._slab, xp, len(xs), 10)  # warm up
        repeat = 2000
        best = best_of(lambda: lib.npin_twin_consume_n(twin._slab, xp, len(xs), repeat), rounds)
        c_ns[name] = best / (repeat * len(xs)) * 1e9
    xf = xs.astype(np.float32) / 32768
    f = params.facets.astype(np.float32)
    n_repeat = 20
    np_best = min(numpy_step_loop(f, xf, n_repeat) for _ in range(rounds))
    return BenchResult(dims, facets, c_ns, np_best / (n_repeat * len(xs)) * 1e9, facet_format, label)


def bench_shapes(dims: int = 512, facets: int = 16, rounds: int = 5) -> list[BenchResult]:
    """The given shape with Q15 facets (first: the figure the last line reports), with Q7 facets,
    and the largest routing shape."""
    out = [bench(dims, facets, rounds), bench(dims, facets, rounds, facet_format="q7")]
    d, k, slots, fmt = SHAPES["routing"]
    if (d, k) != (dims, facets):
        out.append(bench(d, k, rounds, facet_format=fmt, slots=slots, label="largest routing shape"))
    return out

