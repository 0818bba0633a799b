/* STM32F2/F4 USART (status/data/baud/control register layout). Clocks and pins are the board's
 * init writes. */
#include "npin_board.h"
#include "npin_hal.h"

#define USART ((volatile uint32_t *)NPIN_UART_BASE)
enum { SR = 0, DR = 1, BRR = 2, CR1 = 3 };
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)

void npin_uart_init(void)
{
    USART[BRR] = NPIN_UART_DIVISOR;                  /* bus clock / baud, 16x oversampling */
    USART[CR1] = (1u << 13) | (1u << 5) | (1u << 3) | (1u << 2); /* UE, RXNEIE, TE, RE */
    npin_nvic_enable(NPIN_UART_IRQ);
}

static int rx_ready(void) { return (USART[SR] & SR_RXNE) != 0u; }

void npin_uart_idle(void) { npin_nvic_sleep(NPIN_UART_IRQ, rx_ready); }

int npin_uart_getc(void)
{
    /* Reading SR then DR also clears an overrun. */
    return (USART[SR] & SR_RXNE) ? (int)(USART[DR] & 0xFFu) : -1;
}

void npin_uart_putc(uint8_t byte)
{
    while (!(USART[SR] & SR_TXE)) {
    }
    USART[DR] = byte;
}

/* TXE only says the data register took the byte; TC says the shift register sent it, stop bit
 * included (RM0390 §25.6.1). A reset before TC cuts the frame's last byte. */
void npin_uart_flush(void)
{
    while (!(USART[SR] & SR_TC)) {
    }
}
