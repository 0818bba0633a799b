/* The firmware: boot the service, then feed it UART bytes forever. Everything is static; the
 * slab, the two session records, the journal and the last response live in retained RAM (.noinit). */
#include <stdint.h>

#include "npin_board.h"
#include "npin_build.h"
#include "npin_cobs.h"
#include "npin_hal.h"
#include "npin_service.h"

#define RETAINED __attribute__((section(".noinit")))
#define RX_CAPACITY NPIN_COBS_MAX(NPIN_FRAME_OVERHEAD + NPIN_MAX_PAYLOAD)

NPIN_STATIC_ASSERT(NPIN_MAX_PAYLOAD >= NPIN_HELLO_BYTES && NPIN_MAX_PAYLOAD <= 0xFFFFu, payload_fits_u16);

static uint64_t slab[NPIN_SLAB_BYTES(NPIN_DIMS, NPIN_FACETS, NPIN_SLOTS, NPIN_FACET_BYTES(NPIN_FLAGS)) / 8u] RETAINED;
static uint64_t resp[(NPIN_FRAME_OVERHEAD + NPIN_MAX_PAYLOAD + 7u) / 8u] RETAINED;
static npin_session_t records[2] RETAINED;
static uint64_t journal[NPIN_JOURNAL_BYTES(NPIN_DIMS, NPIN_FACETS, NPIN_SLOTS, NPIN_FACET_BYTES(NPIN_FLAGS),
                                           NPIN_MAX_PAYLOAD) / 8u] RETAINED;
static uint64_t rx[(RX_CAPACITY + 2u + 7u) / 8u];
static uint64_t stage[(NPIN_MAX_PAYLOAD + 7u) / 8u];
static uint32_t stage_have[NPIN_STAGE_WORDS(NPIN_MAX_PAYLOAD)];
static npin_service_t service;

extern const uint8_t __npin_params_start[];
static const uint8_t build_id[NPIN_BUILD_ID_BYTES] = NPIN_BUILD_ID;

int main(void)
{
    npin_board_init();
    npin_uart_init();
    service.slab = (uint8_t *)slab;
    service.slab_capacity = (uint32_t)sizeof slab;
    service.params = __npin_params_start;
    service.records = records;
    service.journal = (uint8_t *)journal;
    service.journal_capacity = (uint32_t)sizeof journal;
    service.resp = (uint8_t *)resp;
    service.rx = (uint8_t *)rx + 2; /* the payload then starts 8-aligned */
    service.rx_capacity = RX_CAPACITY;
    service.stage = (uint8_t *)stage;
    service.stage_have = stage_have;
    service.max_payload = NPIN_MAX_PAYLOAD;
    service.build_id = build_id;
    service.board = NPIN_BOARD_NAME;
    service.hello_flags = NPIN_KERNELS_SIMD ? NPIN_HELLO_FLAG_SIMD : 0u;
    service.put = npin_uart_putc;
    service.flush = 0;
    service.reboot = npin_reboot;
    service.ticks = npin_ticks;
    service.ticks_run = npin_ticks_run;
    service.ticks_source = npin_ticks_source();
    service.faults = npin_fault_count();
    npin_service_boot(&service);
    for (;;) {
        int c = npin_uart_getc();
        if (c >= 0)
            npin_service_byte(&service, (uint8_t)c);
        else
            npin_uart_idle();
    }
}
