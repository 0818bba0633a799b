"""Inputs known to crash libGNA 3.0 even though it accepts them at model creation. Checked before
the library is called, so no model of ours can take the process down (docs/gna-model.md §5)."""
from __future__ import annotations

from .ir import CNN_SCRATCH_BYTES, Convolution, GnaModel, GnaModelError


def preflight(model: GnaModel) -> None:
    for i, op in enumerate(model.operations):
        if isinstance(op, Convolution) and op.pwl is not None and not op.pooling:
            need = op.conv_positions * op.filters.shape[0] * 4
            if need > CNN_SCRATCH_BYTES:
                raise GnaModelError(
                    i, op.kind, f"convolution with PWL and no pooling needs {need} bytes of int32 scratch; "
                    f"libGNA's buffer holds {CNN_SCRATCH_BYTES} and overruns (crashes) beyond it. "
                    "Use fewer positions or filters, or pooling")
