"""labgrid's client, driven through its documented command line (`labgrid-client`): places,
reservations, acquire and release stay labgrid's."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import NpinError


class LabgridError(NpinError):
    pass


def labgrid_bin(name: str) -> str:
    """A labgrid console script: beside this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        raise LabgridError(f"{name} is not installed", "./run installs labgrid into .venv")
    return found


@dataclass
class Place:
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    acquired: str | None = None

    def matches_tags(self, wanted: dict[str, str]) -> bool:
        return all(self.tags.get(k) == v or (k == "name" and self.name == v) for k, v in wanted.items())

    def board(self):
        """The npin board its `board=` tag names: what firmware the place runs."""
        from common.errors import ConfigError

        from ..boards import load_board

        if "board" not in self.tags:
            raise ConfigError(f"place {self.name} has no board=… tag, so npin cannot tell which firmware it runs",
                              f"labgrid-client -p {self.name} set-tags board=<npin board id>")
        return load_board(self.tags["board"])


class LabgridClient:
    def __init__(self, coordinator: str):
        self.coordinator = coordinator

    @property
    def env(self) -> dict:
        return {**os.environ, "LG_COORDINATOR": self.coordinator}

    def run(self, *args: str, place: str | None = None, timeout: float = 60.0, check: bool = True) -> str:
        cmd = [labgrid_bin("labgrid-client"), "-x", self.coordinator]
        if place:
            cmd += ["-p", place]
        res = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, env=self.env)
        if check and res.returncode != 0:
            err = (res.stderr or res.stdout).strip().splitlines()
            raise LabgridError(f"labgrid-client {' '.join(args)}{' on ' + place if place else ''} failed: "
                               f"{err[-1] if err else res.returncode}",
                               f"is the coordinator at {self.coordinator} up? (npin farm status)")
        return res.stdout

    def places(self) -> list[Place]:
        """Every place the coordinator knows, with its tags and who holds it."""
        out, places, cur = self.run("-v", "places"), [], None
        for line in out.splitlines():
            if m := re.match(r"Place '(.+)':$", line):
                cur = Place(m.group(1))
                places.append(cur)
            elif cur is None:
                continue
            elif m := re.match(r"\s+tags: (.*)$", line):
                cur.tags = dict(kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv)
            elif m := re.match(r"\s+acquired: (.*)$", line):
                cur.acquired = None if m.group(1).strip() == "None" else m.group(1).strip()
        return places

    def resources(self, place: str) -> list[tuple[str, str, bool]]:
        """The place's matching resources: (exporter/group/class/name, class, available)."""
        out, found = self.run("show", place=place), []
        for m in re.finditer(r"(?:Matching|Acquired) resource '[^']*' \((\S+)\):\n(.*?)(?=\n\S|\Z)", out, re.S):
            body = m.group(2)
            cls = re.search(r"'cls': '([^']+)'", body)
            avail = re.search(r"'avail': (True|False)", body)
            found.append((m.group(1), cls.group(1) if cls else "?", avail is not None and avail.group(1) == "True"))
        return found

    def resource_classes(self, place: str) -> set[str]:
        return {cls for _, cls, _ in self.resources(place)}

    def unavailable_resources(self, place: str) -> list[str]:
        try:
            return [path for path, _, avail in self.resources(place) if not avail]
        except LabgridError:
            return []

    def place(self, name: str) -> Place | None:
        return next((p for p in self.places() if p.name == name), None)

    def create_place(self, name: str, match: str, tags: dict[str, str]) -> None:
        self.run("create", place=name)
        self.run("add-match", match, place=name)
        self.run("set-tags", *(f"{k}={v}" for k, v in tags.items()), place=name)

    def reserve(self, place: str, timeout: float = 600.0) -> str:
        """A reservation of `place` through the coordinator's scheduler; its token once allocated."""
        out = self.run("reserve", "--wait", "--shell", f"name={place}", timeout=timeout)
        m = re.search(r"LG_TOKEN=(\S+)", out)
        if not m:
            raise LabgridError(f"labgrid-client reserve gave no token for {place}: {out.strip()}")
        return m.group(1)

    def acquire(self, token: str) -> None:
        self.run("acquire", place=f"+{token}")

    def release(self, place: str) -> None:
        self.run("release", place=place, check=False)
        if (p := self.place(place)) is not None and p.acquired is not None:
            self.run("release", "-k", place=place, check=False)  # held by a run that died

    def cancel(self, token: str) -> None:
        self.run("cancel-reservation", token, check=False)

    def write_env(self, place: Place, workdir: Path, path: Path, command: str):
        """A labgrid environment for `place` (its board's firmware built in `workdir`; the reset
        driver only if the place exports an emulator's monitor); returns the place's board."""
        from ..hil.lg_env import lg_env, write_lg_env

        board = place.board()
        write_lg_env(path, board, lg_env(board, Path(workdir), place=place.name,
                                         reset="NpinQemuMonitor" in self.resource_classes(place.name)), command)
        return board

    @contextlib.contextmanager
    def reserved(self, place: str, timeout: float = 600.0):
        """Reserve `place` (waiting in the coordinator's queue), acquire it; release it and drop the
        reservation afterwards, however the block ends."""
        token = None
        try:
            token = self.reserve(place, timeout=timeout)
            self.acquire(token)
            yield token
        finally:
            self.release(place)
            if token is not None:
                self.cancel(token)


def default_coordinator() -> str:
    """LG_COORDINATOR, else the local farm's (build/farm), else labgrid's default address."""
    if os.environ.get("LG_COORDINATOR"):
        return os.environ["LG_COORDINATOR"]
    from .state import DEFAULT_DIR, FarmState

    state = FarmState.load(DEFAULT_DIR)
    return state.coordinator if state else "127.0.0.1:20408"


@contextlib.contextmanager
def held_place(name: str, workdir: Path, coordinator: str | None = None):
    """A place on a coordinator, reserved and acquired for the block: yields (board id, labgrid
    environment file for it); released afterwards."""
    from common.errors import ConfigError

    client = LabgridClient(coordinator or default_coordinator())
    place = client.place(name)
    if place is None:
        raise ConfigError(f"no place {name} on the coordinator at {client.coordinator}",
                          f"labgrid-client -x {client.coordinator} places lists them")
    env_file = Path(workdir) / f"{name}.lg-env.yaml"
    board = client.write_env(place, workdir, env_file, f"npin … --place {name}")
    saved = os.environ.get("LG_COORDINATOR")
    os.environ["LG_COORDINATOR"] = client.coordinator  # labgrid's RemotePlace reads it
    try:
        with client.reserved(name):
            yield board.id, env_file
    finally:
        if saved is None:
            os.environ.pop("LG_COORDINATOR", None)
        else:
            os.environ["LG_COORDINATOR"] = saved
