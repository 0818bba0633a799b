"""Boards as data (boards/*.toml, one file per board): load, validate, list."""
from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

from common.errors import ConfigError
from firmware.board_target import CPUS, NRF51_BAUD_CODES, TICK_SOURCES, UART_KINDS, BoardTarget

BOARDS_DIR = Path(__file__).resolve().parents[1] / "boards"
DEFAULT_BOARD = "mps2-an386"


# every key a board file may hold, per table ("" is the top level)
KEYS = {
    "": {"id", "name", "cpu", "clock_hz", "emulated", "flash", "ram", "uart", "ticks", "qemu", "platformio", "hil"},
    "flash": {"origin", "size", "params_size", "sectors"},
    "ram": {"origin", "size"},
    "uart": {"kind", "base", "baud", "irq", "init", "tx_pin", "rx_pin"},
    "ticks": {"source"},
    "qemu": {"machine", "memory"},
    "platformio": {"board", "upload", "openocd_target", "standard_platform", "standard_board"},
    "hil": {"dims", "facets", "slots"},
}


def _refuse_unknown_keys(doc: dict, where: str) -> None:
    """A misspelt key would otherwise fall back to a default without a word."""
    for table, allowed in KEYS.items():
        node = doc if not table else doc.get(table, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: '{table}' must be a table", "see boards/README.md for the fields")
        for key in sorted(set(node) - allowed):
            name = f"{table}.{key}" if table else key
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise ConfigError(f"{where}: unknown key '{name}'" + (
                f" (did you mean '{table + '.' if table else ''}{close[0]}'?)" if close else ""),
                f"{'[' + table + '] takes' if table else 'the top level takes'}: {', '.join(sorted(allowed))}")


def _need(doc: dict, path: str, kind, where: str):
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: missing '{path}'", "see boards/README.md for the fields")
        node = node[part]
    if not isinstance(node, kind) or isinstance(node, bool) and kind is int:
        raise ConfigError(f"{where}: '{path}' must be {getattr(kind, '__name__', kind)}, got {node!r}",
                          "see boards/README.md for the fields")
    return node


def parse_board(doc: dict, where: str) -> BoardTarget:
    _refuse_unknown_keys(doc, where)
    cpu = _need(doc, "cpu", str, where)
    if cpu not in CPUS:
        raise ConfigError(f"{where}: cpu '{cpu}' is not one of {', '.join(CPUS)}")
    kind = _need(doc, "uart.kind", str, where)
    if kind not in UART_KINDS:
        raise ConfigError(f"{where}: uart.kind '{kind}' has no driver; drivers: {', '.join(UART_KINDS)}",
                          "add firmware/hal/uart_<kind>.c or pick an existing kind")
    init = doc.get("uart", {}).get("init", [])
    if not all(isinstance(w, list) and (len(w) == 3 or len(w) == 4 and w[3] == "wait")
               and all(isinstance(x, int) for x in w[:3]) for w in init):
        raise ConfigError(f"{where}: uart.init must be a list of [address, mask, value] writes "
                          "and [address, mask, value, \"wait\"] waits", "see boards/README.md")
    ticks = doc.get("ticks", {}).get("source", "dwt" if cpu in ("cortex-m3", "cortex-m4", "cortex-m7") else "systick")
    if ticks not in TICK_SOURCES:
        raise ConfigError(f"{where}: ticks.source '{ticks}' is not one of {', '.join(TICK_SOURCES)}",
                          "name the counter the part has, or none")
    baud = _need(doc, "uart.baud", int, where)
    if kind == "nrf51" and baud not in NRF51_BAUD_CODES:
        raise ConfigError(f"{where}: nRF51 has no register code for {baud} baud",
                          f"use one of {sorted(NRF51_BAUD_CODES)}")
    board = BoardTarget(
        id=_need(doc, "id", str, where), name=_need(doc, "name", str, where), cpu=cpu,
        clock_hz=_need(doc, "clock_hz", int, where), emulated=bool(doc.get("emulated", False)),
        flash_origin=_need(doc, "flash.origin", int, where), flash_size=_need(doc, "flash.size", int, where),
        params_size=_need(doc, "flash.params_size", int, where),
        ram_origin=_need(doc, "ram.origin", int, where), ram_size=_need(doc, "ram.size", int, where),
        uart_kind=kind, uart_base=_need(doc, "uart.base", int, where), baud=baud,
        uart_irq=_need(doc, "uart.irq", int, where),
        uart_init=tuple((w[0], w[1], w[2], len(w) == 4) for w in init),
        ticks=ticks,
        uart_tx_pin=int(doc["uart"].get("tx_pin", 0)), uart_rx_pin=int(doc["uart"].get("rx_pin", 0)),
        qemu_machine=doc.get("qemu", {}).get("machine"),
        qemu_memory=doc.get("qemu", {}).get("memory") or f"{_need(doc, 'ram.size', int, where) // 1024}K",
        pio_board=_need(doc, "platformio.board", str, where),
        upload=_need(doc, "platformio.upload", str, where),
        openocd_target=doc["platformio"].get("openocd_target", ""),
        standard_platform=doc["platformio"].get("standard_platform"),
        standard_board=doc["platformio"].get("standard_board"),
        hil_shape=tuple(int(doc.get("hil", {}).get(k, v)) for k, v in (("dims", 128), ("facets", 8), ("slots", 8))),
        flash_sectors=_sectors(doc, where),
    )
    if board.emulated and not board.qemu_machine:
        raise ConfigError(f"{where}: emulated board without [qemu] machine")
    if board.params_size >= board.flash_size or board.params_size % 1024:
        raise ConfigError(f"{where}: flash.params_size must be whole KiB and smaller than flash.size")
    return board


def _sectors(doc: dict, where: str) -> tuple[tuple[int, int], ...]:
    """flash.sectors = [[count, size], ...] from flash.origin up, as (start, size) erase units."""
    spec = _need(doc, "flash.sectors", list, where)
    if not spec or not all(isinstance(s, list) and len(s) == 2 and all(isinstance(x, int) and x > 0 for x in s)
                           for s in spec):
        raise ConfigError(f"{where}: flash.sectors must be a list of [count, size] pairs",
                          "e.g. sectors = [[4, 0x4000], [1, 0x1_0000], [7, 0x2_0000]] (the reference manual's sector map)")
    out, at = [], doc["flash"]["origin"]
    for count, size in spec:
        for _ in range(count):
            out.append((at, size))
            at += size
    if at != doc["flash"]["origin"] + doc["flash"]["size"]:
        raise ConfigError(f"{where}: flash.sectors cover 0x{at - doc['flash']['origin']:x} bytes, flash.size is "
                          f"0x{doc['flash']['size']:x}", "list every erase unit of the part's flash")
    return tuple(out)


def read_board_file(path: Path) -> BoardTarget:
    """One board file (TOML), checked against the schema."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})", "save the board file as UTF-8") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}", "fix the TOML syntax") from e
    return parse_board(doc, str(path))


def load_board(board_id: str, boards_dir: Path = BOARDS_DIR) -> BoardTarget:
    path = boards_dir / f"{board_id}.toml"
    if not path.exists():
        known = board_ids(boards_dir)
        close = difflib.get_close_matches(board_id, known, n=1)
        raise ConfigError(f"unknown board '{board_id}'" + (f" (did you mean '{close[0]}'?)" if close else ""),
                          f"boards: {', '.join(known)} ('npin boards' lists them)")
    board = read_board_file(path)
    if board.id != board_id:
        raise ConfigError(f"{path}: id '{board.id}' differs from the file name", "make them equal")
    return board


def board_ids(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(p.stem for p in boards_dir.glob("*.toml"))


def all_boards(boards_dir: Path = BOARDS_DIR) -> list[BoardTarget]:
    return [load_board(b, boards_dir) for b in board_ids(boards_dir)]
