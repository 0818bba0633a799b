"""Random GNA 2.0 models and inputs for conformance: every operation, both weight widths, batch
sizes 1..8, and data pushed to the saturation edges (accumulator chunks that overflow and come
back, PWL inputs across the whole int32 range)."""
from __future__ import annotations

import numpy as np

from .ir import (CHUNK_BY_BATCH, Convolution, Copy, ElementWiseAffine, FullyConnectedAffine, GnaModel, Pwl,
                 Recurrent, Transposition)

KINDS = ("affine", "affine_int8", "affine_grouping", "diagonal", "convolution", "conv_pool", "recurrent",
         "copy", "transposition", "chain", "chunk_edge")


def _values(rng, shape, dtype, style):
    info = np.iinfo(dtype)
    if style == "small":
        hi = min(info.max, 300)
        return rng.integers(-hi, hi + 1, size=shape).astype(dtype)
    if style == "extreme":
        return rng.choice(np.array([info.min, info.max, info.min + 1, -1, 0, 1, info.max - 1], dtype=dtype), size=shape)
    return rng.integers(info.min, info.max + 1, size=shape, dtype=np.int64).astype(dtype)


def random_pwl(rng, segments: int | None = None, span: str | None = None) -> Pwl:
    n = int(segments or rng.integers(2, 129))
    span = span or rng.choice(["wide", "narrow", "even"])
    if span == "narrow":
        lo = int(rng.integers(-(1 << 20), 1 << 20))
        bases = lo + 4 * np.cumsum(rng.integers(1, 64, size=n))
    elif span == "even":
        step = int(rng.integers(1, (1 << 31) // n // 4)) * 4
        bases = -(n // 2) * step + step * np.arange(n)
    else:
        bases = np.sort(rng.integers(-(1 << 29), 1 << 29, size=n)) * 4  # duplicates are dropped below
    bases = np.clip(bases, -(1 << 31), (1 << 31) - 4).astype(np.int64)
    bases = np.unique(bases & ~3)
    while len(bases) < 2:
        bases = np.array([-4, 0], dtype=np.int64)
    codes = rng.integers(0, 4, size=len(bases))
    return Pwl(x_base=(bases | codes).astype(np.int32), y_base=rng.integers(-32768, 32768, size=len(bases)),
               slope=rng.integers(-32768, 32768, size=len(bases)))


def _maybe_pwl(rng, p=0.6):
    return random_pwl(rng) if rng.random() < p else None


def _affine(rng, int8=False, grouping=False, style=None):
    n = int(rng.integers(1, 9))
    k = 8 * int(rng.integers(1, 160 if rng.random() < 0.8 else 520))
    m = 8 * int(rng.integers(1, 20)) if grouping else int(rng.integers(1, 130))
    style = style or rng.choice(["small", "full", "extreme"])
    w = _values(rng, (m, k), np.int8 if int8 else np.int16, style)
    bias = _values(rng, (m, int(rng.integers(1, 9))) if grouping else (m,), np.int32, rng.choice(["full", "extreme", "small"]))
    op = FullyConnectedAffine(weights=w, bias=bias, batch=n, pwl=_maybe_pwl(rng),
                              multiplier=rng.integers(0, 256, size=m) if int8 else None,
                              bias_index=int(rng.integers(0, bias.shape[1])) if grouping else None)
    x = _values(rng, (k, n), np.int16, style)
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
    op = FullyConnectedAffine(weights=w, bias=np.zeros(m, np.int32), batch=n, pwl=_maybe_pwl(rng, 0.3))
    return GnaModel([op]), x


def chunk_boundary_case(batch: int, rows: int = 3) -> tuple[GnaModel, np.ndarray]:
    """A case whose answer pins batch `batch`'s chunk length c exactly: c products of 32767·32767
    overflow int32 upwards (clamped to INT32_MAX at the chunk's end, the bias included, so every row
    ends alike), then two of −32767·32767 bring the sum down to 131,069 — unsaturated. With the
    boundary 8 inputs earlier or later (or anywhere else) the negatives fall in a chunk that still
    clamps, and the answer is INT32_MAX."""
    c = CHUNK_BY_BATCH[batch - 1]
    w = np.zeros((rows, c + 8), np.int16)
    w[:, :c] = 32767
    w[:, c:c + 2] = -32767
    x = np.full((c + 8, batch), 32767, np.int16)
    bias = (1000 * np.arange(rows)).astype(np.int32)
    return GnaModel([FullyConnectedAffine(weights=w, bias=bias, batch=batch)]), x


def _diagonal(rng):
    n, m = int(rng.integers(1, 9)), 8 * int(rng.integers(1, 64))
    int8 = rng.random() < 0.5
    style = rng.choice(["small", "full", "extreme"])
    op = ElementWiseAffine(weights=_values(rng, (m,), np.int8 if int8 else np.int16, style),
                           bias=_values(rng, (m,), np.int32, style), batch=n, pwl=_maybe_pwl(rng),
                           multiplier=rng.integers(0, 256, size=m) if int8 else None)
    return GnaModel([op]), _values(rng, (m, n), np.int16, style)


def _convolution(rng, pool=False):
    c = 8 * int(rng.integers(1, 13 if rng.random() < 0.9 else 97))
    f = 4 * int(rng.integers(1, 9))
    stride = int(rng.integers(1, min(c, 16) + 1))
    w_in = max(c, 8 * int(rng.integers(c // 8, c // 8 + 64)))
    style = rng.choice(["small", "full", "extreme"])
    op = Convolution(filters=_values(rng, (f, c), np.int16, style), bias=_values(rng, (f,), np.int32, style),
                     input_width=w_in, stride=stride, pwl=random_pwl(rng) if pool else _maybe_pwl(rng),
                     pooling=rng.choice(["max", "sum"]) if pool else None,
                     pool_window=int(rng.integers(1, 7)), pool_stride=int(rng.integers(1, 7)))
    return GnaModel([op]), _values(rng, (1, w_in), np.int16, style)


def _recurrent(rng):
    n = int(rng.integers(1, 9))
    k, m = 8 * int(rng.integers(1, 40)), 32 * int(rng.integers(1, 5))
    int8 = rng.random() < 0.4
    style = rng.choice(["small", "full"])
    op = Recurrent(weights=_values(rng, (m, k + m), np.int8 if int8 else np.int16, style),
                   bias=_values(rng, (m,), np.int32, "small"), pwl=random_pwl(rng), batch=n,
                   delay=int(rng.integers(1, n + 1)), multiplier=rng.integers(0, 256, size=m) if int8 else None,
                   initial_state=None if rng.random() < 0.5 else rng.integers(-32768, 32768, size=(1, m)))
    if op.initial_state is not None:
        op.initial_state = rng.integers(-32768, 32768, size=(op.delay, m)).astype(np.int16)
    return GnaModel([op]), _values(rng, (n, k), np.int16, style)


def _copy(rng):
    hi, ho = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    wi, wo = 8 * int(rng.integers(1, 64)), 8 * int(rng.integers(1, 64))
    op = Copy(in_shape=(hi, wi), out_shape=(ho, wo), rows=int(rng.integers(1, min(hi, ho) + 1)),
              cols=8 * int(rng.integers(1, min(wi, wo) // 8 + 1)))
    return GnaModel([op]), _values(rng, (hi, wi), np.int16, "full")


def _transposition(rng):
    a, b = int(rng.integers(1, 9)), 8 * int(rng.integers(1, 128))
    shape = (a, b) if rng.random() < 0.5 else (b, a)
    return GnaModel([Transposition(shape=shape)]), _values(rng, shape, np.int16, "full")


def _chain(rng):
    """Affine -> diagonal (FiLM) -> transposition -> copy: buffers handed from layer to layer."""
    n, k, m = int(rng.integers(1, 9)), 8 * int(rng.integers(1, 40)), 8 * int(rng.integers(1, 16))
    l1 = FullyConnectedAffine(weights=_values(rng, (m, k), np.int16, "small"),
                              bias=_values(rng, (m,), np.int32, "small"), batch=n, pwl=random_pwl(rng, span="even"))
    l2 = ElementWiseAffine(weights=_values(rng, (m,), np.int16, "full"), bias=_values(rng, (m,), np.int32, "full"),
                           batch=n, pwl=random_pwl(rng))
    l3 = Transposition(shape=(m, n))
    l4 = Copy(in_shape=(n, m), out_shape=(n, m), rows=n, cols=m)
    return GnaModel([l1, l2, l3, l4]), _values(rng, (k, n), np.int16, "full")


def random_case(rng: np.random.Generator, kind: str | None = None) -> tuple[str, GnaModel, np.ndarray]:
    kind = kind or str(rng.choice(KINDS))
    make = {"affine": lambda: _affine(rng), "affine_int8": lambda: _affine(rng, int8=True),
            "affine_grouping": lambda: _affine(rng, int8=rng.random() < 0.5, grouping=True),
            "diagonal": lambda: _diagonal(rng), "convolution": lambda: _convolution(rng),
            "conv_pool": lambda: _convolution(rng, pool=True), "recurrent": lambda: _recurrent(rng),
            "copy": lambda: _copy(rng), "transposition": lambda: _transposition(rng), "chain": lambda: _chain(rng),
            "chunk_edge": lambda: _chunk_edge(rng)}[kind]
    model, x = make()
    model.check()
    return kind, model, x
