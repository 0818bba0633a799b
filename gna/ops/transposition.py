"""Transposition: [A, B] -> [B, A], flat to interleaved or back (one side 1..8, the other
8..65528, a multiple of 8)."""
from __future__ import annotations

import numpy as np

from ..ir import MAX_ELEMENTS, GnaModelError, GnaModel, Transposition
from ..libgna_abi import DT_INT16
from . import OpSpec, probing, register, sampling


def check(i, op):
    a, b = op.shape
    if not ((1 <= a <= 8 and 8 <= b <= MAX_ELEMENTS and b % 8 == 0) or
            (1 <= b <= 8 and 8 <= a <= MAX_ELEMENTS and a % 8 == 0)):
        raise GnaModelError(i, op.kind, f"shape [{a}, {b}]: one side must be 1..8 and the other 8..65528, x8")


def emulate(op, x, sat):
    return np.ascontiguousarray(x.reshape(op.shape).T)


def native_step(op, nv):
    a, b = op.shape
    return nv.ChainStep(dict(kind=6, m=a, n=b), [])


def libgna(op, d):
    return [d.tensor(op.shape, DT_INT16, d.input), d.tensor(op.output_shape, DT_INT16, d.output)], []


def _random(rng):
    a, b = int(rng.integers(1, 9)), 8 * int(rng.integers(1, 128))
    shape = (a, b) if rng.random() < 0.5 else (b, a)
    return GnaModel([Transposition(shape=shape)]), sampling.values(rng, shape, np.int16, "full")


def _probe(pm):
    return GnaModel([Transposition((pm.N, pm.W))])


def _raw(pm, r):
    i16 = r.dt[probing.I16]
    return [r.RawOperation(7, [r.RawOperand((pm.N, pm.W), i16), r.RawOperand((pm.W, pm.N), i16)])]


PROBES = probing.Probes(
    families={"transpose": probing.Family(_probe, _raw)},
    dims=[probing.DimProbe("Transposition long side", probing.ProbeModel("transpose", N=8), "W", 8, 8, 1 << 20,
                           MAX_ELEMENTS)],
    acceptance=[("Transposition", probing.ProbeModel("transpose", N=8))])


register(OpSpec(Transposition, check, emulate, libgna, libgna_type=7, native_step=native_step,
                random_cases={"transposition": _random},
                probes=PROBES))
