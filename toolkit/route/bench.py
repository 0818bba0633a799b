"""Route real intents: the Neural Pin (float and fixed) against per-utterance baselines on the same
MiniLM embeddings, over streams of conversations (docs/routing.md)."""
from __future__ import annotations

import numpy as np

from quant.episodes import EPISODE, Stream, episode_metrics
from quant.facet_fit import class_centroids

from .baselines import BASELINES, Method
from .pin_router import NeuralPin, fit_steps, train_routing_pin
from .tasks import Task

VAL_EPISODES = 3000
IN_SCOPE_REJECTION = 0.05
SWEEP = np.round(np.arange(-0.30, 0.31, 0.02), 2)  # threshold offsets tried on validation (baselines)
ABLATIONS = ("no lead rule (M = 0)", "no integration (eta = 1, mu = 0)",
             "facets from utterances only", "class-mean facets (version 1's)")


def pick_offset(method: Method, val: Stream) -> tuple[float, list]:
    """Baselines: the largest threshold offset whose in-scope rejection on validation stays within
    5 % (higher thresholds reject more out-of-scope conversations); and the whole sweep."""
    sweep = []
    for off in SWEEP:
        m = episode_metrics(val, method.decide(val, float(off)))
        sweep.append((float(off), m["in_scope_rejection"], m["oos_recall"]))
    ok = [off for off, rej, _ in sweep if rej <= IN_SCOPE_REJECTION]
    return (max(ok) if ok else float(SWEEP[0])), sweep


def best_guess_after_n(method: Method, stream: Stream) -> list[float]:
    """Accuracy of the method's best guess (argmax, no threshold) at utterance n of an in-scope
    episode, n = 1 .. EPISODE: flat for a per-utterance classifier, rising for the Pin."""
    guess = method.best_guess(stream)
    truth = stream.step_truth
    pos = np.arange(len(truth)) - np.searchsorted(stream.episode, stream.episode)
    return [float(np.mean(guess[(pos == n) & (truth >= 0)] == truth[(pos == n) & (truth >= 0)]))
            for n in range(EPISODE)]


def ablation_steps(task: Task) -> int:
    return fit_steps(margins=(0.0,)) + fit_steps(dynamics=((1.0, 0.0),)) + 2 * fit_steps()


def run_ablation(task: Task, val: Stream, full, seed: int, progress) -> dict:
    """What each part of the design buys, on validation: each variant re-tuned without that part."""
    variants = {
        ABLATIONS[0]: dict(facets=full.fit.facets, margins=(0.0,)),
        ABLATIONS[1]: dict(facets=full.fit.facets, dynamics=((1.0, 0.0),)),
        ABLATIONS[2]: dict(trajectories=False),
        ABLATIONS[3]: dict(facets=class_centroids(task.X["train"], task.y["train"], task.n_labels)),
    }
    out = {"the design": _design_row(full.design)}
    for name, kw in variants.items():
        try:
            out[name] = _design_row(train_routing_pin(task, val, seed, progress, **kw).design)
        except ValueError as e:        # no threshold meets the budget: the variant cannot route
            out[name] = {"error": str(e)}
    return out


def _design_row(d) -> dict:
    return {**{k: d.val[k] for k in ("decision_accuracy", "episode_accuracy", "oos_recall", "in_scope_rejection",
                                     "false_fires_per_episode", "updates_to_first_correct_median")},
            "eta": d.eta, "mu": d.mu, "threshold": d.threshold, "margin": d.margin}


def task_steps(task: Task, ablation: bool) -> int:
    return fit_steps() + 2 + len(BASELINES) + (ablation_steps(task) if ablation else 0)


def run_task(task: Task, episodes: int, seed: int, progress=lambda n: None, ablation: bool = True) -> dict:
    val = task.stream("val", VAL_EPISODES, seed + 1)
    test = task.stream("test", episodes, seed + 2)
    pin = train_routing_pin(task, val, seed, progress)
    pin_float, pin_fixed = NeuralPin(pin, fixed=False), NeuralPin(pin, fixed=True)
    rows, decisions = {}, {}
    for m in (pin_float, pin_fixed):
        decisions[m.name] = m.decide(test)
        rows[m.name] = {**episode_metrics(test, decisions[m.name]), "best_guess_after_n": best_guess_after_n(m, test)}
        progress(1)
    for cls in BASELINES:
        m = cls()
        m.fit(task)
        off, sweep = pick_offset(m, val)
        rows[m.name] = {**episode_metrics(test, m.decide(test, off)), "offset": off, "sweep": sweep,
                        "best_guess_after_n": best_guess_after_n(m, test)}
        progress(1)
    d = pin.design
    result = {
        "labels": task.labels, "methods": rows, "steps": len(test.x), "val_episodes": VAL_EPISODES,
        "fixed_float_agreement": float(np.mean(decisions[pin_float.name] == decisions[pin_fixed.name])),
        "pin": {"eta": d.eta, "mu": d.mu, "threshold": d.threshold, "margin": d.margin, "hysteresis": d.hysteresis,
                "gain": d.gain, "dims": pin.dims, "facets": task.n_labels, "facet_format": pin.params.facet_format,
                "slots": pin.params.slots, "fit_states": pin.fit.states, "fit_iterations": pin.fit.iterations,
                "val": {k: v for k, v in d.val.items() if k != "answer_after_n"}, "sweep": d.sweep},
    }
    if ablation:
        result["ablation"] = run_ablation(task, val, pin, seed, progress)
    return result
