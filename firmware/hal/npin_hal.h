/* What the firmware needs from a board: a polled UART, a reset, a tick counter. One UART driver
 * file per peripheral kind; the board's data file (boards/) picks it and supplies its address,
 * divisor and the register writes that clock and route it (npin_board.h, generated). */
#ifndef NPIN_HAL_H
#define NPIN_HAL_H

#include <stdint.h>

void npin_board_init(void);  /* the board's init writes, then the tick counter */
void npin_uart_init(void);
int npin_uart_getc(void);    /* a received byte, or -1 if none is waiting */
void npin_uart_idle(void);   /* sleep (WFI) until the UART has received something */
void npin_uart_putc(uint8_t byte);
void npin_uart_flush(void);  /* returns once the last byte written has left the transmit pin */
void npin_reboot(void);      /* system reset through the NVIC; does not return */
uint32_t npin_ticks(void);   /* the board's tick source (boards/README.md), counting up; 0 with none */
uint8_t npin_ticks_source(void); /* 3 nRF51 TIMER0, 2 DWT, 1 SysTick (24-bit), 0 none; cycles */
void npin_ticks_run(int on);      /* a counter that runs only while measuring: start (1), stop (0) */
uint32_t npin_fault_count(void);  /* faults (each followed by a restart) since power-on */

/* For the UART drivers: enable the receive interrupt line in the NVIC (it only wakes WFI; with
 * PRIMASK set no handler ever runs), and sleep until it is pending unless `ready` says a byte
 * already waits. */
void npin_nvic_enable(uint32_t irq);
void npin_nvic_sleep(uint32_t irq, int (*ready)(void));
/* For drivers whose UART cannot say when its shift register is empty: busy-wait at least
 * `cycles` CPU cycles. */
void npin_spin_cycles(uint32_t cycles);

#endif
