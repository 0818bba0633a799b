"""Parameters flashed apart from the firmware: `npin firmware image` merges them into one Intel HEX
at the board's fixed address, and the firmware refuses a missing or corrupt block at boot. Runs the
images in QEMU (the HEX through QEMU's generic loader, as a flasher would write it)."""
from xml.etree import ElementTree

import pytest
from intelhex import IntelHex

from firmware import protocol as P
from quant.pin_fixed import PinFixed
from toolkit.boards import load_board
from toolkit.cli import main
from toolkit.hil.client import DeviceError, PinClient
from toolkit.hil.link import FrameLink
from toolkit.hil.lockstep import run_lockstep
from toolkit.hil.qemu import QemuBoard
from toolkit.pin.params_io import save_params
from toolkit.pin.synth import synthetic_pin
from parts import needs

pytestmark = needs("qemu", "arm")
BOARD = "mps2-an386"


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image")
    pin = synthetic_pin(64, 8, 8, seed=21)
    names = [f"f{i}" for i in range(8)]
    save_params(tmp / "pin.q15.json", pin.params, pin.scale, names, names)
    assert main(["firmware", "gen", "--board", BOARD, "--pin", str(tmp / "pin.q15.json"), "-o", str(tmp / "fw"),
                 "--params", "external"]) == 0
    assert main(["firmware", "build", str(tmp / "fw")]) == 0
    assert main(["firmware", "image", str(tmp / "fw"), "--pin", str(tmp / "pin.q15.json"),
                 "-o", str(tmp / "merged.hex")]) == 0
    return tmp, pin


def _boot(image, log):
    q = QemuBoard(BOARD, image, log).start()
    link = FrameLink(q.serial)
    return q, link, link.drain(0.5)


def test_firmware_without_a_block_refuses_to_run(external):
    tmp, _ = external
    q, link, boot = _boot(tmp / "fw" / ".pio" / "build" / BOARD / "firmware.elf", tmp / "noblock.log")
    try:
        assert [f.type for f in boot] == [P.ERROR, P.HELLO | P.RESPONSE]
        assert P.parse_error(boot[0].payload) == (P.E_PARAMS, "parameter block: no magic (none flashed?)")
        with pytest.raises(DeviceError) as e:
            PinClient(link, timeout=1, retries=0).step(1)
        assert e.value.code == P.E_PARAMS
    finally:
        q.stop()


def test_merged_hex_runs_bit_exact(external):
    tmp, pin = external
    q, link, boot = _boot(tmp / "merged.hex", tmp / "merged.log")
    try:
        hello = P.Hello.parse(boot[-1].payload)
        assert hello.flags & P.FLAG_PARAMS_OK
        client = PinClient(link, timeout=2)
        client.hello()
        client.sync()
        xs, intents = pin.stream_q15(300, seed=1)
        assert run_lockstep(client, PinFixed(pin.params), xs, intents).vectors == 300
    finally:
        q.stop()


def test_corrupt_block_in_the_hex_is_refused(external):
    tmp, _ = external
    hexfile = IntelHex(str(tmp / "merged.hex"))
    addr = load_board(BOARD).params_origin + 200
    hexfile[addr] ^= 0x01
    hexfile.write_hex_file(str(tmp / "corrupt.hex"))
    q, link, boot = _boot(tmp / "corrupt.hex", tmp / "corrupt.log")
    try:
        assert P.parse_error(boot[0].payload) == (P.E_PARAMS, "parameter block: CRC mismatch")
        assert not P.Hello.parse(boot[-1].payload).flags & P.FLAG_PARAMS_OK
    finally:
        q.stop()


def test_image_refuses_a_pin_of_another_shape(external, tmp_path, capsys):
    tmp, _ = external
    other = synthetic_pin(128, 8, 8, seed=2)
    save_params(tmp_path / "other.q15.json", other.params, other.scale, list("abcdefgh"), list("abcdefgh"))
    rc = main(["firmware", "image", str(tmp / "fw"), "--pin", str(tmp_path / "other.q15.json"),
               "-o", str(tmp_path / "x.hex")])
    assert rc == 1 and not (tmp_path / "x.hex").exists()
    assert "the firmware was generated for D=64 K=8 slots=8" in capsys.readouterr().err


def test_hil_run_against_a_port_refuses_a_board_running_another_build(external, tmp_path, capsys):
    """--port path of `npin hil run`, with QEMU standing in for a real board flashed with an old build."""
    tmp, _ = external
    q = QemuBoard(BOARD, tmp / "merged.hex", tmp_path / "q.log").start()
    url = q.url
    q.serial.close()  # hand the port to the suite, as a USB serial port would be
    q.serial = None
    try:
        rc = main(["hil", "run", "--board", BOARD, "--port", url, "--shape", "64,8,8", "--vectors", "10",
                   "--workdir", str(tmp_path / "hil"), "--junit", str(tmp_path / "j.xml")])
    finally:
        q.stop()
    out = capsys.readouterr().out
    assert rc != 0
    assert "IdentityError: the board runs build" in out
    suite = ElementTree.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert int(suite.get("errors")) == int(suite.get("tests")) > 0  # every test refused at set-up
