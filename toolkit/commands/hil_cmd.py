"""`npin hil run`: the HIL suite (hil_tests/) against an emulated or a real board."""
from __future__ import annotations

from pathlib import Path

from common.errors import ConfigError
from common.files import write_run_file

from ..boards import DEFAULT_BOARD, load_board

HIL_TESTS = Path(__file__).resolve().parents[2] / "hil_tests"


def register(sub) -> None:
    from ..hil.reset_sweep import COMMANDS

    hil = sub.add_parser("hil", help="hardware-in-the-loop tests").add_subparsers(dest="hil_command", required=True)
    p = hil.add_parser("run", help="build, boot (QEMU or --port) and run the HIL suite")
    p.add_argument("--board", default=DEFAULT_BOARD)
    p.add_argument("--port", help="a real board's serial port (/dev/ttyACM0) or pyserial URL; default: QEMU")
    p.add_argument("--lg-env", help="a labgrid environment (npin boards lg-env): its target main is the board")
    p.add_argument("--place", help="a labgrid place: reserved, acquired and released around the run (board from its "
                                   "board= tag)")
    p.add_argument("--coordinator", help="the place's coordinator HOST:PORT (default: LG_COORDINATOR, else the "
                                         "local farm's)")
    p.add_argument("--junit", help="write JUnit XML here")
    p.add_argument("--vectors", type=int, default=10_000, help="vectors in the lock-step stream")
    p.add_argument("--pin", help="quantized Pin (*.q15.json); default: a synthetic Pin of the board's [hil] shape")
    p.add_argument("--shape", help="D,K,slots[,q15|q7] of the synthetic Pin (instead of the board's [hil] shape)")
    p.add_argument("--workdir", default="build/hil")
    p.add_argument("--kernels", choices=("portable", "m4"), default="portable")
    p.add_argument("-k", dest="select", help="only tests matching this pytest expression")
    p.add_argument("--faults", type=float, metavar="RATE",
                   help="only the lossy-link test: --vectors through a fault injector at RATE per byte (0.001 = 0.1 %%)")
    p.add_argument("--seed", type=int, default=1, help="the fault injector's (or reset presser's) seed")
    p.add_argument("--stall-ms", type=float, default=2.0, help="how long each stall fault holds the line (with --faults)")
    p.add_argument("--resets", type=int, metavar="N",
                   help="only the reset test: press reset (QMP) N times at random instants during --vectors")
    p.add_argument("--json", help="also write a run file: board, Pin shape, tests passed, time, link throughput")
    p.set_defaults(func=cmd_run)

    p = hil.add_parser("reset-sweep", help="reset the firmware at every instruction of one command (unicorn) "
                                           "and check each recovery against the reference")
    p.add_argument("--board", default=DEFAULT_BOARD, help="a board with a CMSDK UART (the MPS2 boards)")
    p.add_argument("--shape", default="512,16,32", help="D,K,slots[,q15|q7] of a synthetic Pin (default: the mission)")
    p.add_argument("--pin", help="quantized Pin (*.q15.json) instead of a synthetic one")
    p.add_argument("--command", choices=COMMANDS, default="step")
    p.add_argument("--every", type=int, default=1, help="cut at every N-th instruction (1: all of them)")
    p.add_argument("--seed", type=int, default=5, help="seed of the stream that brings the Pin to a live state")
    p.add_argument("--workdir", default="build/sweep")
    p.add_argument("--json", help="also write a run file")
    p.set_defaults(func=cmd_reset_sweep)


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

    if args.lg_env and Path(args.lg_env).is_file():
        from ..hil.lg_env import board_of

        args.board = board_of(args.lg_env)
    board = load_board(args.board)  # a clear error for an unknown board before pytest starts
    if args.resets is not None and (args.resets < 1 or args.port):
        raise ConfigError("--resets needs N >= 1 and an emulated board (it presses reset through QEMU's monitor)",
                          "drop --port; e.g. --resets 1000 --vectors 10000")
    if args.faults is not None and not 0 <= args.faults < 1:
        raise ConfigError(f"--faults {args.faults} is not a rate in [0, 1)", "e.g. --faults 0.001 for 0.1 %")
    given = [f for f, v in (("--port", args.port), ("--lg-env", args.lg_env), ("--place", args.place)) if v]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} each name the board; give one", "e.g. --place mps2-an386-1")
    if args.port:
        from ..hil.port import check_port

        check_port(args.port)
    if args.lg_env and not Path(args.lg_env).is_file():
        raise ConfigError(f"no labgrid environment at {args.lg_env}", "write one: npin boards lg-env BOARD")
    if args.place:
        return _run_on_place(args)
    argv = [str(HIL_TESTS), "-p", "no:cacheprovider", "-q", "--tb=short", f"--rootdir={HIL_TESTS}",
            "-o", "junit_family=legacy",  # keeps the tests' recorded figures (throughput, faults) in the JUnit
            # labgrid's pytest plugin only where its environment is used: it keeps process-wide state
            # (its step logger) that a second pytest session in the same process must not start again
            *([] if args.lg_env else ["-p", "no:labgrid"]),
            f"--board={args.board}", f"--vectors={args.vectors}", f"--workdir={args.workdir}",
            f"--kernels={args.kernels}"]
    for flag, value in (("--port", args.port), ("--lg-env", args.lg_env), ("--pin", args.pin), ("--shape", args.shape),
                        ("--junitxml", args.junit), ("-k", args.select)):
        if value:
            argv.append(f"{flag}={value}")
    if args.faults is not None:
        argv += [f"--faults={args.faults}", f"--fault-seed={args.seed}", f"--fault-vectors={args.vectors}",
                 f"--stall-ms={args.stall_ms}",
                 "-k", "fault"]
    if args.resets is not None:
        argv += [f"--resets={args.resets}", f"--reset-vectors={args.vectors}", f"--fault-seed={args.seed}",
                 "-k", "random_resets"]
    results, t0 = _Results(), time.monotonic()
    rc = int(pytest.main(argv, plugins=[results]))
    if args.json:
        shape = args.shape or ",".join(str(v) for v in board.hil_shape)
        write_run_file(args.json, {"board": board.id, "cpu": board.cpu, "target": args.port or (f"labgrid {args.lg_env}" if args.lg_env else "QEMU"),
                                   "pin": args.pin or shape, "kernels": args.kernels, "passed": results.passed,
                                   "failed": results.failed, "skipped": results.skipped,
                                   "seconds": round(time.monotonic() - t0, 1), **results.properties})
        print(f"wrote {args.json}")
    if args.resets is not None:
        p = results.properties
        if "resets" not in p:
            print("resets: the reset test did not run to the end, state DIFFERS or unknown")
            return 1
        bad = not p["reset_state_exact"] or rc
        print(f"resets: {p['resets']} during {p['reset_vectors']} vectors, state {'DIFFERS' if bad else 'bit-exact'}")
        return 1 if bad else 0
    if args.faults is not None:
        p = results.properties
        if "fault_frames" not in p:
            print("fault link: the lossy-link test did not run to the end, state DIFFERS or unknown")
            return 1
        bad = p["fault_undetected"] or rc
        print(f"throughput: {p['fault_vectors_per_s']:g} vectors/s through the faults, {p['clean_vectors_per_s']:g} "
              f"clean in the same run: {p['fault_throughput_share']:.0%}")
        print(f"fault link: {p['fault_frames']} frames, {p['fault_corrupted']} corrupted, {p['fault_undetected']} "
              f"undetected, state {'DIFFERS' if bad else 'bit-exact'}")
        return 1 if bad else 0
    return rc


def _run_on_place(args) -> int:
    """The suite on a labgrid place, held for the run."""
    from ..farm.lgclient import held_place

    with held_place(args.place, Path(args.workdir), args.coordinator) as (board_id, env_file):
        args.place, args.lg_env, args.board = None, str(env_file), board_id
        return cmd_run(args)


def cmd_reset_sweep(args) -> int:
    import time

    from quant.pin_fixed import PinFixed

    from ..hil.reset_sweep import CommandSweep, prepare_stream, vectors_before_a_fire
    from ..hil.target import prepare
    from ..hil.unicorn_board import UnicornBoard
    from ..pin.synth import pin_under_test
    from ..progress import progress_bar

    if args.every < 1:
        raise ConfigError(f"--every {args.every} is below 1", "--every 1 cuts at every instruction")
    UnicornBoard.check(load_board(args.board))
    pin = pin_under_test(args.pin, args.shape, (512, 16, 32))
    board, build = prepare(args.board, pin.params, Path(args.workdir))
    emu = UnicornBoard(build.elf, board)
    ref = PinFixed(pin.params)
    xs, intents = pin.stream_q15(400, seed=args.seed)
    warmup = vectors_before_a_fire(pin.params, xs)  # the swept STEP then sends an EVENT too
    client = prepare_stream(emu, ref, xs, intents, warmup)
    cmd = CommandSweep(emu, client, ref, args.command, xs[warmup])
    shape = f"D={pin.params.dims} K={pin.params.n_facets} slots={pin.params.slots}"
    t0 = time.monotonic()
    with progress_bar(f"{args.command.upper()} cut at each instruction", len(cmd.cut_points(args.every))) as advance:
        result = cmd.run(args.every, advance)
    seconds = time.monotonic() - t0
    for failure in result.failures[:5]:
        print(failure)
    if args.json:
        write_run_file(args.json, {"board": board.id, "shape": shape, "command": args.command,
                                   "instructions": result.instructions, "fires": bool(result.events), "every": args.every, "cuts": result.cuts,
                                   "recovered": result.recovered, "outcomes": dict(result.outcomes),
                                   "failures": result.failures[:20], "seconds": round(seconds, 1)})
        print(f"wrote {args.json}")
    print(result.line(shape))
    return 0 if result.recovered == result.cuts else 1
