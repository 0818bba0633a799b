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
#define SCB_CPACR 0xE000ED88u
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
#if NPIN_FPU_ENABLE
    /* CP10 and CP11 full access (CPACR bits 23:20): hard-float code faults on its first FPU
     * instruction until the FPU is on; the barriers make later instructions see it. */
    REG(SCB_CPACR) |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    while (dst < __data_end) *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end;) *dst++ = 0u;
    main();
    for (;;) {
    }
}

static uint8_t ticks_source;

/* nRF51 TIMER0 as a 32-bit counter at 16 MHz (the HFCLK: CPU cycles), running only while a
 * measurement runs (npin_ticks_run): nothing else needs it, and idle it draws no current. */
#define TIMER0 0x40008000u
enum { T_START = 0x000, T_STOP = 0x004, T_CLEAR = 0x00C, T_CAPTURE0 = 0x040, T_MODE = 0x504, T_BITMODE = 0x508,
       T_PRESCALER = 0x510, T_CC0 = 0x540 };

/* The board's init steps (address, mask, value, wait): a write sets the masked bits and reads the
 * register back, so the clock it enables is running before the next step touches the peripheral
 * (the STM32 errata's advice; a Stellaris part bus-faults on a gated one); a wait polls until the
 * masked bits equal the value, giving up after ~2^20 reads (a missing crystal then leaves the RC
 * oscillator running instead of hanging the board). */
static void board_steps(void)
{
#if NPIN_BOARD_INIT_COUNT > 0
    static const uint32_t steps[][4] = NPIN_BOARD_INIT_WRITES;
    uint32_t i, tries;
    for (i = 0; i < NPIN_BOARD_INIT_COUNT; ++i) {
        volatile uint32_t *r = (volatile uint32_t *)steps[i][0];
        if (steps[i][3]) {
            for (tries = 0; tries < (1u << 20) && (*r & steps[i][1]) != steps[i][2]; ++tries) {
            }
        } else {
            *r = (*r & ~steps[i][1]) | steps[i][2];
            (void)*r;
            __asm__ volatile("dsb" ::: "memory");
        }
    }
#endif
}

void npin_board_init(void)
{
    board_steps();
    /* SysTick runs on every board: where the core has none (the nRF51's M0) its registers read as
     * zero and ignore writes, and QEMU's nRF51 model, left without any running timer, now and then
     * misses the UART interrupt that should end WFI. It is the tick source only where the board
     * says so. */
    REG(SYST_RVR) = 0x00FFFFFFu;
    REG(SYST_CVR) = 0u;
    REG(SYST_CSR) = 5u; /* processor clock, no interrupt, enabled */
#if defined(NPIN_TICKS_NRF51_TIMER0)
    REG(TIMER0 + T_MODE) = 0u;      /* timer */
    REG(TIMER0 + T_BITMODE) = 3u;   /* 32 bit */
    REG(TIMER0 + T_PRESCALER) = 0u; /* 16 MHz */
    ticks_source = 3;
#elif defined(NPIN_TICKS_SYSTICK) || defined(NPIN_TICKS_DWT)
    ticks_source = 1;
#endif
#if defined(NPIN_TICKS_DWT) && NPIN_CPU_HAS_DWT
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
    if (ticks_source == 3u) {
        REG(TIMER0 + T_CAPTURE0) = 1u;
        return REG(TIMER0 + T_CC0);
    }
    if (ticks_source == 1u) return 0x00FFFFFFu - REG(SYST_CVR);
    return 0u;
}

uint8_t npin_ticks_source(void) { return ticks_source; }

void npin_ticks_run(int on)
{
#if defined(NPIN_TICKS_NRF51_TIMER0)
    REG(TIMER0 + (on ? T_CLEAR : T_STOP)) = 1u;
    if (on) REG(TIMER0 + T_START) = 1u;
#else
    (void)on; /* SysTick and DWT run from boot */
#endif
}

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
