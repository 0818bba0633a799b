"""`npin farm up` / `down`: a labgrid coordinator, QEMU boards with their UARTs on pseudo-terminals,
one labgrid exporter serving each as a network serial port (ser2net, as for a USB serial port) plus
the emulator's monitor, and one place per board tagged with its board and core."""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from common.errors import ConfigError, NpinError

from ..boards import load_board
from ..hil.qemu import QemuBoard
from ..hil.target import prepare
from ..pin.synth import pin_under_test
from .lgclient import LabgridClient, labgrid_bin
from .state import EXPORTER, FarmBoard, FarmState, alive, stop_group

DEFAULT_PORT = 20408  # labgrid's own default, so labgrid-client finds a local farm unasked


def parse_boards(spec: str) -> list[tuple[str, int]]:
    """"mps2-an386:2,netduinoplus2" → [("mps2-an386", 2), ("netduinoplus2", 1)], each board checked."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, count = item.partition(":")
        if count and (not count.isdigit() or int(count) < 1):
            raise ConfigError(f"--boards: '{item}' has no count of 1 or more", "e.g. --boards mps2-an386:2,netduinoplus2")
        board = load_board(name)
        if not board.qemu_machine:
            raise ConfigError(f"--boards: {name} has no emulator, so a local farm cannot boot it",
                              "real boards join through an exporter on their USB host (docs/farm.md)")
        out.append((name, int(count or 1)))
    if not out:
        raise ConfigError("--boards names no board", "e.g. --boards mps2-an386:2,netduinoplus2")
    return out


def check_bind(bind: str) -> None:
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise ConfigError(f"--bind {bind} is not an IP address", "e.g. --bind 127.0.0.1 (the default) or 10.0.0.5")


def _port_free(bind: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


def _wait_listening(bind: str, port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NpinError(f"{what} exited with {proc.returncode} while starting", f"see {log}")
        try:
            socket.create_connection((bind, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise NpinError(f"{what} did not listen on {bind}:{port} within {timeout:.0f} s", f"see {log}")


def ser2net_shim(farm_dir: Path, bind: str, real: str | None = None) -> Path:
    """labgrid's exporter starts ser2net listening on every address; this shim, first on the
    exporter's PATH, passes the same arguments with the listener bound to `bind`. Returns its folder."""
    real = real or shutil.which("ser2net") or ("/usr/sbin/ser2net" if Path("/usr/sbin/ser2net").exists() else None)
    if real is None:
        raise ConfigError("ser2net is not installed (labgrid's exporter serves serial ports with it)",
                          "./run installs it (Debian package ser2net)")
    bin_dir = farm_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "ser2net"
    shim.write_text(f"""#!/bin/sh
# written by npin farm up: ser2net as labgrid's exporter starts it, listening on {bind} only
n=$#
for a in "$@"; do
    case "$a" in *"),tcp,"*) a=$(printf '%s' "$a" | sed 's/),tcp,/),tcp,{bind},/') ;; esac
    set -- "$@" "$a"
done
shift $n
exec {real} "$@"
""")
    shim.chmod(0o755)
    return bin_dir


def _start(cmd: list[str], log: Path, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env, start_new_session=True)


def exporter_config(boards: list[FarmBoard], bind: str, baud: dict[str, int]) -> str:
    """The exporter's resource file: per place a RawSerialPort (served through ser2net, exactly as
    a lab serves a USB serial port) and the emulator's monitor."""
    lines = [f"{{# written by npin farm up: the exporter {EXPORTER} serves these boards (a Jinja2 template) #}}"]
    for b in boards:
        lines += [f"{b.place}:", "  RawSerialPort:", f"    port: {b.pty}", f"    speed: {baud[b.board]}",
                  "  NpinQemuMonitor:", f"    host: {bind}", f"    port: {b.qmp_port}"]
    return "\n".join(lines) + "\n"


def farm_up(farm_dir: Path, spec: str, bind: str = "127.0.0.1", port: int = DEFAULT_PORT,
            advance=lambda n=1: None) -> FarmState:
    farm_dir = Path(farm_dir).resolve()
    check_bind(bind)
    wanted = parse_boards(spec)
    if (old := FarmState.load(farm_dir)) is not None:
        if any(alive(p) for p in old.pids()):
            raise ConfigError(f"a farm is already up in {farm_dir} (coordinator {old.coordinator})",
                              "npin farm down first, or --dir another folder")
        farm_down(farm_dir)
    if not _port_free(bind, port):
        raise ConfigError(f"port {port} on {bind} is taken (another coordinator?)", "pick another: --port 20409")
    farm_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("places.yaml", "resources.yaml"):  # the coordinator's own files from an earlier farm
        (farm_dir / stale).unlink(missing_ok=True)
    started: list[int] = []
    try:
        coord = _start([labgrid_bin("labgrid-coordinator"), "-l", f"{bind}:{port}"],
                       farm_dir / "coordinator.log", farm_dir)
        started.append(coord.pid)
        boards, baud = [], {}
        for name, count in wanted:
            board = load_board(name)
            baud[name] = board.baud
            params = pin_under_test(None, None, board.hil_shape).params
            _, build = prepare(name, params, farm_dir / "firmware")
            for i in range(1, count + 1):
                place = f"{name}-{i}"
                log = farm_dir / f"{place}.qemu.log"
                qemu = QemuBoard(board.qemu_machine, build.elf, log, serial="pty", bind=bind).start(detach=True)
                started.append(qemu.pid)
                boards.append(FarmBoard(place, name, board.cpu, qemu.pid, qemu.pty, qemu.qmp_port, str(log)))
                advance()
        _wait_listening(bind, port, coord, "labgrid-coordinator", farm_dir / "coordinator.log")
        (farm_dir / "exporter.yaml").write_text(exporter_config(boards, bind, baud))
        env = {**os.environ, "PATH": f"{ser2net_shim(farm_dir, bind)}:{os.environ.get('PATH', '')}"}
        exporter = _start([labgrid_bin("labgrid-exporter"), "-c", f"{bind}:{port}", "--name", EXPORTER,
                           "--hostname", bind, "exporter.yaml"], farm_dir / "exporter.log", farm_dir, env)
        started.append(exporter.pid)
        state = FarmState(bind, f"{bind}:{port}", coord.pid, exporter.pid, boards)
        client = LabgridClient(state.coordinator)
        _wait_exported(client, boards, exporter, farm_dir / "exporter.log")
        for b in boards:
            client.create_place(b.place, f"{EXPORTER}/{b.place}/*", {"board": b.board, "core": b.core})
            advance()
        state.save(farm_dir)
        return state
    except BaseException:
        for pid in reversed(started):
            stop_group(pid)
        raise


def _wait_exported(client: LabgridClient, boards: list[FarmBoard], exporter, log: Path, timeout: float = 30.0):
    """Until the coordinator lists every board's serial port from the exporter."""
    deadline = time.monotonic() + timeout
    want = {b.place for b in boards}
    while time.monotonic() < deadline:
        if exporter.poll() is not None:
            raise NpinError(f"labgrid-exporter exited with {exporter.returncode} while starting", f"see {log}")
        out = client.run("resources", check=False)
        seen = {m.group(1) for m in re.finditer(rf"{EXPORTER}/([^/\s]+)/NetworkSerialPort", out)}
        if want <= seen:
            return
        time.sleep(0.2)
    raise NpinError(f"the exporter did not offer {sorted(want)} within {timeout:.0f} s", f"see {log}")


def farm_down(farm_dir: Path) -> FarmState | None:
    """Stop everything `up` started (exporter and its ser2net, coordinator, boards); forget the places."""
    farm_dir = Path(farm_dir)
    state = FarmState.load(farm_dir)
    if state is None:
        return None
    for pid in state.pids():
        stop_group(pid)
    for name in ("farm.json", "places.yaml", "resources.yaml"):
        (farm_dir / name).unlink(missing_ok=True)
    return state
