"""Golden vectors: models, inputs and the outputs a backend produced for them, as data files
(docs/gna-model.md §6). Made once with libGNA; checked against the emulator in CI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.arrays import read_npz

from .emulator import RunResult
from .ir import GnaModel
from .model_io import model_from_arrays, model_to_arrays


def save_case(path: Path, kind: str, model: GnaModel, x: np.ndarray, result: RunResult, meta: dict) -> None:
    arrays = model_to_arrays(model)
    arrays["input"] = x
    for i, out in enumerate(result.outputs):
        arrays[f"output{i}"] = out
    arrays["meta.json"] = np.frombuffer(json.dumps({**meta, "kind": kind, "saturated": result.saturated}).encode(),
                                        dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def load_case(path: Path) -> tuple[dict, GnaModel, np.ndarray, list[np.ndarray]]:
    d = read_npz(path, "golden case")
    meta = json.loads(bytes(d["meta.json"]).decode())
    model = model_from_arrays(d, str(path))
    outs = [d[f"output{i}"] for i in range(len(model.operations))]
    return meta, model, d["input"], outs


def case_bytes(model: GnaModel, x: np.ndarray) -> int:
    return sum(a.nbytes for a in model_to_arrays(model).values()) + x.nbytes


def save_graph_case(path: Path, kind: str, graph, steps: list, meta: dict) -> None:
    """A compiled graph and, per inference, the host's input buffers and every buffer after it.
    `steps`: (inputs {buffer: int16}, memory {buffer: array}, saturated)."""
    from .graph import graph_to_arrays

    arrays = graph_to_arrays(graph)
    for k, (inputs, memory, _) in enumerate(steps):
        arrays.update({f"step{k}.in.{name}": v for name, v in inputs.items()})
        arrays.update({f"step{k}.mem.{name}": v for name, v in memory.items()})
    arrays["meta.json"] = np.frombuffer(json.dumps({**meta, "kind": kind, "steps": len(steps),
                                                    "saturated": [bool(s) for _, _, s in steps]}).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def load_graph_case(path: Path) -> tuple[dict, object, list]:
    from .graph import graph_from_arrays

    d = read_npz(path, "golden graph case")
    meta = json.loads(bytes(d["meta.json"]).decode())
    graph = graph_from_arrays(d, str(path))
    steps = []
    for k in range(meta["steps"]):
        inputs = {name: d[f"step{k}.in.{name}"] for name in graph.inputs}
        memory = {name: d[f"step{k}.mem.{name}"] for name in graph.buffers}
        steps.append((inputs, memory, meta["saturated"][k]))
    return meta, graph, steps
