"""The GNA 2.0 operation registry. One module per operation kind holds everything about it but its
IR dataclass (gna/ir.py): its 2.0 rules, its bit-exact emulation, its libGNA descriptor, its MAC
count, any input the library is known to crash on, its random conformance cases and its
envelope-probe families. gna/ir.py, the emulator, the libGNA backend,
the pre-flight check and `npin gna fit` all look operations up here; adding an operation is its
dataclass in gna/ir.py and one module in this folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..ir import GnaModelError
from .probing import Probes


@dataclass(frozen=True)
class OpSpec:
    cls: type
    check: Callable             # (layer index, op) -> None; raises GnaModelError
    emulate: Callable           # (op, int16 input, Sat) -> output array
    libgna: Callable            # (op, Descriptor) -> (operands, parameters)
    libgna_type: int            # Gna2OperationType
    macs: Callable = lambda op: 0
    preflight: Callable | None = None   # (layer index, op) -> None; inputs that crash libGNA
    output_buffer: Callable | None = None  # (op, arena, nbytes) -> pointer, when the library wants more
    extra_bytes: Callable = lambda op: 0    # arena bytes beyond operands and output (e.g. a recurrent state)
    random_cases: dict = field(default_factory=dict)  # conformance kind -> rng -> (GnaModel, int16 input)
    probes: Probes = field(default_factory=Probes)    # envelope-probe families, limits, type combinations
    native_step: Callable | None = None  # (op, gna.native) -> ChainStep: the operation for the C runner; None: numpy


REGISTRY: dict[type, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    REGISTRY[spec.cls] = spec
    return spec


def model_macs(model) -> int:
    """Multiply-accumulates per inference, summed over the model's operations."""
    return int(sum(spec_of(op).macs(op) for op in model.operations))


def spec_of(op, layer: int | None = None) -> OpSpec:
    spec = REGISTRY.get(type(op))
    if spec is None:
        raise GnaModelError(layer, type(op).__name__, "not a GNA 2.0 operation")
    return spec


# registration order is the order of the envelope report's rows
from . import affine, diagonal, convolution, recurrent, copy, transposition  # noqa: E402,F401,I001 - they register
