"""Random GNA 2.0 models and inputs for conformance: every operation, both weight widths, batch
sizes 1..8, and data pushed to the saturation edges (accumulator chunks that overflow and come
back, PWL inputs across the whole int32 range)."""
from __future__ import annotations

import numpy as np

from .ir import CHUNK_BY_BATCH, Copy, ElementWiseAffine, FullyConnectedAffine, GnaModel, Transposition
from .ops import REGISTRY
from .ops.sampling import random_pwl, values

# The order fixes which case a seed draws; an operation's new kinds (its OpSpec.random_cases) follow.
_ORDER = ("affine", "affine_int8", "affine_grouping", "diagonal", "convolution", "conv_pool", "recurrent",
          "copy", "transposition", "chain", "chunk_edge")


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


def _chain(rng):
    """Affine -> diagonal (FiLM) -> transposition -> copy: buffers handed from layer to layer."""
    n, k, m = int(rng.integers(1, 9)), 8 * int(rng.integers(1, 40)), 8 * int(rng.integers(1, 16))
    l1 = FullyConnectedAffine(weights=values(rng, (m, k), np.int16, "small"),
                              bias=values(rng, (m,), np.int32, "small"), batch=n, pwl=random_pwl(rng, span="even"))
    l2 = ElementWiseAffine(weights=values(rng, (m,), np.int16, "full"), bias=values(rng, (m,), np.int32, "full"),
                           batch=n, pwl=random_pwl(rng))
    l3 = Transposition(shape=(m, n))
    l4 = Copy(in_shape=(n, m), out_shape=(n, m), rows=n, cols=m)
    return GnaModel([l1, l2, l3, l4]), values(rng, (k, n), np.int16, "full")


MAKERS = {kind: make for spec in REGISTRY.values() for kind, make in spec.random_cases.items()}
MAKERS["chain"] = _chain
KINDS = _ORDER + tuple(sorted(set(MAKERS) - set(_ORDER)))


def random_case(rng: np.random.Generator, kind: str | None = None) -> tuple[str, GnaModel, np.ndarray]:
    kind = kind or str(rng.choice(KINDS))
    model, x = MAKERS[kind](rng)
    model.check()
    return kind, model, x
