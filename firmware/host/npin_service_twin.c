/* The protocol service built for the host: the firmware's own npin_service.c behind a byte pipe,
 * with heap buffers standing in for retained RAM and a byte array standing in for flash. */
#include <stdlib.h>
#include <string.h>

#include "npin_service_twin.h"

static npin_service_t svc;
static npin_session_t records[2];
static uint64_t *slab, *resp, *rx, *journal, *stage;
static uint32_t *stage_have;
static uint32_t journal_capacity;
static uint8_t *flash;
static uint8_t *out;
static uint32_t out_len, out_cap, reboots;
static const uint8_t build_id[NPIN_BUILD_ID_BYTES] = {0x42};

static void put(uint8_t b)
{
    if (out_len < out_cap) out[out_len++] = b;
}

static void reboot(void) { reboots++; }

static uint32_t ticks(void) { return 0; }

int npin_svc_twin_boot(const uint8_t *block, uint32_t block_len, uint32_t slab_capacity,
                       uint32_t max_payload, int cold)
{
    uint32_t rx_cap = NPIN_COBS_MAX(NPIN_FRAME_OVERHEAD + max_payload);
    if (cold || slab == 0) {
        free(slab);
        free(resp);
        free(rx);
        free(journal);
        free(stage);
        free(stage_have);
        stage = calloc((max_payload + 7u) / 8u, 8);
        stage_have = calloc(NPIN_STAGE_WORDS(max_payload), 4);
        journal_capacity = NPIN_ALIGN8(NPIN_JOURNAL_HEAD + slab_capacity + max_payload); /* any shape fits */
        journal = calloc(journal_capacity / 8u, 8);
        slab = calloc((slab_capacity + 7u) / 8u, 8);
        resp = calloc((NPIN_FRAME_OVERHEAD + max_payload + 7u) / 8u, 8);
        rx = calloc((rx_cap + 2u + 7u) / 8u, 8);
        memset(records, 0, sizeof records);
        if (!slab || !resp || !rx || !journal || !stage || !stage_have) return -1;
    }
    free(flash);
    flash = calloc(block_len + NPIN_PARAMS_HEADER, 1); /* erased flash reads as zero here */
    if (!flash) return -1;
    memcpy(flash, block, block_len);
    if (!out) {
        out_cap = 1u << 22;
        out = malloc(out_cap);
    }
    memset(&svc, 0, sizeof svc);
    svc.slab = (uint8_t *)slab;
    svc.slab_capacity = slab_capacity;
    svc.params = flash;
    svc.records = records;
    svc.journal = (uint8_t *)journal;
    svc.journal_capacity = journal_capacity;
    svc.resp = (uint8_t *)resp;
    svc.rx = (uint8_t *)rx + 2;
    svc.rx_capacity = rx_cap;
    svc.stage = (uint8_t *)stage;
    svc.stage_have = stage_have;
    svc.max_payload = (uint16_t)max_payload;
    svc.build_id = build_id;
    svc.board = "host";
    svc.put = put;
    svc.reboot = reboot;
    svc.ticks = ticks;
    out_len = 0;
    npin_service_boot(&svc);
    return 0;
}

uint32_t npin_svc_twin_feed(const uint8_t *bytes, uint32_t n, uint8_t *dst, uint32_t cap)
{
    uint32_t i, len;
    for (i = 0; i < n; ++i) npin_service_byte(&svc, bytes[i]);
    len = out_len < cap ? out_len : cap;
    memcpy(dst, out, len);
    memmove(out, out + len, out_len - len);
    out_len -= len;
    return len;
}

const uint8_t *npin_svc_twin_slab(void) { return (const uint8_t *)slab; }

uint32_t npin_svc_twin_reboots(void) { return reboots; }
