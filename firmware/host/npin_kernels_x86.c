/* x86 kernels for the host twin (AVX2, and AVX-512 VNNI for the dot products where the compiler
 * targets it), bit-identical to npin_kernels_ref.c: tests build every variant and compare.
 *
 * update: saturating subtract, (μ,η)·(v,δ) as one vpmaddwd per pair, round, saturating pack.
 * dots:   m is split once per chunk into m = 256·mh + ml (mh = m >> 8, ml = m & 255), so every
 *         multiply-add pair stays below 2^24 and sums in int32 lanes instead of being widened
 *         to 64 bits product by product, which is what makes the reference loop slow.
 * Q7 dots: a pair of m·f products is below 2^23: no split. The rows are in storage order (the
 *         middle two of every four swapped), so m is shuffled the same way once per chunk. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "npin_internal.h"

#define BLOCK 16u

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

/* The dot products walk D in chunks of CHUNK components and several facets per pass (the split
 * or shuffled m is loaded once per block for all of them). Each accumulator lane sums at most
 * CHUNK / lanes pairs, each below 2^24 in magnitude (Q15: |mh·f| <= 2^22, 0 <= ml·f < 2^23;
 * Q7: |m·f| <= 2^22), so even the sum of all lanes of one accumulator stays inside int32:
 * 128 pairs < 2^31. The lanes of the pass's accumulators are then added across in int32 and
 * only the per-facet totals are widened to 64 bits. */
#define CHUNK 256u

static int64_t q15_tail(const int16_t *m, const int16_t *f, uint32_t from, uint32_t dims)
{
    int64_t acc = 0;
    for (; from < dims; ++from) acc += (int32_t)m[from] * f[from];
    return acc;
}

/* m with the middle two of every four components swapped: the Q7 rows' storage order. */
#define Q7_ORDER 0xD8 /* _MM_SHUFFLE(3, 1, 2, 0): words (0, 2, 1, 3) of every four */

static int64_t q7_tail(const int16_t *m, const int8_t *f, uint32_t from, uint32_t dims)
{
    int64_t acc = 0;
    for (; from < dims; ++from) acc += (int32_t)m[from] * f[npin_q7_pos(from)];
    return acc;
}

/* Row k + j of a pass, or the last row again where the pass runs past K (its sum is dropped). */
static inline uint32_t pass_row(uint32_t k, uint32_t j, uint32_t n_facets)
{
    return k + j < n_facets ? k + j : n_facets - 1u;
}

/* The per-instruction-set primitives; one kernel body below uses them. VEC holds VB int16 lanes;
 * MAC adds pairwise products into int32 lanes; SUM8 gives the lane sums of 8 accumulators, in
 * their order, as 8 int32. */
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
/* 32 components per block, multiply-add-accumulate in one instruction. */
#define VB 32u
typedef __m512i vec_t;
#define LOADU(p) _mm512_loadu_si512((const void *)(p))
#define LOAD_Q7(p) _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define ZERO() _mm512_setzero_si512()
#define SRAI8(v) _mm512_srai_epi16((v), 8)
#define LOW_BYTE(v) _mm512_and_si512((v), _mm512_set1_epi16(0xFF))
#define Q7_SHUFFLE(v) _mm512_shufflehi_epi16(_mm512_shufflelo_epi16((v), Q7_ORDER), Q7_ORDER)
#define MAC(acc, a, b) _mm512_dpwssd_epi32((acc), (a), (b))

/* One level of a transposed sum: with w lanes per vector in a and b, returns a vector holding
 * both inputs' vectors at w / 2 lanes each (a's first), each lane the sum of two of theirs. */
static inline __m512i fold(__m512i a, __m512i b, uint32_t w)
{
    int32_t i1[16], i2[16];
    uint32_t i;
    for (i = 0; i < 16u; ++i) {
        i1[i] = (int32_t)((i < 8u ? 0u : 16u) + (i % 8u) / (w / 2u) * w + i % (w / 2u));
        i2[i] = i1[i] + (int32_t)(w / 2u);
    }
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, _mm512_loadu_si512(i1), b),
                            _mm512_permutex2var_epi32(a, _mm512_loadu_si512(i2), b));
}

static inline __m256i sum8(const __m512i *v)
{
    __m512i p0 = fold(v[0], v[1], 16u), p1 = fold(v[2], v[3], 16u), p2 = fold(v[4], v[5], 16u),
            p3 = fold(v[6], v[7], 16u);
    return _mm512_castsi512_si256(fold(fold(fold(p0, p1, 8u), fold(p2, p3, 8u), 4u), _mm512_setzero_si512(), 2u));
}
#else
/* 16 components per block: vpmaddwd, then an add. */
#define VB 16u
typedef __m256i vec_t;
#define LOADU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define LOAD_Q7(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define ZERO() _mm256_setzero_si256()
#define SRAI8(v) _mm256_srai_epi16((v), 8)
#define LOW_BYTE(v) _mm256_and_si256((v), _mm256_set1_epi16(0xFF))
#define Q7_SHUFFLE(v) _mm256_shufflehi_epi16(_mm256_shufflelo_epi16((v), Q7_ORDER), Q7_ORDER)
#define MAC(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))

/* The lane sums of a, b, c and d. */
static inline __m128i sum4(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

static inline __m256i sum8(const __m256i *v)
{
    return _mm256_set_m128i(sum4(v[4], v[5], v[6], v[7]), sum4(v[0], v[1], v[2], v[3]));
}
#endif

#define Q15_PASS 4u /* facets per pass: 8 accumulators (Σ mh·f and Σ ml·f each), as for Q7 */
#define Q7_PASS 8u

void npin_dots_q15(const int16_t *m, const int16_t *facets, uint32_t dims, uint32_t n_facets, int64_t *dot)
{
    vec_t mh[CHUNK / VB], ml[CHUNK / VB];
    const uint32_t vec = dims / VB * VB;
    uint32_t c, k, b, j;
    for (k = 0; k < n_facets; ++k) dot[k] = q15_tail(m, facets + k * dims, vec, dims);
    for (c = 0; c < vec; c += CHUNK) {
        const uint32_t n = (vec - c < CHUNK ? vec - c : CHUNK) / VB;
        for (b = 0; b < n; ++b) {
            vec_t mv = LOADU(m + c + b * VB);
            mh[b] = SRAI8(mv);
            ml[b] = LOW_BYTE(mv);
        }
        for (k = 0; k < n_facets; k += Q15_PASS) {
            const int16_t *f[Q15_PASS];
            vec_t acc[2u * Q15_PASS]; /* Σ mh·f for each facet, then Σ ml·f for each */
            int64_t out[Q15_PASS];
            __m256i s;
            for (j = 0; j < Q15_PASS; ++j) f[j] = facets + pass_row(k, j, n_facets) * dims + c;
            for (j = 0; j < 2u * Q15_PASS; ++j) acc[j] = ZERO();
            for (b = 0; b < n; ++b)
                for (j = 0; j < Q15_PASS; ++j) {
                    vec_t fv = LOADU(f[j] + b * VB);
                    acc[j] = MAC(acc[j], mh[b], fv);
                    acc[Q15_PASS + j] = MAC(acc[Q15_PASS + j], ml[b], fv);
                }
            s = sum8(acc);
            _mm256_storeu_si256((__m256i *)(void *)out,
                                _mm256_add_epi64(_mm256_slli_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(s)), 8),
                                                 _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s, 1))));
            for (j = 0; j < Q15_PASS && k + j < n_facets; ++j) dot[k + j] += out[j];
        }
    }
}

void npin_dots_q7(const int16_t *m, const int8_t *facets, uint32_t dims, uint32_t n_facets, int64_t *dot)
{
    vec_t mp[CHUNK / VB];
    const uint32_t vec = dims / VB * VB;
    uint32_t c, k, b, j;
    for (k = 0; k < n_facets; ++k) dot[k] = q7_tail(m, facets + k * dims, vec, dims);
    for (c = 0; c < vec; c += CHUNK) {
        const uint32_t n = (vec - c < CHUNK ? vec - c : CHUNK) / VB;
        for (b = 0; b < n; ++b) mp[b] = Q7_SHUFFLE(LOADU(m + c + b * VB));
        for (k = 0; k < n_facets; k += Q7_PASS) {
            const int8_t *f[Q7_PASS];
            vec_t acc[Q7_PASS];
            int64_t out[Q7_PASS];
            __m256i s;
            for (j = 0; j < Q7_PASS; ++j) {
                f[j] = facets + pass_row(k, j, n_facets) * dims + c;
                acc[j] = ZERO();
            }
            for (b = 0; b < n; ++b)
                for (j = 0; j < Q7_PASS; ++j) acc[j] = MAC(acc[j], mp[b], LOAD_Q7(f[j] + b * VB));
            s = sum8(acc);
            _mm256_storeu_si256((__m256i *)(void *)out, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(s)));
            _mm256_storeu_si256((__m256i *)(void *)(out + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s, 1)));
            for (j = 0; j < Q7_PASS && k + j < n_facets; ++j) dot[k + j] += out[j];
        }
    }
}

void npin_copy_q15(int16_t *dst, const int16_t *src, uint32_t dims) { memcpy(dst, src, 2u * dims); }

/* Host only. Below 2^50 (every Mind: D·2^30 <= 2^41) the truncated double square root is
 * floor(sqrt(n)): n converts exactly, and sqrt(n) lies at least 1 / (2·2^25) below the next
 * integer, four times the rounding error of a correctly rounded result under 2^25. Above, an
 * estimate corrected to the exact floor. */
uint32_t npin_isqrt64(uint64_t n)
{
    uint64_t r = (uint64_t)sqrt((double)n);
    if (n < ((uint64_t)1 << 50)) return (uint32_t)r;
    if (r > 0xFFFFFFFFu) r = 0xFFFFFFFFu; /* keep r*r inside 64 bits */
    while (r * r > n) --r;
    while (r < 0xFFFFFFFFu && (r + 1u) * (r + 1u) <= n) ++r;
    return (uint32_t)r;
}
