/* Cortex-M4 (Armv7E-M) kernels: two Q15 lanes per instruction with the DSP extension; the inner
 * loops are in npin_kernels_m4_asm.S. They must produce the reference kernels' bits
 * (npin_kernels_ref.c); tests run both under an ARM emulator and compare. Build only for cores
 * with the DSP extension (-mcpu=cortex-m4 / cortex-m7). D is a multiple of 8 (docs/pin-spec.md). */
#include "npin_internal.h"

int64_t npin_m4_dot(const int16_t *a, const int16_t *b, uint32_t n);
void npin_m4_dots_q15(const int16_t *m, const int16_t *f, uint32_t n, uint32_t k, int64_t *dot);
void npin_m4_dots_q7(const int16_t *m, const int8_t *f, uint32_t n, uint32_t k, int64_t *dot);
void npin_m4_update(int16_t *m, int16_t *v, const int16_t *x, uint32_t n, uint32_t mu_eta);
void npin_m4_copy(int16_t *dst, const int16_t *src, uint32_t n);

uint64_t npin_update_q15(int16_t *m, int16_t *v, const int16_t *x, uint32_t dims, int16_t eta_q15,
                         int16_t mu_q15)
{
    npin_m4_update(m, v, x, dims, (uint16_t)mu_q15 | ((uint32_t)(uint16_t)eta_q15 << 16));
    return (uint64_t)npin_m4_dot(m, m, dims); /* |m'|^2: a second pass, cheaper than the registers */
}

void npin_dots_q15(const int16_t *m, const int16_t *facets, uint32_t dims, uint32_t n_facets,
                   int64_t *dot)
{
    if (n_facets != 0u) npin_m4_dots_q15(m, facets, dims, n_facets, dot);
}

void npin_dots_q7(const int16_t *m, const int8_t *facets, uint32_t dims, uint32_t n_facets, int64_t *dot)
{
    if (n_facets != 0u) npin_m4_dots_q7(m, facets, dims, n_facets, dot);
}

void npin_copy_q15(int16_t *dst, const int16_t *src, uint32_t dims) { npin_m4_copy(dst, src, dims); }

/* floor(sqrt(n)): a 32-bit square root of n >> 2k, then the k low bits found one by one. Exact:
 * if q = isqrt(n >> 2k) then isqrt(n) lies in [q << k, (q + 1) << k). */
uint32_t npin_isqrt64(uint64_t n)
{
    uint32_t top = (uint32_t)(n >> 32), k = 0, x, r = 0, bit, b;
    if (top != 0u) k = (33u - (uint32_t)__builtin_clz(top)) / 2u;
    x = (uint32_t)(n >> (2u * k));
    bit = x != 0u ? 1u << ((31u - (uint32_t)__builtin_clz(x)) & ~1u) : 0u;
    while (bit != 0u) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    r <<= k;
    for (b = k != 0u ? 1u << (k - 1u) : 0u; b != 0u; b >>= 1) {
        uint64_t t = (uint64_t)(r + b);
        if (t * t <= n) r += b;
    }
    return r;
}
