"""One benchmark run on one board: build both kernel sets, count instructions, measure the link,
read the sizes, time the host twin; return metrics plus metadata."""
from __future__ import annotations

import datetime
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from firmware import protocol as P
from firmware.project_gen import generate_project

from ..boards import load_board
from ..firmware.build import build_project
from ..hil.lockstep import run_lockstep
from ..hil.lg_env import open_lg_target
from ..hil.target import open_target
from ..pin.synth import synthetic_pin
from ..progress import progress_bar
from .energy import decision_energy
from .insn import DIMS, FACETS, SHAPES, counter_for, fit_cost, measure_grid, measure_shape

# Updates before the 150-intent Pin decides on CLINC150 (median updates to the first correct fire,
# docs/routing-report.md): what one routing decision costs in steps.
ROUTING_STEPS_PER_DECISION = 3


def _git_commit() -> str:
    git = shutil.which("git")
    root = Path(__file__).resolve().parents[2]
    if git is None:
        return "unknown"
    res = subprocess.run([git, "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return res.stdout.strip() or "unknown"


def _compiler() -> str:
    res = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True)
    return res.stdout.splitlines()[0] if res.returncode == 0 else "unknown"


BENCH_REPS = 16  # K-facet checks per device BENCH


def run_bench(board_id: str, workdir: Path, port: str | None = None, cflags: str = "", serial_vectors: int = 300,
              host: bool = True, lg_env: Path | None = None) -> dict:
    """`port`: a real board's serial port; `lg_env`: a labgrid environment (npin boards lg-env) whose
    target is the board; neither: the board's emulator, if it has one."""
    board = load_board(board_id)
    kernel_sets = ["portable"] + (["m4"] if board.has_dsp else [])
    metrics: dict[str, float] = {}
    device_ticks = None
    fits, grids, builds, energy = {}, {}, {}, {}
    pin = synthetic_pin(*board.hil_shape, seed=11)
    with progress_bar(f"bench {board_id}", len(kernel_sets) * 2 + 2) as advance:
        for kern in kernel_sets:
            project = workdir / f"{board_id}-{kern}"
            meta = generate_project(board, pin.params, project, kernels=kern, extra_cflags=cflags)
            res = build_project(project)
            builds[kern] = {"build_id": meta["build_id"], "sections": res.sections}
            for sec, size in res.sections.items():
                metrics[f"size.{kern}.{sec}"] = size
            advance()
            grid = measure_grid(counter_for(res.elf, board), board)
            grids[kern] = grid
            for d, n in grid["update"].items():
                metrics[f"insn.{kern}.update.D{d}"] = n
            for (d, k), n in grid["dots"].items():
                metrics[f"insn.{kern}.dots.D{d}.K{k}"] = n
            for (d, k), n in grid["step"].items():
                metrics[f"insn.{kern}.step.D{d}.K{k}"] = n
            fits[kern] = {"step": fit_cost(grid["step"]), "dots": fit_cost(grid["dots"]),
                          "update": fit_cost(grid["update"])}
            cc = counter_for(res.elf, board)
            for shape in SHAPES:
                metrics[f"insn.{kern}.step.{shape}"] = measure_shape(cc, board, shape)
            energy[kern] = decision_energy(int(metrics[f"insn.{kern}.step.routing"]), ROUTING_STEPS_PER_DECISION)
            advance()
        if board.emulated or port or lg_env:
            opened = (open_lg_target(lg_env, pin.params) if lg_env
                      else open_target(board_id, pin.params, workdir / "serial", port=port))
            with opened as target:
                rtts = []
                for _ in range(20):
                    t0 = time.perf_counter()  # a monotonic clock: the wall clock may step
                    target.client.hello()
                    rtts.append((time.perf_counter() - t0) * 1e3)
                metrics["link.rtt_ms"] = float(np.median(rtts))
                xs, intents = pin.stream_q15(serial_vectors, seed=5)
                from quant.pin_fixed import PinFixed

                report = run_lockstep(target.client, PinFixed(pin.params), xs, intents, feedback=False)
                metrics["link.vectors_per_s"] = report.vectors_per_s
                delays = []
                events = {e.step: e for e in target.client.events}
                for start in range(0, len(xs), 30):
                    first = next((s for s in range(start + 1, min(start + 31, len(xs) + 1))
                                  if s in events and events[s].facet == intents[start]), None)
                    if first is not None:
                        delays.append(first - start)
                if delays:
                    metrics["pin.updates_to_first_pin.median"] = float(np.median(delays))
                    metrics["pin.updates_to_first_pin.p90"] = float(np.percentile(delays, 90))
                metrics["pin.episodes_without_correct_pin"] = float(-(-len(xs) // 30) - len(delays))
                ticks, reps, source = target.client.bench(BENCH_REPS)
                device_ticks = {"source": P.TICK_SOURCES.get(source, f"code {source}"),
                                "per_check": ticks / reps if source else None,
                                "emulated": target.emulated}  # then QEMU's virtual clock, not silicon cycles
        advance()
        if host:
            from ..pin.bench import bench

            hb = bench(512, 16, rounds=3)
            for name, ns in hb.c_ns.items():
                metrics[f"host.{name}.ns_per_step"] = ns
        advance()
    return {
        "format": "npin-bench", "version": 1,
        "meta": {"board": board_id, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                 "git": _git_commit(), "compiler": _compiler(), "cflags": f"-Os -mcpu={board.cpu} -mthumb {cflags}".strip(),
                 "builds": builds, "hil_shape": list(board.hil_shape), "port": port,
                 "lg_env": str(lg_env) if lg_env else None,
                 "grid": {"dims": list(DIMS), "facets": list(FACETS)},
                 "shapes": {name: list(shape) for name, shape in SHAPES.items()}},
        "fits": fits,
        "energy": energy,
        "device_ticks": device_ticks,
        "metrics": metrics,
    }
