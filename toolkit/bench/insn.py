"""Instruction counts of the firmware's own functions (the built ELF under unicorn): per update,
per K-facet check, per full step, over a grid of D and K, with a fitted cost a + b*D*K."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.board_target import BoardTarget
from firmware.insn_count import ArmCallCounter
from firmware.slab import layout_of, pack_slab
from quant.pin_fixed import PinFixed

from ..pin.synth import SHAPES, synthetic_pin

DIMS = (64, 128, 256, 512)
FACETS = (1, 8, 16)
SLOTS = 8


@dataclass
class Scratch:
    slab: int
    event: int
    x: int
    dots: int


def _scratch(board: BoardTarget) -> Scratch:
    base = board.ram_origin + board.ram_size // 2  # far from the firmware's own RAM
    if board.ram_size < 0x40000:
        base = board.ram_origin + 0x4000            # small parts: the emulator maps the RAM bigger
    return Scratch(base, base + 0x11000, base + 0x11100, base + 0x12100)


def counter_for(elf, board: BoardTarget) -> ArmCallCounter:
    ram = (board.ram_origin, max(board.ram_size, 0x80000))  # room for a 64 KiB slab on any part
    return ArmCallCounter(elf, board.cpu, (board.flash_origin, board.flash_size), ram)


def _steps(cc: ArmCallCounter, sc: Scratch, pin, steps: int, seed: int) -> list[int]:
    """Instructions of `steps` npin_step calls on a stream of the Pin's intents, each step's
    status checked against the reference."""
    cc.write(sc.slab, pack_slab(pin.params))
    ref = PinFixed(pin.params)
    xs, _ = pin.stream_q15(steps, seed=seed)
    counts = []
    for x in xs:
        cc.write(sc.x, x.astype("<i2").tobytes())
        cc.call("npin_push", sc.slab, sc.x)
        res = cc.call("npin_step", sc.slab, sc.event)
        ref.push(x)
        st, _ = ref.step()
        if res.r0 != st:
            p = pin.params
            raise AssertionError(f"D={p.dims} K={p.n_facets}: the ELF's npin_step returned {res.r0}, the reference {st}")
        counts.append(res.instructions)
    return counts


def measure_shape(cc: ArmCallCounter, board: BoardTarget, name: str, steps: int = 5, seed: int = 0) -> int:
    """Median instructions per step of a named shape (SHAPES)."""
    d, k, r, fmt = SHAPES[name]
    return int(np.median(_steps(cc, _scratch(board), synthetic_pin(d, k, r, seed=seed + d + k, facet_format=fmt),
                                steps, seed)))


def measure_grid(cc: ArmCallCounter, board: BoardTarget, steps: int = 5, seed: int = 0) -> dict:
    """{"update": {D: n}, "dots": {(D, K): n}, "step": {(D, K): median n}} (the step median over
    `steps` vectors of an intent stream; each step checked against the reference)."""
    sc = _scratch(board)
    out = {"update": {}, "dots": {}, "step": {}}
    for d in DIMS:
        for k in FACETS:
            pin = synthetic_pin(d, k, SLOTS, seed=seed + d + k)
            lay = layout_of(pin.params)
            out["step"][(d, k)] = int(np.median(_steps(cc, sc, pin, steps, seed)))
            m = sc.slab + lay.offsets["m"]
            out["dots"][(d, k)] = cc.call("npin_dots_q15", m, sc.slab + lay.offsets["facets"], d, k, sc.dots).instructions
            if k == FACETS[0]:
                out["update"][d] = cc.call("npin_update_q15", m, sc.slab + lay.offsets["v"], sc.x, d,
                                           pin.params.eta_q15, pin.params.mu_q15).instructions
    return out


def fit_cost(points: dict) -> tuple[float, float]:
    """Least-squares a + b*D*K over {(D, K): n} (or a + b*D over {D: n})."""
    keys = list(points)
    x = np.array([k[0] * k[1] if isinstance(k, tuple) else k for k in keys], dtype=np.float64)
    y = np.array([points[k] for k in keys], dtype=np.float64)
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)
