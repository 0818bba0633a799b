"""Scripted intent streams for demos and decision reports: episodes of noisy observations around
one facet's direction, with switches between intents."""
from __future__ import annotations

import numpy as np


def intent_episodes(facets: np.ndarray, episodes: int, length: int, noise: float, seed: int,
                    amplitude: float = 1.0):
    """Return (stream (N, D) float, intent per row). Rows are amplitude·unit(facet) + noise."""
    rng = np.random.default_rng(seed)
    f = np.asarray(facets, dtype=np.float64)
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    d = f.shape[1]
    rows, labels = [], []
    k = int(rng.integers(0, len(f)))
    for _ in range(episodes):
        for _ in range(length):
            rows.append(amplitude * unit[k] + rng.normal(0, noise / np.sqrt(d), d))
            labels.append(k)
        k = int((k + rng.integers(1, len(f))) % len(f)) if len(f) > 1 else k
    return np.stack(rows), np.asarray(labels)
