/* Slab layout, version 1 (docs/pin-spec.md §2). Offsets are macros so that generated firmware
 * can size its static slab at compile time: uint64_t slab[NPIN_SLAB_BYTES(D, K, R) / 8]. */
#ifndef NPIN_LAYOUT_H
#define NPIN_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define NPIN_MAGIC 0x4E49504Eu /* "NPIN" little-endian */
#define NPIN_LAYOUT_VERSION 1u
#define NPIN_HEADER_BYTES 64u
#define NPIN_SLAB_MAX_BYTES 65536u
#define NPIN_MAX_DIMS 4096u
#define NPIN_MAX_FACETS 16u
#define NPIN_MIN_SLOTS 2u
#define NPIN_MAX_SLOTS 64u

#define NPIN_ALIGN8(n) (((n) + 7u) & ~7u)
#define NPIN_OFF_M(D, K, R) NPIN_HEADER_BYTES
#define NPIN_OFF_V(D, K, R) NPIN_ALIGN8(NPIN_OFF_M(D, K, R) + 2u * (D))
#define NPIN_OFF_XLAST(D, K, R) NPIN_ALIGN8(NPIN_OFF_V(D, K, R) + 2u * (D))
#define NPIN_OFF_FACETS(D, K, R) NPIN_ALIGN8(NPIN_OFF_XLAST(D, K, R) + 2u * (D))
#define NPIN_OFF_FNORM(D, K, R) NPIN_ALIGN8(NPIN_OFF_FACETS(D, K, R) + 2u * (K) * (D))
#define NPIN_OFF_THR(D, K, R) NPIN_ALIGN8(NPIN_OFF_FNORM(D, K, R) + 4u * (K))
#define NPIN_OFF_TOOL(D, K, R) NPIN_ALIGN8(NPIN_OFF_THR(D, K, R) + 2u * (K))
#define NPIN_OFF_STAMP(D, K, R) NPIN_ALIGN8(NPIN_OFF_TOOL(D, K, R) + 2u * (K))
#define NPIN_OFF_RING(D, K, R) NPIN_ALIGN8(NPIN_OFF_STAMP(D, K, R) + 4u * (R))
#define NPIN_SLAB_BYTES(D, K, R) (NPIN_OFF_RING(D, K, R) + 2u * (R) * (D))

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
    uint16_t armed_mask;
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
NPIN_STATIC_ASSERT(offsetof(npin_header_t, step) == 16, off_step);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, overrun) == 28, off_overrun);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, eta_q15) == 32, off_eta);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, hysteresis_q15) == 42, off_hysteresis);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, armed_mask) == 44, off_armed);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, fires) == 48, off_fires);
NPIN_STATIC_ASSERT(offsetof(npin_header_t, total_bytes) == 56, off_total);
NPIN_STATIC_ASSERT(NPIN_SLAB_BYTES(512u, 16u, 32u) <= NPIN_SLAB_MAX_BYTES, default_slab_fits_64k);
NPIN_STATIC_ASSERT(NPIN_MAX_FACETS <= 16u, armed_mask_is_16_bits);

#endif
