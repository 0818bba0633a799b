"""Envelope-probe families: small single-parameter models an operation contributes to
`npin gna probe`, written both as our IR (the emulator's verdict) and as raw libGNA operations
(the library's verdict). gna/probe.py bisects over them; each operation's families, the limits to
bisect and the type combinations to try live with the operation in gna/ops/."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from common.errors import NpinError

from .. import ir

I16, I8, I32, COMPOUND = "i16", "i8", "i32", "compound"


@dataclass(frozen=True)
class ProbeModel:
    """A small model family: one operation (or a chain of `layers` identical ones)."""
    op: str                  # a family name: fc, fc_grouping, memory, diag, conv, conv2d, rnn, copy, transpose
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


class Unrepresentable(NpinError, ValueError):
    """The family member cannot even be written in the IR (a type 2.0 does not have)."""


@dataclass(frozen=True)
class Family:
    to_ir: Callable       # ProbeModel -> GnaModel (may raise Unrepresentable)
    raw: Callable         # (ProbeModel, RawParts) -> list of RawOperation


@dataclass(frozen=True)
class Probes:
    families: dict = field(default_factory=dict)
    dims: list = field(default_factory=list)          # DimProbe
    acceptance: list = field(default_factory=list)    # (name, ProbeModel)
    crashes: list = field(default_factory=list)       # (name, ProbeModel)


def pwl(n: int) -> ir.Pwl:
    return ir.Pwl(x_base=np.arange(n, dtype=np.int64) * 4 - 4 * (n // 2), y_base=np.zeros(n), slope=np.zeros(n))


def bias_type(pm: ProbeModel) -> str:
    return pm.bias_type or (COMPOUND if pm.w_type == I8 else I32)


def weights_dtype(pm: ProbeModel):
    return np.int8 if pm.w_type == I8 else np.int16


def multiplier(pm: ProbeModel, rows: int):
    return np.ones(rows, np.uint8) if bias_type(pm) == COMPOUND else None


def member_pwl(pm: ProbeModel):
    return pwl(pm.segments) if pm.segments else None


@dataclass(frozen=True)
class RawParts:
    """What every raw family member shares: libGNA type codes for the member's types, its output
    type, its PWL operand (or None), and whether a chain shares its buffers."""
    RawOperand: type
    RawOperation: type
    dt: dict
    out: int
    pwl: object
    pwl_code: int
    bias: int
    shared: bool
