"""Convolution (2.0's legacy 1D CNN): one input channel of W samples, F filters of C taps, stride s;
optional max or sum pooling over the positions; output [positions, F]."""
from __future__ import annotations

import numpy as np

from ..arith import I32_MAX, I32_MIN, as_f64, pwl_apply
from ..ir import CNN_FILTER_SIZE, CNN_FILTERS, CNN_POOL, CNN_SCRATCH_BYTES, MAX_ELEMENTS, GnaModel, Convolution, GnaModelError
from ..libgna_abi import DT_INT16, DT_INT32, POOLING
from . import OpSpec, probing, register, sampling, rules


def check(i, op):
    kind = op.kind
    rules.weight_type(i, kind, op.filters, (np.int16,))
    f, c = op.filters.shape
    rules.in_range(i, kind, "filter count F", f, *CNN_FILTERS, 4)
    rules.in_range(i, kind, "filter size C", c, *CNN_FILTER_SIZE, 8)
    rules.in_range(i, kind, "input width W", op.input_width, 8, MAX_ELEMENTS, 8)
    rules.in_range(i, kind, "stride", op.stride, 1, min(c, 768))
    if op.input_width < c:
        raise GnaModelError(i, kind, f"input width {op.input_width} is shorter than a filter ({c})")
    if op.bias.shape != (f,):
        raise GnaModelError(i, kind, f"bias must be one int32 per filter ([{f}])")
    if op.pooling not in (None, "max", "sum"):
        raise GnaModelError(i, kind, f"pooling '{op.pooling}' is not max or sum")
    if op.pooling:
        rules.in_range(i, kind, "pool window", op.pool_window, *CNN_POOL)
        rules.in_range(i, kind, "pool stride", op.pool_stride, *CNN_POOL)
        if op.pwl is None:
            raise GnaModelError(i, kind, "pooling needs a PWL activation on GNA 2.0")
    rules.in_range(i, kind, "output depth (filters)", f, 4, 65532, 4)


def emulate(op, x, sat):
    f, c = op.filters.shape
    x = x.reshape(-1).astype(np.int16)
    p = op.conv_positions
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), c)[::op.stride][:p]  # [P, C]
    raw = (windows @ as_f64(op, "filters").T).astype(np.int64) + op.bias.astype(np.int64)[None, :]  # [P, F]
    if op.pooling:
        # Window j covers conv positions [j*ps, min(j*ps + w, P)): pad past P with the identity of
        # the reduction so trailing windows are partial, as 2.0 computes them.
        ps, w = op.pool_stride, op.pool_window
        n_win = -(-p // ps)
        fill = np.iinfo(np.int64).min if op.pooling == "max" else 0
        padded = np.full((n_win * ps + w, f), fill, dtype=np.int64)
        padded[:p] = raw
        taps = np.stack([padded[j:j + n_win * ps:ps] for j in range(w)])
        raw = taps.max(axis=0) if op.pooling == "max" else taps.sum(axis=0)
    s = sat.clamp(raw, I32_MIN, I32_MAX)
    return pwl_apply(s, op.pwl, sat) if op.pwl is not None else s.astype(np.int32)


def native_step(op, nv):
    f, c = op.filters.shape
    cp = nv.padded(c)
    p = op.conv_positions
    filt = nv.cached(op, "filters_t", op.filters, lambda: nv.pairs_by_row(op.filters, cp))
    fp = filt.shape[1]
    return nv.ChainStep(dict(kind=4, m=f, fpad=fp, kpad=cp, k=op.input_width, n=p, stride=op.stride,
                             pooling={None: 0, "max": 1, "sum": 2}[op.pooling], pool_window=op.pool_window or 1,
                             pool_stride=op.pool_stride or 1, w=nv.ptr(filt, "void *"),
                             bias=nv.ptr(op.bias, "int32_t *"), pwl=nv.pwl_of(op.pwl)),
                        [filt, op.bias], s16=2 * ((p - 1) * op.stride + cp), s64=fp * p + f * op.positions)


def libgna(op, d):
    f, c = op.filters.shape
    w = d.place(op.filters.nbytes, op.filters.tobytes())
    b = d.place(op.bias.nbytes, op.bias.astype("<i4").tobytes())
    operands = [d.tensor((1, op.input_width), DT_INT16, d.input),
                d.tensor((1, op.positions, f), d.output_type, d.output, b"GNA1"),
                d.tensor((f, c), DT_INT16, w), d.tensor((f,), DT_INT32, b)]
    if op.pwl is not None:
        operands.append(d.pwl(op.pwl))
    params = [d.shape(op.stride)]
    if op.pooling:
        params += [d.scalar("int32_t *", 0), d.scalar("int32_t *", POOLING[op.pooling]), d.shape(op.pool_window),
                   d.shape(op.pool_stride)]
    return operands, params


def preflight(i, op):
    """libGNA 3.0 accepts, then overruns its 2 MiB scratch buffer and crashes, on a convolution
    with PWL and no pooling whose int32 intermediate is larger (found with npin gna probe)."""
    if op.pwl is not None and not op.pooling:
        need = op.conv_positions * op.filters.shape[0] * 4
        if need > CNN_SCRATCH_BYTES:
            raise GnaModelError(
                i, op.kind, f"convolution with PWL and no pooling needs {need} bytes of int32 scratch; "
                f"libGNA's buffer holds {CNN_SCRATCH_BYTES} and overruns (crashes) beyond it. "
                "Use fewer positions or filters, or pooling")


def _random(rng, pool=False):
    c = 8 * int(rng.integers(1, 13 if rng.random() < 0.9 else 97))
    f = 4 * int(rng.integers(1, 9))
    stride = int(rng.integers(1, min(c, 16) + 1))
    w_in = max(c, 8 * int(rng.integers(c // 8, c // 8 + 64)))
    style = rng.choice(["small", "full", "extreme"])
    op = Convolution(filters=sampling.values(rng, (f, c), np.int16, style), bias=sampling.values(rng, (f,), np.int32, style),
                     input_width=w_in, stride=stride, pwl=sampling.random_pwl(rng) if pool else sampling.maybe_pwl(rng),
                     pooling=rng.choice(["max", "sum"]) if pool else None,
                     pool_window=int(rng.integers(1, 7)), pool_stride=int(rng.integers(1, 7)))
    return GnaModel([op]), sampling.values(rng, (1, w_in), np.int16, style)


def _probe(pm):
    return GnaModel([Convolution(np.zeros((pm.F, pm.C), np.int16), np.zeros(pm.F, np.int32), pm.W, pm.stride,
                                 pm.pool, pm.pool_window, pm.pool_stride, probing.member_pwl(pm))])


def _probe_2d(pm):
    raise probing.Unrepresentable("2D convolution is not a GNA 2.0 operation")


def _raw(pm, r):
    positions = (pm.W - pm.C) // pm.stride + 1 if pm.W >= pm.C else 1
    if pm.pool:
        positions = -(-positions // pm.pool_stride)
    ods = [r.RawOperand((1, pm.W), r.dt[pm.in_type]), r.RawOperand((1, positions, pm.F), r.out, b"GNA1"),
           r.RawOperand((pm.F, pm.C), r.dt[probing.I16]), r.RawOperand((pm.F,), r.dt[probing.I32])] + ([r.pwl] if r.pwl else [])
    params = [("shape", (pm.stride,))]
    if pm.pool:
        params += [("i32", 0), ("i32", POOLING[pm.pool]), ("shape", (pm.pool_window,)), ("shape", (pm.pool_stride,))]
    return [r.RawOperation(1, ods, params)]


def _raw_2d(pm, r):
    """16 filters of 3x3x8 over a 16x16x8 input, stride 1, no padding: does the target take 2D?"""
    ods = [r.RawOperand((1, 16, 16, 8), r.dt[probing.I16]), r.RawOperand((1, 14, 14, 16), r.dt[probing.I32]),
           r.RawOperand((16, 3, 3, 8), r.dt[probing.I16]), r.RawOperand((16,), r.dt[probing.I32])]
    return [r.RawOperation(1, ods, [("shape", (1, 1)), ("i32", 0)])]


_CONV = probing.ProbeModel("conv")
_POOLED = probing.ProbeModel("conv", pool="max", segments=2)
PROBES = probing.Probes(
    families={"conv": probing.Family(_probe, _raw), "conv2d": probing.Family(_probe_2d, _raw_2d)},
    dims=[probing.DimProbe("Convolution filter count F", _CONV, "F", 4, 4, 1 << 18, CNN_FILTERS[1]),
          probing.DimProbe("Convolution filter size C", probing.ProbeModel("conv", C=8, W=8), "C", 8, 8, 4096,
                           CNN_FILTER_SIZE[1]),
          probing.DimProbe("Convolution input width W", _CONV, "W", 8, 8, 1 << 20, MAX_ELEMENTS),
          probing.DimProbe("Convolution stride", probing.ProbeModel("conv", C=768, W=1536), "stride", 1, 1, 4096, 768),
          probing.DimProbe("Convolution pool window", _POOLED, "pool_window", 1, 1, 64, CNN_POOL[1]),
          probing.DimProbe("Convolution pool stride", _POOLED, "pool_stride", 1, 1, 64, CNN_POOL[1])],
    acceptance=[("Convolution legacy 1D (GNA1)", _CONV),
                ("Convolution legacy 1D, max pooling",
                 probing.ProbeModel("conv", pool="max", segments=2, pool_window=2, pool_stride=2)),
                ("Convolution 2D", probing.ProbeModel("conv2d"))],
    crashes=[("Convolution with PWL, no pooling, 4 MiB of int32 scratch (W=65528, C=8, F=16)",
              probing.ProbeModel("conv", W=65528, C=8, F=16, segments=2))])


register(OpSpec(Convolution, check, emulate, libgna, libgna_type=1, native_step=native_step, macs=lambda op: op.filters.size * op.conv_positions,
                preflight=preflight,
                random_cases={"convolution": lambda rng: _random(rng), "conv_pool": lambda rng: _random(rng, pool=True)},
                probes=PROBES))
