/* Arm PrimeCell PL011 UART (Stellaris LM3S boards). */
#include "npin_board.h"
#include "npin_hal.h"

#define UART ((volatile uint32_t *)NPIN_UART_BASE)
enum { DR = 0, FR = 6, IBRD = 9, FBRD = 10, LCR_H = 11, CR = 12, IMSC = 14 };
#define FR_RXFE (1u << 4)
#define FR_BUSY (1u << 3)
#define FR_TXFF (1u << 5)

void npin_uart_init(void)
{
    UART[CR] = 0u;
    UART[IBRD] = NPIN_UART_DIVISOR >> 6; /* divisor in 1/64ths: 64 * clock / (16 * baud) */
    UART[FBRD] = NPIN_UART_DIVISOR & 63u;
    UART[LCR_H] = 0x70u; /* 8 data bits, FIFOs on */
    UART[IMSC] = (1u << 4) | (1u << 6); /* receive and receive-timeout interrupts */
    UART[CR] = 0x301u;                   /* UARTEN, TXE, RXE */
    npin_nvic_enable(NPIN_UART_IRQ);
}

static int rx_ready(void) { return (UART[FR] & FR_RXFE) == 0u; }

void npin_uart_idle(void) { npin_nvic_sleep(NPIN_UART_IRQ, rx_ready); }

int npin_uart_getc(void) { return (UART[FR] & FR_RXFE) ? -1 : (int)(UART[DR] & 0xFFu); }

void npin_uart_putc(uint8_t byte)
{
    while (UART[FR] & FR_TXFF) {
    }
    UART[DR] = byte;
}

/* BUSY stays set until the last byte, stop bits included, has left the FIFO and the shift
 * register (PL011 TRM, UARTFR). */
void npin_uart_flush(void)
{
    while (UART[FR] & FR_BUSY) {
    }
}
