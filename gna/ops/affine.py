"""FullyConnectedAffine: out = bias + W x per vector of the batch, clamped to int32 after every
accumulator chunk; int8 weights scale each row by a uint8 multiplier; optional bias grouping."""
from __future__ import annotations

import numpy as np

from ..arith import as_f64, chunked_affine, pwl_apply
from ..ir import CHUNK_BY_BATCH, MAX_BATCH, MAX_ELEMENTS, MAX_OUTPUTS, FullyConnectedAffine, GnaModel, GnaModelError
from ..libgna_abi import DT_WSF, weight_scale_bytes
from . import OpSpec, register, sampling, rules


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


register(OpSpec(FullyConnectedAffine, check, emulate, libgna, libgna_type=3,
                macs=lambda op: op.weights.size * op.batch,
                random_cases={"affine": lambda rng: _random(rng), "affine_int8": lambda rng: _random(rng, int8=True),
                              "affine_grouping": lambda rng: _random(rng, int8=rng.random() < 0.5, grouping=True),
                              "chunk_edge": _chunk_edge}))
