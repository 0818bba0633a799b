"""A compiled model: the GNA 2.0 graph plus what the host does around it (docs/gna-quant.md §4.7) —
quantize each input with its scale and write it into the buffers that read it (padding and layout
included), read each output from its buffer positions, and feed a carried state back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.arrays import read_npz
from quant.quantizers import quantize

from .graph import GnaGraph, graph_from_arrays, graph_to_arrays, run_graph
from .ir import GnaModel, GnaModelError


@dataclass
class CompiledModel:
    graph: GnaGraph
    inputs: list[dict]           # name, shape, scale (one, or one per element), offset (into the flattened inputs)
    host: dict[str, np.ndarray]  # host-written buffer -> per element, the flattened input element (-1: zero)
    outputs: list[dict]          # name, shape, buffer, positions, scales
    layers: list[dict]           # per stage: onnx, nodes, shape, buffer, positions, scale, ops, pwl_*
    state: list[tuple[str, str]] = field(default_factory=list)  # (input, output) fed back between inferences
    source: str | None = None

    # -- the host side ---------------------------------------------------------------------------
    @property
    def input_name(self) -> str:
        return self.inputs[0]["name"]

    @property
    def input_shape(self) -> tuple:
        return tuple(self.inputs[0]["shape"])

    @property
    def input_scale(self) -> float:
        return self.inputs[0]["scale"]

    def host_buffers(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each graph input quantized with its scale, written where the host buffers want it."""
        flat = []
        for spec in self.inputs:
            if spec["name"] not in feeds:
                raise GnaModelError(None, "inputs", f"no value for input '{spec['name']}'")
            x = np.asarray(feeds[spec["name"]], dtype=np.float64)
            if x.size != int(np.prod(spec["shape"])):
                raise GnaModelError(None, "inputs", f"input '{spec['name']}' has {x.size} elements; the model takes "
                                                    f"{list(spec['shape'])}")
            flat.append(quantize(x.ravel() * np.asarray(spec["scale"], dtype=np.float64), 1.0, 16))
        flat = np.concatenate(flat + [np.zeros(1, np.int16)])  # index -1 reads the trailing zero
        return {name: flat[g] for name, g in self.host.items()}

    def read(self, memory: dict, entry: dict) -> np.ndarray:
        raw = memory[entry["buffer"]][entry["positions"].ravel()].astype(np.float64)
        return (raw / entry["scales"].ravel()).reshape(entry["shape"])

    def feeds_of(self, x) -> dict:
        return x if isinstance(x, dict) else {self.input_name: x}

    def run(self, x, backend=None) -> tuple[dict[str, np.ndarray], dict, bool]:
        """(outputs by name, raw memory, saturated) of one inference; `backend` is a libGNA
        GraphSession, "native" for the native emulator, or None for the numpy emulator."""
        bufs = self.host_buffers(self.feeds_of(x))
        if backend is None or isinstance(backend, str):
            mem, sat = run_graph(self.graph, bufs, backend=backend or "numpy")
        else:
            mem, sat = backend.run(bufs)
        return {o["name"]: self.read(mem, o) for o in self.outputs}, mem, sat

    def output(self, x, backend=None) -> np.ndarray:
        return self.run(x, backend)[0][self.outputs[0]["name"]]

    def stream(self, backend=None) -> "Stream":
        return Stream(self, backend)

    # -- a chain (one input buffer, each operation reading the last): the GnaModel API ------------
    @property
    def model(self) -> GnaModel:
        g = self.graph
        prev = g.inputs[0] if len(g.inputs) == 1 else None
        for n in g.nodes:
            if prev is None or n.input.buffer != prev or n.input.offset or n.output.offset or n.weights or n.bias:
                raise GnaModelError(None, "model", "this compiled model is a graph, not a chain: run it with "
                                                   "CompiledModel.run (or npin gna run)")
            prev = n.output.buffer
        return GnaModel(g.operations)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        shape = self.model.input_shape
        return self.host_buffers({self.input_name: x})[self.graph.inputs[0]][:int(np.prod(shape))].reshape(shape)

    def dequantize(self, i: int, y: np.ndarray) -> np.ndarray:
        layer = self.layers[i]
        return (np.asarray(y).reshape(-1)[layer["positions"].ravel()] / layer["scale"]).reshape(layer["shape"])

    # -- the file --------------------------------------------------------------------------------
    def save(self, path) -> None:
        arrays = graph_to_arrays(self.graph)
        meta = {"inputs": self.inputs, "state": self.state, "source": self.source,
                "host": sorted(self.host), "outputs": [], "layers": []}
        for name, g in self.host.items():
            arrays[f"host.{name}"] = g
        for i, o in enumerate(self.outputs):
            arrays[f"output{i}.positions"], arrays[f"output{i}.scales"] = o["positions"], o["scales"]
            meta["outputs"].append({k: v for k, v in o.items() if k not in ("positions", "scales")})
        for i, layer in enumerate(self.layers):
            arrays[f"layer{i}.positions"] = layer["positions"]
            meta["layers"].append({k: v for k, v in layer.items() if k != "positions"})
        arrays["compile.json"] = np.frombuffer(json.dumps(meta, default=_plain).encode(), dtype=np.uint8)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path) -> "CompiledModel":
        d = read_npz(path, "compiled model")
        if "compile.json" not in d or "graph.json" not in d:
            raise GnaModelError(None, str(path), "not a compiled model; compile it with npin gna compile")
        try:
            meta = json.loads(bytes(d["compile.json"]).decode())
            outputs = [{**o, "shape": tuple(o["shape"]), "positions": d[f"output{i}.positions"],
                        "scales": d[f"output{i}.scales"]} for i, o in enumerate(meta["outputs"])]
            layers = [{**layer, "shape": tuple(layer["shape"]), "positions": d[f"layer{i}.positions"]}
                      for i, layer in enumerate(meta["layers"])]
            host = {n: d[f"host.{n}"] for n in meta["host"]}
            state = [tuple(s) for s in meta["state"]]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise GnaModelError(None, str(path), f"compile.json or an array it names is missing or malformed ({e!r}); "
                                                 "compile the model again") from e
        return cls(graph_from_arrays(d, str(path)), meta["inputs"], host, outputs, layers, state, meta.get("source"))


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(type(v))


class Stream:
    """Inferences in sequence with the carried state fed back (outputs -> inputs, by name), as a
    VAD runs over 32 ms chunks. The state starts at zero."""

    def __init__(self, cm: CompiledModel, backend=None):
        self.cm, self.backend = cm, backend
        self.carried = {i: np.zeros(next(s["shape"] for s in cm.inputs if s["name"] == i)) for i, _ in cm.state}
        self.saturated = False

    def step(self, feeds) -> dict[str, np.ndarray]:
        feeds = {**self.cm.feeds_of(feeds), **self.carried}
        outs, _, sat = self.cm.run(feeds, self.backend)
        self.saturated |= sat
        for i, o in self.cm.state:
            self.carried[i] = outs[o]
        return outs
