/* Slab layout, version 2 (docs/pin-spec.md §2). Offsets are macros so that generated firmware
 * can size its static slab at compile time: uint64_t slab[NPIN_SLAB_BYTES(D, K, R, W) / 8], where
 * W is the bytes per facet component (2 for Q15, 1 for Q7). */
#ifndef NPIN_LAYOUT_H
#define NPIN_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define NPIN_MAGIC 0x4E49504Eu /* "NPIN" little-endian */
#define NPIN_LAYOUT_VERSION 2u
#define NPIN_HEADER_BYTES 64u
#define NPIN_SLAB_MAX_BYTES 65536u
#define NPIN_MAX_DIMS 2048u
#define NPIN_MAX_FACETS 1024u
#define NPIN_MIN_SLOTS 2u
#define NPIN_MAX_SLOTS 64u
#define NPIN_FLAG_Q7 0x0001u /* flags bit 0: facets are symmetric Q7 (int8_t) */

#define NPIN_ALIGN8(n) (((n) + 7u) & ~7u)
#define NPIN_ALIGN64(n) (((n) + 63u) & ~63u)
#define NPIN_FACET_BYTES(flags) (((flags) & NPIN_FLAG_Q7) != 0u ? 1u : 2u)
#define NPIN_ARMED_WORDS(K) (((K) + 31u) / 32u)
#define NPIN_OFF_M(D, K, R, W) NPIN_HEADER_BYTES
#define NPIN_OFF_V(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_M(D, K, R, W) + 2u * (D))
#define NPIN_OFF_XLAST(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_V(D, K, R, W) + 2u * (D))
#define NPIN_OFF_ARMED(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_XLAST(D, K, R, W) + 2u * (D))
#define NPIN_OFF_THR(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_ARMED(D, K, R, W) + 4u * NPIN_ARMED_WORDS(K))
#define NPIN_OFF_FNORM(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_THR(D, K, R, W) + 2u * (K))
#define NPIN_OFF_TOOL(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_FNORM(D, K, R, W) + 4u * (K))
#define NPIN_OFF_FACETS(D, K, R, W) NPIN_ALIGN64(NPIN_OFF_TOOL(D, K, R, W) + 2u * (K)) /* a cache line */
#define NPIN_OFF_STAMP(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_FACETS(D, K, R, W) + (W) * (K) * (D))
#define NPIN_OFF_RING(D, K, R, W) NPIN_ALIGN8(NPIN_OFF_STAMP(D, K, R, W) + 4u * (R))
#define NPIN_SLAB_BYTES(D, K, R, W) (NPIN_OFF_RING(D, K, R, W) + 2u * (R) * (D))
/* The mutable state, digested by the firmware: the header and m through thr. */
#define NPIN_STATE_BYTES(D, K, R, W) NPIN_OFF_FNORM(D, K, R, W)

typedef struct npin_header {
    uint32_t magic;
    uint16_t layout_version;
    uint16_t header_bytes;
    uint16_t dims;
    uint16_t facets;
    uint16_t slots;
    uint16_t flags;
    uint32_t step;
    uint32_t ring_head; /* written by the producer only */
    uint32_t ring_tail; /* written by the consumer only */
    uint32_t overrun;   /* written by the consumer only */
    int16_t eta_q15;
    int16_t mu_q15;
    int16_t thr_gain_q15;
    int16_t thr_min_q15;
    int16_t thr_max_q15;
    int16_t hysteresis_q15;
    int16_t margin_q15;
    int16_t last_fired;
    uint32_t fires;
    uint32_t min_norm;
    uint32_t total_bytes;
    uint32_t reserved;
} npin_header_t;

/* C99 has no _Static_assert: a negative array size fails the build instead. */
#define NPIN_STATIC_ASSERT(cond, name) typedef char npin_static_assert_##name[(cond) ? 1 : -1]

NPIN_STATIC_ASSERT(sizeof(npin_header_t) == NPIN_HEADER_BYTES, header_is_64_bytes);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, dims) == 8, off_dims);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, flags) == 14, off_flags);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, step) == 16, off_step);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, overrun) == 28, off_overrun);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, eta_q15) == 32, off_eta);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, hysteresis_q15) == 42, off_hysteresis);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, margin_q15) == 44, off_margin);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, fires) == 48, off_fires);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, total_bytes) == 56, off_total);
NPIN_STATIC_ASSERT(NPIN_SLAB_BYTES(512u, 16u, 32u, 2u) <= NPIN_SLAB_MAX_BYTES, mission_slab_fits_64k);
NPIN_STATIC_ASSERT(NPIN_SLAB_BYTES(384u, 150u, 4u, 1u) <= NPIN_SLAB_MAX_BYTES, clinc150_slab_fits_64k);

#endif
