"""Envelope probes: measure what a GNA generation accepts, by bisection over single-parameter model
families, on libGNA (Gna2ModelCreate's verdict) or on our emulator (the rules it declares)."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass, field

from . import ir
from .ops import REGISTRY
from .ops.probing import (COMPOUND, I8, I16, I32, DimProbe, ProbeModel, RawParts, Unrepresentable,  # noqa: F401
                          bias_type)

_FC2 = ProbeModel("fc", segments=2)
# limits of the model rather than of one operation
GENERAL_DIMS = [
    DimProbe("PWL segments", _FC2, "segments", 1, 2, 4096, ir.PWL_SEGMENTS[1]),
    DimProbe("Operations per model", _FC2, "layers", 1, 1, 8192, ir.MAX_LAYERS),
    DimProbe("Model memory", ProbeModel("memory"), "M", 8, 8, 4096, ir.MAX_MODEL_BYTES, "bytes"),
]
DIM_PROBES = [d for spec in REGISTRY.values() for d in spec.probes.dims] + GENERAL_DIMS
ACCEPTANCE = [a for spec in REGISTRY.values() for a in spec.probes.acceptance]
CRASH_PROBES = [c for spec in REGISTRY.values() for c in spec.probes.crashes]
FAMILIES = {name: fam for spec in REGISTRY.values() for name, fam in spec.probes.families.items()}


def _family(pm: ProbeModel):
    fam = FAMILIES.get(pm.op)
    if fam is None:
        raise ValueError(f"no probe family '{pm.op}' (families: {', '.join(sorted(FAMILIES))})")
    return fam


def to_ir(pm: ProbeModel) -> ir.GnaModel:
    """The family member as our IR (for the emulator's verdict)."""
    if pm.in_type != I16:
        raise Unrepresentable("GNA 2.0 inputs are int16")
    if pm.out_type == I8:
        raise Unrepresentable("GNA 2.0 outputs are int16 (PWL) or int32")
    fam = _family(pm)
    if (pm.w_type == I8) != (bias_type(pm) == COMPOUND):
        raise Unrepresentable("int8 weights take a compound bias and int16 weights an int32 bias on GNA 2.0")
    return fam.to_ir(pm)


def _raw(pm: ProbeModel):
    """The family member as raw libGNA operations (every operand its own zeroed allocation, or
    shared ones for long chains)."""
    from .libgna_abi import DT_COMPOUND, DT_INT8, DT_INT16, DT_INT32, DT_PWL
    from .libgna_raw import RawOperand, RawOperation

    dt = {I16: DT_INT16, I8: DT_INT8, I32: DT_INT32, COMPOUND: DT_COMPOUND}
    out = dt[pm.out_type] if pm.out_type else (DT_INT16 if pm.segments else DT_INT32)
    parts = RawParts(RawOperand, RawOperation, dt, out, RawOperand((pm.segments,), DT_PWL) if pm.segments else None,
                     DT_PWL, dt[bias_type(pm)], pm.layers > 1)
    return _family(pm).raw(pm, parts)


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
