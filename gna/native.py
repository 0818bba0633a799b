"""The native GNA 2.0 emulator: the same semantics as the numpy emulator (gna/ops/, the readable
reference), in C (gna/native/) compiled for this machine through cffi on first use, with its dot
products on the best SIMD kernel the CPU has (AVX-512 VNNI, AVX-512, AVX2, portable C), picked at
run time. `NPIN_GNA_ISA=portable|avx2|avx512|vnni` caps the choice (the tests run every path)."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from common.errors import NpinError

from .emulator import RunResult
from .ir import output_dtype
from .ops import spec_of

SRC = Path(__file__).resolve().parent / "native"
ISAS = {"portable": 0, "avx2": 1, "avx512": 2, "vnni": 3}
PAD = 32

def _cdef() -> str:
    """The header's declarations for cffi: comments and preprocessor lines dropped."""
    import re

    text = re.sub(r"/\*.*?\*/", "", (SRC / "gna_native.h").read_text(), flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


class NativeUnavailable(NpinError):
    hint = ("the native emulator needs gcc and the Python headers (./run installs them) and NPIN_GNA_NATIVE unset; "
            "--backend emulator runs the numpy one")


_lib = None
_build_failure: str | None = None


SWITCH = "NPIN_GNA_NATIVE"  # "0": the native emulator is off and the numpy one runs everything


def switched_off() -> bool:
    return os.environ.get(SWITCH, "1").strip() == "0"


def unavailable() -> str | None:
    """Why the native emulator cannot run here, or None."""
    try:
        load()
    except NativeUnavailable as e:
        return str(e)
    return None


def load():
    """(ffi, lib), compiled once per source change and cached (common/cbuild.py)."""
    global _lib, _build_failure
    if switched_off():
        raise NativeUnavailable(f"the native GNA emulator is switched off ({SWITCH}=0)")
    if _build_failure is not None:  # a failed build is not tried again on every default_backend()
        raise NativeUnavailable(_build_failure)
    if _lib is None:
        from common.cbuild import TwinBuildError, cffi_module

        sources = [SRC / "gna_native.c", SRC / "gna_dots_avx2.c", SRC / "gna_dots_avx512.c", SRC / "gna_dots_vnni.c",
                   SRC / "gna_pwl_avx512.c"]
        try:
            _lib = cffi_module("_npin_gna_native", _cdef(), '#include "gna_native.h"\n', sources, [SRC],
                               ["-std=gnu11", "-O3", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"],
                               what="the native GNA emulator")
        except TwinBuildError as e:
            _build_failure = str(e)
            raise NativeUnavailable(_build_failure) from e
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


def split_slack() -> int:
    """Elements an operation's s16 scratch holds beyond its split input rows (gna_native.h)."""
    return load()[1].NPG_SPLIT_SLACK


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


class PwlNative:
    """A PWL's lookup tables as the C code reads them; keeps the arrays alive."""

    # 1,025 buckets: the table (4 KiB) stays in L1; numpy's 2^16 pay off only in its vector steps
    BUCKET_BITS = 10

    def __init__(self, pwl):
        from .arith import PwlTables

        ffi, _ = load()
        t = PwlTables(pwl, self.BUCKET_BITS)
        self.first = np.ascontiguousarray(t.first, np.int32)
        self.next_minus1 = np.ascontiguousarray(t.next_minus1, np.int64)
        self.slope = np.ascontiguousarray(t.slope, np.int64)
        self.offset = np.ascontiguousarray(t.offset, np.int64)
        self.shift = np.ascontiguousarray(t.shift, np.int32)
        segments = len(self.slope)
        vec = {}
        if segments <= 32:  # the vector path's tables: 32 entries each, held in registers
            self.tables = [np.zeros(32, np.int64) for _ in range(4)]
            for table, src in zip(self.tables, (self.next_minus1, self.slope, self.offset, self.shift)):
                table[:segments] = src
            self.tables[0][segments:] = np.iinfo(np.int64).max  # no start past the last: the search stops
            vec = {name: _p(ffi, "int64_t *", table)
                   for name, table in zip(("t_next_minus1", "t_slope", "t_offset", "t_shift"), self.tables)}
        self.c = ffi.new("npg_pwl_t *", {**vec,
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


def ptr(arr, ctype: str):
    ffi, _ = load()
    return _p(ffi, ctype, arr)



class ChainStep:
    """One operation of a ChainPlan: npg_op_t's fields, the arrays they point into (kept alive),
    and the scratch it needs (int16, int64 elements)."""

    def __init__(self, fields: dict, keep: list, s16: int = 0, s64: int = 0):
        self.fields, self.keep, self.s16, self.s64 = fields, keep, s16, s64


class ChainPlan:
    """A model's operations as npg_op_t records: one C call runs an inference, with the GIL
    released throughout (so batches scale over cores) and no Python between operations."""

    def __init__(self, model, steps: list[ChainStep]):
        ffi, _ = load()
        self.ops = ffi.new("npg_op_t[]", len(steps))
        for rec, step in zip(self.ops, steps):
            for name, value in step.fields.items():
                setattr(rec, name, value)
        self.keep = [step.keep for step in steps]
        self.s16 = max(1, max(step.s16 for step in steps))
        self.s64 = max(1, max(step.s64 for step in steps))
        self.outputs = [(op.output_shape, output_dtype(op)) for op in model.operations]
        self.n_in = int(np.prod(model.input_shape))
        self._scratch = threading.local()

    def _scratch_of_this_thread(self):
        """(s16, s64) pointers, made once per thread: a small model's inference costs microseconds."""
        got = getattr(self._scratch, "ptrs", None)
        if got is None:
            ffi, _ = load()
            arrays = np.empty(self.s16, np.int16), np.empty(self.s64, np.int64)
            got = self._scratch.ptrs = (arrays, ffi.from_buffer("int16_t[]", arrays[0]),
                                        ffi.from_buffer("int64_t[]", arrays[1]))
        return got[1], got[2]

    def run(self, x: np.ndarray):
        ffi, lib = load()
        outs = [np.empty(shape, dtype) for shape, dtype in self.outputs]
        ptrs = ffi.new("void *[]", [ffi.from_buffer(o) for o in outs])
        s16, s64 = self._scratch_of_this_thread()
        rc = lib.npg_run_chain(self.ops, len(outs), ffi.from_buffer("int16_t[]", np.ascontiguousarray(x, np.int16)),
                               ptrs, s16, s64)
        if rc < 0:
            raise RuntimeError("npg_run_chain: an operation kind the C code does not know")
        return RunResult(outs[-1], outs, bool(rc))


    def run_many(self, xs: list) -> list:
        """Independent inferences in one C call (the GIL released for all of them)."""
        ffi, lib = load()
        count = len(xs)
        batch = np.ascontiguousarray(np.stack([np.asarray(x, np.int16).reshape(-1) for x in xs]))
        if batch.shape[1] != self.n_in:
            raise ValueError(f"inputs have {batch.shape[1]} elements, the model takes {self.n_in}")
        outs = [np.empty((count, *shape), dtype) for shape, dtype in self.outputs]
        ptrs = ffi.new("void *[]", [ffi.from_buffer(o) for o in outs])
        sizes = ffi.new("size_t[]", [o[0].nbytes for o in outs])
        s16, s64, sat = np.empty(self.s16, np.int16), np.empty(self.s64, np.int64), np.zeros(count, np.uint8)
        rc = lib.npg_run_chain_many(self.ops, len(outs), count, ffi.from_buffer("int16_t[]", batch), self.n_in, ptrs,
                                    sizes, ffi.from_buffer("int16_t[]", s16), ffi.from_buffer("int64_t[]", s64),
                                    ffi.from_buffer("uint8_t[]", sat))
        if rc < 0:
            raise RuntimeError("npg_run_chain_many: an operation kind the C code does not know")
        return [RunResult(outs[-1][b], [o[b] for o in outs], bool(sat[b])) for b in range(count)]


def chain_plan(model) -> ChainPlan | None:
    """The model's plan, built once (None if an operation has no native step, or an operation
    before the last hands on int32: the per-operation path covers those)."""
    key = tuple((id(op), id(getattr(op, "weights", getattr(op, "filters", None))), id(getattr(op, "bias", None)))
                for op in model.operations)
    hit = model.__dict__.get("_native_plan")
    if hit is not None and hit[0] == key:
        return hit[1]
    plan = None
    if all(output_dtype(op) == np.int16 for op in model.operations[:-1]):
        steps = []
        for op in model.operations:
            make = spec_of(op).native_step
            step = make(op, sys.modules[__name__]) if make is not None else None
            if step is None:
                break
            steps.append(step)
        else:
            plan = ChainPlan(model, steps)
    model.__dict__["_native_plan"] = (key, plan)
    return plan


def run_operation_native(op, x: np.ndarray, sat) -> np.ndarray | None:
    """One operation through the C runner (a graph's nodes run one at a time); None if it has no
    native step for these shapes."""
    from .ir import GnaModel

    model = op.__dict__.get("_native_model")
    if model is None:
        model = op.__dict__["_native_model"] = GnaModel([op])
    plan = chain_plan(model)
    if plan is None:
        return None
    res = plan.run(x)
    sat.hit |= res.saturated
    return res.output
