"""Quantized Pin parameter files (`*.q15.json`): what `npin pin quantize` writes and firmware
generation reads. Facets are stored as raw integers of their format (Q15 or Q7)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.errors import ConfigError
from common.files import write_atomic
from firmware.slab import LAYOUT_VERSION
from quant.pin_fixed import PinParams, PinSpecError, check_params
from quant.pin_quantize import InputScale


SCALARS = ("eta_q15", "mu_q15", "thr_gain_q15", "thr_min_q15", "thr_max_q15", "hysteresis_q15",
           "margin_q15", "min_norm", "slots")


def save_params(path, params: PinParams, scale: InputScale, facet_names, tool_names) -> None:
    doc = {"format": "npin-pin-q15", "layout_version": LAYOUT_VERSION,
           "dims": params.dims, "facets": params.n_facets, "facet_format": params.facet_format,
           **{k: int(getattr(params, k)) for k in SCALARS},
           "input_scale": {"scale": scale.scale, "statistic": scale.statistic, "peak": scale.peak},
           "facet_names": list(facet_names), "tool_names": list(tool_names),
           "thr_q15": [int(t) for t in params.thr_q15], "tool": [int(t) for t in params.tool],
           "facet_rows": [[int(v) for v in row] for row in params.facets]}
    write_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n")


def load_params(path) -> tuple[PinParams, InputScale, list[str], list[str]]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read quantized Pin parameters {path}: {e}",
                          "make them with 'npin pin quantize CONFIG -o FILE.q15.json'") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not an npin Q15 parameter file (a JSON {type(doc).__name__})",
                          "make one with 'npin pin quantize'")
    if doc.get("format") != "npin-pin-q15":
        raise ConfigError(f"{path}: not an npin Q15 parameter file (format={doc.get('format')!r})",
                          "make one with 'npin pin quantize'")
    if doc.get("layout_version") != LAYOUT_VERSION:
        raise ConfigError(f"{path}: layout version {doc.get('layout_version')}, this npin speaks {LAYOUT_VERSION}",
                          "quantize the config again with this npin")
    try:
        params = PinParams(facets=np.asarray(doc["facet_rows"], dtype=np.int64), facet_format=doc["facet_format"],
                           thr_q15=np.asarray(doc["thr_q15"], dtype=np.int64),
                           tool=np.asarray(doc["tool"], dtype=np.int64),
                           **{k: int(doc[k]) for k in SCALARS})
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ConfigError(f"{path}: a field is missing or malformed ({e})",
                          "make the file again with 'npin pin quantize'") from e
    try:
        check_params(params)
    except PinSpecError as e:
        raise ConfigError(f"{path}: {e}", "make the file again with 'npin pin quantize'") from e
    try:
        s = doc["input_scale"]
        scale = InputScale(float(s["scale"]), str(s["statistic"]), float(s["peak"]))
        facet_names, tool_names = [str(n) for n in doc["facet_names"]], [str(n) for n in doc["tool_names"]]
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ConfigError(f"{path}: a field is missing or malformed ({e!r})",
                          "make the file again with 'npin pin quantize'") from e
    return params, scale, facet_names, tool_names
