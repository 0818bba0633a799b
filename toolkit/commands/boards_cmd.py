"""`npin boards`: the boards npin knows (boards/*.toml)."""
from __future__ import annotations

from firmware.project_gen import FirmwareGenError, check_fits
from rich.console import Console
from rich.table import Table

from ..boards import DEFAULT_BOARD, all_boards


def register(sub) -> None:
    p = sub.add_parser("boards", help="list the boards (boards/*.toml)")
    p.set_defaults(func=cmd_boards)


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
