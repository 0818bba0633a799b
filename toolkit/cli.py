"""The `npin` command line. Subcommands live in toolkit/commands/, one module each."""
from __future__ import annotations

import argparse
import sys
import traceback


from common.errors import NpinError

from .commands import (bench_cmd, boards_cmd, demo_cmd, docs_cmd, farm_cmd, firmware_cmd, fuzz_cmd, gna_cmd,
                       hil_cmd, pin_cmd, route_cmd, vocoder_cmd)

COMMANDS = (demo_cmd, boards_cmd, pin_cmd, firmware_cmd, hil_cmd, farm_cmd, bench_cmd, route_cmd, gna_cmd, vocoder_cmd,
            docs_cmd, fuzz_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="npin", description="Neural Pin toolkit for Cortex-M and GNA 2.0")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NpinError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence for the CLI
        if args.debug:
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
