"""ElementWiseAffine: out[m, n] = clamp32(bias[m] + w[m] x[m, n]) (diagonal weights: FiLM)."""
from __future__ import annotations

import numpy as np

from ..arith import I32_MAX, I32_MIN, pwl_apply
from ..ir import MAX_BATCH, MAX_ELEMENTS, GnaModel, ElementWiseAffine
from . import OpSpec, probing, register, sampling, rules


def check(i, op):
    kind = op.kind
    rules.weight_type(i, kind, op.weights)
    m = len(op.weights)
    rules.in_range(i, kind, "batch N", op.batch, 1, MAX_BATCH)
    rules.in_range(i, kind, "elements M", m, 8, MAX_ELEMENTS, 8)
    rules.plain_bias(i, kind, op, m)
    rules.multiplier(i, kind, op, m)


def emulate(op, x, sat):
    m, n = op.input_shape
    cache = op.__dict__.setdefault("_i64", {})
    if cache.get("src") is not op.weights:
        w = op.weights.astype(np.int64)
        if op.multiplier is not None:
            w = w * op.multiplier.astype(np.int64)
        bound = int(np.max(np.abs(op.bias.astype(np.int64)) + np.abs(w) * 32768))
        cache.update(src=op.weights, w=w[:, None], b=op.bias.astype(np.int64)[:, None], safe=bound <= I32_MAX)
    s = cache["w"] * x.reshape(m, n)
    s += cache["b"]
    if not cache["safe"]:  # only a sum that can leave int32 needs the check
        s = sat.clamp(s, I32_MIN, I32_MAX)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def native_step(op, nv):
    m, n = op.input_shape
    # |weight · multiplier| < 2^23: int32, which the C multiplies with one fast instruction; with
    # several vectors each row's weight and bias repeat per vector, so the C runs one flat loop
    # over [m][n] that vectorizes whatever n is
    wm = nv.cached(op, "wm", op.weights, lambda: np.repeat((op.weights.astype(np.int64) * (
        1 if op.multiplier is None else op.multiplier.astype(np.int64))).astype(np.int32), n))
    bias = nv.cached(op, "bias", op.bias, lambda: np.repeat(op.bias.astype(np.int32), n))
    return nv.ChainStep(dict(kind=2, m=m * n, n=1, wm=nv.ptr(wm, "int32_t *"), bias=nv.ptr(bias, "int32_t *"),
                             pwl=nv.pwl_of(op.pwl)), [wm, bias], s64=m * n)


def libgna(op, d):
    operands = rules.weights_and_bias(op, d)
    if op.pwl is not None:
        operands.append(d.pwl(op.pwl))
    return operands, []


def _random(rng):
    n, m = int(rng.integers(1, 9)), 8 * int(rng.integers(1, 64))
    int8 = rng.random() < 0.5
    style = rng.choice(["small", "full", "extreme"])
    op = ElementWiseAffine(weights=sampling.values(rng, (m,), np.int8 if int8 else np.int16, style),
                           bias=sampling.values(rng, (m,), np.int32, style), batch=n, pwl=sampling.maybe_pwl(rng),
                           multiplier=rng.integers(0, 256, size=m) if int8 else None)
    return GnaModel([op]), sampling.values(rng, (m, n), np.int16, style)


def _probe(pm):
    return GnaModel([ElementWiseAffine(np.zeros(pm.M, probing.weights_dtype(pm)), np.zeros(pm.M, np.int32), pm.N,
                                       probing.multiplier(pm, pm.M), probing.member_pwl(pm))])


def _raw(pm, r):
    ods = [r.RawOperand((pm.M, pm.N), r.dt[pm.in_type]), r.RawOperand((pm.M, pm.N), r.out),
           r.RawOperand((pm.M,), r.dt[pm.w_type]), r.RawOperand((pm.M,), r.bias)] + ([r.pwl] if r.pwl else [])
    return [r.RawOperation(4, ods)]


PROBES = probing.Probes(
    families={"diag": probing.Family(_probe, _raw)},
    dims=[probing.DimProbe("ElementWiseAffine elements M", probing.ProbeModel("diag"), "M", 8, 8, 1 << 20, MAX_ELEMENTS)],
    acceptance=[("ElementWiseAffine (FiLM) int16", probing.ProbeModel("diag")),
                ("ElementWiseAffine (FiLM) int8, compound bias", probing.ProbeModel("diag", w_type=probing.I8))])


register(OpSpec(ElementWiseAffine, check, emulate, libgna, libgna_type=4, native_step=native_step, macs=lambda op: op.weights.size * op.batch,
                random_cases={"diagonal": _random},
                probes=PROBES))
