"""Bit-exact GNA 2.0 emulator (docs/gna-model.md §3 gives the arithmetic), two backends: "numpy",
the readable reference, and "native", the same semantics in C (gna/native.py).

Each operation's emulation lives with the rest of that operation in gna/ops/ (the shared integer
arithmetic in gna/arith.py); this module runs a model through them in order.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .arith import Sat
from .ir import GnaModel, output_dtype
from .ops import spec_of


@dataclass
class RunResult:
    output: np.ndarray          # the last operation's output, in its GNA layout and dtype
    outputs: list               # every operation's output
    saturated: bool             # any clamp happened (libGNA's status 2)


BACKENDS = ("numpy", "native")


def _native():
    """gna.native, imported on first use (it compiles the C code; the numpy backend never needs it)."""
    from . import native

    return native


def default_backend() -> str:
    """"native" where it runs (it is built here and NPIN_GNA_NATIVE is not 0), else "numpy": the
    two give the same bits, so only the speed differs."""
    return "native" if _native().unavailable() is None else "numpy"


def run_operation(op, x: np.ndarray, sat: Sat, backend: str = "numpy") -> np.ndarray:
    spec = spec_of(op)
    y = None
    # an int32 result handed to the next operation stays the numpy reference's business: the C
    # kernels take int16 inputs
    if backend == "native" and spec.native_step is not None and x.dtype == np.int16:
        y = _native().run_operation_native(op, x, sat)
    if y is None:
        y = spec.emulate(op, x, sat)
    return y.reshape(op.output_shape).astype(output_dtype(op), copy=False)


def run(model: GnaModel, x: np.ndarray, backend: str = "numpy") -> RunResult:
    """Run the model on one input (the first operation's input, int16, in GNA layout). `backend`:
    "numpy" (the reference) or "native" (C; operations without a native kernel — pure data
    movement — run in numpy)."""
    if backend not in BACKENDS:
        raise ValueError(f"emulator backend {backend!r} is not one of {BACKENDS}")
    x = np.asarray(x)
    if x.dtype != np.int16:
        raise ValueError(f"GNA 2.0 inputs are int16, got {x.dtype}")
    plan = _native().chain_plan(model) if backend == "native" else None
    if x.size != (plan.n_in if plan is not None else int(np.prod(model.input_shape))):
        raise ValueError(f"input has {x.size} elements, the model takes {list(model.input_shape)}")
    if plan is not None:
        return plan.run(x)
    sat = Sat()
    outs = []
    for op in model.operations:
        x = run_operation(op, x, sat, backend)
        outs.append(x)
    return RunResult(x, outs, sat.hit)


def run_many(model: GnaModel, xs, backend: str | None = None, jobs: int | None = None) -> list[RunResult]:
    """Independent inferences (a batch of inputs), `jobs` at a time on threads — every core by
    default; `backend` None: default_backend(). The native backend runs its C with the GIL
    released; results keep the input order."""
    backend = backend or default_backend()
    xs = list(xs)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(xs)))
    plan = _native().chain_plan(model) if backend == "native" else None

    def part_of(part):  # a native chain runs a whole part in one C call
        return plan.run_many(part) if plan is not None else [run(model, x, backend) for x in part]
    if jobs == 1:
        return part_of(xs)
    parts = [xs[i::jobs] for i in range(jobs)]  # one long task per thread: less hand-over
    with ThreadPoolExecutor(jobs) as pool:
        done = list(pool.map(part_of, parts))
    out: list = [None] * len(xs)
    for i, part in enumerate(done):
        out[i::jobs] = part
    return out
