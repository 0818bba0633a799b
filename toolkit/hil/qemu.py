"""Resource: a board emulated by qemu-system-arm, its UART 0 on a local TCP port and its QMP
monitor on another, so the host can talk to it with pyserial and reset it like a button would."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

from common.errors import NpinError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QmpClient:
    """QEMU's machine protocol (QMP) over TCP: enough of it to press reset and resume."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rwb")
        json.loads(self.file.readline())  # greeting
        self.execute("qmp_capabilities")

    def execute(self, command: str) -> dict:
        self.file.write(json.dumps({"execute": command}).encode() + b"\n")
        self.file.flush()
        while True:
            line = self.file.readline()
            if not line:
                raise NpinError(f"QEMU closed its monitor during {command}", "is the emulator still running?")
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                return msg

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class QemuBoard:
    """qemu-system-arm running one image. The guest starts paused (-S) and runs only once the host
    holds UART 0, so the boot banner is never lost."""

    def __init__(self, machine: str, image: Path, log_path: Path | None = None, icount: int | None = None,
                 serial: str = "tcp", bind: str = "127.0.0.1", uart_index: int = 0):
        """`serial`: "tcp" (the host connects here with pyserial) or "pty" (a pseudo-terminal, which a
        labgrid exporter serves like a USB serial port). `bind`: the address the TCP listeners use.
        `uart_index`: which of the machine's serial ports is the firmware's (the ones before it are
        left unconnected) — e.g. 1 for USART2 of netduinoplus2, where a NUCLEO image talks."""
        if serial not in ("tcp", "pty"):
            raise ValueError(f"serial must be tcp or pty, not {serial}")
        self.machine, self.image, self.log_path, self.icount = machine, Path(image), log_path, icount
        self.serial_kind, self.bind, self.uart_index = serial, bind, uart_index
        self.pty: str | None = None
        self._pid: int | None = None
        self.proc: subprocess.Popen | None = None
        self.serial_port = self.qmp_port = 0
        self._qmp: QmpClient | None = None
        self._log = None
        self.serial = None

    @property
    def url(self) -> str:
        return f"socket://{self.bind}:{self.serial_port}"

    def command(self) -> list[str]:
        exe = shutil.which("qemu-system-arm")
        if exe is None:
            raise NpinError("qemu-system-arm is not installed", "./run installs it (Debian package qemu-system-arm)")
        load = (["-kernel", str(self.image)] if self.image.suffix == ".elf"
                else ["-device", f"loader,file={self.image}"])
        serial = ("pty" if self.serial_kind == "pty"
                  else f"tcp:{self.bind}:{self.serial_port},server=on,wait=off,nodelay=on")
        cmd = [exe, "-M", self.machine, "-display", "none", "-monitor", "none", "-nodefaults",
               "-S", *["-serial", "null"] * self.uart_index, "-serial", serial, "-qmp", f"tcp:{self.bind}:{self.qmp_port},server=on,wait=off,nodelay=on", *load]
        if self.icount is not None:
            cmd += ["-icount", f"shift={self.icount},sleep=off"]
        return cmd

    def start(self, timeout: float = 20.0, detach: bool = False) -> "QemuBoard":
        """Boot the image. `detach`: the emulator outlives this process (a farm's boards); the
        host side is then reached through `pty` or `url`, and its process id is `pid`."""
        import serial  # pyserial

        if not self.image.is_file():
            raise NpinError(f"no firmware image at {self.image}", "build it first: npin firmware build DIR")
        self.serial_port, self.qmp_port = _free_port(), _free_port()
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=detach)
        deadline = time.monotonic() + timeout
        while self._qmp is None:  # wait for the listener instead of sleeping blindly
            if self.proc.poll() is not None:
                raise NpinError(f"qemu-system-arm exited with {self.proc.returncode} while starting "
                                f"{self.image.name}", f"see {self.log_path}" if self.log_path else "")
            if time.monotonic() > deadline:
                self.stop()
                raise NpinError(f"qemu-system-arm did not open its ports within {timeout:.0f} s")
            try:
                self._qmp = QmpClient(self.bind, self.qmp_port)
            except OSError:
                time.sleep(0.05)
        if self.serial_kind == "pty":
            chardevs = self._qmp.execute("query-chardev").get("return", [])
            self.pty = next(c["filename"][4:] for c in chardevs if c["filename"].startswith("pty:"))
            self._qmp.execute("cont")
            if detach:
                self._qmp.close()
                self._pid, self._qmp, self.proc = self.proc.pid, None, None
                if self._log not in (None, subprocess.DEVNULL):
                    self._log.close()
                self._log = None
            return self
        self.serial = serial.serial_for_url(self.url, timeout=0.05)
        # Small frames both ways: without this, Nagle plus delayed ACKs cost 40 ms a round trip.
        self.serial._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._qmp.execute("cont")
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else self._pid

    def system_reset(self) -> None:
        """Press the reset button: the core restarts, RAM keeps its contents (as on silicon)."""
        self._qmp.execute("system_reset")

    def stop(self) -> None:
        if self.serial is not None:
            self.serial.close()
            self.serial = None
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def __enter__(self) -> "QemuBoard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
