"""`npin fuzz service | params | loaders`: coverage-guided fuzzing of everything that reads
outside bytes (docs/bad-inputs.md)."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("fuzz", help="fuzz the firmware's frame reader and parameter-block check (libFuzzer, "
                                    "ASan, UBSan) or the Python loaders")
    p.add_argument("target", choices=("service", "params", "loaders"))
    p.add_argument("--runs", type=int, help="stop after this many executions")
    p.add_argument("--seconds", type=int, help="stop after this many seconds")
    p.add_argument("--workdir", default="build/fuzz")
    p.set_defaults(func=cmd_fuzz)


def cmd_fuzz(args) -> int:
    if args.target == "loaders":
        from ..fuzz.loaders import LOADERS, fuzz_all

        res = fuzz_all(args.runs or 1000, args.seconds)
        for name, n, bad in res:
            print(f"{name:18s} {n:8d} inputs, {len(bad)} escaped the one-line error")
            for b in bad[:3]:
                print(f"  {b}")
        total = sum(len(b) for _, _, b in res)
        print(f"fuzz loaders: {sum(n for _, n, _ in res)} inputs over {len(LOADERS)} loaders, {total} uncaught")
        return 1 if total else 0
    from ..fuzz.native import run
    from ..pin.synth import synthetic_pin

    params = synthetic_pin(64, 8, 8, seed=3).params
    res = run(args.target, params, Path(args.workdir), args.runs, args.seconds if args.seconds else
              (None if args.runs else 60))
    print(res.log_tail)
    print(f"fuzz {args.target}: {res.runs} executions in {res.seconds:.0f} s, coverage {res.coverage}, "
          f"{len(res.crashes)} crashes" + (f" (kept in tests/data/fuzz/{args.target}/)" if res.crashes else ""))
    return 1 if res.crashes else 0
