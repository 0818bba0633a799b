/* AVX-512 (BW) build of the dot-product kernel (gna_dots_simd.h); gna_dots_vnni.c includes this file
 * with NPG_DOTS_VNNI set, for the VNNI build (VPDPWSSD fuses the multiply-add). */
#if defined(__x86_64__)
#if defined(NPG_DOTS_VNNI)
#pragma GCC target("avx512f,avx512bw,avx512vnni")
#define MAC(acc, a, b) _mm512_dpwssd_epi32((acc), (a), (b))
#define NAMED(name) name##_vnni
#else
#pragma GCC target("avx512f,avx512bw")
#define MAC(acc, a, b) _mm512_add_epi32((acc), _mm512_madd_epi16((a), (b)))
#define NAMED(name) name##_avx512
#endif
#include <immintrin.h>
#include <string.h>
#include "gna_native.h"

#define VEC __m512i
#define LANES16 32
#define LOADU(p) _mm512_loadu_si512((const void *)(p))
#define ZERO() _mm512_setzero_si512()
#define KERNEL_BLOCK NAMED(dots_block)
#define KERNEL NAMED(npg_dots)

static inline __attribute__((always_inline)) int64_t NAMED(hsum64)(__m512i v)
{
    return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)),
                                                    _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1))));
}
#define HSUM64(v) NAMED(hsum64)(v)

#define SET1_32(v) _mm512_set1_epi32(v)
#define CVT_LO64(v) _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v))
#define CVT_HI64(v) _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64((v), 1))
#define ADD32(a, b) _mm512_add_epi32((a), (b))
#define ADD64(a, b) _mm512_add_epi64((a), (b))
#define SHL8_64(v) _mm512_slli_epi64((v), 8)
#define STOREU(p, v) _mm512_storeu_si512((void *)(p), (v))
#define KERNEL_T_BLOCK NAMED(dots_t_block)
#define KERNEL_T NAMED(npg_dots_t)
#define KERNEL_PEAK NAMED(npg_peak)
#define LOADW8(p) _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(p)))
#define KERNEL8 NAMED(npg_dots8)
#define RB_SPLIT 4
#define NB_SPLIT 2
#define RB_ONE 4
#define NB_ONE 4

#include "gna_dots_simd.h"
#endif
