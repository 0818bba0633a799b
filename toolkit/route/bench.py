"""Route real intents: the Neural Pin (float and fixed) against three baselines on the same MiniLM
embeddings, over scripted streams of utterances (docs/routing.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.host_twin import FASTEST, HostTwin
from quant.pin_fixed import FIRED
from quant.pin_float import PinConfigFloat, PinFloat
from quant.pin_quantize import calibrate_input_scale, quantize_pin

from .data import IntentData

PIN_DIMS = 512          # MiniLM's 384 dimensions, zero-padded: cosines are unchanged
EPISODE = 5             # utterances per episode
OOS_SHARE = 0.15
IN_SCOPE_REJECTION = 0.05
SWEEP = np.round(np.arange(-0.30, 0.31, 0.02), 2)  # threshold offsets tried on validation


def pad(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.zeros((len(x), PIN_DIMS - x.shape[1]), x.dtype)], axis=1)


@dataclass
class Task:
    name: str
    labels: list[str]
    X: dict           # split -> (n, 384) in-scope embeddings
    y: dict           # split -> (n,) label index
    oos: dict         # split -> (n, 384)


def make_task(data: IntentData, emb: dict, name: str, seed: int = 0) -> Task:
    """'domains': CLINC's 10 domains as facets; 'intents16': 16 intents of the two money domains
    (banking, credit cards: close neighbours, the hard case); 'intents': every label."""
    def label_of(intent):
        return data.domains.get(intent, intent) if name == "domains" else intent

    intents = sorted({lab for _, lab in data.in_scope("train")})
    if name == "intents16":
        money = [i for i in intents if data.domains.get(i) in ("banking", "credit_cards")] or intents
        keep = set(np.random.default_rng(seed).choice(money, 16, replace=False))
    else:
        keep = set(intents)
    labels = sorted({label_of(i) for i in keep})
    X, y, oos = {}, {}, {}
    for split in ("train", "val", "test"):
        rows = [(t, label_of(lab)) for t, lab in data.in_scope(split) if lab in keep]
        X[split] = np.stack([emb[t] for t, _ in rows])
        y[split] = np.array([labels.index(lab) for _, lab in rows])
        oos[split] = np.stack([emb[t] for t in data.oos(split)]) if data.oos(split) else np.zeros((0, 384), np.float32)
    return Task(name, labels, X, y, oos)


@dataclass
class Stream:
    x: np.ndarray          # (steps, 384)
    episode: np.ndarray    # (steps,) episode index
    truth: np.ndarray      # (episodes,) label index, -1 for out-of-scope


def make_stream(task: Task, split: str, episodes: int, seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    by_label = [np.flatnonzero(task.y[split] == k) for k in range(len(task.labels))]
    xs, ep, truth = [], [], []
    for e in range(episodes):
        if len(task.oos[split]) >= EPISODE and rng.random() < OOS_SHARE:
            idx = rng.choice(len(task.oos[split]), EPISODE, replace=False)
            xs.append(task.oos[split][idx])
            truth.append(-1)
        else:
            prev = truth[-1] if truth else -1  # every in-scope episode switches intent
            k = int(rng.integers(len(task.labels) - (prev >= 0)))
            k = k + (prev >= 0 and k >= prev)
            idx = rng.choice(by_label[k], EPISODE, replace=len(by_label[k]) < EPISODE)
            xs.append(task.X[split][idx])
            truth.append(k)
        ep += [e] * EPISODE
    return Stream(np.concatenate(xs), np.array(ep), np.array(truth))


# -- methods: each returns the decision per step (label index, or -1 for none) ------------------

class Method:
    name = ""

    def fit(self, task: Task) -> None: ...

    def decide(self, stream: Stream, offset: float) -> np.ndarray: ...


def _per_class_quantile(scores: np.ndarray, y: np.ndarray, k: int, q: float = 0.1) -> np.ndarray:
    return np.array([np.quantile(scores[y == c, c], q) if np.any(y == c) else 0.5 for c in range(k)])


class NearestCentroid(Method):
    name = "nearest centroid"

    def fit(self, task):
        c = np.stack([task.X["train"][task.y["train"] == k].mean(0) for k in range(len(task.labels))])
        self.c = c / np.linalg.norm(c, axis=1, keepdims=True)
        self.thr = _per_class_quantile(task.X["val"] @ self.c.T, task.y["val"], len(self.c))

    def decide(self, stream, offset):
        s = stream.x @ self.c.T
        best = s.argmax(1)
        return np.where(s[np.arange(len(s)), best] >= self.thr[best] + offset, best, -1)


class SemanticRouterRule(Method):
    """semantic-router's rule: cosine to every route utterance, the top 5 summed per route, a
    per-route threshold."""
    name = "semantic-router (top-5 sum)"
    TOP = 5

    def fit(self, task):
        self.U, self.uy = task.X["train"], task.y["train"]
        self.k = len(task.labels)
        self.thr = _per_class_quantile(self._scores(task.X["val"]), task.y["val"], self.k)

    def _scores(self, x):
        s = x @ self.U.T
        out = np.empty((len(x), self.k))
        for c in range(self.k):
            sc = s[:, self.uy == c]
            top = np.partition(sc, -min(self.TOP, sc.shape[1]), axis=1)[:, -self.TOP:]
            out[:, c] = top.sum(1)
        return out

    def decide(self, stream, offset):
        s = self._scores(stream.x)
        best = s.argmax(1)
        return np.where(s[np.arange(len(s)), best] >= self.thr[best] + offset * self.TOP, best, -1)


class LogisticRegression(Method):
    """Softmax regression (L2, full-batch gradient descent), rejecting below a probability."""
    name = "logistic regression"

    def fit(self, task, epochs: int = 300, lr: float = 2.0, l2: float = 1e-4):
        x, y = task.X["train"].astype(np.float64), task.y["train"]
        k = len(task.labels)
        self.W, self.b = np.zeros((x.shape[1], k)), np.zeros(k)
        onehot = np.eye(k)[y]
        for _ in range(epochs):
            p = self._softmax(x @ self.W + self.b)
            g = (p - onehot) / len(x)
            self.W -= lr * (x.T @ g + l2 * self.W)
            self.b -= lr * g.sum(0)
        p = self._softmax(task.X["val"] @ self.W + self.b)
        self.thr = float(np.quantile(p.max(1), 0.1))

    @staticmethod
    def _softmax(z):
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def decide(self, stream, offset):
        p = self._softmax(stream.x @ self.W + self.b)
        best = p.argmax(1)
        return np.where(p.max(1) >= min(0.999, self.thr + offset), best, -1)


class NeuralPin(Method):
    """The Pin over the stream: facets are the class centroids, thresholds and the Mind's dynamics
    (eta, mu) from validation; after each fire the tool's result says whether it was right
    (feedback +1 / -1)."""
    DYNAMICS = ((0.35, 0.35), (0.6, 0.2), (0.8, 0.1))

    def __init__(self, fixed: bool, dynamics: tuple[float, float] | None = None):
        self.fixed = fixed
        self.dynamics = dynamics
        self.name = "Neural Pin (fixed Q15, C host twin)" if fixed else "Neural Pin (float)"

    def fit(self, task):
        c = np.stack([task.X["train"][task.y["train"] == k].mean(0) for k in range(len(task.labels))])
        self.c = pad(c / np.linalg.norm(c, axis=1, keepdims=True))
        # per-facet threshold: the 20th percentile of the validation utterances' cosine, plus 0.1
        self.base_thr = np.clip(_per_class_quantile(pad(task.X["val"]) @ self.c.T, task.y["val"], len(c), 0.2) + 0.1,
                                0.2, 0.9)
        self.scale = calibrate_input_scale(pad(task.X["train"]))
        if self.dynamics is None:  # the float model picks on validation; the fixed one is given the same
            val = make_stream(task, "val", 200, 11)
            best = None
            for dyn in self.DYNAMICS:
                self.dynamics = dyn
                off, _ = pick_offset(self, val)
                acc = episode_metrics(val, self.decide(val, off))["episode_accuracy"]
                if best is None or acc > best[0]:
                    best = (acc, dyn)
            self.dynamics = best[1]

    def config(self, offset):
        thr = np.clip(self.base_thr + offset, 0.11, 0.94)
        eta, mu = self.dynamics
        return PinConfigFloat(facets=self.c, thresholds=thr, tool=np.arange(len(self.c)), eta=eta, mu=mu,
                              threshold_gain=0.05, threshold_min=0.1, threshold_max=0.95, hysteresis=0.1,
                              slots=8)

    def decide(self, stream, offset, truth_feedback=True):
        cfg = self.config(offset)
        x = pad(stream.x)
        out = np.full(len(x), -1)
        if self.fixed:
            params = quantize_pin(cfg, self.scale)
            twin = HostTwin(params, FASTEST)
            xq = self.scale.quantize(x).astype(np.int16)
            for i in range(len(x)):
                twin.push(xq[i])
                status, ev = twin.step()
                if status == FIRED:
                    out[i] = ev.facet
                    if truth_feedback:
                        twin.feedback(ev.facet, 1 if stream.truth[stream.episode[i]] == ev.facet else -1)
        else:
            pin = PinFloat(cfg)
            for i in range(len(x)):
                f = pin.consume(x[i])
                if f is not None:
                    out[i] = f
                    if truth_feedback:
                        pin.feedback(f, 1 if stream.truth[stream.episode[i]] == f else -1)
        return out


# -- metrics ------------------------------------------------------------------------------------

def episode_metrics(stream: Stream, decisions: np.ndarray) -> dict:
    n_ep = len(stream.truth)
    first_correct, rejected_in, rejected_oos, false_fires, first_dec_ok, decided = [], 0, 0, 0, 0, 0
    correct_decisions = total_decisions = 0
    switch_delay = []
    for e in range(n_ep):
        d = decisions[stream.episode == e]
        made = d[d >= 0]
        truth = stream.truth[e]
        if truth < 0:
            rejected_oos += len(made) == 0
            false_fires += len(made)
            continue
        total_decisions += len(made)
        correct_decisions += int(np.sum(made == truth))
        false_fires += int(np.sum(made != truth))
        if len(made) == 0:
            rejected_in += 1
            continue
        decided += 1
        first_dec_ok += made[0] == truth
        hit = np.flatnonzero(d == truth)
        if len(hit):
            first_correct.append(int(hit[0]) + 1)
            if e > 0 and stream.truth[e - 1] >= 0 and stream.truth[e - 1] != truth:
                switch_delay.append(int(hit[0]) + 1)
    n_in = int(np.sum(stream.truth >= 0))
    n_oos = n_ep - n_in
    return {
        "decision_accuracy": correct_decisions / max(total_decisions, 1),
        "episode_accuracy": first_dec_ok / max(decided, 1),
        "in_scope_rejection": rejected_in / max(n_in, 1),
        "oos_recall": rejected_oos / max(n_oos, 1) if n_oos else float("nan"),
        "updates_to_first_correct_median": float(np.median(first_correct)) if first_correct else float("nan"),
        "updates_to_first_correct_p90": float(np.percentile(first_correct, 90)) if first_correct else float("nan"),
        "false_fires_per_episode": false_fires / n_ep,
        "switch_delay_median": float(np.median(switch_delay)) if switch_delay else float("nan"),
        "episodes": n_ep,
    }


def pick_offset(method: Method, val_stream: Stream) -> tuple[float, list]:
    """The largest threshold offset whose in-scope rejection on validation stays within 5 %
    (higher thresholds reject more out-of-scope streams); and the whole sweep for the plot."""
    sweep = []
    for off in SWEEP:
        m = episode_metrics(val_stream, method.decide(val_stream, float(off)))
        sweep.append((float(off), m["in_scope_rejection"], m["oos_recall"]))
    ok = [off for off, rej, _ in sweep if rej <= IN_SCOPE_REJECTION]
    return (max(ok) if ok else float(SWEEP[0])), sweep


def fixed_float_agreement(pin_float: NeuralPin, pin_fixed: NeuralPin, stream: Stream, offset: float) -> float:
    a = pin_float.decide(stream, offset)
    b = pin_fixed.decide(stream, offset)
    return float(np.mean(a == b))
