"""The native GNA 2.0 emulator: the same semantics as the numpy emulator (gna/ops/, the readable
reference), in C (gna/native/) compiled for this machine through cffi on first use, with its dot
products on the best SIMD kernel the CPU has (AVX-512 VNNI, AVX-512, AVX2, portable C), picked at
run time. `NPIN_GNA_ISA=portable|avx2|avx512|vnni` caps the choice (the tests run every path)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from common.errors import NpinError

SRC = Path(__file__).resolve().parent / "native"
ISAS = {"portable": 0, "avx2": 1, "avx512": 2, "vnni": 3}
PAD = 32

CDEF = """
typedef struct npg_pwl {
    int64_t lo, hi; int32_t bucket_shift, segments, steps;
    const int32_t *first; const int64_t *next_minus1, *slope, *offset; const int32_t *shift;
} npg_pwl_t;
int npg_best_isa(void);
int npg_set_isa(int isa);
void npg_dots(const int16_t *w, size_t w_stride, int rows, const int16_t *xa, const int16_t *xb,
              size_t v_stride, int nvec, int len, int64_t *out);
void npg_dots_t(const int16_t *wt, int rows_pad, const int16_t *xa, const int16_t *xb, size_t v_stride, int nvec,
                int len, int64_t *out);
int npg_peak(long iters, int64_t *sink);
void npg_split(const int16_t *x, size_t count, int16_t *lo, int16_t *hi);
int npg_pwl_apply(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y);
void npg_dots8(const int8_t *w, size_t w_stride, int rows, const int16_t *x, size_t v_stride, int nvec, int len,
               int64_t *out);
int npg_affine(const void *w, int w8, int m, int kpad, int k, const int16_t *xa, const int16_t *xb, int n,
               const int32_t *bias, const uint8_t *mult, int chunk, const npg_pwl_t *pwl,
               int64_t *scratch, void *out);
int npg_diagonal(const int64_t *wm, const int32_t *bias, int m, int n, const int16_t *x, const npg_pwl_t *pwl,
                 int64_t *scratch, void *out);
int npg_conv(const int16_t *filters_t, int f, int fpad, int cpad, const int16_t *xa, const int16_t *xb, int stride,
             int positions, const int32_t *bias, int pooling, int pool_window, int pool_stride,
             const npg_pwl_t *pwl, int64_t *scratch, void *out);
int npg_recurrent(const int64_t *xpart, const int16_t *wf, int m, int mpad, const int32_t *bias,
                  const uint8_t *mult, int n, int delay, const int16_t *state, const npg_pwl_t *pwl,
                  int16_t *fb_lo, int16_t *fb_hi, int64_t *scratch, int16_t *out);
"""


class NativeUnavailable(NpinError):
    hint = "the native emulator needs gcc and the Python headers (./run installs them); the numpy emulator works without"


_lib = None


def load():
    """(ffi, lib), compiled once per source change and cached (common/cbuild.py)."""
    global _lib
    if _lib is None:
        from common.cbuild import TwinBuildError, cffi_module

        sources = [SRC / "gna_native.c", SRC / "gna_dots_avx2.c", SRC / "gna_dots_avx512.c", SRC / "gna_dots_vnni.c"]
        try:
            _lib = cffi_module("_npin_gna_native", CDEF, '#include "gna_native.h"\n', sources, [SRC],
                               ["-std=gnu11", "-O3", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"],
                               what="the native GNA emulator")
        except TwinBuildError as e:
            raise NativeUnavailable(str(e)) from e
        set_isa(os.environ.get("NPIN_GNA_ISA"))
    return _lib


_isa_name = "portable"


def set_isa(name: str | None) -> str:
    """Cap the instruction set (None: the best this CPU has); returns the one in use."""
    global _isa_name
    ffi, lib = load()
    if name is not None and name not in ISAS:
        raise NpinError(f"NPIN_GNA_ISA={name} is not one of {', '.join(ISAS)}", "unset it to use the best")
    got = lib.npg_set_isa(-1 if name is None else ISAS[name])
    _isa_name = next(k for k, v in ISAS.items() if v == got)
    return _isa_name


def isa() -> str:
    """The instruction set the dot products run on now."""
    load()
    return _isa_name


def available_isas() -> list[str]:
    ffi, lib = load()
    best = lib.npg_best_isa()
    return [k for k, v in ISAS.items() if v <= best]


def peak_gmacs(seconds: float = 0.2) -> float | None:
    """Multiply-adds per second of the ISA's MAC instruction alone on one core (GMAC/s), or None
    for the portable code."""
    import time

    ffi, lib = load()
    sink = ffi.new("int64_t *")
    iters, best = 1 << 16, None
    for _ in range(5):
        t0 = time.perf_counter()
        per = lib.npg_peak(iters, sink)
        dt = time.perf_counter() - t0
        if per == 0:
            return None
        rate = per * iters / dt / 1e9
        best = rate if best is None else max(best, rate)
        if dt < seconds / 5:
            iters *= 4
    return best


def _p(ffi, ctype: str, arr: np.ndarray | None):
    return ffi.NULL if arr is None else ffi.cast(ctype, ffi.from_buffer(arr))


def padded(n: int) -> int:
    return -(-n // PAD) * PAD


def pad_rows(a: np.ndarray, width: int, dtype=np.int16) -> np.ndarray:
    """[R, C] with zero columns up to `width`, as `dtype` (int16: int8 weights sign-extended)."""
    out = np.zeros((a.shape[0], width), dtype)
    out[:, :a.shape[1]] = a
    return out


def pairs_by_row(w: np.ndarray, width: int) -> np.ndarray:
    """[R, C] -> npg_dots_t's layout [width/2][R padded to 16][2], zeros in the padding."""
    rows = -(-w.shape[0] // 16) * 16
    full = np.zeros((rows, width), np.int16)
    full[:w.shape[0], :w.shape[1]] = w
    return np.ascontiguousarray(full.reshape(rows, width // 2, 2).transpose(1, 0, 2))


def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = 256*hi + lo with lo in 0..255, hi in -128..127 (the kernels' exact int16 input)."""
    x = np.ascontiguousarray(x, np.int16)
    return (x & 0xFF).astype(np.int16), (x >> 8).astype(np.int16)


class PwlNative:
    """A PWL's lookup tables as the C code reads them; keeps the arrays alive."""

    def __init__(self, pwl):
        from .arith import pwl_tables

        ffi, _ = load()
        t = pwl_tables(pwl)
        self.first = np.ascontiguousarray(t.first, np.int32)
        self.next_minus1 = np.ascontiguousarray(t.next_minus1, np.int64)
        self.slope = np.ascontiguousarray(t.slope, np.int64)
        self.offset = np.ascontiguousarray(t.offset, np.int64)
        self.shift = np.ascontiguousarray(t.shift, np.int32)
        self.c = ffi.new("npg_pwl_t *", {
            "lo": int(t.lo), "hi": int(t.hi), "bucket_shift": int(t.bucket_shift), "segments": len(self.slope),
            "steps": int(t.steps),
            "first": _p(ffi, "int32_t *", self.first), "next_minus1": _p(ffi, "int64_t *", self.next_minus1),
            "slope": _p(ffi, "int64_t *", self.slope), "offset": _p(ffi, "int64_t *", self.offset),
            "shift": _p(ffi, "int32_t *", self.shift)})


def pwl_of(pwl):
    """The C view of an operation's PWL (NULL without one), built once per PWL."""
    ffi, _ = load()
    if pwl is None:
        return ffi.NULL
    cached = pwl.__dict__.get("_native")
    if cached is None or cached[0] is not pwl.x_base:
        cached = pwl.__dict__["_native"] = (pwl.x_base, PwlNative(pwl))
    return cached[1].c


def cached(op, key: str, src, make):
    """A per-operation constant derived from its array `src`, made again if that array is replaced
    (operations are constants once built; a graph binds fresh weight arrays per inference)."""
    store = op.__dict__.setdefault("_native_cache", {})
    hit = store.get(key)
    if hit is None or hit[0] is not src:
        hit = store[key] = (src, make())
    return hit[1]


def out_array(shape, pwl) -> np.ndarray:
    return np.empty(shape, np.int16 if pwl is not None else np.int32)


def ptr(arr, ctype: str):
    ffi, _ = load()
    return _p(ffi, ctype, arr)

