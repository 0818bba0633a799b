/* Host-only entry points of the twin: batch loops (so a benchmark measures C, not the FFI) and
 * the multi-producer stress harness. */
#ifndef NPIN_TWIN_H
#define NPIN_TWIN_H

#include <stdint.h>

#include "npin_core.h"

int npin_push_mp(uint8_t *slab, const int16_t *x_q15);

/* Push then step each of n vectors; status[i] and events[i] per vector. */
void npin_twin_run(uint8_t *slab, const int16_t *xs_q15, uint32_t n, int32_t *status,
                   npin_event_t *events);

/* Update + Pin on n vectors, bypassing the ring: the per-step cost a benchmark reports. */
uint32_t npin_twin_consume_n(uint8_t *slab, const int16_t *xs_q15, uint32_t n_vectors,
                             uint32_t repeat);

/* `producers` threads each push `per_producer` tagged vectors with npin_push_mp while one
 * consumer thread steps. report: [pushed, consumed, overrun, torn, reordered, pending]. */
int npin_twin_stress(uint8_t *slab, uint32_t producers, uint32_t per_producer, uint64_t *report);

/* The layout macros evaluated for (d, k, r) and w facet bytes: m, v, x_last, armed, thr,
 * facet_norm, tool, facets, stamp, ring offsets, then the total. Lets tests hold firmware/slab.py
 * to npin_layout.h. */
void npin_twin_offsets(uint32_t d, uint32_t k, uint32_t r, uint32_t w, uint32_t *out11);

#endif
