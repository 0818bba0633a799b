"""`npin bench`: HIL regression benchmark of one board, against a baseline."""
from __future__ import annotations

import json
from pathlib import Path

from common.errors import ConfigError, MismatchError
from common.files import write_atomic

from ..bench.compare import EXACT_TOLERANCE, NOISY_RATIO, compare
from ..bench.report import history, html_report, junit, store_run
from ..bench.run import run_bench
from ..boards import DEFAULT_BOARD


def register(sub) -> None:
    p = sub.add_parser("bench", help="HIL regression benchmark: instructions, link, sizes, host speed")
    p.add_argument("--board", default=DEFAULT_BOARD)
    p.add_argument("--port", help="a real board's serial port (default: the board's emulator)")
    p.add_argument("--lg-env", help="a labgrid environment (npin boards lg-env) whose target main is the board")
    p.add_argument("--place", help="a labgrid place, held for the run (board from its board= tag)")
    p.add_argument("--coordinator", help="the place's coordinator HOST:PORT (default: LG_COORDINATOR, else the local farm's)")
    p.add_argument("--baseline", help="a previous run's JSON (or 'latest' in --out) to compare with")
    p.add_argument("--out", default="build/bench", help="results store and reports (default build/bench)")
    p.add_argument("--cflags", default="", help="extra compiler flags for the firmware builds")
    p.add_argument("--exact-tolerance", type=float, default=EXACT_TOLERANCE)
    p.add_argument("--noisy-ratio", type=float, default=NOISY_RATIO)
    p.add_argument("--no-host", action="store_true", help="skip the host-twin timing")
    p.set_defaults(func=cmd_bench)


def _load_baseline(arg: str | None, out: Path, board: str) -> dict | None:
    if not arg:
        return None
    if arg == "latest":
        runs = history(out, board)
        return runs[-1] if runs else None
    try:
        return json.loads(Path(arg).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read baseline {arg}: {e}", "pass a JSON written by a previous npin bench") from e


def cmd_bench(args) -> int:
    given = [f for f, v in (("--port", args.port), ("--lg-env", args.lg_env), ("--place", args.place)) if v]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} each name the board; give one", "e.g. --place mps2-an386-1")
    if args.place:
        from ..farm.lgclient import held_place

        with held_place(args.place, Path(args.out) / "work" / "lg", args.coordinator) as (board_id, env_file):
            args.place, args.lg_env, args.board = None, str(env_file), board_id
            return cmd_bench(args)
    if args.lg_env:
        from ..hil.lg_env import board_of

        if not Path(args.lg_env).is_file():
            raise ConfigError(f"no labgrid environment at {args.lg_env}", "write one: npin boards lg-env BOARD")
        args.board = board_of(args.lg_env)
    out = Path(args.out)
    baseline = _load_baseline(args.baseline, out, args.board)
    result = run_bench(args.board, out / "work", port=args.port, cflags=args.cflags, host=not args.no_host,
                       lg_env=Path(args.lg_env) if args.lg_env else None)
    path = store_run(result, out)
    verdicts = compare(result["metrics"], baseline["metrics"] if baseline else None, args.exact_tolerance,
                       args.noisy_ratio)
    runs = history(out, args.board)
    junit(verdicts, args.board, out / f"bench-{args.board}.junit.xml")
    html_report(result, verdicts, runs, out / f"bench-{args.board}.html")
    write_atomic(out / f"bench-{args.board}.latest.json", json.dumps(result, indent=1, default=str) + "\n")
    m = result["metrics"]
    print(f"npin bench {args.board}  (git {result['meta']['git']}, {result['meta']['compiler']})")
    for kern, fit in result["fits"].items():
        a, b = fit["step"]
        print(f"  {kern:9s} step D=512 K=16: {m.get(f'insn.{kern}.step.D512.K16', 0):>7.0f} instructions "
              f"(fit {a:.0f} + {b:.3f}·D·K), update D=512: {m.get(f'insn.{kern}.update.D512', 0):.0f}, "
              f"16-facet check D=512: {m.get(f'insn.{kern}.dots.D512.K16', 0):.0f}, .text {m.get(f'size.{kern}..text', 0):.0f} B")
    for kern, e in result["energy"].items():
        print(f"  {kern:9s} mission step (D=512 K=16 Q15): {m[f'insn.{kern}.step.mission']:.0f} instructions; routing "
              f"step (D=384 K=150 Q7): {m[f'insn.{kern}.step.routing']:.0f} instructions; per routing decision "
              f"({e['steps_per_decision']} steps) on an {e['part']}: {e['decision_uj'][0]:.0f}-{e['decision_uj'][1]:.0f} uJ "
              f"(CPI {e['cpi'][0]}-{e['cpi'][1]}, {e['volts']} V, {e['amps_per_hz'] * 1e12:.0f} uA/MHz)")
    for key in ("link.rtt_ms", "link.vectors_per_s", "pin.updates_to_first_pin.median", "pin.updates_to_first_pin.p90"):
        if key in m:
            print(f"  {key}: {m[key]:.3g}")
    dt = result.get("device_ticks")
    if dt:
        print(f"  device ticks per {result['meta']['hil_shape'][1]}-facet check: "
              + (f"{dt['per_check']:.0f} on {dt['source']}" if dt["per_check"] is not None
                 else "none — this board has no tick source the firmware can read")
              + (" (emulated: QEMU's virtual clock, not silicon cycles)" if dt["emulated"] else ""))
    for key in sorted(k for k in m if k.startswith("host.")):
        print(f"  {key}: {m[key]:.0f}")
    bad = [v for v in verdicts if not v.ok]
    print(f"stored {path}; report {out / f'bench-{args.board}.html'}; "
          f"{len(verdicts) - len(bad)}/{len(verdicts)} metrics within the baseline" if baseline else
          f"stored {path}; report {out / f'bench-{args.board}.html'}; no baseline")
    if bad:
        for v in bad[:10]:
            print(f"  REGRESSION {v.metric}: {v.why}")
        raise MismatchError(f"{len(bad)} benchmark regressions against the baseline", "see the report")
    return 0
