"""Build a generated firmware project with PlatformIO (offline, the local npin-arm platform) and
report its sizes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common.errors import BuildError


# Sections that occupy flash, and those that occupy RAM (emlearn's size.py convention, plus ours).
FLASH_SECTIONS = (".text", ".ARM.exidx", ".data", ".npin_params")
RAM_SECTIONS = (".data", ".bss", ".noinit")


def pio_executable() -> str:
    local = Path(sys.executable).with_name("pio")
    exe = str(local) if local.exists() else shutil.which("pio")
    if exe is None:
        raise BuildError("PlatformIO (pio) is not installed", "./run sets it up in .venv")
    return exe


def pio_environment() -> dict[str, str]:
    """No registry, no telemetry, no upgrade checks: builds must work with the network cut."""
    env = dict(os.environ)
    env.update(PLATFORMIO_SETTING_ENABLE_TELEMETRY="No", PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="3650",
               PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0", PLATFORMIO_NO_ANSI="true")
    return env


@dataclass(frozen=True)
class BuildResult:
    project: Path
    elf: Path
    hex: Path
    meta: dict
    sections: dict[str, int]

    @property
    def flash_bytes(self) -> int:
        return sum(self.sections.get(s, 0) for s in FLASH_SECTIONS)

    @property
    def ram_bytes(self) -> int:
        return sum(self.sections.get(s, 0) for s in RAM_SECTIONS)

    def size_table(self) -> str:
        rows = [f"  {name:<14} {size:>8}  {'flash' if name in FLASH_SECTIONS else ''}"
                f"{' + ' if name in FLASH_SECTIONS and name in RAM_SECTIONS else ''}"
                f"{'RAM' if name in RAM_SECTIONS else ''}" for name, size in self.sections.items()]
        return "\n".join(rows + [f"  flash {self.flash_bytes} bytes, RAM {self.ram_bytes} bytes "
                                 f"(slab {self.meta['slab_bytes']} bytes)"])


def section_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and not parts[0].startswith(".debug") \
                and parts[0] != ".comment" and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def pio_env_dir(project: Path, board_id: str) -> Path:
    """Where `pio run` leaves a generated project's outputs (its one env is named after the board)."""
    return Path(project) / ".pio" / "build" / board_id


def build_project(project: Path, verbose: bool = False) -> BuildResult:
    project = Path(project)
    meta_path = project / "npin_project.json"
    if not meta_path.exists():
        raise BuildError(f"{project} is not a generated npin firmware project (no npin_project.json)",
                         "make one with 'npin firmware gen --board B --pin FILE.q15.json -o DIR'")
    meta = json.loads(meta_path.read_text())
    res = subprocess.run([pio_executable(), "run", "-d", str(project)], capture_output=not verbose, text=True,
                         env=pio_environment())
    if res.returncode != 0:
        tail = "\n".join(((res.stdout or "") + (res.stderr or "")).splitlines()[-15:])
        raise BuildError(f"pio run failed for {project}:\n{tail}", f"run 'pio run -d {project}' to see it all")
    build = pio_env_dir(project, meta["board"])
    elf = build / "firmware.elf"
    return BuildResult(project, elf, build / "firmware.hex", meta, section_sizes(elf))
