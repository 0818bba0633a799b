"""`npin hil run`: the HIL suite (hil_tests/) against an emulated or a real board."""
from __future__ import annotations

from pathlib import Path

from ..boards import DEFAULT_BOARD, load_board

HIL_TESTS = Path(__file__).resolve().parents[2] / "hil_tests"


def register(sub) -> None:
    hil = sub.add_parser("hil", help="hardware-in-the-loop tests").add_subparsers(dest="hil_command", required=True)
    p = hil.add_parser("run", help="build, boot (QEMU or --port) and run the HIL suite")
    p.add_argument("--board", default=DEFAULT_BOARD)
    p.add_argument("--port", help="a real board's serial port (/dev/ttyACM0) or pyserial URL; default: QEMU")
    p.add_argument("--junit", help="write JUnit XML here")
    p.add_argument("--vectors", type=int, default=10_000, help="vectors in the lock-step stream")
    p.add_argument("--pin", help="quantized Pin (*.q15.json); default: a synthetic Pin of the board's [hil] shape")
    p.add_argument("--shape", help="D,K,slots[,q15|q7] of the synthetic Pin (instead of the board's [hil] shape)")
    p.add_argument("--workdir", default="build/hil")
    p.add_argument("--kernels", choices=("portable", "m4"), default="portable")
    p.add_argument("-k", dest="select", help="only tests matching this pytest expression")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    import pytest

    load_board(args.board)  # a clear error for an unknown board before pytest starts
    argv = [str(HIL_TESTS), "-p", "no:cacheprovider", "-q", "--tb=short", f"--rootdir={HIL_TESTS}",
            f"--board={args.board}", f"--vectors={args.vectors}", f"--workdir={args.workdir}",
            f"--kernels={args.kernels}"]
    for flag, value in (("--port", args.port), ("--pin", args.pin), ("--shape", args.shape),
                        ("--junitxml", args.junit), ("-k", args.select)):
        if value:
            argv.append(f"{flag}={value}")
    return int(pytest.main(argv))
