"""Bit-exact GNA 2.0 emulator in numpy (docs/gna-model.md §3 gives the arithmetic).

Each operation's emulation lives with the rest of that operation in gna/ops/ (the shared integer
arithmetic in gna/arith.py); this module runs a model through them in order.
"""
from __future__ import annotations

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


def run_operation(op, x: np.ndarray, sat: Sat) -> np.ndarray:
    y = spec_of(op).emulate(op, x, sat)
    return y.reshape(op.output_shape).astype(output_dtype(op), copy=False)


def run(model: GnaModel, x: np.ndarray) -> RunResult:
    """Run the model on one input (the first operation's input, int16, in GNA layout)."""
    x = np.asarray(x)
    if x.dtype != np.int16:
        raise ValueError(f"GNA 2.0 inputs are int16, got {x.dtype}")
    if x.size != int(np.prod(model.input_shape)):
        raise ValueError(f"input has {x.size} elements, the model takes {list(model.input_shape)}")
    sat = Sat()
    outs = []
    for op in model.operations:
        x = run_operation(op, x, sat)
        outs.append(x)
    return RunResult(x, outs, sat.hit)
