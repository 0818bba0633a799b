"""What real boards need and QEMU forgives (issue: real silicon). The built firmware runs under
unicorn with a modelled UART: register reads and writes are recorded in order, so a test sees
whether the last byte of a reply can still be in the shift register when the reset is requested."""
import pytest

from firmware.insn_count import ArmCallCounter
from firmware.project_gen import generate_project
from toolkit.boards import load_board
from toolkit.firmware.build import build_project
from toolkit.pin.synth import synthetic_pin
from parts import needs

SCB_PAGE, AIRCR = 0xE000E000, 0xD0C
STM32_SR, STM32_DR, STM32_TC, STM32_TXE = 0x00, 0x04, 1 << 6, 1 << 7
PL011_DR, PL011_FR, PL011_BUSY = 0x00, 0x18, 1 << 3
CMSDK_DATA, CMSDK_STATE = 0x00, 0x04
NRF51_TXDRDY, NRF51_TXD = 0x11C, 0x51C


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    cache = {}

    def elf_of(board_id):
        if board_id not in cache:
            board = load_board(board_id)
            out = tmp_path_factory.mktemp(board_id)
            generate_project(board, synthetic_pin(*board.hil_shape, seed=1).params, out / "p")
            cache[board_id] = build_project(out / "p").elf
        return cache[board_id]
    return elf_of


class ModelledUart:
    """The board's UART as register callbacks: a data write starts a character that keeps the
    transmitter busy for a few status reads (where the peripheral can report it), the order of
    every access kept in `log` with the instruction count at that moment."""

    def __init__(self, cc, board):
        self.cc, self.kind, self.busy, self.log = cc, board.uart_kind, 0, []
        cc.uc.mmio_map(board.uart_base & ~0xFFF, 0x1000, self._read, None, self._write, None)
        cc.uc.mmio_map(SCB_PAGE, 0x1000, lambda uc, off, size, _: 0, None, self._scb, None)
        self.page_off = board.uart_base & 0xFFF

    def _read(self, uc, off, size, _):
        off -= self.page_off
        if self.kind == "stm32" and off == STM32_SR:
            self.busy = max(0, self.busy - 1)
            self.log.append(("idle" if self.busy == 0 else "busy", self.cc.count))
            return STM32_TXE | (STM32_TC if self.busy == 0 else 0)
        if self.kind == "pl011" and off == PL011_FR:
            self.busy = max(0, self.busy - 1)
            self.log.append(("idle" if self.busy == 0 else "busy", self.cc.count))
            return PL011_BUSY if self.busy else 0
        if self.kind == "nrf51" and off == NRF51_TXDRDY:
            return 1  # the byte was taken for sending at once; it is on the line for a character time
        return 0

    def _write(self, uc, off, size, value, _):
        off -= self.page_off
        if (self.kind, off) in (("stm32", STM32_DR), ("pl011", PL011_DR), ("cmsdk", CMSDK_DATA), ("nrf51", NRF51_TXD)):
            self.busy = 3
            self.log.append(("data", self.cc.count))

    def _scb(self, uc, off, size, value, _):
        if off == AIRCR and value == (0x05FA << 16) | (1 << 2):
            self.log.append(("reset", self.cc.count))
            uc.emu_stop()


def _counter(elf, board):
    return ArmCallCounter(elf, board.cpu, (board.flash_origin, board.flash_size),
                          (board.ram_origin, max(board.ram_size, 0x10000)))


def _assert_sent_before_reset(log, board):
    kinds = [k for k, _ in log]
    assert "reset" in kinds, log
    last_data = max(i for i, k in enumerate(kinds) if k == "data")
    reset = kinds.index("reset")
    assert last_data < reset
    if board.uart_kind in ("stm32", "pl011"):  # the UART reports an empty shift register: it was asked
        assert "idle" in kinds[last_data + 1:reset], f"reset requested with the last byte still shifting out: {log}"
    else:  # no such status: at least one character time passes (four cycles per counted instruction at most)
        waited = log[reset][1] - log[last_data][1]
        assert waited >= board.byte_cycles() // 4, f"{waited} instructions between the last byte and the reset"


@needs("arm")
@pytest.mark.parametrize("board_id", ["nucleo_f446re", "stm32f407g_disc1", "netduinoplus2", "mps2-an386",
                                      "lm3s6965evb", "microbit"])
def test_the_reply_to_a_reboot_leaves_the_uart_before_the_reset(board_id, elves):
    board = load_board(board_id)
    cc = _counter(elves(board_id), board)
    uart = ModelledUart(cc, board)
    cc.call("npin_uart_putc", 0x00)  # the reply's closing delimiter, then the reboot
    cc.call("npin_reboot", limit=200_000)
    _assert_sent_before_reset(uart.log, board)


@needs("arm")
@pytest.mark.parametrize("board_id", ["nucleo_f446re", "microbit"])
def test_a_fault_restarts_the_board_and_is_counted_in_retained_ram(board_id, elves):
    board = load_board(board_id)
    cc = _counter(elves(board_id), board)
    uart = ModelledUart(cc, board)
    assert cc.call("npin_fault_count").r0 == 0  # cold RAM: no valid count
    for n in (1, 2):
        cc.call("npin_uart_putc", 0x42)
        cc.call("fault_handler", limit=200_000)
        _assert_sent_before_reset(uart.log, board)
        uart.log.clear()
        assert cc.call("npin_fault_count").r0 == n


@needs("arm", "qemu")
def test_the_nucleo_image_runs_in_qemu_on_the_f405_usart2(elves):
    """QEMU has no NUCLEO-F446RE, but its netduinoplus2 (STM32F405) has the same USART2 at the
    same address, clock-enable bit and IRQ: the unmodified NUCLEO image boots there, on the
    machine's second serial port, and streams bit-exact against the reference."""
    from firmware import protocol as P
    from quant.pin_fixed import PinFixed
    from toolkit.hil.client import PinClient
    from toolkit.hil.link import FrameLink
    from toolkit.hil.lockstep import run_lockstep
    from toolkit.hil.qemu import QemuBoard

    board = load_board("nucleo_f446re")
    pin = synthetic_pin(*board.hil_shape, seed=1)
    q = QemuBoard("netduinoplus2", elves("nucleo_f446re"), uart_index=1).start()
    try:
        link = FrameLink(q.serial)
        boot = link.drain(0.5)
        assert [f.type for f in boot] == [P.HELLO | P.RESPONSE]
        client = PinClient(link, timeout=3)
        hello = client.hello()
        assert hello.board == "nucleo_f446re" and hello.flags & P.FLAG_PARAMS_OK and hello.faults == 0
        client.sync()
        xs, intents = pin.stream_q15(200, seed=3)
        assert run_lockstep(client, PinFixed(pin.params), xs, intents).vectors == 200
    finally:
        q.stop()


@needs("arm")
@pytest.mark.parametrize("cflags, fpu_on", [("", False), ("-mfloat-abi=hard -mfpu=fpv4-sp-d16", True),
                                            ("-mfloat-abi=softfp -mfpu=fpv4-sp-d16", True)])
def test_a_hard_float_build_turns_the_fpu_on_before_main(cflags, fpu_on, tmp_path):
    """Hard-float code faults on its first FPU instruction unless CPACR grants CP10/CP11 first."""
    from unicorn import UC_HOOK_CODE

    board = load_board("nucleo_f446re")
    generate_project(board, synthetic_pin(*board.hil_shape, seed=1).params, tmp_path / "p", extra_cflags=cflags)
    cc = _counter(build_project(tmp_path / "p").elf, board)
    writes = []
    cc.uc.mmio_map(SCB_PAGE, 0x1000, lambda uc, off, size, _: 0, None,
                   lambda uc, off, size, value, _: writes.append((off, value)), None)
    main = cc.symbols["main"]
    cc.uc.hook_add(UC_HOOK_CODE, lambda uc, addr, size, _: uc.emu_stop(), begin=main, end=main)
    cc.call("npin_reset_handler", limit=2_000_000)
    cpacr = [v for off, v in writes if off == 0xD88]
    assert cpacr == ([0xF << 20] if fpu_on else [])


def test_hard_float_on_a_core_without_an_fpu_is_refused(tmp_path):
    from firmware.project_gen import FirmwareGenError

    board = load_board("lm3s6965evb")
    with pytest.raises(FirmwareGenError, match="cortex-m3, which has no FPU"):
        generate_project(board, synthetic_pin(*board.hil_shape, seed=1).params, tmp_path / "p",
                         extra_cflags="-mfloat-abi=hard")
    assert not (tmp_path / "p").exists()


FAKE_FLASHER = """#!/bin/sh
# records the call (and a copy of any file it is given) instead of touching a probe
log="$FLASH_LOG"; n=$(ls "$log"/*.call 2>/dev/null | wc -l)
printf '%s\\n' "$(basename "$0") $*" > "$log/$n.call"
for a in "$@"; do [ -f "$a" ] && cp "$a" "$log/$n.$(basename "$a")"; done
exit 0
"""


@needs("arm")
def test_upload_flashes_the_elf_segments_with_the_boards_protocol(tmp_path):
    """st-flash gets the code from the flash origin and the parameter block at its own address
    (not a gap-filled image that rewrites every sector in between), then a reset; openocd gets the
    ELF with verify and reset; an unknown protocol is refused."""
    import os
    import subprocess

    from firmware.params_block import params_block
    from toolkit.firmware.build import pio_environment, pio_executable

    board = load_board("nucleo_f446re")
    pin = synthetic_pin(*board.hil_shape, seed=1)
    project = tmp_path / "p"
    generate_project(board, pin.params, project)
    elf = build_project(project).elf
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("st-flash", "openocd"):
        (fake / tool).write_text(FAKE_FLASHER)
        (fake / tool).chmod(0o755)

    def upload(protocol):
        ini = project / "platformio.ini"
        ini.write_text("\n".join(line if not line.startswith("upload_protocol") else f"upload_protocol = {protocol}"
                                 for line in ini.read_text().splitlines()) + "\n")
        log = tmp_path / f"log-{protocol}"
        log.mkdir()
        env = {**pio_environment(), "PATH": f"{fake}:{os.environ['PATH']}", "FLASH_LOG": str(log)}
        r = subprocess.run([pio_executable(), "run", "-d", str(project), "-t", "upload"], env=env,
                           capture_output=True, text=True)
        calls = [(log / f"{i}.call").read_text().split() for i in range(len(list(log.glob("*.call"))))]
        return r, log, calls

    r, log, calls = upload("stlink")
    assert r.returncode == 0, r.stdout[-2000:]
    assert [c[:2] + c[3:] for c in calls] == [["st-flash", "write", "0x08000000"], ["st-flash", "write", "0x08060000"],
                                               ["st-flash", "reset"]]
    code = subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", "-j", ".ARM.exidx", "-j", ".data",
                           str(elf), str(tmp_path / "want.bin")], check=True)
    assert code.returncode == 0 and (log / "0.code.bin").read_bytes() == (tmp_path / "want.bin").read_bytes()
    assert len((log / "0.code.bin").read_bytes()) < board.code_size // 8  # the code alone, no gap fill
    block = params_block(pin.params)
    assert (log / "1.params.bin").read_bytes()[:len(block)] == block

    r, log, calls = upload("openocd")
    assert r.returncode == 0, r.stdout[-2000:]
    assert len(calls) == 1 and " ".join(calls[0]).startswith("openocd -f interface/stlink.cfg -f target/stm32f4x.cfg")
    assert "verify reset exit" in " ".join(calls[0]) and str(elf.name) in " ".join(calls[0])

    r, log, calls = upload("jlink")
    assert r.returncode != 0 and "upload_protocol = jlink" in r.stdout + r.stderr and not calls


@needs("arm")
@pytest.mark.parametrize("board_id", ["nucleo_f446re", "lm3s6965evb"])
def test_each_clock_enable_is_read_back_before_the_next_step(board_id, elves):
    """The STM32 errata: a peripheral written right after its clock enable may miss the write;
    reading the enable register back first is the cure (and a Stellaris part bus-faults on a gated
    peripheral). npin_board_init runs under unicorn with every init register recorded."""
    board = load_board(board_id)
    cc = _counter(elves(board_id), board)
    steps = [a for a, _, _, wait in board.uart_init if not wait]
    pages = sorted({a & ~0xFFF for a in steps})
    log = []
    for page in pages:
        cc.uc.mmio_map(page, 0x1000, lambda uc, off, size, _, page=page: log.append(("r", page + off)) or 0, None,
                       lambda uc, off, size, value, _, page=page: log.append(("w", page + off)), None)
    for page in (SCB_PAGE, 0xE000_1000):  # SysTick, DEMCR; the DWT
        cc.uc.mmio_map(page, 0x1000, lambda uc, off, size, _: 0, None, lambda uc, off, size, value, _: None, None)
    cc.call("npin_board_init", limit=5_000_000)
    writes = [i for i, (kind, _) in enumerate(log) if kind == "w"]
    assert [log[i][1] for i in writes] == steps
    for i in writes:
        assert log[i + 1] == ("r", log[i][1]), f"step at 0x{log[i][1]:08x} not read back: {log[i:i + 3]}"
