"""`npin boards`: the boards npin knows (boards/*.toml)."""
from __future__ import annotations

from firmware.project_gen import FirmwareGenError, check_fits
from rich.console import Console
from rich.table import Table

from ..boards import DEFAULT_BOARD, all_boards


def register(sub) -> None:
    p = sub.add_parser("boards", help="list the boards (boards/*.toml); lg-env: a labgrid environment for one")
    p.set_defaults(func=cmd_boards)
    boards = p.add_subparsers(dest="boards_command")
    e = boards.add_parser("lg-env", help="write a labgrid environment for a board (pytest --lg-env, npin hil run --lg-env)")
    e.add_argument("board")
    where = e.add_mutually_exclusive_group()
    where.add_argument("--place", help="a labgrid place (a farm's: npin farm status lists them); default: the emulator here")
    where.add_argument("--port", help="a serial port on this machine (/dev/ttyACM0)")
    e.add_argument("--no-reset", action="store_true", help="the place has no emulator monitor to press reset with")
    e.add_argument("--workdir", default="build/hil", help="where the strategy builds the firmware")
    e.add_argument("-o", "--output", help="the file to write (default: build/lg/BOARD[-PLACE].yaml)")
    e.set_defaults(func=cmd_lg_env)


def cmd_lg_env(args) -> int:
    from pathlib import Path

    from ..boards import load_board
    from ..hil.lg_env import lg_env, write_lg_env

    board = load_board(args.board)
    env = lg_env(board, Path(args.workdir), place=args.place, port=args.port, reset=False if args.no_reset else None)
    out = Path(args.output or f"build/lg/{board.id}{'-' + args.place if args.place else ''}.yaml")
    write_lg_env(out, board, env, "npin boards lg-env " + " ".join(
        [args.board] + [f"--{k} {v}" for k, v in (("place", args.place), ("port", args.port)) if v]))
    print(f"wrote {out}")
    return 0


def _fits(board, shape) -> str:
    try:
        check_fits(board, *shape)
        return "yes"
    except FirmwareGenError:
        return "no"


def cmd_boards(args) -> int:
    table = Table(title="npin boards", title_justify="left")
    for col in ("board", "core", "flash", "RAM", "UART", "emulator", "PlatformIO board", "512x16x32 fits",
                "HIL D,K,slots"):
        table.add_column(col)
    for b in all_boards():
        table.add_row(b.id + (" (default)" if b.id == DEFAULT_BOARD else ""), b.cpu,
                      f"{b.flash_size // 1024} KiB", f"{b.ram_size // 1024} KiB",
                      f"{b.uart_kind} @ {b.uart_base:#010x}", f"qemu -M {b.qemu_machine}" if b.qemu_machine else "none (real)",
                      b.pio_board + (f" / {b.standard_platform}:{b.standard_board}" if b.standard_platform else ""),
                      _fits(b, (512, 16, 32)), ",".join(map(str, b.hil_shape)))
    Console(width=160).print(table)
    return 0
