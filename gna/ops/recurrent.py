"""Recurrent: for t = 0..N-1, out[t] = PWL(bias + W [x_t | out[t - delay]]), rows before 0 from the
initial state; one accumulator chunk of 12,288 over the concatenated vector whatever the batch."""
from __future__ import annotations

import numpy as np

from ..arith import I32_MAX, I32_MIN, as_f64, chunked_affine, pwl_apply, pwl_tables
from ..ir import CHUNK_BY_BATCH, MAX_BATCH, MAX_ELEMENTS, MAX_OUTPUTS, RNN_OUTPUT_MULTIPLE, GnaModelError, GnaModel, Recurrent
from . import OpSpec, probing, register, sampling, rules


def check(i, op):
    kind = op.kind
    rules.weight_type(i, kind, op.weights)
    m = op.outputs
    k = op.weights.shape[1] - m
    rules.in_range(i, kind, "batch N", op.batch, 1, MAX_BATCH)
    rules.in_range(i, kind, "inputs K", k, 8, MAX_ELEMENTS, 8)
    rules.in_range(i, kind, "outputs M", m, RNN_OUTPUT_MULTIPLE, MAX_OUTPUTS, RNN_OUTPUT_MULTIPLE)
    rules.in_range(i, kind, "delay", op.delay, 1, op.batch)
    if op.bias.shape != (m,):
        raise GnaModelError(i, kind, f"bias must be [M] = [{m}]")
    if op.pwl is None:
        raise GnaModelError(i, kind, "a recurrent layer needs a PWL activation")
    if op.initial_state is not None and op.initial_state.shape != (op.delay, m):
        raise GnaModelError(i, kind, f"initial_state must be [delay, M] = [{op.delay}, {m}]")
    rules.multiplier(i, kind, op, m)


def emulate(op, x, sat):
    n, k = op.input_shape
    m = op.outputs
    xin = x.reshape(n, k)
    state = np.zeros((op.delay, m), np.int16) if op.initial_state is None else op.initial_state
    out = np.empty((n, m), dtype=np.int16)
    w64 = as_f64(op, "weights")
    # The input half of every step does not depend on the feedback: one matrix product for all t,
    # unless a chunk boundary falls inside it (then the clamps need the running sum per chunk).
    chunk = CHUNK_BY_BATCH[0]
    split = k + m <= chunk
    if split:
        # All in float64, exact: |bias| < 2^31, each half's sum < 2^44, times a uint8 multiplier < 2^52.
        cache = op.__dict__.setdefault("_fb", {})
        if cache.get("src") is not w64:  # both column blocks contiguous: BLAS's fast paths
            cache.update(src=w64, wx=np.ascontiguousarray(w64[:, :k]), wf=np.ascontiguousarray(w64[:, k:]))
        x_part = cache["wx"] @ xin.T.astype(np.float64)  # [M, N]
        wf = cache["wf"]
        mult = None if op.multiplier is None else op.multiplier.astype(np.float64)
        bias = op.bias.astype(np.float64)
        if mult is None:
            x_part += bias[:, None]
        return _recurrent_float(op, x_part, wf, mult, bias, state, sat)
    for t in range(n):
        fb = state[t] if t < op.delay else out[t - op.delay]
        v = np.concatenate([xin[t], fb])[:, None]
        s = chunked_affine(w64, v, op.bias, op.multiplier, chunk, sat)[:, 0]
        out[t] = pwl_apply(s, op.pwl, sat)
    return out


def _recurrent_float(op, x_part, wf, mult, bias, state, sat) -> np.ndarray:
    """The recurrent loop for one accumulator chunk, entirely in float64 (every value an exact
    integer below 2^53): the per-step work is a matrix-vector product and a dozen vector ops."""
    t_ = pwl_tables(op.pwl)
    n, m = x_part.shape[1], op.outputs
    out = np.empty((n, m))
    prev = state.astype(np.float64)
    lo32, hi32 = float(I32_MIN), float(I32_MAX)
    base0, bases, coef = t_.base_f[0], t_.base_f, t_.coef_f
    for t in range(n):
        fb = prev[t] if t < op.delay else out[t - op.delay]
        s = wf @ fb
        if mult is None:
            s += x_part[:, t]
        else:
            s = bias + mult * (s + x_part[:, t])
        lo, hi = s.min(), s.max()
        if lo < lo32 or hi > hi32:
            sat.hit = True
            np.clip(s, lo32, hi32, out=s)
        if lo < base0:
            np.maximum(s, base0, out=s)
        c = coef.take(bases.searchsorted(s, side="right") - 1, axis=0, mode="clip")
        y = s * c[:, 0]
        y += c[:, 1]
        y *= c[:, 2]
        np.floor(y, out=y)
        if not t_.never_clamps and (y.min() < -32768 or y.max() > 32767):
            sat.hit = True
            np.clip(y, -32768.0, 32767.0, out=y)
        out[t] = y
    return out.astype(np.int16)


# Layers up to this many cells run with the rows in the SIMD lanes (npg_dots_t); above, the row
# kernel's long rows amortize their sums and stream better (measured here: 128 faster in lanes, 512 and 1024 not).
ROWS_IN_LANES = 256


def native_step(op, nv):
    n, k = op.input_shape
    m = op.outputs
    if k + m > CHUNK_BY_BATCH[0]:
        return None
    kp, mp = nv.padded(k), nv.padded(m)
    # a small layer's rows are too short to pay for a horizontal sum each: rows in the lanes
    lanes = m <= ROWS_IN_LANES
    layout = nv.pairs_by_row if lanes else nv.pad_rows
    wx = nv.cached(op, f"wx{lanes}", op.weights, lambda: layout(op.weights[:, :k], kp))
    wf = nv.cached(op, f"wf{lanes}", op.weights, lambda: layout(op.weights[:, k:], mp))
    state = np.ascontiguousarray(np.zeros((op.delay, m), np.int16) if op.initial_state is None
                                 else op.initial_state, np.int16)
    return nv.ChainStep(dict(kind=3, m=m, k=k, kpad=kp, n=n, w8=int(op.weights.dtype == np.int8), mpad=mp,
                             delay=op.delay, w=nv.ptr(wx, "void *"), wf=nv.ptr(wf, "int16_t *"),
                             rows_t=wf.shape[1] if lanes else 0,
                             state=nv.ptr(state, "int16_t *"), bias=nv.ptr(op.bias, "int32_t *"),
                             mult=nv.ptr(op.multiplier, "uint8_t *"), pwl=nv.pwl_of(op.pwl)),
                        [wx, wf, state, op.bias, op.multiplier], s16=2 * n * kp + nv.split_slack() + 2 * mp, s64=2 * n * mp + 2 * mp)


def output_buffer(op, arena, nbytes):
    """The library reads the feedback rows from just before the output buffer: the initial state
    goes there."""
    state = np.zeros((op.delay, op.outputs), np.int16) if op.initial_state is None else op.initial_state
    pre = arena.place(state.nbytes + nbytes, state.tobytes() + bytes(nbytes))
    return pre + state.nbytes


def libgna(op, d):
    operands = rules.weights_and_bias(op, d)
    if op.pwl is not None:
        operands.append(d.pwl(op.pwl))
    return operands, [d.scalar("uint32_t *", op.delay)]


def _random(rng):
    n = int(rng.integers(1, 9))
    k, m = 8 * int(rng.integers(1, 40)), 32 * int(rng.integers(1, 5))
    int8 = rng.random() < 0.4
    style = rng.choice(["small", "full"])
    op = Recurrent(weights=sampling.values(rng, (m, k + m), np.int8 if int8 else np.int16, style),
                   bias=sampling.values(rng, (m,), np.int32, "small"), pwl=sampling.random_pwl(rng), batch=n,
                   delay=int(rng.integers(1, n + 1)), multiplier=rng.integers(0, 256, size=m) if int8 else None,
                   initial_state=None if rng.random() < 0.5 else rng.integers(-32768, 32768, size=(1, m)))
    if op.initial_state is not None:
        op.initial_state = rng.integers(-32768, 32768, size=(op.delay, m)).astype(np.int16)
    return GnaModel([op]), sampling.values(rng, (n, k), np.int16, style)


def _probe(pm):
    return GnaModel([Recurrent(np.zeros((pm.M, pm.K + pm.M), probing.weights_dtype(pm)), np.zeros(pm.M, np.int32),
                               probing.member_pwl(pm) or probing.pwl(2), pm.N, 1, probing.multiplier(pm, pm.M))])


def _raw(pm, r):
    ods = [r.RawOperand((pm.N, pm.K), r.dt[pm.in_type]),
           r.RawOperand((pm.N, pm.M), r.dt[probing.I16], offset=2 * pm.M),  # one row of feedback before it
           r.RawOperand((pm.M, pm.K + pm.M), r.dt[pm.w_type]), r.RawOperand((pm.M,), r.bias),
           r.pwl or r.RawOperand((2,), r.pwl_code)]
    return [r.RawOperation(6, ods, [("u32", 1)])]


_RNN = probing.ProbeModel("rnn", M=32, segments=2)
PROBES = probing.Probes(
    families={"rnn": probing.Family(_probe, _raw)},
    dims=[probing.DimProbe("Recurrent inputs K", _RNN, "K", 8, 8, 1 << 20, MAX_ELEMENTS),
          probing.DimProbe("Recurrent outputs M", _RNN, "M", 32, 32, 1 << 16, 65504)],
    acceptance=[("Recurrent", _RNN)])


register(OpSpec(Recurrent, check, emulate, libgna, libgna_type=6, native_step=native_step, macs=lambda op: op.weights.size * op.batch,
                output_buffer=output_buffer, extra_bytes=lambda op: 64 + 2 * op.delay * op.outputs,
                random_cases={"recurrent": _random},
                probes=PROBES))
