"""Strategy: bring a board to the state tests need — firmware generated and built for it, running
(QEMU, or a real board already flashed), its identity checked over HELLO, the link in sync."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

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
    qemu: QemuBoard | None
    port: str | None

    @property
    def emulated(self) -> bool:
        return self.qemu is not None


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


@contextlib.contextmanager
def open_target(board_id: str, params: PinParams, workdir: Path, port: str | None = None,
                timeout: float = 5.0, kernels: str = "portable"):
    board, build = prepare(board_id, params, workdir, kernels)
    qemu = None
    if port:
        import serial  # pyserial

        ser = serial.serial_for_url(port, baudrate=board.baud, timeout=0.05)
    elif board.qemu_machine:
        qemu = QemuBoard(board.qemu_machine, build.elf, Path(workdir) / f"{board_id}.qemu.log").start()
        ser = qemu.serial
    else:
        raise ConfigError(f"board {board_id} has no emulator", "connect it and pass --port /dev/ttyACM0")
    try:
        link = FrameLink(ser)
        client = PinClient(link, timeout=timeout)
        for f in link.drain(0.3):  # the boot banner (QEMU) or whatever was on the line
            client._aside(f)
        check_identity(client, build.meta)
        client.sync()
        yield HilTarget(board, params, build, client, link, qemu, port)
    finally:
        if qemu is not None:
            qemu.stop()
        else:
            ser.close()
