/* x86 kernels for the host twin (AVX2, and AVX-512 VNNI for the dot products where the compiler
 * targets it), bit-identical to npin_kernels_ref.c: tests build every variant and compare.
 *
 * update: saturating subtract, (μ,η)·(v,δ) as one vpmaddwd per pair, round, saturating pack.
 * dots:   m is split once per step into m = 256·mh + ml (mh = m >> 8, ml = m & 255). Each
 *         vpmaddwd pair of mh·f or ml·f stays below 2^24, so 64 of them add up in int32 without
 *         overflow; partial sums move to int64 every 64 blocks. That avoids widening every
 *         product to 64 bits, which is what makes the reference loop slow.
 * Q7 dots: a pair of m·f products is below 2^23, so every int32 lane holds up to 256 of them
 *         (D <= 2048 gives at most 128): no split. The rows are in storage order (the middle
 *         two of every four swapped), so m is shuffled the same way once per step. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "npin_internal.h"

#define BLOCK 16u
#define FLUSH_BLOCKS 64u

#if defined(__AVX512BW__)
/* The update on 32 lanes: the same instruction sequence as the AVX2 loop below, twice as wide. */
#define UBLOCK 32u
static uint64_t update_wide(int16_t *m, int16_t *v, const int16_t *x, uint32_t blocks,
                            int16_t eta_q15, int16_t mu_q15)
{
    const __m512i coef = _mm512_set1_epi32((int32_t)(((uint32_t)(uint16_t)eta_q15 << 16) |
                                                     (uint16_t)mu_q15));
    const __m512i half = _mm512_set1_epi32(1 << 14);
    __m512i acc = _mm512_setzero_si512();
    uint32_t b;
    for (b = 0; b < blocks; ++b) {
        int16_t *mp = m + b * UBLOCK, *vp = v + b * UBLOCK;
        __m512i xv = _mm512_loadu_si512((const void *)(x + b * UBLOCK));
        __m512i mv = _mm512_loadu_si512((const void *)mp);
        __m512i vv = _mm512_loadu_si512((const void *)vp);
        __m512i d = _mm512_subs_epi16(xv, mv);
        __m512i lo = _mm512_madd_epi16(_mm512_unpacklo_epi16(vv, d), coef);
        __m512i hi = _mm512_madd_epi16(_mm512_unpackhi_epi16(vv, d), coef);
        __m512i vn, mn, sq;
        lo = _mm512_srai_epi32(_mm512_add_epi32(lo, half), 15);
        hi = _mm512_srai_epi32(_mm512_add_epi32(hi, half), 15);
        vn = _mm512_packs_epi32(lo, hi);
        mn = _mm512_adds_epi16(mv, vn);
        _mm512_storeu_si512((void *)vp, vn);
        _mm512_storeu_si512((void *)mp, mn);
        sq = _mm512_madd_epi16(mn, mn);
        acc = _mm512_add_epi64(acc, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(sq)));
        acc = _mm512_add_epi64(acc, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sq, 1)));
    }
    return (uint64_t)_mm512_reduce_add_epi64(acc);
}
#endif

uint64_t npin_update_q15(int16_t *m, int16_t *v, const int16_t *x, uint32_t dims, int16_t eta_q15,
                         int16_t mu_q15)
{
    const __m256i coef = _mm256_set1_epi32((int32_t)(((uint32_t)(uint16_t)eta_q15 << 16) |
                                                     (uint16_t)mu_q15));
    const __m256i half = _mm256_set1_epi32(1 << 14);
    __m256i acc = _mm256_setzero_si256();
    uint64_t nm;
    uint32_t i = 0;
    uint64_t lanes[4];
#if defined(__AVX512BW__)
    uint64_t nm_wide = update_wide(m, v, x, dims / UBLOCK, eta_q15, mu_q15);
    i = dims / UBLOCK * UBLOCK;
#else
    const uint64_t nm_wide = 0;
#endif

    for (; i + BLOCK <= dims; i += BLOCK) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        __m256i mv = _mm256_loadu_si256((const __m256i *)(const void *)(m + i));
        __m256i vv = _mm256_loadu_si256((const __m256i *)(const void *)(v + i));
        __m256i d = _mm256_subs_epi16(xv, mv);
        __m256i lo = _mm256_madd_epi16(_mm256_unpacklo_epi16(vv, d), coef);
        __m256i hi = _mm256_madd_epi16(_mm256_unpackhi_epi16(vv, d), coef);
        __m256i vn, mn, sq;
        lo = _mm256_srai_epi32(_mm256_add_epi32(lo, half), 15);
        hi = _mm256_srai_epi32(_mm256_add_epi32(hi, half), 15);
        vn = _mm256_packs_epi32(lo, hi); /* unpack and pack are both per 128-bit lane: order kept */
        mn = _mm256_adds_epi16(mv, vn);
        _mm256_storeu_si256((__m256i *)(void *)(v + i), vn);
        _mm256_storeu_si256((__m256i *)(void *)(m + i), mn);
        /* a pair of squares is at most 2^31: exact as unsigned 32-bit */
        sq = _mm256_madd_epi16(mn, mn);
        acc = _mm256_add_epi64(acc, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(sq)));
        acc = _mm256_add_epi64(acc, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(sq, 1)));
    }
    _mm256_storeu_si256((__m256i *)(void *)lanes, acc);
    nm = nm_wide + lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < dims; ++i) nm += npin_update_one(&m[i], &v[i], x[i], eta_q15, mu_q15);
    return nm;
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
/* Same split, 32 lanes, multiply-add-accumulate in one instruction, two facets per pass. */
#define VBLOCK 32
static int64_t dot_tail(const int16_t *m, const int16_t *f, int from, int dims)
{
    int64_t acc = 0;
    for (; from < dims; ++from) acc += (int32_t)m[from] * f[from];
    return acc;
}

/* 256·Σhi + Σlo over all lanes. Lanes hold up to 2^28 each; sixteen of them can pass 2^31, so
 * the lanes are widened to 64 bits before the one horizontal reduction. */
static inline __m512i widen_pairs(__m512i a) /* 16 x i32 -> 8 x i64, adjacent halves summed */
{
    return _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(a)),
                            _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(a, 1)));
}

static inline int64_t combine_split(__m512i hi, __m512i lo)
{
    return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_slli_epi64(widen_pairs(hi), 8), widen_pairs(lo)));
}

void npin_dots_q15(const int16_t *m, const int16_t *facets, uint32_t dims_u, uint32_t n_facets_u,
                   int64_t *dot)
{
    /* D is walked in chunks of 512 so the split of m stays small (2 KiB): a split of the whole
     * of m at D = 4096 is a 16 KiB stack frame, measured 40 % slower here. */
    enum { CHUNK = 16 };
    __m512i mh[CHUNK], ml[CHUNK];
    const __m512i low_byte = _mm512_set1_epi16(0xFF);
    const int dims = (int)dims_u, n_facets = (int)n_facets_u, blocks = dims / VBLOCK;
    int b, k, c;

    for (k = 0; k < n_facets; ++k) dot[k] = dot_tail(m, facets + k * dims, blocks * VBLOCK, dims);
    for (c = 0; c < blocks; c += CHUNK) {
        const int n = blocks - c < CHUNK ? blocks - c : CHUNK;
        const int16_t *mc = m + c * VBLOCK;
        for (b = 0; b < n; ++b) {
            __m512i mv = _mm512_loadu_si512((const void *)(mc + b * VBLOCK));
            mh[b] = _mm512_srai_epi16(mv, 8);
            ml[b] = _mm512_and_si512(mv, low_byte);
        }
        for (k = 0; k < n_facets; k += 2) {
            const int16_t *f = facets + k * dims + c * VBLOCK;
            const int16_t *g = k + 1 < n_facets ? f + dims : f; /* odd K: repeat f, drop it */
            __m512i h0 = _mm512_setzero_si512(), l0 = h0, h1 = h0, l1 = h0;
            for (b = 0; b < n; ++b) {
                __m512i fv = _mm512_loadu_si512((const void *)(f + b * VBLOCK));
                __m512i gv = _mm512_loadu_si512((const void *)(g + b * VBLOCK));
                h0 = _mm512_dpwssd_epi32(h0, mh[b], fv);
                l0 = _mm512_dpwssd_epi32(l0, ml[b], fv);
                h1 = _mm512_dpwssd_epi32(h1, mh[b], gv);
                l1 = _mm512_dpwssd_epi32(l1, ml[b], gv);
            }
            dot[k] += combine_split(h0, l0);
            if (k + 1 < n_facets) dot[k + 1] += combine_split(h1, l1);
        }
    }
}
#else
static int64_t hsum_epi32(__m256i a)
{
    int32_t l[8];
    _mm256_storeu_si256((__m256i *)(void *)l, a);
    return (int64_t)l[0] + l[1] + l[2] + l[3] + l[4] + l[5] + l[6] + l[7];
}

void npin_dots_q15(const int16_t *m, const int16_t *facets, uint32_t dims, uint32_t n_facets,
                   int64_t *dot)
{
    __m256i mh[NPIN_MAX_DIMS / BLOCK], ml[NPIN_MAX_DIMS / BLOCK];
    const __m256i low_byte = _mm256_set1_epi16(0xFF);
    uint32_t blocks = dims / BLOCK, b, k, i;

    for (b = 0; b < blocks; ++b) {
        __m256i mv = _mm256_loadu_si256((const __m256i *)(const void *)(m + b * BLOCK));
        mh[b] = _mm256_srai_epi16(mv, 8);
        ml[b] = _mm256_and_si256(mv, low_byte);
    }
    for (k = 0; k < n_facets; ++k) {
        const int16_t *f = facets + k * dims;
        int64_t hi_total = 0, lo_total = 0;
        for (b = 0; b < blocks;) {
            uint32_t end = b + FLUSH_BLOCKS < blocks ? b + FLUSH_BLOCKS : blocks;
            __m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
            for (; b < end; ++b) {
                __m256i fv = _mm256_loadu_si256((const __m256i *)(const void *)(f + b * BLOCK));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(mh[b], fv));
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(ml[b], fv));
            }
            hi_total += hsum_epi32(hi);
            lo_total += hsum_epi32(lo);
        }
        dot[k] = hi_total * 256 + lo_total;
        for (i = blocks * BLOCK; i < dims; ++i) dot[k] += (int32_t)m[i] * f[i];
    }
}
#endif

/* m with the middle two of every four components swapped: the Q7 rows' storage order. */
#define Q7_ORDER 0xD8 /* _MM_SHUFFLE(3, 1, 2, 0): words (0, 2, 1, 3) of every four */

static int64_t q7_tail(const int16_t *m, const int8_t *f, uint32_t from, uint32_t dims)
{
    int64_t acc = 0;
    for (; from < dims; ++from) acc += (int32_t)m[from] * f[npin_q7_pos(from)];
    return acc;
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
void npin_dots_q7(const int16_t *m, const int8_t *facets, uint32_t dims, uint32_t n_facets, int64_t *dot)
{
    __m512i mp[NPIN_MAX_DIMS / 32];
    const uint32_t blocks = dims / 32u;
    uint32_t b, k;
    for (b = 0; b < blocks; ++b)
        mp[b] = _mm512_shufflehi_epi16(_mm512_shufflelo_epi16(_mm512_loadu_si512((const void *)(m + 32u * b)),
                                                              Q7_ORDER), Q7_ORDER);
    for (k = 0; k < n_facets; k += 2u) {
        const int8_t *f = facets + k * dims;
        const int8_t *g = k + 1u < n_facets ? f + dims : f; /* odd K: repeat f, drop it */
        __m512i a0 = _mm512_setzero_si512(), a1 = a0;
        for (b = 0; b < blocks; ++b) {
            a0 = _mm512_dpwssd_epi32(a0, mp[b], _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(f + 32u * b))));
            a1 = _mm512_dpwssd_epi32(a1, mp[b], _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(g + 32u * b))));
        }
        dot[k] = _mm512_reduce_add_epi64(widen_pairs(a0)) + q7_tail(m, f, blocks * 32u, dims);
        if (k + 1u < n_facets) dot[k + 1u] = _mm512_reduce_add_epi64(widen_pairs(a1)) + q7_tail(m, g, blocks * 32u, dims);
    }
}
#else
void npin_dots_q7(const int16_t *m, const int8_t *facets, uint32_t dims, uint32_t n_facets, int64_t *dot)
{
    __m256i mp[NPIN_MAX_DIMS / BLOCK];
    const uint32_t blocks = dims / BLOCK;
    uint32_t b, k;
    for (b = 0; b < blocks; ++b)
        mp[b] = _mm256_shufflehi_epi16(_mm256_shufflelo_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(m + BLOCK * b)),
                                                              Q7_ORDER), Q7_ORDER);
    for (k = 0; k < n_facets; k += 2u) {
        const int8_t *f = facets + k * dims;
        const int8_t *g = k + 1u < n_facets ? f + dims : f;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        for (b = 0; b < blocks; ++b) {
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(mp[b], _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(f + BLOCK * b)))));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(mp[b], _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(g + BLOCK * b)))));
        }
        dot[k] = hsum_epi32(a0) + q7_tail(m, f, blocks * BLOCK, dims);
        if (k + 1u < n_facets) dot[k + 1u] = hsum_epi32(a1) + q7_tail(m, g, blocks * BLOCK, dims);
    }
}
#endif

void npin_copy_q15(int16_t *dst, const int16_t *src, uint32_t dims) { memcpy(dst, src, 2u * dims); }

/* Host only: a double estimate corrected to the exact floor(sqrt(n)). */
uint32_t npin_isqrt64(uint64_t n)
{
    uint64_t r = (uint64_t)sqrt((double)n);
    if (r > 0xFFFFFFFFu) r = 0xFFFFFFFFu; /* keep r*r inside 64 bits */
    while (r * r > n) --r;
    while (r < 0xFFFFFFFFu && (r + 1u) * (r + 1u) <= n) ++r;
    return (uint32_t)r;
}
