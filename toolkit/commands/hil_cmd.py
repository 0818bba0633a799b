"""`npin hil run`: the HIL suite (hil_tests/) against an emulated or a real board."""
from __future__ import annotations

from pathlib import Path

from common.errors import ConfigError
from common.files import write_run_file

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
    p.add_argument("--faults", type=float, metavar="RATE",
                   help="only the lossy-link test: --vectors through a fault injector at RATE per byte (0.001 = 0.1 %%)")
    p.add_argument("--seed", type=int, default=1, help="the fault injector's seed (with --faults)")
    p.add_argument("--json", help="also write a run file: board, Pin shape, tests passed, time, link throughput")
    p.set_defaults(func=cmd_run)


class _Results:
    """A pytest plugin that keeps what the run file needs from each test's report."""

    def __init__(self):
        self.passed, self.failed, self.skipped, self.properties = 0, 0, 0, {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            setattr(self, report.outcome, getattr(self, report.outcome) + 1)
            self.properties.update(dict(report.user_properties))


def cmd_run(args) -> int:
    import time

    import pytest

    board = load_board(args.board)  # a clear error for an unknown board before pytest starts
    if args.port:
        from ..hil.port import check_port

        check_port(args.port)
    argv = [str(HIL_TESTS), "-p", "no:cacheprovider", "-q", "--tb=short", f"--rootdir={HIL_TESTS}",
            f"--board={args.board}", f"--vectors={args.vectors}", f"--workdir={args.workdir}",
            f"--kernels={args.kernels}"]
    for flag, value in (("--port", args.port), ("--pin", args.pin), ("--shape", args.shape),
                        ("--junitxml", args.junit), ("-k", args.select)):
        if value:
            argv.append(f"{flag}={value}")
    if args.faults is not None:
        if not 0 <= args.faults < 1:
            raise ConfigError(f"--faults {args.faults} is not a rate in [0, 1)", "e.g. --faults 0.001 for 0.1 %")
        argv += [f"--faults={args.faults}", f"--fault-seed={args.seed}", f"--fault-vectors={args.vectors}",
                 "-k", "fault"]
    results, t0 = _Results(), time.monotonic()
    rc = int(pytest.main(argv, plugins=[results]))
    if args.json:
        shape = args.shape or ",".join(str(v) for v in board.hil_shape)
        write_run_file(args.json, {"board": board.id, "cpu": board.cpu, "target": args.port or "QEMU",
                                   "pin": args.pin or shape, "kernels": args.kernels, "passed": results.passed,
                                   "failed": results.failed, "skipped": results.skipped,
                                   "seconds": round(time.monotonic() - t0, 1), **results.properties})
        print(f"wrote {args.json}")
    if args.faults is not None:
        p = results.properties
        if "fault_frames" not in p:
            print("fault link: the lossy-link test did not run to the end, state DIFFERS or unknown")
            return 1
        bad = p["fault_undetected"] or rc
        print(f"fault link: {p['fault_frames']} frames, {p['fault_corrupted']} corrupted, {p['fault_undetected']} "
              f"undetected, state {'DIFFERS' if bad else 'bit-exact'}")
        return 1 if bad else 0
    return rc
