"""What a running farm is made of, kept in DIR/farm.json so status, run and down find it."""
from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.errors import ConfigError
from common.files import write_atomic

DEFAULT_DIR = Path("build/farm")
EXPORTER = "npin-farm"  # the exporter's name: places match EXPORTER/<place>/*


@dataclass
class FarmBoard:
    place: str
    board: str
    core: str
    pid: int
    pty: str
    qmp_port: int
    log: str


@dataclass
class FarmState:
    bind: str
    coordinator: str                  # host:port
    coordinator_pid: int
    exporter_pid: int
    boards: list[FarmBoard] = field(default_factory=list)

    def save(self, farm_dir: Path) -> None:
        write_atomic(Path(farm_dir) / "farm.json", json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, farm_dir: Path) -> "FarmState | None":
        path = Path(farm_dir) / "farm.json"
        if not path.exists():
            return None
        doc = json.loads(path.read_text())
        return cls(**{**doc, "boards": [FarmBoard(**b) for b in doc["boards"]]})

    @classmethod
    def require(cls, farm_dir: Path) -> "FarmState":
        state = cls.load(farm_dir)
        if state is None:
            raise ConfigError(f"no farm is up in {farm_dir}", "start one: npin farm up --boards mps2-an386:2,netduinoplus2")
        return state

    def pids(self) -> list[int]:
        return [self.exporter_pid, self.coordinator_pid, *(b.pid for b in self.boards)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def stop_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group `pid` leads (it was started in a session of its own), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)
