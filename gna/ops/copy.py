"""Copy: the first `cols` elements of the first `rows` rows of a flat [Hi, Wi] input into a
[Ho, Wo] output; the rest of the output is zero."""
from __future__ import annotations

import numpy as np

from ..ir import MAX_BATCH, MAX_ELEMENTS, GnaModel, Copy
from ..libgna_abi import DT_INT16
from . import OpSpec, probing, register, sampling, rules


def check(i, op):
    kind = op.kind
    (hi, wi), (ho, wo) = op.in_shape, op.out_shape
    for name, h, w in (("input", hi, wi), ("output", ho, wo)):
        rules.in_range(i, kind, f"{name} rows", h, 1, MAX_BATCH)
        rules.in_range(i, kind, f"{name} width", w, 8, MAX_ELEMENTS, 8)
    rules.in_range(i, kind, "copied rows", op.rows, 1, min(hi, ho))
    rules.in_range(i, kind, "copied columns", op.cols, 8, min(wi, wo), 8)


def emulate(op, x, sat):
    out = np.zeros(op.out_shape, dtype=np.int16)
    out[:op.rows, :op.cols] = x.reshape(op.in_shape)[:op.rows, :op.cols]
    return out


def native_step(op, nv):
    (_, wi), (ho, wo) = op.in_shape, op.out_shape
    return nv.ChainStep(dict(kind=5, m=ho, n=wo, k=wi, rows=op.rows, cols=op.cols), [])


def libgna(op, d):
    return ([d.tensor(op.in_shape, DT_INT16, d.input), d.tensor(op.out_shape, DT_INT16, d.output)],
            [d.shape(op.rows, op.cols)])


def _random(rng):
    hi, ho = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    wi, wo = 8 * int(rng.integers(1, 64)), 8 * int(rng.integers(1, 64))
    op = Copy(in_shape=(hi, wi), out_shape=(ho, wo), rows=int(rng.integers(1, min(hi, ho) + 1)),
              cols=8 * int(rng.integers(1, min(wi, wo) // 8 + 1)))
    return GnaModel([op]), sampling.values(rng, (hi, wi), np.int16, "full")


def _probe(pm):
    return GnaModel([Copy((1, pm.W), (1, pm.W), 1, pm.W)])


def _raw(pm, r):
    i16 = r.dt[probing.I16]
    return [r.RawOperation(2, [r.RawOperand((1, pm.W), i16), r.RawOperand((1, pm.W), i16)], [("shape", (1, pm.W))])]


PROBES = probing.Probes(
    families={"copy": probing.Family(_probe, _raw)},
    dims=[probing.DimProbe("Copy width", probing.ProbeModel("copy"), "W", 8, 8, 1 << 20, MAX_ELEMENTS)],
    acceptance=[("Copy", probing.ProbeModel("copy"))])


register(OpSpec(Copy, check, emulate, libgna, libgna_type=2, native_step=native_step,
                random_cases={"copy": _random},
                probes=PROBES))
