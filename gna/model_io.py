"""The model file (docs/gna-model.md §2): one .npz holding `model.json` (operations, scalars,
which arrays belong to which) and the arrays themselves, named `op<i>.<field>`."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .ir import OPERATIONS, GnaModel, GnaModelError, Pwl

FORMAT, VERSION = "npin-gna-model", 1
ARRAY_FIELDS = ("weights", "bias", "multiplier", "filters", "initial_state")
SCALAR_FIELDS = ("batch", "bias_index", "input_width", "stride", "pooling", "pool_window", "pool_stride", "delay",
                 "rows", "cols", "in_shape", "out_shape", "shape")
BY_NAME = {cls.kind: cls for cls in OPERATIONS}


def model_to_arrays(model: GnaModel) -> dict[str, np.ndarray]:
    ops, arrays = [], {}
    for i, op in enumerate(model.operations):
        entry = {"type": op.kind}
        for name in SCALAR_FIELDS:
            if hasattr(op, name):
                v = getattr(op, name)
                entry[name] = list(v) if isinstance(v, tuple) else v
        for name in ARRAY_FIELDS:
            v = getattr(op, name, None)
            if v is not None:
                arrays[f"op{i}.{name}"] = v
        pwl = getattr(op, "pwl", None)
        if pwl is not None:
            for name in ("x_base", "y_base", "slope"):
                arrays[f"op{i}.pwl.{name}"] = getattr(pwl, name)
        ops.append(entry)
    doc = {"format": FORMAT, "version": VERSION, "target": "2.0", "operations": ops}
    arrays["model.json"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    return arrays


def model_from_arrays(data, where: str = "model", chain: bool = True) -> GnaModel:
    """The operations in the file; `chain` also checks that each feeds the next (graphs place
    their operations themselves and are checked by gna.graph)."""
    try:
        doc = json.loads(bytes(data["model.json"]).decode())
    except (KeyError, ValueError) as e:
        raise GnaModelError(None, where, "not an npin GNA model (no readable model.json)") from e
    if not isinstance(doc, dict):
        raise GnaModelError(None, where, "not an npin GNA model (model.json is not an object)")
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise GnaModelError(None, where, f"format {doc.get('format')} v{doc.get('version')}; this npin reads {FORMAT} v{VERSION}")
    ops = []
    entries = doc.get("operations")
    if not isinstance(entries, list):
        raise GnaModelError(None, where, "model.json has no list of operations")
    for i, entry in enumerate(entries):
        cls = BY_NAME.get(entry.get("type")) if isinstance(entry, dict) else None
        if cls is None:
            raise GnaModelError(i, str(entry.get("type") if isinstance(entry, dict) else entry), "unknown operation type")
        try:
            kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in entry.items() if k != "type"}
            for name in ARRAY_FIELDS:
                key = f"op{i}.{name}"
                if key in data:
                    kwargs[name] = np.asarray(data[key])
            if f"op{i}.pwl.x_base" in data:
                kwargs["pwl"] = Pwl(*(np.asarray(data[f"op{i}.pwl.{n}"]) for n in ("x_base", "y_base", "slope")))
            ops.append(cls(**kwargs))
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise GnaModelError(i, cls.kind, f"bad fields in the file: {e!r}") from e
    return GnaModel(ops).check() if chain else GnaModel(ops)


def save_model(path, model: GnaModel) -> None:
    model.check()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **model_to_arrays(model))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_model(path) -> GnaModel:
    from common.arrays import read_npz

    return model_from_arrays(read_npz(path, "GNA model"), str(path))
