/* The PWL eight int64 values at a time with AVX-512 (F) for up to 32 segments, without gathers
 * (slow on some parts): the segment is the count of segment starts a value reaches — one compare
 * per start for a few segments, a binary search over the starts (padded with INT64_MAX to 32) for
 * more, one permute per level; slope, offset and shift come from tables held in registers
 * through permutes.
 * gna_native.c's scalar pwl_one is the same arithmetic one value at a time. */
#if defined(__x86_64__)
#pragma GCC target("avx512f")
#include <immintrin.h>
#include <stdint.h>
#include "gna_native.h"

int npg_pwl_apply_avx512(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y);

static inline __m512i lookup32(__m512i k, const int64_t *table)
{
    __m512i lo = _mm512_permutex2var_epi64(_mm512_loadu_si512((const void *)table), k,
                                           _mm512_loadu_si512((const void *)(table + 8)));
    __m512i hi = _mm512_permutex2var_epi64(_mm512_loadu_si512((const void *)(table + 16)), k,
                                           _mm512_loadu_si512((const void *)(table + 24)));
    return _mm512_mask_blend_epi64(_mm512_test_epi64_mask(k, _mm512_set1_epi64(16)), lo, hi);
}

int npg_pwl_apply_avx512(const npg_pwl_t *p, const int64_t *s, size_t n, int16_t *y)
{
    const __m512i lo = _mm512_set1_epi64(p->lo), one = _mm512_set1_epi64(1);
    const __m512i ymin = _mm512_set1_epi64(-32768), ymax = _mm512_set1_epi64(32767);
    const int starts = p->segments - 1;   /* compares against next_minus1[0 .. segments-2] */
    int levels = 0;
    while ((1 << levels) < p->segments)
        levels++;
    /* The binary search's level b compares against next_minus1[k + 2^b - 1] with k a multiple of
     * 2^(b+1): at most 16 candidates, one two-register permute by k >> (b+1). */
    int64_t level[5][16];
    for (int b = 0; b < levels; b++)
        for (int j = 0; j < 16; j++) {
            int at = (j << (b + 1)) + (1 << b) - 1;
            level[b][j] = at < 32 ? p->t_next_minus1[at] : INT64_MAX;
        }
    /* slope (its low 32 bits are what the multiply reads) and shift in one table: one lookup */
    int64_t slope_shift[32];
    for (int j = 0; j < 32; j++)
        slope_shift[j] = (int64_t)(((uint64_t)p->t_shift[j] << 32) | (uint32_t)p->t_slope[j]);
    __mmask8 sat = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i x = _mm512_max_epi64(_mm512_loadu_si512((const void *)(s + i)), lo);
        __m512i k = _mm512_setzero_si512();
        if (levels <= 3) {
            for (int j = 0; j < starts; j++)
                k = _mm512_mask_add_epi64(k, _mm512_cmpgt_epi64_mask(x, _mm512_set1_epi64(p->t_next_minus1[j])), k, one);
        } else {
#pragma GCC unroll 5
            for (int b = 4; b >= 0; b--) {   /* a constant trip count: unrolled, tables in registers */
                if (b >= levels)
                    continue;
                __m512i start_minus1 = _mm512_permutex2var_epi64(
                    _mm512_loadu_si512((const void *)level[b]), _mm512_srli_epi64(k, b + 1),
                    _mm512_loadu_si512((const void *)(level[b] + 8)));
                k = _mm512_mask_add_epi64(k, _mm512_cmpgt_epi64_mask(x, start_minus1), k,
                                          _mm512_set1_epi64((int64_t)1 << b));
            }
        }
        __m512i ss = lookup32(k, slope_shift);
        __m512i v = _mm512_add_epi64(_mm512_mul_epi32(x, ss), lookup32(k, p->t_offset));
        v = _mm512_srav_epi64(v, _mm512_srli_epi64(ss, 32));
        sat |= _mm512_cmplt_epi64_mask(v, ymin) | _mm512_cmpgt_epi64_mask(v, ymax);
        v = _mm512_min_epi64(_mm512_max_epi64(v, ymin), ymax);
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi64_epi16(v));
    }
    return (sat != 0) | npg_pwl_apply_scalar(p, s + i, n - i, y + i);
}
#endif
