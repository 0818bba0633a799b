"""The host twin: firmware/core compiled for this machine through cffi and driven from Python.

The build is cached under build/host_twin/, keyed by a hash of the sources and flags, so the
first use compiles (a few seconds) and later uses import.
"""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from quant.pin_fixed import PinEvent, PinParams

from common.cbuild import TwinBuildError, build_dir, cffi_module  # noqa: F401 - re-exported
from .slab import pack_slab, read_state

ROOT = Path(__file__).resolve().parent
CORE = ROOT / "core"
HOST = ROOT / "host"
# kernel set -> (source, extra flags). "native" is the fastest this machine's compiler targets.
KERNELS = {"ref": (CORE / "npin_kernels_ref.c", [])}
_cpu_flags: set[str] = set()
if platform.machine() in ("x86_64", "AMD64"):
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                _cpu_flags = set(line.split(":", 1)[1].split())
                break
    if "avx2" in _cpu_flags:
        KERNELS["avx2"] = (HOST / "npin_kernels_x86.c", ["-mavx2", "-mno-avx512f"])
        KERNELS["native"] = (HOST / "npin_kernels_x86.c", ["-march=native"])
FASTEST = "native" if "native" in KERNELS else "ref"

CDEF = """
typedef struct npin_event { uint32_t step; int16_t facet; int16_t score_q15; uint16_t tool;
                            uint16_t reserved; } npin_event_t;
int npin_slab_prepare(uint8_t *slab, uint32_t size);
int npin_push(uint8_t *slab, const int16_t *x);
int npin_push_mp(uint8_t *slab, const int16_t *x);
int npin_step(uint8_t *slab, npin_event_t *event);
int npin_consume(uint8_t *slab, const int16_t *x, npin_event_t *event);
int npin_feedback(uint8_t *slab, uint32_t facet, int32_t sign);
uint32_t npin_isqrt64(uint64_t n);
uint64_t npin_update_q15(int16_t *m, int16_t *v, const int16_t *x, uint32_t dims,
                         int16_t eta_q15, int16_t mu_q15);
void npin_dots_q15(const int16_t *m, const int16_t *facets, uint32_t dims, uint32_t facets_n,
                   int64_t *dot);
void npin_dots_q7(const int16_t *m, const int8_t *facets, uint32_t dims, uint32_t facets_n,
                  int64_t *dot);
void npin_twin_run(uint8_t *slab, const int16_t *xs, uint32_t n, int32_t *status,
                   npin_event_t *events);
uint32_t npin_twin_consume_n(uint8_t *slab, const int16_t *xs, uint32_t n, uint32_t repeat);
int npin_twin_stress(uint8_t *slab, uint32_t producers, uint32_t per_producer, uint64_t *report);
void npin_twin_offsets(uint32_t d, uint32_t k, uint32_t r, uint32_t w, uint32_t *out11);
"""

CFLAGS = ["-std=gnu11", "-O3", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Werror"]


def _sources(kernels: str) -> list[Path]:
    core = sorted(p for p in CORE.glob("*.c") if not p.name.startswith("npin_kernels"))
    return core + [KERNELS[kernels][0], HOST / "npin_twin.c"]


def load(kernels: str = "ref"):
    """Compile (once) and import the twin with the given kernel set; returns (ffi, lib)."""
    if kernels not in KERNELS:
        raise ValueError(f"unknown kernel set {kernels!r}; this host has {sorted(KERNELS)}")
    flags = CFLAGS + KERNELS[kernels][1]
    # -march=native means something different on another CPU
    salt = " ".join(sorted(_cpu_flags)) if "-march=native" in flags else ""
    return cffi_module(f"_npin_twin_{kernels}", CDEF, '#include "npin_twin.h"\n', _sources(kernels),
                       [CORE, HOST], flags, ["pthread"], salt, f"the host twin ({kernels} kernels)")


class HostTwin:
    """One slab in host memory, driven through the C core."""

    def __init__(self, params: PinParams, kernels: str = "ref"):
        self.ffi, self.lib = load(kernels)
        self.params = params
        packed = pack_slab(params)
        # 8-byte alignment is the contract; 64 puts the facet rows on cache lines (docs/pin-spec.md §2.2)
        self._mem = np.zeros(len(packed) + 64, dtype=np.uint8)
        start = -self._mem.ctypes.data % 64
        self.buf = self._mem[start:start + len(packed)]
        self.buf[:] = np.frombuffer(packed, dtype=np.uint8)
        self._slab = self.ffi.cast("uint8_t *", self.ffi.from_buffer(self.buf))
        self._ev = self.ffi.new("npin_event_t *")
        status = self.lib.npin_slab_prepare(self._slab, len(packed))
        if status != 0:
            raise RuntimeError(f"npin_slab_prepare returned {status}")

    def _vec(self, x) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.int16)

    def push(self, x) -> int:
        x = self._vec(x)
        return self.lib.npin_push(self._slab, self.ffi.from_buffer("int16_t[]", x))

    def step(self) -> tuple[int, PinEvent | None]:
        status = self.lib.npin_step(self._slab, self._ev)
        return status, (self._event(self._ev) if status == 1 else None)

    def feedback(self, facet: int, sign: int) -> int:
        return self.lib.npin_feedback(self._slab, facet, sign)

    def run(self, xs) -> tuple[np.ndarray, list[PinEvent | None]]:
        """Push then step each row of xs in one C call."""
        xs = np.ascontiguousarray(xs, dtype=np.int16)
        n = xs.shape[0]
        status = np.zeros(n, np.int32)
        events = self.ffi.new("npin_event_t[]", max(n, 1))
        self.lib.npin_twin_run(self._slab, self.ffi.from_buffer("int16_t[]", xs), n,
                               self.ffi.from_buffer("int32_t[]", status), events)
        return status, [self._event(events[i]) if status[i] == 1 else None for i in range(n)]

    def state(self) -> dict:
        return read_state(self.buf)

    @staticmethod
    def _event(ev) -> PinEvent:
        return PinEvent(int(ev.step), int(ev.facet), int(ev.score_q15), int(ev.tool))
