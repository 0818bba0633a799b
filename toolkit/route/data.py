"""Intent datasets: CLINC150's JSON format ({"train": [[text, intent], ...], "val", "test",
"oos_*"}) read in place, or a CSV with columns text,label,split (split: train, val or test; label
"oos" marks out-of-scope rows, which are optional). A data set without validation rows gets a
seeded, per-label 15 % of its training rows as validation."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.errors import ConfigError


OOS = "oos"
SPLITS = ("train", "val", "test")
VAL_SHARE = 0.15


@dataclass
class IntentData:
    splits: dict[str, list[tuple[str, str]]]           # train / val / test, in-scope and oos mixed
    domains: dict[str, str] = field(default_factory=dict)  # intent -> domain, when known
    source: str = ""
    val_from_train: bool = False                       # validation carved out of the training rows

    def in_scope(self, split: str) -> list[tuple[str, str]]:
        return [r for r in self.splits[split] if r[1] != OOS]

    def oos(self, split: str) -> list[str]:
        return [t for t, lab in self.splits[split] if lab == OOS]

    def labels(self) -> list[str]:
        return sorted({lab for _, lab in self.in_scope("train")})


def load_intents(path) -> IntentData:
    path = Path(path)
    if path.is_dir():
        path = path / "data_full.json"
    if not path.exists():
        raise ConfigError(f"no dataset at {path}", "point --data at CLINC150's data_full.json or a text,label,split CSV")
    data = _read_csv(path) if path.suffix == ".csv" else _read_clinc_json(path)
    _check(data, path)
    if not data.in_scope("val"):
        data = _carve_validation(data)
    return data


def _read_csv(path: Path) -> IntentData:
    splits = {s: [] for s in SPLITS}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            if not rows.fieldnames or not {"text", "label", "split"} <= set(rows.fieldnames):
                raise ConfigError(f"{path}: need the columns text,label,split", "add a header line text,label,split")
            for line, r in enumerate(rows, start=2):
                if r["split"] not in splits:
                    raise ConfigError(f"{path}:{line}: split '{r['split']}' is not train, val or test")
                if not r["text"] or not r["label"]:
                    raise ConfigError(f"{path}:{line}: empty text or label", "every row needs text, label and split")
                splits[r["split"]].append((r["text"], r["label"]))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", "save the CSV as UTF-8") from e
    return IntentData(splits, {}, str(path))


def _read_clinc_json(path: Path) -> IntentData:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}", "is it CLINC150's JSON format?") from e
    splits = {}
    for split in SPLITS:
        if split not in doc:
            raise ConfigError(f"{path}: no '{split}' split", "CLINC150 format: train, val, test (+ oos_train, oos_val, oos_test)")
        splits[split] = [(t, lab) for t, lab in doc[split]] + [(t, OOS) for t, _ in doc.get(f"oos_{split}", [])]
    domains = {}
    dom_file = path.parent / "domains.json"
    if dom_file.exists():
        for dom, intents in json.loads(dom_file.read_text()).items():
            for intent in intents:
                domains[intent] = dom
    return IntentData(splits, domains, str(path))


def _check(data: IntentData, path: Path) -> None:
    labels = set(data.labels())
    if len(labels) < 2:
        raise ConfigError(f"{path}: {len(labels)} in-scope label(s) in the training rows; routing needs at least 2",
                          "add training rows (split=train) for every label")
    if not data.in_scope("test"):
        raise ConfigError(f"{path}: no in-scope test rows", "add rows with split=test")
    for split in ("val", "test"):
        unknown = sorted({lab for _, lab in data.in_scope(split)} - labels)
        if unknown:
            raise ConfigError(f"{path}: label '{unknown[0]}' has {split} rows but no training rows"
                              + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
                              "every label needs training rows")


def _carve_validation(data: IntentData, seed: int = 0) -> IntentData:
    """A per-label VAL_SHARE of the training rows (at least one, when a label has two or more)
    becomes validation; out-of-scope training rows are split the same way."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in data.splits["train"]:
        by_label.setdefault(row[1], []).append(row)
    for label in sorted(by_label):
        rows = by_label[label]
        n_val = int(round(len(rows) * VAL_SHARE)) if len(rows) >= 2 else 0
        n_val = max(n_val, 1) if len(rows) >= 2 else 0
        order = rng.permutation(len(rows))
        val += [rows[i] for i in order[:n_val]]
        train += [rows[i] for i in order[n_val:]]
    splits = dict(data.splits, train=train, val=val)
    return IntentData(splits, data.domains, data.source, val_from_train=True)
