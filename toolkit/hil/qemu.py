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


class QemuBoard:
    """qemu-system-arm running one image. The guest starts paused (-S) and runs only once the host
    holds UART 0, so the boot banner is never lost."""

    def __init__(self, machine: str, image: Path, log_path: Path | None = None, icount: int | None = None):
        self.machine, self.image, self.log_path, self.icount = machine, Path(image), log_path, icount
        self.proc: subprocess.Popen | None = None
        self.serial_port = self.qmp_port = 0
        self._qmp: socket.socket | None = None
        self._log = None
        self.serial = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.serial_port}"

    def command(self) -> list[str]:
        exe = shutil.which("qemu-system-arm")
        if exe is None:
            raise NpinError("qemu-system-arm is not installed", "./run installs it (Debian package qemu-system-arm)")
        load = (["-kernel", str(self.image)] if self.image.suffix == ".elf"
                else ["-device", f"loader,file={self.image}"])
        cmd = [exe, "-M", self.machine, "-display", "none", "-monitor", "none", "-nodefaults",
               "-S", "-serial", f"tcp:127.0.0.1:{self.serial_port},server=on,wait=off,nodelay=on",
               "-qmp", f"tcp:127.0.0.1:{self.qmp_port},server=on,wait=off,nodelay=on", *load]
        if self.icount is not None:
            cmd += ["-icount", f"shift={self.icount},sleep=off"]
        return cmd

    def start(self, timeout: float = 20.0) -> "QemuBoard":
        import serial  # pyserial

        if not self.image.is_file():
            raise NpinError(f"no firmware image at {self.image}", "build it first: npin firmware build DIR")
        self.serial_port, self.qmp_port = _free_port(), _free_port()
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while self._qmp is None:  # wait for the listener instead of sleeping blindly
            if self.proc.poll() is not None:
                raise NpinError(f"qemu-system-arm exited with {self.proc.returncode} while starting "
                                f"{self.image.name}", f"see {self.log_path}" if self.log_path else "")
            if time.monotonic() > deadline:
                self.stop()
                raise NpinError(f"qemu-system-arm did not open its ports within {timeout:.0f} s")
            try:
                self._qmp = socket.create_connection(("127.0.0.1", self.qmp_port), timeout=10)
            except OSError:
                time.sleep(0.05)
        self._qmp_file = self._qmp.makefile("rwb")
        json.loads(self._qmp_file.readline())  # greeting
        self._qmp_send("qmp_capabilities")
        self.serial = serial.serial_for_url(self.url, timeout=0.05)
        # Small frames both ways: without this, Nagle plus delayed ACKs cost 40 ms a round trip.
        self.serial._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._qmp_send("cont")
        return self

    def _qmp_send(self, execute: str) -> dict:
        self._qmp_file.write(json.dumps({"execute": execute}).encode() + b"\n")
        self._qmp_file.flush()
        while True:
            msg = json.loads(self._qmp_file.readline())
            if "return" in msg or "error" in msg:
                return msg

    def system_reset(self) -> None:
        """Press the reset button: the core restarts, RAM keeps its contents (as on silicon)."""
        self._qmp_send("system_reset")

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
