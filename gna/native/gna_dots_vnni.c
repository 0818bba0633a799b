/* AVX-512 VNNI build of the dot-product kernel (gna_dots_simd.h): VPDPWSSD fuses the multiply-add. */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512vnni")
#include <immintrin.h>
#include <string.h>
#include "gna_native.h"

#define VEC __m512i
#define LANES16 32
#define LOADU(p) _mm512_loadu_si512((const void *)(p))
#define ZERO() _mm512_setzero_si512()
#define MAC(acc, a, b) _mm512_dpwssd_epi32((acc), (a), (b))
#define KERNEL_BLOCK dots_block_vnni
#define KERNEL npg_dots_vnni

static inline __attribute__((always_inline)) int64_t hsum64_vnni(__m512i v)
{
    return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)),
                                                    _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1))));
}
#define HSUM64(v) hsum64_vnni(v)

#define SET1_32(v) _mm512_set1_epi32(v)
#define CVT_LO64(v) _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v))
#define CVT_HI64(v) _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64((v), 1))
#define ADD64(a, b) _mm512_add_epi64((a), (b))
#define SHL8_64(v) _mm512_slli_epi64((v), 8)
#define STOREU(p, v) _mm512_storeu_si512((void *)(p), (v))
#define KERNEL_T_BLOCK dots_t_block_vnni
#define KERNEL_T npg_dots_t_vnni
#define KERNEL_PEAK npg_peak_vnni
#define LOADW8(p) _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(p)))
#define KERNEL8 npg_dots8_vnni
#define RB_SPLIT 4
#define NB_SPLIT 2
#define RB_ONE 4
#define NB_ONE 4

#include "gna_dots_simd.h"
#endif
