/* Unsigned 64 x 64 -> 128-bit products from 32-bit halves, for the one comparison of the Pin
 * whose sides pass 64 bits (the lead test, docs/pin-spec.md §4 and §7). C99 on 32-bit cores has
 * no __int128, and the Cortex-M compiler turns each 32 x 32 -> 64 product into one UMULL. */
#ifndef NPIN_WIDE_H
#define NPIN_WIDE_H

#include <stdint.h>

typedef struct npin_u128 {
    uint64_t hi;
    uint64_t lo;
} npin_u128_t;

static inline npin_u128_t npin_mul_u64(uint64_t a, uint64_t b)
{
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10; /* < 3 * 2^32: no overflow */
    npin_u128_t r;
    r.lo = (mid << 32) | (uint32_t)p00;
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

/* a << s for 0 < s < 64 */
static inline npin_u128_t npin_shl_u64(uint64_t a, unsigned s)
{
    npin_u128_t r;
    r.hi = a >> (64u - s);
    r.lo = a << s;
    return r;
}

static inline int npin_u128_ge(npin_u128_t a, npin_u128_t b)
{
    return a.hi > b.hi || (a.hi == b.hi && a.lo >= b.lo);
}

#endif
