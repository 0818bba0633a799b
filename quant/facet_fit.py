"""Facets trained for the decision the Pin makes (docs/routing.md).

The Pin fires the facet whose cosine with the Mind is largest, and the Mind is a moving average of
the conversation's vectors. So the facets are fitted as a cosine-softmax classifier — logits
`tau · cos(state, facet_k)`, cross-entropy — on two kinds of states from the training split:

* single utterances (the Mind right after a reset), and
* Mind states along training streams (`quant.episodes`), labelled with the episode they belong to
  once that episode carries at least half of the Mind's weight; across intent switches the Mind
  mixes two intents, and these states teach the facets to read such mixtures.

Out-of-scope states, when the training split has out-of-scope utterances, get a uniform target:
they pull every cosine together, which is what lets the Pin's lead rule refuse them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .episodes import Stream
from .pin_float import mind_trajectory

TAU = 20.0                 # logit scale of the cosine softmax
TRAJECTORY_ETAS = (0.3, 0.5)


@dataclass(frozen=True)
class FacetFit:
    facets: np.ndarray       # (K, D) unit rows
    states: int              # training states used
    iterations: int
    loss: float


def trajectory_states(stream: Stream, eta: float, mu: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mind states along `stream` and their labels (-1 out of scope); states where the current
    episode holds less than half of the Mind's weight are left out."""
    minds = mind_trajectory(stream.x, eta, mu)
    pos = np.arange(len(stream.x)) - np.searchsorted(stream.episode, stream.episode)  # index in episode
    own_weight = 1.0 - (1.0 - eta) ** (pos + 1)
    keep = own_weight >= 0.5
    return minds[keep], stream.step_truth[keep]


def fit_facets(X: np.ndarray, y: np.ndarray, n_labels: int, *, streams: list[Stream] = (),
               etas=TRAJECTORY_ETAS, tau: float = TAU, l2: float = 1e-3, iterations: int = 200) -> FacetFit:
    """Fit K = n_labels facets on utterances (X, y) plus Mind states along `streams`."""
    from scipy.optimize import minimize

    states, labels = [np.asarray(X, np.float64)], [np.asarray(y)]
    for stream in streams:
        for eta in etas:
            s, lab = trajectory_states(stream, eta)
            states.append(s)
            labels.append(lab)
    S = np.concatenate(states)
    lab = np.concatenate(labels)
    S = (S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    T = np.zeros((len(S), n_labels), np.float32)
    T[lab >= 0, lab[lab >= 0]] = 1.0
    T[lab < 0] = 1.0 / n_labels
    n, d = S.shape

    def loss_grad(w):
        W = w.reshape(n_labels, d)
        norm = np.linalg.norm(W, axis=1)
        Wh = (W / norm[:, None]).astype(np.float32)
        Z = tau * (S @ Wh.T)
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        sums = P.sum(axis=1, keepdims=True)
        P /= sums
        loss = -float(np.sum(T * (Z - np.log(sums)))) / n
        G = (tau / n) * ((P - T).T @ S).astype(np.float64)            # d loss / d unit rows
        GW = (G - np.sum(G * Wh, axis=1, keepdims=True) * Wh) / norm[:, None]
        loss += 0.5 * l2 * float(np.sum((norm - 1.0) ** 2))
        GW += l2 * ((norm - 1.0) / norm)[:, None] * W
        return loss, GW.ravel()

    w0 = np.stack([S[lab == k].mean(axis=0) if np.any(lab == k) else np.ones(d) for k in range(n_labels)])
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    res = minimize(loss_grad, w0.astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
                   options={"maxiter": iterations})
    W = res.x.reshape(n_labels, d)
    return FacetFit(W / np.linalg.norm(W, axis=1, keepdims=True), n, int(res.nit), float(res.fun))


def class_centroids(X: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """The plain class means, as unit rows (version 1's facets; kept for the ablation)."""
    c = np.stack([X[y == k].mean(axis=0) for k in range(n_labels)])
    return c / np.linalg.norm(c, axis=1, keepdims=True)
