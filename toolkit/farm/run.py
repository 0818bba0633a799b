"""`npin farm run`: the HIL suite on every matching place at once, one pytest process per place
(labgrid's model), each place reserved and acquired through the coordinator while its suite runs
and released after, whatever happened."""
from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ConfigError

from .lgclient import LabgridClient, LabgridError, Place
from .report import SuiteCounts, read_junit

HIL_TESTS = Path(__file__).resolve().parents[2] / "hil_tests"


def parse_tags(tags: list[str]) -> dict[str, str]:
    out = {}
    for t in tags:
        key, eq, value = t.partition("=")
        if not eq or not key or not value:
            raise ConfigError(f"--tag {t} is not KEY=VALUE", "e.g. --tag core=cortex-m4 or --tag board=mps2-an386")
        out[key] = value
    return out


@dataclass
class PlaceRun:
    place: Place
    board: str
    dir: Path
    counts: SuiteCounts = field(default_factory=SuiteCounts)
    seconds: float = 0.0
    returncode: int | None = None
    vanished: str | None = None      # why the place's board is gone, if it went during the run
    released: bool = False
    problem: str | None = None       # what stopped the run before or around pytest

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.problem and not self.vanished and self.counts.failed == 0

    @property
    def junit(self) -> Path:
        return self.dir / "junit.xml"


def matching_places(client: LabgridClient, tags: dict[str, str]) -> list[Place]:
    places = [p for p in client.places() if p.matches_tags(tags)]
    if not places:
        known = ", ".join(f"{p.name} ({' '.join(f'{k}={v}' for k, v in p.tags.items())})" for p in client.places())
        raise ConfigError(f"no place matches {' '.join(f'{k}={v}' for k, v in tags.items()) or 'any tag'}",
                          f"places: {known or 'none (npin farm up)'}")
    for p in places:
        p.board()  # refused here, before anything runs, if a place names no known board
    return places


class FarmRunner:
    def __init__(self, client: LabgridClient, out_dir: Path, pytest_args: list[str], vanished=None,
                 reserve_timeout: float = 600.0):
        """`vanished(place) -> str | None` says why a place's board is gone (the local farm knows its
        emulators); the coordinator's view of the place's resources is asked as well."""
        self.client, self.out_dir, self.pytest_args = client, Path(out_dir), pytest_args
        self.vanished_hook, self.reserve_timeout = vanished, reserve_timeout

    def _vanished(self, place: Place) -> str | None:
        if self.vanished_hook is not None and (why := self.vanished_hook(place.name)):
            return why
        gone = self.client.unavailable_resources(place.name)
        return f"its exported resources are gone: {', '.join(gone)}" if gone else None

    def run_place(self, place: Place, label: str = "") -> PlaceRun:
        run = PlaceRun(place, place.tags["board"], self.out_dir / (place.name + label))
        run.dir.mkdir(parents=True, exist_ok=True)
        run.junit.unlink(missing_ok=True)
        env_file = run.dir / "env.yaml"
        self.client.write_env(place, run.dir / "firmware", env_file, f"npin farm run ({place.name})")
        t0 = time.monotonic()
        try:
            with self.client.reserved(place.name, self.reserve_timeout):
                run.returncode = self._pytest(run, env_file)
        except LabgridError as e:
            run.problem = str(e)
        finally:
            run.seconds = time.monotonic() - t0
            run.vanished = self._vanished(place)
            after = self.client.place(place.name)
            run.released = after is not None and after.acquired is None
        run.counts = read_junit(run.junit) if run.junit.exists() else SuiteCounts()
        if run.returncode not in (None, 0) and not run.junit.exists() and not run.problem:
            run.problem = f"pytest exited with {run.returncode} before writing results; see {run.dir / 'pytest.log'}"
        return run

    def _pytest(self, run: PlaceRun, env_file: Path) -> int:
        cmd = [sys.executable, "-m", "pytest", str(HIL_TESTS), "-p", "no:cacheprovider", "-q", "--tb=short",
               "-o", "junit_family=legacy",
               f"--rootdir={HIL_TESTS}", f"--lg-env={env_file}", f"--lg-coordinator={self.client.coordinator}",
               f"--junitxml={run.junit}", *self.pytest_args]
        with open(run.dir / "pytest.log", "w") as log:
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.client.env).returncode

    def run_all(self, places: list[Place], jobs: int, advance=lambda n=1: None) -> tuple[list[PlaceRun], float]:
        t0 = time.monotonic()

        def one(place):
            result = self.run_place(place)
            advance()
            return result

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            runs = list(pool.map(one, places))
        return runs, time.monotonic() - t0
