/* Arm CMSDK APB UART (MPS2 boards). */
#include "npin_board.h"
#include "npin_hal.h"

#define UART ((volatile uint32_t *)NPIN_UART_BASE)
enum { DATA = 0, STATE = 1, CTRL = 2, INTSTATUS = 3, BAUDDIV = 4 };
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

void npin_uart_init(void)
{
    UART[BAUDDIV] = NPIN_UART_DIVISOR; /* clock / baud, at least 16 */
    UART[CTRL] = 0xBu;                 /* TX and RX enabled, RX interrupt */
    npin_nvic_enable(NPIN_UART_IRQ);
}

static int rx_ready(void) { return (UART[STATE] & STATE_RX_FULL) != 0u; }

void npin_uart_idle(void)
{
    UART[INTSTATUS] = STATE_RX_FULL; /* the RX interrupt latches here until written */
    npin_nvic_sleep(NPIN_UART_IRQ, rx_ready);
}

int npin_uart_getc(void) { return (UART[STATE] & STATE_RX_FULL) ? (int)(UART[DATA] & 0xFFu) : -1; }

void npin_uart_putc(uint8_t byte)
{
    while (UART[STATE] & STATE_TX_FULL) {
    }
    UART[DATA] = byte;
}

/* The CMSDK UART reports only its one-byte buffer: once that is free, the byte it held is in the
 * shift register, out within one character time. */
void npin_uart_flush(void)
{
    while (UART[STATE] & STATE_TX_FULL) {
    }
    npin_spin_cycles(NPIN_UART_BYTE_CYCLES);
}
