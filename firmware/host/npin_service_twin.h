#ifndef NPIN_SERVICE_TWIN_H
#define NPIN_SERVICE_TWIN_H

#include <stdint.h>

#include "npin_cobs.h"
#include "npin_crc32.h"
#include "npin_params_block.h"
#include "npin_service.h"

/* Boot the service on a parameter block; cold = 1 clears "retained RAM" first. */
int npin_svc_twin_boot(const uint8_t *block, uint32_t block_len, uint32_t slab_capacity,
                       uint32_t max_payload, int cold);
/* Feed received bytes; copies what the service sent back (up to cap) into dst. */
uint32_t npin_svc_twin_feed(const uint8_t *bytes, uint32_t n, uint8_t *dst, uint32_t cap);
const uint8_t *npin_svc_twin_slab(void);
uint32_t npin_svc_twin_reboots(void);

#endif
