"""`npin route bench`: run every method on every task, write route.json, report.md and plots."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from common.files import write_atomic
from quant.episodes import EPISODE, OOS_SHARE

from ..progress import progress_bar
from .bench import IN_SCOPE_REJECTION, VAL_EPISODES, run_task, task_steps
from .data import load_intents
from .minilm import cached_embeddings
from .tasks import default_tasks, make_task, task_texts

METRICS = [("decision_accuracy", "decision accuracy", "{:.1%}"),
           ("episode_accuracy", "episode accuracy (first decision)", "{:.1%}"),
           ("oos_recall", "OOS recall", "{:.1%}"), ("in_scope_rejection", "in-scope rejection", "{:.1%}"),
           ("false_fires_per_episode", "false fires per episode", "{:.3f}"),
           ("updates_to_first_correct_median", "updates to first correct (median)", "{:.0f}"),
           ("updates_to_first_correct_p90", "updates to first correct (p90)", "{:.0f}"),
           ("switch_delay_median", "switch delay (median)", "{:.0f}")]
ABLATION_METRICS = [("decision_accuracy", "decision acc.", "{:.1%}"), ("episode_accuracy", "episode acc.", "{:.1%}"),
                    ("oos_recall", "OOS recall", "{:.1%}"), ("in_scope_rejection", "in-scope rej.", "{:.1%}"),
                    ("false_fires_per_episode", "false fires / ep.", "{:.3f}")]


def shown_path(path) -> str:
    """A path as the project shows it: relative to the repository when it can be."""
    root = Path(__file__).resolve().parents[2]
    return os.path.relpath(Path(path).resolve(), root)


def _fmt(fmt, v):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def run_route_bench(data_path, out: Path, tasks=None, episodes: int = 600, cache: Path = Path("build/cache"),
                    limit: int | None = None, seed: int = 0, ablation: bool = True) -> dict:
    data = load_intents(data_path)
    if limit:  # a quick run: the first `limit` utterances of each label per split
        for split, rows in data.splits.items():
            seen, kept = {}, []
            for t, lab in rows:
                if seen.get(lab, 0) < limit:
                    kept.append((t, lab))
                    seen[lab] = seen.get(lab, 0) + 1
            data.splits[split] = kept
    tasks = tuple(tasks) if tasks else default_tasks(data)
    texts = sorted(set().union(*(task_texts(data, name, seed) for name in tasks)))
    with progress_bar("MiniLM embeddings", len(texts)) as advance:
        vecs = cached_embeddings(texts, cache, advance)
    emb = dict(zip(texts, vecs))
    results = {"data": shown_path(data.source), "val_from_train": data.val_from_train, "episode_length": EPISODE,
               "episodes": episodes, "val_episodes": VAL_EPISODES, "seed": seed, "tasks": {}}
    built = [make_task(data, emb, name, seed) for name in tasks]   # every task checked before any runs
    for task in built:
        with progress_bar(f"route {task.name}", task_steps(task, ablation)) as advance:
            results["tasks"][task.name] = run_task(task, episodes, seed, advance, ablation)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "route.json", json.dumps(results, indent=1, default=float) + "\n")
    _plots(results, out)
    write_atomic(out / "report.md", markdown(results))
    return results


def verdict(t: dict) -> dict:
    """The fixed Pin against the best baseline of the task, per accuracy metric."""
    rows = t["methods"]
    pin = rows["Neural Pin (fixed, C host twin)"]
    base = {k: v for k, v in rows.items() if not k.startswith("Neural Pin")}
    out = {}
    for key in ("decision_accuracy", "episode_accuracy"):
        best = max(base, key=lambda k: base[k][key])
        out[key] = {"pin": pin[key], "best_baseline": best, "baseline": base[best][key],
                    "pin_wins": pin[key] >= base[best][key]}
    return out


def markdown(results: dict) -> str:
    val_note = " (validation carved from the training rows: the data set has none)" if results["val_from_train"] else ""
    lines = [f"# Routing on real intents — {results['data']}", "",
             f"MiniLM (all-MiniLM-L6-v2) embeddings; conversations of {results['episode_length']} utterances of one "
             f"intent, switching intent between conversations, {OOS_SHARE:.0%} out of scope where the data set has "
             f"out-of-scope rows; {results['episodes']} test conversations, {results['val_episodes']} validation "
             f"conversations{val_note}. Every threshold, margin and dynamic comes from validation only; the "
             f"baselines use the largest threshold offset that keeps validation in-scope rejection within "
             f"{IN_SCOPE_REJECTION:.0%}, the Pin the largest threshold whose one-sided 95 % bound does.", ""]
    for name, t in results["tasks"].items():
        p = t["pin"]
        lines += [f"## {name} ({len(t['labels'])} facets, {t['steps']} test steps)", "",
                  "| method | " + " | ".join(label for _, label, _ in METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for method, row in t["methods"].items():
            lines.append(f"| {method} | " + " | ".join(_fmt(fmt, row.get(k)) for k, _, fmt in METRICS) + " |")
        v = verdict(t)
        lines += ["", "Fixed Pin against the best baseline: " + "; ".join(
            f"{key.replace('_', ' ')} {_fmt('{:.1%}', r['pin'])} vs {_fmt('{:.1%}', r['baseline'])} "
            f"({r['best_baseline']}) — **{'Pin ahead or equal' if r['pin_wins'] else 'Pin behind'}**"
            for key, r in v.items()) + ".", "",
            f"The Pin: D = {p['dims']}, K = {p['facets']} facets ({p['facet_format'].upper()}), {p['slots']} slots; "
            f"η = {p['eta']}, μ = {p['mu']}, threshold {p['threshold']}, margin {p['margin']}, hysteresis "
            f"{p['hysteresis']}, feedback gain {p['gain']} (chosen on validation). Facets fitted on "
            f"{p['fit_states']} utterances and Mind states ({p['fit_iterations']} L-BFGS iterations). "
            f"Fixed (C core) vs float Pin: **{t['fixed_float_agreement']:.2%}** of steps decide the same.", "",
            "**After n utterances** of an in-scope conversation: the latest decision is right (no decision counts as "
            "wrong) / the best guess (argmax, no threshold) is right.", "",
            "| method | " + " | ".join(f"n = {n + 1}" for n in range(results["episode_length"])) + " |",
            "|---|" + "---|" * results["episode_length"]]
        for method, row in t["methods"].items():
            cells = [f"{a:.1%} / {b:.1%}" for a, b in zip(row["answer_after_n"], row["best_guess_after_n"])]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", f"![accuracy after n utterances]({name}-after-n.png)", "",
                  f"![OOS rejection against in-scope rejection]({name}-sweep.png)", ""]
        if "ablation" in t:
            lines += ["**What each part buys** (validation; each variant re-tuned without that part):", "",
                      "| variant | " + " | ".join(label for _, label, _ in ABLATION_METRICS) + " | chosen η, μ, thr, M |",
                      "|---|" + "---|" * (len(ABLATION_METRICS) + 1)]
            for variant, row in t["ablation"].items():
                if "error" in row:
                    lines.append(f"| {variant} | " + " | ".join("—" for _ in ABLATION_METRICS) + f" | {row['error']} |")
                    continue
                lines.append(f"| {variant} | " + " | ".join(_fmt(fmt, row.get(k)) for k, _, fmt in ABLATION_METRICS)
                             + f" | {row['eta']}, {row['mu']}, {row['threshold']}, {row['margin']} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def _plots(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, t in results["tasks"].items():
        fig, ax = plt.subplots(figsize=(6, 4))
        for method, row in t["methods"].items():
            if "sweep" in row:
                sw = np.array(row["sweep"], dtype=float)
                ax.plot(sw[:, 1], sw[:, 2], marker=".", label=method)
        sw = np.array([(s[4], s[5]) for s in t["pin"]["sweep"]], dtype=float)
        if len(sw):
            ax.scatter(sw[:, 0], sw[:, 1], marker="x", color="k", label="Neural Pin candidates (η, μ, M)")
        ax.axvline(IN_SCOPE_REJECTION, color="grey", ls="--", lw=1)
        ax.set_xlabel("in-scope conversations rejected (validation)")
        ax.set_ylabel("out-of-scope conversations rejected (validation)")
        ax.set_title(f"{name}: threshold sweep")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.savefig(out / f"{name}-sweep.png", dpi=110, bbox_inches="tight")
        plt.close(fig)

        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        n = np.arange(1, results["episode_length"] + 1)
        for method, row in t["methods"].items():
            style = dict(marker="o", lw=2) if method.startswith("Neural Pin (fixed") else dict(marker=".", lw=1)
            axes[0].plot(n, row["answer_after_n"], label=method, **style)
            axes[1].plot(n, row["best_guess_after_n"], label=method, **style)
        axes[0].set_title("latest decision right")
        axes[1].set_title("best guess (argmax) right")
        for ax in axes:
            ax.set_xlabel("utterances into the conversation")
            ax.set_xticks(n)
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel(f"{name}: share of in-scope conversations")
        axes[1].legend(fontsize=7)
        fig.savefig(out / f"{name}-after-n.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
