"""Every board's init steps against register addresses and bit positions taken from the parts'
reference manuals, written out here independently of the board files: a step that names the wrong
register, the wrong bit or the wrong alternate function fails, which QEMU (it ignores clock gates
and pin muxing) never would."""
import pytest

from toolkit.boards import board_ids, load_board

# Register addresses (base + offset from the manuals).
STM32F4 = {"RCC_AHB1ENR": 0x4002_3800 + 0x30, "RCC_APB1ENR": 0x4002_3800 + 0x40, "RCC_APB2ENR": 0x4002_3800 + 0x44,
           "GPIOA_MODER": 0x4002_0000 + 0x00, "GPIOA_AFRL": 0x4002_0000 + 0x20, "GPIOA_AFRH": 0x4002_0000 + 0x24}
LM3S = {"RCGC1": 0x400F_E000 + 0x104, "RCGC2": 0x400F_E000 + 0x108, "GPIOA_AFSEL": 0x4000_4000 + 0x420,
        "GPIOA_DEN": 0x4000_4000 + 0x51C}
NRF51 = {"EVENTS_HFCLKSTARTED": 0x4000_0000 + 0x100, "TASKS_HFCLKSTART": 0x4000_0000 + 0x000,
         "GPIO_OUTSET": 0x5000_0000 + 0x508, **{f"PIN_CNF{n}": 0x5000_0000 + 0x700 + 4 * n for n in range(32)}}
AF, OUTPUT_DISCONNECTED, INPUT_CONNECTED = 0b10, 0b11, 0b00
AF7 = 7


def field(lsb: int, width: int, value: int) -> tuple[int, int]:
    return ((1 << width) - 1) << lsb, value << lsb


def moder(*pins):  # two bits per pin, 10 = alternate function
    return _merge(field(2 * p, 2, AF) for p in pins)


def afr(af, *pins):  # four bits per pin, AFRL pins 0-7, AFRH pins 8-15
    return _merge(field(4 * (p % 8), 4, af) for p in pins)


def _merge(fields):
    mask = value = 0
    for m, v in fields:
        mask, value = mask | m, value | v
    return mask, value


# (register, (mask, value)[, "wait"]) in the order the part needs them: clocks before the
# peripheral they feed.
EXPECTED = {
    "nucleo_f446re": [  # USART2 on PA2/PA3, AF7 (the ST-LINK virtual COM port)
        (STM32F4["RCC_AHB1ENR"], field(0, 1, 1)),    # GPIOAEN
        (STM32F4["RCC_APB1ENR"], field(17, 1, 1)),   # USART2EN
        (STM32F4["GPIOA_MODER"], moder(2, 3)),
        (STM32F4["GPIOA_AFRL"], afr(AF7, 2, 3))],
    "stm32f407g_disc1": [  # USART2 on PA2/PA3, AF7 (the ST-LINK/V2-A virtual COM port)
        (STM32F4["RCC_AHB1ENR"], field(0, 1, 1)),
        (STM32F4["RCC_APB1ENR"], field(17, 1, 1)),
        (STM32F4["GPIOA_MODER"], moder(2, 3)),
        (STM32F4["GPIOA_AFRL"], afr(AF7, 2, 3))],
    "netduinoplus2": [  # USART1 on PA9/PA10, AF7
        (STM32F4["RCC_AHB1ENR"], field(0, 1, 1)),
        (STM32F4["RCC_APB2ENR"], field(4, 1, 1)),    # USART1EN
        (STM32F4["GPIOA_MODER"], moder(9, 10)),
        (STM32F4["GPIOA_AFRH"], afr(AF7, 9, 10))],
    "lm3s6965evb": [  # UART0 on PA0/PA1
        (LM3S["RCGC1"], field(0, 1, 1)),             # UART0
        (LM3S["RCGC2"], field(0, 1, 1)),             # GPIOA
        (LM3S["GPIOA_AFSEL"], _merge([field(0, 1, 1), field(1, 1, 1)])),
        (LM3S["GPIOA_DEN"], _merge([field(0, 1, 1), field(1, 1, 1)]))],
    "microbit": [  # HFCLK crystal, then UART TX pin 24 output-high, RX pin 25 input
        (NRF51["EVENTS_HFCLKSTARTED"], (0xFFFF_FFFF, 0)),
        (NRF51["TASKS_HFCLKSTART"], (0xFFFF_FFFF, 1)),
        (NRF51["EVENTS_HFCLKSTARTED"], field(0, 1, 1), "wait"),
        (NRF51["GPIO_OUTSET"], (0xFFFF_FFFF, 1 << 24)),
        (NRF51["PIN_CNF24"], field(0, 2, OUTPUT_DISCONNECTED)),
        (NRF51["PIN_CNF25"], field(0, 2, INPUT_CONNECTED))],
    "mps2-an386": [],  # the CMSDK UART of the FPGA image needs neither clock gate nor pin mux
}


def test_every_board_has_its_expected_steps_here():
    assert set(board_ids()) == set(EXPECTED)


@pytest.mark.parametrize("board_id", sorted(EXPECTED))
def test_init_steps_match_the_reference_manual(board_id):
    board = load_board(board_id)
    want = [(addr, mask, value, len(rest) > 0) for addr, (mask, value), *rest in EXPECTED[board_id]]
    got = [(a, m, v, w) for a, m, v, w in board.uart_init]
    assert got == want
