/* Nordic nRF51 UART (task/event interface; BBC micro:bit). */
#include "npin_board.h"
#include "npin_hal.h"

#define REG(off) (*(volatile uint32_t *)(NPIN_UART_BASE + (off)))
#define TASKS_STARTRX 0x000u
#define TASKS_STARTTX 0x008u
#define EVENTS_RXDRDY 0x108u
#define EVENTS_TXDRDY 0x11Cu
#define INTENSET 0x304u
#define ENABLE 0x500u
#define PSELTXD 0x50Cu
#define PSELRXD 0x514u
#define RXD 0x518u
#define TXD 0x51Cu
#define BAUDRATE 0x524u

void npin_uart_init(void)
{
    REG(PSELTXD) = NPIN_UART_TX_PIN;
    REG(PSELRXD) = NPIN_UART_RX_PIN;
    REG(BAUDRATE) = NPIN_UART_DIVISOR; /* the BAUDRATE register's code for the baud rate */
    REG(ENABLE) = 4u;
    REG(EVENTS_RXDRDY) = 0u;
    REG(EVENTS_TXDRDY) = 0u;
    REG(TASKS_STARTRX) = 1u;
    REG(TASKS_STARTTX) = 1u;
    REG(INTENSET) = 1u << 2; /* RXDRDY */
    npin_nvic_enable(NPIN_UART_IRQ);
}

static int rx_ready(void) { return REG(EVENTS_RXDRDY) != 0u; }

void npin_uart_idle(void) { npin_nvic_sleep(NPIN_UART_IRQ, rx_ready); }

int npin_uart_getc(void)
{
    if (!REG(EVENTS_RXDRDY)) return -1;
    REG(EVENTS_RXDRDY) = 0u; /* clear first: the next byte sets it again */
    return (int)(REG(RXD) & 0xFFu);
}

void npin_uart_putc(uint8_t byte)
{
    REG(EVENTS_TXDRDY) = 0u;
    REG(TXD) = byte;
    while (!REG(EVENTS_TXDRDY)) {
    }
}

/* npin_uart_putc returns on TXDRDY, raised when the byte was taken for sending; the line carries
 * it for one more character time (nRF51 reference manual, UART). */
void npin_uart_flush(void) { npin_spin_cycles(NPIN_UART_BYTE_CYCLES); }
