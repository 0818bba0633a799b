"""labgrid environments for npin boards (`npin boards lg-env`), loaded by labgrid itself; the HIL
suite through labgrid's QEMUDriver; the pieces a farm is made of (the ser2net shim, the merged
JUnit file)."""
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from labgrid import Environment
from parts import needs

from common.errors import ConfigError
from toolkit.boards import load_board
from toolkit.farm.lgclient import Place
from toolkit.farm.report import merge_junit, read_junit
from toolkit.farm.run import PlaceRun
from toolkit.farm.up import ser2net_shim
from toolkit.hil.lg_env import board_of, firmware_elf


def npin(*args):
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *args], capture_output=True, text=True)


def _drivers(doc):
    return {name: conf for d in doc["targets"]["main"]["drivers"] for name, conf in d.items()}


def test_emulator_env_loads_in_labgrid_with_npin_drivers_bound(tmp_path):
    out = tmp_path / "env.yaml"
    assert npin("boards", "lg-env", "mps2-an386", "--workdir", str(tmp_path / "w"), "-o", str(out)).returncode == 0
    target = Environment(str(out)).get_target("main")
    qemu = target.get_driver("QEMUDriver", activate=False)
    assert (qemu.machine, qemu.cpu, qemu.memory) == ("mps2-an386", "cortex-m4", "16M")
    assert Path(target.env.config.get_image_path(qemu.kernel)) == firmware_elf(load_board("mps2-an386"), tmp_path / "w")
    strategy = target.get_driver("NpinStrategy", activate=False)
    assert strategy.board == "mps2-an386" and strategy.power is qemu and strategy.frames.console is qemu
    assert board_of(out) == "mps2-an386"


def test_port_env_uses_labgrids_serial_driver_at_the_boards_baud(tmp_path):
    out = tmp_path / "env.yaml"
    assert npin("boards", "lg-env", "nucleo_f446re", "--port", "/dev/ttyACM7", "-o", str(out)).returncode == 0
    target = Environment(str(out)).get_target("main")
    port = target.get_resource("RawSerialPort", wait_avail=False)
    assert (port.port, port.speed) == ("/dev/ttyACM7", load_board("nucleo_f446re").baud)
    strategy = target.get_driver("NpinStrategy", activate=False)
    assert strategy.power is None and strategy.reset is None
    assert type(strategy.frames.console).__name__ == "SerialDriver"


def test_place_env_names_the_place_and_a_reset_line_only_where_one_is_exported(tmp_path):
    with_reset, without = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert npin("boards", "lg-env", "netduinoplus2", "--place", "rack-3", "-o", str(with_reset)).returncode == 0
    assert npin("boards", "lg-env", "netduinoplus2", "--place", "rack-3", "--no-reset", "-o", str(without)).returncode == 0
    a, b = (yaml.safe_load(p.read_text()) for p in (with_reset, without))
    assert a["targets"]["main"]["resources"] == [{"RemotePlace": {"name": "rack-3"}}]
    assert "NpinQemuResetDriver" in _drivers(a) and "NpinQemuResetDriver" not in _drivers(b)
    assert "SerialDriver" in _drivers(b) and _drivers(b)["NpinStrategy"]["board"] == "netduinoplus2"


def test_an_env_without_an_npin_strategy_is_refused(tmp_path):
    bad = tmp_path / "env.yaml"
    bad.write_text("targets:\n  main:\n    drivers:\n    - SerialDriver: {}\n")
    with pytest.raises(ConfigError, match="not an npin labgrid environment"):
        board_of(bad)


@needs("qemu", "arm")
def test_hil_suite_through_labgrids_qemu_driver(tmp_path):
    env = tmp_path / "env.yaml"
    assert npin("boards", "lg-env", "mps2-an386", "--workdir", str(tmp_path / "w"), "-o", str(env)).returncode == 0
    junit = tmp_path / "junit.xml"
    res = npin("hil", "run", "--lg-env", str(env), "--vectors", "200", "--junit", str(junit),
               "-k", "identity or reset_button or malformed or reset_state")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    counts = read_junit(junit)
    assert counts.tests >= 8 and counts.failed == counts.errors == counts.skipped == 0  # reset via QEMUDriver's QMP
    names = [c.get("name") for c in ElementTree.parse(junit).getroot().iter("testcase")]
    assert "test_reset_button_mid_stream_resumes_bit_exact" in names


def test_ser2net_shim_binds_the_listener_and_passes_everything_else(tmp_path):
    real = tmp_path / "fake-ser2net"
    real.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    real.chmod(0o755)
    shim = ser2net_shim(tmp_path, "10.1.2.3", real=str(real)) / "ser2net"
    args = ["-d", "-n", "-Y", "connection: &con01#  accepter: telnet(rfc2217,mode=server),tcp,40001",
            "-Y", "  connector: serialdev(nouucplock=true),/dev/pts/3,115200n81,local"]
    out = subprocess.run([str(shim), *args], capture_output=True, text=True).stdout.splitlines()
    assert out == args[:3] + ["connection: &con01#  accepter: telnet(rfc2217,mode=server),tcp,10.1.2.3,40001"] + args[4:]


def test_merged_junit_has_a_suite_per_place_and_a_failure_for_a_place_without_results(tmp_path):
    ok_dir = tmp_path / "a"
    ok_dir.mkdir()
    (ok_dir / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="2" failures="1" errors="0" skipped="0">'
        '<testcase classname="test_x" name="t1"/><testcase classname="test_x" name="t2">'
        '<failure message="LinkTimeout: no answer from place a">x</failure></testcase></testsuite></testsuites>')
    a = PlaceRun(Place("a", {"board": "mps2-an386", "core": "cortex-m4"}), "mps2-an386", ok_dir, released=True)
    b = PlaceRun(Place("b", {"board": "microbit"}), "microbit", tmp_path / "b", problem="reservation timed out")
    merge_junit([a, b], tmp_path / "all.xml")
    suites = {s.get("name"): s for s in ElementTree.parse(tmp_path / "all.xml").getroot().findall("testsuite")}
    assert set(suites) == {"a", "b"}
    assert [c.get("classname") for c in suites["a"].iter("testcase")] == ["a.test_x", "a.test_x"]
    props = {p.get("name"): p.get("value") for p in suites["a"].iter("property")}
    assert props == {"place": "a", "board": "mps2-an386", "core": "cortex-m4", "released": "true"}
    assert [f.get("message") for f in suites["b"].iter("failure")] == ["reservation timed out"]
    counts = read_junit(ok_dir / "junit.xml")
    assert (counts.tests, counts.passed, counts.failed) == (2, 1, 1)
    assert counts.failures == [("t2", "LinkTimeout: no answer from place a")]


@needs("qemu", "arm")
def test_strategy_flashes_the_elf_it_built_through_the_targets_flasher(tmp_path):
    """A lab's board has a flasher (OpenOCDDriver, …): the strategy loads the ELF this run built
    before it checks HELLO. Here a flasher that records, beside the emulator."""
    env = tmp_path / "env.yaml"
    assert npin("boards", "lg-env", "mps2-an386", "--workdir", str(tmp_path / "w"), "-o", str(env)).returncode == 0
    doc = yaml.safe_load(env.read_text())
    record = tmp_path / "flashed.txt"
    doc["imports"].append(str(Path(__file__).parent / "data" / "labgrid" / "recording_flasher.py"))
    doc["targets"]["main"]["drivers"].insert(1, {"RecordingFlasher": {"record": str(record)}})
    env.write_text(yaml.safe_dump(doc))
    res = npin("hil", "run", "--lg-env", str(env), "-k", "identity", "--vectors", "50")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    elf = firmware_elf(load_board("mps2-an386"), tmp_path / "w").resolve()
    assert record.read_text().splitlines() == [str(elf)]
    # labgrid's --lg-initial-state ready: the board already runs this build, nothing is flashed
    hil = Path(__file__).resolve().parents[1] / "hil_tests"
    res = subprocess.run([sys.executable, "-m", "pytest", str(hil), f"--rootdir={hil}", "-p", "no:cacheprovider", "-q",
                          f"--lg-env={env}", "--lg-initial-state=ready", "-k", "identity"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert record.read_text().splitlines() == [str(elf)]


def test_a_power_switch_is_not_taken_for_a_reset_line(tmp_path):
    """labgrid's power drivers offer ResetProtocol as a power cycle, which loses RAM; the reset tests
    need a reset that keeps it, so the strategy leaves `reset` unbound beside a power switch."""
    env = tmp_path / "env.yaml"
    assert npin("boards", "lg-env", "nucleo_f446re", "--port", "/dev/ttyACM7", "-o", str(env)).returncode == 0
    doc = yaml.safe_load(env.read_text())
    doc["targets"]["main"]["drivers"].insert(1, {"ExternalPowerDriver": {"cmd_on": "true", "cmd_off": "true"}})
    env.write_text(yaml.safe_dump(doc))
    strategy = Environment(str(env)).get_target("main").get_driver("NpinStrategy", activate=False)
    assert type(strategy.power).__name__ == "ExternalPowerDriver" and strategy.reset is None


@needs("qemu", "arm")
def test_open_lg_target_hands_over_a_ready_board_and_stops_the_emulator_after(tmp_path):
    """What `npin bench --lg-env` and `--place` open: the board ready, HELLO checked; labgrid's
    environment cleaned up afterwards (no emulator left running)."""
    from toolkit.hil.lg_env import open_lg_target
    from toolkit.pin.synth import pin_under_test

    env = tmp_path / "env.yaml"
    assert npin("boards", "lg-env", "netduinoplus2", "--workdir", str(tmp_path / "w"), "-o", str(env)).returncode == 0
    board = load_board("netduinoplus2")
    elf = str(firmware_elf(board, tmp_path / "w"))
    with open_lg_target(env, pin_under_test(None, None, board.hil_shape).params) as target:
        hello = target.client.hello()
        assert hello.board == "netduinoplus2" and hello.build_id.hex() == target.build.meta["build_id"]
        assert target.emulated and target.reset_button is not None and target.where.startswith("labgrid target main")
        assert any(elf in p.read_text() for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p))
    assert not any(elf in p.read_text() for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p))


def _readable(path: Path) -> bool:
    try:
        path.read_text()
        return True
    except OSError:
        return False


def test_the_serial_module_is_labgrids_fork_and_both_distributions_stay_installed():
    """labgrid needs pyserial-labgrid (RFC 2217 fixes), PlatformIO needs pyserial; both install the
    `serial` package. Set-up holds the fork's files (tools/bootstrap.sh, settle_serial)."""
    from importlib import metadata

    import serial
    import serial.rfc2217  # noqa: F401 — what labgrid's network serial ports use

    assert serial.__version__ == metadata.version("pyserial-labgrid")
    assert metadata.version("pyserial") == "3.5"  # PlatformIO's requirement stays satisfied
