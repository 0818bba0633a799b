"""What firmware generation needs to know about a board. toolkit.boards reads these from the data
files in boards/; nothing here does I/O."""
from __future__ import annotations

from dataclasses import dataclass, field

UART_KINDS = ("cmsdk", "stm32", "pl011", "nrf51")
TICK_SOURCES = ("dwt", "systick", "nrf51-timer0", "none")
CPUS = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7")
# nRF51 BAUDRATE register codes (the product specification's table).
NRF51_BAUD_CODES = {9600: 0x00275000, 19200: 0x004EA000, 38400: 0x009D5000, 57600: 0x00EBF000,
                    115200: 0x01D7E000, 230400: 0x03AFB000, 460800: 0x075F7000, 1000000: 0x10000000}


@dataclass(frozen=True)
class BoardTarget:
    id: str
    name: str
    cpu: str
    clock_hz: int
    emulated: bool
    flash_origin: int
    flash_size: int
    params_size: int
    ram_origin: int
    ram_size: int
    uart_kind: str
    uart_base: int
    baud: int
    uart_irq: int
    uart_init: tuple[tuple[int, int, int, bool], ...] = ()  # (address, mask, value, wait) steps
    ticks: str = "dwt"            # the tick source: dwt (falls back to SysTick), systick, nrf51-timer0, none
    uart_tx_pin: int = 0
    uart_rx_pin: int = 0
    qemu_machine: str | None = None
    qemu_memory: str = ""         # -m for the emulator: the machine's RAM (some machines accept only one size)
    pio_board: str = ""
    upload: str = "qemu"
    openocd_target: str = ""      # OpenOCD's target script for upload_protocol = openocd, e.g. target/stm32f4x.cfg
    standard_platform: str | None = None
    standard_board: str | None = None
    hil_shape: tuple[int, int, int] = (128, 8, 8)  # D, K, slots the HIL suite uses by default
    flash_sectors: tuple[tuple[int, int], ...] = ()  # erase units (start, size) covering the flash
    extra: dict = field(default_factory=dict)

    @property
    def params_origin(self) -> int:
        return self.flash_origin + self.flash_size - self.params_size

    def params_erase_conflict(self) -> str | None:
        """Why erasing the parameter block would also erase code, or None: the block must begin on
        an erase-unit boundary (it runs to the end of flash, so then it shares no unit with code)."""
        for index, (start, size) in enumerate(self.flash_sectors):
            if start < self.params_origin < start + size:
                return (f"the parameter block at 0x{self.params_origin:08x} starts inside flash sector {index} "
                        f"(0x{start:08x}-0x{start + size - 1:08x}), which also holds code, so erasing it to update "
                        f"the parameters would erase code; params_size = 0x{self.flash_origin + self.flash_size - start:x} "
                        f"gives the block that whole sector")
        return None

    @property
    def code_size(self) -> int:
        return self.flash_size - self.params_size

    @property
    def has_dwt(self) -> bool:
        return self.cpu in ("cortex-m3", "cortex-m4", "cortex-m7")

    @property
    def has_dsp(self) -> bool:
        return self.cpu in ("cortex-m4", "cortex-m7")

    @property
    def stack_bytes(self) -> int:
        return 2048 if self.ram_size > 0x4000 else 1536

    def byte_cycles(self) -> int:
        """CPU cycles one character (start, 8 data, stop bits) takes on the line, rounded up."""
        return -(-10 * self.clock_hz // self.baud)

    def uart_divisor(self) -> int:
        """The value the UART driver writes to its baud-rate register."""
        if self.uart_kind == "cmsdk":
            return max(16, round(self.clock_hz / self.baud))
        if self.uart_kind == "stm32":
            return round(self.clock_hz / self.baud)
        if self.uart_kind == "pl011":
            return round(64 * self.clock_hz / (16 * self.baud))
        return NRF51_BAUD_CODES[self.baud]
