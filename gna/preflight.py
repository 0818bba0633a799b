"""Inputs known to crash libGNA 3.0 even though it accepts them at model creation. Checked before
the library is called, so no model of ours can take the process down (docs/gna-model.md §5).
Each operation's own check lives with it in gna/ops/ (OpSpec.preflight)."""
from __future__ import annotations

from .ir import GnaModel
from .ops import spec_of


def preflight(model: GnaModel) -> None:
    for i, op in enumerate(model.operations):
        check = spec_of(op, i).preflight
        if check is not None:
            check(i, op)
