"""Intent datasets: CLINC150's JSON format ({"train": [[text, intent], ...], "val", "test",
"oos_*"}) read in place, or a CSV with columns text,label,split (split: train, val or test; label
"oos" marks out-of-scope)."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

OOS = "oos"


@dataclass
class IntentData:
    splits: dict[str, list[tuple[str, str]]]           # train / val / test, in-scope and oos mixed
    domains: dict[str, str] = field(default_factory=dict)  # intent -> domain, when known
    source: str = ""

    def in_scope(self, split: str) -> list[tuple[str, str]]:
        return [r for r in self.splits[split] if r[1] != OOS]

    def oos(self, split: str) -> list[str]:
        return [t for t, lab in self.splits[split] if lab == OOS]


def load_intents(path) -> IntentData:
    path = Path(path)
    if path.is_dir():
        path = path / "data_full.json"
    if not path.exists():
        raise ConfigError(f"no dataset at {path}", "point --data at CLINC150's data_full.json or a text,label,split CSV")
    if path.suffix == ".csv":
        splits = {"train": [], "val": [], "test": []}
        with open(path, newline="") as f:
            rows = csv.DictReader(f)
            if not rows.fieldnames or not {"text", "label", "split"} <= set(rows.fieldnames):
                raise ConfigError(f"{path}: need the columns text,label,split", "add a header line text,label,split")
            for r in rows:
                if r["split"] not in splits:
                    raise ConfigError(f"{path}: split '{r['split']}' is not train, val or test")
                splits[r["split"]].append((r["text"], r["label"]))
        return IntentData(splits, {}, str(path))
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}", "is it CLINC150's JSON format?") from e
    splits = {}
    for split in ("train", "val", "test"):
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
