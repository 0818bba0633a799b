"""What a user asks of a compiled model: how each ONNX node was lowered (operations, MACs, bytes),
where the int16/int8 error comes from (SNR per layer against ONNX Runtime), and whether the
emulator and libGNA agree bit for bit on their inputs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.arrays import read_arrays
from common.errors import ConfigError
from gna.ops import spec_of
from quant.quantizers import snr_db


def load_inputs(path):
    """Float inputs: .npy [n, ...] for a one-input model, .npz with one [n, ...] array per input."""
    data = read_arrays(path, "float inputs")
    out = data if isinstance(data, dict) else {"": data}
    for k, x in out.items():
        if not np.issubdtype(x.dtype, np.floating) or x.ndim < 2:
            raise ConfigError(f"{path}{'[' + k + ']' if k else ''}: {x.dtype} {list(x.shape)} is not a batch of float "
                              "inputs", "shape [n, ...], float32")
    return out[""] if "" in out else out


def parse_pairs(items, what: str, convert) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--{what} {item!r}", f"write it as NAME=VALUE, e.g. --{what} "
                              + ("sr=16000" if what == "const" else "input=1,576"))
        try:
            out[name] = convert(value)
        except ValueError as e:
            raise ConfigError(f"--{what} {item!r}: {e}", "numbers only") from e
    return out


def per_sample(model, data) -> list[dict]:
    from gna.onnx_compiler import _feeds

    names, batches = _feeds(model, data)
    n = len(next(iter(batches.values())))
    return [{k: v[i] for k, v in batches.items()} for i in range(n)]


@dataclass
class LayerRow:
    index: int
    nodes: str
    operations: str
    macs: int
    bytes: int
    snr_db: float | None = None


def _op_bytes(op) -> int:
    n = sum(getattr(op, f).nbytes for f in ("weights", "filters", "bias") if getattr(op, f, None) is not None)
    return n + (8 * op.pwl.segments if getattr(op, "pwl", None) is not None else 0)


def layer_rows(cm) -> list[LayerRow]:
    """One row per stage: the ONNX nodes it came from and the GNA operations it became."""
    rows = []
    for i, layer in enumerate(cm.layers):
        ops = [cm.graph.nodes[k] for k in layer["ops"]]
        kinds = " + ".join(type(n.op).__name__.replace("FullyConnectedAffine", "Affine")
                           .replace("ElementWiseAffine", "Diagonal") for n in ops)
        out_bytes = cm.graph.buffers[layer["buffer"]].elements * cm.graph.buffers[layer["buffer"]].itemsize
        rows.append(LayerRow(i, " + ".join(layer["nodes"]), kinds, int(sum(spec_of(n.op).macs(n.op) for n in ops)),
                             int(sum(_op_bytes(n.op) for n in ops)) + out_bytes))
    return rows


def layer_snrs(cm, source, data, consts=None, shapes=None, progress=lambda: None) -> list[LayerRow]:
    """Rows with each stage's output SNR (emulator, dequantized) against the float model."""
    from gna.onnx_compiler import reference

    model, _, tensors = reference(source, data, consts, shapes)
    samples = per_sample(model, data)
    mems = []
    for feeds in samples:
        mems.append(cm.run(feeds)[1])
        progress()
    rows = layer_rows(cm)
    for row, layer in zip(rows, cm.layers):
        try:
            ref = tensors[layer["onnx"]]
        except KeyError:
            continue
        got = np.stack([m[layer["buffer"]][layer["positions"].ravel()] / layer["scale"] for m in mems])
        row.snr_db = snr_db(ref.reshape(got.shape), got)
    return rows


@dataclass
class CheckResult:
    inputs: int
    exact: int | None          # inputs bit-exact emulator = libGNA (None: emulator only)
    snr_db: float              # every output against ONNX Runtime, all inputs together
    first_difference: str | None = None


def check(cm, source, data, consts=None, shapes=None, session=None, progress=lambda: None) -> CheckResult:
    """Every input on the emulator (and libGNA through `session`): buffers compared bit for bit,
    outputs against ONNX Runtime."""
    from gna.graph import run_graph
    from gna.onnx_compiler import reference

    model, _, ref = reference(source, data, consts, shapes)
    samples = per_sample(model, data)
    exact, first, got = 0, None, {o["name"]: [] for o in cm.outputs}
    for i, feeds in enumerate(samples):
        bufs = cm.host_buffers(feeds)
        mem, sat = run_graph(cm.graph, bufs)
        for o in cm.outputs:
            got[o["name"]].append(cm.read(mem, o))
        if session is not None:
            lib, lsat = session.run(bufs)
            diff = next((k for k in mem if not np.array_equal(mem[k], lib[k])), None)
            if diff is None and sat == lsat:
                exact += 1
            elif first is None:
                first = (f"input {i}: buffer '{diff}' differs" if diff else f"input {i}: saturation flag differs "
                         f"(emulator {sat}, libGNA {lsat})")
        progress()
    want = np.concatenate([ref[o["name"]].ravel() for o in cm.outputs])
    have = np.concatenate([np.stack(got[o["name"]]).ravel() for o in cm.outputs])
    return CheckResult(len(samples), exact if session is not None else None, snr_db(want, have), first)
