"""FullyConnectedAffine: out = bias + W x per vector of the batch, clamped to int32 after every
accumulator chunk; int8 weights scale each row by a uint8 multiplier; optional bias grouping."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..arith import as_f64, chunked_affine, pwl_apply
from ..ir import CHUNK_BY_BATCH, MAX_BATCH, MAX_ELEMENTS, MAX_OUTPUTS, FullyConnectedAffine, GnaModel, GnaModelError
from ..libgna_abi import DT_WSF, weight_scale_bytes
from . import OpSpec, probing, register, sampling, rules


def check(i, op):
    kind = op.kind
    rules.weight_type(i, kind, op.weights)
    if op.weights.ndim != 2:
        raise GnaModelError(i, kind, "weights must be [M, K]")
    m, k = op.weights.shape
    rules.in_range(i, kind, "batch N", op.batch, 1, MAX_BATCH)
    rules.in_range(i, kind, "inputs K", k, 8, MAX_ELEMENTS, 8)
    rules.in_range(i, kind, "outputs M", m, 1, MAX_OUTPUTS)
    if op.bias_index is None:
        rules.plain_bias(i, kind, op, m)
    else:
        if op.bias.ndim != 2 or op.bias.shape[0] != m:
            raise GnaModelError(i, kind, f"grouped bias must be [M, NB] with M = {m}")
        rules.in_range(i, kind, "bias vectors NB", op.bias.shape[1], 1, 8)
        rules.in_range(i, kind, "bias_index", op.bias_index, 0, op.bias.shape[1] - 1)
        rules.in_range(i, kind, "outputs M with bias grouping", m, 8, MAX_OUTPUTS, 8)
    rules.multiplier(i, kind, op, m)


def emulate(op, x, sat):
    k, n = op.input_shape
    xin = x.reshape(k, n)
    bias = op.bias if op.bias_index is None else op.bias[:, op.bias_index]
    s = chunked_affine(as_f64(op, "weights"), xin, bias, op.multiplier, CHUNK_BY_BATCH[n - 1], sat)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def _native_constants(op, nv):
    """Padded weights, the bias column, the multiplier and the PWL as C pointers (kept alive)."""
    k, _ = op.input_shape
    kp = nv.padded(k)
    w = nv.pad_rows(op.weights, kp, op.weights.dtype)
    bias = np.ascontiguousarray(op.bias if op.bias_index is None else op.bias[:, op.bias_index], np.int32)
    return (w, bias, op.multiplier), (nv.ptr(w, "void *"), nv.ptr(bias, "int32_t *"),
                                      nv.ptr(op.multiplier, "uint8_t *"), nv.pwl_of(op.pwl))


def native_step(op, nv):
    k, n = op.input_shape
    m = op.weights.shape[0]
    kp = nv.padded(k)
    keep, (w, bias, mult, pwl) = nv.cached(op, "c", op.weights, lambda: _native_constants(op, nv))
    return nv.ChainStep(dict(kind=1, m=m, k=k, kpad=kp, n=n, w8=int(op.weights.dtype == np.int8),
                             chunk=CHUNK_BY_BATCH[n - 1], w=w, bias=bias, mult=mult, pwl=pwl), keep,
                        s16=2 * n * kp + nv.split_slack(), s64=2 * m * n)


def libgna(op, d):
    operands = rules.weights_and_bias(op, d)
    params = []
    if op.pwl is not None:
        operands.append(d.pwl(op.pwl))
    elif op.bias_index is not None and op.multiplier is not None:
        operands.append(d.null)
    if op.bias_index is not None:
        params = [d.scalar("int32_t *", 2), d.scalar("uint32_t *", op.bias_index)]
        if op.multiplier is not None:
            data = weight_scale_bytes(op.multiplier)
            operands.append(d.tensor((len(op.multiplier),), DT_WSF, d.place(len(data), data)))
    return operands, params


def _random(rng, int8=False, grouping=False, style=None):
    n = int(rng.integers(1, 9))
    k = 8 * int(rng.integers(1, 160 if rng.random() < 0.8 else 520))
    m = 8 * int(rng.integers(1, 20)) if grouping else int(rng.integers(1, 130))
    style = style or rng.choice(["small", "full", "extreme"])
    w = sampling.values(rng, (m, k), np.int8 if int8 else np.int16, style)
    bias = sampling.values(rng, (m, int(rng.integers(1, 9))) if grouping else (m,), np.int32, rng.choice(["full", "extreme", "small"]))
    op = FullyConnectedAffine(weights=w, bias=bias, batch=n, pwl=sampling.maybe_pwl(rng),
                              multiplier=rng.integers(0, 256, size=m) if int8 else None,
                              bias_index=int(rng.integers(0, bias.shape[1])) if grouping else None)
    x = sampling.values(rng, (k, n), np.int16, style)
    return GnaModel([op]), x


def _chunk_edge(rng):
    """A first chunk that overflows int32 upwards and a second that comes back: a single final
    clamp would give another answer than 2.0's clamp per chunk."""
    n = int(rng.integers(1, 9))
    chunk = CHUNK_BY_BATCH[n - 1]
    k = chunk + 8 * int(rng.integers(1, 64))
    m = int(rng.integers(1, 9))
    w = np.full((m, k), 32767, np.int16)
    w[:, chunk:] = -32768
    x = np.full((k, n), 32767, np.int16)
    op = FullyConnectedAffine(weights=w, bias=np.zeros(m, np.int32), batch=n, pwl=sampling.maybe_pwl(rng, 0.3))
    return GnaModel([op]), x


def _probe_fc(pm):
    op = FullyConnectedAffine(np.zeros((pm.M, pm.K), probing.weights_dtype(pm)), np.zeros(pm.M, np.int32), pm.N,
                              probing.multiplier(pm, pm.M), pwl=probing.member_pwl(pm))
    return GnaModel([op] * pm.layers)


def _probe_fc_grouping(pm):
    return GnaModel([FullyConnectedAffine(np.zeros((pm.M, pm.K), probing.weights_dtype(pm)), np.zeros((pm.M, 2), np.int32),
                                          pm.N, probing.multiplier(pm, pm.M), bias_index=1, pwl=probing.member_pwl(pm))])


def _probe_memory(pm):
    """Two dense layers whose weight buffers grow with M: [M, 65528] then [65528, M]."""
    big = MAX_ELEMENTS
    return GnaModel([
        FullyConnectedAffine(np.zeros((pm.M, big), np.int16), np.zeros(pm.M, np.int32), 1, pwl=probing.pwl(2)),
        FullyConnectedAffine(np.zeros((big, pm.M), np.int16), np.zeros(big, np.int32), 1, pwl=probing.pwl(2))])


def _raw_fc(pm, r):
    b_shape = (pm.M, 2) if pm.op == "fc_grouping" else (pm.M,)

    def one():
        ods = [r.RawOperand((pm.K, pm.N), r.dt[pm.in_type], buffer="in" if r.shared else None),
               r.RawOperand((pm.M, pm.N), r.out, buffer="out" if r.shared else None),
               r.RawOperand((pm.M, pm.K), r.dt[pm.w_type], buffer="w" if r.shared else None),
               r.RawOperand(b_shape, r.bias if pm.op == "fc" else r.dt[probing.I32], buffer="b" if r.shared else None)]
        if r.pwl is not None:
            ods.append(dataclasses.replace(r.pwl, buffer="p" if r.shared else None))
        return r.RawOperation(3, ods, [("i32", 2), ("u32", 1)] if pm.op == "fc_grouping" else None)
    return [one() for _ in range(pm.layers)]


def _raw_memory(pm, r):
    big = MAX_ELEMENTS
    pwl16 = r.RawOperand((2,), r.pwl_code)
    return [r.RawOperation(3, [r.RawOperand((k, 1), r.dt[probing.I16]), r.RawOperand((m, 1), r.dt[probing.I16]),
                               r.RawOperand((m, k), r.dt[probing.I16]), r.RawOperand((m,), r.dt[probing.I32]), pwl16])
            for k, m in ((big, pm.M), (pm.M, big))]


_FC = probing.ProbeModel("fc")
PROBES = probing.Probes(
    families={"fc": probing.Family(_probe_fc, _raw_fc), "fc_grouping": probing.Family(_probe_fc_grouping, _raw_fc),
              "memory": probing.Family(_probe_memory, _raw_memory)},
    dims=[probing.DimProbe("FullyConnectedAffine inputs K", _FC, "K", 8, 8, 1 << 20, MAX_ELEMENTS),
          probing.DimProbe("FullyConnectedAffine outputs M", _FC, "M", 1, 1, 1 << 18, MAX_OUTPUTS),
          probing.DimProbe("FullyConnectedAffine batch N", _FC, "N", 1, 1, 64, MAX_BATCH)],
    acceptance=[("FullyConnectedAffine int16 weights, int32 bias", _FC),
                ("FullyConnectedAffine int8 weights, compound bias", probing.ProbeModel("fc", w_type=probing.I8)),
                ("FullyConnectedAffine int8 weights, int32 bias",
                 probing.ProbeModel("fc", w_type=probing.I8, bias_type=probing.I32)),
                ("FullyConnectedAffine int16 weights, compound bias", probing.ProbeModel("fc", bias_type=probing.COMPOUND)),
                ("FullyConnectedAffine int8 input", probing.ProbeModel("fc", in_type=probing.I8)),
                ("FullyConnectedAffine int8 output (PWL)", probing.ProbeModel("fc", segments=2, out_type=probing.I8)),
                ("FullyConnectedAffine bias grouping", probing.ProbeModel("fc_grouping"))])


register(OpSpec(FullyConnectedAffine, check, emulate, libgna, libgna_type=3, native_step=native_step,
                macs=lambda op: op.weights.size * op.batch,
                random_cases={"affine": lambda rng: _random(rng), "affine_int8": lambda rng: _random(rng, int8=True),
                              "affine_grouping": lambda rng: _random(rng, int8=rng.random() < 0.5, grouping=True),
                              "chunk_edge": _chunk_edge},
                probes=PROBES))
