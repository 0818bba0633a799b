"""The Pin's dynamics, threshold and margin, chosen on a validation stream only (docs/routing.md).

For every (η, μ) the Mind's trajectory and its facet cosines are computed once; for every margin
the threshold is raised as far as the in-scope rejection budget allows (out-of-scope
conversations are what a higher threshold turns away), where the budget is met by the one-sided
95 % upper bound of the validation rejection, not the measured rate alone, so that it holds on
unseen conversations too. Among these candidates the one with the fewest false fires per episode
wins. Good candidates often make no mistake at all on validation, so ties go next to the fewest
false fires under a loosened rule (threshold and margin lowered by a slack): a design whose
validation record only just holds is fragile on unseen conversations. Further ties go to more
out-of-scope rejection, less in-scope rejection, and the larger margin. Threshold feedback is
replayed exactly as deployment gives it (+1 for a right fire, −1 for a wrong one).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .episodes import Stream, episode_metrics, rejection_upper_bound
from .pin_float import PinConfigFloat, cosine_scores, mind_trajectory, rank_scores, replay, unit_rows

DYNAMICS = ((0.2, 0.0), (0.3, 0.0), (0.4, 0.0), (0.5, 0.0), (0.7, 0.0), (1.0, 0.0), (0.3, 0.2))
MARGINS = (0.0, 0.02, 0.04, 0.08, 0.12, 0.16, 0.2)
THRESHOLDS = tuple(np.round(np.arange(0.0, 0.951, 0.025), 3))
HYSTERESIS = 0.05
GAIN = 0.1               # feedback moves a threshold 10 % of the way to its bound
THRESHOLD_HEADROOM = 0.25  # feedback may raise a threshold this far above the validated one
REJECTION_BUDGET = 0.05
SLACK = (0.05, 0.04)     # (threshold, margin) lowered by this much for the robustness tie-break


@dataclass
class PinDesign:
    eta: float
    mu: float
    threshold: float
    margin: float
    hysteresis: float = HYSTERESIS
    gain: float = GAIN
    val: dict = field(default_factory=dict)      # validation metrics of the choice
    sweep: list = field(default_factory=list)    # (eta, mu, margin, threshold, rejection, oos recall, false fires)

    def config(self, facets: np.ndarray, tool=None, slots: int = 4, min_norm: float = 0.0) -> PinConfigFloat:
        k = len(facets)
        return PinConfigFloat(
            facets=np.asarray(facets, dtype=np.float64), thresholds=np.full(k, self.threshold),
            tool=np.arange(k) if tool is None else np.asarray(tool), eta=self.eta, mu=self.mu,
            threshold_gain=self.gain, threshold_min=self.threshold,
            threshold_max=min(0.95, self.threshold + THRESHOLD_HEADROOM), hysteresis=self.hysteresis,
            margin=self.margin, min_norm=min_norm, slots=slots)


def replay_stream(cfg: PinConfigFloat, stream: Stream, scores=None, norms=None, ranked=None) -> np.ndarray:
    """The float Pin's decisions on `stream`, with truthful feedback after every fire."""
    if scores is None:
        scores, norms = cosine_scores(mind_trajectory(stream.x, cfg.eta, cfg.mu), unit_rows(cfg.facets))
    truth = stream.step_truth
    return replay(cfg, scores, norms, lambda t, k: truth[t] == k, ranked)


def tune_pin(facets: np.ndarray, val: Stream, *, dynamics=DYNAMICS, margins=MARGINS, thresholds=THRESHOLDS,
             budget: float = REJECTION_BUDGET, progress=lambda n: None) -> PinDesign:
    facets_unit = unit_rows(facets)
    n_in = int(np.sum(val.truth >= 0))
    best, sweep = None, []
    for eta, mu in dynamics:
        scores, norms = cosine_scores(mind_trajectory(val.x, eta, mu), facets_unit)
        ranked = rank_scores(scores)
        for margin in margins:
            chosen = _largest_feasible_threshold(PinDesign(eta, mu, 0.0, float(margin)), facets, val,
                                                 (scores, norms, ranked), thresholds, budget, n_in)
            progress(1)
            if chosen is None:
                continue
            m = chosen.val
            loose = replace(chosen, threshold=max(chosen.threshold - SLACK[0], 0.0), margin=max(margin - SLACK[1], 0.0))
            fragile = episode_metrics(val, replay_stream(loose.config(facets), val, scores, norms, ranked))
            sweep.append((eta, mu, margin, chosen.threshold, m["in_scope_rejection"], m["oos_recall"],
                          m["false_fires_per_episode"]))
            oos = 0.0 if np.isnan(m["oos_recall"]) else m["oos_recall"]
            key = (round(m["false_fires_per_episode"], 6), round(fragile["false_fires_per_episode"], 6), -oos,
                   m["in_scope_rejection"], -margin)
            if best is None or key < best[0]:
                best = (key, chosen)
    if best is None:
        raise ValueError(f"no threshold keeps the validation in-scope rejection within {budget:.0%}: "
                         "the facets do not separate the labels")
    best[1].sweep = sweep
    return best[1]


def _largest_feasible_threshold(base: PinDesign, facets, val: Stream, replayed, thresholds, budget: float,
                                n_in: int) -> PinDesign | None:
    """The largest threshold of the grid whose rejection bound meets the budget. Rejection need not
    grow with the threshold at the low end (a fired facet re-arms only under threshold -
    hysteresis), so every fourth threshold is tried first, then the finer steps above the largest
    feasible one until the bound fails."""
    def trial(thr):
        d = replace(base, threshold=float(thr))
        m = episode_metrics(val, replay_stream(d.config(facets), val, *replayed))
        return replace(d, val=m) if rejection_upper_bound(m["in_scope_rejection"], n_in) <= budget else None

    coarse = list(range(0, len(thresholds), 4))
    best = None
    for i in coarse:
        found = trial(thresholds[i])
        if found is not None:
            best = (i, found)
    if best is None:
        return None
    i, chosen = best
    for j in range(i + 1, min(i + 4, len(thresholds))):
        found = trial(thresholds[j])
        if found is None:
            break
        chosen = found
    return chosen


def tune_steps(dynamics=DYNAMICS, margins=MARGINS) -> int:
    """Progress units of one tune_pin call."""
    return len(dynamics) * len(margins)
