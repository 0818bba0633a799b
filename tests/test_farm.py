"""A labgrid farm on this machine, as CI runs it: `npin farm up` starts a coordinator, four QEMU
boards and an exporter serving their UARTs through ser2net; `npin farm run` runs the whole HIL
suite on the four places at once, each reserved and acquired through the coordinator. Then one
board is killed mid-run: only its place fails, naming itself, and every place ends released —
as labgrid's own client reports."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from parts import needs

from toolkit.farm.lgclient import LabgridClient
from toolkit.farm.state import FarmState
from toolkit.hil.qemu import _free_port

pytestmark = needs("qemu", "arm", "ser2net")

BOARDS = "mps2-an386:2,netduinoplus2,lm3s6965evb"
PLACES = {"mps2-an386-1", "mps2-an386-2", "netduinoplus2-1", "lm3s6965evb-1"}
VICTIM = "mps2-an386-2"


def npin(*args, **kw):
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    farm_dir = tmp_path_factory.mktemp("farm")
    up = npin("farm", "up", "--boards", BOARDS, "--dir", str(farm_dir), "--port", str(_free_port()))
    assert up.returncode == 0, up.stdout + up.stderr
    state = FarmState.load(farm_dir)
    try:
        yield farm_dir, state, LabgridClient(state.coordinator)
    finally:
        down = npin("farm", "down", "--dir", str(farm_dir))
        assert down.returncode == 0, down.stderr


def _listeners(pids: set[int]) -> list[tuple[str, int]]:
    """(host, port) of every TCP socket in LISTEN state held by `pids` (from /proc, no tools needed)."""
    inodes = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if m := re.match(r"socket:\[(\d+)\]", target):
                inodes[m.group(1)] = pid
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:
                addr, port = local.split(":")
                raw = bytes.fromhex(addr)
                if len(raw) == 4:
                    host = ".".join(str(b) for b in raw[::-1])
                else:  # IPv6: four little-endian words; ::ffff:a.b.c.d is a mapped IPv4 address
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    host = ("::ffff:" + ".".join(str(b) for b in words[12:])) if words[:12] == bytes(10) + b"\xff\xff" \
                        else words.hex()
                found.append((host, int(port, 16)))
    return found


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def test_everything_the_farm_opens_listens_on_loopback_only(farm):
    _, state, client = farm
    assert {p.name for p in client.places()} == PLACES
    assert {p.name: (p.tags["board"], p.tags["core"]) for p in client.places()}["netduinoplus2-1"] == \
        ("netduinoplus2", "cortex-m4")
    with client.reserved("lm3s6965evb-1"):  # acquiring starts the exporter's ser2net for the place
        deadline = time.monotonic() + 10
        while not (ser2net := _children(state.exporter_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ser2net, "the exporter started no ser2net for the acquired place"
        pids = {state.coordinator_pid, state.exporter_pid, *ser2net, *(b.pid for b in state.boards)}
        listening = _listeners(pids)
    # the coordinator, one monitor per board, and the acquired place's serial port
    assert len(listening) >= 1 + len(state.boards) + 1, listening
    assert all(host in ("127.0.0.1", "::ffff:127.0.0.1") for host, _ in listening), listening


def test_the_hil_suite_runs_on_four_places_at_once(farm, tmp_path):
    farm_dir, _, client = farm
    out = tmp_path / "run"
    res = npin("farm", "run", "--dir", str(farm_dir), "--vectors", "300", "--out", str(out),
               "--json", str(tmp_path / "run.json"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert re.search(r"wall: 4 places in [\d.]+ s, one place alone [\d.]+ s \(\S+\): [\d.]+x the throughput", res.stdout)
    doc = json.loads((tmp_path / "run.json").read_text())
    assert {p["place"] for p in doc["places"]} == PLACES and doc["throughput_ratio"] > 0
    suites = ElementTree.parse(out / "junit.xml").getroot().findall("testsuite")
    assert sorted(s.get("name") for s in suites) == sorted(PLACES)
    for suite in suites:
        cases = list(suite.iter("testcase"))
        assert len(cases) >= 17, suite.get("name")
        bad = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None
               or c.find("skipped") is not None]
        assert bad == [], (suite.get("name"), bad)  # the reset tests press reset through the exported monitor
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["place"] == suite.get("name") and props["released"] == "true"
    page = (out / "report.html").read_text()
    assert all(page.count(f"<td>{place}</td>") == 1 for place in PLACES)
    assert all(p.acquired is None for p in client.places())


def test_a_board_killed_mid_run_fails_only_its_place_and_the_place_is_released(farm, tmp_path):
    farm_dir, state, client = farm
    out = tmp_path / "kill"
    run = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "farm", "run", "--dir", str(farm_dir),
                            "--vectors", "600", "--no-baseline", "--out", str(out), "--json", str(tmp_path / "k.json")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        log = out / VICTIM / "pytest.log"
        while time.monotonic() < deadline:  # until the victim's suite is past its first tests
            if log.exists() and log.read_text().count(".") >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the victim's suite never got going")
        victim = next(b for b in state.boards if b.place == VICTIM)
        os.kill(victim.pid, signal.SIGKILL)
        text, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, text
    assert re.search(rf"^{VICTIM} .*vanished mid-run", text, re.M), text
    doc = {p["place"]: p for p in json.loads((tmp_path / "k.json").read_text())["places"]}
    assert doc[VICTIM]["failed"] > 0 and doc[VICTIM]["vanished"]
    for place in PLACES - {VICTIM}:
        assert doc[place]["failed"] == 0 and doc[place]["passed"] >= 17 and not doc[place]["vanished"], doc[place]
    assert all(p["released"] for p in doc.values())
    suites = {s.get("name"): s for s in ElementTree.parse(out / "junit.xml").getroot().findall("testsuite")}
    messages = [(f.get("message") or "") for f in suites[VICTIM].iter("failure")] + \
               [(e.get("message") or "") for e in suites[VICTIM].iter("error")]
    assert messages and all(f"place {VICTIM}" in m for m in messages), messages
    held = {p.name: p.acquired for p in client.places()}  # labgrid's own view
    assert held == {place: None for place in PLACES}, held
    status = npin("farm", "status", "--dir", str(farm_dir))
    assert status.returncode == 0, status.stdout + status.stderr  # coordinator and exporter still up
    assert re.search(rf"place {VICTIM} .*emulator GONE", status.stdout), status.stdout
    assert len(re.findall(r"emulator running .* acquired by nobody", status.stdout)) == len(PLACES) - 1, status.stdout
