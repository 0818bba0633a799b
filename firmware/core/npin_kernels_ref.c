/* Reference kernels: plain C99, the definition optimized kernels are held to. */
#include "npin_internal.h"

static inline int32_t sat16(int32_t a) { return a > 32767 ? 32767 : (a < -32768 ? -32768 : a); }

uint64_t npin_update_q15(int16_t *m, int16_t *v, const int16_t *x, uint32_t dims, int16_t eta_q15,
                         int16_t mu_q15)
{
    uint64_t nm = 0;
    uint32_t i;
    for (i = 0; i < dims; ++i) {
        int32_t delta = sat16((int32_t)x[i] - m[i]);
        int32_t a = (int32_t)mu_q15 * v[i] + (int32_t)eta_q15 * delta; /* |a| < 2^31 - 2^14 */
        int32_t v_new = sat16(npin_rshr15(a));
        int32_t m_new = sat16((int32_t)m[i] + v_new);
        v[i] = (int16_t)v_new;
        m[i] = (int16_t)m_new;
        nm += (uint64_t)(uint32_t)(m_new * m_new);
    }
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
