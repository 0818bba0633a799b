/* AVX2 build of the dot-product kernel (gna_dots_simd.h). */
#if defined(__x86_64__)
#pragma GCC target("avx2")
#include <immintrin.h>
#include <string.h>
#include "gna_native.h"

#define VEC __m256i
#define LANES16 16
#define LOADU(p) _mm256_loadu_si256((const __m256i *)(p))
#define ZERO() _mm256_setzero_si256()
#define MAC(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#define KERNEL_BLOCK dots_block_avx2
#define KERNEL npg_dots_avx2

static inline __attribute__((always_inline)) int64_t hsum64_avx2(__m256i v)
{
    __m256i wide = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
    return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}
#define HSUM64(v) hsum64_avx2(v)

#define SET1_32(v) _mm256_set1_epi32(v)
#define CVT_LO64(v) _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v))
#define CVT_HI64(v) _mm256_cvtepi32_epi64(_mm256_extracti128_si256((v), 1))
#define ADD32(a, b) _mm256_add_epi32((a), (b))
#define ADD64(a, b) _mm256_add_epi64((a), (b))
#define SHL8_64(v) _mm256_slli_epi64((v), 8)
#define STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), (v))
#define KERNEL_T_BLOCK dots_t_block_avx2
#define KERNEL_T npg_dots_t_avx2
#define KERNEL_PEAK npg_peak_avx2
#define LOADW8(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p)))
#define KERNEL8 npg_dots8_avx2
#define RB_SPLIT 2
#define NB_SPLIT 2
#define RB_ONE 2
#define NB_ONE 4

#include "gna_dots_simd.h"
#endif
