"""Routing tasks over an intent data set: which labels are facets, and the embedded utterances of
each split (docs/routing.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError
from quant.episodes import Stream, make_stream

from .data import OOS, IntentData

TASKS = ("domains", "intents16", "intents")
MONEY_DOMAINS = ("banking", "credit_cards")


@dataclass
class Task:
    name: str
    labels: list[str]
    X: dict           # split -> (n, D) in-scope embeddings
    y: dict           # split -> (n,) label index
    oos: dict         # split -> (n, D) out-of-scope embeddings

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def stream(self, split: str, episodes: int, seed: int) -> Stream:
        return make_stream(self.X[split], self.y[split], self.n_labels, self.oos[split], episodes, seed)


def default_tasks(data: IntentData) -> tuple[str, ...]:
    """Every task the data set supports: the domain tasks need CLINC150's domains.json."""
    return TASKS if data.domains else ("intents",)


def _kept_intents(data: IntentData, name: str, seed: int) -> set[str]:
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}'", f"tasks: {', '.join(TASKS)}")
    if name == "domains" and not data.domains:
        raise ConfigError(f"{data.source}: the 'domains' task needs CLINC150's domains.json beside the data",
                          "use --tasks intents")
    intents = data.labels()
    if name == "intents16":
        money = [i for i in intents if data.domains.get(i) in MONEY_DOMAINS]
        pool = money if len(money) >= 16 else intents
        return set(np.random.default_rng(seed).choice(pool, min(16, len(pool)), replace=False))
    return set(intents)


def task_texts(data: IntentData, name: str, seed: int = 0) -> set[str]:
    """Every utterance the task uses: what needs an embedding."""
    keep = _kept_intents(data, name, seed)
    return {t for rows in data.splits.values() for t, lab in rows if lab in keep or lab == OOS}


def make_task(data: IntentData, emb: dict, name: str, seed: int = 0) -> Task:
    """'domains': CLINC's 10 domains as facets; 'intents16': 16 intents of the two money domains
    (banking, credit cards: close neighbours, the hard case; 16 labels drawn at random when the
    data set has no domains); 'intents': every label."""
    keep = _kept_intents(data, name, seed)

    def label_of(intent):
        return data.domains.get(intent, intent) if name == "domains" else intent

    labels = sorted({label_of(i) for i in keep})
    width = len(next(iter(emb.values())))
    X, y, oos = {}, {}, {}
    for split in ("train", "val", "test"):
        rows = [(t, label_of(lab)) for t, lab in data.in_scope(split) if lab in keep]
        X[split] = np.stack([emb[t] for t, _ in rows]) if rows else np.zeros((0, width), np.float32)
        y[split] = np.array([labels.index(lab) for _, lab in rows], dtype=np.int64)
        texts = data.oos(split)
        oos[split] = np.stack([emb[t] for t in texts]) if texts else np.zeros((0, width), np.float32)
    missing = [labels[k] for k in range(len(labels)) if not np.any(y["val"] == k)]
    if missing:
        raise ConfigError(f"{data.source}: label '{missing[0]}' has no validation rows "
                          f"({len(missing)} label(s) without)", "give every label two or more training rows")
    return Task(name, labels, X, y, oos)
