"""`npin farm`: a labgrid board farm on this machine (up, status, down) and the HIL suite across
the places of any coordinator (run)."""
from __future__ import annotations

import os
from pathlib import Path

from common.errors import ConfigError
from common.files import write_run_file

DEFAULT_BOARDS = "mps2-an386:2,netduinoplus2,microbit,lm3s6965evb"


def register(sub) -> None:
    from ..farm.state import DEFAULT_DIR
    from ..farm.up import DEFAULT_PORT

    farm = sub.add_parser("farm", help="a labgrid board farm: coordinator, exporter, places; the HIL suite on all of them") \
        .add_subparsers(dest="farm_command", required=True)
    p = farm.add_parser("up", help="boot emulated boards and serve them through a labgrid coordinator and exporter")
    p.add_argument("--boards", default=DEFAULT_BOARDS, help="BOARD[:COUNT],… (default %(default)s)")
    p.add_argument("--bind", default="127.0.0.1",
                   help="the address coordinator, serial ports and monitors listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="the coordinator's port (default %(default)s)")
    p.add_argument("--dir", default=str(DEFAULT_DIR), help="the farm's folder: state, logs, firmware")
    p.set_defaults(func=cmd_up)

    p = farm.add_parser("status", help="the farm's places: board, emulator, who holds them")
    p.add_argument("--dir", default=str(DEFAULT_DIR))
    p.set_defaults(func=cmd_status)

    p = farm.add_parser("down", help="stop the farm's exporter, coordinator and boards")
    p.add_argument("--dir", default=str(DEFAULT_DIR))
    p.set_defaults(func=cmd_down)

    p = farm.add_parser("run", help="the HIL suite on every matching place in parallel, each reserved while in use")
    p.add_argument("--dir", default=str(DEFAULT_DIR), help="the local farm (its coordinator and boards)")
    p.add_argument("--coordinator", help="HOST:PORT of another lab's coordinator instead of the local farm")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="only places with this tag (repeatable): core=cortex-m4, board=mps2-an386")
    p.add_argument("--jobs", type=int, help="places run at once (default: all of them)")
    p.add_argument("--vectors", type=int, default=10_000, help="vectors in each place's lock-step stream")
    p.add_argument("-k", dest="select", help="only tests matching this pytest expression")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the timing run of the suite on one place alone before the parallel run")
    p.add_argument("--out", default="build/farm-run", help="per-place folders, merged JUnit and HTML report")
    p.add_argument("--json", help="also write a run file: places, results, wall times")
    p.set_defaults(func=cmd_run)


def cmd_up(args) -> int:
    from ..farm.up import farm_up, parse_boards
    from ..progress import progress_bar

    wanted = parse_boards(args.boards)
    total = sum(n for _, n in wanted)
    with progress_bar("farm up", 2 * total) as advance:
        state = farm_up(Path(args.dir), args.boards, bind=args.bind, port=args.port, advance=advance)
    for b in state.boards:
        print(f"place {b.place:<20} board={b.board} core={b.core}  serial {b.pty} (exported), QEMU pid {b.pid}")
    print(f"farm up: {len(state.boards)} places on coordinator {state.coordinator}; "
          f"labgrid-client -x {state.coordinator} places")
    return 0


def cmd_status(args) -> int:
    from ..farm.lgclient import LabgridClient, LabgridError
    from ..farm.state import FarmState, alive

    state = FarmState.require(Path(args.dir))
    print(f"coordinator {state.coordinator}: {'running' if alive(state.coordinator_pid) else 'STOPPED'}; "
          f"exporter: {'running' if alive(state.exporter_pid) else 'STOPPED'}")
    try:
        held = {p.name: p.acquired for p in LabgridClient(state.coordinator).places()}
    except LabgridError as e:
        held = {}
        print(f"coordinator unreachable: {e}")
    for b in state.boards:
        print(f"place {b.place:<20} board={b.board:<14} core={b.core:<10} "
              f"emulator {'running' if alive(b.pid) else 'GONE'} (pid {b.pid})  "
              f"acquired by {held.get(b.place) or 'nobody'}")
    return 0 if alive(state.coordinator_pid) and alive(state.exporter_pid) else 1


def cmd_down(args) -> int:
    from ..farm.up import farm_down

    state = farm_down(Path(args.dir))
    print("farm down: nothing was up" if state is None else f"farm down: {len(state.boards)} boards, exporter and "
          f"coordinator {state.coordinator} stopped")
    return 0


def cmd_run(args) -> int:
    from ..farm.lgclient import LabgridClient
    from ..farm.report import html_report, merge_junit
    from ..farm.run import FarmRunner, matching_places, parse_tags
    from ..farm.state import FarmState, alive
    from ..progress import progress_bar

    tags = parse_tags(args.tag)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs} is below 1", "--jobs 1 runs the places one after another")
    if args.vectors < 1:
        raise ConfigError(f"--vectors {args.vectors} is below 1", "e.g. --vectors 2000")
    if args.coordinator:
        coordinator, vanished = args.coordinator, None
    else:
        state = FarmState.require(Path(args.dir))
        coordinator = state.coordinator
        pids = {b.place: b.pid for b in state.boards}

        def vanished(place):
            pid = pids.get(place)
            return f"its emulator (pid {pid}) is no longer running" if pid and not alive(pid) else None
    client = LabgridClient(coordinator)
    places = matching_places(client, tags)
    jobs = args.jobs or len(places)
    pytest_args = [f"--vectors={args.vectors}"] + ([f"-k={args.select}"] if args.select else [])
    out = Path(args.out)
    runner = FarmRunner(client, out, pytest_args, vanished=vanished)
    one = None
    if not args.no_baseline and len(places) > 1:
        with progress_bar(f"suite on {places[0].name} alone", 1) as advance:
            one = runner.run_place(places[0], label=".alone")
            advance()
    with progress_bar(f"suite on {len(places)} places, {jobs} at a time", len(places)) as advance:
        runs, wall = runner.run_all(places, jobs, advance)

    for run in runs:
        c = run.counts
        line = (f"{run.place.name:<20} {run.board:<14} {c.passed} passed, {c.failed + c.errors} failed, "
                f"{c.skipped} skipped  {run.seconds:6.1f} s  {'released' if run.released else 'NOT RELEASED'}")
        if run.problem:
            line += f"  — {run.problem}"
        if run.vanished:
            line += f"  — place {run.place.name} vanished mid-run: {run.vanished}"
        print(line)
        for name, msg in c.failures[:2]:
            print(f"    {name}: {msg}")
    passed = sum(r.counts.passed for r in runs)
    failed = sum(r.counts.failed + r.counts.errors for r in runs) + sum(1 for r in runs if r.problem)
    summary = [f"farm run: {len(runs)} places, {passed} passed, {failed} failed, "
               f"{sum(r.counts.skipped for r in runs)} skipped ({'all places released' if all(r.released for r in runs) else 'SOME PLACES STILL HELD'})"]
    if one is not None:
        ratio = len(runs) * one.seconds / wall
        summary.append(f"wall: {len(runs)} places in {wall:.1f} s, one place alone {one.seconds:.1f} s "
                       f"({one.place.name}): {ratio:.2f}x the throughput of one place "
                       f"({jobs} at a time, {os.cpu_count()} cores)")
    else:
        summary.append(f"wall: {len(runs)} places in {wall:.1f} s ({jobs} at a time, {os.cpu_count()} cores)")
    merge_junit(runs, out / "junit.xml")
    html_report(runs, out / "report.html", summary)
    if args.json:
        write_run_file(args.json, {
            "coordinator": coordinator, "tags": tags, "jobs": jobs, "vectors": args.vectors,
            "wall_s": round(wall, 1), "one_place_s": round(one.seconds, 1) if one else None,
            "one_place": one.place.name if one else None,
            "throughput_ratio": round(len(runs) * one.seconds / wall, 2) if one else None,
            "places": [{"place": r.place.name, "board": r.board, "core": r.place.tags.get("core"),
                        "passed": r.counts.passed, "failed": r.counts.failed + r.counts.errors,
                        "skipped": r.counts.skipped, "seconds": round(r.seconds, 1), "released": r.released,
                        "vanished": r.vanished, "problem": r.problem} for r in runs]})
        print(f"wrote {args.json}")
    print(f"junit {out / 'junit.xml'}, report {out / 'report.html'}")
    for line in summary:
        print(line)
    return 0 if all(r.ok and r.released for r in runs) else 1
