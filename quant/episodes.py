"""Conversations as the Pin sees them: streams of utterance vectors in episodes of one intent,
switching intent between episodes, with out-of-scope episodes mixed in; and what a router's
decisions on such a stream are worth (docs/routing.md). Pure numerics: arrays in, arrays out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPISODE = 5             # utterances per episode
OOS_SHARE = 0.15        # out-of-scope episodes, when out-of-scope utterances exist


@dataclass
class Stream:
    x: np.ndarray          # (steps, D) utterance vectors
    episode: np.ndarray    # (steps,) episode index
    truth: np.ndarray      # (episodes,) label index, -1 for out-of-scope

    @property
    def step_truth(self) -> np.ndarray:
        """The label of every step's episode (-1 out of scope)."""
        return self.truth[self.episode]


def make_stream(X: np.ndarray, y: np.ndarray, n_labels: int, oos: np.ndarray, episodes: int, seed: int,
                length: int = EPISODE, oos_share: float = OOS_SHARE) -> Stream:
    """`episodes` episodes of `length` utterances drawn from (X, y); every in-scope episode switches
    to another label, and a share of episodes are out of scope (drawn from `oos`) when there are
    at least `length` out-of-scope utterances."""
    rng = np.random.default_rng(seed)
    by_label = [np.flatnonzero(y == k) for k in range(n_labels)]
    xs, ep, truth = [], [], []
    for e in range(episodes):
        if len(oos) >= length and rng.random() < oos_share:
            xs.append(oos[rng.choice(len(oos), length, replace=False)])
            truth.append(-1)
        else:
            prev = truth[-1] if truth else -1
            k = int(rng.integers(n_labels - (prev >= 0)))
            k = k + (prev >= 0 and k >= prev)
            xs.append(X[rng.choice(by_label[k], length, replace=len(by_label[k]) < length)])
            truth.append(k)
        ep += [e] * length
    return Stream(np.concatenate(xs), np.array(ep), np.array(truth))


def episode_metrics(stream: Stream, decisions: np.ndarray, length: int = EPISODE) -> dict:
    """Decisions (label per step, -1 for none) scored per episode:

    - decision accuracy: correct decisions among all decisions in in-scope episodes;
    - episode accuracy: the first decision of a decided in-scope episode is its label;
    - in-scope rejection: in-scope episodes without any decision; OOS recall: out-of-scope
      episodes without any decision;
    - false fires per episode: wrong decisions in in-scope episodes plus any decision in
      out-of-scope ones, over all episodes;
    - updates to the first correct decision (median, p90), and the same for episodes that follow
      an episode of another label (switch delay);
    - answer after n: the latest decision made by utterance n is the episode's label (no decision
      counts as wrong), n = 1 .. length.
    """
    d = np.asarray(decisions)
    ep, truth = stream.episode, stream.truth
    n_ep, steps = len(truth), np.arange(len(d))
    start = np.searchsorted(ep, ep)                 # first step of each step's episode
    pos = steps - start
    t_step = truth[ep]
    made = d >= 0
    inscope = truth >= 0
    n_made = np.bincount(ep[made], minlength=n_ep)
    n_right = np.bincount(ep[made & (d == t_step)], minlength=n_ep)
    decided = inscope & (n_made > 0)
    first_step = np.full(n_ep, -1)
    e_made, i_first = np.unique(ep[made], return_index=True)
    first_step[e_made] = steps[made][i_first]
    first_ok = decided & (d[np.maximum(first_step, 0)] == truth)
    hit = made & (d == t_step)
    first_hit = np.full(n_ep, -1)
    e_hit, i_hit = np.unique(ep[hit], return_index=True)
    first_hit[e_hit] = pos[hit][i_hit] + 1
    ok_hit = inscope & (first_hit > 0)
    after_switch = np.zeros(n_ep, bool)
    after_switch[1:] = (truth[:-1] >= 0) & (truth[:-1] != truth[1:])
    switch = first_hit[ok_hit & after_switch]
    latest = np.maximum.accumulate(np.where(made, steps, -1))
    answer = np.where(latest >= start, d[np.maximum(latest, 0)], -1)
    answer_ok = [(answer == t_step)[(pos == n) & (t_step >= 0)].sum() for n in range(length)]
    n_in = int(inscope.sum())
    n_oos = n_ep - n_in
    total, correct = int(n_made[inscope].sum()), int(n_right[inscope].sum())
    first_correct = first_hit[ok_hit]
    return {
        "decision_accuracy": correct / max(total, 1),
        "episode_accuracy": float(first_ok.sum()) / max(int(decided.sum()), 1),
        "in_scope_rejection": int((inscope & (n_made == 0)).sum()) / max(n_in, 1),
        "oos_recall": int((~inscope & (n_made == 0)).sum()) / n_oos if n_oos else float("nan"),
        "updates_to_first_correct_median": float(np.median(first_correct)) if len(first_correct) else float("nan"),
        "updates_to_first_correct_p90": float(np.percentile(first_correct, 90)) if len(first_correct) else float("nan"),
        "false_fires_per_episode": (int(n_made[~inscope].sum()) + total - correct) / max(n_ep, 1),
        "switch_delay_median": float(np.median(switch)) if len(switch) else float("nan"),
        "answer_after_n": [float(a) / max(n_in, 1) for a in answer_ok],
        "episodes": n_ep,
        "in_scope_episodes": n_in,
    }


def rejection_upper_bound(rate: float, n: int, z: float = 1.645) -> float:
    """One-sided 95 % upper bound of a rejection rate measured on n episodes (normal approximation,
    with the variance floored so that a measured 0 still carries its uncertainty)."""
    p = min(max(rate, 0.5 / max(n, 1)), 1.0)
    return rate + z * float(np.sqrt(p * (1 - p) / max(n, 1)))
