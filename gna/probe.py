"""Envelope probes: measure what a GNA generation accepts, by bisection over single-parameter model
families, on libGNA (Gna2ModelCreate's verdict) or on our emulator (the rules it declares)."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np

from common.errors import NpinError

from . import ir

I16, I8, I32, COMPOUND = "i16", "i8", "i32", "compound"


@dataclass(frozen=True)
class ProbeModel:
    """A small model family: one operation (or a chain of `layers` identical ones)."""
    op: str                  # fc, fc_grouping, diag, conv, conv2d, rnn, copy, transpose, memory
    K: int = 8
    M: int = 8
    N: int = 1
    F: int = 4
    C: int = 8
    W: int = 16
    stride: int = 1
    pool: str | None = None
    pool_window: int = 1
    pool_stride: int = 1
    segments: int | None = None
    layers: int = 1
    in_type: str = I16
    w_type: str = I16
    bias_type: str | None = None   # default: i32 for i16 weights, compound for i8
    out_type: str | None = None    # default: i16 with PWL, i32 without


@dataclass(frozen=True)
class DimProbe:
    name: str
    base: ProbeModel
    field: str
    step: int
    lo: int
    hi: int
    documented: int
    unit: str = ""


def _pwl(n: int) -> ir.Pwl:
    return ir.Pwl(x_base=np.arange(n, dtype=np.int64) * 4 - 4 * (n // 2), y_base=np.zeros(n), slope=np.zeros(n))


DIM_PROBES = [
    DimProbe("FullyConnectedAffine inputs K", ProbeModel("fc"), "K", 8, 8, 1 << 20, ir.MAX_ELEMENTS),
    DimProbe("FullyConnectedAffine outputs M", ProbeModel("fc"), "M", 1, 1, 1 << 18, ir.MAX_OUTPUTS),
    DimProbe("FullyConnectedAffine batch N", ProbeModel("fc"), "N", 1, 1, 64, ir.MAX_BATCH),
    DimProbe("ElementWiseAffine elements M", ProbeModel("diag"), "M", 8, 8, 1 << 20, ir.MAX_ELEMENTS),
    DimProbe("Convolution filter count F", ProbeModel("conv"), "F", 4, 4, 1 << 18, ir.CNN_FILTERS[1]),
    DimProbe("Convolution filter size C", ProbeModel("conv", C=8, W=8), "C", 8, 8, 4096, ir.CNN_FILTER_SIZE[1]),
    DimProbe("Convolution input width W", ProbeModel("conv"), "W", 8, 8, 1 << 20, ir.MAX_ELEMENTS),
    DimProbe("Convolution stride", ProbeModel("conv", C=768, W=1536), "stride", 1, 1, 4096, 768),
    DimProbe("Convolution pool window", ProbeModel("conv", pool="max", segments=2), "pool_window", 1, 1, 64, ir.CNN_POOL[1]),
    DimProbe("Convolution pool stride", ProbeModel("conv", pool="max", segments=2), "pool_stride", 1, 1, 64, ir.CNN_POOL[1]),
    DimProbe("PWL segments", ProbeModel("fc", segments=2), "segments", 1, 2, 4096, ir.PWL_SEGMENTS[1]),
    DimProbe("Recurrent inputs K", ProbeModel("rnn", M=32, segments=2), "K", 8, 8, 1 << 20, ir.MAX_ELEMENTS),
    DimProbe("Recurrent outputs M", ProbeModel("rnn", M=32, segments=2), "M", 32, 32, 1 << 16, 65504),
    DimProbe("Copy width", ProbeModel("copy"), "W", 8, 8, 1 << 20, ir.MAX_ELEMENTS),
    DimProbe("Transposition long side", ProbeModel("transpose", N=8), "W", 8, 8, 1 << 20, ir.MAX_ELEMENTS),
    DimProbe("Operations per model", ProbeModel("fc", segments=2), "layers", 1, 1, 8192, ir.MAX_LAYERS),
    DimProbe("Model memory", ProbeModel("memory"), "M", 8, 8, 4096, ir.MAX_MODEL_BYTES, "bytes"),
]

ACCEPTANCE = [
    ("FullyConnectedAffine int16 weights, int32 bias", ProbeModel("fc")),
    ("FullyConnectedAffine int8 weights, compound bias", ProbeModel("fc", w_type=I8)),
    ("FullyConnectedAffine int8 weights, int32 bias", ProbeModel("fc", w_type=I8, bias_type=I32)),
    ("FullyConnectedAffine int16 weights, compound bias", ProbeModel("fc", bias_type=COMPOUND)),
    ("FullyConnectedAffine int8 input", ProbeModel("fc", in_type=I8)),
    ("FullyConnectedAffine int8 output (PWL)", ProbeModel("fc", segments=2, out_type=I8)),
    ("FullyConnectedAffine bias grouping", ProbeModel("fc_grouping")),
    ("ElementWiseAffine (FiLM) int16", ProbeModel("diag")),
    ("ElementWiseAffine (FiLM) int8, compound bias", ProbeModel("diag", w_type=I8)),
    ("Convolution legacy 1D (GNA1)", ProbeModel("conv")),
    ("Convolution legacy 1D, max pooling", ProbeModel("conv", pool="max", segments=2, pool_window=2, pool_stride=2)),
    ("Convolution 2D", ProbeModel("conv2d")),
    ("Recurrent", ProbeModel("rnn", M=32, segments=2)),
    ("Copy", ProbeModel("copy")),
    ("Transposition", ProbeModel("transpose", N=8)),
]

CRASH_PROBES = [
    ("Convolution with PWL, no pooling, 4 MiB of int32 scratch (W=65528, C=8, F=16)",
     ProbeModel("conv", W=65528, C=8, F=16, segments=2)),
]


class Unrepresentable(NpinError, ValueError):
    """The family member cannot even be written in the IR (a type 2.0 does not have)."""


def _bias_type(pm: ProbeModel) -> str:
    return pm.bias_type or (COMPOUND if pm.w_type == I8 else I32)


def to_ir(pm: ProbeModel) -> ir.GnaModel:
    """The family member as our IR (for the emulator's verdict)."""
    if pm.in_type != I16:
        raise Unrepresentable("GNA 2.0 inputs are int16")
    if pm.out_type == I8:
        raise Unrepresentable("GNA 2.0 outputs are int16 (PWL) or int32")
    if pm.op == "conv2d":
        raise Unrepresentable("2D convolution is not a GNA 2.0 operation")
    wdt = np.int8 if pm.w_type == I8 else np.int16
    compound = _bias_type(pm) == COMPOUND
    if (pm.w_type == I8) != compound:
        raise Unrepresentable("int8 weights take a compound bias and int16 weights an int32 bias on GNA 2.0")
    pwl = _pwl(pm.segments) if pm.segments else None

    def mult(rows):
        return np.ones(rows, np.uint8) if compound else None

    if pm.op == "fc":
        op = ir.FullyConnectedAffine(np.zeros((pm.M, pm.K), wdt), np.zeros(pm.M, np.int32), pm.N, mult(pm.M), pwl=pwl)
        if pm.layers > 1:
            return ir.GnaModel([op] * pm.layers)
        return ir.GnaModel([op])
    if pm.op == "fc_grouping":
        return ir.GnaModel([ir.FullyConnectedAffine(np.zeros((pm.M, pm.K), wdt), np.zeros((pm.M, 2), np.int32), pm.N,
                                                    mult(pm.M), bias_index=1, pwl=pwl)])
    if pm.op == "diag":
        return ir.GnaModel([ir.ElementWiseAffine(np.zeros(pm.M, wdt), np.zeros(pm.M, np.int32), pm.N, mult(pm.M), pwl)])
    if pm.op == "conv":
        return ir.GnaModel([ir.Convolution(np.zeros((pm.F, pm.C), np.int16), np.zeros(pm.F, np.int32), pm.W, pm.stride,
                                           pm.pool, pm.pool_window, pm.pool_stride, pwl)])
    if pm.op == "rnn":
        return ir.GnaModel([ir.Recurrent(np.zeros((pm.M, pm.K + pm.M), wdt), np.zeros(pm.M, np.int32), pwl or _pwl(2),
                                         pm.N, 1, mult(pm.M))])
    if pm.op == "copy":
        return ir.GnaModel([ir.Copy((1, pm.W), (1, pm.W), 1, pm.W)])
    if pm.op == "transpose":
        return ir.GnaModel([ir.Transposition((pm.N, pm.W))])
    if pm.op == "memory":
        # two dense layers whose weight buffers grow with M: [M, 65528] then [65528, M]
        big = ir.MAX_ELEMENTS
        return ir.GnaModel([
            ir.FullyConnectedAffine(np.zeros((pm.M, big), np.int16), np.zeros(pm.M, np.int32), 1, pwl=_pwl(2)),
            ir.FullyConnectedAffine(np.zeros((big, pm.M), np.int16), np.zeros(big, np.int32), 1, pwl=_pwl(2))])
    raise ValueError(pm.op)


def _raw(pm: ProbeModel):
    """The family member as raw libGNA operations (every operand its own zeroed allocation, or
    shared ones for long chains)."""
    from .libgna_raw import RawOperand, RawOperation
    from .libgna_abi import DT_COMPOUND, DT_INT8, DT_INT16, DT_INT32, DT_PWL, POOLING

    dt = {I16: DT_INT16, I8: DT_INT8, I32: DT_INT32, COMPOUND: DT_COMPOUND}
    out = dt[pm.out_type] if pm.out_type else (DT_INT16 if pm.segments else DT_INT32)
    pwl = RawOperand((pm.segments,), DT_PWL) if pm.segments else None
    bias = dt[_bias_type(pm)]
    shared = pm.layers > 1
    if pm.op in ("fc", "fc_grouping", "memory"):
        if pm.op == "memory":
            big = ir.MAX_ELEMENTS
            return [RawOperation(3, [RawOperand((k, 1), DT_INT16), RawOperand((m, 1), DT_INT16),
                                     RawOperand((m, k), DT_INT16), RawOperand((m,), DT_INT32), RawOperand((2,), DT_PWL)])
                    for k, m in ((big, pm.M), (pm.M, big))]
        b_shape = (pm.M, 2) if pm.op == "fc_grouping" else (pm.M,)

        def op(_):
            ods = [RawOperand((pm.K, pm.N), dt[pm.in_type], buffer="in" if shared else None),
                   RawOperand((pm.M, pm.N), out, buffer="out" if shared else None),
                   RawOperand((pm.M, pm.K), dt[pm.w_type], buffer="w" if shared else None),
                   RawOperand(b_shape, bias if pm.op == "fc" else DT_INT32, buffer="b" if shared else None)]
            if pwl is not None:
                ods.append(dataclasses.replace(pwl, buffer="p" if shared else None))
            params = [("i32", 2), ("u32", 1)] if pm.op == "fc_grouping" else None
            return RawOperation(3, ods, params)
        return [op(i) for i in range(pm.layers)]
    if pm.op == "diag":
        ods = [RawOperand((pm.M, pm.N), dt[pm.in_type]), RawOperand((pm.M, pm.N), out),
               RawOperand((pm.M,), dt[pm.w_type]), RawOperand((pm.M,), bias)] + ([pwl] if pwl else [])
        return [RawOperation(4, ods)]
    if pm.op == "conv":
        positions = (pm.W - pm.C) // pm.stride + 1 if pm.W >= pm.C else 1
        if pm.pool:
            positions = -(-positions // pm.pool_stride)
        ods = [RawOperand((1, pm.W), dt[pm.in_type]), RawOperand((1, positions, pm.F), out, b"GNA1"),
               RawOperand((pm.F, pm.C), DT_INT16), RawOperand((pm.F,), DT_INT32)] + ([pwl] if pwl else [])
        params = [("shape", (pm.stride,))]
        if pm.pool:
            params += [("i32", 0), ("i32", POOLING[pm.pool]), ("shape", (pm.pool_window,)), ("shape", (pm.pool_stride,))]
        return [RawOperation(1, ods, params)]
    if pm.op == "conv2d":  # 16 filters of 3x3x8 over a 16x16x8 input, stride 1, no padding
        ods = [RawOperand((1, 16, 16, 8), DT_INT16), RawOperand((1, 14, 14, 16), DT_INT32),
               RawOperand((16, 3, 3, 8), DT_INT16), RawOperand((16,), DT_INT32)]
        return [RawOperation(1, ods, [("shape", (1, 1)), ("i32", 0)])]
    if pm.op == "rnn":
        ods = [RawOperand((pm.N, pm.K), dt[pm.in_type]),
               RawOperand((pm.N, pm.M), DT_INT16, offset=2 * pm.M),  # one row of feedback before it
               RawOperand((pm.M, pm.K + pm.M), dt[pm.w_type]), RawOperand((pm.M,), bias), pwl or RawOperand((2,), DT_PWL)]
        return [RawOperation(6, ods, [("u32", 1)])]
    if pm.op == "copy":
        return [RawOperation(2, [RawOperand((1, pm.W), DT_INT16), RawOperand((1, pm.W), DT_INT16)], [("shape", (1, pm.W))])]
    if pm.op == "transpose":
        return [RawOperation(7, [RawOperand((pm.N, pm.W), DT_INT16), RawOperand((pm.W, pm.N), DT_INT16)])]
    raise ValueError(pm.op)


class EmulatorBackend:
    name = "emulator"

    def version(self) -> str:
        return "npin emulator (GNA 2.0 rules of gna/ir.py)"

    def verdict(self, pm: ProbeModel, target: str) -> tuple[bool, int, str]:
        try:
            ir.check_model(to_ir(pm))
            return True, 0, "accepted"
        except (ir.GnaModelError, Unrepresentable) as e:
            return False, -29, str(e)


class LibGnaBackend:
    name = "libgna"
    VERSIONS = {"2.0": 0x20, "3.0": 0x30}

    def __init__(self):
        from . import libgna, libgna_raw

        self.lib, self.raw = libgna, libgna_raw
        libgna.load()

    def version(self) -> str:
        return f"libGNA {self.lib.library_version()}"

    HW_MODULE_MISSING = -90

    def verdict(self, pm: ProbeModel, target: str) -> tuple[bool, int, str]:
        status, message = self.raw.create_status(_raw(pm), self.VERSIONS[target])
        if status == self.HW_MODULE_MISSING:
            # validation passed; only the 3.0 descriptor builder (a separate Intel module) is absent
            return True, status, "passes the target's checks; " + message + " (no 3.0 hardware module installed)"
        return status == 0, status, message


@dataclass
class DimResult:
    name: str
    documented: int
    measured: int | None       # None: even the smallest was refused
    capped: bool               # accepted all the way to the probe's upper end
    passing: dict = field(default_factory=dict)
    failing: dict = field(default_factory=dict)
    unit: str = ""
    steps: int = 0


def _member(pm: ProbeModel, fld: str, v: int) -> ProbeModel:
    pm = dataclasses.replace(pm, **{fld: v})
    if fld == "C" and pm.op == "conv":
        pm = dataclasses.replace(pm, W=max(pm.W, v))
    return pm


def measured_bytes(pm: ProbeModel) -> int:
    return ir.model_bytes(to_ir(pm))


def bisect(backend, probe: DimProbe, target: str) -> DimResult:
    """Largest accepted value of probe.field on its grid, assuming acceptance is monotone."""
    grid = lambda i: probe.lo + i * probe.step  # noqa: E731
    n = (probe.hi - probe.lo) // probe.step
    steps = 0

    def ok(i):
        nonlocal steps
        steps += 1
        return backend.verdict(_member(probe.base, probe.field, grid(i)), target)

    first = ok(0)
    if not first[0]:
        return DimResult(probe.name, probe.documented, None, False, {}, _receipt(probe, grid(0), first), probe.unit, steps)
    last = ok(n)
    if last[0]:
        return DimResult(probe.name, probe.documented, grid(n), True, _receipt(probe, grid(n), last), {}, probe.unit, steps)
    lo, hi, lo_v, hi_v = 0, n, first, last
    while hi - lo > 1:
        mid = (lo + hi) // 2
        v = ok(mid)
        if v[0]:
            lo, lo_v = mid, v
        else:
            hi, hi_v = mid, v
    return DimResult(probe.name, probe.documented, grid(lo), False, _receipt(probe, grid(lo), lo_v),
                     _receipt(probe, grid(hi), hi_v), probe.unit, steps)


def _receipt(probe: DimProbe, value: int, verdict) -> dict:
    pm = _member(probe.base, probe.field, value)
    rec = {"input": {k: v for k, v in dataclasses.asdict(pm).items() if v is not None}, probe.field: value,
           "status": verdict[1], "message": verdict[2]}
    if probe.unit == "bytes":
        rec["model_bytes"] = measured_bytes(pm)
    return rec


def crash_probe(pm: ProbeModel, timeout: float = 60.0) -> dict:
    """Create and run the model on libGNA in a child process (pre-flight off): a crash there
    cannot take us down."""
    code = ("import numpy as np, dataclasses\n"
            "from gna import libgna, probe\n"
            "libgna.preflight = lambda m: None\n"
            f"pm = probe.ProbeModel(**{dataclasses.asdict(pm)!r})\n"
            "m = probe.to_ir(pm)\n"
            "libgna.run(m, np.zeros(m.input_shape, np.int16))\n"
            "print('ran')\n")
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "hangs", "detail": f"no result in {timeout:.0f} s"}
    if res.returncode < 0:
        return {"outcome": "crashes", "detail": f"killed by signal {-res.returncode}"}
    if res.returncode == 0:
        return {"outcome": "runs", "detail": "inference completed"}
    return {"outcome": "error", "detail": (res.stderr.strip().splitlines() or ["?"])[-1]}
