"""Per-utterance routers on the same embeddings as the Pin: each decides every utterance on its
own, rejecting it below a threshold (docs/routing.md)."""
from __future__ import annotations

import numpy as np

from quant.episodes import Stream

from .tasks import Task


class Method:
    name = ""
    offset_scale = 1.0     # how a threshold offset maps onto this method's score

    def fit(self, task: Task) -> None: ...

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(n, K) per-utterance scores; the argmax is the method's best guess."""
        raise NotImplementedError

    def best_guess(self, stream: Stream) -> np.ndarray:
        return self.scores(stream.x).argmax(axis=1)

    def decide(self, stream: Stream, offset: float) -> np.ndarray:
        s = self.scores(stream.x)
        best = s.argmax(axis=1)
        top = s[np.arange(len(s)), best]
        return np.where(top >= self.thr[best] + offset * self.offset_scale, best, -1)


def per_class_quantile(scores: np.ndarray, y: np.ndarray, k: int, q: float = 0.1) -> np.ndarray:
    return np.array([np.quantile(scores[y == c, c], q) if np.any(y == c) else 0.5 for c in range(k)])


class NearestCentroid(Method):
    name = "nearest centroid"

    def fit(self, task):
        c = np.stack([task.X["train"][task.y["train"] == k].mean(0) for k in range(task.n_labels)])
        self.c = c / np.linalg.norm(c, axis=1, keepdims=True)
        self.thr = per_class_quantile(self.scores(task.X["val"]), task.y["val"], task.n_labels)

    def scores(self, x):
        return x @ self.c.T


class SemanticRouterRule(Method):
    """semantic-router's rule: cosine to every route utterance, the top 5 summed per route, a
    per-route threshold."""
    name = "semantic-router (top-5 sum)"
    TOP = 5
    offset_scale = TOP

    def fit(self, task):
        self.U, self.uy = task.X["train"], task.y["train"]
        self.k = task.n_labels
        self.thr = per_class_quantile(self.scores(task.X["val"]), task.y["val"], self.k)

    def scores(self, x):
        s = x @ self.U.T
        out = np.empty((len(x), self.k))
        for c in range(self.k):
            sc = s[:, self.uy == c]
            top = min(self.TOP, sc.shape[1])
            out[:, c] = np.partition(sc, -top, axis=1)[:, -top:].sum(1)
        return out


class LogisticRegression(Method):
    """Multinomial logistic regression (L-BFGS to convergence; the L2 weight chosen on validation
    accuracy), rejecting below a probability."""
    name = "logistic regression"
    L2 = (1e-5, 1e-4, 1e-3)

    def fit(self, task):
        x, y = task.X["train"].astype(np.float64), task.y["train"]
        best = None
        for l2 in self.L2:
            W, b = self._train(x, y, task.n_labels, l2)
            acc = float(np.mean((task.X["val"] @ W + b).argmax(1) == task.y["val"]))
            if best is None or acc > best[0]:
                best = (acc, W, b, l2)
        _, self.W, self.b, self.l2 = best
        p = self.scores(task.X["val"])
        self.thr = np.full(task.n_labels, float(np.quantile(p.max(1), 0.1)))

    @staticmethod
    def _train(x, y, k, l2, iterations=500):
        from scipy.optimize import minimize

        n, d = x.shape
        onehot = np.eye(k)[y]

        def loss_grad(w):
            W, b = w[:d * k].reshape(d, k), w[d * k:]
            z = x @ W + b
            z -= z.max(1, keepdims=True)
            e = np.exp(z)
            s = e.sum(1, keepdims=True)
            p = e / s
            loss = -np.sum(onehot * (z - np.log(s))) / n + 0.5 * l2 * np.sum(W * W)
            g = (p - onehot) / n
            return loss, np.concatenate([(x.T @ g + l2 * W).ravel(), g.sum(0)])

        res = minimize(loss_grad, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": iterations})
        return res.x[:d * k].reshape(d, k), res.x[d * k:]

    def scores(self, x):
        z = x @ self.W + self.b
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def decide(self, stream, offset):
        p = self.scores(stream.x)
        best = p.argmax(1)
        return np.where(p.max(1) >= min(0.999, self.thr[0] + offset), best, -1)


BASELINES = (NearestCentroid, SemanticRouterRule, LogisticRegression)
