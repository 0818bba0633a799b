"""Strategy: bring a board to the state tests need — firmware generated and built for it, running
(QEMU, or a real board already flashed), its identity checked over HELLO, the link in sync."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from common.errors import ConfigError, NpinError
from firmware import protocol as P
from firmware.board_target import BoardTarget
from firmware.project_gen import generate_project
from quant.pin_fixed import PinParams

from ..boards import load_board
from ..firmware.build import BuildResult, build_project
from .client import PinClient
from .link import FrameLink
from .qemu import QemuBoard


class IdentityError(NpinError):
    pass


@dataclass
class HilTarget:
    board: BoardTarget
    params: PinParams
    build: BuildResult
    client: PinClient
    link: FrameLink
    where: str                  # what the reports name: "QEMU mps2-an386", "/dev/ttyACM0", "place P"
    emulated: bool
    reset_button: Callable[[], None] | None = None  # reset with RAM kept: QMP, or a labgrid ResetProtocol


def check_identity(client: PinClient, meta: dict) -> P.Hello:
    """HELLO must name the build we made and the parameters we mean; anything else is refused."""
    hello = client.hello()
    if hello.build_id.hex() != meta["build_id"]:
        raise IdentityError(
            f"the board runs build {hello.build_id.hex()[:16]} ({hello.board}), this run built "
            f"{meta['build_id'][:16]} for {meta['board']}",
            f"flash it: pio run -d {meta.get('project', 'PROJECT')} -t upload")
    if meta.get("params_id") and hello.params_id.hex() != meta["params_id"]:
        raise IdentityError(f"the board holds parameters {hello.params_id.hex()}, expected {meta['params_id']}",
                            "flash the matching parameter block (npin firmware image)")
    if not hello.flags & P.FLAG_PARAMS_OK:
        errs = "; ".join(text for _, text, _ in client.errors) or "no parameter block"
        raise IdentityError(f"the board refuses its parameter block: {errs}", "flash a valid parameter block")
    return hello


def prepare(board_id: str, params: PinParams, workdir: Path,
            kernels: str = "portable") -> tuple[BoardTarget, BuildResult]:
    board = load_board(board_id)
    project = Path(workdir) / (board_id if kernels == "portable" else f"{board_id}-{kernels}")
    generate_project(board, params, project, kernels=kernels)
    build = build_project(project)
    build.meta["project"] = str(project)
    return board, build


def connect(board: BoardTarget, params: PinParams, build: BuildResult, port, where: str, emulated: bool,
            reset_button: Callable[[], None] | None = None, timeout: float = 5.0) -> HilTarget:
    """Frames over `port` (anything pyserial-shaped), the line drained, HELLO checked, in sync."""
    link = FrameLink(port)
    client = PinClient(link, timeout=timeout, where=where)
    for f in link.drain(0.3):  # the boot banner (QEMU) or whatever was on the line
        client._aside(f)
    check_identity(client, build.meta)
    client.sync()
    return HilTarget(board, params, build, client, link, where, emulated, reset_button)


@contextlib.contextmanager
def open_target(board_id: str, params: PinParams, workdir: Path, port: str | None = None,
                timeout: float = 5.0, kernels: str = "portable"):
    board, build = prepare(board_id, params, workdir, kernels)
    qemu = None
    if port:
        import serial  # pyserial

        ser, where, reset_button = serial.serial_for_url(port, baudrate=board.baud, timeout=0.05), port, None
    elif board.qemu_machine:
        qemu = QemuBoard(board.qemu_machine, build.elf, Path(workdir) / f"{board_id}.qemu.log").start()
        ser, where, reset_button = qemu.serial, f"QEMU {board.qemu_machine}", qemu.system_reset
    else:
        raise ConfigError(f"board {board_id} has no emulator", "connect it and pass --port /dev/ttyACM0")
    try:
        yield connect(board, params, build, ser, where, qemu is not None, reset_button, timeout)
    finally:
        if qemu is not None:
            qemu.stop()
        else:
            ser.close()
