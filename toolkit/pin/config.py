"""Pin config files (JSON): read, validate, write, and a synthetic example.

A config holds the float design; ``npin pin quantize`` turns it into Q15 parameters.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

import numpy as np

from common.errors import ConfigError
from quant.pin_float import PinConfigFloat

TOP_KEYS = {"dims": int, "slots": int, "eta": float, "mu": float, "threshold_gain": float,
            "threshold_min": float, "threshold_max": float, "hysteresis": float,
            "margin": float, "min_norm": float, "facets": list, "comment": str}
FACET_KEYS = {"name": str, "tool": str, "threshold": float, "vector": list}
DEFAULTS = {"slots": 32, "eta": 0.25, "mu": 0.5, "threshold_gain": 0.125, "threshold_min": 0.35,
            "threshold_max": 0.95, "hysteresis": 0.15, "margin": 0.05, "min_norm": 0.0}


def _check_keys(obj: dict, allowed: dict, where: str) -> None:
    for key in obj:
        if key not in allowed:
            near = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"valid keys: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{where}: unknown key '{key}'", hint)
        want = allowed[key]
        val = obj[key]
        ok = isinstance(val, (int, float)) and not isinstance(val, bool) if want is float else \
            isinstance(val, want) and not isinstance(val, bool)
        if not ok:
            raise ConfigError(f"{where}: '{key}' must be {want.__name__}, got {type(val).__name__}")


class PinConfigFile:
    """A parsed config: the float design plus the names the firmware does not carry."""

    def __init__(self, cfg: PinConfigFloat, facet_names: list[str], tool_names: list[str]):
        self.cfg, self.facet_names, self.tool_names = cfg, facet_names, tool_names


def parse_pin_config(data: dict, where: str = "config") -> PinConfigFile:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a JSON object")
    _check_keys(data, TOP_KEYS, where)
    for key in ("dims", "facets"):
        if key not in data:
            raise ConfigError(f"{where}: missing '{key}'", "see docs/pin-config.md")
    val = {**DEFAULTS, **data}
    facets = val["facets"]
    if not facets:
        raise ConfigError(f"{where}: 'facets' is empty", "give 1 to 1024 facets")
    vectors, names, tools, thresholds, tool_names = [], [], [], [], []
    for i, f in enumerate(facets):
        fw = f"{where}: facets[{i}]"
        if not isinstance(f, dict):
            raise ConfigError(f"{fw} must be an object with name, tool, threshold, vector")
        _check_keys(f, FACET_KEYS, fw)
        for key in FACET_KEYS:
            if key not in f:
                raise ConfigError(f"{fw}: missing '{key}'")
        vec = np.asarray(f["vector"], dtype=np.float64)
        if vec.shape != (val["dims"],):
            raise ConfigError(f"{fw}: vector has {vec.size} components, dims is {val['dims']}")
        if not np.all(np.isfinite(vec)):
            raise ConfigError(f"{fw}: vector has non-finite components")
        if f["tool"] not in tool_names:
            tool_names.append(f["tool"])
        vectors.append(vec)
        names.append(f["name"])
        tools.append(tool_names.index(f["tool"]))
        thresholds.append(float(f["threshold"]))
    for key in ("eta", "mu", "threshold_gain", "hysteresis", "margin"):
        if not 0.0 <= val[key] < 1.0:
            raise ConfigError(f"{where}: '{key}' = {val[key]} must lie in [0, 1)")
    if not 0.0 < val["threshold_min"] <= val["threshold_max"] < 1.0:
        raise ConfigError(f"{where}: need 0 < threshold_min <= threshold_max < 1")
    cfg = PinConfigFloat(
        facets=np.stack(vectors), thresholds=np.asarray(thresholds), tool=np.asarray(tools),
        eta=val["eta"], mu=val["mu"], threshold_gain=val["threshold_gain"],
        threshold_min=val["threshold_min"], threshold_max=val["threshold_max"],
        hysteresis=val["hysteresis"], margin=val["margin"], min_norm=val["min_norm"], slots=val["slots"])
    return PinConfigFile(cfg, names, tool_names)


def load_pin_config(path: str | Path) -> PinConfigFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read Pin config {path}: {e.strerror}",
                          "create one with 'npin pin example-config -o FILE'") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", "save the config as UTF-8 JSON") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})",
                          "fix the JSON (docs/pin-config.md)") from e
    return parse_pin_config(data, str(path))


def example_config(dims: int = 512, facets: int = 8, seed: int = 0, slots: int = 32) -> dict:
    """A synthetic config: random unit facets named intent0..N, one tool per facet."""
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((facets, dims))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return {
        "comment": f"synthetic example, seed {seed}",
        "dims": dims, "slots": slots, **{k: v for k, v in DEFAULTS.items() if k != "slots"},
        "facets": [{"name": f"intent{k}", "tool": f"tool_{k}", "threshold": 0.6,
                    "vector": [round(float(x), 6) for x in vecs[k]]} for k in range(facets)],
    }

