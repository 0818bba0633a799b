/* Reference kernels: plain C99, the definition optimized kernels are held to. */
#include <string.h>

#include "npin_internal.h"

void npin_copy_q15(int16_t *dst, const int16_t *src, uint32_t dims) { memcpy(dst, src, 2u * dims); }

uint64_t npin_update_q15(int16_t *m, int16_t *v, const int16_t *x, uint32_t dims, int16_t eta_q15,
                         int16_t mu_q15)
{
    uint64_t nm = 0;
    uint32_t i;
    for (i = 0; i < dims; ++i) nm += npin_update_one(&m[i], &v[i], x[i], eta_q15, mu_q15);
    return nm;
}

void npin_dots_q15(const int16_t *m, const int16_t *facets, uint32_t dims, uint32_t n_facets,
                   int64_t *dot)
{
    uint32_t k, i;
    for (k = 0; k < n_facets; ++k) {
        const int16_t *f = facets + k * dims;
        int64_t acc = 0;
        for (i = 0; i < dims; ++i) acc += (int32_t)m[i] * f[i];
        dot[k] = acc;
    }
}

/* Q7 rows in storage order: each group of four holds components 0, 2, 1, 3. */
void npin_dots_q7(const int16_t *m, const int8_t *facets, uint32_t dims, uint32_t n_facets, int64_t *dot)
{
    uint32_t k, i;
    for (k = 0; k < n_facets; ++k) {
        const int8_t *f = facets + k * dims;
        int64_t acc = 0;
        for (i = 0; i < dims; i += 4u)
            acc += (int32_t)m[i] * f[i] + (int32_t)m[i + 1u] * f[i + 2u] + (int32_t)m[i + 2u] * f[i + 1u] +
                   (int32_t)m[i + 3u] * f[i + 3u]; /* four products below 2^22 each: no int32 overflow */
        dot[k] = acc;
    }
}

uint32_t npin_isqrt64(uint64_t n)
{
    uint64_t res = 0, bit = (uint64_t)1 << 62;
    while (bit > n) bit >>= 2;
    while (bit != 0u) {
        if (n >= res + bit) {
            n -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}
