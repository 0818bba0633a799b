"""Firmware projects: fit checks per board, atomic generation, build identity, and real offline
PlatformIO builds for every board (sizes, no float, vector table and parameter block in place)."""
import re
import struct
import subprocess

import pytest
from intelhex import IntelHex

from firmware.params_block import params_block
from firmware.project_gen import FirmwareGenError, check_fits, generate_project
from toolkit.boards import BOARDS_DIR, all_boards, board_ids, load_board
from toolkit.cli import main
from common.errors import ConfigError
from toolkit.firmware.build import build_project
from toolkit.pin.params_io import save_params
from toolkit.pin.synth import synthetic_pin
from parts import needs

needs_arm = needs("arm")


def test_every_board_file_loads_and_the_default_exists():
    ids = board_ids()
    assert {"mps2-an386", "netduinoplus2", "lm3s6965evb", "microbit", "nucleo_f446re"} <= set(ids)
    boards = {b.id: b for b in all_boards()}
    assert boards["mps2-an386"].qemu_machine == "mps2-an386" and boards["mps2-an386"].cpu == "cortex-m4"
    assert boards["microbit"].ram_size == 16 * 1024 and boards["lm3s6965evb"].ram_size == 64 * 1024
    assert boards["nucleo_f446re"].qemu_machine is None and boards["nucleo_f446re"].standard_platform == "ststm32"


@pytest.mark.parametrize("table, typo, want", [("hil", "facts", "hil.facets"), ("uart", "buad", "uart.baud"),
                                               ("", "clock_mhz", "clock_hz")])
def test_a_misspelt_board_key_is_refused_with_the_nearest_valid_one(tmp_path, table, typo, want):
    text = (BOARDS_DIR / "mps2-an386.toml").read_text()
    lines = text.splitlines(keepends=True)
    at = next(i + 1 for i, line in enumerate(lines) if line.startswith(f"[{table}]")) if table else 0
    text = "".join(lines[:at] + [f"{typo} = 7\n"] + lines[at:])
    (tmp_path / "mps2-an386.toml").write_text(text)
    with pytest.raises(ConfigError, match=f"unknown key '{(table + '.') if table else ''}{typo}'.*did you mean '{want}'"):
        load_board("mps2-an386", tmp_path)


def test_unknown_board_suggests_the_nearest():
    with pytest.raises(ConfigError, match="unknown board 'microbits' \\(did you mean 'microbit'\\?\\)"):
        load_board("microbits")


@pytest.mark.parametrize("board_id, shape", [("lm3s6965evb", (768, 16, 16)), ("microbit", (512, 8, 32))])
def test_a_pin_too_big_for_the_board_is_refused_with_what_would_fit(board_id, shape):
    board = load_board(board_id)
    with pytest.raises(FirmwareGenError) as e:
        check_fits(board, *shape)
    msg = str(e.value)
    m = re.search(r"RAM needs (\d+) bytes, (\d+) over the (\d+)-byte budget; fits: "
                  r"(the same shape with Q7 facets \(\d+ bytes\), )?D=(\d+) K=(\d+) slots=(\d+)", msg)
    assert m, msg
    need, over, budget = map(int, m.groups()[:3])
    assert need - budget == over > 0
    check_fits(board, *map(int, m.groups()[4:]))  # the suggestions really fit
    if m.group(4):
        check_fits(board, *shape, "q7")


def test_the_mission_shape_fits_the_64k_board_and_the_m4_boards():
    for board_id in ("lm3s6965evb", "mps2-an386", "netduinoplus2", "nucleo_f446re"):
        plan = check_fits(load_board(board_id), 512, 16, 32)
        assert plan.slab_bytes == 52_608


def test_gen_cli_refuses_a_pin_that_does_not_fit_and_writes_nothing(tmp_path, capsys):
    pin = synthetic_pin(512, 8, 32, seed=0)
    save_params(tmp_path / "big.q15.json", pin.params, pin.scale, [f"f{i}" for i in range(8)], [f"t{i}" for i in range(8)])
    out = tmp_path / "proj"
    rc = main(["firmware", "gen", "--board", "microbit", "--pin", str(tmp_path / "big.q15.json"), "-o", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert rc == 1
    assert err[0].startswith("error: the Pin does not fit microbit (16 KiB RAM): RAM needs")
    assert err[1].startswith("hint: ")
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "big.q15.json"]


def test_build_id_covers_sources_params_and_board(tmp_path):
    a, b = synthetic_pin(64, 4, 8, seed=1), synthetic_pin(64, 4, 8, seed=2)
    m1 = generate_project(load_board("mps2-an386"), a.params, tmp_path / "p")
    m2 = generate_project(load_board("mps2-an386"), a.params, tmp_path / "p")
    m3 = generate_project(load_board("mps2-an386"), b.params, tmp_path / "q")
    m4 = generate_project(load_board("netduinoplus2"), a.params, tmp_path / "r")
    assert m1["build_id"] == m2["build_id"]
    assert len({m1["build_id"], m3["build_id"], m4["build_id"]}) == 3
    assert (tmp_path / "p" / "platformio.ini").read_text().count("[env:mps2-an386]") == 1


@pytest.mark.parametrize("board_id", board_ids())
def test_the_parameter_block_has_its_own_erase_units(board_id):
    """Erasing every flash sector the parameter block touches must leave the code area alone: the
    sectors from the board file (the reference manual's map) tile the flash, and the block starts on
    a sector boundary."""
    board = load_board(board_id)
    sectors = board.flash_sectors
    assert sectors[0][0] == board.flash_origin and sum(size for _, size in sectors) == board.flash_size
    assert all(a + n == b for (a, n), (b, _) in zip(sectors, sectors[1:]))
    erased = [(a, n) for a, n in sectors if a + n > board.params_origin]
    assert erased and all(a >= board.params_origin for a, _ in erased), erased
    assert board.params_erase_conflict() is None


def test_a_parameter_block_sharing_a_sector_with_code_is_refused(tmp_path):
    text = (BOARDS_DIR / "netduinoplus2.toml").read_text()
    (tmp_path / "netduinoplus2.toml").write_text(text.replace("params_size = 0x0002_0000", "params_size = 0x0001_0000"))
    board = load_board("netduinoplus2", tmp_path)
    with pytest.raises(FirmwareGenError, match=r"starts inside flash sector 11 \(0x080e0000-0x080fffff\), which also "
                                               r"holds code.*params_size = 0x20000"):
        generate_project(board, synthetic_pin(*board.hil_shape, seed=4).params, tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


@needs_arm
@pytest.mark.parametrize("board_id", ["mps2-an386", "netduinoplus2", "lm3s6965evb", "microbit", "nucleo_f446re",
                                      "stm32f407g_disc1"])
def test_offline_platformio_build(board_id, tmp_path):
    board = load_board(board_id)
    pin = synthetic_pin(*board.hil_shape, seed=4)
    meta = generate_project(board, pin.params, tmp_path / board_id)
    res = build_project(tmp_path / board_id)
    assert res.elf.exists() and res.hex.exists()
    assert res.sections[".noinit"] >= meta["slab_bytes"]
    assert res.ram_bytes <= board.ram_size - board.stack_bytes
    assert res.flash_bytes <= board.flash_size
    assert f"slab {meta['slab_bytes']} bytes" in res.size_table()
    image = IntelHex(str(res.hex))
    block = params_block(pin.params)
    assert image.tobinstr(start=board.params_origin, size=len(block)) == block
    sp, reset = struct.unpack("<II", image.tobinstr(start=board.flash_origin, size=8))
    assert sp == board.ram_origin + board.ram_size and reset & 1  # a Thumb reset vector
    disasm = subprocess.run(["arm-none-eabi-objdump", "-d", str(res.elf)], capture_output=True, text=True,
                            check=True).stdout
    assert not re.search(r"\tv(add|sub|mul|div|cvt|ldr|str)", disasm)
