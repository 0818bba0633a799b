/* Start-up, reset and tick counter for any ARMv6-M / ARMv7-M core: vector table, .data copy,
 * .bss clear, the board's init writes, SysTick / DWT. Retained RAM (.noinit) is left alone. */
#include <stdint.h>
#include <string.h>

#include "npin_board.h"
#include "npin_hal.h"

extern uint32_t __stack_top[], __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
int main(void);
void npin_reset_handler(void);

#define REG(addr) (*(volatile uint32_t *)(addr))
#define SCB_AIRCR 0xE000ED0Cu
#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u

/* Faults since power-on, in retained RAM: a warm restart keeps them (HELLO reports the count). A
 * cold start finds garbage there, hence the check word. */
#define FAULTS_CHECK 0x46415531u
static uint32_t faults[2] __attribute__((section(".noinit")));

uint32_t npin_fault_count(void) { return faults[0] == FAULTS_CHECK ? faults[1] : 0u; }

/* Any fault: count it, let the UART finish its byte, and restart through the reset vector. The
 * service's retained-state checks make the warm restart safe; spinning here would hang the
 * board silently until someone pressed reset. */
static void fault_handler(void)
{
    uint32_t n = npin_fault_count() + 1u;
    faults[0] = FAULTS_CHECK;
    faults[1] = n;
    npin_reboot();
}

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, npin_reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0,
    fault_handler, fault_handler,
};

void npin_reset_handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end) *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end;) *dst++ = 0u;
    main();
    for (;;) {
    }
}

static uint8_t ticks_source;

void npin_board_init(void)
{
#if NPIN_BOARD_INIT_COUNT > 0
    static const uint32_t writes[][3] = NPIN_BOARD_INIT_WRITES; /* address, mask, value */
    uint32_t i;
    for (i = 0; i < NPIN_BOARD_INIT_COUNT; ++i)
        REG(writes[i][0]) = (REG(writes[i][0]) & ~writes[i][1]) | writes[i][2];
#endif
    REG(SYST_RVR) = 0x00FFFFFFu;
    REG(SYST_CVR) = 0u;
    REG(SYST_CSR) = 5u; /* processor clock, no interrupt, enabled */
    ticks_source = 1;
#if NPIN_CPU_HAS_DWT
    REG(DEMCR) |= 1u << 24; /* TRCENA */
    REG(DWT_CYCCNT) = 0u;
    REG(DWT_CTRL) |= 1u;
    {
        /* Emulators model DWT without counting (it reads 0): trust it only if it moves. */
        volatile uint32_t spin;
        for (spin = 0; spin < 16u; ++spin) {
        }
        if (REG(DWT_CYCCNT) != 0u) ticks_source = 2;
    }
#endif
}

uint32_t npin_ticks(void)
{
    if (ticks_source == 2u) return REG(DWT_CYCCNT);
    return 0x00FFFFFFu - REG(SYST_CVR);
}

uint8_t npin_ticks_source(void) { return ticks_source; }

#define NVIC_ISER 0xE000E100u
#define NVIC_ICPR 0xE000E280u

void npin_nvic_enable(uint32_t irq)
{
    __asm__ volatile("cpsid i" ::: "memory"); /* polled firmware: interrupts only end WFI */
    REG(NVIC_ISER + 4u * (irq >> 5)) = 1u << (irq & 31u);
}

void npin_nvic_sleep(uint32_t irq, int (*ready)(void))
{
    REG(NVIC_ICPR + 4u * (irq >> 5)) = 1u << (irq & 31u);
    __asm__ volatile("dsb" ::: "memory");
    if (!ready()) __asm__ volatile("wfi" ::: "memory"); /* a line still high re-pends at once */
}

/* `cycles` / 4 turns of a loop of at least four cycles on every Cortex-M core. */
void npin_spin_cycles(uint32_t cycles)
{
    volatile uint32_t n = cycles / 4u + 1u;
    while (n != 0u) n = n - 1u;
}

void npin_reboot(void)
{
    npin_uart_flush(); /* the reply to a reboot request is on the wire before the reset */
    __asm__ volatile("dsb" ::: "memory");
    REG(SCB_AIRCR) = (0x05FAu << 16) | (1u << 2); /* VECTKEY, SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}
